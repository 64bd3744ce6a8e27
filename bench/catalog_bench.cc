// anchord_catalog_bench: the defect catalog's size and commit time under a
// stream of ever-new session names, with the global bounds (the default
// CatalogOptions: max_sessions 1000, max_defects_total 10,000,000) against
// a baseline run without them (both bounds at their maximum), on a real
// file with the daemon's durability (WAL, synchronous = FULL).
//
// Each session commits one frame: `--defects` vacancies, two off-lattice
// features and a tracker state of `--state-bytes` (the shape of a short
// session's first frame). Every 1000 sessions it prints the sessions in
// the catalog, the file and its WAL (bytes on disk) and the commit time
// (median and p99); at the end, the file after close (WAL checkpointed).
//
// Usage: anchord_catalog_bench [--sessions 10000] [--defects 20]
//          [--state-bytes 8192] [--dir DIR] [--no-baseline]

#include "daemon/catalog/catalog.h"
#include "daemon/common/sample_stats.h"

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace anchord::bench {
namespace {

using daemon::CatalogOptions;
using daemon::CatalogUpdate;
using daemon::DefectCatalog;
using daemon::DefectObservation;
using daemon::DefectRecord;
namespace fs = std::filesystem;

struct Options {
  int sessions = 10000;       // fresh sessions, one frame each; >= 1
  int defects = 20;           // vacancies per frame; >= 0
  size_t state_bytes = 8192;  // tracker state per frame
  std::string dir = fs::temp_directory_path().string();  // for the files
  bool baseline = true;  // also run without the global bounds
};

void PrintUsage() {
  std::cout << R"(Usage: anchord_catalog_bench [options]
  --sessions N       fresh sessions, one frame each (default 10000)
  --defects N        vacancies per frame, plus 2 off-lattice (default 20)
  --state-bytes N    tracker state per frame, bytes (default 8192)
  --dir DIR          where the catalog files go (default: the temp folder)
  --no-baseline      skip the run without the global bounds
)";
}

// False (after printing why) on a usage error.
bool ParseOptions(int argc, char** argv, Options& o) {
  try {
    for (int k = 1; k < argc; ++k) {
      const std::string a = argv[k];
      const auto value = [&]() -> std::string {
        if (k + 1 >= argc) throw std::invalid_argument(a + " needs a value");
        return argv[++k];
      };
      if (a == "--help" || a == "-h") {
        PrintUsage();
        std::exit(0);
      } else if (a == "--sessions") {
        o.sessions = std::stoi(value());
      } else if (a == "--defects") {
        o.defects = std::stoi(value());
      } else if (a == "--state-bytes") {
        o.state_bytes = std::stoul(value());
      } else if (a == "--dir") {
        o.dir = value();
      } else if (a == "--no-baseline") {
        o.baseline = false;
      } else {
        throw std::invalid_argument("unknown option " + a);
      }
    }
  } catch (const std::exception& e) {
    std::cerr << "anchord_catalog_bench: " << e.what() << "\n\n";
    PrintUsage();
    return false;
  }
  if (o.sessions < 1 || o.defects < 0) {
    std::cerr << "anchord_catalog_bench: --sessions >= 1, --defects >= 0\n";
    return false;
  }
  return true;
}

uintmax_t BytesOnDisk(const std::string& path) {
  uintmax_t bytes = 0;
  for (const char* suffix : {"", "-wal"}) {
    std::error_code error;
    const uintmax_t size = fs::file_size(path + suffix, error);
    if (!error) bytes += size;
  }
  return bytes;
}

// Session k's only frame.
CatalogUpdate FrameOf(int k, const Options& o) {
  CatalogUpdate u;
  u.session = "session-" + std::to_string(k);
  u.frame_id = 1;
  u.time_unix_ns =
      int64_t{1'700'000'000'000'000'000} + k * int64_t{1'000'000'000};
  for (int d = 0; d <= o.defects + 1; ++d) {
    DefectObservation obs;
    obs.kind = d < o.defects ? daemon::DefectKind::kVacancy
                             : daemon::DefectKind::kOffLattice;
    obs.i = d;
    obs.session_nm = Vec2(0.7 * d, 0.3 * (d % 5));
    obs.sigma_nm = 0.05;
    u.observations.push_back(obs);
  }
  u.tracker_state.assign(o.state_bytes, static_cast<char>('a' + k % 26));
  return u;
}

// One run over a fresh file; false when the catalog fails.
bool Run(const char* label, CatalogOptions catalog_options, const Options& o) {
  fs::remove(catalog_options.path);
  fs::remove(catalog_options.path + "-wal");
  Status status;
  std::unique_ptr<DefectCatalog> catalog =
      DefectCatalog::Open(catalog_options, &status);
  if (!catalog) {
    std::cerr << status.message() << "\n";
    return false;
  }
  std::printf("%s (max_sessions %lld, max_defects_total %lld)\n", label,
              static_cast<long long>(catalog_options.max_sessions),
              static_cast<long long>(catalog_options.max_defects_total));
  std::printf("  %8s %9s %12s %10s %10s\n", "sessions", "catalog", "disk_KiB",
              "median_ms", "p99_ms");
  std::vector<double> commit_ms;
  std::vector<DefectRecord> records;
  for (int k = 0; k < o.sessions; ++k) {
    const CatalogUpdate u = FrameOf(k, o);
    const auto start = std::chrono::steady_clock::now();
    status = catalog->Commit(u, &records);
    commit_ms.push_back(std::chrono::duration<double, std::milli>(
                            std::chrono::steady_clock::now() - start)
                            .count());
    if (!status.ok()) {
      std::cerr << status.message() << "\n";
      return false;
    }
    if ((k + 1) % 1000 != 0 && k + 1 != o.sessions) continue;
    std::vector<std::string> sessions;
    if (!catalog->Sessions(&sessions).ok()) return false;
    const daemon::Summary s = daemon::Summarize(commit_ms);
    std::printf("  %8d %9zu %12ju %10.3f %10.3f\n", k + 1, sessions.size(),
                BytesOnDisk(catalog_options.path) / 1024, s.median_ms,
                s.p99_ms);
    commit_ms.clear();
  }
  const daemon::CatalogEvictions evicted = catalog->evictions();
  catalog.reset();  // the last connection checkpoints the WAL
  std::printf(
      "  evicted %lld sessions, %lld defects; file after close %ju KiB\n",
      static_cast<long long>(evicted.sessions),
      static_cast<long long>(evicted.defects),
      BytesOnDisk(catalog_options.path) / 1024);
  fs::remove(catalog_options.path);
  return true;
}

}  // namespace
}  // namespace anchord::bench

int main(int argc, char** argv) {
  using namespace anchord::bench;
  Options o;
  if (!ParseOptions(argc, argv, o)) return 2;
  CatalogOptions bounded;
  bounded.path = (fs::path(o.dir) / "anchord_catalog_bench.sqlite").string();
  std::printf(
      "%d sessions, one frame each: %d vacancies, 2 off-lattice, "
      "%zu-byte tracker state; %s\n\n",
      o.sessions, o.defects, o.state_bytes, bounded.path.c_str());
  if (!Run("bounded", bounded, o)) return 1;
  if (!o.baseline) return 0;
  CatalogOptions unbounded = bounded;
  unbounded.max_sessions = std::numeric_limits<int64_t>::max();
  unbounded.max_defects_total = std::numeric_limits<int64_t>::max();
  std::printf("\n");
  return Run("baseline, no global bounds", unbounded, o) ? 0 : 1;
}
