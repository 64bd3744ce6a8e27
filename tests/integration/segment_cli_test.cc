// End-to-end tests of `anchord segment`: runs the real binary (path in
// ANCHORD_BIN, set by tests/CMakeLists.txt) on a synthetic two-domain
// frame and checks its JSON, label map, overlay and exit statuses.

#include "anchord/io/image_io.h"

#include "support/domain_composer.h"
#include "support/temp_dir.h"
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <sys/wait.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

using nlohmann::json;

std::string Binary() {
  const char* bin = std::getenv("ANCHORD_BIN");
  if (bin == nullptr || *bin == '\0') {
    FAIL("ANCHORD_BIN is not set; run this test through ctest");
  }
  return bin;
}

std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (const char c : s) {
    out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  }
  return out + "'";
}

std::string ReadFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::ostringstream all;
  all << file.rdbuf();
  return all.str();
}

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

RunResult RunAnchord(const anchord::testing::TempDir& dir,
                     const std::vector<std::string>& args) {
  const std::string out_path = dir / "stdout.txt";
  const std::string err_path = dir / "stderr.txt";
  std::string command = ShellQuote(Binary());
  for (const std::string& arg : args) {
    command.append(" ").append(ShellQuote(arg));
  }
  command.append(" >").append(ShellQuote(out_path));
  command.append(" 2>").append(ShellQuote(err_path));
  const int raw = std::system(command.c_str());
  RunResult result;
  result.exit_code = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  result.out = ReadFile(out_path);
  result.err = ReadFile(err_path);
  return result;
}

// The int32 label map of a .npy written by `anchord segment --labels`.
cv::Mat1i ReadLabels(const std::string& path, int rows, int cols) {
  const std::string bytes = ReadFile(path);
  REQUIRE(bytes.size() > 10);
  REQUIRE(bytes.compare(0, 6, "\x93NUMPY") == 0);
  const size_t header = 10 + static_cast<uint8_t>(bytes[8]) +
                        256 * static_cast<uint8_t>(bytes[9]);
  const std::string dict = bytes.substr(10, header - 10);
  CHECK(dict.find("'descr': '<i4'") != std::string::npos);
  CHECK(dict.find("(" + std::to_string(rows) + ", " + std::to_string(cols) +
                  ")") != std::string::npos);
  REQUIRE(bytes.size() == header + size_t(rows) * cols * 4);
  cv::Mat1i labels(rows, cols);
  std::memcpy(labels.data, bytes.data() + header, size_t(rows) * cols * 4);
  return labels;
}

TEST_CASE("segment: two domains → JSON, labels and overlay") {
  anchord::testing::TempDir dir;
  anchord::testing::TwoRegionOptions to;
  to.rotation_a_deg = 3;
  to.rotation_b_deg = 21;
  to.seed = 12;
  const anchord::testing::TwoRegionFrame f =
      anchord::testing::MakeTwoRegionFrame(to);
  const std::string input = dir / "two.npy";
  REQUIRE(anchord::WriteNpy(input, f.image).ok());
  std::ostringstream px;
  px.precision(17);
  px << f.pixel_size_nm;
  const RunResult run =
      RunAnchord(dir, {"segment", input, "--pixel-size-nm", px.str(),
                       "--labels", dir / "labels.npy", "--overlay",
                       dir / "overlay.png", "--json", dir / "out.json"});
  REQUIRE_MESSAGE(run.exit_code == 0, run.err);
  CHECK(run.out.empty());  // the JSON went to --json
  const json j = json::parse(ReadFile(dir / "out.json"));
  CHECK(j["status"] == "ok");
  CHECK(j["width"] == f.image.cols);
  CHECK(j["height"] == f.image.rows);
  REQUIRE(j["classes"].size() == 2);
  double area = 0;
  for (const json& c : j["classes"]) {
    CHECK(c["looks_7x7"] == true);
    area += c["area_fraction"].get<double>();
  }
  CHECK(area == doctest::Approx(1.0));
  CHECK(j["timing_ms"].contains("segment"));
  const cv::Mat1i labels =
      ReadLabels(dir / "labels.npy", f.image.rows, f.image.cols);
  CHECK(anchord::testing::PixelAgreement(labels, f, 2.0) >= 0.95);
  const cv::Mat overlay = cv::imread(dir / "overlay.png");
  CHECK(overlay.cols == 2 * f.image.cols);  // drawn at twice the size
  CHECK(overlay.rows == 2 * f.image.rows);
}

TEST_CASE("segment: usage errors exit 2, an unreadable input 1") {
  anchord::testing::TempDir dir;
  const std::string input = dir / "x.npy";
  REQUIRE(anchord::WriteNpy(input, cv::Mat1f(64, 64, 0.0f)).ok());
  CHECK(RunAnchord(dir, {"segment", input}).exit_code == 2);  // no pixel size
  CHECK(RunAnchord(dir, {"segment", input, input, "--pixel-size-nm", "0.1"})
            .exit_code == 2);
  CHECK(RunAnchord(dir, {"segment", input, "--pixel-size-nm", "0.1",
                         "--classes", "17"})
            .exit_code == 2);
  CHECK(RunAnchord(dir, {"segment", "--help"}).exit_code == 0);
  const RunResult missing = RunAnchord(
      dir, {"segment", dir / "missing.npy", "--pixel-size-nm", "0.1"});
  CHECK(missing.exit_code == 1);
  const json j = json::parse(missing.out);
  CHECK(j["status"] == "invalid_input");
  CHECK(j["classes"].empty());
}

}  // namespace
