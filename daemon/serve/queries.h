#pragma once

// What the daemon's queries select: the filters of a QueryRequest applied
// to the latest sites, and a find_defects request as a catalog query. The
// requests are validated where they are decoded (daemon/wire/wire.h,
// DecodeQuery).

#include "anchord/v1/anchord.pb.h"

#include "daemon/catalog/catalog.h"

#include <cstdint>
#include <string>

namespace anchord::daemon {

// The catalog query of a valid FindDefects for `session`; limit 0 becomes
// max_limit and larger limits are clamped to it.
DefectQuery ToDefectQuery(const v1::QueryRequest::FindDefects& query,
                          const std::string& session,
                          int64_t max_limit);

// The sites of `sites` inside the query's closed rectangle (corners in any
// order) that pass its occupancy and kind filters, in their original
// order, with the same frame_id and sequence. Requires a valid query
// (non-finite bounds match nothing).
v1::Sites SitesInRect(const v1::Sites& sites,
                      const v1::QueryRequest::SitesInRect& query);

}  // namespace anchord::daemon
