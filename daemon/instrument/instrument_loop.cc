#include "daemon/instrument/instrument_loop.h"

#include "daemon/instrument/sequence.h"
#include "daemon/wire/wire.h"

#include <cmath>
#include <thread>

namespace anchord::daemon {
namespace {

using Clock = std::chrono::steady_clock;

// The drift message of `frame_id`, or nullopt after `timeout` (or stop).
std::optional<v1::DriftEstimate> AwaitDrift(zmq::socket_t& drift,
                                            uint64_t frame_id,
                                            std::chrono::milliseconds timeout,
                                            const std::atomic<bool>& stop) {
  const Clock::time_point deadline = Clock::now() + timeout;
  while (!stop && Clock::now() < deadline) {
    zmq::pollitem_t item{static_cast<void*>(drift), 0, ZMQ_POLLIN, 0};
    try {
      zmq::poll(&item, 1, std::chrono::milliseconds(50));
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) throw;
      continue;
    }
    if (!(item.revents & ZMQ_POLLIN)) continue;
    zmq::message_t topic, payload;
    if (!drift.recv(topic, zmq::recv_flags::dontwait)) continue;
    if (!topic.more() || !drift.recv(payload, zmq::recv_flags::dontwait)) {
      continue;
    }
    v1::DriftEstimate d;
    if (topic.to_string_view() == kTopicDrift &&
        d.ParseFromArray(payload.data(), static_cast<int>(payload.size())) &&
        d.frame_id() == frame_id) {
      return d;
    }
  }
  return std::nullopt;
}

}  // namespace

InstrumentLoopResult RunInstrumentLoop(SimulatedInstrument& instrument,
                                       FramePublisher& publisher,
                                       zmq::socket_t& drift,
                                       const InstrumentLoopOptions& o,
                                       const std::atomic<bool>& stop,
                                       const LoopObserver& observer) {
  InstrumentLoopResult result;
  Clock::time_point next_due = Clock::now();
  for (int k = 0; k < o.frames && !stop; ++k) {
    const SimulatedFrame sf = instrument.ScanNextFrame();
    const uint64_t frame_id = o.first_frame_id + static_cast<uint64_t>(k);
    if (o.rate_hz > 0) {
      std::this_thread::sleep_until(next_due);
      next_due += std::chrono::duration_cast<Clock::duration>(
          std::chrono::duration<double>(1.0 / o.rate_hz));
    }
    result.status =
        publisher.Send(SimulatedInbound(sf, o.instrument, o.session, frame_id));
    if (!result.status.ok()) return result;
    const std::optional<v1::DriftEstimate> d =
        AwaitDrift(drift, frame_id, o.drift_timeout, stop);
    if (!d) {
      if (!stop) {
        result.status = Status::Internal(
            "no drift message for frame " + std::to_string(frame_id) +
            " within " + std::to_string(o.drift_timeout.count()) + " ms");
      }
      return result;
    }
    LoopFrame f;
    f.frame_id = frame_id;
    f.start_unix_s = sf.scan.frame.acquired_unix_s;
    f.duration_s = sf.scan.frame.line_time_s *
                   static_cast<double>(sf.scan.frame.image.rows);
    f.true_velocity_nm_per_s = sf.drift_velocity_nm_per_s;
    f.apparent_start_nm = sf.apparent_start_nm;
    f.apparent_end_nm = sf.apparent_end_nm;
    f.unresolved = sf.unresolved;
    f.compensation_nm_per_s = sf.scan.frame.drift_compensation_nm_per_s;
    f.drift = *d;
    const Vec2 v(d->velocity_x_nm_per_s(), d->velocity_y_nm_per_s());
    if (o.compensate && d->valid() && v.allFinite() &&
        v.norm() <= o.max_compensation_nm_per_s) {
      instrument.SetDriftCompensation(v);
    }
    if (observer) observer(f, sf);
    result.frames.push_back(std::move(f));
  }
  return result;
}

ResidualDrift MeasureResidualDrift(const std::vector<LoopFrame>& frames,
                                   int from) {
  ResidualDrift r;
  if (from < 0 || from >= static_cast<int>(frames.size())) return r;
  const LoopFrame& first = frames[from];
  const LoopFrame& last = frames.back();
  const double elapsed_s =
      last.start_unix_s + last.duration_s - first.start_unix_s;
  if (elapsed_s > 0) {
    r.net_nm_per_min = (last.apparent_end_nm - first.apparent_start_nm).norm() /
                       elapsed_s * 60;
  }
  double sum_sq = 0;
  for (size_t k = static_cast<size_t>(from); k < frames.size(); ++k) {
    const LoopFrame& f = frames[k];
    if (f.duration_s <= 0) continue;
    const double v =
        (f.apparent_end_nm - f.apparent_start_nm).norm() / f.duration_s * 60;
    sum_sq += v * v;
    r.max_nm_per_min = std::max(r.max_nm_per_min, v);
    ++r.frames;
  }
  if (r.frames > 0) r.rms_nm_per_min = std::sqrt(sum_sq / r.frames);
  return r;
}

}  // namespace anchord::daemon
