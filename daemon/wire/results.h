#pragma once

// The wire edge of the daemon, results out: the anchord.v1 messages the
// daemon publishes and answers with, built from the library's results
// (registration, corrected frame, sites, drift, defects) and the daemon's
// counters. Pure functions of their arguments, thread-safe.

#include "anchord/model/lattice_model.h"
#include "anchord/pipeline/register_frame.h"
#include "anchord/track/session_tracker.h"
#include "anchord/util/status.h"
#include "anchord/v1/anchord.pb.h"

#include "daemon/catalog/catalog.h"
#include "daemon/wire/wire.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace anchord::daemon {

// The wire status of a library status code.
v1::ResultStatus ToProtoStatus(StatusCode code);

// The registration result of one frame, sequence `sequence`.
// - When `decode_status` is not ok, the frame never reached the pipeline:
//   status and message come from it, `result` is ignored (may be null),
//   width/height are 0 and no timing is set.
// - Otherwise `result` (required, checked) is what RegisterFrame returned
//   for in.frame with `model`: status, message, size, candidates and
//   timing (per stage, then "total", summed when absent) always; H (9
//   numbers, row-major), lattice figures, calibration (at the frame
//   centre, from in.frame's nominal pixel sizes), corner holes and site
//   counts only when result->status is ok.
// `latency_ms` (receipt → now) and `received_unix_ns` are stored as given.
v1::RegistrationResult MakeRegistrationResult(const InboundFrame& in,
                                              uint64_t sequence,
                                              const Status& decode_status,
                                              const FrameResult* result,
                                              const LatticeModel& model,
                                              double latency_ms,
                                              int64_t received_unix_ns);

// The corrected frame of a registered frame: grid placement and
// little-endian float32 pixels from result.corrected. Only
// ids are set (width = height = 0, no pixels) unless result.status and
// result.corrected.status are ok and the corrected image is not empty;
// publish it only then (see HasCorrectedFrame).
v1::CorrectedFrame MakeCorrectedFrame(const InboundFrame& in,
                                      uint64_t sequence,
                                      const FrameResult& result);
// True when MakeCorrectedFrame(…, result) carries an image.
bool HasCorrectedFrame(const FrameResult& result);

// Every adatom site of a registered frame (empty unless result.status is
// ok), in the order of result.sites.adatoms.
v1::Sites MakeSites(const InboundFrame& in,
                    uint64_t sequence,
                    const FrameResult& result);

// The drift message of one frame from the session tracker's result:
// velocities (nm/s and m/s), creep, prediction, and the frame's placement
// in its session frame. Velocity fields stay 0 unless track.drift.valid.
v1::DriftEstimate MakeDriftEstimate(const InboundFrame& in,
                                    uint64_t sequence,
                                    const TrackResult& track);

// One catalogued defect; p_px is its position in the raw image of the
// frame the enclosing message names.
void SetDefect(const DefectRecord& record, const Vec2& p_px, v1::Defect* out);
v1::DefectKind ToProtoDefectKind(DefectKind kind);

// Counters of one pipeline stage, filled by the pipeline for the status
// message (field names as in v1::StageStats, which documents them).
struct StageStatsView {
  std::string name;
  size_t queue_depth = 0;
  size_t queue_capacity = 0;
  uint64_t dropped = 0;
  uint64_t errors = 0;
  uint64_t processed = 0;
  // Execution time over the stage's recent items, ms; 0 before the first.
  double exec_ms_p50 = 0;
  double exec_ms_p90 = 0;
  double exec_ms_p99 = 0;
  double exec_ms_max = 0;
};

// The daemon's counters since start, filled by the pipeline and the I/O
// thread (field names as in v1::Status, which documents them).
struct DaemonCounters {
  double uptime_s = 0;
  uint64_t config_version = 0;
  uint64_t frames_received = 0;
  uint64_t frames_published = 0;
  uint64_t frames_dropped = 0;
  uint64_t frames_invalid = 0;
  uint64_t frames_no_lattice = 0;
  uint64_t frames_internal_error = 0;
  uint64_t reorder_skipped = 0;
  uint64_t catalog_sessions_evicted = 0;
  uint64_t catalog_defects_evicted = 0;
  uint64_t trackers_evicted = 0;
  std::vector<StageStatsView> stages;  // in pipeline order
};

// The status message of `counters`, stamped `time_unix_ns`. Queue depths
// and capacities beyond 2^32 − 1 are clamped.
v1::Status MakeStatus(const DaemonCounters& counters, int64_t time_unix_ns);

}  // namespace anchord::daemon
