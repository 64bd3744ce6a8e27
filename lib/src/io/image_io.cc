#include "anchord/io/image_io.h"

#include "anchord/io/file_bytes.h"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <bit>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <vector>

namespace anchord {
namespace {

namespace fs = std::filesystem;

// float64 -> float32 narrowing relies on IEEE semantics (overflow -> ±inf,
// NaN stays NaN).
static_assert(std::numeric_limits<float>::is_iec559);
static_assert(std::numeric_limits<double>::is_iec559);

constexpr std::string_view kNpyMagic("\x93NUMPY", 6);
// Magic, major and minor version bytes.
constexpr size_t kNpyPreambleSize = kNpyMagic.size() + 2;
// Largest accepted height or width of a .npy array.
constexpr uint64_t kNpyMaxSide = 65536;

ReadImageResult Fail(Status status) { return {std::move(status), cv::Mat1f()}; }

ReadImageResult Invalid(std::string message) {
  return Fail(Status::InvalidInput(std::move(message)));
}

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using FilePtr = std::unique_ptr<std::FILE, FileCloser>;  // for writing

// Lower-cased extension of `path` including the dot ("" when none).
std::string LowerExtension(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) {
    return static_cast<char>(std::tolower(c));
  });
  return ext;
}

template <typename UInt>
UInt ByteSwap(UInt v) {
  UInt out = 0;
  for (size_t i = 0; i < sizeof(UInt); ++i) {
    out = static_cast<UInt>((out << 8) | (v & 0xff));
    v = static_cast<UInt>(v >> 8);
  }
  return out;
}

// Loads one IEEE float of type Float from possibly unaligned `p`, swapping
// bytes when `swap` is set.
template <typename Float>
Float LoadFloat(const char* p, bool swap) {
  using Bits = std::conditional_t<sizeof(Float) == 4, uint32_t, uint64_t>;
  Bits bits;
  std::memcpy(&bits, p, sizeof(bits));
  if (swap) bits = ByteSwap(bits);
  return std::bit_cast<Float>(bits);
}

// ---------------------------------------------------------------------------
// .npy header

struct NpyHeader {
  std::string descr;
  bool fortran_order = false;
  std::vector<uint64_t> shape;
};

// Python repr of a shape tuple: "()", "(3,)", "(2, 3)".
std::string ShapeRepr(const std::vector<uint64_t>& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) s += ", ";
    s += std::to_string(shape[i]);
  }
  if (shape.size() == 1) s += ",";
  return s + ")";
}

// Recursive-descent parser for the Python dict literal of a .npy header,
// e.g. "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }".
// Accepts exactly the keys numpy writes; values are strings, True/False
// and tuples of non-negative integers. Never reads outside `text`.
class NpyHeaderParser {
 public:
  explicit NpyHeaderParser(std::string_view text) : text_(text) {}

  Status Parse(NpyHeader* header) {
    bool have_descr = false, have_order = false, have_shape = false;
    SkipSpace();
    if (!Consume('{')) return Error("expected '{'");
    while (true) {
      SkipSpace();
      if (Consume('}')) break;
      std::string key;
      if (Status s = ParseString(&key); !s.ok()) return s;
      SkipSpace();
      if (!Consume(':')) return Error("expected ':' after '" + key + "'");
      SkipSpace();
      Status s;
      if (key == "descr") {
        if (Peek() == '[') {
          return Status::InvalidInput(
              "npy: unsupported dtype (structured array; need "
              "float32/float64)");
        }
        s = ParseString(&header->descr);
        have_descr = true;
      } else if (key == "fortran_order") {
        s = ParseBool(&header->fortran_order);
        have_order = true;
      } else if (key == "shape") {
        s = ParseShape(&header->shape);
        have_shape = true;
      } else {
        return Status::InvalidInput("npy: unexpected header key '" + key + "'");
      }
      if (!s.ok()) return s;
      SkipSpace();
      if (Consume(',')) continue;
      if (Consume('}')) break;
      return Error("expected ',' or '}'");
    }
    SkipSpace();
    if (pos_ != text_.size()) return Error("unexpected text after '}'");
    if (!have_descr) return Status::InvalidInput("npy: header lacks 'descr'");
    if (!have_order) {
      return Status::InvalidInput("npy: header lacks 'fortran_order'");
    }
    if (!have_shape) return Status::InvalidInput("npy: header lacks 'shape'");
    return Status::Ok();
  }

