#include "daemon/wire/results.h"

#include "anchord/quality/metrics.h"
#include "anchord/util/check.h"
#include "anchord/util/checked_round.h"

#include "daemon/wire/little_endian.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <utility>

namespace anchord::daemon {
namespace {

void SetVector(const Vec2& p, v1::Vector2* out) {
  out->set_x(p.x());
  out->set_y(p.y());
}

v1::Half ToProtoHalf(Half half) {
  return half == Half::kT1 ? v1::HALF_T1 : v1::HALF_T2;
}

v1::SiteKind ToProtoKind(SiteKind kind) {
  return kind == SiteKind::kCorner ? v1::SITE_KIND_CORNER
                                   : v1::SITE_KIND_CENTER;
}

void SetTiming(const std::vector<std::pair<std::string, double>>& timing_ms,
               v1::RegistrationResult* out) {
  double sum_ms = 0;
  bool has_total = false;
  for (const auto& [stage, ms] : timing_ms) {
    v1::StageTime* t = out->add_timing();
    t->set_stage(stage);
    t->set_ms(ms);
    if (stage == "total") {
      has_total = true;
    } else {
      sum_ms += ms;
    }
  }
  if (!has_total) {
    v1::StageTime* t = out->add_timing();
    t->set_stage("total");
    t->set_ms(sum_ms);
  }
}

void SetCornerHoles(const std::vector<CornerHoleSite>& holes,
                    v1::RegistrationResult* out) {
  out->mutable_corner_holes()->Reserve(static_cast<int>(holes.size()));
  for (const CornerHoleSite& h : holes) {
    v1::CornerHole* hole = out->add_corner_holes();
    hole->set_x_px(h.p_px.x());
    hole->set_y_px(h.p_px.y());
    hole->set_x_nm(h.model_nm.x());
    hole->set_y_nm(h.model_nm.y());
    hole->set_i(h.i);
    hole->set_j(h.j);
    hole->set_detected(h.detected);
  }
}

// H, lattice figures, calibration, corner holes and counts of an ok
// result.
void SetGeometry(const Frame& frame,
                 const FrameResult& result,
                 const LatticeModel& model,
                 v1::RegistrationResult* out) {
  const Mat3& h = result.image_from_model;
  for (int r = 0; r < 3; ++r) {
    for (int c = 0; c < 3; ++c) out->add_image_from_model(h(r, c));
  }
  const LocalLattice local =
      LocalLatticeAtCentre(h, model, static_cast<int>(out->width()),
                           static_cast<int>(out->height()));
  v1::LatticeFigures* lattice = out->mutable_lattice();
  lattice->set_residual_rms_px(result.registration.residual_rms_px);
  lattice->set_residual_rms_nm(result.registration.residual_rms_nm);
  lattice->set_inliers(
      static_cast<uint32_t>(std::max(0, result.registration.inliers)));
  SetVector(local.a1_px, lattice->mutable_a1_px());
  SetVector(local.a2_px, lattice->mutable_a2_px());

  const Calibration c = CalibrationFromHomography(
      h, local.centre_px, frame.pixel_size_x_nm, frame.pixel_size_y_nm);
  v1::Calibration* calibration = out->mutable_calibration();
  calibration->set_scale_x(c.scale_x);
  calibration->set_scale_y(c.scale_y);
  calibration->set_nonorthogonality_deg(c.nonorthogonality_deg);
  calibration->set_rotation_deg(c.rotation_deg);

  SetCornerHoles(result.sites.corner_holes, out);
  out->set_adatoms(static_cast<uint32_t>(result.sites.adatoms.size()));
  out->set_vacancies(
      static_cast<uint32_t>(std::max(0, result.sites.vacancies)));
  out->set_faulted_contrast(result.sites.faulted_contrast);
}

void SetAdatom(const AdatomSite& a, v1::Adatom* out) {
  out->set_x_px(a.p_px.x());
  out->set_y_px(a.p_px.y());
  out->set_x_nm(a.model_nm.x());
  out->set_y_nm(a.model_nm.y());
  out->set_i(a.i);
  out->set_j(a.j);
  out->set_half(ToProtoHalf(a.half));
  out->set_kind(ToProtoKind(a.kind));
  out->set_code_index(static_cast<uint32_t>(std::max(0, a.code_index)));
  out->set_faulted(a.faulted);
  out->set_occupied(a.occupied);
  out->set_confidence(a.confidence);
}

uint32_t ClampU32(size_t n) {
  return static_cast<uint32_t>(
      std::min<size_t>(n, std::numeric_limits<uint32_t>::max()));
}

void SetQuality(const FrameQuality& q, v1::FrameQuality* out) {
  out->set_ssim(q.ssim);
  out->set_cells(static_cast<uint32_t>(std::max(0, q.cells)));
  out->set_cell_ssim_median(q.cell_ssim_median);
  out->set_cell_ssim_p10(q.cell_ssim_p10);
  out->set_cell_ssim_min(q.cell_ssim_min);
  out->set_low_cell_fraction(q.low_cell_fraction);
  out->set_emd_nm(q.emd_nm);
  out->set_maxima(static_cast<uint32_t>(std::max(0, q.maxima)));
  out->set_model_sites(static_cast<uint32_t>(std::max(0, q.model_sites)));
  out->set_emd_exact(q.emd_exact);
}

}  // namespace

v1::ResultStatus ToProtoStatus(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return v1::RESULT_STATUS_OK;
    case StatusCode::kNoLattice:
      return v1::RESULT_STATUS_NO_LATTICE;
    case StatusCode::kInvalidInput:
      return v1::RESULT_STATUS_INVALID_INPUT;
    case StatusCode::kInternal:
      return v1::RESULT_STATUS_INTERNAL_ERROR;
  }
  return v1::RESULT_STATUS_INTERNAL_ERROR;
}

