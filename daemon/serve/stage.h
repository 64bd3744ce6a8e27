#pragma once

#include "anchord/pipeline/register_frame.h"
#include "anchord/util/status.h"

#include "daemon/wire/wire.h"

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace anchord::daemon {

struct DaemonConfig;

// One message to publish: multipart [topic, payload].
struct OutboundMessage {
  std::string topic;
  std::string payload;
};

// One frame on its way through the pipeline. Created by the runner at
// ingest; each stage reads what earlier stages wrote and adds its part.
struct Job {
  // Ingest order, assigned when the job leaves the ingest queue
  // (consecutive: frames dropped at ingest get none).
  uint64_t sequence = 0;
  std::string payload;  // the wire message as received
  std::chrono::steady_clock::time_point received;
  int64_t received_unix_ns = 0;
  // The configuration this frame is processed with (read once, at the
  // start, so a reload takes effect at a frame boundary).
  std::shared_ptr<const DaemonConfig> config;

  InboundFrame inbound;  // decode stage
  Status decode_status;  // decode stage: the wire message's validity
  Status status;         // the frame's outcome so far
  FrameResult result;    // register stage
  bool registered = false;
  std::vector<OutboundMessage> outputs;  // encode stage
};

// A pipeline stage: one step of a frame's processing. It knows nothing
// about threads, queues or sockets; the runner calls Process() on a worker
// thread, one job at a time per call, possibly concurrently for different
// jobs (so a stage holds no per-frame state). Process() never throws: a
// failure is recorded in job.status and returned as false (counted as an
// error by the runner).
class Stage {
 public:
  virtual ~Stage() = default;
  virtual const char* name() const = 0;
  virtual bool Process(Job& job) = 0;
};

}  // namespace anchord::daemon