 private:
  char Peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }

  bool Consume(char c) {
    if (pos_ >= text_.size() || text_[pos_] != c) return false;
    ++pos_;
    return true;
  }

  bool ConsumeWord(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  void SkipSpace() {
    while (pos_ < text_.size() &&
           std::isspace(static_cast<unsigned char>(text_[pos_]))) {
      ++pos_;
    }
  }

  Status Error(const std::string& what) const {
    return Status::InvalidInput("npy: malformed header: " + what +
                                " at offset " + std::to_string(pos_));
  }

  // A '...' or "..." literal; a backslash takes the next char literally.
  Status ParseString(std::string* out) {
    const char quote = Peek();
    if (quote != '\'' && quote != '"') return Error("expected a string");
    ++pos_;
    out->clear();
    while (pos_ < text_.size() && text_[pos_] != quote) {
      if (text_[pos_] == '\\' && pos_ + 1 < text_.size()) ++pos_;
      out->push_back(text_[pos_++]);
    }
    if (!Consume(quote)) return Error("unterminated string");
    return Status::Ok();
  }

  Status ParseBool(bool* out) {
    if (ConsumeWord("True")) {
      *out = true;
    } else if (ConsumeWord("False")) {
      *out = false;
    } else {
      return Error("'fortran_order' is not True or False");
    }
    return Status::Ok();
  }

  // Decimal digits with an optional Python 2 'L' suffix; saturates at
  // UINT64_MAX (rejected later as too large).
  Status ParseInt(uint64_t* out) {
    if (!std::isdigit(static_cast<unsigned char>(Peek()))) {
      return Error("expected a non-negative integer in 'shape'");
    }
    uint64_t v = 0;
    constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
    while (std::isdigit(static_cast<unsigned char>(Peek()))) {
      const uint64_t d = static_cast<uint64_t>(text_[pos_++] - '0');
      v = v > (kMax - d) / 10 ? kMax : v * 10 + d;
    }
    if (Peek() == 'L' || Peek() == 'l') ++pos_;
    *out = v;
    return Status::Ok();
  }

  Status ParseShape(std::vector<uint64_t>* out) {
    if (!Consume('(')) return Error("'shape' is not a tuple");
    out->clear();
    SkipSpace();
    if (Consume(')')) return Status::Ok();
    while (true) {
      uint64_t dim = 0;
      if (Status s = ParseInt(&dim); !s.ok()) return s;
      out->push_back(dim);
      SkipSpace();
      if (Consume(')')) return Status::Ok();
      if (!Consume(',')) return Error("expected ',' or ')' in 'shape'");
      SkipSpace();
      if (Consume(')')) return Status::Ok();
    }
  }

  std::string_view text_;
  size_t pos_ = 0;
};

// Element type of a supported .npy descr.
struct NpyDtype {
  size_t item_size = 0;  // 4 or 8
  bool big_endian = false;
};

// Accepts '<f4', '>f4', '<f8', '>f8'; anything else is kInvalidInput.
Status ParseDescr(const std::string& descr, NpyDtype* dtype) {
  const bool ok_order =
      descr.size() == 3 && (descr[0] == '<' || descr[0] == '>');
  const bool ok_kind =
      ok_order && descr[1] == 'f' && (descr[2] == '4' || descr[2] == '8');
  if (!ok_kind) {
    return Status::InvalidInput("npy: unsupported dtype '" + descr +
                                "' (need float32/float64)");
  }
  dtype->item_size = descr[2] == '4' ? 4 : 8;
  dtype->big_endian = descr[0] == '>';
  return Status::Ok();
}

