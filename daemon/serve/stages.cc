#include "daemon/serve/stages.h"

#include "daemon/config/config.h"
#include "daemon/wire/results.h"
#include "daemon/wire/wire.h"

#include <chrono>

namespace anchord::daemon {
namespace {

template <typename Message>
void Add(Job& job, std::string_view topic, const Message& message) {
  job.outputs.push_back({std::string(topic), message.SerializeAsString()});
}

}  // namespace

bool DecodeStage::Process(Job& job) {
  const DaemonConfig default_config;
  const DaemonConfig& config = job.config ? *job.config : default_config;
  job.decode_status = DecodeFrame(job.payload, config.limits, &job.inbound);
  job.status = job.decode_status;
  return job.status.ok();
}

bool RegisterStage::Process(Job& job) {
  if (!job.status.ok()) return true;  // nothing to register
  const PipelineOptions default_options;
  const PipelineOptions& options =
      job.config ? job.config->registration : default_options;
  job.result = RegisterFrame(job.inbound.frame, model_, options);
  job.registered = true;
  job.status = job.result.status;
  return job.status.code() != StatusCode::kInternal;
}

bool EncodeStage::Process(Job& job) {
  const double latency_ms = std::chrono::duration<double, std::milli>(
                                std::chrono::steady_clock::now() - job.received)
                                .count();
  // A frame that never got a registration result (bad message, or a
  // stage failed before) is answered with the status that stopped it.
  Status before = job.decode_status;
  if (before.ok() && !job.registered) {
    before = job.status.ok() ? Status::Internal("frame was not registered")
                             : job.status;
  }
  Add(job, kTopicRegistration,
      MakeRegistrationResult(job.inbound, job.sequence, before,
                             job.registered ? &job.result : nullptr, model_,
                             latency_ms, job.received_unix_ns));
  if (!job.registered || !job.result.status.ok()) return true;
  if (HasCorrectedFrame(job.result)) {
    Add(job, kTopicCorrected,
        MakeCorrectedFrame(job.inbound, job.sequence, job.result));
  }
  Add(job, kTopicSites, MakeSites(job.inbound, job.sequence, job.result));
  return true;
}

std::vector<std::unique_ptr<Stage>> MakeDaemonStages() {
  std::vector<std::unique_ptr<Stage>> stages;
  stages.push_back(std::make_unique<DecodeStage>());
  stages.push_back(std::make_unique<RegisterStage>(MakeSi7x7Model()));
  stages.push_back(std::make_unique<EncodeStage>(MakeSi7x7Model()));
  return stages;
}

}  // namespace anchord::daemon
