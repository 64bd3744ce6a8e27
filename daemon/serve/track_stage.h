#pragma once

#include "daemon/serve/stage.h"
#include "daemon/serve/track_service.h"

#include <memory>

namespace anchord::daemon {

// The ordered stage after the reorder buffer (frame_pipeline.h): tracks every
// decoded frame of its session in frame order, commits the placed frame's
// defects to the catalog, then adds the drift message (every decoded
// frame) and the defects message (placed frames, after the commit) to the
// job's outputs. A failed commit is an internal error of this stage: the
// frame's defects are not published, its registration result is.
class TrackStage final : public Stage {
 public:
  explicit TrackStage(std::shared_ptr<TrackService> service)
      : service_(std::move(service)) {}
  const char* name() const override { return "track"; }
  bool Process(Job& job) override;

 private:
  std::shared_ptr<TrackService> service_;
};

}  // namespace anchord::daemon
