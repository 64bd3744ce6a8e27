#include "anchord/io/file_bytes.h"

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <system_error>
#include <vector>

namespace anchord {

namespace fs = std::filesystem;

std::string ErrnoMessage(int err) {
  return std::error_code(err, std::generic_category()).message();
}

Status InputFile::Open(const std::string& path, InputFile* file) {
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (ec) {
    return Status::InvalidInput("cannot read " + path + ": " + ec.message());
  }
  if (fs::is_directory(st)) {
    return Status::InvalidInput("cannot read " + path + ": is a directory");
  }
  errno = 0;
  file->file_.reset(std::fopen(path.c_str(), "rb"));
  if (!file->file_) {
    return Status::InvalidInput("cannot read " + path + ": " +
                                ErrnoMessage(errno));
  }
  file->path_ = path;
  return Status::Ok();
}

Status InputFile::ReadUpTo(uint64_t limit_bytes, std::string* bytes) {
  std::vector<char> chunk(size_t{1} << 16);
  while (bytes->size() < limit_bytes) {
    const size_t want = static_cast<size_t>(
        std::min<uint64_t>(chunk.size(), limit_bytes - bytes->size()));
    errno = 0;
    const size_t n = std::fread(chunk.data(), 1, want, file_.get());
    bytes->append(chunk.data(), n);
    if (n < want) break;
  }
  if (std::ferror(file_.get())) {
    return Status::InvalidInput("cannot read " + path_ + ": " +
                                ErrnoMessage(errno));
  }
  return Status::Ok();
}

Status InputFile::Size(uint64_t* size_bytes) const {
  std::error_code ec;
  const uintmax_t size = fs::file_size(path_, ec);
  if (ec) {
    return Status::InvalidInput("cannot read " + path_ + ": " + ec.message());
  }
  *size_bytes = static_cast<uint64_t>(size);
  return Status::Ok();
}

Status ReadFileBytes(const std::string& path,
                     std::string* bytes,
                     uint64_t max_bytes) {
  InputFile file;
  if (Status s = InputFile::Open(path, &file); !s.ok()) return s;
  // A regular file too large is refused before reading; for others (a
  // pipe) only the read below bounds it.
  uint64_t size = 0;
  if (file.Size(&size).ok() && size > max_bytes) {
    return Status::InvalidInput(
        "cannot read " + path + ": file is " + std::to_string(size) +
        " bytes, more than the limit of " + std::to_string(max_bytes));
  }
  bytes->clear();
  // One byte past the limit tells a file that grew since Size() apart.
  if (Status s = file.ReadUpTo(max_bytes + 1, bytes); !s.ok()) return s;
  if (bytes->size() > max_bytes) {
    bytes->clear();
    return Status::InvalidInput("cannot read " + path +
                                ": file grew past the limit of " +
                                std::to_string(max_bytes) + " bytes");
  }
  return Status::Ok();
}

}  // namespace anchord
