#pragma once

#include "anchord/util/status.h"

#include "daemon/common/rate_limiter.h"
#include <zmq.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <thread>

namespace anchord::daemon {

// The ZAP handler (ZeroMQ RFC 27) of the daemon's context: every CURVE
// handshake on a socket set up with SetCurveServer is answered here, and
// only clients whose public key is on the allow-list get in. Other
// mechanisms (a plain client meeting a CURVE server never gets this far)
// and unknown keys are refused and counted; a refusal is logged at most
// once a second.
//
// States: Start() binds inproc://zeromq.zap.01 and starts a thread →
// serving → destructor stops and joins it. Start it before any CURVE
// socket connects or binds.
class CurveAuthenticator {
 public:
  // Null with `why` set when the handler cannot be bound (one per
  // context).
  static std::unique_ptr<CurveAuthenticator> Start(
      zmq::context_t& context,
      std::set<std::string> allowed_public_z85,
      Status* why);
  ~CurveAuthenticator();
  CurveAuthenticator(const CurveAuthenticator&) = delete;
  CurveAuthenticator& operator=(const CurveAuthenticator&) = delete;

  uint64_t accepted() const { return accepted_; }
  uint64_t refused() const { return refused_; }

 private:
  CurveAuthenticator(zmq::socket_t handler, std::set<std::string> allowed);
  void Loop();
  // Answers one request (already received, as its frames).
  void Answer(std::vector<zmq::message_t>& request);

  zmq::socket_t handler_;  // REP; used by the thread only once started
  const std::set<std::string> allowed_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> accepted_{0};
  std::atomic<uint64_t> refused_{0};
  RateLimiter refusals_log_{1.0};
  std::thread thread_;
};

}  // namespace anchord::daemon
