// The catalog's decisions without a database: which catalogued defect an
// observation is (the nearest of several, the closed match radius, ties,
// vacancy keys, this frame's new features), what counts as a change (a
// move of more than half the radius, a reappearance), and which
// catalogued defects a frame missed (inside its convex footprint, not
// seen, not at an undecided place).

#include "daemon/catalog/defect_matching.h"

#include <doctest/doctest.h>

#include <cmath>
#include <unordered_set>
#include <vector>

namespace anchord::daemon {
namespace {

constexpr double kRadiusNm = 0.4;

DefectObservation Vacancy(int i, int j, int site, Vec2 p, double sigma = 0.1) {
  DefectObservation o;
  o.kind = DefectKind::kVacancy;
  o.i = i;
  o.j = j;
  o.site = site;
  o.session_nm = p;
  o.sigma_nm = sigma;
  return o;
}

DefectObservation OffLattice(Vec2 p, double sigma = 0.1) {
  DefectObservation o;
  o.kind = DefectKind::kOffLattice;
  o.session_nm = p;
  o.sigma_nm = sigma;
  return o;
}

ObservationCandidates Near(std::vector<KnownDefect> known) {
  ObservationCandidates c;
  c.off_lattice = std::move(known);
  return c;
}

ObservationCandidates KnownVacancy(int64_t id) {
  ObservationCandidates c;
  c.vacancy_id = id;
  return c;
}

TEST_CASE("an off-lattice feature is the nearest known defect of several") {
  const std::vector<KnownDefect> known = {
      {7, Vec2(10.3, 0)}, {3, Vec2(10, 0.25)}, {5, Vec2(10.1, 0)}};
  const auto nearest = NearestKnown(known, Vec2(10, 0), kRadiusNm);
  REQUIRE(nearest);
  CHECK(nearest->id == 5);

  const FrameMatch match =
      MatchObservations({OffLattice(Vec2(10, 0))}, {Near(known)}, kRadiusNm);
  REQUIRE(match.sightings.size() == 1);
  CHECK(match.sightings[0].known_id == 5);
  CHECK(match.sighting_of == std::vector<size_t>{0});
}

TEST_CASE("the match radius is closed; equal distances go to the lower id") {
  // At exactly the radius (the same double), and the next double beyond.
  const KnownDefect at{9, Vec2(kRadiusNm, 2.0)};
  const KnownDefect beyond{4, Vec2(std::nextafter(kRadiusNm, 1.0), 2.0)};
  const Vec2 p(0.0, 2.0);
  REQUIRE(NearestKnown({at}, p, kRadiusNm));
  CHECK(NearestKnown({at}, p, kRadiusNm)->id == 9);
  CHECK_FALSE(NearestKnown({beyond}, p, kRadiusNm));
  CHECK_FALSE(NearestKnown({}, p, kRadiusNm));

  const std::vector<KnownDefect> tied = {{8, Vec2(0.25, 2.0)},
                                         {2, Vec2(-0.25, 2.0)}};
  CHECK(NearestKnown(tied, p, kRadiusNm)->id == 2);

  // Beyond the radius of every candidate: a new defect.
  const FrameMatch match =
      MatchObservations({OffLattice(p)}, {Near({beyond})}, kRadiusNm);
  REQUIRE(match.sightings.size() == 1);
  CHECK_FALSE(match.sightings[0].known_id);
  CHECK(match.sightings[0].kind == DefectKind::kOffLattice);
}

TEST_CASE("vacancies are identified by their key, not their position") {
  // Frame: the known key (4, 5, 2) twice at different places, a new key
  // twice, and a vacancy at the known one's place under another key.
  const std::vector<DefectObservation> observations = {
      Vacancy(4, 5, 2, Vec2(0, 0)), Vacancy(1, 1, 0, Vec2(3, 3)),
      Vacancy(4, 5, 2, Vec2(0.3, 0)), Vacancy(1, 1, 0, Vec2(3.1, 3)),
      Vacancy(4, 5, 3, Vec2(0, 0))};
  const std::vector<ObservationCandidates> candidates = {
      KnownVacancy(11), {}, KnownVacancy(11), {}, {}};
  const FrameMatch match =
      MatchObservations(observations, candidates, kRadiusNm);
  REQUIRE(match.sightings.size() == 3);
  CHECK(match.sighting_of == std::vector<size_t>{0, 1, 0, 1, 2});
  CHECK(match.sightings[0].known_id == 11);
  CHECK(match.sightings[0].observations == std::vector<size_t>{0, 2});
  CHECK(match.sightings[0].mean_nm().isApprox(Vec2(0.15, 0)));
  CHECK_FALSE(match.sightings[1].known_id);
  CHECK(match.sightings[1].key == VacancyKey{1, 1, 0});
  CHECK(match.sightings[2].key == VacancyKey{4, 5, 3});
  CHECK(KeyOf(observations[4]) != KeyOf(observations[0]));
}

TEST_CASE("new features of one frame group, a known defect wins a tie") {
  // Two new features 0.3 nm apart are one defect at their running mean.
  FrameMatch match = MatchObservations(
      {OffLattice(Vec2(0, 0)), OffLattice(Vec2(0.3, 0))}, {{}, {}}, kRadiusNm);
  REQUIRE(match.sightings.size() == 1);
  CHECK(match.sightings[0].mean_nm().isApprox(Vec2(0.15, 0)));

  // The second observation is 0.25 nm from this frame's new feature and
  // from a known defect: the known one is chosen.
  match = MatchObservations({OffLattice(Vec2(5, 0)), OffLattice(Vec2(5.25, 0))},
                            {{}, Near({{21, Vec2(5.5, 0)}})}, kRadiusNm);
  REQUIRE(match.sightings.size() == 2);
  CHECK(match.sighting_of == std::vector<size_t>{0, 1});
  CHECK(match.sightings[1].known_id == 21);
  // Nearer to the new feature (0.125 nm) than to the known one: the new.
  match =
      MatchObservations({OffLattice(Vec2(5, 0)), OffLattice(Vec2(5.125, 0))},
                        {{}, Near({{21, Vec2(5.5, 0)}})}, kRadiusNm);
  REQUIRE(match.sightings.size() == 1);
  CHECK_FALSE(match.sightings[0].known_id);

  // Two observations of one known defect are one sighting.
  match = MatchObservations(
      {OffLattice(Vec2(0, 0)), OffLattice(Vec2(0.1, 0))},
      {Near({{6, Vec2(0.05, 0)}}), Near({{6, Vec2(0.05, 0)}})}, kRadiusNm);
  REQUIRE(match.sightings.size() == 1);
  CHECK(match.sightings[0].known_id == 6);
  CHECK(match.sightings[0].observations.size() == 2);
}

TEST_CASE("a move counts as a change beyond half the match radius") {
  CHECK_FALSE(IsChangingMove(Vec2(0.2, 0), Vec2(0, 0), kRadiusNm));
  CHECK(IsChangingMove(Vec2(0.2001, 0), Vec2(0, 0), kRadiusNm));
  CHECK(IsChangingMove(Vec2(0, -0.3), Vec2(0, 0), kRadiusNm));

  FrameSighting first;
  first.kind = DefectKind::kOffLattice;
  first.observations = {0};
  first.sum_nm = Vec2(0, 0);
  first.sum_variance_nm2 = 0.01;
  DefectRow row = NewDefectRow(first, "s", 100, 1);
  CHECK(row.record.site == -1);
  CHECK(row.record.changed_unix_ns == 100);
  CHECK(row.record.sigma_nm == doctest::Approx(0.1));

  // A second sighting 0.3 nm away moves the mean 0.15 nm: no change.
  FrameSighting again = first;
  again.sum_nm = Vec2(0.3, 0);
  FoldSighting(again, 200, 2, kRadiusNm, &row);
  CHECK(row.record.session_nm.isApprox(Vec2(0.15, 0)));
  CHECK(row.record.times_seen == 2);
  CHECK(row.record.last_frame_id == 2);
  CHECK(row.record.changed_unix_ns == 100);
  // A third one at 0.9 nm takes the mean to 0.4 nm: a change, and the new
  // reference.
  again.sum_nm = Vec2(0.9, 0);
  FoldSighting(again, 300, 3, kRadiusNm, &row);
  CHECK(row.record.session_nm.isApprox(Vec2(0.4, 0)));
  CHECK(row.record.changed_unix_ns == 300);
  CHECK(row.ref_nm.isApprox(Vec2(0.4, 0)));
}

TEST_CASE("a sighting that makes an inactive defect active is a change") {
  FrameSighting s;
  s.kind = DefectKind::kVacancy;
  s.key = {1, 2, 3};
  s.observations = {0};
  s.sum_nm = Vec2(1, 1);
  DefectRow row = NewDefectRow(s, "s", 10, 1);
  CHECK(row.record.i == 1);
  CHECK(row.record.site == 3);
  // Missed twice: seen 1 of 3, inactive.
  row.record.times_observed = 3;
  REQUIRE_FALSE(row.record.active());
  FoldSighting(s, 20, 2, kRadiusNm, &row);  // 2 of 4: still inactive
  CHECK(row.record.changed_unix_ns == 10);
  FoldSighting(s, 30, 3, kRadiusNm, &row);  // 3 of 5: active again
  CHECK(row.record.active());
  CHECK(row.record.changed_unix_ns == 30);
}

TEST_CASE("the footprint polygon contains its inside and edges, either way") {
  const std::vector<Vec2> ccw = {Vec2(0, 0), Vec2(4, 0), Vec2(4, 2),
                                 Vec2(0, 2)};
  const std::vector<Vec2> cw(ccw.rbegin(), ccw.rend());
  for (const auto& polygon : {ccw, cw}) {
    CHECK(InConvexPolygon(polygon, Vec2(2, 1)));
    CHECK(InConvexPolygon(polygon, Vec2(4, 1)));  // on an edge
    CHECK(InConvexPolygon(polygon, Vec2(0, 0)));  // a vertex
    CHECK_FALSE(InConvexPolygon(polygon, Vec2(4.001, 1)));
    CHECK_FALSE(InConvexPolygon(polygon, Vec2(2, -0.001)));
  }
  const std::vector<Vec2> triangle = {Vec2(0, 0), Vec2(2, 0), Vec2(0, 2)};
  CHECK(InConvexPolygon(triangle, Vec2(0.9, 0.9)));
  CHECK_FALSE(InConvexPolygon(triangle, Vec2(1.1, 1.1)));
  CHECK_FALSE(InConvexPolygon({Vec2(0, 0), Vec2(1, 1)}, Vec2(0.5, 0.5)));
}

TEST_CASE("a known defect is missed inside the footprint, unseen, decided") {
  const std::vector<Vec2> footprint = {Vec2(0, 0), Vec2(10, 0), Vec2(10, 10),
                                       Vec2(0, 10)};
  const std::vector<Vec2> undecided = {Vec2(5, 5)};
  const std::unordered_set<int64_t> seen = {1};
  const FrameCoverage coverage{&footprint, &undecided, &seen};
  CHECK(IsMissed(coverage, 2, Vec2(3, 3)));
  CHECK_FALSE(IsMissed(coverage, 1, Vec2(3, 3)));     // seen
  CHECK_FALSE(IsMissed(coverage, 2, Vec2(11, 3)));    // outside
  CHECK_FALSE(IsMissed(coverage, 2, Vec2(5.04, 5)));  // undecided place
  CHECK(IsMissed(coverage, 2, Vec2(5.06, 5)));        // beyond 0.05 nm
  CHECK(NearUndecided(undecided, Vec2(5, 5.049)));
  CHECK_FALSE(NearUndecided({}, Vec2(5, 5)));
}

}  // namespace
}  // namespace anchord::daemon
