#include "anchord/pipeline/register_frame.h"

#include "anchord/correct/unit_cell.h"
#include "anchord/preprocess/integrate.h"
#include "anchord/util/stopwatch.h"
#include "anchord/util/validation.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <limits>
#include <sstream>
#include <utility>

namespace anchord {
namespace {

// True when some pixel is finite; stops at the first one.
bool AnyFinite(const cv::Mat1f& image) {
  for (int y = 0; y < image.rows; ++y) {
    const float* row = image[y];
    for (int x = 0; x < image.cols; ++x) {
      if (std::isfinite(row[x])) return true;
    }
  }
  return false;
}

Status ValidateFrame(const Frame& f) {
  if (f.image.empty()) return Status::InvalidInput("frame: empty image");
  if (f.image.cols < 16 || f.image.rows < 16) {
    return Status::InvalidInput("frame: " + std::to_string(f.image.cols) +
                                " × " + std::to_string(f.image.rows) +
                                " px is below the 16 × 16 minimum");
  }
  for (double s : {f.pixel_size_x_nm, f.pixel_size_y_nm}) {
    if (!std::isfinite(s) || s <= 0 || s > 1e4) {
      std::ostringstream m;
      m << "frame: pixel size " << s << " nm is not in (0, 1e4]";
      return Status::InvalidInput(m.str());
    }
  }
  if (!AnyFinite(f.image)) {
    return Status::InvalidInput("frame: every pixel is NaN or infinite");
  }
  return Status::Ok();
}

// Detect → lattice → vote → register on a levelled frame, into r (the
// candidates, lattice, registration, status). `lap` is called after
// each stage with its name.
template <typename Lap>
void LocateLattice(const cv::Mat1f& levelled,
                   double cell_px,
                   const LatticeModel& model,
                   const PipelineOptions& o,
                   FrameResult& r,
                   Lap&& lap) {
  const DetectResult det = DetectCornerHoles(levelled, cell_px, o.detect);
  r.candidates = static_cast<int>(det.candidates.size());
  lap("detect");
  if (!det.status.ok()) {
    r.status = det.status;
    return;
  }
  r.lattice = EstimateLattice(det.candidates, cell_px, o.lattice);
  lap("lattice");
  if (!r.lattice.status.ok()) {
    r.status = r.lattice.status;
    return;
  }
  CornerHoleRegistration reg =
      RegisterCornerHoles(det.candidates, r.lattice, model, levelled.size(), o);
  r.lattice = reg.lattice;
  r.voted_candidates = reg.voted_candidates;
  r.registration = std::move(reg.registration);
  lap("register");
  r.status = r.registration.status;
}

// Whether a row of corner holes runs within `max_deg` of the fast scan
// axis (image x) at the frame centre: a nearest-neighbour row (along a1,
// a2, a2 − a1) within max_deg, or a √3 row (a1 + a2, 2a2 − a1, a2 − 2a1;
// half the row spacing, a weaker and narrower bias) within max_deg / 2.
bool HoleRowNearFastAxis(const Mat3& image_from_model,
                         const LatticeModel& model,
                         cv::Size size,
                         double max_deg) {
  const Vec2 centre_px(0.5 * (size.width - 1), 0.5 * (size.height - 1));
  const Mat2 j =
      Jacobian(image_from_model, Apply(image_from_model.inverse(), centre_px));
  const auto axis_deg = [&](const Vec2& a) {
    const Vec2 d = j * a;
    return std::atan2(std::abs(d.y()), std::abs(d.x())) * 180.0 / M_PI;
  };
  const Vec2& a1 = model.a1_nm;
  const Vec2& a2 = model.a2_nm;
  for (const Vec2& a : {a1, a2, Vec2(a2 - a1)}) {
    if (axis_deg(a) < max_deg) return true;
  }
  for (const Vec2& a : {Vec2(a1 + a2), Vec2(2 * a2 - a1), Vec2(a2 - 2 * a1)}) {
    if (axis_deg(a) < 0.5 * max_deg) return true;
  }
  return false;
}

// The second levelling (PipelineOptions::relevel_axis_angle_deg): the
// plane-levelled frame folded into its mean cell through the first
// registration, the row offsets estimated against that cell, the lattice
// located again. `level` and `r` are replaced only when the second pass
// registers; otherwise the first stands.
void RelevelAgainstCell(const Frame& frame,
                        double cell_px,
                        const LatticeModel& model,
                        const PipelineOptions& o,
                        LevelResult& level,
                        FrameResult& r) {
  const Mat3& h = r.registration.image_from_model;
  const int bins = std::clamp(static_cast<int>(std::ceil(cell_px)), 8, 64);
  const UnitCellMean cell =
      FoldIntoUnitCell(level.plane_removed, level.row_ok, h, model, bins);
  if (!cell.status.ok()) return;
  const cv::Mat1f signal =
      RenderUnitCell(cell, level.plane_removed.size(), h, model);
  LevelResult second = Level(frame.image, o.level, signal);
  if (!second.status.ok()) return;
  FrameResult trial;
  LocateLattice(second.image, cell_px, model, o, trial, [](const char*) {});
  if (!trial.status.ok()) return;
  level = std::move(second);
  r.candidates = trial.candidates;
  r.lattice = std::move(trial.lattice);
  r.voted_candidates = trial.voted_candidates;
  r.registration = std::move(trial.registration);
}

void RunStages(const Frame& frame,
               const LatticeModel& model,
               const PipelineOptions& o,
               FrameResult& r) {
  Stopwatch watch;
  const auto lap = [&](const char* stage) {
    r.timing_ms.emplace_back(stage, watch.Lap());
  };
  const double px_nm = std::sqrt(frame.pixel_size_x_nm * frame.pixel_size_y_nm);
  const double cell_px = model.lattice_constant_nm() / px_nm;
  if (cell_px < o.min_cell_px) {
    std::ostringstream m;
    m << "a " << model.name << " cell spans " << cell_px
      << " px at this pixel size; at least " << o.min_cell_px
      << " px are needed to resolve it";
    r.status = Status::NoLattice(m.str());
    return;
  }
  LevelResult level = Level(frame.image, o.level);
  lap("level");
  if (!level.status.ok()) {
    r.status = level.status;
    return;
  }
  LocateLattice(level.image, cell_px, model, o, r, lap);
  if (!r.status.ok()) return;
  if (o.level.level_lines && o.relevel_axis_angle_deg > 0 &&
      HoleRowNearFastAxis(r.registration.image_from_model, model,
                          level.image.size(), o.relevel_axis_angle_deg)) {
    RelevelAgainstCell(frame, cell_px, model, o, level, r);
    lap("relevel");
  }
  r.levelled = level.image;
  r.sites = LocateSites(level.image, model, r.registration, o.sites);
  r.image_from_model = r.sites.image_from_model;
  lap("sites");
  if (o.off_lattice.enabled) {
    r.sites.off_lattice =
        FindOffLatticeFeatures(level.image, r.sites, o.off_lattice);
    lap("features");
  }
  if (o.quality.enabled) {
    r.quality = AssessQuality(level.image, r.sites, model, px_nm, o.quality);
    lap("quality");
  }
  if (o.make_corrected) {
    // The levelled frame in the channel's physical unit.
    r.corrected = WarpToModel(level.image * level.scale, r.image_from_model,
                              px_nm, o.correct);
    lap("correct");
  }
}

// A feedback-error channel is registered on its integral along the fast
// axis (IntegrateFastAxis). The error signal's polarity is not known from
// the file, so both are tried; the one that registers with more inliers
// wins. The corrected frame is the error signal itself, warped.
void RunOnErrorSignal(const Frame& frame,
                      const LatticeModel& model,
                      const PipelineOptions& o,
                      FrameResult& r) {
  PipelineOptions trial_options = o;
  trial_options.make_corrected = false;
  bool have = false;
  for (const double sign : {1.0, -1.0}) {
    Stopwatch watch;
    Frame integrated = frame;
    integrated.image = IntegrateFastAxis(frame.image, sign);
    integrated.feedback_error = false;
    FrameResult trial;
    trial.width = r.width;
    trial.height = r.height;
    trial.timing_ms.emplace_back("integrate", watch.Lap());
    RunStages(integrated, model, trial_options, trial);
    const bool better =
        !have ||
        (trial.status.ok() && (!r.status.ok() || trial.registration.inliers >
                                                     r.registration.inliers));
    if (better) r = std::move(trial);
    have = true;
  }
  if (r.status.ok() && o.make_corrected) {
    Stopwatch watch;
    const double px_nm =
        std::sqrt(frame.pixel_size_x_nm * frame.pixel_size_y_nm);
    r.corrected =
        WarpToModel(frame.image, r.image_from_model, px_nm, o.correct);
    r.timing_ms.emplace_back("correct", watch.Lap());
  }
}

// Moves a result computed on rows [dy, dy + rows) of a frame into that
// frame's pixels: H and every position shift by dy rows, the levelled
// and smoothed frames are padded with NaN to `full_rows`.
void ShiftToFullFrame(int dy, int full_rows, FrameResult& r) {
  Mat3 t = Mat3::Identity();
  t(1, 2) = dy;
  r.image_from_model = t * r.image_from_model;
  r.registration.image_from_model = t * r.registration.image_from_model;
  r.sites.image_from_model = t * r.sites.image_from_model;
  const Vec2 d(0, dy);
  for (HolePair& p : r.registration.pairs) p.detected_px += d;
  for (AdatomSite& a : r.sites.adatoms) a.p_px += d;
  for (CornerHoleSite& c : r.sites.corner_holes) c.p_px += d;
  for (OffLatticeFeature& f : r.sites.off_lattice) f.p_px += d;
  for (Vec2& p : r.quality.maxima_px) p += d;
  const auto pad = [&](cv::Mat1f& m) {
    if (m.empty()) return;
    cv::Mat1f full(full_rows, m.cols, std::numeric_limits<float>::quiet_NaN());
    m.copyTo(full.rowRange(dy, dy + m.rows));
    m = full;
  };
  pad(r.levelled);
  pad(r.sites.smoothed);
}

// The stages on the scanned rows of `frame` (see RegisterFrame).
void RunScanned(const Frame& frame,
                const LatticeModel& model,
                const PipelineOptions& o,
                FrameResult& r) {
  const auto [begin, end] = ScannedRows(frame.image);
  // RunOnErrorSignal replaces `r` by its best trial: the scanned part is
  // recorded after each run.
  const auto record = [&, begin = begin, end = end] {
    r.scanned_row_begin = begin;
    r.scanned_row_end = end;
    r.scanned_fraction = double(end - begin) / frame.image.rows;
  };
  const auto run = [&](const Frame& f) {
    if (f.feedback_error) {
      RunOnErrorSignal(f, model, o, r);
    } else {
      RunStages(f, model, o, r);
    }
    record();
  };
  record();
  if (begin == 0 && end == frame.image.rows) {
    run(frame);
    return;
  }
  const double px_nm = std::sqrt(frame.pixel_size_x_nm * frame.pixel_size_y_nm);
  const double cell_px = model.lattice_constant_nm() / px_nm;
  if (end - begin < 16 || end - begin < 2 * cell_px) {
    std::ostringstream m;
    m << "the scanned part (rows " << begin << "–" << end << ", " << end - begin
      << " of " << frame.image.rows
      << ") is too small to hold the lattice: at least "
      << std::max(16.0, std::ceil(2 * cell_px)) << " rows are needed";
    r.status = Status::NoLattice(m.str());
    return;
  }
  Frame part = frame;
  part.image = frame.image.rowRange(begin, end).clone();
  if (frame.line_times_s.size() == static_cast<size_t>(frame.image.rows)) {
    part.line_times_s.assign(frame.line_times_s.begin() + begin,
                             frame.line_times_s.begin() + end);
  }
  run(part);
  r.width = frame.image.cols;
  r.height = frame.image.rows;
  ShiftToFullFrame(begin, frame.image.rows, r);
}

}  // namespace

CornerHoleRegistration RegisterCornerHoles(
    const std::vector<Candidate>& candidates,
    const LatticeEstimate& lattice,
    const LatticeModel& model,
    cv::Size frame_size,
    const PipelineOptions& o) {
  CornerHoleRegistration out;
  out.lattice = lattice;
  std::vector<Candidate> voted = VoteFilter(candidates, lattice, o.lattice);
  out.voted_candidates = static_cast<int>(voted.size());
  out.registration =
      RegisterLattice(voted, lattice, model, frame_size, o.homography);
  if (!out.registration.status.ok()) return out;
  std::vector<int> i, j;
  std::vector<double> response;
  for (const HolePair& p : out.registration.pairs) {
    i.push_back(p.i);
    j.push_back(p.j);
    response.push_back(voted[p.candidate].response);
  }
  LatticeEstimate coarser;
  int dark = 0;
  if (!DetectRootThreeSublattice(i, j, response, lattice, coarser, &dark)) {
    return out;
  }
  std::vector<bool> drop(voted.size(), false);
  for (const HolePair& p : out.registration.pairs) {
    drop[p.candidate] = (((p.i - p.j) % 3) + 3) % 3 != dark;
  }
  std::vector<Candidate> holes;
  for (size_t k = 0; k < voted.size(); ++k) {
    if (!drop[k]) holes.push_back(voted[k]);
  }
  out.lattice = coarser;
  voted = VoteFilter(holes, coarser, o.lattice);
  out.voted_candidates = static_cast<int>(voted.size());
  out.registration =
      RegisterLattice(voted, coarser, model, frame_size, o.homography);
  return out;
}

Status PipelineOptions::Validate() const {
  Violations v("pipeline");
  v.Merge(level.Validate());
  v.Merge(detect.Validate());
  v.Merge(lattice.Validate());
  v.Merge(homography.Validate());
  v.Merge(sites.Validate());
  v.Merge(off_lattice.Validate());
  v.Merge(correct.Validate());
  v.Merge(quality.Validate());
  ANCHORD_OPTION_GE(v, min_cell_px, 3.0);
  ANCHORD_OPTION_IN_CLOSED(v, relevel_axis_angle_deg, 0.0, 30.0);
  return v.ToStatus();
}

FrameResult RegisterFrame(const Frame& frame,
                          const LatticeModel& model,
                          const PipelineOptions& options) {
  FrameResult r;
  Stopwatch total;
  r.width = frame.image.cols;
  r.height = frame.image.rows;
  r.status = ValidateFrame(frame);
  if (r.status.ok()) {
    try {
      RunScanned(frame, model, options, r);
    } catch (const std::exception& e) {
      r.status = Status::Internal(std::string("internal error: ") + e.what());
    }
  }
  r.timing_ms.emplace_back("total", total.Lap());
  return r;
}

}  // namespace anchord
