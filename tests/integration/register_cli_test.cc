// End-to-end tests of the `anchord register` / `anchord synth` command
// line: runs the real binary (path in ANCHORD_BIN, set by
// tests/CMakeLists.txt) and checks its JSON, files and exit statuses.

#include "anchord/io/image_io.h"
#include "anchord/model/lattice_model.h"

#include "support/temp_dir.h"
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string Binary() {
  const char* bin = std::getenv("ANCHORD_BIN");
  if (bin == nullptr || *bin == '\0') {
    FAIL("ANCHORD_BIN is not set; run this test through ctest");
  }
  return bin;
}

// Single-quoted for /bin/sh.
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

// Runs `anchord ARGS...` with stdout and stderr captured in `dir`.
RunResult RunAnchord(const anchord::testing::TempDir& dir,
                     const std::vector<std::string>& args) {
  const std::string out_path = dir / "stdout.txt";
  const std::string err_path = dir / "stderr.txt";
  std::string command = ShellQuote(Binary());
  for (const std::string& arg : args)
    command.append(" ").append(ShellQuote(arg));
  command.append(" >").append(ShellQuote(out_path));
  command.append(" 2>").append(ShellQuote(err_path));
  const int raw = std::system(command.c_str());
  RunResult result;
  result.exit_code = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  result.out = ReadFile(out_path);
  result.err = ReadFile(err_path);
  return result;
}

std::vector<json> JsonLines(const std::string& text) {
  std::vector<json> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(json::parse(line));
  }
  return lines;
}

// A synthetic frame written by `anchord synth`, with its pixel size.
struct SynthFrame {
  std::string path;
  std::string pixel_size;  // as printed, e.g. "0.0625"
};

SynthFrame Synthesise(const anchord::testing::TempDir& dir,
                      const std::string& truth_path = "") {
  SynthFrame frame{dir / "frame.npy", ""};
  std::vector<std::string> args = {"synth",  frame.path, "--seed",   "3",
                                   "--size", "384",      "--fov-nm", "24"};
  if (!truth_path.empty()) {
    args.push_back("--truth");
    args.push_back(truth_path);
  }
  const RunResult run = RunAnchord(dir, args);
  REQUIRE_MESSAGE(run.exit_code == 0, run.err);
  const std::string key = "pixel_size_nm=";
  const size_t at = run.out.find(key);
  REQUIRE(at != std::string::npos);
  frame.pixel_size = run.out.substr(at + key.size());
  while (!frame.pixel_size.empty() && std::isspace(frame.pixel_size.back())) {
    frame.pixel_size.pop_back();
  }
  REQUIRE(std::stod(frame.pixel_size) > 0);
  return frame;
}

double Length(const json& v) {
  REQUIRE(v.is_array());
  REQUIRE(v.size() == 2);
  return std::hypot(v[0].get<double>(), v[1].get<double>());
}

void CheckHasKeys(const json& object, std::initializer_list<const char*> keys) {
  for (const char* key : keys) CHECK_MESSAGE(object.contains(key), key);
}

void CheckAdatoms(const json& adatoms) {
  REQUIRE(adatoms.is_array());
  CHECK(!adatoms.empty());
  for (const json& a : adatoms) {
    CheckHasKeys(a, {"x_px", "y_px", "x_nm", "y_nm", "i", "j", "half", "kind",
                     "code_index", "faulted", "occupied", "confidence"});
    const std::string half = a.value("half", "");
    CHECK((half == "T1" || half == "T2"));
    const std::string kind = a.value("kind", "");
    CHECK((kind == "corner" || kind == "center"));
  }
}

void CheckRegistered(const json& r, double pixel_size_nm) {
  CHECK_MESSAGE(r["status"] == "ok", r.value("message", ""));
  CheckHasKeys(r, {"source", "message", "width", "height", "lattice",
                   "calibration", "vacancies", "faulted_contrast", "candidates",
                   "voted_candidates", "timing_ms"});
  CHECK(r["width"] == 384);
  CHECK(r["height"] == 384);
  REQUIRE(r["image_from_model"].is_array());
  CHECK(r["image_from_model"].size() == 9);
  const double cell_px = anchord::kSi7x7LatticeNm / pixel_size_nm;
  const json& lattice = r["lattice"];
  CHECK(std::abs(Length(lattice["a1_px"]) / cell_px - 1) < 0.3);
  CHECK(std::abs(Length(lattice["a2_px"]) / cell_px - 1) < 0.3);
  CHECK(lattice["inliers"].get<int>() > 0);
  CHECK(!r["corner_holes"].empty());
  for (const json& h : r["corner_holes"]) {
    CheckHasKeys(h, {"x_px", "y_px", "x_nm", "y_nm", "i", "j", "detected"});
  }
  CheckAdatoms(r["adatoms"]);
  CHECK(r["timing_ms"].contains("total"));
  CHECK(r["timing_ms"].contains("quality"));
  const json& q = r["quality"];
  REQUIRE(q.is_object());
  CheckHasKeys(
      q, {"ssim", "cells", "cell_ssim_median", "cell_ssim_p10", "cell_ssim_min",
          "low_cell_fraction", "emd_nm", "maxima", "model_sites", "emd_exact"});
  // The synthetic frame is the model plus noise: high SSIM, maxima on the
  // sites.
  CHECK(q["ssim"].get<double>() > 0.6);
  CHECK(q["ssim"].get<double>() <= 1.0);
  CHECK(q["cells"].get<int>() > 10);
  CHECK(q["emd_nm"].get<double>() < 0.1);
}

}  // namespace

