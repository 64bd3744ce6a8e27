// Steps 1 and 2 of SessionTracker::Track: the rotation and the lattice
// translation of a frame in the session frame.
#include "anchord/track/session_tracker_state.h"

#include "track/tracker_steps.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <string>
#include <unordered_map>
#include <vector>

namespace anchord::internal {
namespace {

using Limits = TrackerStateLimits;

// The frame centre's predicted lattice translation (before rounding) and
// the prediction's one-sigma uncertainty; `issue` says why there is none.
struct Prediction {
  Vec2 u = Vec2::Zero();  // cells
  double sigma_nm = 0;
  std::string issue;
};

Prediction PredictTranslation(const SessionState& st,
                              const FrameView& view,
                              const Vec2& centre_model,
                              const Mat2& rot,
                              bool timed,
                              const TrackOptions& options,
                              const LatticeModel& model) {
  Prediction p;
  const double t_c = view.TimeOf(view.Centre());
  const Vec2 q_c = view.Uncompensated(view.Centre());
  // Untimed frames: the scanner map of the newest frame already holds
  // its drift; the best guess is "where the last frame was".
  const Vec2 drift_c = timed ? st.fit.Displacement(t_c) : Vec2::Zero();
  const Vec2 s_pred =
      st.scanner_from_session.inverse() * (q_c - drift_c - st.scanner_offset);
  const double dt = std::abs(t_c - st.last_centre_s);
  double sigma = st.fit.valid ? st.fit.velocity_sigma_nm_per_s.norm() * dt
                              : options.prior_velocity_sigma_nm_per_s * dt;
  sigma = std::max(sigma, options.min_prediction_sigma_nm);
  // Without acquisition times nothing predicts the drift between frames:
  // a prior as wide as the search, so the codes decide.
  if (!timed || !std::isfinite(sigma)) {
    sigma = 0.5 * options.max_search_cells * model.lattice_constant_nm();
  }
  p.sigma_nm = sigma;
  const Vec2 tau = s_pred - rot * centre_model;
  p.u = model.LatticeFromModel(tau);
  if (!p.u.allFinite()) {
    p.issue = "no finite prediction of the frame's position";
  } else if (!(std::abs(p.u.x()) <= Limits::kMaxCellIndex / 2 &&
               std::abs(p.u.y()) <= Limits::kMaxCellIndex / 2)) {
    // Half the index range: the rounded centre ± reach, and a frame's
    // cell plus a candidate, stay far inside int.
    char buf[160];
    std::snprintf(buf, sizeof buf,
                  "the predicted position (%g, %g) cells is beyond the "
                  "lattice index range ±%d",
                  p.u.x(), p.u.y(), Limits::kMaxCellIndex / 2);
    p.issue = buf;
  }
  return p;
}

// One frame's classified sites folded into cells (frame-model keys after
// the rotation, before the translation).
struct FrameCell {
  int64_t key = 0;
  uint16_t vacant = 0, present = 0;
};

std::unordered_map<int64_t, FrameCell> FrameCells(const FrameSites& sites,
                                                  const LatticeSymmetry& sym) {
  std::unordered_map<int64_t, FrameCell> cells;
  for (const UsedSite& us : sites.used) {
    const SiteKey key = MapSite(sym, us.site->i, us.site->j, us.basis, 0, 0);
    FrameCell& c = cells[CellKey(key.i, key.j)];
    c.key = CellKey(key.i, key.j);
    const uint16_t bit = static_cast<uint16_t>(1u << key.site);
    (us.site->occupied ? c.present : c.vacant) |= bit;
  }
  return cells;
}

// Log-likelihood ratios of one site's (frame, session) classification
// pair: vacant/vacant, vacant/present, present/present, present/vacant.
struct CodeLlr {
  double vv, vp, pp, pv;
};

CodeLlr MakeCodeLlr(const SessionState& st, double site_error_rate) {
  const double total_obs =
      static_cast<double>(st.vacant_observations + st.present_observations);
  const double rho = std::clamp(
      total_obs > 0 ? st.vacant_observations / total_obs : 0.05, 0.005, 0.5);
  const double eps = site_error_rate;
  return {std::log((1 - eps) / rho), std::log(eps / rho),
          std::log((1 - eps) / (1 - rho)), std::log(eps / (1 - rho))};
}

struct Candidate {
  int n1, n2;
  double log_prior, llr;
  int compared;
};

// Translations within `reach` cells (and (reach + 0.5) cells in distance)
// of the prediction, each with its log prior and code log likelihood.
// |u| <= kMaxCellIndex / 2 and reach <= 64: every index stays in int.
std::vector<Candidate> ScoreCandidates(
    const SessionState& st,
    const std::unordered_map<int64_t, FrameCell>& fcells,
    const CodeLlr& llr,
    const Prediction& p,
    int reach,
    const LatticeModel& model) {
  const double cell_nm = model.lattice_constant_nm();
  const double sigma = p.sigma_nm;
  const Vec2& u = p.u;
  std::vector<Candidate> cands;
  const int c1 = static_cast<int>(std::lround(u.x()));
  const int c2 = static_cast<int>(std::lround(u.y()));
  for (int n1 = c1 - reach; n1 <= c1 + reach; ++n1) {
    for (int n2 = c2 - reach; n2 <= c2 + reach; ++n2) {
      const Vec2 miss = model.ModelFromLattice(n1 - u.x(), n2 - u.y());
      if (miss.norm() > (reach + 0.5) * cell_nm) continue;
      Candidate c{n1, n2, -miss.squaredNorm() / (2 * sigma * sigma), 0, 0};
      for (const auto& [key, fc] : fcells) {
        auto it = st.cells.find(CellKey(CellI(key) + n1, CellJ(key) + n2));
        if (it == st.cells.end()) continue;
        const uint16_t sv = it->second.VacantMask();
        const uint16_t sp = it->second.PresentMask();
        const int vv = std::popcount(static_cast<unsigned>(fc.vacant & sv));
        const int vp = std::popcount(static_cast<unsigned>(fc.vacant & sp));
        const int pp = std::popcount(static_cast<unsigned>(fc.present & sp));
        const int pv = std::popcount(static_cast<unsigned>(fc.present & sv));
        c.llr += vv * llr.vv + vp * llr.vp + pp * llr.pp + pv * llr.pv;
        c.compared += vv + vp + pp + pv;
      }
      cands.push_back(c);
    }
  }
  return cands;
}

// The candidate of largest posterior (prior alone, or prior × codes) and
// its posterior probability among the candidates. Requires candidates.
double PosteriorBest(const std::vector<Candidate>& cands,
                     bool with_codes,
                     size_t* best_index) {
  double top = -1e300;
  for (const Candidate& c : cands) {
    top = std::max(top, c.log_prior + (with_codes ? c.llr : 0.0));
  }
  double z = 0;
  size_t best = 0;
  double best_lp = -1e300;
  for (size_t k = 0; k < cands.size(); ++k) {
    const double lp = cands[k].log_prior + (with_codes ? cands[k].llr : 0.0);
    z += std::exp(lp - top);
    if (lp > best_lp) {
      best_lp = lp;
      best = k;
    }
  }
  *best_index = best;
  return std::exp(best_lp - top) / z;
}

}  // namespace

void ChooseRotation(const SessionState& st,
                    const FrameView& view,
                    const Vec2& centre_model,
                    bool decisive,
                    Placement* pl) {
  const Mat2 scanner_from_model =
      view.scan.linear * Jacobian(view.image_from_model, centre_model);
  const bool thirds = decisive && st.faulted_decisive;
  double best_score = 1e300;
  for (int r = 0; r < 6; ++r) {
    if (thirds && r % 2 != 0) continue;
    const Mat2 candidate = scanner_from_model * Rotation(r).transpose();
    const double score = (candidate - st.scanner_from_session).norm() /
                         st.scanner_from_session.norm();
    if (score < best_score) {
      best_score = score;
      pl->rotation_steps = r;
    }
  }
  if (!(best_score < 0.3)) {
    pl->message =
        "the frame's scan geometry matches no lattice rotation of "
        "the session (scanner map mismatch " +
        std::to_string(best_score) + ")";
  }
}

void ScoreTranslations(const SessionState& st,
                       const FrameView& view,
                       const FrameSites& sites,
                       const Vec2& centre_model,
                       bool timed,
                       const TrackOptions& options,
                       const LatticeModel& model,
                       Placement* pl) {
  const LatticeSymmetry& sym = st.symmetries[pl->rotation_steps];
  const Prediction p =
      PredictTranslation(st, view, centre_model, Rotation(pl->rotation_steps),
                         timed, options, model);
  if (!p.issue.empty()) {
    pl->message = p.issue;
    return;
  }
  // 4σ in cells, + 1, at most the search. In double: a huge σ means the
  // whole search (a flat prior: the codes decide), never an overflow.
  const double wanted_reach =
      std::ceil(4.0 * p.sigma_nm / model.lattice_constant_nm()) + 1.0;
  const int reach = wanted_reach < options.max_search_cells
                        ? static_cast<int>(wanted_reach)
                        : options.max_search_cells;
  const std::vector<Candidate> cands = ScoreCandidates(
      st, FrameCells(sites, sym), MakeCodeLlr(st, options.site_error_rate), p,
      reach, model);
  pl->candidates = static_cast<int>(cands.size());
  if (cands.empty()) {
    pl->message = "no lattice translation within the search";
    return;
  }
  size_t best = 0, prior_best = 0;
  const double confidence = PosteriorBest(cands, true, &best);
  const double prior_confidence = PosteriorBest(cands, false, &prior_best);
  pl->confidence = confidence;
  pl->n1 = cands[best].n1;
  pl->n2 = cands[best].n2;
  pl->code_sites_compared = cands[best].compared;
  pl->method =
      (prior_best == best && prior_confidence >= options.min_confidence)
          ? PlacementMethod::kPrediction
          : PlacementMethod::kCodes;
  if (pl->message.empty() && !(confidence >= options.min_confidence)) {
    char buf[200];
    std::snprintf(buf, sizeof buf,
                  "ambiguous lattice translation: best posterior %.4f < "
                  "%.4f (%d candidates, %d sites compared, prediction "
                  "sigma %.2f nm)",
                  confidence, options.min_confidence, pl->candidates,
                  pl->code_sites_compared, p.sigma_nm);
    pl->message = buf;
  }
  pl->placed = pl->message.empty();
}

}  // namespace anchord::internal