v1::RegistrationResult MakeRegistrationResult(const InboundFrame& in,
                                              uint64_t sequence,
                                              const Status& decode_status,
                                              const FrameResult* result,
                                              const LatticeModel& model,
                                              double latency_ms,
                                              int64_t received_unix_ns) {
  v1::RegistrationResult out;
  out.set_frame_id(in.frame_id);
  out.set_instrument(in.instrument);
  out.set_session(in.session);
  out.set_sequence(sequence);
  out.set_acquired_unix_ns(in.acquired_unix_ns);
  out.set_latency_ms(latency_ms);
  out.set_received_unix_ns(received_unix_ns);
  if (!decode_status.ok()) {
    out.set_status(ToProtoStatus(decode_status.code()));
    out.set_message(decode_status.message());
    return out;
  }
  ANCHORD_CHECK(result != nullptr) << "a decoded frame needs its result";
  out.set_status(ToProtoStatus(result->status.code()));
  out.set_message(result->status.message());
  out.set_width(static_cast<uint32_t>(result->width > 0 ? result->width
                                                        : in.frame.image.cols));
  out.set_height(static_cast<uint32_t>(
      result->height > 0 ? result->height : in.frame.image.rows));
  out.set_candidates(static_cast<uint32_t>(std::max(0, result->candidates)));
  out.set_voted_candidates(
      static_cast<uint32_t>(std::max(0, result->voted_candidates)));
  if (result->scanned_row_end > result->scanned_row_begin) {
    out.set_scanned_row_begin(
        static_cast<uint32_t>(std::max(0, result->scanned_row_begin)));
    out.set_scanned_row_end(static_cast<uint32_t>(result->scanned_row_end));
    out.set_scanned_fraction(result->scanned_fraction);
  }
  if (result->status.ok()) SetGeometry(in.frame, *result, model, &out);
  if (result->status.ok() && result->quality.status.ok() &&
      result->quality.cells + result->quality.model_sites > 0) {
    SetQuality(result->quality, out.mutable_quality());
  }
  SetTiming(result->timing_ms, &out);
  return out;
}

