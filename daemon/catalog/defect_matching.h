#pragma once

// The decisions of one catalog commit as plain functions over plain
// structs, without SQLite: which catalogued defect each observation of a
// frame is, how a sighting changes its record (and whether that is a
// change a client hears of), and which catalogued defects the frame
// observed but did not see. The catalog loads the candidates, calls these
// and writes what they decide.

#include "anchord/util/geometry.h"

#include "daemon/catalog/catalog.h"

#include <compare>
#include <cstdint>
#include <optional>
#include <unordered_set>
#include <vector>

namespace anchord::daemon {

// A catalogued defect with the bookkeeping stored beside its record.
struct DefectRow {
  DefectRecord record;
  // Sum over sightings of the squared 2-D deviation from the running mean
  // position (Welford), nm²; the scatter of the sightings.
  double m2_nm2 = 0;
  // Sum over sightings of the observation variance, nm².
  double var_sum_nm2 = 0;
  // The mean position at the last change, nm; a move of the mean of more
  // than match_radius_nm / 2 from it is a change (IsChangingMove).
  Vec2 ref_nm = Vec2::Zero();
};

// The identity of a vacancy in its session: the session cell (i, j) and
// the index of the site in the model's basis. Two vacancy observations
// with equal keys are the same defect, wherever they were measured.
struct VacancyKey {
  int i = 0, j = 0, site = 0;
  auto operator<=>(const VacancyKey&) const = default;
};
VacancyKey KeyOf(const DefectObservation& observation);

// A catalogued defect an observation may be, as the catalog held it
// before this frame.
struct KnownDefect {
  int64_t id = 0;
  Vec2 session_nm = Vec2::Zero();
};

// What the catalog holds that one observation may be.
struct ObservationCandidates {
  // Vacancies: the catalogued vacancy with the observation's key, if any.
  std::optional<int64_t> vacancy_id;
  // Off-lattice features: the catalogued off-lattice defects near the
  // observation (at least every one within match_radius_nm; farther ones
  // are ignored).
  std::vector<KnownDefect> off_lattice;
};

// One defect this frame saw: the catalogued defect or a new one, and the
// observations (indices into the frame's observations) that are it.
struct FrameSighting {
  std::optional<int64_t> known_id;  // unset: a defect new to the catalog
  DefectKind kind = DefectKind::kVacancy;
  VacancyKey key;  // vacancies only
  std::vector<size_t> observations;
  Vec2 sum_nm = Vec2::Zero();   // of the observations' positions
  double sum_variance_nm2 = 0;  // of the observations' sigma²

  // The mean of the observations' positions, nm (at least one).
  Vec2 mean_nm() const { return sum_nm / double(observations.size()); }
};

// How a frame's observations map to defects.
struct FrameMatch {
  // One per distinct defect, in the order of their first observation.
  std::vector<FrameSighting> sightings;
  // sightings[sighting_of[k]] holds observation k.
  std::vector<size_t> sighting_of;
};

// The known defect nearest to `p` within `radius_nm` (closed: a defect at
// exactly the radius matches), ties by the lower id; unset when none.
std::optional<KnownDefect> NearestKnown(const std::vector<KnownDefect>& known,
                                        const Vec2& p,
                                        double radius_nm);

// Maps every observation to a sighting. A vacancy is its key's sighting
// of this frame when there is one, else the catalogued vacancy of its key
// (candidates[k].vacancy_id), else a new defect. An off-lattice feature is
// the nearest within match_radius_nm of the catalogued defects near it (at
// their catalogued position; ties by id) and of the new features this
// frame found before it (at their current mean; a catalogued defect wins a
// tie, then the earlier new one), else a new defect. `candidates` has one
// entry per observation.
FrameMatch MatchObservations(
    const std::vector<DefectObservation>& observations,
    const std::vector<ObservationCandidates>& candidates,
    double match_radius_nm);

// True when the mean position moved from the position at the last change
// by more than match_radius_nm / 2: a change (DefectRecord::changed_unix_ns).
bool IsChangingMove(const Vec2& mean_nm,
                    const Vec2& reference_nm,
                    double match_radius_nm);

// The row of a defect first seen in this frame (id 0 until inserted): at
// the sighting's mean, seen and observed once, changed at `time_unix_ns`.
DefectRow NewDefectRow(const FrameSighting& sighting,
                       const std::string& session,
                       int64_t time_unix_ns,
                       uint64_t frame_id);

// Folds this frame's sighting into a catalogued defect's row: running mean
// and scatter (Welford), seen and observed once more, first / last seen,
// and the change time when the defect reappears (turns active again) or
// its mean makes a changing move. The observations of one frame that are
// one defect are one sighting at their mean with their RMS sigma.
void FoldSighting(const FrameSighting& sighting,
                  int64_t time_unix_ns,
                  uint64_t frame_id,
                  double match_radius_nm,
                  DefectRow* row);

// Closed test of `p` against a convex polygon of either orientation (a
// point on an edge is inside); fewer than 3 vertices contain nothing.
bool InConvexPolygon(const std::vector<Vec2>& polygon, const Vec2& p);

// Within kUndecidedRadiusNm of a place the frame could not classify (a
// vacancy's position is its exact site, so this matches that site only).
inline constexpr double kUndecidedRadiusNm = 0.05;
bool NearUndecided(const std::vector<Vec2>& undecided_nm, const Vec2& p);

// What a frame observed, for deciding which catalogued defects it missed.
struct FrameCoverage {
  const std::vector<Vec2>* footprint_nm;    // convex polygon, session nm
  const std::vector<Vec2>* undecided_nm;    // places left unclassified
  const std::unordered_set<int64_t>* seen;  // ids the frame saw
};

// A catalogued defect at `p` counts as observed but not seen when it is in
// the footprint, was not seen and is not at an undecided place.
bool IsMissed(const FrameCoverage& coverage, int64_t id, const Vec2& p);

}  // namespace anchord::daemon