// Requires a 2-D shape with each side in [1, kNpyMaxSide].
Status CheckShape(const std::vector<uint64_t>& shape) {
  const std::string repr = ShapeRepr(shape);
  if (shape.size() != 2) {
    return Status::InvalidInput("npy: shape " + repr + " is not 2-D");
  }
  if (shape[0] == 0 || shape[1] == 0) {
    return Status::InvalidInput("npy: shape " + repr + " has a zero side");
  }
  if (shape[0] > kNpyMaxSide || shape[1] > kNpyMaxSide) {
    return Status::InvalidInput("npy: shape " + repr + " is too large (max " +
                                std::to_string(kNpyMaxSide) + " per side)");
  }
  return Status::Ok();
}

// Reads the little-endian header length and header text that follow the
// preamble. `*data_offset` receives the offset of the array data.
Status SplitNpyHeader(const std::string& bytes,
                      std::string_view* header_text,
                      size_t* data_offset) {
  const auto major = static_cast<unsigned char>(bytes[6]);
  const auto minor = static_cast<unsigned char>(bytes[7]);
  if (major < 1 || major > 3 || minor != 0) {
    return Status::InvalidInput(
        "npy: unsupported version " + std::to_string(major) + "." +
        std::to_string(minor) + " (need 1.0, 2.0 or 3.0)");
  }
  const size_t len_size = major == 1 ? 2 : 4;
  const size_t prefix = kNpyPreambleSize + len_size;
  if (bytes.size() < prefix) {
    return Status::InvalidInput("npy: truncated header: have " +
                                std::to_string(bytes.size()) + " bytes");
  }
  uint64_t header_len = 0;
  for (size_t i = 0; i < len_size; ++i) {
    header_len |=
        uint64_t{static_cast<unsigned char>(bytes[kNpyPreambleSize + i])}
        << (8 * i);
  }
  if (header_len > bytes.size() - prefix) {
    return Status::InvalidInput("npy: truncated header: header length " +
                                std::to_string(header_len) + " exceeds the " +
                                std::to_string(bytes.size() - prefix) +
                                " bytes available");
  }
  *header_text = std::string_view(bytes).substr(prefix, header_len);
  *data_offset = prefix + static_cast<size_t>(header_len);
  return Status::Ok();
}

// Converts `rows`×`cols` elements at `data` (C or Fortran order) to float32.
template <typename Float>
cv::Mat1f ConvertNpyData(
    const char* data, int rows, int cols, bool fortran_order, bool swap) {
  cv::Mat1f out(rows, cols);
  for (int r = 0; r < rows; ++r) {
    float* dst = out.ptr<float>(r);
    for (int c = 0; c < cols; ++c) {
      const size_t index = fortran_order ? static_cast<size_t>(c) * rows + r
                                         : static_cast<size_t>(r) * cols + c;
      dst[c] = static_cast<float>(
          LoadFloat<Float>(data + index * sizeof(Float), swap));
    }
  }
  return out;
}

// The header text of a malformed file may hold any bytes; messages quote
// it with bytes other than printable ASCII replaced by '?', so that they
// are safe to log and valid UTF-8.
ReadImageResult Printable(ReadImageResult r) {
  if (r.status.ok()) return r;
  std::string m = r.status.message();
  for (char& c : m) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f) c = '?';
  }
  r.status = Status(r.status.code(), std::move(m));
  return r;
}

