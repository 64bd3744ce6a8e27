#pragma once

// The console view of `anchord demo`: a subscriber to the daemon's results
// that prints one table row per frame and writes each registered frame's
// corrected image and an overlay to a folder. It uses only what the daemon
// publishes (the wire messages), as any client would.

#include "anchord/util/status.h"
#include "anchord/v1/anchord.pb.h"

#include <opencv2/core.hpp>
#include <zmq.hpp>

#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace anchord::daemon {

// The overlay of a corrected frame: the frame as grey (1 % / 99 %
// quantiles; NaN black), upscaled like daemon/overlay.h's overlays, with
// the daemon's sites drawn at their model positions: occupied adatoms
// (green dots), vacancies (red circles with a cross) and the corner holes
// of `registration` (cyan circles, thin when not detected). On the corrected
// grid the 7×7 lattice is undistorted, so the markers form the ideal
// lattice. `pixels` is corrected.width × corrected.height (checked).
cv::Mat3b RenderCorrectedOverlay(const cv::Mat1f& pixels,
                                 const v1::CorrectedFrame& corrected,
                                 const v1::Sites& sites,
                                 const v1::RegistrationResult& registration);

// The pixels of a CorrectedFrame message; kInvalidInput when their byte
// count is not width × height × 4.
Status CorrectedPixels(const v1::CorrectedFrame& corrected, cv::Mat1f* out);

// Subscribes to the registration, corrected, sites and drift topics of a
// results endpoint and joins the messages of each frame by sequence, in
// whatever order they come:
// - a table row is printed once the frame's registration and drift are in
//   (columns: frame id, sequence, status, daemon latency ms, ms from the
//   daemon's receipt of the frame to the view's receipt of the result,
//   drift velocity nm/min or "n/a" while the daemon's estimate is not
//   valid, with the placement: F first, P prediction, C codes, - not
//   placed; adatom sites, vacancies, lattice residual nm; the message of
//   a frame that was not registered);
// - for a registered frame, once its corrected frame and sites are in,
//   OUT/corrected-ID.tiff (32-bit float, NaN outside the raw frame) and
//   OUT/overlay-ID.png are written (ID = frame id, six digits).
// Not thread-safe: one thread calls everything.
class DemoView {
 public:
  // Connects to `results_endpoint` through `context`; `out_dir` must exist.
  DemoView(zmq::context_t& context,
           const std::string& results_endpoint,
           std::string out_dir,
           std::ostream& out);

  // Prints the table header.
  void PrintHeader();
  // Handles the messages that arrive within `timeout` (returns after the
  // first batch, or when the timeout passes).
  void Poll(std::chrono::milliseconds timeout);
  // Rows printed so far.
  int rows() const { return rows_; }
  // Prints counts per status, latency percentiles and where the files are.
  void PrintSummary();
  // False when a corrected frame or overlay could not be written.
  bool files_ok() const { return files_ok_; }

 private:
  struct Pending {
    std::optional<v1::RegistrationResult> registration;
    std::optional<v1::DriftEstimate> drift;
    std::optional<v1::CorrectedFrame> corrected;
    std::optional<v1::Sites> sites;
    int64_t received_unix_ns = 0;  // when the registration arrived
    bool row_done = false;
    bool files_done = false;
  };

  void Handle(const std::string& topic, const std::string& payload);
  void Advance(uint64_t sequence);
  void PrintRow(const Pending& p);
  void WriteFiles(const Pending& p);
  void Prune(uint64_t newest);

  zmq::socket_t socket_;
  std::string out_dir_;
  std::ostream& out_;
  std::map<uint64_t, Pending> pending_;
  int rows_ = 0;
  bool files_ok_ = true;
  int files_written_ = 0;
  std::map<std::string, int> status_counts_;
  std::vector<double> latencies_ms_;
};

}  // namespace anchord::daemon
