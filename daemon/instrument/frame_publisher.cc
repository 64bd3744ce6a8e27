#include "daemon/instrument/frame_publisher.h"

#include "daemon/common/curve_keys.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <thread>

namespace anchord::daemon {
namespace {

using Clock = std::chrono::steady_clock;

// Longest single sleep while waiting, so that `stop` is noticed quickly.
constexpr std::chrono::milliseconds kStopCheck{50};

// Sleeps until `until` or until `stop` is set, whichever comes first.
void SleepUntil(Clock::time_point until, const std::atomic<bool>& stop) {
  while (!stop) {
    const Clock::time_point now = Clock::now();
    if (now >= until) return;
    std::this_thread::sleep_for(
        std::min<Clock::duration>(until - now, kStopCheck));
  }
}

}  // namespace

std::string RateText(double rate_hz) {
  if (rate_hz <= 0) return "as fast as possible";
  char text[32];
  std::snprintf(text, sizeof text, "%g frames/s", rate_hz);
  return text;
}

FramePublisher::FramePublisher() : context_(1) {}

FramePublisher::~FramePublisher() {
  // Closing waits up to the linger time for frames still queued.
  socket_.close();
  context_.close();
}

Status FramePublisher::Open(const PublisherOptions& options,
                            const std::atomic<bool>& stop) {
  const char* verb = options.bind ? "bind" : "connect";
  CurveKeyPair client;
  std::string server_public;
  const bool curve = !options.curve_server_key_file.empty() ||
                     !options.curve_client_key_file.empty();
  if (curve) {
    Status s =
        ReadCurvePublicKeyFile(options.curve_server_key_file, &server_public);
    if (s.ok())
      s = ReadCurveSecretKeyFile(options.curve_client_key_file, &client);
    if (!s.ok()) return s;
  }
  try {
    socket_ = zmq::socket_t(context_, zmq::socket_type::pub);
    if (curve) SetCurveClient(socket_, client, server_public);
    socket_.set(zmq::sockopt::linger, static_cast<int>(options.linger.count()));
    if (options.bind) {
      socket_.bind(options.endpoint);
      endpoint_ = socket_.get(zmq::sockopt::last_endpoint);
    } else {
      socket_.connect(options.endpoint);
      endpoint_ = options.endpoint;
    }
  } catch (const zmq::error_t& e) {
    return Status::Internal(std::string("cannot ") + verb + " " +
                            options.endpoint + ": " + e.what());
  }
  SleepUntil(Clock::now() + options.join_delay, stop);
  return Status::Ok();
}

Status FramePublisher::Send(const InboundFrame& frame) {
  if (endpoint_.empty()) return Status::Internal("publisher not open");
  const std::string bytes = EncodeFrame(frame);
  for (;;) {
    try {
      socket_.send(zmq::buffer(bytes), zmq::send_flags::none);
      return Status::Ok();
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR) continue;  // a signal arrived: send again
      return Status::Internal(std::string("cannot send frame: ") + e.what());
    }
  }
}

PublishOutcome PublishPaced(FramePublisher& publisher,
                            double rate_hz,
                            const FrameProducer& next,
                            const std::atomic<bool>& stop,
                            const SentCallback& on_sent) {
  PublishOutcome outcome;
  const auto period = rate_hz > 0
                          ? std::chrono::duration_cast<Clock::duration>(
                                std::chrono::duration<double>(1.0 / rate_hz))
                          : Clock::duration::zero();
  Clock::time_point due;
  for (int64_t k = 0; !stop; ++k) {
    InboundFrame frame;
    if (!next(k, &frame)) break;
    // Frame 0 is due once it is produced (its production must not count
    // against the first interval); each later one a period after the
    // previous one was due, or now when that has passed.
    due = k == 0 ? Clock::now() : std::max(due + period, Clock::now());
    SleepUntil(due, stop);
    if (stop) break;
    if (frame.acquired_unix_ns == 0) frame.acquired_unix_ns = NowUnixNs();
    outcome.status = publisher.Send(frame);
    if (!outcome.status.ok()) break;
    ++outcome.sent;
    if (on_sent) on_sent(k, frame);
  }
  return outcome;
}

}  // namespace anchord::daemon
