#pragma once

// The per-field checks of CheckSessionTrackerState, for Track to refuse a
// frame that would put a value outside TrackerStateLimits into the state
// (so that an exported state always restores). Each returns kOk or
// kInvalidInput naming `field` and the violated limit.

#include "anchord/util/geometry.h"
#include "anchord/util/status.h"

#include <cstdint>
#include <string>

namespace anchord::internal {

// A finite time within ±kMaxSessionTimeS.
Status CheckTime(const std::string& field, double t);
// A finite scanner position within ±kMaxScannerNm on both axes.
Status CheckScanner(const std::string& field, const Vec2& p);
// A session cell within ±kMaxCellIndex on both indices.
Status CheckCell(const std::string& field, int64_t i, int64_t j);
// The scanner map: finite, norm <= kMaxScannerMapNorm, |det| >=
// kMinScannerMapDet; its offset a scanner position.
Status CheckScannerMap(const Mat2& l, const Vec2& offset_nm);

}  // namespace anchord::internal