ReadImageResult ParseNpyUnguarded(const std::string& bytes) {
  if (bytes.empty()) return Invalid("npy: empty input (0 bytes)");
  const size_t magic_have = std::min(bytes.size(), kNpyMagic.size());
  if (std::string_view(bytes).substr(0, magic_have) !=
      kNpyMagic.substr(0, magic_have)) {
    return Invalid("npy: bad magic (not a .npy file)");
  }
  if (bytes.size() < kNpyPreambleSize) {
    return Invalid("npy: truncated header: have " +
                   std::to_string(bytes.size()) + " bytes");
  }
  std::string_view header_text;
  size_t data_offset = 0;
  if (Status s = SplitNpyHeader(bytes, &header_text, &data_offset); !s.ok()) {
    return Fail(s);
  }
  NpyHeader header;
  if (Status s = NpyHeaderParser(header_text).Parse(&header); !s.ok()) {
    return Fail(s);
  }
  NpyDtype dtype;
  if (Status s = ParseDescr(header.descr, &dtype); !s.ok()) return Fail(s);
  if (Status s = CheckShape(header.shape); !s.ok()) return Fail(s);
  // Sides are <= 65536, so this cannot overflow.
  const uint64_t need = header.shape[0] * header.shape[1] * dtype.item_size;
  const uint64_t have = bytes.size() - data_offset;
  // Trailing bytes are ignored, as numpy.load does.
  if (have < need) {
    return Invalid("npy: truncated data: expected " + std::to_string(need) +
                   " bytes, have " + std::to_string(have));
  }
  const int rows = static_cast<int>(header.shape[0]);
  const int cols = static_cast<int>(header.shape[1]);
  const bool swap =
      dtype.big_endian != (std::endian::native == std::endian::big);
  const char* data = bytes.data() + data_offset;
  cv::Mat1f image =
      dtype.item_size == 4
          ? ConvertNpyData<float>(data, rows, cols, header.fortran_order, swap)
          : ConvertNpyData<double>(data, rows, cols, header.fortran_order,
                                   swap);
  return {Status::Ok(), image};
}

// Writes `size` bytes, returning false on a short write.
bool WriteAll(std::FILE* f, const void* data, size_t size) {
  return std::fwrite(data, 1, size, f) == size;
}

// The .npy v1.0 preamble and header of a C-order rows × cols array of
// `descr` ('<f4', '<i4'; rows × cols × channels when channels > 1),
// padded with spaces so the data starts at a multiple of 64 bytes.
std::string NpyHeader(const char* descr, int rows, int cols, int channels) {
  std::string shape = std::to_string(rows) + ", " + std::to_string(cols);
  if (channels > 1) shape += ", " + std::to_string(channels);
  std::string dict = std::string("{'descr': '") + descr +
                     "', 'fortran_order': False, 'shape': (" + shape + "), }";
  const size_t prefix = kNpyPreambleSize + 2;
  const size_t unpadded = prefix + dict.size() + 1;  // +1 for '\n'
  dict.append((64 - unpadded % 64) % 64, ' ');
  dict += '\n';
  std::string out(kNpyMagic);
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(dict.size() & 0xff);
  out += static_cast<char>((dict.size() >> 8) & 0xff);
  return out + dict;
}

// Writes an array of 4-byte elements (float32 or int32; one or more
// channels, innermost) as .npy with `descr`.
Status WriteNpyUnguarded(const std::string& path,
                         const cv::Mat& image,
                         const char* descr) {
  if (image.elemSize1() != sizeof(uint32_t)) {
    return Status::InvalidInput("cannot write " + path +
                                ": not a 4-byte element type");
  }
  if (image.empty()) {
    return Status::InvalidInput("cannot write " + path + ": empty image");
  }
  errno = 0;
  FilePtr file(std::fopen(path.c_str(), "wb"));
  if (!file) {
    return Status::InvalidInput("cannot write " + path + ": " +
                                ErrnoMessage(errno));
  }
  const std::string header =
      NpyHeader(descr, image.rows, image.cols, image.channels());
  bool ok = WriteAll(file.get(), header.data(), header.size());
  std::vector<uint32_t> row(static_cast<size_t>(image.cols) * image.channels());
  for (int r = 0; ok && r < image.rows; ++r) {
    std::memcpy(row.data(), image.ptr(r), row.size() * sizeof(uint32_t));
    if constexpr (std::endian::native == std::endian::big) {
      for (uint32_t& v : row) v = ByteSwap(v);
    }
    ok = WriteAll(file.get(), row.data(), row.size() * sizeof(uint32_t));
  }
  const int write_errno = ok ? 0 : errno;
  // fclose flushes; its failure (e.g. disk full) also fails the write.
  ok = std::fclose(file.release()) == 0 && ok;
  if (!ok) {
    std::error_code ignored;
    fs::remove(path, ignored);
    return Status::InvalidInput(
        "cannot write " + path + ": " +
        ErrnoMessage(write_errno ? write_errno : errno));
  }
  return Status::Ok();
}