bool HasCorrectedFrame(const FrameResult& result) {
  return result.status.ok() && result.corrected.status.ok() &&
         !result.corrected.image.empty();
}

v1::CorrectedFrame MakeCorrectedFrame(const InboundFrame& in,
                                      uint64_t sequence,
                                      const FrameResult& result) {
  v1::CorrectedFrame out;
  out.set_frame_id(in.frame_id);
  out.set_sequence(sequence);
  if (!HasCorrectedFrame(result)) return out;
  const CorrectedFrame& c = result.corrected;
  out.set_width(static_cast<uint32_t>(c.image.cols));
  out.set_height(static_cast<uint32_t>(c.image.rows));
  out.set_pixel_nm(c.pixel_nm);
  out.set_x0_nm(c.x0_nm);
  out.set_y0_nm(c.y0_nm);
  AppendFloat32LittleEndian(c.image, out.mutable_pixels());
  return out;
}

v1::Sites MakeSites(const InboundFrame& in,
                    uint64_t sequence,
                    const FrameResult& result) {
  v1::Sites out;
  out.set_frame_id(in.frame_id);
  out.set_sequence(sequence);
  if (!result.status.ok()) return out;
  out.mutable_adatoms()->Reserve(static_cast<int>(result.sites.adatoms.size()));
  for (const AdatomSite& a : result.sites.adatoms) {
    SetAdatom(a, out.add_adatoms());
  }
  return out;
}

v1::DriftEstimate MakeDriftEstimate(const InboundFrame& in,
                                    uint64_t sequence,
                                    const TrackResult& track) {
  v1::DriftEstimate out;
  out.set_frame_id(in.frame_id);
  out.set_sequence(sequence);
  out.set_session(in.session);
  const DriftReport& d = track.drift;
  out.set_valid(d.valid);
  out.set_message(d.message);
  if (d.valid) {
    out.set_velocity_x_nm_per_s(d.velocity_nm_per_s.x());
    out.set_velocity_y_nm_per_s(d.velocity_nm_per_s.y());
    out.set_velocity_x_sigma_nm_per_s(d.velocity_sigma_nm_per_s.x());
    out.set_velocity_y_sigma_nm_per_s(d.velocity_sigma_nm_per_s.y());
    out.set_compensation_x_m_per_s(d.velocity_nm_per_s.x() * 1e-9);
    out.set_compensation_y_m_per_s(d.velocity_nm_per_s.y() * 1e-9);
    out.set_creep_rate_x_nm_per_s(d.creep_rate_nm_per_s.x());
    out.set_creep_rate_y_nm_per_s(d.creep_rate_nm_per_s.y());
    out.set_creep_remaining_x_nm(d.creep_remaining_nm.x());
    out.set_creep_remaining_y_nm(d.creep_remaining_nm.y());
    out.set_apparent_x_nm_per_s(d.apparent_velocity_nm_per_s.x());
    out.set_apparent_y_nm_per_s(d.apparent_velocity_nm_per_s.y());
    // A finite but absurd prediction does not fit in int64 ns: 0, unknown.
    out.set_next_frame_unix_ns(
        RoundToInt64(d.next_frame_unix_s * 1e9).value_or(0));
    out.set_next_scan_offset_x_nm(d.next_scan_offset_nm.x());
    out.set_next_scan_offset_y_nm(d.next_scan_offset_nm.y());
    out.set_centre_correction_x_nm(d.centre_correction_nm.x());
    out.set_centre_correction_y_nm(d.centre_correction_nm.y());
    out.set_frames_used(static_cast<uint32_t>(d.frames));
    out.set_residual_rms_nm(d.residual_rms_nm);
  }
  switch (d.source) {
    case DriftSource::kNone:
      out.set_source(v1::DRIFT_SOURCE_NONE);
      break;
    case DriftSource::kLattice:
      out.set_source(v1::DRIFT_SOURCE_LATTICE);
      break;
    case DriftSource::kAlignment:
      out.set_source(v1::DRIFT_SOURCE_ALIGNMENT);
      break;
  }
  const Placement& p = track.placement;
  out.set_placed(p.placed);
  out.set_placement_confidence(p.confidence);
  out.set_placement_message(p.message);
  if (p.placed) {
    switch (p.method) {
      case PlacementMethod::kFirst:
        out.set_placement_method(v1::PLACEMENT_METHOD_FIRST);
        break;
      case PlacementMethod::kPrediction:
        out.set_placement_method(v1::PLACEMENT_METHOD_PREDICTION);
        break;
      case PlacementMethod::kCodes:
        out.set_placement_method(v1::PLACEMENT_METHOD_CODES);
        break;
    }
    out.set_rotation_steps(p.rotation_steps);
    out.set_n1(p.n1);
    out.set_n2(p.n2);
    out.set_centre_session_x_nm(p.centre_session_nm.x());
    out.set_centre_session_y_nm(p.centre_session_nm.y());
  }
  return out;
}

