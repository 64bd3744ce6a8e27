#pragma once

#include "anchord/model/lattice_model.h"
#include "anchord/pipeline/register_frame.h"
#include "anchord/quality/metrics.h"
#include "anchord/synth/synthetic_scan.h"
#include "anchord/util/frame.h"
#include "anchord/util/geometry.h"
#include "anchord/util/status.h"

#include <nlohmann/json.hpp>

#include <string>

namespace anchord::daemon {

// JSON with keys in insertion order, so that a result reads top-down
// (source and status first) in a terminal.
using Json = nlohmann::ordered_json;

// A number, or null when `value` is not finite: JSON has no NaN or Inf.
Json JsonNumber(double value);

// The `anchord register` result object of one frame (the schema is the
// contract documented in register_command.h). `frame` is the input as
// registered (source and pixel size are taken from it); `result` is what
// RegisterFrame returned for it. Geometry keys are null or empty unless
// result.status is ok; non-finite numbers are written as null.
Json FrameResultToJson(const Frame& frame,
                       const FrameResult& result,
                       const LatticeModel& model);

// The result object of an input that never reached the pipeline (it could
// not be read, or processing it failed unexpectedly): same keys as
// FrameResultToJson with status and message from `status`, width and
// height 0, geometry empty, timing {"total": total_ms}.
Json InputErrorJson(const std::string& source,
                    const Status& status,
                    double total_ms);

// The ground truth of a synthetic scan: the generator options, the true
// image_from_model (projective part, row-major 3×3), the pixel size, and
// every adatom and corner hole inside the frame in pixels and model nm.
Json SyntheticTruthToJson(const SyntheticScan& scan,
                          const SyntheticScanOptions& options);

// One line of compact JSON; invalid UTF-8 (e.g. in a file name) is
// replaced rather than thrown on.
std::string ToJsonLine(const Json& json);

// Writes `json` as one line, flushed: to stdout when `path` is empty, else
// appended to the file at `path`. False when it could not be written.
bool AppendJsonLine(const std::string& path, const Json& json);

}  // namespace anchord::daemon
