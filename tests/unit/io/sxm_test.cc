#include "anchord/io/sxm.h"

#include "support/real_data.h"
#include "support/temp_dir.h"
#include <doctest/doctest.h>

#include <bit>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace anchord {
namespace {

namespace fs = std::filesystem;

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// ---------------------------------------------------------------------------
// Synthetic .sxm files, modelled on the header of a real Nanonis v2 file.

struct ChannelSpec {
  std::string name, unit, direction;
};

// An .sxm file under construction: an ordered header and the stored
// images. Edit `keys` (Set/Erase) to make lying headers.
struct SxmFixture {
  int cols = 0, rows = 0;
  std::vector<std::pair<std::string, std::string>> keys;
  std::vector<cv::Mat1f> images;  // storage order
  bool big_endian = true;
  std::string eol = "\n";

  void Set(const std::string& key, const std::string& value) {
    for (auto& [k, v] : keys) {
      if (k == key) {
        v = value;
        return;
      }
    }
    keys.emplace_back(key, value);
  }
  void Erase(const std::string& key) {
    std::erase_if(keys, [&](const auto& kv) { return kv.first == key; });
  }

  std::string Header() const {
    std::string out;
    for (const auto& [k, v] : keys) {
      out += ":" + k + ":" + eol;
      std::string value = v;
      size_t pos = 0;
      while ((pos = value.find('\n', pos)) != std::string::npos) {
        value.replace(pos, 1, eol);
        pos += eol.size();
      }
      out += value + eol;
    }
    return out + ":SCANIT_END:" + eol + eol + eol + "\x1a\x04";
  }

  std::string Data() const {
    std::string out;
    for (const cv::Mat1f& image : images) {
      for (int r = 0; r < image.rows; ++r) {
        for (int c = 0; c < image.cols; ++c) {
          const auto bits = std::bit_cast<uint32_t>(image(r, c));
          for (int i = 0; i < 4; ++i) {
            const int shift = big_endian ? 24 - 8 * i : 8 * i;
            out.push_back(static_cast<char>((bits >> shift) & 0xff));
          }
        }
      }
    }
    return out;
  }