const char* DepthName(int depth) {
  switch (depth) {
    case CV_8U:
      return "8U";
    case CV_8S:
      return "8S";
    case CV_16U:
      return "16U";
    case CV_16S:
      return "16S";
    case CV_32S:
      return "32S";
    case CV_32F:
      return "32F";
    case CV_64F:
      return "64F";
    case CV_16F:
      return "16F";
    default:
      return "other";
  }
}

// Converts a decoded 8U/16U/32F/64F image with 1, 3 (BGR) or 4 (BGRA)
// channels to single-channel float32 without rescaling values.
ReadImageResult RasterToFloat(const std::string& path, const cv::Mat& raw) {
  const int depth = raw.depth();
  if (depth != CV_8U && depth != CV_16U && depth != CV_32F && depth != CV_64F) {
    return Invalid("unsupported pixel type " + std::string(DepthName(depth)) +
                   " in " + path + " (need 8U, 16U, 32F or 64F)");
  }
  const int channels = raw.channels();
  if (channels != 1 && channels != 3 && channels != 4) {
    return Invalid("unsupported channel count " + std::to_string(channels) +
                   " in " + path + " (need 1, 3 or 4)");
  }
  cv::Mat as_float;
  raw.convertTo(as_float, CV_MAKETYPE(CV_32F, channels));
  if (channels == 1) return {Status::Ok(), cv::Mat1f(as_float)};
  cv::Mat grey;
  cv::cvtColor(as_float, grey,
               channels == 3 ? cv::COLOR_BGR2GRAY : cv::COLOR_BGRA2GRAY);
  return {Status::Ok(), cv::Mat1f(grey)};
}

// The big- or little-endian unsigned integer of `n` bytes at `p`.
uint64_t LoadUnsigned(const unsigned char* p, int n, bool big_endian) {
  uint64_t v = 0;
  for (int k = 0; k < n; ++k) {
    const int shift = 8 * (big_endian ? n - 1 - k : k);
    v |= uint64_t{p[k]} << shift;
  }
  return v;
}

struct RasterSize {
  uint64_t cols = 0, rows = 0;
};

// Width and height from a PNG's IHDR chunk (PNG spec, section 11.2.2).
Status PngSize(std::string_view bytes, RasterSize* size) {
  constexpr std::string_view kSignature("\x89PNG\r\n\x1a\n", 8);
  if (bytes.size() < 24 || bytes.substr(0, 8) != kSignature ||
      bytes.substr(12, 4) != "IHDR") {
    return Status::InvalidInput("not a PNG file (no IHDR header)");
  }
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  size->cols = LoadUnsigned(p + 16, 4, true);
  size->rows = LoadUnsigned(p + 20, 4, true);
  return Status::Ok();
}

