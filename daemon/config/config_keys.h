#pragma once

// The configuration's schema, internal to daemon/config: every TOML key
// with its table and the DaemonConfig field it fills, in one place
// (ForEachKey), for the loader, the writer and ChangedKeys.

#include "daemon/config/config.h"

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace anchord::daemon::config_internal {

// One spelling of an enum value in the configuration file.
template <typename E>
struct EnumSpelling {
  E value;
  const char* name;
};

inline constexpr EnumSpelling<FramesMode> kFramesModes[] = {
    {FramesMode::kConnect, "connect"},
    {FramesMode::kBind, "bind"},
};
inline constexpr EnumSpelling<OverflowPolicy> kOverflowPolicies[] = {
    {OverflowPolicy::kDropOldest, "drop_oldest"},
    {OverflowPolicy::kDropNewest, "drop_newest"},
    {OverflowPolicy::kBlock, "block"},
};
inline const EnumSpelling<DetectorKind> kDetectorKinds[] = {
    {DetectorKind::kFast, DetectorKindName(DetectorKind::kFast)},
    {DetectorKind::kSift, DetectorKindName(DetectorKind::kSift)},
};
inline const EnumSpelling<OccupancyMethod> kOccupancyMethods[] = {
    {OccupancyMethod::kTemplate,
     OccupancyMethodName(OccupancyMethod::kTemplate)},
    {OccupancyMethod::kThreshold,
     OccupancyMethodName(OccupancyMethod::kThreshold)},
};
inline constexpr EnumSpelling<HomographyMethod> kHomographyMethods[] = {
    {HomographyMethod::kLmeds, "lmeds"},
    {HomographyMethod::kRansac, "ransac"},
    {HomographyMethod::kUsac, "usac"},
};
// An enum field (E may be const) together with its spellings.
template <typename E>
struct EnumRef {
  E& value;
  std::span<const EnumSpelling<std::remove_const_t<E>>> spellings;
};

template <typename E, std::size_t N>
EnumRef<E> Enum(E& value,
                const EnumSpelling<std::remove_const_t<E>> (&spellings)[N]) {
  return {value, spellings};
}

template <typename T>
struct IsEnumRef : std::false_type {};
template <typename E>
struct IsEnumRef<EnumRef<E>> : std::true_type {};

// The keys of [registration] and its stage tables, in file order;
// `Options` is PipelineOptions or const PipelineOptions.
template <typename Options, typename Visitor>
void ForEachRegistrationKey(Options& r, Visitor& visit) {
  visit("registration", "make_corrected", r.make_corrected);
  visit("registration", "min_cell_px", r.min_cell_px);
  visit("registration", "relevel_axis_angle_deg", r.relevel_axis_angle_deg);

  auto& lv = r.level;
  visit("registration.level", "remove_plane", lv.remove_plane);
  visit("registration.level", "level_lines", lv.level_lines);
  visit("registration.level", "glitch_threshold", lv.glitch_threshold);
  visit("registration.level", "mask_glitches", lv.mask_glitches);
  visit("registration.level", "max_masked_row_fraction",
        lv.max_masked_row_fraction);

  auto& d = r.detect;
  visit("registration.detect", "kind", Enum(d.kind, kDetectorKinds));
  visit("registration.detect", "hole_sigma_fraction", d.hole_sigma_fraction);
  visit("registration.detect", "working_cell_px", d.working_cell_px);
  visit("registration.detect", "min_response_sigma", d.min_response_sigma);
  visit("registration.detect", "nms_fraction", d.nms_fraction);
  visit("registration.detect", "max_candidates_per_cell",
        d.max_candidates_per_cell);

  auto& la = r.lattice;
  visit("registration.lattice", "min_scale_ratio", la.min_scale_ratio);
  visit("registration.lattice", "max_scale_ratio", la.max_scale_ratio);
  visit("registration.lattice", "cluster_tolerance", la.cluster_tolerance);
  visit("registration.lattice", "min_support_fraction",
        la.min_support_fraction);
  visit("registration.lattice", "vote_tolerance", la.vote_tolerance);

  auto& rg = r.homography;
  visit("registration.homography", "method",
        Enum(rg.method, kHomographyMethods));
  visit("registration.homography", "gate_fraction", rg.gate_fraction);
  visit("registration.homography", "initial_window_cells",
        rg.initial_window_cells);
  visit("registration.homography", "window_growth", rg.window_growth);
  visit("registration.homography", "ransac_threshold_fraction",
        rg.ransac_threshold_fraction);
  visit("registration.homography", "inlier_sigmas", rg.inlier_sigmas);
  visit("registration.homography", "min_inlier_px", rg.min_inlier_px);
  visit("registration.homography", "max_iterations", rg.max_iterations);
  visit("registration.homography", "min_inliers", rg.min_inliers);
  visit("registration.homography", "min_paired_fraction",
        rg.min_paired_fraction);
  visit("registration.homography", "propagate_residuals",
        rg.propagate_residuals);

  auto& si = r.sites;
  visit("registration.sites", "border_px", si.border_px);
  visit("registration.sites", "refine_radius_fraction",
        si.refine_radius_fraction);
  visit("registration.sites", "occupancy",
        Enum(si.occupancy, kOccupancyMethods));
  visit("registration.sites", "vacancy_threshold", si.vacancy_threshold);
  visit("registration.sites", "template_window_nm", si.template_window_nm);
  visit("registration.sites", "template_max_shift_nm",
        si.template_max_shift_nm);
  visit("registration.sites", "canonical_faulted_t1", si.canonical_faulted_t1);

  auto& ol = r.off_lattice;
  visit("registration.off_lattice", "enabled", ol.enabled);
  visit("registration.off_lattice", "min_height", ol.min_height);
  visit("registration.off_lattice", "min_site_distance_nm",
        ol.min_site_distance_nm);
  visit("registration.off_lattice", "level_radius_nm", ol.level_radius_nm);
  visit("registration.off_lattice", "border_nm", ol.border_nm);
  visit("registration.off_lattice", "merge_distance_nm", ol.merge_distance_nm);

  auto& co = r.correct;
  visit("registration.correct", "output_pixel_nm", co.output_pixel_nm);
  visit("registration.correct", "max_output_px", co.max_output_px);

  auto& qu = r.quality;
  visit("registration.quality", "enabled", qu.enabled);
  visit("registration.quality", "ssim_window_nm", qu.ssim_window_nm);
  visit("registration.quality", "low_cell_ssim", qu.low_cell_ssim);
  visit("registration.quality", "emd_cap_nm", qu.emd_cap_nm);
}

// The keys of [track] and [track.drift].
template <typename Options, typename Visitor>
void ForEachTrackKey(Options& t, Visitor& visit) {
  visit("track", "prior_velocity_sigma_nm_per_s",
        t.prior_velocity_sigma_nm_per_s);
  visit("track", "min_prediction_sigma_nm", t.min_prediction_sigma_nm);
  visit("track", "max_search_cells", t.max_search_cells);
  visit("track", "max_frame_duration_s", t.max_frame_duration_s);
  visit("track", "min_confidence", t.min_confidence);
  visit("track", "site_error_rate", t.site_error_rate);
  visit("track", "min_site_confidence", t.min_site_confidence);
  visit("track", "min_faulted_contrast", t.min_faulted_contrast);
  visit("track", "border_px", t.border_px);
  visit("track", "max_session_cells", t.max_session_cells);
  visit("track", "feature_sigma_nm", t.feature_sigma_nm);
  auto& td = t.drift;
  visit("track.drift", "window_s", td.window_s);
  visit("track.drift", "max_frames", td.max_frames);
  visit("track.drift", "creep_tau_s", td.creep_tau_s);
  visit("track.drift", "outlier_sigmas", td.outlier_sigmas);
  visit("track.drift", "position_sigma_nm", td.position_sigma_nm);
}

// The keys of [catalog].
template <typename Catalog, typename Visitor>
void ForEachCatalogKey(Catalog& ca, Visitor& visit) {
  visit("catalog", "path", ca.options.path);
  visit("catalog", "max_defects_per_session",
        ca.options.max_defects_per_session);
  visit("catalog", "max_age_s", ca.options.max_age_s);
  visit("catalog", "max_sessions", ca.options.max_sessions);
  visit("catalog", "max_defects_total", ca.options.max_defects_total);
  visit("catalog", "match_radius_nm", ca.options.match_radius_nm);
  visit("catalog", "max_query_results", ca.max_query_results);
  visit("catalog", "state_interval_s", ca.state_interval_s);
}

// Calls visit(table, key, field) for every configuration key, in the order
// of config/anchord.toml. `Config` is DaemonConfig or const DaemonConfig;
// `field` is a bool, int, int64_t, double or std::string lvalue, or an
// EnumRef.
template <typename Config, typename Visitor>
void ForEachKey(Config& c, Visitor&& visit) {
  auto& e = c.endpoints;
  visit("endpoints", "frames", e.frames);
  visit("endpoints", "frames_mode", Enum(e.frames_mode, kFramesModes));
  visit("endpoints", "results", e.results);
  visit("endpoints", "queries", e.queries);
  visit("endpoints", "http_metrics", e.http_metrics);

  auto& s = c.security;
  visit("security", "curve_server_secret_key_file",
        s.curve_server_secret_key_file);
  visit("security", "curve_allowed_client_keys_file",
        s.curve_allowed_client_keys_file);

  auto& p = c.pipeline;
  visit("pipeline", "workers", p.workers);
  visit("pipeline", "ingest_queue", p.ingest_queue);
  visit("pipeline", "ingest_queue_bytes", p.ingest_queue_bytes);
  visit("pipeline", "ingest_overflow",
        Enum(p.ingest_overflow, kOverflowPolicies));
  visit("pipeline", "reorder_max", p.reorder_max);
  visit("pipeline", "reorder_timeout_ms", p.reorder_timeout_ms);
  visit("pipeline", "stage_deadline_ms", p.stage_deadline_ms);
  visit("pipeline", "drain_timeout_ms", p.drain_timeout_ms);
  visit("pipeline", "status_period_ms", p.status_period_ms);

  auto& l = c.limits;
  visit("limits", "max_side_px", l.max_side_px);
  visit("limits", "min_side_px", l.min_side_px);
  visit("limits", "min_pixel_nm", l.min_pixel_nm);
  visit("limits", "max_pixel_nm", l.max_pixel_nm);
  visit("limits", "max_nonfinite_fraction", l.max_nonfinite_fraction);

  visit("logging", "level", c.logging.level);
  visit("logging", "per_frame_warnings_per_s",
        c.logging.per_frame_warnings_per_s);

  ForEachRegistrationKey(c.registration, visit);
  ForEachTrackKey(c.track, visit);
  ForEachCatalogKey(c.catalog, visit);
}

// Keys and tables of earlier versions, by their full names, and what they
// are called now. A file that still uses one is refused with the new name
// in the message (an old spelling is not accepted beside the new one).
inline constexpr std::pair<std::string_view, std::string_view> kRenamed[] = {
    {"registration.max_nonfinite_fraction", "limits.max_nonfinite_fraction"},
    {"registration.register", "registration.homography"},
};

// The current name of a renamed key or table; empty when `full` was not
// renamed.
inline std::string_view RenamedTo(std::string_view full) {
  for (const auto& [old_name, new_name] : kRenamed) {
    if (full == old_name) return new_name;
  }
  return {};
}

inline std::string JoinKey(std::string_view table, std::string_view key) {
  std::string out(table);
  if (!out.empty()) out += '.';
  out += key;
  return out;
}

// A TOML basic string: quoted, with ", \ and control characters escaped.
std::string QuoteToml(std::string_view s);

}  // namespace anchord::daemon::config_internal