  std::string Bytes() const { return Header() + Data(); }
};

// Stored value of image `i` at stored row `r`, column `c`: unique and exact
// in float32.
float Tag(int i, int r, int c) {
  return static_cast<float>(i * 10000 + r * 100 + c);
}

std::string DataInfo(const std::vector<ChannelSpec>& channels) {
  std::string out = "\tChannel\tName\tUnit\tDirection\tCalibration\tOffset";
  int index = 14;
  for (const ChannelSpec& c : channels) {
    out += "\n\t" + std::to_string(index--) + "\t" + c.name + "\t" + c.unit +
           "\t" + c.direction + "\t3.000E-8\t0.000E+0";
  }
  return out + "\n";
}

// A header like the real Si_7x7_051.sxm, scaled to cols × rows, with images
// filled by Tag().
SxmFixture MakeFixture(int cols,
                       int rows,
                       const std::string& scan_dir = "down",
                       std::vector<ChannelSpec> channels = {
                           {"Z", "m", "both"}, {"Current", "A", "both"}}) {
  SxmFixture f;
  f.cols = cols;
  f.rows = rows;
  f.keys = {
      {"NANONIS_VERSION", "2"},
      {"SCANIT_TYPE", "              FLOAT            MSBFIRST"},
      {"REC_DATE", " 07.01.2016"},
      {"REC_TIME", "12:54:04"},
      {"REC_TEMP", "      290.0000000000"},
      {"ACQ_TIME", "        98.5"},
      {"SCAN_PIXELS",
       "       " + std::to_string(cols) + "       " + std::to_string(rows)},
      {"SCAN_FILE", "C:\\Nanonis\\NFESEM\\20160106\\test_001.sxm"},
      {"SCAN_TIME", "             1.920E-1             1.920E-1"},
      {"SCAN_RANGE", "           2.000000E-8           2.000000E-8"},
      {"SCAN_OFFSET", "             0.000000E+0         0.000000E+0"},
      {"SCAN_ANGLE", "            0.000E+0"},
      {"SCAN_DIR", scan_dir},
      {"BIAS", "            -2.000E+0"},
      {"Z-CONTROLLER",
       "\tName\ton\tSetpoint\tP-gain\tI-gain\tT-const\n"
       "\tlog Current\t1\t2.500E-10 A\t7.428E-12 m\t6.551E-8 m/s\t1.134E-4 s"},
      {"COMMENT", ""},
      {"DATA_INFO", DataInfo(channels)},
  };
  int n = 0;
  for (const ChannelSpec& c : channels) n += c.direction == "both" ? 2 : 1;
  for (int i = 0; i < n; ++i) {
    cv::Mat1f image(rows, cols);
    for (int r = 0; r < rows; ++r) {
      for (int c = 0; c < cols; ++c) image(r, c) = Tag(i, r, c);
    }
    f.images.push_back(image);
  }
  return f;
}

SxmFile Parse(const SxmFixture& f) { return ParseSxm(f.Bytes()); }

Frame Extract(const SxmFile& file, const std::string& channel, SxmTrace t) {
  Frame frame;
  const Status s = ExtractSxmFrame(file, channel, t, &frame);
  REQUIRE_MESSAGE(s.ok(), s.message());
  return frame;
}

// Parsing `bytes` fails with kInvalidInput whose message contains `text`.
void CheckInvalid(const std::string& bytes, const std::string& text) {
  const SxmFile file = ParseSxm(bytes);
  CHECK(file.status.code() == StatusCode::kInvalidInput);
  CHECK_MESSAGE(file.status.message().find(text) != std::string::npos,
                "message: " << file.status.message() << "; wanted: " << text);
  CHECK(file.images.empty());
}

// ---------------------------------------------------------------------------
// Header and orientation

TEST_CASE("sxm: header of a realistic down scan") {
  const SxmFile file = Parse(MakeFixture(8, 6));
  REQUIRE_MESSAGE(file.status.ok(), file.status.message());
  const SxmHeader& h = file.header;
  CHECK(h.cols == 8);
  CHECK(h.rows == 6);
  CHECK(h.range_x_nm == doctest::Approx(20.0));
  CHECK(h.range_y_nm == doctest::Approx(20.0));
  CHECK(h.offset_x_nm == 0.0);
  CHECK(h.angle_deg == 0.0);
  CHECK(h.scan_dir == "down");
  CHECK(h.line_time_forward_s == doctest::Approx(0.192));
  CHECK(h.line_time_backward_s == doctest::Approx(0.192));
  CHECK(h.bias_v == doctest::Approx(-2.0));
  CHECK(h.rec_date == "07.01.2016");
  CHECK(h.rec_time == "12:54:04");
  CHECK(h.acquired_at == "2016-01-07T12:54:04");
  CHECK(h.z_controller.at("Name") == "log Current");
  CHECK(h.z_controller.at("Setpoint") == "2.500E-10 A");
  CHECK(h.z_controller.at("T-const") == "1.134E-4 s");
  REQUIRE(h.channels.size() == 2);
  CHECK(h.channels[0].index == 14);
  CHECK(h.channels[0].name == "Z");
  CHECK(h.channels[0].unit == "m");
  CHECK(h.channels[0].direction == "both");
  CHECK(h.channels[0].calibration == doctest::Approx(3e-8));
  CHECK(h.channels[1].name == "Current");
  CHECK(h.fields.at("REC_TEMP") == "290.0000000000");
  CHECK(h.fields.at("COMMENT").empty());
  CHECK(h.fields.count("SCANIT_END") == 0);
  REQUIRE(file.images.size() == 4);
  CHECK(SxmImageList(file) ==
        "Z forward, Z backward, Current forward, Current backward");
  CHECK(file.images[1].trace == SxmTrace::kBackward);
  CHECK(file.images[2].unit == "A");
  CHECK(file.images[3].stored(5, 7) == Tag(3, 5, 7));
}

TEST_CASE("sxm: down scan keeps the stored row order") {
  const SxmFile file = Parse(MakeFixture(8, 6));
  const Frame f = Extract(file, "z", SxmTrace::kForward);
  CHECK(f.channel == "Z");
  CHECK(f.direction == "forward");
  REQUIRE(f.image.rows == 6);
  REQUIRE(f.image.cols == 8);
  CHECK(f.image(0, 0) == Tag(0, 0, 0));
  CHECK(f.image(5, 2) == Tag(0, 5, 2));
  CHECK(f.pixel_size_x_nm == doctest::Approx(2.5));
  CHECK(f.pixel_size_y_nm == doctest::Approx(20.0 / 6));
  CHECK(f.bias_v == doctest::Approx(-2.0));
  CHECK(f.acquired_at == "2016-01-07T12:54:04");
  CHECK(f.line_time_s == doctest::Approx(0.384));
  REQUIRE(f.line_times_s.size() == 6);
  for (int r = 0; r < 6; ++r) {
    CHECK(f.line_times_s[r] == doctest::Approx(0.384 * r));
  }
  const Frame current = Extract(file, "CURRENT", SxmTrace::kForward);
  CHECK(current.channel == "Current");
  CHECK(current.image(1, 1) == Tag(2, 1, 1));
}

TEST_CASE("sxm: up scan is flipped so that row 0 is the top") {
  const SxmFile file = Parse(MakeFixture(8, 6, "up"));
  REQUIRE(file.status.ok());
  CHECK(file.header.scan_dir == "up");
  const Frame f = Extract(file, "Z", SxmTrace::kForward);
  // Stored row 0 (acquired first) is the bottom of the frame.
  CHECK(f.image(5, 0) == Tag(0, 0, 0));
  CHECK(f.image(0, 3) == Tag(0, 5, 3));
  REQUIRE(f.line_times_s.size() == 6);
  CHECK(f.line_times_s[5] == doctest::Approx(0.0));
  CHECK(f.line_times_s[0] == doctest::Approx(5 * 0.384));
}

TEST_CASE("sxm: backward trace is mirrored left-right") {
  const SxmFile down = Parse(MakeFixture(8, 6));
  const Frame b = Extract(down, "Z", SxmTrace::kBackward);
  CHECK(b.direction == "backward");
  for (int c = 0; c < 8; ++c) CHECK(b.image(2, c) == Tag(1, 2, 7 - c));
  // The backward trace of a line starts after its forward trace.
  CHECK(b.line_times_s[0] == doctest::Approx(0.192));
  CHECK(b.line_times_s[3] == doctest::Approx(3 * 0.384 + 0.192));

  const SxmFile up = Parse(MakeFixture(8, 6, "up"));
  const Frame ub = Extract(up, "Current", SxmTrace::kBackward);
  CHECK(ub.image(0, 0) == Tag(3, 5, 7));
  CHECK(ub.image(5, 7) == Tag(3, 0, 0));
  CHECK(ub.line_times_s[5] == doctest::Approx(0.192));
}

TEST_CASE("sxm: rectangular frame with different ranges") {
  SxmFixture fx = MakeFixture(8, 5);
  fx.Set("SCAN_RANGE", "4.0E-8 1.0E-8");
  const SxmFile file = Parse(fx);
  REQUIRE(file.status.ok());
  const Frame f = Extract(file, "Z", SxmTrace::kForward);
  CHECK(f.image.rows == 5);
  CHECK(f.image.cols == 8);
  CHECK(f.image(4, 7) == Tag(0, 4, 7));
  CHECK(f.pixel_size_x_nm == doctest::Approx(5.0));
  CHECK(f.pixel_size_y_nm == doctest::Approx(2.0));
  CHECK(f.line_times_s.size() == 5);
}

TEST_CASE("sxm: scan angle and offset are read") {
  SxmFixture fx = MakeFixture(4, 4);
  fx.Set("SCAN_ANGLE", "            1.250E+1");
  fx.Set("SCAN_OFFSET", "  1.000000E-7  -2.000000E-8");
  const SxmFile file = Parse(fx);
  REQUIRE(file.status.ok());
  CHECK(file.header.angle_deg == doctest::Approx(12.5));
  const Frame f = Extract(file, "Z", SxmTrace::kForward);
  CHECK(f.scan_angle_deg == doctest::Approx(12.5));
  CHECK(f.scan_offset_x_nm == doctest::Approx(100.0));
  CHECK(f.scan_offset_y_nm == doctest::Approx(-20.0));
}

TEST_CASE("sxm: NaN rows of an aborted frame are kept") {
  for (const std::string dir : {"down", "up"}) {
    SxmFixture fx = MakeFixture(6, 5, dir);
    for (cv::Mat1f& image : fx.images) {
      for (int r = 3; r < 5; ++r) image.row(r).setTo(kNaN);
    }
    const SxmFile file = Parse(fx);
    REQUIRE(file.status.ok());
    const Frame f = Extract(file, "Z", SxmTrace::kBackward);
    for (int r = 0; r < 5; ++r) {
      const int stored = dir == "up" ? 4 - r : r;
      for (int c = 0; c < 6; ++c) {
        CHECK(std::isnan(f.image(r, c)) == (stored >= 3));
      }
    }
  }
}

TEST_CASE("sxm: optional keys absent take their defaults") {
  SxmFixture fx = MakeFixture(4, 3);
  for (const char* key :
       {"SCAN_TIME", "BIAS", "REC_DATE", "REC_TIME", "SCAN_OFFSET",
        "SCAN_ANGLE", "SCAN_DIR", "Z-CONTROLLER", "SCANIT_TYPE", "COMMENT"}) {
    fx.Erase(key);
  }
  const SxmFile file = Parse(fx);
  REQUIRE_MESSAGE(file.status.ok(), file.status.message());
  CHECK(file.header.scan_dir == "down");
  CHECK(file.header.acquired_at.empty());
  CHECK(file.header.z_controller.empty());
  const Frame f = Extract(file, "Z", SxmTrace::kForward);
  CHECK(f.line_time_s == 0.0);
  CHECK(f.line_times_s.empty());
  CHECK(f.bias_v == 0.0);
  CHECK(f.image(2, 3) == Tag(0, 2, 3));
}

TEST_CASE("sxm: variants of real-world files") {
  SUBCASE("CRLF line ends") {
    SxmFixture fx = MakeFixture(4, 3);
    fx.eol = "\r\n";
    const SxmFile file = Parse(fx);
    REQUIRE_MESSAGE(file.status.ok(), file.status.message());
    CHECK(file.header.z_controller.at("Setpoint") == "2.500E-10 A");
    CHECK(Extract(file, "Current", SxmTrace::kBackward).image(0, 0) ==
          Tag(3, 0, 3));
  }
  SUBCASE("little-endian data") {
    SxmFixture fx = MakeFixture(4, 3);
    fx.Set("SCANIT_TYPE", "FLOAT LSBFIRST");
    fx.big_endian = false;
    const SxmFile file = Parse(fx);
    REQUIRE(file.status.ok());
    CHECK(Extract(file, "Z", SxmTrace::kForward).image(2, 1) == Tag(0, 2, 1));
  }
  SUBCASE("single-direction channels and names with spaces") {
    SxmFixture fx = MakeFixture(4, 3, "down",
                                {{"Z", "m", "forward"},
                                 {"LI Demod 1 X", "V", "backward"},
                                 {"Current", "A", "both"}});
    const SxmFile file = Parse(fx);
    REQUIRE_MESSAGE(file.status.ok(), file.status.message());
    CHECK(SxmImageList(file) ==
          "Z forward, LI Demod 1 X backward, Current forward, "
          "Current backward");
    CHECK(Extract(file, "li demod 1 x", SxmTrace::kBackward).image(0, 0) ==
          Tag(1, 0, 3));
    Frame f;
    const Status s = ExtractSxmFrame(file, "Z", SxmTrace::kBackward, &f);
    CHECK(s.code() == StatusCode::kInvalidInput);
  }
  SUBCASE("bytes after the last image are ignored") {
    const SxmFile file = ParseSxm(MakeFixture(4, 3).Bytes() + "trailing");
    CHECK(file.status.ok());
  }
  SUBCASE("exact-case name wins over a case-insensitive match") {
    SxmFixture fx = MakeFixture(4, 3, "down",
                                {{"z", "m", "forward"}, {"Z", "m", "forward"}});
    const SxmFile file = Parse(fx);
    REQUIRE(file.status.ok());
    CHECK(Extract(file, "Z", SxmTrace::kForward).image(0, 0) == Tag(1, 0, 0));
    CHECK(Extract(file, "z", SxmTrace::kForward).image(0, 0) == Tag(0, 0, 0));
  }
}

// ---------------------------------------------------------------------------
// Malformed input

TEST_CASE("sxm: truncated data names the sizes") {
  const std::string bytes = MakeFixture(8, 6).Bytes();
  CheckInvalid(bytes.substr(0, bytes.size() - 10),
               "sxm: data truncated: expected 768 bytes for 4 images of 8x6, "
               "have 758");
}

TEST_CASE("sxm: every prefix of a file fails cleanly") {
  const std::string bytes = MakeFixture(5, 4).Bytes();
  for (size_t n = 0; n < bytes.size(); ++n) {
    const SxmFile file = ParseSxm(std::string_view(bytes).substr(0, n));
    CHECK_MESSAGE(file.status.code() == StatusCode::kInvalidInput,
                  "prefix " << n);
  }
  CHECK(ParseSxm(bytes).status.ok());
}

TEST_CASE("sxm: lying or broken headers") {
  SUBCASE("pixels larger than the data") {
    SxmFixture fx = MakeFixture(8, 6);
    fx.Set("SCAN_PIXELS", "1024 1024");
    CheckInvalid(fx.Bytes(),
                 "data truncated: expected 16777216 bytes for 4 images of "
                 "1024x1024, have 768");
  }
  SUBCASE("absurd pixel counts") {
    for (const char* pixels : {"0 6", "8 -6", "16385 6", "99999999999 1"}) {
      SxmFixture fx = MakeFixture(8, 6);
      fx.Set("SCAN_PIXELS", pixels);
      CheckInvalid(fx.Bytes(), "out of range [1, 16384]");
    }
    for (const char* pixels : {"8", "8 6 1", "8.0 6", "eight six", ""}) {
      SxmFixture fx = MakeFixture(8, 6);
      fx.Set("SCAN_PIXELS", pixels);
      CheckInvalid(fx.Bytes(), "SCAN_PIXELS must hold two integers");
    }
  }
  SUBCASE("bad ranges") {
    for (const char* range : {"-2E-8 2E-8", "2E-8 0", "0 0"}) {
      SxmFixture fx = MakeFixture(8, 6);
      fx.Set("SCAN_RANGE", range);
      CheckInvalid(fx.Bytes(), "SCAN_RANGE must be > 0");
    }
    for (const char* range : {"nan 2E-8", "2E-8 inf", "2E-8 x", "1E999 1"}) {
      SxmFixture fx = MakeFixture(8, 6);
      fx.Set("SCAN_RANGE", range);
      CheckInvalid(fx.Bytes(), "is not a finite number");
    }
    SxmFixture fx = MakeFixture(8, 6);
    fx.Set("SCAN_RANGE", "1E300 1E300");
    CheckInvalid(fx.Bytes(), "SCAN_RANGE 1e+300 m is out of range");
  }
  SUBCASE("missing required keys") {
    for (const char* key : {"SCAN_PIXELS", "SCAN_RANGE", "DATA_INFO"}) {
      SxmFixture fx = MakeFixture(8, 6);
      fx.Erase(key);
      CheckInvalid(fx.Bytes(), std::string("missing ") + key);
    }
  }
  SUBCASE("garbled DATA_INFO") {
    const std::pair<const char*, const char*> cases[] = {
        {"", "DATA_INFO lists no channels"},
        {"\tChannel\tName\tUnit\tDirection\tCalibration\tOffset\n",
         "DATA_INFO lists no channels"},
        {"garbage garbage\nmore garbage", "no Name and Direction columns"},
        {"\tChannel\tName\tUnit\tDirection\tCalibration\tOffset\n\t14\tZ\tm",
         "DATA_INFO row 1 has 3 fields, the header 6"},
        {"\tChannel\tName\tUnit\tDirection\tCalibration\tOffset\n"
         "\t14\tZ\tm\tsideways\t1\t0",
         "Direction 'sideways' is not both, forward or backward"},
        {"\tChannel\tName\tUnit\tDirection\tCalibration\tOffset\n"
         "\t14\t\tm\tboth\t1\t0",
         "DATA_INFO row 1: empty Name"},
        {"\tChannel\tName\tUnit\tDirection\tCalibration\tOffset\n"
         "\tx\tZ\tm\tboth\t1\t0",
         "Channel 'x' is not a non-negative integer"},
        {"\tChannel\tName\tUnit\tDirection\tCalibration\tOffset\n"
         "\t14\tZ\tm\tboth\tnan\t0",
         "'nan' is not a finite number"},
        {"\tChannel\tName\tUnit\tDirection\tCalibration\tOffset\n"
         "\t14\tZ\tm\tboth\t1\t0\n\t15\tZ\tm\tforward\t1\t0",
         "DATA_INFO lists channel 'Z' twice"},
    };
    for (const auto& [info, message] : cases) {
      SxmFixture fx = MakeFixture(8, 6);
      fx.Set("DATA_INFO", info);
      CheckInvalid(fx.Bytes(), message);
    }
  }
  SUBCASE("other invalid values") {
    const std::pair<const char*, const char*> cases[][2] = {
        {{"SCAN_DIR", "sideways"}, {"SCAN_DIR must be up or down", ""}},
        {{"SCAN_TIME", "-1 0.1"}, {"SCAN_TIME must be >= 0", ""}},
        {{"SCAN_TIME", "0.1"}, {"SCAN_TIME must hold 2 numbers", ""}},
        {{"BIAS", "minus two"}, {"BIAS must hold 1 number", ""}},
        {{"SCAN_ANGLE", "inf"}, {"SCAN_ANGLE: 'inf' is not a finite", ""}},
        {{"SCANIT_TYPE", "INT MSBFIRST"}, {"unsupported SCANIT_TYPE", ""}},
    };
    for (const auto& c : cases) {
      SxmFixture fx = MakeFixture(8, 6);
      fx.Set(c[0].first, c[0].second);
      CheckInvalid(fx.Bytes(), c[1].first);
    }
  }
  SUBCASE("no :SCANIT_END:") {
    const std::string bytes = MakeFixture(8, 6).Bytes();
    std::string broken = bytes;
    broken.replace(broken.find(":SCANIT_END:"), 12, ":SCANIT_END_:");
    CheckInvalid(broken, "no :SCANIT_END: line");
  }
  SUBCASE("no data marker") {
    std::string bytes = MakeFixture(8, 6).Bytes();
    bytes.replace(bytes.find("\x1a\x04"), 2, "xx");
    CheckInvalid(bytes, "no 0x1A 0x04 data marker after :SCANIT_END:");
  }
  SUBCASE("not an sxm file") {
    CheckInvalid("", "sxm: empty input");
    CheckInvalid("\x89PNG\r\n\x1a\n", "no :SCANIT_END: line");
    CheckInvalid("hello\n:SCANIT_END:\n\x1a\x04",
                 "does not start with a :KEY: line but with 'hello'");
    CheckInvalid("\n\n:SCANIT_END:\n\x1a\x04", "header holds no :KEY: lines");
  }
  SUBCASE("messages are printable ASCII") {
    SxmFixture fx = MakeFixture(8, 6);
    fx.Set("SCAN_DIR", "\xb5m\x01");
    const SxmFile file = Parse(fx);
    CHECK(file.status.message() ==
          "sxm: SCAN_DIR must be up or down, is '?m?'");
  }
  SUBCASE("the header must end within 1 MiB") {
    SxmFixture fx = MakeFixture(8, 6);
    fx.Set("COMMENT", std::string(kSxmMaxHeaderBytes, 'c'));
    CheckInvalid(fx.Bytes(), "no :SCANIT_END: line in the first 1048576 bytes");
  }
}

TEST_CASE("sxm: unknown channel lists the available images") {
  const SxmFile file = Parse(MakeFixture(4, 3));
  Frame f;
  f.source = "untouched";
  const Status s = ExtractSxmFrame(file, "Phase", SxmTrace::kForward, &f);
  CHECK(s.code() == StatusCode::kInvalidInput);
  CHECK(s.message() ==
        "sxm: no forward image of channel 'Phase'; available: Z forward, Z "
        "backward, Current forward, Current backward");
  CHECK(f.source == "untouched");
  CHECK(f.image.empty());

  SxmFile edited = file;
  edited.images[0].stored = cv::Mat1f(2, 2, 0.0f);
  CHECK(ExtractSxmFrame(edited, "Z", SxmTrace::kForward, &f).message() ==
        "sxm: image of channel 'Z' is 2x2, SCAN_PIXELS 4x3");

  const SxmFile broken = ParseSxm("junk");
  CHECK(ExtractSxmFrame(broken, "Z", SxmTrace::kForward, &f).code() ==
        StatusCode::kInvalidInput);
}

TEST_CASE("sxm: random corruption of the header never crashes") {
  const std::string bytes = MakeFixture(6, 4).Bytes();
  const size_t header_size = bytes.find("\x1a\x04") + 2;
  std::mt19937 rng(7);
  std::uniform_int_distribution<size_t> pos(0, header_size - 1);
  std::uniform_int_distribution<int> byte(0, 255);
  for (int iter = 0; iter < 2000; ++iter) {
    std::string corrupt = bytes;
    for (int k = 0; k < 3; ++k) {
      corrupt[pos(rng)] = static_cast<char>(byte(rng));
    }
    const SxmFile file = ParseSxm(corrupt);
    CHECK(
        (file.status.ok() || file.status.code() == StatusCode::kInvalidInput));
    for (const SxmChannel& c : file.header.channels) {
      for (SxmTrace t : {SxmTrace::kForward, SxmTrace::kBackward}) {
        Frame f;
        const Status s = ExtractSxmFrame(file, c.name, t, &f);
        if (s.ok()) {
          CHECK(f.image.rows == file.header.rows);
          CHECK(f.image.cols == file.header.cols);
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Files on disk

TEST_CASE("sxm: ReadSxm reads a file and reports a missing one") {
  testing::TempDir dir("anchord_sxm_test");
  const std::string path = dir / ("scan_001.sxm");
  {
    const std::string bytes = MakeFixture(6, 4, "up").Bytes();
    std::ofstream out(path, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  const SxmFile file = ReadSxm(path);
  REQUIRE_MESSAGE(file.status.ok(), file.status.message());
  CHECK(file.source == path);
  const Frame f = Extract(file, "Z", SxmTrace::kForward);
  CHECK(f.source == path);
  CHECK(f.image(3, 0) == Tag(0, 0, 0));

  {
    const std::string bytes = MakeFixture(6, 4).Bytes();
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size() - 4));
  }
  const SxmFile truncated = ReadSxm(path);
  CHECK(truncated.status.message().find(
            "data truncated: expected 384 bytes for 4 images of 6x4, have "
            "380") != std::string::npos);

  const SxmFile missing = ReadSxm(dir / ("nope.sxm"));
  CHECK(missing.status.code() == StatusCode::kInvalidInput);
  CHECK(missing.status.message().find("cannot read") == 0);
  CHECK(ReadSxm(dir / ("")).status.code() == StatusCode::kInvalidInput);
}

// ---------------------------------------------------------------------------
// Real scans (../shared/data/real), skipped when absent.

using testing::RealDataDir;

// Pearson correlation of two equal-size images after removing each row's
// mean (the line offsets of a raw STM scan would dominate otherwise).
double RowLevelledCorrelation(const cv::Mat1f& a, const cv::Mat1f& b) {
  double sab = 0, saa = 0, sbb = 0;
  for (int r = 0; r < a.rows; ++r) {
    const double ma = cv::mean(a.row(r))[0], mb = cv::mean(b.row(r))[0];
    for (int c = 0; c < a.cols; ++c) {
      const double da = a(r, c) - ma, db = b(r, c) - mb;
      sab += da * db;
      saa += da * da;
      sbb += db * db;
    }
  }
  return sab / std::sqrt(saa * sbb);
}

TEST_CASE("sxm: real scan Si_7x7_051") {
  const std::string dir = RealDataDir();
  if (dir.empty()) {
    MESSAGE("skipped: ../shared/data/real not found (set ANCHORD_SHARED_DATA)");
    return;
  }
  const SxmFile file = ReadSxm(dir + "/Si_7x7_051.sxm");
  REQUIRE_MESSAGE(file.status.ok(), file.status.message());
  const SxmHeader& h = file.header;
  CHECK(h.cols == 256);
  CHECK(h.rows == 256);
  CHECK(h.range_x_nm == doctest::Approx(20.0));
  CHECK(h.range_y_nm == doctest::Approx(20.0));
  CHECK(h.bias_v == doctest::Approx(-2.0));
  CHECK(h.scan_dir == "down");
  CHECK(h.acquired_at == "2016-01-07T12:54:04");
  CHECK(SxmImageList(file) ==
        "Z forward, Z backward, Current forward, Current backward");

  const Frame fwd = Extract(file, "Z", SxmTrace::kForward);
  const Frame bwd = Extract(file, "Z", SxmTrace::kBackward);
  CHECK(fwd.pixel_size_x_nm == doctest::Approx(20.0 / 256));
  CHECK(fwd.line_time_s == doctest::Approx(0.384));
  CHECK(fwd.line_times_s.back() == doctest::Approx(255 * 0.384));
  // The line period fwd + bwd matches the recorded acquisition time.
  CHECK(256 * fwd.line_time_s ==
        doctest::Approx(std::stod(h.fields.at("ACQ_TIME"))).epsilon(0.01));
  double lo = 0, hi = 0;
  cv::minMaxLoc(fwd.image, &lo, &hi);
  CHECK(cv::checkRange(fwd.image));
  CHECK(cv::checkRange(bwd.image));
  CHECK(std::abs(lo) < 1e-6);  // metres: µm scale at most
  CHECK(std::abs(hi) < 1e-6);
  CHECK(hi - lo > 1e-11);  // corrugation of at least 0.01 nm
  CHECK(hi - lo < 1e-7);

  cv::Mat1f unmirrored;
  cv::flip(bwd.image, unmirrored, 1);  // back to stored order
  const double mirrored_corr = RowLevelledCorrelation(fwd.image, bwd.image);
  const double stored_corr = RowLevelledCorrelation(fwd.image, unmirrored);
  MESSAGE("fwd/bwd Z correlation: mirrored " << mirrored_corr << ", as stored "
                                             << stored_corr);
  CHECK(mirrored_corr > 0.5);
  CHECK(mirrored_corr > stored_corr + 0.2);
}

TEST_CASE("sxm: every real scan parses and extracts all images") {
  const std::string dir = RealDataDir();
  if (dir.empty()) {
    MESSAGE("skipped: ../shared/data/real not found (set ANCHORD_SHARED_DATA)");
    return;
  }
  for (const char* name : {"Si_7x7_012.sxm", "Si_7x7_028.sxm", "Si_7x7_032.sxm",
                           "Si_7x7_051.sxm"}) {
    CAPTURE(name);
    const SxmFile file = ReadSxm(dir + "/" + name);
    REQUIRE_MESSAGE(file.status.ok(), file.status.message());
    CHECK(file.images.size() == 4);
    CHECK_FALSE(file.header.acquired_at.empty());
    for (const SxmImage& image : file.images) {
      Frame f;
      CHECK(ExtractSxmFrame(file, image.channel, image.trace, &f).ok());
      CHECK(f.image.rows == 256);
      CHECK(f.line_times_s.size() == 256);
    }
  }
}

}  // namespace
}  // namespace anchord