TEST_CASE("synth then register writes JSON, overlay and corrected frame") {
  anchord::testing::TempDir dir("anchord_register_cli");
  const SynthFrame frame = Synthesise(dir, dir / "truth.json");
  const json truth = json::parse(ReadFile(dir / "truth.json"));
  CHECK(!truth["adatoms"].empty());
  CHECK(!truth["corner_holes"].empty());

  const RunResult run = RunAnchord(
      dir, {"register", frame.path, "--pixel-size-nm", frame.pixel_size,
            "--json", dir / "result.json", "--overlay", dir / "overlay.png",
            "--corrected", dir / "corrected.tiff"});
  CHECK_MESSAGE(run.exit_code == 0, run.err);
  CHECK(run.out.empty());
  const std::vector<json> lines = JsonLines(ReadFile(dir / "result.json"));
  REQUIRE(lines.size() == 1);
  CHECK(lines[0]["source"] == frame.path);
  CheckRegistered(lines[0], std::stod(frame.pixel_size));

  const cv::Mat overlay = cv::imread(dir / "overlay.png", cv::IMREAD_COLOR);
  REQUIRE(!overlay.empty());
  CHECK(overlay.cols == 2 * 384);  // small frames are drawn at twice size
  const cv::Mat corrected =
      cv::imread(dir / "corrected.tiff", cv::IMREAD_UNCHANGED);
  REQUIRE(!corrected.empty());
  CHECK(corrected.depth() == CV_32F);
}

TEST_CASE("a missing input is reported and does not stop the others") {
  anchord::testing::TempDir dir("anchord_register_cli");
  const SynthFrame frame = Synthesise(dir);
  const std::string missing = dir / "missing.npy";
  const RunResult run = RunAnchord(dir, {"register", missing, frame.path,
                                         "--pixel-size-nm", frame.pixel_size});
  CHECK(run.exit_code == 1);
  CHECK(run.err.find(missing) != std::string::npos);
  const std::vector<json> lines = JsonLines(run.out);
  REQUIRE(lines.size() == 2);
  CHECK(lines[0]["source"] == missing);
  CHECK(lines[0]["status"] == "invalid_input");
  CHECK(!lines[0]["message"].get<std::string>().empty());
  CHECK(lines[0]["image_from_model"].is_null());
  CHECK(lines[0]["adatoms"].empty());
  CHECK(lines[1]["source"] == frame.path);
  CHECK_MESSAGE(lines[1]["status"] == "ok", lines[1].value("message", ""));
}

TEST_CASE("a .npy of garbage bytes is invalid input") {
  anchord::testing::TempDir dir("anchord_register_cli");
  const std::string garbage = dir / "garbage.npy";
  {
    std::ofstream file(garbage, std::ios::binary);
    file << "this is not a NumPy file" << '\0' << "\x93NUMPY\x01";
  }
  const RunResult run =
      RunAnchord(dir, {"register", garbage, "--pixel-size-nm", "0.05"});
  CHECK(run.exit_code == 1);
  const std::vector<json> lines = JsonLines(run.out);
  REQUIRE(lines.size() == 1);
  CHECK(lines[0]["status"] == "invalid_input");
  CHECK(lines[0]["width"] == 0);
}

