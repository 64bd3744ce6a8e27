#include "daemon/catalog/defect_matching.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <unordered_map>

namespace anchord::daemon {
namespace {

// Builds a FrameMatch observation by observation (MatchObservations).
class Matcher {
 public:
  Matcher(const std::vector<DefectObservation>& observations,
          double match_radius_nm)
      : observations_(observations), radius_nm_(match_radius_nm) {
    match_.sighting_of.assign(observations.size(), 0);
  }

  void MatchVacancy(size_t k, const ObservationCandidates& candidates) {
    const VacancyKey key = KeyOf(observations_[k]);
    auto it = vacancy_sighting_.find(key);
    if (it == vacancy_sighting_.end()) {
      const size_t sighting = candidates.vacancy_id
                                  ? SightingOfKnown(*candidates.vacancy_id, k)
                                  : NewSighting(k);
      it = vacancy_sighting_.emplace(key, sighting).first;
    }
    Add(it->second, k);
  }

  void MatchOffLattice(size_t k, const ObservationCandidates& candidates) {
    const Vec2& p = observations_[k].session_nm;
    const std::optional<KnownDefect> known =
        NearestKnown(candidates.off_lattice, p, radius_nm_);
    double best_d = known ? (known->session_nm - p).norm()
                          : std::numeric_limits<double>::infinity();
    std::optional<size_t> best_new;
    for (size_t index : new_off_lattice_) {
      const double d = (match_.sightings[index].mean_nm() - p).norm();
      if (d <= radius_nm_ && d < best_d) {
        best_d = d;
        best_new = index;
      }
    }
    if (best_new) {
      Add(*best_new, k);
    } else if (known) {
      Add(SightingOfKnown(known->id, k), k);
    } else {
      const size_t sighting = NewSighting(k);
      new_off_lattice_.push_back(sighting);
      Add(sighting, k);
    }
  }

  FrameMatch Take() { return std::move(match_); }

 private:
  // The sighting of catalogued defect `id` (created on its first
  // observation, k).
  size_t SightingOfKnown(int64_t id, size_t k) {
    auto [it, inserted] = known_sighting_.emplace(id, match_.sightings.size());
    if (inserted) {
      NewSighting(k);
      match_.sightings.back().known_id = id;
    }
    return it->second;
  }

  // A sighting of the kind (and key) of observation k, without
  // observations yet.
  size_t NewSighting(size_t k) {
    FrameSighting s;
    s.kind = observations_[k].kind;
    if (s.kind == DefectKind::kVacancy) s.key = KeyOf(observations_[k]);
    match_.sightings.push_back(std::move(s));
    return match_.sightings.size() - 1;
  }

  void Add(size_t sighting, size_t k) {
    const DefectObservation& o = observations_[k];
    FrameSighting& s = match_.sightings[sighting];
    s.observations.push_back(k);
    s.sum_nm += o.session_nm;
    s.sum_variance_nm2 += o.sigma_nm * o.sigma_nm;
    match_.sighting_of[k] = sighting;
  }

