// The daemon configuration: the shipped config/anchord.toml is valid and
// holds exactly the defaults; every error class (parse error, unknown key
// or table, wrong type, violated constraint, non-loopback endpoint without
// CURVE, bad enum spelling) is reported with its line, all at once; ToToml
// round-trips.

#include "daemon/config/config.h"

#include "anchord/pipeline/register_frame.h"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace anchord::daemon {
namespace {

// config/anchord.toml, found from this file's path (CMake compiles sources
// by absolute path).
std::string ShippedConfigPath() {
  return (std::filesystem::path(__FILE__).parent_path() /
          "../../../../config/anchord.toml")
      .lexically_normal()
      .string();
}

std::vector<std::string> Lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

LoadedConfig Load(const std::string& toml) {
  return LoadConfigString(toml, "test.toml");
}

// Every field of PipelineOptions, compared one by one (independent of the
// loader's own key list, so a field the loader forgets shows up here).
void CheckSameRegistration(const PipelineOptions& a, const PipelineOptions& b) {
#define CHECK_SAME(field) CHECK(a.field == b.field)
  CHECK_SAME(level.remove_plane);
  CHECK_SAME(level.level_lines);
  CHECK_SAME(level.glitch_threshold);
  CHECK_SAME(level.mask_glitches);
  CHECK_SAME(level.max_masked_row_fraction);
  CHECK_SAME(detect.kind);
  CHECK_SAME(detect.hole_sigma_fraction);
  CHECK_SAME(detect.working_cell_px);
  CHECK_SAME(detect.min_response_sigma);
  CHECK_SAME(detect.nms_fraction);
  CHECK_SAME(detect.max_candidates_per_cell);
  CHECK_SAME(lattice.min_scale_ratio);
  CHECK_SAME(lattice.max_scale_ratio);
  CHECK_SAME(lattice.cluster_tolerance);
  CHECK_SAME(lattice.min_support_fraction);
  CHECK_SAME(lattice.vote_tolerance);
  CHECK_SAME(homography.method);
  CHECK_SAME(homography.gate_fraction);
  CHECK_SAME(homography.initial_window_cells);
  CHECK_SAME(homography.window_growth);
  CHECK_SAME(homography.ransac_threshold_fraction);
  CHECK_SAME(homography.inlier_sigmas);
  CHECK_SAME(homography.min_inlier_px);
  CHECK_SAME(homography.max_iterations);
  CHECK_SAME(homography.min_inliers);
  CHECK_SAME(homography.min_paired_fraction);
  CHECK_SAME(homography.propagate_residuals);
  CHECK_SAME(sites.border_px);
  CHECK_SAME(sites.refine_radius_fraction);
  CHECK_SAME(sites.occupancy);
  CHECK_SAME(sites.vacancy_threshold);
  CHECK_SAME(sites.template_window_nm);
  CHECK_SAME(sites.template_max_shift_nm);
  CHECK_SAME(sites.canonical_faulted_t1);
  CHECK_SAME(correct.output_pixel_nm);
  CHECK_SAME(correct.max_output_px);
  CHECK_SAME(make_corrected);
  CHECK_SAME(min_cell_px);
  CHECK_SAME(relevel_axis_angle_deg);
  CHECK_SAME(quality.enabled);
  CHECK_SAME(quality.ssim_window_nm);
  CHECK_SAME(quality.low_cell_ssim);
  CHECK_SAME(quality.emd_cap_nm);
#undef CHECK_SAME
}

void CheckSameConfig(const DaemonConfig& a, const DaemonConfig& b) {
  CHECK(a.endpoints == b.endpoints);
  CHECK(a.security == b.security);
  CHECK(a.pipeline == b.pipeline);
  CHECK(a.limits == b.limits);
  CHECK(a.logging == b.logging);
  CheckSameRegistration(a.registration, b.registration);
  CHECK(a == b);
}

// The (table, key) pairs a TOML text assigns, by its [table] headers.
std::set<std::pair<std::string, std::string>> AssignedKeys(
    const std::string& toml) {
  std::set<std::pair<std::string, std::string>> keys;
  std::string table;
  for (const std::string& line : Lines(toml)) {
    if (line.empty() || line[0] == '#') continue;
    if (line[0] == '[') {
      table = line.substr(1, line.find(']') - 1);
      continue;
    }
    const std::size_t eq = line.find(" = ");
    if (eq != std::string::npos) keys.insert({table, line.substr(0, eq)});
  }
  return keys;
}

// A file that exists for the test's lifetime.
class TempFile {
 public:
  explicit TempFile(const std::string& name)
      : path_(std::filesystem::temp_directory_path() /
              ("anchord_config_test_" + name)) {
    std::ofstream(path_) << "key\n";
  }
  ~TempFile() { std::filesystem::remove(path_); }
  std::string path() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

TEST_CASE("the shipped config/anchord.toml is valid and equals the defaults") {
  const LoadedConfig loaded = LoadConfigFile(ShippedConfigPath());
  REQUIRE_MESSAGE(loaded.status.ok(), loaded.status.message());
  REQUIRE(loaded.config != nullptr);
  CHECK(!loaded.source_text.empty());
  CheckSameConfig(*loaded.config, DaemonConfig{});
  CheckSameRegistration(loaded.config->registration, PipelineOptions{});
}

TEST_CASE("the shipped config lists every key, and only those") {
  const LoadedConfig loaded = LoadConfigFile(ShippedConfigPath());
  REQUIRE(loaded.status.ok());
  CHECK(AssignedKeys(loaded.source_text) ==
        AssignedKeys(ToToml(DaemonConfig{})));
  CHECK(AssignedKeys(loaded.source_text).size() == 96);
}

TEST_CASE("track and catalog violations name their full keys") {
  const LoadedConfig loaded = Load(
      "[track]\nmin_confidence = 1.5\n"
      "[track.drift]\nmax_frames = 1\n"
      "[catalog]\nmatch_radius_nm = 0.0\n"
      "[registration.off_lattice]\nmin_height = -1.0\n");
  CHECK(loaded.status.code() == StatusCode::kInvalidInput);
  const std::string& m = loaded.status.message();
  CHECK(m.find("track.min_confidence = 1.5") != std::string::npos);
  CHECK(m.find("track.drift.max_frames = 1") != std::string::npos);
  CHECK(m.find("catalog.match_radius_nm = 0") != std::string::npos);
  CHECK(m.find("registration.off_lattice.min_height") != std::string::npos);
}

TEST_CASE("an empty file gives the defaults") {
  const LoadedConfig loaded = Load("");
  REQUIRE_MESSAGE(loaded.status.ok(), loaded.status.message());
  CheckSameConfig(*loaded.config, DaemonConfig{});
}

TEST_CASE("a partial file overrides only its keys") {
  const LoadedConfig loaded = Load(
      "[pipeline]\nworkers = 4\n"
      "[registration.detect]\nkind = \"sift\"\n");
  REQUIRE_MESSAGE(loaded.status.ok(), loaded.status.message());
  DaemonConfig expected;
  expected.pipeline.workers = 4;
  expected.registration.detect.kind = DetectorKind::kSift;
  CheckSameConfig(*loaded.config, expected);
  CHECK(
      ChangedKeys(DaemonConfig{}, *loaded.config) ==
      std::vector<std::string>{"pipeline.workers", "registration.detect.kind"});
}

TEST_CASE("a parse error names the line and column") {
  const LoadedConfig loaded = Load("[pipeline]\nworkers = 2\nreorder_max = \n");
  CHECK(loaded.status.code() == StatusCode::kInvalidInput);
  CHECK(loaded.config == nullptr);
  CHECK(loaded.status.message().starts_with("test.toml:3:"));
  CHECK(Lines(loaded.status.message()).size() == 1);
}

TEST_CASE("a duplicate key is a parse error") {
  const LoadedConfig loaded = Load("[pipeline]\nworkers = 2\nworkers = 3\n");
  CHECK(!loaded.status.ok());
  CHECK(loaded.status.message().starts_with("test.toml:3:"));
}

TEST_CASE("unknown keys and tables are rejected with their lines") {
  const LoadedConfig loaded = Load(
      "[pipeline]\n"
      "workers = 2\n"
      "worker = 3\n"
      "[registration.detect]\n"
      "sigma = 0.1\n"
      "[registration.vote]\n"
      "tolerance = 0.1\n"
      "[metrics]\n");
  REQUIRE(!loaded.status.ok());
  CHECK(loaded.config == nullptr);
  const std::vector<std::string> lines = Lines(loaded.status.message());
  REQUIRE(lines.size() == 4);
  CHECK(lines[0].starts_with("test.toml:3: unknown key pipeline.worker "));
  CHECK(Contains(lines[0], "workers"));  // the known keys are listed
  CHECK(lines[1].starts_with(
      "test.toml:5: unknown key registration.detect.sigma "));
  CHECK(lines[2].starts_with("test.toml:6: unknown table registration.vote "));
  CHECK(lines[3].starts_with("test.toml:8: unknown table metrics "));
}

TEST_CASE("a renamed key is rejected with its new name") {
  const LoadedConfig loaded =
      Load("[registration]\nmax_nonfinite_fraction = 0.5\n");
  REQUIRE(!loaded.status.ok());
  CHECK(loaded.status.message() ==
        "test.toml:2: unknown key registration.max_nonfinite_fraction "
        "(renamed to limits.max_nonfinite_fraction)");
}

TEST_CASE("a renamed table is rejected with its new name") {
  const LoadedConfig loaded =
      Load("[registration.register]\nmethod = \"usac\"\n");
  REQUIRE(!loaded.status.ok());
  CHECK(loaded.status.message() ==
        "test.toml:1: unknown table registration.register (renamed to "
        "registration.homography)");
}

TEST_CASE("an unknown top-level key is rejected") {
  const LoadedConfig loaded = Load("workers = 2\n");
  REQUIRE(!loaded.status.ok());
  CHECK(loaded.status.message().starts_with(
      "test.toml:1: unknown key workers (known in top level: endpoints"));
}

TEST_CASE("values of the wrong type are rejected with their lines") {
  const LoadedConfig loaded = Load(
      "[pipeline]\n"
      "workers = \"two\"\n"
      "ingest_queue = 8.0\n"
      "[registration]\n"
      "make_corrected = 1\n"
      "min_cell_px = \"6\"\n"
      "[registration.detect]\n"
      "kind = 1\n"
      "[logging]\n"
      "level = [\"info\"]\n");
  REQUIRE(!loaded.status.ok());
  const std::vector<std::string> lines = Lines(loaded.status.message());
  REQUIRE(lines.size() == 6);
  CHECK(lines[0] ==
        "test.toml:2: pipeline.workers: expected an integer, found a string");
  CHECK(lines[1] ==
        "test.toml:3: pipeline.ingest_queue: expected an integer, found a "
        "floating-point number");
  CHECK(lines[2] ==
        "test.toml:5: registration.make_corrected: expected a boolean, found "
        "an integer");
  CHECK(lines[3] ==
        "test.toml:6: registration.min_cell_px: expected a number, found a "
        "string");
  CHECK(lines[4] ==
        "test.toml:8: registration.detect.kind: expected a string, found an "
        "integer");
  CHECK(lines[5] ==
        "test.toml:10: logging.level: expected a string, found an array");
}

TEST_CASE("a table where a value belongs, and a value where a table does") {
  const LoadedConfig loaded = Load(
      "endpoints = \"tcp://127.0.0.1:5555\"\n"
      "[registration.detect.kind]\n");
  REQUIRE(!loaded.status.ok());
  const std::vector<std::string> lines = Lines(loaded.status.message());
  REQUIRE(lines.size() == 2);
  CHECK(lines[0] == "test.toml:1: endpoints: expected a table, found a string");
  CHECK(lines[1] ==
        "test.toml:2: registration.detect.kind: expected a string, found a "
        "table");
}

TEST_CASE("an integer is accepted for a floating-point key") {
  const LoadedConfig loaded = Load("[registration]\nmin_cell_px = 7\n");
  REQUIRE_MESSAGE(loaded.status.ok(), loaded.status.message());
  CHECK(loaded.config->registration.min_cell_px == 7.0);
}

TEST_CASE("an integer outside 32 bits is rejected") {
  const LoadedConfig loaded = Load("[pipeline]\nworkers = 10000000000\n");
  REQUIRE(!loaded.status.ok());
  CHECK(loaded.status.message() ==
        "test.toml:2: pipeline.workers = 10000000000. Violated constraint: "
        "in [-2147483648, 2147483647]");
}

TEST_CASE("every violated constraint is listed together, with its line") {
  const LoadedConfig loaded = Load(
      "[pipeline]\n"
      "workers = 0\n"
      "status_period_ms = 10\n"
      "[limits]\n"
      "min_pixel_nm = 0.0\n"
      "[registration]\n"
      "min_cell_px = 2.0\n"
      "[registration.detect]\n"
      "hole_sigma_fraction = -1.0\n"
      "nms_fraction = 1.5\n"
      "[registration.homography]\n"
      "gate_fraction = 0.7\n");
  REQUIRE(!loaded.status.ok());
  CHECK(loaded.config == nullptr);
  const std::vector<std::string> lines = Lines(loaded.status.message());
  REQUIRE(lines.size() == 7);
  CHECK(lines[0] ==
        "test.toml:2: pipeline.workers = 0. Violated constraint: in [1, 64]");
  CHECK(lines[1] ==
        "test.toml:3: pipeline.status_period_ms = 10. Violated constraint: "
        ">= 100");
  CHECK(lines[2] ==
        "test.toml:5: limits.min_pixel_nm = 0. Violated constraint: > 0");
  CHECK(lines[3] ==
        "test.toml:7: registration.min_cell_px = 2. Violated constraint: >= "
        "3.0");
  CHECK(lines[4] ==
        "test.toml:9: registration.detect.hole_sigma_fraction = -1. Violated "
        "constraint: in (0.0, 0.5)");
  CHECK(lines[5] ==
        "test.toml:10: registration.detect.nms_fraction = 1.5. Violated "
        "constraint: in (0.0, 1.0)");
  CHECK(lines[6] ==
        "test.toml:12: registration.homography.gate_fraction = 0.7. Violated "
        "constraint: in (0.0, 0.5)");
}

TEST_CASE("cross-key constraints") {
  const LoadedConfig loaded = Load(
      "[endpoints]\n"
      "queries = \"tcp://127.0.0.1:5556\"\n"
      "[pipeline]\n"
      "workers = 32\n"
      "[limits]\n"
      "min_side_px = 512\n"
      "max_side_px = 256\n");
  REQUIRE(!loaded.status.ok());
  const std::string& m = loaded.status.message();
  CHECK(Contains(m,
                 "test.toml:2: endpoints.queries = \"tcp://127.0.0.1:5556\". "
                 "Violated constraint: differs from endpoints.results"));
  // reorder_max keeps its default (16), now below workers; no line.
  CHECK(Contains(m,
                 "test.toml: pipeline.reorder_max = 16. Violated constraint: "
                 "in [pipeline.workers (32), 4096]"));
  CHECK(Contains(m,
                 "test.toml:7: limits.max_side_px = 256. Violated constraint: "
                 "in [limits.min_side_px, 65536]"));
}

TEST_CASE("malformed endpoints are rejected") {
  const LoadedConfig loaded = Load(
      "[endpoints]\n"
      "frames = \"127.0.0.1:5555\"\n"
      "results = \"tcp://127.0.0.1\"\n"
      "queries = \"tcp://127.0.0.1:70000\"\n"
      "http_metrics = \"localhost\"\n");
  REQUIRE(!loaded.status.ok());
  const std::vector<std::string> lines = Lines(loaded.status.message());
  REQUIRE(lines.size() == 4);
  CHECK(lines[0].starts_with(
      "test.toml:2: endpoints.frames = \"127.0.0.1:5555\". Violated "
      "constraint: tcp://host:port"));
  CHECK(lines[1].starts_with("test.toml:3: endpoints.results ="));
  CHECK(lines[2].starts_with("test.toml:4: endpoints.queries ="));
  CHECK(lines[3].starts_with("test.toml:5: endpoints.http_metrics ="));
}

TEST_CASE("http_metrics may be empty (off) and a bound port may be '*'") {
  const LoadedConfig loaded = Load(
      "[endpoints]\n"
      "http_metrics = \"\"\n"
      "results = \"tcp://127.0.0.1:*\"\n"
      "frames_mode = \"bind\"\n"
      "frames = \"ipc:///run/anchord/frames\"\n");
  REQUIRE_MESSAGE(loaded.status.ok(), loaded.status.message());
  CHECK(loaded.config->endpoints.http_metrics.empty());
  CHECK(loaded.config->endpoints.frames_mode == FramesMode::kBind);
}

TEST_CASE("IsLoopbackEndpoint") {
  CHECK(IsLoopbackEndpoint("tcp://127.0.0.1:5555"));
  CHECK(IsLoopbackEndpoint("tcp://127.1.2.3:5555"));
  CHECK(IsLoopbackEndpoint("tcp://localhost:5555"));
  CHECK(IsLoopbackEndpoint("tcp://[::1]:5555"));
  CHECK(IsLoopbackEndpoint("ipc:///tmp/anchord"));
  CHECK(IsLoopbackEndpoint("inproc://frames"));
  CHECK_FALSE(IsLoopbackEndpoint("tcp://0.0.0.0:5555"));
  CHECK_FALSE(IsLoopbackEndpoint("tcp://*:5555"));
  CHECK_FALSE(IsLoopbackEndpoint("tcp://10.0.0.7:5555"));
  CHECK_FALSE(IsLoopbackEndpoint("tcp://127.0.0.1.evil.example:5555"));
  CHECK_FALSE(IsLoopbackEndpoint("tcp://127.0.0.256:5555"));
  CHECK_FALSE(IsLoopbackEndpoint("tcp://eth0:5555"));
  CHECK_FALSE(IsLoopbackEndpoint("tcp://[::]:5555"));
  CHECK_FALSE(IsLoopbackEndpoint("pgm://127.0.0.1:5555"));
  CHECK_FALSE(IsLoopbackEndpoint("tcp://127.0.0.1"));
}

TEST_CASE("metrics never on every interface; binds never to a host name") {
  for (const char* wildcard : {"0.0.0.0:9105", "[::]:9105", "*:9105"}) {
    CAPTURE(wildcard);
    const LoadedConfig loaded =
        Load(std::string("[endpoints]\nhttp_metrics = \"") + wildcard + "\"\n");
    REQUIRE(!loaded.status.ok());
    CHECK(Contains(loaded.status.message(),
                   "Violated constraint: a single address, not every "
                   "interface"));
  }
  const LoadedConfig bound_name =
      Load("[endpoints]\nresults = \"tcp://localhost:5556\"\n");
  REQUIRE(!bound_name.status.ok());
  CHECK(Contains(bound_name.status.message(),
                 "endpoints.results = \"tcp://localhost:5556\". Violated "
                 "constraint: a bound endpoint names an address"));
  // The frame socket connects by default: a host name is fine there.
  const LoadedConfig connected =
      Load("[endpoints]\nframes = \"tcp://localhost:5555\"\n");
  CHECK_MESSAGE(connected.status.ok(), connected.status.message());
  const LoadedConfig bound_frames = Load(
      "[endpoints]\nframes = \"tcp://localhost:5555\"\nframes_mode = "
      "\"bind\"\n");
  CHECK_FALSE(bound_frames.status.ok());
}

TEST_CASE("a non-loopback endpoint needs both CURVE key files") {
  const std::string endpoints =
      "[endpoints]\n"
      "results = \"tcp://0.0.0.0:5556\"\n"
      "frames = \"tcp://10.0.0.7:5555\"\n";
  SUBCASE("without keys: each non-loopback endpoint is a violation") {
    const LoadedConfig loaded = Load(endpoints);
    REQUIRE(!loaded.status.ok());
    const std::vector<std::string> lines = Lines(loaded.status.message());
    REQUIRE(lines.size() == 2);
    CHECK(lines[0].starts_with(
        "test.toml:2: endpoints.results = \"tcp://0.0.0.0:5556\". Violated "
        "constraint: loopback"));
    CHECK(Contains(lines[0], "security.curve_server_secret_key_file"));
    CHECK(lines[1].starts_with(
        "test.toml:3: endpoints.frames = \"tcp://10.0.0.7:5555\". Violated "
        "constraint: loopback"));
  }
  SUBCASE("with one key: still refused, and the missing one is named") {
    const TempFile secret("secret");
    const LoadedConfig loaded =
        Load(endpoints + "[security]\ncurve_server_secret_key_file = \"" +
             secret.path() + "\"\n");
    REQUIRE(!loaded.status.ok());
    const std::string& m = loaded.status.message();
    CHECK(Contains(m, "endpoints.results = \"tcp://0.0.0.0:5556\""));
    CHECK(Contains(m,
                   "test.toml: security.curve_allowed_client_keys_file = \"\". "
                   "Violated constraint: set together with "
                   "security.curve_server_secret_key_file"));
  }
  SUBCASE("with both keys: accepted") {
    const TempFile secret("secret"), clients("clients");
    const LoadedConfig loaded =
        Load(endpoints + "[security]\ncurve_server_secret_key_file = \"" +
             secret.path() + "\"\ncurve_allowed_client_keys_file = \"" +
             clients.path() + "\"\n");
    REQUIRE_MESSAGE(loaded.status.ok(), loaded.status.message());
    CHECK(loaded.config->security.curve_enabled());
  }
  SUBCASE("key files that do not exist are violations") {
    const LoadedConfig loaded = Load(
        endpoints +
        "[security]\n"
        "curve_server_secret_key_file = \"/nonexistent/anchord/secret\"\n"
        "curve_allowed_client_keys_file = \"/nonexistent/anchord/clients\"\n");
    REQUIRE(!loaded.status.ok());
    const std::vector<std::string> lines = Lines(loaded.status.message());
    REQUIRE(lines.size() == 2);
    CHECK(lines[0] ==
          "test.toml:5: security.curve_server_secret_key_file = "
          "\"/nonexistent/anchord/secret\". Violated constraint: an existing "
          "regular file");
    CHECK(lines[1].starts_with(
        "test.toml:6: security.curve_allowed_client_keys_file = "));
  }
}

TEST_CASE("enums: every spelling loads, others are rejected with the list") {
  const LoadedConfig all = Load(
      "[endpoints]\nframes_mode = \"bind\"\n"
      "[pipeline]\ningest_overflow = \"block\"\n"
      "[registration.detect]\nkind = \"sift\"\n"
      "[registration.homography]\nmethod = \"usac\"\n");
  REQUIRE_MESSAGE(all.status.ok(), all.status.message());
  CHECK(all.config->endpoints.frames_mode == FramesMode::kBind);
  CHECK(all.config->pipeline.ingest_overflow == OverflowPolicy::kBlock);
  CHECK(all.config->registration.detect.kind == DetectorKind::kSift);
  CHECK(all.config->registration.homography.method == HomographyMethod::kUsac);
  CHECK(Load("[pipeline]\ningest_overflow = \"drop_newest\"\n")
            .config->pipeline.ingest_overflow == OverflowPolicy::kDropNewest);
  CHECK(Load("[registration.homography]\nmethod = \"ransac\"\n")
            .config->registration.homography.method ==
        HomographyMethod::kRansac);

  const LoadedConfig bad = Load(
      "[endpoints]\nframes_mode = \"Connect\"\n"
      "[pipeline]\ningest_overflow = \"drop\"\n"
      "[registration.detect]\nkind = \"surf\"\n"
      "[registration.homography]\nmethod = \"magsac\"\n"
      "[logging]\nlevel = \"verbose\"\n");
  REQUIRE(!bad.status.ok());
  const std::vector<std::string> lines = Lines(bad.status.message());
  REQUIRE(lines.size() == 5);
  CHECK(lines[0] ==
        "test.toml:2: endpoints.frames_mode = \"Connect\". Violated "
        "constraint: one of \"connect\", \"bind\"");
  CHECK(lines[1] ==
        "test.toml:4: pipeline.ingest_overflow = \"drop\". Violated "
        "constraint: one of \"drop_oldest\", \"drop_newest\", \"block\"");
  CHECK(lines[2] ==
        "test.toml:6: registration.detect.kind = \"surf\". Violated "
        "constraint: one of \"fast\", \"sift\"");
  CHECK(lines[3] ==
        "test.toml:8: registration.homography.method = \"magsac\". Violated "
        "constraint: one of \"lmeds\", \"ransac\", \"usac\"");
  CHECK(lines[4].starts_with(
      "test.toml:10: logging.level = \"verbose\". Violated constraint: one "
      "of \"trace\""));
}

TEST_CASE("FramesModeName") {
  CHECK(std::string(FramesModeName(FramesMode::kConnect)) == "connect");
  CHECK(std::string(FramesModeName(FramesMode::kBind)) == "bind");
}

TEST_CASE("ToToml of the defaults loads back to the defaults") {
  const std::string text = ToToml(DaemonConfig{});
  const LoadedConfig loaded = Load(text);
  REQUIRE_MESSAGE(loaded.status.ok(), (loaded.status.message() + "\n" + text));
  CheckSameConfig(*loaded.config, DaemonConfig{});
}

TEST_CASE("ToToml round-trips a config with every key changed") {
  const TempFile secret("rt_secret"), clients("rt_clients");
  DaemonConfig c;
  c.endpoints.frames = "tcp://10.1.2.3:6000";
  c.endpoints.frames_mode = FramesMode::kConnect;
  c.endpoints.results = "tcp://0.0.0.0:6001";
  c.endpoints.queries = "ipc:///run/anchord/\"queries\"\\q";
  c.endpoints.http_metrics = "[::1]:9200";
  c.security.curve_server_secret_key_file = secret.path();
  c.security.curve_allowed_client_keys_file = clients.path();
  c.pipeline = {.workers = 3,
                .ingest_queue = 5,
                .ingest_overflow = OverflowPolicy::kDropNewest,
                .reorder_max = 7,
                .reorder_timeout_ms = 1234,
                .drain_timeout_ms = 0,
                .status_period_ms = 500};
  c.limits = {.max_side_px = 4096,
              .min_side_px = 32,
              .min_pixel_nm = 1.0 / 3.0,
              .max_pixel_nm = 77.125,
              .max_nonfinite_fraction = 0.1};
  c.logging = {.level = "debug", .per_frame_warnings_per_s = 0.25};
  PipelineOptions& r = c.registration;
  r.level = {.remove_plane = false,
             .level_lines = false,
             .glitch_threshold = 5.5,
             .mask_glitches = false,
             .max_masked_row_fraction = 0.3};
  r.detect = {.kind = DetectorKind::kSift,
              .hole_sigma_fraction = 0.123456789012345,
              .working_cell_px = 20,
              .min_response_sigma = 2,
              .nms_fraction = 0.4,
              .max_candidates_per_cell = 3};
  r.lattice = {.min_scale_ratio = 0.6,
               .max_scale_ratio = 1.8,
               .cluster_tolerance = 0.1,
               .min_support_fraction = 1.0,
               .vote_tolerance = 0.2};
  r.homography = {.method = HomographyMethod::kRansac,
                  .gate_fraction = 0.25,
                  .initial_window_cells = 3,
                  .window_growth = 1.5,
                  .ransac_threshold_fraction = 0.05,
                  .inlier_sigmas = 3,
                  .min_inlier_px = 0.75,
                  .max_iterations = 4,
                  .min_inliers = 10,
                  .min_paired_fraction = 0.4,
                  .propagate_residuals = false};
  r.sites = {.border_px = 2,
             .refine_radius_fraction = 0.2,
             .occupancy = OccupancyMethod::kThreshold,
             .vacancy_threshold = 0.6,
             .template_window_nm = 0.3,
             .template_max_shift_nm = 0.05,
             .canonical_faulted_t1 = false};
  r.correct = {.output_pixel_nm = 0.05, .max_output_px = 4096};
  r.make_corrected = false;
  r.min_cell_px = 1e6;
  REQUIRE_MESSAGE(c.Validate().ok(), c.Validate().message());
  // Only the frames mode (connect is the default) is left unchanged.
  CHECK(ChangedKeys(DaemonConfig{}, c).size() == 58);

  const std::string text = ToToml(c);
  const LoadedConfig loaded = Load(text);
  REQUIRE_MESSAGE(loaded.status.ok(), (loaded.status.message() + "\n" + text));
  CheckSameConfig(*loaded.config, c);
  CHECK(ToToml(*loaded.config) == text);
}

TEST_CASE("ChangedKeys names the differing keys in file order") {
  DaemonConfig a, b;
  CHECK(ChangedKeys(a, b).empty());
  b.registration.correct.max_output_px = 100;
  b.endpoints.results = "tcp://127.0.0.1:7000";
  CHECK(ChangedKeys(a, b) ==
        std::vector<std::string>{"endpoints.results",
                                 "registration.correct.max_output_px"});
  CHECK_FALSE(a == b);
}

TEST_CASE("DaemonConfig::Validate names full keys without a file") {
  DaemonConfig c;
  c.registration.homography.gate_fraction = 0.7;
  c.pipeline.workers = 0;
  const Status s = c.Validate();
  CHECK(s.code() == StatusCode::kInvalidInput);
  CHECK(Lines(s.message()) ==
        std::vector<std::string>{
            "pipeline.workers = 0. Violated constraint: in [1, 64]",
            "registration.homography.gate_fraction = 0.7. Violated constraint: "
            "in (0.0, 0.5)"});
}

TEST_CASE("LoadConfigFile reports an unreadable file") {
  const LoadedConfig loaded = LoadConfigFile("/nonexistent/anchord.toml");
  CHECK(loaded.status.code() == StatusCode::kInvalidInput);
  CHECK(loaded.config == nullptr);
  CHECK(loaded.status.message().starts_with(
      "cannot read /nonexistent/anchord.toml: "));
}

TEST_CASE("LoadConfigFile prefixes messages with the path") {
  const TempFile file("bad.toml");
  std::ofstream(file.path()) << "[pipeline]\nworkers = 0\n";
  const LoadedConfig loaded = LoadConfigFile(file.path());
  REQUIRE(!loaded.status.ok());
  CHECK(loaded.status.message() ==
        file.path() +
            ":2: pipeline.workers = 0. Violated constraint: in [1, 64]");
  CHECK(loaded.source_text == "[pipeline]\nworkers = 0\n");
}

}  // namespace
}  // namespace anchord::daemon
