#include "daemon/wire/tracker_state_codec.h"

#include "anchord/v1/tracker_state.pb.h"

#include <cmath>
#include <limits>

namespace anchord::daemon {
namespace {

// The legacy text begins with this (ParseLegacyTrackerState).
constexpr std::string_view kLegacyMagic = "anchord-track-state ";

Status Invalid(const std::string& what) {
  return Status::InvalidInput("stored tracker state: " + what);
}

void EncodeCounts(const std::array<uint16_t, kTrackerSitesPerCell>& counts,
                  google::protobuf::RepeatedField<uint32_t>* out) {
  out->Reserve(kTrackerSitesPerCell);
  for (uint16_t c : counts) out->Add(c);
}

bool DecodeCounts(const google::protobuf::RepeatedField<uint32_t>& in,
                  std::array<uint16_t, kTrackerSitesPerCell>* out) {
  if (in.size() != kTrackerSitesPerCell) return false;
  for (int k = 0; k < kTrackerSitesPerCell; ++k) {
    if (in[k] > std::numeric_limits<uint16_t>::max()) return false;
    (*out)[k] = static_cast<uint16_t>(in[k]);
  }
  return true;
}

// Why `bytes` are not a version 2 TrackerState, or "" with `out` set.
std::string Decode(const std::string& bytes, SessionTrackerState* out) {
  v1::TrackerState m;
  if (!m.ParseFromString(bytes)) return "not a TrackerState message";
  if (m.version() != kTrackerStateVersion) {
    return "TrackerState version " + std::to_string(m.version()) +
           ", this daemon reads version " +
           std::to_string(kTrackerStateVersion);
  }
  if (m.scanner_from_session_size() != 4) {
    return "scanner_from_session holds " +
           std::to_string(m.scanner_from_session_size()) + " values, not 4";
  }
  SessionTrackerState s;
  s.frames_seen = m.frames_seen();
  s.frames_placed = m.frames_placed();
  s.started = m.started();
  s.t0_unix_s = m.t0_unix_s();
  s.faulted_decisive = m.faulted_decisive();
  for (int r = 0; r < 2; ++r) {
    for (int c = 0; c < 2; ++c) {
      s.scanner_from_session(r, c) = m.scanner_from_session(2 * r + c);
    }
  }
  s.scanner_offset_nm = Vec2(m.scanner_offset_x_nm(), m.scanner_offset_y_nm());
  s.offset_change_s = m.has_offset_change_s()
                          ? m.offset_change_s()
                          : std::numeric_limits<double>::quiet_NaN();
  s.have_offset = m.have_offset();
  s.last_offset_nm = Vec2(m.last_offset_x_nm(), m.last_offset_y_nm());
  s.last_centre_s = m.last_centre_s();
  s.frame_starts_s.assign(m.frame_starts_s().begin(), m.frame_starts_s().end());
  s.last_duration_s = m.last_duration_s();
  s.vacant_observations = m.vacant_observations();
  s.present_observations = m.present_observations();
  s.points.reserve(static_cast<size_t>(m.points_size()));
  for (const v1::TrackerState::Point& p : m.points()) {
    s.points.push_back(
        SessionTrackerPoint{p.i(), p.j(), p.frame(), p.t_s(),
                            Vec2(p.scanner_x_nm(), p.scanner_y_nm())});
  }
  s.cells.reserve(static_cast<size_t>(m.cells_size()));
  for (int k = 0; k < m.cells_size(); ++k) {
    const v1::TrackerState::Cell& c = m.cells(k);
    SessionTrackerCell cell{c.i(), c.j(), c.last_frame(), {}, {}};
    if (!DecodeCounts(c.vacant(), &cell.vacant) ||
        !DecodeCounts(c.present(), &cell.present)) {
      return "cells[" + std::to_string(k) +
             "] does not hold 12 vacant and 12 present counts of at most "
             "65535";
    }
    s.cells.push_back(cell);
  }
  *out = std::move(s);
  return "";
}

}  // namespace

Status DecodeTrackerState(const std::string& bytes, SessionTrackerState* out) {
  const std::string issue = Decode(bytes, out);
  return issue.empty() ? Status::Ok() : Invalid(issue);
}

Status ReadStoredTrackerState(const std::string& bytes,
                              SessionTrackerState* out) {
  const std::string issue = Decode(bytes, out);
  if (issue.empty()) return Status::Ok();
  // Text of the legacy format is usually not a TrackerState message at
  // all; when it happens to parse as one, its version is not 2.
  if (bytes.compare(0, kLegacyMagic.size(), kLegacyMagic) != 0) {
    return Invalid("neither a TrackerState message (" + issue +
                   ") nor a legacy text state");
  }
  return ParseLegacyTrackerState(bytes, out);
}

std::string EncodeTrackerState(const SessionTrackerState& s) {
  v1::TrackerState m;
  m.set_version(kTrackerStateVersion);
  m.set_frames_seen(s.frames_seen);
  m.set_frames_placed(s.frames_placed);
  m.set_started(s.started);
  m.set_t0_unix_s(s.t0_unix_s);
  m.set_faulted_decisive(s.faulted_decisive);
  for (int r = 0; r < 2; ++r) {
    for (int c = 0; c < 2; ++c) {
      m.add_scanner_from_session(s.scanner_from_session(r, c));
    }
  }
  m.set_scanner_offset_x_nm(s.scanner_offset_nm.x());
  m.set_scanner_offset_y_nm(s.scanner_offset_nm.y());
  if (!std::isnan(s.offset_change_s)) {
    m.set_offset_change_s(s.offset_change_s);
  }
  m.set_have_offset(s.have_offset);
  m.set_last_offset_x_nm(s.last_offset_nm.x());
  m.set_last_offset_y_nm(s.last_offset_nm.y());
  m.set_last_centre_s(s.last_centre_s);
  for (double t : s.frame_starts_s) m.add_frame_starts_s(t);
  m.set_last_duration_s(s.last_duration_s);
  m.set_vacant_observations(s.vacant_observations);
  m.set_present_observations(s.present_observations);
  m.mutable_points()->Reserve(static_cast<int>(s.points.size()));
  for (const SessionTrackerPoint& p : s.points) {
    v1::TrackerState::Point* out = m.add_points();
    out->set_i(p.i);
    out->set_j(p.j);
    out->set_frame(p.frame);
    out->set_t_s(p.t_s);
    out->set_scanner_x_nm(p.scanner_nm.x());
    out->set_scanner_y_nm(p.scanner_nm.y());
  }
  m.mutable_cells()->Reserve(static_cast<int>(s.cells.size()));
  for (const SessionTrackerCell& c : s.cells) {
    v1::TrackerState::Cell* out = m.add_cells();
    out->set_i(c.i);
    out->set_j(c.j);
    out->set_last_frame(c.last_frame);
    EncodeCounts(c.vacant, out->mutable_vacant());
    EncodeCounts(c.present, out->mutable_present());
  }
  return m.SerializeAsString();
}

}  // namespace anchord::daemon