// ImageWidth (tag 256) and ImageLength (257) from the first image file
// directory of a TIFF (TIFF 6.0 section 2) or BigTIFF file.
Status TiffSize(std::string_view bytes, RasterSize* size) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const uint64_t n = bytes.size();
  auto fail = [] { return Status::InvalidInput("malformed TIFF header"); };
  if (n < 8 || !(bytes.substr(0, 2) == "II" || bytes.substr(0, 2) == "MM")) {
    return fail();
  }
  const bool be = bytes[0] == 'M';
  const uint64_t version = LoadUnsigned(p + 2, 2, be);
  if (version != 42 && version != 43) return fail();
  const bool big = version == 43;
  const int offset_bytes = big ? 8 : 4, count_bytes = big ? 8 : 2;
  const uint64_t entry_bytes = big ? 20 : 12;
  if (n < (big ? 16u : 8u)) return fail();
  const uint64_t ifd = LoadUnsigned(p + (big ? 8 : 4), offset_bytes, be);
  if (ifd > n || n - ifd < static_cast<uint64_t>(count_bytes)) return fail();
  const uint64_t entries = LoadUnsigned(p + ifd, count_bytes, be);
  if (entries > (n - ifd - count_bytes) / entry_bytes) return fail();
  for (uint64_t e = 0; e < entries; ++e) {
    const unsigned char* entry = p + ifd + count_bytes + e * entry_bytes;
    const uint64_t tag = LoadUnsigned(entry, 2, be);
    const uint64_t type = LoadUnsigned(entry + 2, 2, be);
    if (tag != 256 && tag != 257) continue;
    // SHORT (3) or LONG (4), or LONG8 (16) in BigTIFF, stored in the entry.
    const int value_bytes = type == 3 ? 2 : type == 4 ? 4 : type == 16 ? 8 : 0;
    if (value_bytes == 0 || (value_bytes == 8 && !big)) return fail();
    const uint64_t value =
        LoadUnsigned(entry + (big ? 12 : 8), value_bytes, be);
    (tag == 256 ? size->cols : size->rows) = value;
  }
  if (size->cols == 0 || size->rows == 0) return fail();
  return Status::Ok();
}

// Refuses an image whose header (PNG by its signature, else TIFF) cannot
// be read or claims a side over kMaxRasterSidePx.
Status CheckRasterSize(const std::string& path, std::string_view bytes) {
  RasterSize size;
  const bool png = bytes.size() >= 4 && bytes.substr(1, 3) == "PNG";
  const Status read = png ? PngSize(bytes, &size) : TiffSize(bytes, &size);
  if (!read.ok()) {
    return Status::InvalidInput("cannot decode image " + path + ": " +
                                read.message());
  }
  if (size.cols > kMaxRasterSidePx || size.rows > kMaxRasterSidePx) {
    return Status::InvalidInput(
        "image " + path + " is " + std::to_string(size.cols) + "x" +
        std::to_string(size.rows) + " px, more than the limit of " +
        std::to_string(kMaxRasterSidePx) + " px per side");
  }
  return Status::Ok();
}

ReadImageResult DecodeRasterUnguarded(std::string_view bytes,
                                      const std::string& name) {
  // cv::Mat counts its columns in int.
  if (bytes.size() > static_cast<size_t>(std::numeric_limits<int>::max())) {
    return Invalid("image " + name + " is too large to decode");
  }
  if (Status s = CheckRasterSize(name, bytes); !s.ok()) return Fail(s);
  const cv::Mat buffer(1, static_cast<int>(bytes.size()), CV_8U,
                       const_cast<char*>(bytes.data()));
  // IMREAD_UNCHANGED keeps depth and alpha; ANYDEPTH is implied but
  // stated for clarity.
  const cv::Mat raw =
      cv::imdecode(buffer, cv::IMREAD_UNCHANGED | cv::IMREAD_ANYDEPTH);
  if (raw.empty()) {
    return Invalid("cannot decode image " + name +
                   " (corrupt or unsupported file)");
  }
  return RasterToFloat(name, raw);
}

ReadImageResult ReadRasterUnguarded(const std::string& path) {
  std::string bytes;
  constexpr uint64_t kMaxBytes = std::numeric_limits<int>::max();
  if (Status s = ReadFileBytes(path, &bytes, kMaxBytes); !s.ok()) {
    return Fail(s);
  }
  return DecodeRasterUnguarded(bytes, path);
}

// Runs `fn`, turning any escaping exception into a failed result. OpenCV
// errors count as kInvalidInput when `cv_is_input` (decoding a file),
// otherwise as kInternal; other exceptions (bad_alloc, …) are kInternal.
template <typename Result, typename Fn>
Result Guard(const std::string& context, bool cv_is_input, Fn&& fn) {
  auto fail = [](Status s) {
    if constexpr (std::is_same_v<Result, Status>) {
      return s;
    } else {
      return Fail(std::move(s));
    }
  };
  try {
    return fn();
  } catch (const cv::Exception& e) {
    const std::string message = context + ": " + e.err;
    return fail(cv_is_input ? Status::InvalidInput(message)
                            : Status::Internal(message));
  } catch (const std::exception& e) {
    return fail(Status::Internal(context + ": " + e.what()));
  } catch (...) {
    return fail(Status::Internal(context + ": unknown exception"));
  }
}

}  // namespace

