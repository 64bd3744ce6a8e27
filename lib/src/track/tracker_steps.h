#pragma once

// Internal: the steps of SessionTracker::Track, in the order it runs
// them (session_tracker.cc):
//  1. ChooseRotation — the 60° rotation of the frame in the session;
//  2. ScoreTranslations — the lattice translation with the largest
//     posterior (drift prediction × unit-cell codes), or unplaced;
//  3. PrepareUpdate / CommitUpdate — the drift window and fit and the
//     scanner map with the frame placed, checked against
//     TrackerStateLimits before anything is stored;
//  4. UpdateSiteMap / BoundSiteMap — the frame's sites into the session
//     map (its vacancies are the frame's defects), the map bounded;
//     AddFeatures — off-lattice defects, undecided sites, footprint;
//  5. MakeDriftReport — the drift report for the frame.
// Steps 1–3 leave the state untouched; 3 refuses with a status.

#include "anchord/model/lattice_model.h"
#include "anchord/track/session_tracker.h"
#include "anchord/util/status.h"

#include "track/frame_view.h"
#include "track/session_state.h"

#include <vector>

namespace anchord::internal {

// Sets pl->rotation_steps to the rotation whose scanner-from-session map
// (the frame's scanner-from-model map at centre_model, turned) is nearest
// the session's, among multiples of 120° when the faulted-half contrast is
// decisive in this frame and the session's first. Sets pl->message when
// even the best one is off by 30 % or more.
void ChooseRotation(const SessionState& st,
                    const FrameView& view,
                    const Vec2& centre_model,
                    bool decisive,
                    Placement* pl);

// For pl->rotation_steps: predicts the frame centre's lattice translation
// and scores the translations within the search by posterior (Gaussian
// prior × code likelihood). Sets n1, n2, confidence, method, candidates,
// code_sites_compared, and placed (true when pl->message is still empty
// and the best posterior reaches min_confidence; else the message says
// why not).
void ScoreTranslations(const SessionState& st,
                       const FrameView& view,
                       const FrameSites& sites,
                       const Vec2& centre_model,
                       bool timed,
                       const TrackOptions& options,
                       const LatticeModel& model,
                       Placement* pl);

// What placing a frame changes in the state apart from the site map.
struct SessionUpdate {
  int frame_index = 0;  // the frame's placed-frame index
  double offset_change_s = 0;
  std::vector<DriftPoint> points;  // the drift fit's window
  // The state's aligned sightings still within window_s of this frame.
  std::vector<DriftPoint> aligned_points;
  DriftFit fit;
  Mat2 scanner_from_session = Mat2::Identity();
  Vec2 scanner_offset = Vec2::Zero();
  double centre_s = 0;  // the frame centre's time
};

// Fills pl's session transform and computes the update for the placed
// frame (`pl` placed). kInvalidInput, naming the value, when the update,
// the frame's corner holes or its sites' session cells would be outside
// TrackerStateLimits.
Status PrepareUpdate(const SessionState& st,
                     const FrameView& view,
                     const FrameSites& sites,
                     const Vec2& centre_model,
                     bool timed,
                     const DriftOptions& drift,
                     const LatticeModel& model,
                     Placement* pl,
                     SessionUpdate* update);

// Stores the update: the frame counts as placed from here on.
void CommitUpdate(SessionUpdate update,
                  const FrameView& view,
                  bool timed,
                  bool decisive,
                  SessionState* st);

// Adds the frame's classified sites to the session map (cell counts, last
// frame, observation totals) and appends its vacancies to `defects`.
void UpdateSiteMap(const FrameView& view,
                   const FrameSites& sites,
                   const Placement& pl,
                   int frame_index,
                   const LatticeModel& model,
                   SessionState* st,
                   std::vector<TrackedDefect>* defects);

// Appends the frame's off-lattice features (confident, inside the border)
// to out->defects, its undecided sites and its footprint in session nm.
void AddFeatures(const FrameView& view,
                 const FrameSites& sites,
                 const Placement& pl,
                 const TrackOptions& options,
                 TrackResult* out);

// Drops the cells seen longest ago until at most max_cells remain.
void BoundSiteMap(int max_cells, SessionState* st);

// The drift report at the frame's centre time (the latest placed frame's
// without a view); the next-frame fields need a timed view.
DriftReport MakeDriftReport(const SessionState& st, const FrameView* view);

}  // namespace anchord::internal
