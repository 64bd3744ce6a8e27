#include "anchord/io/image_io.h"

#include "support/temp_dir.h"
#include <doctest/doctest.h>
#include <opencv2/imgcodecs.hpp>

#include <bit>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace anchord {
namespace {

namespace fs = std::filesystem;

void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Appends `v` as `n` bytes in the given byte order.
void PutUInt(uint64_t v, size_t n, bool big_endian, std::string* out) {
  for (size_t i = 0; i < n; ++i) {
    const size_t shift = 8 * (big_endian ? n - 1 - i : i);
    out->push_back(static_cast<char>((v >> shift) & 0xff));
  }
}

std::string F4Bytes(const std::vector<float>& values, bool big_endian) {
  std::string out;
  for (float v : values)
    PutUInt(std::bit_cast<uint32_t>(v), 4, big_endian, &out);
  return out;
}

std::string F8Bytes(const std::vector<double>& values, bool big_endian) {
  std::string out;
  for (double v : values)
    PutUInt(std::bit_cast<uint64_t>(v), 8, big_endian, &out);
  return out;
}

// A .npy file of version major.0 with header `dict` (padded as numpy does)
// followed by `data`.
std::string MakeNpy(int major,
                    const std::string& dict,
                    const std::string& data) {
  std::string out("\x93NUMPY", 6);
  out.push_back(static_cast<char>(major));
  out.push_back('\0');
  const size_t len_size = major == 1 ? 2 : 4;
  std::string header = dict;
  const size_t unpadded = out.size() + len_size + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header.push_back('\n');
  PutUInt(header.size(), len_size, false, &out);
  return out + header + data;
}

std::string Dict(const std::string& descr,
                 const std::string& fortran,
                 const std::string& shape) {
  return "{'descr': '" + descr + "', 'fortran_order': " + fortran +
         ", 'shape': " + shape + ", }";
}

// True when both images have the same size and bit-identical pixels (so
// NaN compares equal to NaN).
bool BitEqual(const cv::Mat1f& a, const cv::Mat1f& b) {
  if (a.size() != b.size()) return false;
  for (int r = 0; r < a.rows; ++r) {
    if (std::memcmp(a.ptr<float>(r), b.ptr<float>(r), sizeof(float) * a.cols) !=
        0) {
      return false;
    }
  }
  return true;
}

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// Expects ParseNpy(bytes) to fail as kInvalidInput naming `what`.
void ExpectNpyRejected(const std::string& bytes, const std::string& what) {
  const ReadImageResult r = ParseNpy(bytes);
  CHECK(r.status.code() == StatusCode::kInvalidInput);
  CHECK_MESSAGE(Contains(r.status.message(), what), r.status.message());
  CHECK(r.image.empty());
}

cv::Mat1f SampleImage() {
  cv::Mat1f m(3, 5);
  for (int r = 0; r < m.rows; ++r) {
    for (int c = 0; c < m.cols; ++c) m(r, c) = 0.125f * (r * 7 + c) - 1.0f;
  }
  m(0, 0) = std::numeric_limits<float>::quiet_NaN();
  m(0, 1) = -0.0f;
  m(1, 2) = std::numeric_limits<float>::denorm_min();
  m(2, 3) = std::numeric_limits<float>::max();
  m(2, 4) = -std::numeric_limits<float>::infinity();
  m(1, 4) = 1.0f / 3.0f;
  return m;
}

TEST_CASE("npy: float32 round trip is bit-exact") {
  testing::TempDir dir("anchord_image_io_test");
  const std::string path = dir / ("a.npy");
  const cv::Mat1f image = SampleImage();
  REQUIRE(WriteNpy(path, image).ok());
  const ReadImageResult r = ReadNpy(path);
  REQUIRE(r.status.ok());
  CHECK(r.image.rows == 3);
  CHECK(r.image.cols == 5);
  CHECK(std::isnan(r.image(0, 0)));
  CHECK(std::signbit(r.image(0, 1)));
  CHECK(BitEqual(r.image, image));
}

TEST_CASE("npy: WriteNpy writes a numpy-style v1.0 '<f4' header") {
  testing::TempDir dir("anchord_image_io_test");
  const std::string path = dir / ("a.npy");
  REQUIRE(WriteNpy(path, SampleImage()).ok());
  const std::string bytes = ReadBytes(path);
  REQUIRE(bytes.size() > 10);
  CHECK(bytes.substr(0, 6) == std::string("\x93NUMPY", 6));
  CHECK(bytes[6] == '\x01');
  CHECK(bytes[7] == '\x00');
  const size_t header_len =
      static_cast<unsigned char>(bytes[8]) |
      static_cast<size_t>(static_cast<unsigned char>(bytes[9])) << 8;
  const size_t data_offset = 10 + header_len;
  CHECK(data_offset % 64 == 0);
  REQUIRE(data_offset <= bytes.size());
  CHECK(bytes[data_offset - 1] == '\n');
  const std::string header = bytes.substr(10, header_len);
  CHECK(Contains(header, "'descr': '<f4'"));
  CHECK(Contains(header, "'fortran_order': False"));
  CHECK(Contains(header, "'shape': (3, 5)"));
  CHECK(bytes.size() == data_offset + 3 * 5 * 4);
  // Data is little-endian C order: element (1, 4) is at index 9.
  CHECK(bytes.substr(data_offset + 9 * 4, 4) == F4Bytes({1.0f / 3.0f}, false));
}

TEST_CASE("npy: WriteNpy handles a non-continuous ROI") {
  testing::TempDir dir("anchord_image_io_test");
  const std::string path = dir / ("roi.npy");
  const cv::Mat1f full = SampleImage();
  const cv::Mat1f roi = full(cv::Rect(1, 1, 3, 2));
  REQUIRE_FALSE(roi.isContinuous());
  REQUIRE(WriteNpy(path, roi).ok());
  const ReadImageResult r = ReadNpy(path);
  REQUIRE(r.status.ok());
  CHECK(BitEqual(r.image, roi));
}

TEST_CASE("npy: float64 file is narrowed to float32") {
  testing::TempDir dir("anchord_image_io_test");
  const std::string path = dir / ("f8.npy");
  const std::vector<double> values = {1.5, -2.25, 1e-3, 0.1, 1e300, -7.0};
  WriteBytes(
      path, MakeNpy(1, Dict("<f8", "False", "(2, 3)"), F8Bytes(values, false)));
  const ReadImageResult r = ReadNpy(path);
  REQUIRE(r.status.ok());
  REQUIRE(r.image.rows == 2);
  REQUIRE(r.image.cols == 3);
  CHECK(r.image(0, 0) == 1.5f);
  CHECK(r.image(0, 1) == -2.25f);
  CHECK(r.image(0, 2) == static_cast<float>(1e-3));
  CHECK(r.image(1, 0) == static_cast<float>(0.1));
  CHECK(std::isinf(r.image(1, 1)));
  CHECK(r.image(1, 2) == -7.0f);
}

TEST_CASE("npy: big-endian dtypes") {
  SUBCASE(">f4") {
    const ReadImageResult r =
        ParseNpy(MakeNpy(1, Dict(">f4", "False", "(1, 3)"),
                         F4Bytes({1.0f, -3.5f, 1e-20f}, true)));
    REQUIRE(r.status.ok());
    CHECK(r.image(0, 0) == 1.0f);
    CHECK(r.image(0, 1) == -3.5f);
    CHECK(r.image(0, 2) == 1e-20f);
  }
  SUBCASE(">f8") {
    const ReadImageResult r = ParseNpy(MakeNpy(
        1, Dict(">f8", "False", "(2, 1)"), F8Bytes({0.25, 123456.0}, true)));
    REQUIRE(r.status.ok());
    CHECK(r.image(0, 0) == 0.25f);
    CHECK(r.image(1, 0) == 123456.0f);
  }
}

TEST_CASE("npy: fortran_order True is transposed into C order") {
  // Shape (2, 3), value(r, c) = 10 r + c, stored column by column.
  const std::vector<float> column_major = {0, 10, 1, 11, 2, 12};
  const ReadImageResult r = ParseNpy(
      MakeNpy(1, Dict("<f4", "True", "(2, 3)"), F4Bytes(column_major, false)));
  REQUIRE(r.status.ok());
  REQUIRE(r.image.rows == 2);
  REQUIRE(r.image.cols == 3);
  for (int row = 0; row < 2; ++row) {
    for (int col = 0; col < 3; ++col) {
      CHECK(r.image(row, col) == static_cast<float>(10 * row + col));
    }
  }
}

TEST_CASE("npy: version 2.0 and 3.0 headers") {
  const std::string data = F4Bytes({1, 2, 3, 4}, false);
  for (int major : {2, 3}) {
    CAPTURE(major);
    const std::string bytes =
        MakeNpy(major, Dict("<f4", "False", "(2, 2)"), data);
    // Data offset is 12 + header length: a 4-byte length field.
    REQUIRE(bytes.size() % 64 == 16);
    const ReadImageResult r = ParseNpy(bytes);
    REQUIRE(r.status.ok());
    CHECK(r.image(1, 1) == 4.0f);
    CHECK(r.image(0, 1) == 2.0f);
  }
}

TEST_CASE("npy: header variations numpy may write") {
  // Different key order, double quotes, no trailing comma, Python 2 'L'.
  const std::string dict =
      "{\"shape\": (2L, 1L), \"fortran_order\": False, \"descr\": \"<f4\"}";
  const ReadImageResult r =
      ParseNpy(MakeNpy(1, dict, F4Bytes({5.0f, 6.0f}, false)));
  REQUIRE(r.status.ok());
  CHECK(r.image.rows == 2);
  CHECK(r.image(1, 0) == 6.0f);
}

TEST_CASE("npy: trailing bytes after the data are ignored, as numpy does") {
  const ReadImageResult r = ParseNpy(
      MakeNpy(1, Dict("<f4", "False", "(1, 2)"), F4Bytes({1, 2, 3}, false)));
  REQUIRE(r.status.ok());
  CHECK(r.image.cols == 2);
  CHECK(r.image(0, 1) == 2.0f);
}

TEST_CASE("npy: truncated data names expected and available sizes") {
  ExpectNpyRejected(MakeNpy(1, Dict("<f4", "False", "(2, 3)"),
                            F4Bytes({1, 2, 3, 4, 5}, false)),
                    "npy: truncated data: expected 24 bytes, have 20");
  // A huge (but legal) shape with no data must fail before allocating.
  ExpectNpyRejected(MakeNpy(1, Dict("<f8", "False", "(65536, 65536)"), ""),
                    "npy: truncated data: expected 34359738368 bytes, have 0");
}

TEST_CASE("npy: every truncation of a valid file is rejected") {
  const std::string full = MakeNpy(2, Dict("<f8", "True", "(3, 2)"),
                                   F8Bytes({1, 2, 3, 4, 5, 6}, false));
  REQUIRE(ParseNpy(full).status.ok());
  for (size_t n = 0; n < full.size(); ++n) {
    CAPTURE(n);
    const ReadImageResult r = ParseNpy(full.substr(0, n));
    CHECK(r.status.code() == StatusCode::kInvalidInput);
    CHECK(r.image.empty());
  }
}

TEST_CASE("npy: malformed headers are rejected with a named reason") {
  const std::string data = F4Bytes({1, 2, 3, 4, 5, 6}, false);
  SUBCASE("bad magic") {
    std::string bytes = MakeNpy(1, Dict("<f4", "False", "(2, 3)"), data);
    bytes[1] = 'X';
    ExpectNpyRejected(bytes, "npy: bad magic");
    ExpectNpyRejected("P5\n2 2\n255\n", "npy: bad magic");
  }
  SUBCASE("1-D shape") {
    ExpectNpyRejected(MakeNpy(1, Dict("<f4", "False", "(6,)"), data),
                      "npy: shape (6,) is not 2-D");
  }
  SUBCASE("3-D shape") {
    ExpectNpyRejected(MakeNpy(1, Dict("<f4", "False", "(1, 2, 3)"), data),
                      "npy: shape (1, 2, 3) is not 2-D");
  }
  SUBCASE("0-D shape") {
    ExpectNpyRejected(MakeNpy(1, Dict("<f4", "False", "()"), data),
                      "npy: shape () is not 2-D");
  }
  SUBCASE("int dtype") {
    ExpectNpyRejected(MakeNpy(1, Dict("<i4", "False", "(2, 3)"), data),
                      "npy: unsupported dtype '<i4' (need float32/float64)");
  }
  SUBCASE("other unsupported dtypes") {
    ExpectNpyRejected(MakeNpy(1, Dict("|f4", "False", "(2, 3)"), data),
                      "unsupported dtype '|f4'");
    ExpectNpyRejected(MakeNpy(1, Dict("<f2", "False", "(2, 3)"), data),
                      "unsupported dtype '<f2'");
    ExpectNpyRejected(
        MakeNpy(1,
                "{'descr': [('a', '<f4')], 'fortran_order': False, "
                "'shape': (2,), }",
                data),
        "structured");
  }
  SUBCASE("zero and absurd sides") {
    ExpectNpyRejected(MakeNpy(1, Dict("<f4", "False", "(0, 3)"), ""),
                      "npy: shape (0, 3) has a zero side");
    ExpectNpyRejected(MakeNpy(1, Dict("<f4", "False", "(70000, 2)"), data),
                      "npy: shape (70000, 2) is too large");
    ExpectNpyRejected(
        MakeNpy(1, Dict("<f4", "False", "(99999999999999999999999, 2)"), data),
        "too large");
  }
  SUBCASE("unsupported version") {
    std::string bytes = MakeNpy(1, Dict("<f4", "False", "(2, 3)"), data);
    bytes[6] = '\x04';
    ExpectNpyRejected(bytes, "npy: unsupported version 4.0");
  }
  SUBCASE("header length beyond the end") {
    std::string bytes = MakeNpy(2, Dict("<f4", "False", "(2, 3)"), data);
    bytes[11] = '\x7f';  // high byte of the 4-byte length
    ExpectNpyRejected(bytes, "npy: truncated header");
  }
  SUBCASE("missing or unknown keys, bad syntax") {
    ExpectNpyRejected(MakeNpy(1, "{'descr': '<f4', 'shape': (2, 3)}", data),
                      "lacks 'fortran_order'");
    ExpectNpyRejected(
        MakeNpy(1, "{'descr': '<f4', 'fortran_order': False, 'x': 1}", data),
        "unexpected header key 'x'");
    ExpectNpyRejected(MakeNpy(1, Dict("<f4", "Maybe", "(2, 3)"), data),
                      "malformed header");
    ExpectNpyRejected(MakeNpy(1, Dict("<f4", "False", "(2, -3)"), data),
                      "malformed header");
    ExpectNpyRejected(MakeNpy(1, "{'descr': '<f4", data), "unterminated");
    ExpectNpyRejected(
        MakeNpy(1, Dict("<f4", "False", "(2, 3)") + " junk", data),
        "unexpected text after '}'");
  }
}

TEST_CASE("npy: file-level failures") {
  testing::TempDir dir("anchord_image_io_test");
  SUBCASE("empty file") {
    const std::string path = dir / ("empty.npy");
    WriteBytes(path, "");
    const ReadImageResult r = ReadNpy(path);
    CHECK(r.status.code() == StatusCode::kInvalidInput);
    CHECK(Contains(r.status.message(), path));
    CHECK(Contains(r.status.message(), "empty"));
  }
  SUBCASE("missing file") {
    const std::string path = dir / ("missing.npy");
    const ReadImageResult r = ReadNpy(path);
    CHECK(r.status.code() == StatusCode::kInvalidInput);
    CHECK(Contains(r.status.message(), "cannot read " + path + ": "));
    CHECK(Contains(r.status.message(), "No such file"));
  }
  SUBCASE("a directory") {
    const std::string path = dir / ("dir.npy");
    fs::create_directory(path);
    for (const ReadImageResult& r : {ReadNpy(path), ReadImageFile(path)}) {
      CHECK(r.status.code() == StatusCode::kInvalidInput);
      CHECK(r.status.message() == "cannot read " + path + ": is a directory");
    }
  }
  SUBCASE("parse errors name the file") {
    const std::string path = dir / ("bad.npy");
    WriteBytes(path, "not a numpy file at all");
    const ReadImageResult r = ReadNpy(path);
    CHECK(r.status.code() == StatusCode::kInvalidInput);
    CHECK(r.status.message() == path + ": npy: bad magic (not a .npy file)");
  }
  SUBCASE("unwritable destination") {
    const Status s = WriteNpy(dir / ("no/such/dir/a.npy"), SampleImage());
    CHECK(s.code() == StatusCode::kInvalidInput);
    CHECK(Contains(s.message(), "cannot write"));
    CHECK(WriteNpy(dir / ("e.npy"), cv::Mat1f()).code() ==
          StatusCode::kInvalidInput);
  }
}

TEST_CASE("png: 8-bit and 16-bit grey values are preserved") {
  testing::TempDir dir("anchord_image_io_test");
  SUBCASE("8-bit") {
    cv::Mat1b m(2, 3);
    m << 0, 7, 128, 200, 254, 255;
    const std::string path = dir / ("g8.png");
    REQUIRE(cv::imwrite(path, m));
    const ReadImageResult r = ReadImageFile(path);
    REQUIRE(r.status.ok());
    REQUIRE(r.image.size() == m.size());
    for (int i = 0; i < 6; ++i) CHECK(r.image(i / 3, i % 3) == m(i / 3, i % 3));
  }
  SUBCASE("16-bit, not rescaled") {
    cv::Mat1w m(3, 2);
    m << 0, 1, 1000, 4097, 65534, 65535;
    const std::string path = dir / ("g16.PNG");  // extension case ignored
    REQUIRE(cv::imwrite(path, m));
    const ReadImageResult r = ReadImageFile(path);
    REQUIRE(r.status.ok());
    REQUIRE(r.image.size() == m.size());
    CHECK(r.image(1, 0) == 1000.0f);
    CHECK(r.image(2, 1) == 65535.0f);
    for (int i = 0; i < 6; ++i) CHECK(r.image(i / 2, i % 2) == m(i / 2, i % 2));
  }
  SUBCASE("colour is converted to grey") {
    cv::Mat3b bgr(2, 2, cv::Vec3b(100, 100, 100));
    bgr(1, 1) = cv::Vec3b(0, 0, 255);  // pure red
    const std::string path = dir / ("c.png");
    REQUIRE(cv::imwrite(path, bgr));
    const ReadImageResult r = ReadImageFile(path);
    REQUIRE(r.status.ok());
    REQUIRE(r.image.size() == bgr.size());
    CHECK(r.image(0, 0) == doctest::Approx(100.0));
    CHECK(r.image(1, 1) == doctest::Approx(0.299 * 255).epsilon(0.01));
  }
  SUBCASE("colour with alpha is converted to grey") {
    cv::Mat4b bgra(1, 2, cv::Vec4b(50, 50, 50, 0));
    bgra(0, 1) = cv::Vec4b(200, 200, 200, 255);
    const std::string path = dir / ("a.png");
    REQUIRE(cv::imwrite(path, bgra));
    const ReadImageResult r = ReadImageFile(path);
    REQUIRE(r.status.ok());
    CHECK(r.image(0, 0) == doctest::Approx(50.0));
    CHECK(r.image(0, 1) == doctest::Approx(200.0));
  }
  SUBCASE("corrupt file") {
    const std::string path = dir / ("corrupt.png");
    WriteBytes(path, "\x89PNG\r\n\x1a\n this is not really a png");
    const ReadImageResult r = ReadImageFile(path);
    CHECK(r.status.code() == StatusCode::kInvalidInput);
    CHECK(Contains(r.status.message(), path));
  }
  SUBCASE("missing file") {
    const std::string path = dir / ("missing.png");
    const ReadImageResult r = ReadImageFile(path);
    CHECK(r.status.code() == StatusCode::kInvalidInput);
    CHECK(Contains(r.status.message(), "cannot read " + path));
  }
}

// CRC-32 of `bytes` as PNG chunks use it (PNG spec, annex D).
uint32_t PngCrc(std::string_view bytes) {
  uint32_t crc = 0xffffffffu;
  for (unsigned char b : bytes) {
    crc ^= b;
    for (int k = 0; k < 8; ++k)
      crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
  }
  return crc ^ 0xffffffffu;
}

// A PNG signature and a well-formed IHDR chunk (16-bit grey) claiming
// cols x rows, and nothing else.
std::string PngHeaderClaiming(uint32_t cols, uint32_t rows) {
  std::string chunk = "IHDR";
  PutUInt(cols, 4, true, &chunk);
  PutUInt(rows, 4, true, &chunk);
  chunk += std::string("\x10\x00\x00\x00\x00", 5);  // depth 16, grey
  std::string out("\x89PNG\r\n\x1a\n", 8);
  PutUInt(13, 4, true, &out);
  out += chunk;
  PutUInt(PngCrc(chunk), 4, true, &out);
  return out;
}

// A little-endian TIFF whose only directory holds ImageWidth and
// ImageLength as LONG values.
std::string TiffHeaderClaiming(uint32_t cols, uint32_t rows) {
  std::string out("II*\0", 4);
  PutUInt(8, 4, false, &out);  // first directory at byte 8
  PutUInt(2, 2, false, &out);  // two entries
  for (auto [tag, value] : {std::pair<uint32_t, uint32_t>{256, cols},
                            std::pair<uint32_t, uint32_t>{257, rows}}) {
    PutUInt(tag, 2, false, &out);
    PutUInt(4, 2, false, &out);  // LONG
    PutUInt(1, 4, false, &out);
    PutUInt(value, 4, false, &out);
  }
  PutUInt(0, 4, false, &out);  // no next directory
  return out;
}

TEST_CASE("png/tiff: a header claiming a huge image is refused undecoded") {
  testing::TempDir dir("anchord_image_io_test");
  SUBCASE("a 30000 x 30000 PNG") {
    const std::string path = dir / "bomb.png";
    WriteBytes(path, PngHeaderClaiming(30000, 30000));
    const ReadImageResult r = ReadImageFile(path);
    CHECK(r.status.code() == StatusCode::kInvalidInput);
    CHECK(Contains(r.status.message(), "30000x30000 px, more than the limit"));
  }
  SUBCASE("one side over the limit in a TIFF") {
    const std::string path = dir / "bomb.tif";
    WriteBytes(path, TiffHeaderClaiming(16, kMaxRasterSidePx + 1));
    const ReadImageResult r = ReadImageFile(path);
    CHECK(r.status.code() == StatusCode::kInvalidInput);
    CHECK(Contains(r.status.message(), "more than the limit of 16384 px"));
  }
  SUBCASE("a TIFF directory pointing past the file") {
    std::string bytes = TiffHeaderClaiming(16, 16);
    bytes[4] = '\x7f';
    const std::string path = dir / "bad_ifd.tif";
    WriteBytes(path, bytes);
    const ReadImageResult r = ReadImageFile(path);
    CHECK(r.status.code() == StatusCode::kInvalidInput);
    CHECK(Contains(r.status.message(), "malformed TIFF header"));
  }
  SUBCASE("sides at the limit pass the check (then fail to decode)") {
    const std::string path = dir / "edge.png";
    WriteBytes(path, PngHeaderClaiming(kMaxRasterSidePx, 1));
    const ReadImageResult r = ReadImageFile(path);
    CHECK(r.status.code() == StatusCode::kInvalidInput);
    CHECK_FALSE(Contains(r.status.message(), "limit"));
  }
}

TEST_CASE("tiff: float round trip keeps NaN and exact values") {
  testing::TempDir dir("anchord_image_io_test");
  const cv::Mat1f image = SampleImage();
  for (const char* name : {"f.tif", "f.tiff"}) {
    CAPTURE(name);
    const std::string path = dir / (name);
    REQUIRE(WriteFloatTiff(path, image).ok());
    const ReadImageResult r = ReadImageFile(path);
    REQUIRE(r.status.ok());
    CHECK(std::isnan(r.image(0, 0)));
    CHECK(r.image(1, 4) == 1.0f / 3.0f);
    CHECK(BitEqual(r.image, image));
  }
}

TEST_CASE("tiff: 16-bit TIFF is read without rescaling") {
  testing::TempDir dir("anchord_image_io_test");
  cv::Mat1w m(1, 3);
  m << 3, 1000, 60000;
  const std::string path = dir / ("g16.tif");
  REQUIRE(cv::imwrite(path, m));
  const ReadImageResult r = ReadImageFile(path);
  REQUIRE(r.status.ok());
  CHECK(r.image(0, 1) == 1000.0f);
  CHECK(r.image(0, 2) == 60000.0f);
}

TEST_CASE("tiff: float64 is narrowed, signed 16-bit is rejected") {
  testing::TempDir dir("anchord_image_io_test");
  cv::Mat1d f8(1, 2);
  f8 << 0.1, -1e6;
  const std::string f8_path = dir / ("f8.tif");
  REQUIRE(cv::imwrite(f8_path, f8));
  const ReadImageResult r = ReadImageFile(f8_path);
  REQUIRE(r.status.ok());
  CHECK(r.image(0, 0) == static_cast<float>(0.1));
  CHECK(r.image(0, 1) == -1e6f);

  cv::Mat1s s16(1, 2);
  s16 << -5, 5;
  const std::string s16_path = dir / ("s16.tif");
  REQUIRE(cv::imwrite(s16_path, s16));
  const ReadImageResult bad = ReadImageFile(s16_path);
  CHECK(bad.status.code() == StatusCode::kInvalidInput);
  CHECK(Contains(bad.status.message(), "unsupported pixel type 16S"));
}

TEST_CASE("tiff: WriteFloatTiff rejects bad requests") {
  testing::TempDir dir("anchord_image_io_test");
  CHECK(WriteFloatTiff(dir / ("a.png"), SampleImage()).code() ==
        StatusCode::kInvalidInput);
  CHECK(WriteFloatTiff(dir / ("e.tif"), cv::Mat1f()).code() ==
        StatusCode::kInvalidInput);
  CHECK_FALSE(WriteFloatTiff(dir / ("no/such/dir/a.tif"), SampleImage()).ok());
}

TEST_CASE("ReadImageFile: unsupported extensions are named") {
  testing::TempDir dir("anchord_image_io_test");
  const std::string path = dir / ("a.xyz");
  WriteBytes(path, "whatever");
  const ReadImageResult r = ReadImageFile(path);
  CHECK(r.status.code() == StatusCode::kInvalidInput);
  CHECK(
      Contains(r.status.message(),
               "unsupported file type '.xyz' (need .npy, .tif, .tiff, .png)"));
  CHECK(r.image.empty());
  CHECK(Contains(ReadImageFile(dir / ("noext")).status.message(),
                 "unsupported file type ''"));
}

TEST_CASE("ReadImageFile: dispatches .npy case-insensitively") {
  testing::TempDir dir("anchord_image_io_test");
  const std::string path = dir / ("UPPER.NPY");
  REQUIRE(WriteNpy(path, SampleImage()).ok());
  const ReadImageResult r = ReadImageFile(path);
  REQUIRE(r.status.ok());
  CHECK(BitEqual(r.image, SampleImage()));
}

}  // namespace
}  // namespace anchord