v1::DefectKind ToProtoDefectKind(DefectKind kind) {
  return kind == DefectKind::kVacancy ? v1::DEFECT_KIND_VACANCY
                                      : v1::DEFECT_KIND_OFF_LATTICE;
}

void SetDefect(const DefectRecord& r, const Vec2& p_px, v1::Defect* out) {
  out->set_id(r.id);
  out->set_kind(ToProtoDefectKind(r.kind));
  out->set_x_nm(r.session_nm.x());
  out->set_y_nm(r.session_nm.y());
  out->set_sigma_nm(r.sigma_nm);
  out->set_x_px(p_px.x());
  out->set_y_px(p_px.y());
  out->set_i(r.kind == DefectKind::kVacancy ? r.i : 0);
  out->set_j(r.kind == DefectKind::kVacancy ? r.j : 0);
  out->set_site(r.kind == DefectKind::kVacancy ? r.site : -1);
  out->set_first_seen_unix_ns(r.first_seen_unix_ns);
  out->set_last_seen_unix_ns(r.last_seen_unix_ns);
  out->set_times_seen(r.times_seen);
  out->set_times_observed(r.times_observed);
  out->set_active(r.active());
  out->set_changed_unix_ns(r.changed_unix_ns);
}

v1::Status MakeStatus(const DaemonCounters& counters, int64_t time_unix_ns) {
  v1::Status out;
  out.set_time_unix_ns(time_unix_ns);
  out.set_uptime_s(counters.uptime_s);
  out.set_config_version(counters.config_version);
  out.set_frames_received(counters.frames_received);
  out.set_frames_published(counters.frames_published);
  out.set_frames_dropped(counters.frames_dropped);
  out.set_frames_invalid(counters.frames_invalid);
  out.set_frames_no_lattice(counters.frames_no_lattice);
  out.set_frames_internal_error(counters.frames_internal_error);
  out.set_reorder_skipped(counters.reorder_skipped);
  out.set_catalog_sessions_evicted(counters.catalog_sessions_evicted);
  out.set_catalog_defects_evicted(counters.catalog_defects_evicted);
  out.set_trackers_evicted(counters.trackers_evicted);
  for (const StageStatsView& s : counters.stages) {
    v1::StageStats* stage = out.add_stages();
    stage->set_name(s.name);
    stage->set_queue_depth(ClampU32(s.queue_depth));
    stage->set_queue_capacity(ClampU32(s.queue_capacity));
    stage->set_dropped(s.dropped);
    stage->set_errors(s.errors);
    stage->set_processed(s.processed);
    stage->set_exec_ms_p50(s.exec_ms_p50);
    stage->set_exec_ms_p90(s.exec_ms_p90);
    stage->set_exec_ms_p99(s.exec_ms_p99);
    stage->set_exec_ms_max(s.exec_ms_max);
  }
  return out;
}

}  // namespace anchord::daemon
