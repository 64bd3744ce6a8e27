#pragma once

// The acquisition controller's side of the frame stream (the wire
// protocol, proto/anchord/v1/anchord.proto), as `anchord replay` and
// `anchord demo` play it: a ZeroMQ PUB socket that sends one serialized
// anchord.v1.Frame per single-part message, paced at a frame rate.

#include "anchord/util/status.h"

#include "daemon/common/clock.h"
#include "daemon/wire/wire.h"
#include <zmq.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

namespace anchord::daemon {

// Where and how the PUB socket is opened.
struct PublisherOptions {
  // ZeroMQ endpoint; a tcp wildcard port ("tcp://127.0.0.1:*") is allowed
  // with bind (FramePublisher::endpoint() then tells the port).
  std::string endpoint = "tcp://127.0.0.1:5555";
  // true: bind (the daemon's default frames_mode = "connect");
  // false: connect (a daemon with frames_mode = "bind").
  bool bind = true;
  // Pause after bind/connect before Open() returns, so that subscribers
  // have joined before the first frame (a PUB socket drops messages for
  // subscribers that have not connected yet: ZeroMQ's slow joiner).
  std::chrono::milliseconds join_delay{300};
  // How long closing the socket waits for unsent frames.
  std::chrono::milliseconds linger{2000};
  // CURVE (a daemon with [security] keys): the daemon's public key file and
  // this client's secret key file (daemon/common/curve_keys.h formats);
  // both or neither. Default none: plain.
  std::string curve_server_key_file;
  std::string curve_client_key_file;
};

// One PUB socket with its own ZeroMQ context. Not thread-safe: one thread
// opens it and sends.
class FramePublisher {
 public:
  FramePublisher();
  ~FramePublisher();
  FramePublisher(const FramePublisher&) = delete;
  FramePublisher& operator=(const FramePublisher&) = delete;

  // Opens the socket and waits options.join_delay (returning early when
  // `stop` is set). kInternal "cannot bind|connect ENDPOINT: reason" when
  // ZeroMQ refuses the endpoint; kInvalidInput when a CURVE key file is
  // unusable.
  Status Open(const PublisherOptions& options, const std::atomic<bool>& stop);
  // The endpoint bound (wildcard port resolved) or connected; empty before
  // a successful Open().
  const std::string& endpoint() const { return endpoint_; }
  // Sends EncodeFrame(frame) as one message. Never blocks (a PUB socket
  // drops messages for a subscriber whose queue is full). kInternal on a
  // ZeroMQ error or before Open().
  Status Send(const InboundFrame& frame);

 private:
  zmq::context_t context_;
  zmq::socket_t socket_;
  std::string endpoint_;
};

// Produces the frame with send index k (0, 1, …) into *out; false when
// there are no more frames. May take as long as it needs (rendering,
// reading a file): pacing accounts for it.
using FrameProducer = std::function<bool(int64_t k, InboundFrame* out)>;
// Told about frame k right after it was sent.
using SentCallback = std::function<void(int64_t k, const InboundFrame& frame)>;

// What PublishPaced did.
struct PublishOutcome {
  int64_t sent = 0;  // frames sent
  Status status;     // the first send error; kOk otherwise
};

// Sends the frames of `next` through `publisher` until `next` returns
// false, `stop` is set or a send fails. Frame k is produced, then sent
// when it is due: frame 0 as soon as it is produced, each later one at
// `rate_hz` frames per second (0 = as soon as it is produced) one period
// after the previous frame was due, or at once when that time has passed
// (a late frame does not make the next ones burst). So the interval from
// frame 0 to frame 1 is a full period however long frame 0 took to
// produce. A frame whose acquired_unix_ns is 0 gets the wall clock just
// before it is sent; a producer that knows the acquisition time (a file's
// header) keeps it. `on_sent` may be empty.
PublishOutcome PublishPaced(FramePublisher& publisher,
                            double rate_hz,
                            const FrameProducer& next,
                            const std::atomic<bool>& stop,
                            const SentCallback& on_sent);

// "2 frames/s", or "as fast as possible" for rate_hz <= 0.
std::string RateText(double rate_hz);

}  // namespace anchord::daemon
