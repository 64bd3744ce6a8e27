#include "daemon/offline/result_json.h"

#include "anchord/quality/metrics.h"
#include "anchord/util/status.h"

#include <cmath>
#include <fstream>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

namespace anchord::daemon {
namespace {

Json Point(const Vec2& p) {
  return Json::array({JsonNumber(p.x()), JsonNumber(p.y())});
}

// Row-major 3×3, as the contract spells H.
Json MatrixRowMajor(const Mat3& m) {
  Json out = Json::array();
  for (int r = 0; r < 3; ++r) {
    for (int c = 0; c < 3; ++c) out.push_back(JsonNumber(m(r, c)));
  }
  return out;
}

Json TimingJson(const std::vector<std::pair<std::string, double>>& timing_ms) {
  Json out = Json::object();
  double sum_ms = 0;
  for (const auto& [stage, ms] : timing_ms) {
    out[stage] = JsonNumber(ms);
    if (stage != "total") sum_ms += ms;
  }
  if (!out.contains("total")) out["total"] = JsonNumber(sum_ms);
  return out;
}

Json LatticeJson(const RegisterResult& registration,
                 const LocalLattice& local) {
  Json out;
  out["residual_rms_px"] = JsonNumber(registration.residual_rms_px);
  out["residual_rms_nm"] = JsonNumber(registration.residual_rms_nm);
  out["inliers"] = registration.inliers;
  out["a1_px"] = Point(local.a1_px);
  out["a2_px"] = Point(local.a2_px);
  return out;
}

Json CalibrationJson(const Calibration& c) {
  Json out;
  out["scale_x"] = JsonNumber(c.scale_x);
  out["scale_y"] = JsonNumber(c.scale_y);
  out["nonorthogonality_deg"] = JsonNumber(c.nonorthogonality_deg);
  out["rotation_deg"] = JsonNumber(c.rotation_deg);
  return out;
}

// Pixel and model-nm position plus cell, the keys every site shares.
void AddSitePosition(
    const Vec2& p_px, const Vec2& model_nm, int i, int j, Json& out) {
  out["x_px"] = JsonNumber(p_px.x());
  out["y_px"] = JsonNumber(p_px.y());
  out["x_nm"] = JsonNumber(model_nm.x());
  out["y_nm"] = JsonNumber(model_nm.y());
  out["i"] = i;
  out["j"] = j;
}

Json CornerHolesJson(const std::vector<CornerHoleSite>& holes) {
  Json out = Json::array();
  for (const CornerHoleSite& h : holes) {
    Json hole;
    AddSitePosition(h.p_px, h.model_nm, h.i, h.j, hole);
    hole["detected"] = h.detected;
    out.push_back(std::move(hole));
  }
  return out;
}

Json AdatomsJson(const std::vector<AdatomSite>& adatoms) {
  Json out = Json::array();
  for (const AdatomSite& a : adatoms) {
    Json site;
    AddSitePosition(a.p_px, a.model_nm, a.i, a.j, site);
    site["half"] = HalfName(a.half);
    site["kind"] = SiteKindName(a.kind);
    site["code_index"] = a.code_index;
    site["faulted"] = a.faulted;
    site["occupied"] = a.occupied;
    site["confidence"] = JsonNumber(a.confidence);
    out.push_back(std::move(site));
  }
  return out;
}

void AddEmptyGeometry(Json& out) {
  out["image_from_model"] = nullptr;
  out["lattice"] = nullptr;
  out["calibration"] = nullptr;
  out["corner_holes"] = Json::array();
  out["adatoms"] = Json::array();
  out["vacancies"] = 0;
  out["faulted_contrast"] = nullptr;
  out["corrected"] = nullptr;
}

// Where the corrected frame sits in the model plane: column u, row v show
// model point (x0_nm + u·pixel_nm, y0_nm − v·pixel_nm).
// The frame's quality (anchord/quality/image_quality.h), null unless the
// frame registered and the quality was computed.
Json QualityJson(const FrameResult& result) {
  const FrameQuality& q = result.quality;
  if (!result.status.ok() || !q.status.ok() || q.cells + q.model_sites == 0) {
    return nullptr;
  }
  return {{"ssim", JsonNumber(q.ssim)},
          {"cells", q.cells},
          {"cell_ssim_median", JsonNumber(q.cell_ssim_median)},
          {"cell_ssim_p10", JsonNumber(q.cell_ssim_p10)},
          {"cell_ssim_min", JsonNumber(q.cell_ssim_min)},
          {"low_cell_fraction", JsonNumber(q.low_cell_fraction)},
          {"emd_nm", JsonNumber(q.emd_nm)},
          {"maxima", q.maxima},
          {"model_sites", q.model_sites},
          {"emd_exact", q.emd_exact}};
}

Json CorrectedGridJson(const CorrectedFrame& c) {
  if (!c.status.ok() || c.image.empty()) return nullptr;
  Json out;
  out["width"] = c.image.cols;
  out["height"] = c.image.rows;
  out["pixel_nm"] = JsonNumber(c.pixel_nm);
  out["x0_nm"] = JsonNumber(c.x0_nm);
  out["y0_nm"] = JsonNumber(c.y0_nm);
  return out;
}

void AddGeometry(const Frame& frame,
                 const FrameResult& result,
                 const LatticeModel& model,
                 int width,
                 int height,
                 Json& out) {
  const Mat3& h = result.image_from_model;
  const LocalLattice local = LocalLatticeAtCentre(h, model, width, height);
  out["image_from_model"] = MatrixRowMajor(h);
  out["lattice"] = LatticeJson(result.registration, local);
  out["calibration"] = CalibrationJson(CalibrationFromHomography(
      h, local.centre_px, frame.pixel_size_x_nm, frame.pixel_size_y_nm));
  out["corner_holes"] = CornerHolesJson(result.sites.corner_holes);
  out["adatoms"] = AdatomsJson(result.sites.adatoms);
  out["vacancies"] = result.sites.vacancies;
  out["faulted_contrast"] = JsonNumber(result.sites.faulted_contrast);
  out["corrected"] = CorrectedGridJson(result.corrected);
}

Json SyntheticOptionsJson(const SyntheticScanOptions& o) {
  Json out;
  out["width_px"] = o.width_px;
  out["height_px"] = o.height_px;
  out["field_of_view_nm"] = JsonNumber(o.field_of_view_nm);
  out["rotation_deg"] = JsonNumber(o.rotation_deg);
  out["scale_error_x"] = JsonNumber(o.scale_error_x);
  out["scale_error_y"] = JsonNumber(o.scale_error_y);
  out["shear"] = JsonNumber(o.shear);
  out["perspective"] = JsonNumber(o.perspective);
  out["perspective_angle_deg"] = JsonNumber(o.perspective_angle_deg);
  out["offset_nm"] = Point(o.offset_nm);
  out["creep_px"] = JsonNumber(o.creep_px);
  out["creep_angle_deg"] = JsonNumber(o.creep_angle_deg);
  out["creep_tau_rows"] = JsonNumber(o.creep_tau_rows);
  out["noise"] = JsonNumber(o.noise);
  out["line_noise"] = JsonNumber(o.line_noise);
  out["tilt"] = JsonNumber(o.tilt);
  out["glitch_lines"] = o.glitch_lines;
  out["blur_nm"] = JsonNumber(o.blur_nm);
  out["vacancy_fraction"] = JsonNumber(o.vacancy_fraction);
  out["adsorbates"] = o.adsorbates;
  out["faulted_half"] = HalfName(o.faulted_half);
  out["faulted_contrast"] = JsonNumber(o.faulted_contrast);
  out["adatom_sigma_nm"] = JsonNumber(o.adatom_sigma_nm);
  out["hole_sigma_nm"] = JsonNumber(o.hole_sigma_nm);
  out["hole_depth"] = JsonNumber(o.hole_depth);
  out["hole_size_jitter"] = JsonNumber(o.hole_size_jitter);
  out["seed"] = o.seed;
  return out;
}

Json TruthAdatomsJson(const std::vector<TruthAdatom>& adatoms) {
  Json out = Json::array();
  for (const TruthAdatom& a : adatoms) {
    Json site;
    AddSitePosition(a.p_px, a.model_nm, a.i, a.j, site);
    site["half"] = HalfName(a.half);
    site["kind"] = SiteKindName(a.kind);
    site["faulted"] = a.faulted;
    site["occupied"] = a.occupied;
    out.push_back(std::move(site));
  }
  return out;
}

Json TruthCornerHolesJson(const std::vector<TruthCornerHole>& holes) {
  Json out = Json::array();
  for (const TruthCornerHole& h : holes) {
    Json hole;
    AddSitePosition(h.p_px, h.model_nm, h.i, h.j, hole);
    out.push_back(std::move(hole));
  }
  return out;
}

}  // namespace

Json JsonNumber(double value) {
  if (!std::isfinite(value)) return nullptr;
  return value;
}

Json FrameResultToJson(const Frame& frame,
                       const FrameResult& result,
                       const LatticeModel& model) {
  const int width = result.width > 0 ? result.width : frame.image.cols;
  const int height = result.height > 0 ? result.height : frame.image.rows;
  Json out;
  out["source"] = frame.source;
  out["status"] = StatusCodeName(result.status.code());
  out["message"] = result.status.message();
  out["width"] = width;
  out["height"] = height;
  out["channel"] = frame.channel;
  // The scanned rows (a scan stopped early leaves the others NaN).
  out["scanned"] = {{"row_begin", result.scanned_row_begin},
                    {"row_end", result.scanned_row_end},
                    {"fraction", JsonNumber(result.scanned_fraction)}};
  if (result.status.ok()) {
    AddGeometry(frame, result, model, width, height, out);
  } else {
    AddEmptyGeometry(out);
  }
  out["quality"] = QualityJson(result);
  out["candidates"] = result.candidates;
  out["voted_candidates"] = result.voted_candidates;
  out["timing_ms"] = TimingJson(result.timing_ms);
  return out;
}

Json InputErrorJson(const std::string& source,
                    const Status& status,
                    double total_ms) {
  Json out;
  out["source"] = source;
  out["status"] = StatusCodeName(status.code());
  out["message"] = status.message();
  out["width"] = 0;
  out["height"] = 0;
  out["scanned"] = {{"row_begin", 0}, {"row_end", 0}, {"fraction", 0.0}};
  AddEmptyGeometry(out);
  out["candidates"] = 0;
  out["voted_candidates"] = 0;
  out["timing_ms"] = TimingJson({{"total", total_ms}});
  return out;
}

Json SyntheticTruthToJson(const SyntheticScan& scan,
                          const SyntheticScanOptions& options) {
  Json out;
  out["source"] = scan.frame.source;
  out["width"] = scan.frame.image.cols;
  out["height"] = scan.frame.image.rows;
  out["pixel_size_x_nm"] = JsonNumber(scan.frame.pixel_size_x_nm);
  out["pixel_size_y_nm"] = JsonNumber(scan.frame.pixel_size_y_nm);
  out["image_from_model"] = MatrixRowMajor(scan.image_from_model);
  out["options"] = SyntheticOptionsJson(options);
  out["corner_holes"] = TruthCornerHolesJson(scan.corner_holes);
  out["adatoms"] = TruthAdatomsJson(scan.adatoms);
  Json adsorbates = Json::array();
  for (const Vec2& p : scan.adsorbates_px) adsorbates.push_back(Point(p));
  out["adsorbates_px"] = std::move(adsorbates);
  out["glitch_rows"] = scan.glitch_rows;
  return out;
}

std::string ToJsonLine(const Json& json) {
  return json.dump(-1, ' ', false, Json::error_handler_t::replace);
}

bool AppendJsonLine(const std::string& path, const Json& json) {
  std::ofstream file;
  if (!path.empty()) file.open(path, std::ios::app);
  std::ostream& out = path.empty() ? std::cout : file;
  out << ToJsonLine(json) << '\n' << std::flush;
  return static_cast<bool>(out);
}

}  // namespace anchord::daemon