  const std::vector<DefectObservation>& observations_;
  const double radius_nm_;
  FrameMatch match_;
  std::map<VacancyKey, size_t> vacancy_sighting_;
  std::unordered_map<int64_t, size_t> known_sighting_;
  std::vector<size_t> new_off_lattice_;  // sightings of new features
};

// The standard error of the mean position per axis: the scatter of the
// sightings when they disagree more than their sigmas say, at least the
// RMS observation sigma, over sqrt(n).
double SigmaOfMean(const DefectRow& row) {
  const double n = double(row.record.times_seen);
  const double scatter_nm2 = n >= 2 ? row.m2_nm2 / (2 * (n - 1)) : 0;
  return std::sqrt(std::max(scatter_nm2, row.var_sum_nm2 / n) / n);
}

}  // namespace

VacancyKey KeyOf(const DefectObservation& observation) {
  return {observation.i, observation.j, observation.site};
}

std::optional<KnownDefect> NearestKnown(const std::vector<KnownDefect>& known,
                                        const Vec2& p,
                                        double radius_nm) {
  std::optional<KnownDefect> best;
  double best_d = std::numeric_limits<double>::infinity();
  for (const KnownDefect& candidate : known) {
    const double d = (candidate.session_nm - p).norm();
    if (d <= radius_nm &&
        (d < best_d || (d == best_d && candidate.id < best->id))) {
      best_d = d;
      best = candidate;
    }
  }
  return best;
}

FrameMatch MatchObservations(
    const std::vector<DefectObservation>& observations,
    const std::vector<ObservationCandidates>& candidates,
    double match_radius_nm) {
  Matcher matcher(observations, match_radius_nm);
  for (size_t k = 0; k < observations.size(); ++k) {
    if (observations[k].kind == DefectKind::kVacancy) {
      matcher.MatchVacancy(k, candidates[k]);
    } else {
      matcher.MatchOffLattice(k, candidates[k]);
    }
  }
  return matcher.Take();
}

bool IsChangingMove(const Vec2& mean_nm,
                    const Vec2& reference_nm,
                    double match_radius_nm) {
  return (mean_nm - reference_nm).norm() > match_radius_nm / 2;
}

DefectRow NewDefectRow(const FrameSighting& sighting,
                       const std::string& session,
                       int64_t time_unix_ns,
                       uint64_t frame_id) {
  const double m = double(sighting.observations.size());
  DefectRow row;
  DefectRecord& r = row.record;
  r.session = session;
  r.kind = sighting.kind;
  if (sighting.kind == DefectKind::kVacancy) {
    r.i = sighting.key.i;
    r.j = sighting.key.j;
    r.site = sighting.key.site;
  } else {
    r.site = -1;
  }
  r.session_nm = sighting.mean_nm();
  r.first_seen_unix_ns = r.last_seen_unix_ns = r.changed_unix_ns = time_unix_ns;
  r.times_seen = r.times_observed = 1;
  r.last_frame_id = frame_id;
  row.var_sum_nm2 = sighting.sum_variance_nm2 / m;
  row.ref_nm = r.session_nm;
  r.sigma_nm = SigmaOfMean(row);
  return row;
}

void FoldSighting(const FrameSighting& sighting,
                  int64_t time_unix_ns,
                  uint64_t frame_id,
                  double match_radius_nm,
                  DefectRow* row) {
  DefectRecord& r = row->record;
  const Vec2 x = sighting.mean_nm();
  const double variance =
      sighting.sum_variance_nm2 / double(sighting.observations.size());
  const bool was_active = r.active();
  // Welford's running mean and sum of squared deviations (2-D).
  const double n = double(r.times_seen + 1);
  const Vec2 delta = x - r.session_nm;
  r.session_nm += delta / n;
  row->m2_nm2 += delta.dot(x - r.session_nm);
  row->var_sum_nm2 += variance;
  r.times_seen += 1;
  r.times_observed += 1;
  r.first_seen_unix_ns = std::min(r.first_seen_unix_ns, time_unix_ns);
  r.last_seen_unix_ns = std::max(r.last_seen_unix_ns, time_unix_ns);
  const bool reappeared = !was_active && r.active();
  if (reappeared ||
      IsChangingMove(r.session_nm, row->ref_nm, match_radius_nm)) {
    r.changed_unix_ns = std::max(r.changed_unix_ns, time_unix_ns);
    row->ref_nm = r.session_nm;
  }
  r.last_frame_id = frame_id;
  r.sigma_nm = SigmaOfMean(*row);
}

bool InConvexPolygon(const std::vector<Vec2>& polygon, const Vec2& p) {
  if (polygon.size() < 3) return false;
  bool any_positive = false, any_negative = false;
  for (size_t k = 0; k < polygon.size(); ++k) {
    const Vec2& a = polygon[k];
    const Vec2& b = polygon[(k + 1) % polygon.size()];
    const double c = Cross(b - a, p - a);
    // Relative tolerance so a point on an edge counts as inside.
    const double tolerance = 1e-12 * (b - a).norm() * ((p - a).norm() + 1);
    if (c > tolerance) any_positive = true;
    if (c < -tolerance) any_negative = true;
    if (any_positive && any_negative) return false;
  }
  return true;
}

bool NearUndecided(const std::vector<Vec2>& undecided_nm, const Vec2& p) {
  for (const Vec2& u : undecided_nm) {
    if ((u - p).squaredNorm() < kUndecidedRadiusNm * kUndecidedRadiusNm) {
      return true;
    }
  }
  return false;
}

bool IsMissed(const FrameCoverage& coverage, int64_t id, const Vec2& p) {
  return coverage.seen->count(id) == 0 &&
         InConvexPolygon(*coverage.footprint_nm, p) &&
         !NearUndecided(*coverage.undecided_nm, p);
}

}  // namespace anchord::daemon
