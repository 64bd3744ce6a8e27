#include "daemon/serve/track_stage.h"

#include "daemon/config/config.h"

namespace anchord::daemon {

bool TrackStage::Process(Job& job) {
  if (!job.decode_status.ok()) return true;  // nothing to track
  const TrackOptions default_options;
  const TrackOptions& options =
      job.config ? job.config->track : default_options;
  const bool registered = job.registered && job.result.status.ok();
  const TrackOutcome outcome = service_->Process(
      job.inbound, job.sequence, registered ? &job.result : nullptr, options);
  job.outputs.push_back(
      {std::string(kTopicDrift), outcome.drift.SerializeAsString()});
  if (!outcome.status.ok()) {
    job.status = outcome.status;
    return false;
  }
  if (outcome.has_defects) {
    job.outputs.push_back(
        {std::string(kTopicDefects), outcome.defects.SerializeAsString()});
  }
  return true;
}

}  // namespace anchord::daemon