TEST_CASE("usage errors exit 2 and print no result") {
  anchord::testing::TempDir dir("anchord_register_cli");
  const std::string input = dir / "frame.npy";
  const std::vector<std::vector<std::string>> cases = {
      {"register", input},
      {"register", input, "--pixel-size-nm", "0.05", "--no-such-flag"},
      {"register", "--pixel-size-nm", "0.05"},
      {"register", input, "--pixel-size-nm", "-1"},
      {"register", input, "--pixel-size-nm", "nan"},
      {"register", input, "--pixel-size-nm", "0.05,"},
      {"register", input, "--pixel-size-nm"},
      {"register", input, "--pixel-size-nm", "0.05", "--detector", "orb"},
      {"synth"},
      {"synth", input, "--size", "ten"},
      {"no-such-subcommand"},
      {},
      {"serve", "--no-such-flag"},
      {"serve", "extra"},
      {"serve", "--config"},
      {"study"},
      {"study", "no-such-study"},
      {"study", "fig3", "--samples", "many"},
      {"demo", "--frames", "-1"},
      {"replay", "--rate", "-1"},
      {"bench", "--sizes", "x"},
  };
  for (const auto& args : cases) {
    std::string joined;
    for (const auto& a : args) joined += a + " ";
    CAPTURE(joined);
    const RunResult run = RunAnchord(dir, args);
    CHECK(run.exit_code == 2);
    CHECK(run.out.empty());
    CHECK(!run.err.empty());
  }
}

TEST_CASE("every subcommand reports a usage error the same way") {
  anchord::testing::TempDir dir("anchord_register_cli");
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"serve", "--bogus"}, "serve"},
      {{"register", "--bogus"}, "register"},
      {{"synth", "--bogus"}, "synth"},
      {{"replay", "--bogus"}, "replay"},
      {{"demo", "--bogus"}, "demo"},
      {{"bench", "--bogus"}, "bench"},
      {{"study", "fig3", "--bogus"}, "study fig3"},
      {{"study", "baselines", "--bogus"}, "study baselines"},
      {{"study", "closed-loop", "--bogus"}, "study closed-loop"}};
  for (const auto& [args, command] : cases) {
    CAPTURE(command);
    const RunResult run = RunAnchord(dir, args);
    CHECK(run.exit_code == 2);
    CHECK(run.err == "anchord " + command + ": unknown option --bogus\nTry " +
                         "'anchord " + command + " --help'.\n");
  }
}

TEST_CASE("help lists the subcommands and their options") {
  anchord::testing::TempDir dir("anchord_register_cli");
  const RunResult top = RunAnchord(dir, {"--help"});
  CHECK(top.exit_code == 0);
  CHECK(top.out.find("register") != std::string::npos);
  CHECK(top.out.find("synth") != std::string::npos);
  const RunResult reg = RunAnchord(dir, {"register", "--help"});
  CHECK(reg.exit_code == 0);
  CHECK(reg.out.find("--pixel-size-nm") != std::string::npos);
  const RunResult synth = RunAnchord(dir, {"help", "synth"});
  CHECK(synth.exit_code == 0);
  CHECK(synth.out.find("--truth") != std::string::npos);
  const RunResult serve = RunAnchord(dir, {"serve", "--help"});
  CHECK(serve.exit_code == 0);
  CHECK(serve.out.find("--config FILE") != std::string::npos);
}

TEST_CASE("a pure-noise frame ends as no_lattice with exit 0") {
  anchord::testing::TempDir dir("anchord_register_cli");
  cv::Mat1f noise(256, 256);
  cv::RNG rng(7);
  rng.fill(noise, cv::RNG::NORMAL, 0.0, 1.0);
  const std::string path = dir / "noise.npy";
  REQUIRE(anchord::WriteNpy(path, noise).ok());
  const RunResult run =
      RunAnchord(dir, {"register", path, "--pixel-size-nm", "0.06"});
  CHECK(run.exit_code == 0);
  const std::vector<json> lines = JsonLines(run.out);
  REQUIRE(lines.size() == 1);
  CHECK(lines[0]["status"] == "no_lattice");
  CHECK(lines[0]["quality"].is_null());
  CHECK(lines[0]["width"] == 256);
  CHECK(lines[0]["image_from_model"].is_null());
  CHECK(lines[0]["adatoms"].empty());
}

TEST_CASE("several inputs get the input index in output names") {
  anchord::testing::TempDir dir("anchord_register_cli");
  const SynthFrame frame = Synthesise(dir);
  const RunResult run =
      RunAnchord(dir, {"register", frame.path, frame.path, "--pixel-size-nm",
                       frame.pixel_size, "--json", dir / "r.json", "--overlay",
                       dir / "ov.png"});
  CHECK_MESSAGE(run.exit_code == 0, run.err);
  for (const char* name : {"r-1.json", "r-2.json", "ov-1.png", "ov-2.png"}) {
    CHECK_MESSAGE(fs::exists(dir / name), name);
  }
  CHECK(JsonLines(ReadFile(dir / "r-2.json")).size() == 1);
  CHECK(!fs::exists(dir / "ov.png"));
}