ReadImageResult ParseNpy(const std::string& bytes) {
  return Guard<ReadImageResult>(
      "npy", false, [&] { return Printable(ParseNpyUnguarded(bytes)); });
}

ReadImageResult ReadNpy(const std::string& path) {
  return Guard<ReadImageResult>("cannot read " + path, false, [&] {
    std::string bytes;
    if (Status s = ReadFileBytes(path, &bytes); !s.ok()) return Fail(s);
    ReadImageResult result = Printable(ParseNpyUnguarded(bytes));
    if (!result.status.ok()) {
      result.status =
          Status(result.status.code(), path + ": " + result.status.message());
    }
    return result;
  });
}

Status WriteNpy(const std::string& path, const cv::Mat1f& image) {
  return Guard<Status>("cannot write " + path, false,
                       [&] { return WriteNpyUnguarded(path, image, "<f4"); });
}

Status WriteNpy(const std::string& path, const cv::Mat1i& labels) {
  return Guard<Status>("cannot write " + path, false,
                       [&] { return WriteNpyUnguarded(path, labels, "<i4"); });
}

Status WriteNpy(const std::string& path, const cv::Mat2f& field) {
  return Guard<Status>("cannot write " + path, false,
                       [&] { return WriteNpyUnguarded(path, field, "<f4"); });
}

ReadImageResult ReadRasterImage(const std::string& path) {
  return Guard<ReadImageResult>("cannot decode image " + path, true,
                                [&] { return ReadRasterUnguarded(path); });
}

ReadImageResult DecodeRasterImage(std::string_view bytes,
                                  const std::string& name) {
  return Guard<ReadImageResult>("cannot decode image " + name, true, [&] {
    return DecodeRasterUnguarded(bytes, name);
  });
}

ReadImageResult ReadImageFile(const std::string& path) {
  return Guard<ReadImageResult>("cannot read " + path, false, [&] {
    const std::string ext = LowerExtension(path);
    if (ext == ".npy") return ReadNpy(path);
    if (ext == ".tif" || ext == ".tiff" || ext == ".png") {
      return ReadRasterImage(path);
    }
    return Invalid(path + ": unsupported file type '" + ext +
                   "' (need .npy, .tif, .tiff, .png)");
  });
}

Status WriteFloatTiff(const std::string& path, const cv::Mat1f& image) {
  return Guard<Status>("cannot write " + path, true, [&] {
    if (image.empty()) {
      return Status::InvalidInput("cannot write " + path + ": empty image");
    }
    const std::string ext = LowerExtension(path);
    if (ext != ".tif" && ext != ".tiff") {
      return Status::InvalidInput("cannot write " + path +
                                  ": need a .tif or .tiff file name");
    }
    if (!cv::imwrite(path, image)) {
      return Status::InvalidInput("cannot write " + path +
                                  ": OpenCV TIFF encoder failed");
    }
    const cv::Mat back = cv::imread(path, cv::IMREAD_UNCHANGED);
    if (back.type() != CV_32FC1 || back.size() != image.size()) {
      return Status::Internal(path + ": written TIFF does not read back as " +
                              std::to_string(image.cols) + "x" +
                              std::to_string(image.rows) + " float32");
    }
    for (int r = 0; r < image.rows; ++r) {
      if (std::memcmp(back.ptr<float>(r), image.ptr<float>(r),
                      sizeof(float) * image.cols) != 0) {
        return Status::Internal(path +
                                ": written TIFF does not read back bit-exact");
      }
    }
    return Status::Ok();
  });
}

}  // namespace anchord
