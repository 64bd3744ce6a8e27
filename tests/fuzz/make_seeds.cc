// Writes the seed corpus of every fuzz target: small valid inputs made by
// the project's own encoders (a frame message, one query of each kind,
// the default configuration, .npy/.png/.tif images, tracker states in
// both stored formats), so that mutations start from well-formed input.
//
// Usage: anchord_fuzz_seeds OUT_DIR  → OUT_DIR/<target>/seed-N files.

#include "anchord/io/image_io.h"
#include "anchord/track/session_tracker.h"

#include "daemon/config/config.h"
#include "daemon/wire/tracker_state_codec.h"
#include "daemon/wire/wire.h"
#include "registered_frames.h"
#include <opencv2/imgcodecs.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using namespace anchord;

namespace {

void Write(const fs::path& dir, int k, const std::string& bytes) {
  fs::create_directories(dir);
  std::ofstream out(dir / ("seed-" + std::to_string(k)), std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string ReadBack(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void FrameSeeds(const fs::path& dir) {
  const auto& frames = fuzz::RegisteredFrames();
  daemon::InboundFrame in;
  in.frame_id = 7;
  in.instrument = "fuzz-stm";
  in.session = "fuzz";
  in.frame = frames.front().frame;
  // A small crop keeps every execution fast.
  in.frame.image = in.frame.image(cv::Rect(0, 0, 24, 20)).clone();
  in.frame.line_times_s.resize(20);
  Write(dir, 0, daemon::EncodeFrame(in));
  in.frame.image(3, 4) = std::numeric_limits<float>::quiet_NaN();
  in.frame.direction = "backward";
  Write(dir, 1, daemon::EncodeFrame(in));
}

void QuerySeeds(const fs::path& dir) {
  int k = 0;
  v1::QueryRequest q;
  q.set_request_id(1);
  q.mutable_health();
  Write(dir, k++, q.SerializeAsString());
  q.mutable_latest_result();
  Write(dir, k++, q.SerializeAsString());
  auto* rect = q.mutable_sites_in_rect();
  rect->set_x0_px(1);
  rect->set_y0_px(2);
  rect->set_x1_px(30);
  rect->set_y1_px(40);
  Write(dir, k++, q.SerializeAsString());
  auto* find = q.mutable_find_defects();
  find->set_session("fuzz");
  Write(dir, k++, q.SerializeAsString());
  q.mutable_latest_drift()->set_session("fuzz");
  Write(dir, k++, q.SerializeAsString());
  q.mutable_current_config();
  Write(dir, k++, q.SerializeAsString());
}

void ImageSeeds(const fs::path& dir, const fs::path& scratch) {
  cv::Mat1f f(5, 4);
  for (int i = 0; i < f.rows * f.cols; ++i) f(i / 4, i % 4) = 0.25f * i;
  int k = 0;
  const fs::path npy = scratch / "seed.npy";
  if (WriteNpy(npy.string(), f).ok()) Write(dir, k++, ReadBack(npy));
  cv::Mat1w w(3, 6, uint16_t{1000});
  for (const char* name : {"seed.png", "seed.tif"}) {
    const fs::path p = scratch / name;
    if (cv::imwrite(p.string(), w)) Write(dir, k++, ReadBack(p));
  }
  const fs::path tiff = scratch / "seed_f.tif";
  if (WriteFloatTiff(tiff.string(), f).ok()) Write(dir, k++, ReadBack(tiff));
}

void TrackerStateSeeds(const fs::path& dir, const fs::path& sequence_dir) {
  SessionTracker tracker(TrackOptions{}, fuzz::Model());
  int k = 0;
  for (const auto& r : fuzz::RegisteredFrames()) {
    tracker.Track(r.frame, r.result);
    Write(dir, k++, daemon::EncodeTrackerState(tracker.ExportState()));
  }
  Write(dir, k++, testing::kLegacyTrackerState);
  // Sequence scripts: a few byte patterns (the script format is the
  // fuzzer's own; libFuzzer's mutations find the rest).
  Write(sequence_dir, 0, std::string(64, '\0'));
  Write(sequence_dir, 1, std::string(256, '\x11'));
  Write(sequence_dir, 2, std::string(512, '\x7f'));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
    return 2;
  }
  const fs::path out = argv[1];
  const fs::path scratch = out / ".scratch";
  fs::create_directories(scratch);
  FrameSeeds(out / "frame");
  QuerySeeds(out / "query");
  Write(out / "config", 0, daemon::ToToml(daemon::DaemonConfig{}));
  Write(out / "config", 1,
        "[pipeline]\nworkers = 4\n[limits]\nmax_side_px = 4096\n");
  ImageSeeds(out / "image", scratch);
  TrackerStateSeeds(out / "tracker_state", out / "sequence");
  fs::remove_all(scratch);
  return 0;
}
