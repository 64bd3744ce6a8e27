#pragma once

// Reading files as bytes, with one spelling of every failure: the readers
// of .npy, .tif/.png and .sxm all open, bound and report files through
// these functions.

#include "anchord/util/status.h"

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>

namespace anchord {

// Most bytes ReadFileBytes reads from one input file unless told otherwise:
// 2 GiB, enough for a 16384 x 16384 float64 array. A larger file is refused
// before any of it is read.
inline constexpr uint64_t kMaxInputFileBytes = uint64_t{1} << 31;

// The text of an errno value ("No such file or directory").
std::string ErrnoMessage(int err);

// A file opened for binary reading; closed when destroyed. Not copyable.
class InputFile {
 public:
  // Opens `path`. A missing file, a directory or a file that cannot be
  // opened gives kInvalidInput "cannot read PATH: reason".
  static Status Open(const std::string& path, InputFile* file);

  // Appends bytes to `bytes` until it holds `limit_bytes` bytes or the file
  // ends. A read error gives kInvalidInput "cannot read PATH: reason".
  Status ReadUpTo(uint64_t limit_bytes, std::string* bytes);

  // The file's size in bytes (kInvalidInput when it cannot be told).
  Status Size(uint64_t* size_bytes) const;

  const std::string& path() const { return path_; }

 private:
  struct Closer {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };
  std::string path_;
  std::unique_ptr<std::FILE, Closer> file_;
};

// Reads the whole file at `path` into `bytes` (replacing its contents). A
// file larger than `max_bytes` gives kInvalidInput "cannot read PATH: file
// is N bytes, more than the limit of M"; other failures as InputFile.
Status ReadFileBytes(const std::string& path,
                     std::string* bytes,
                     uint64_t max_bytes = kMaxInputFileBytes);

}  // namespace anchord
