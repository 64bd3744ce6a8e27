#include "daemon/instrument/nanonis_bridge.h"

#include "anchord/util/validation.h"
#include "anchord/v1/anchord.pb.h"

#include "daemon/common/clock.h"
#include "daemon/common/session_name.h"
#include "daemon/wire/wire.h"
#include <opencv2/core.hpp>
#include <spdlog/spdlog.h>
#include <zmq.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <optional>
#include <thread>
#include <vector>

namespace anchord::daemon {
namespace {

using Clock = std::chrono::steady_clock;

// Longest single sleep while backing off, so that `stop` is noticed.
constexpr std::chrono::milliseconds kStopCheck{50};
// At most this many drift messages are read per call (the rest wait).
constexpr int kMaxDriftMessagesPerPoll = 64;
// Compensation changes kept by CompensationTrack.
constexpr size_t kMaxCompensationSegments = 256;
// Largest frame side accepted from the controller, px.
constexpr int32_t kMaxSidePx = 16384;

double NowUnixS() { return static_cast<double>(NowUnixNs()) * 1e-9; }

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(c));
  return s;
}

// "Z (m)" -> "Z".
std::string WithoutUnit(const std::string& name) {
  const size_t paren = name.rfind(" (");
  if (paren != std::string::npos && !name.empty() && name.back() == ')') {
    return name.substr(0, paren);
  }
  return name;
}

bool ChannelMatches(const std::string& wanted, const std::string& name) {
  return name == wanted || Lower(name) == Lower(wanted) ||
         Lower(WithoutUnit(name)) == Lower(wanted);
}

// The velocity the controller is actually applying: zero when off, and
// zero on a saturated axis (compensation stopped there).
Vec2 EffectiveVelocityNmPerS(const nanonis::DriftCompGetReply& d) {
  if (!d.on) return Vec2::Zero();
  return Vec2(d.x_saturated ? 0.0 : d.vx_m_per_s * 1e9,
              d.y_saturated ? 0.0 : d.vy_m_per_s * 1e9);
}

}  // namespace

Status BridgeOptions::Validate() const {
  Violations v("bridge");
  v.Merge(controller.Validate());
  v.Merge(drift.Validate());
  v.Require(!publisher.endpoint.empty(), "frames_endpoint", "\"\"",
            "not empty");
  v.Require(!results_endpoint.empty(), "results_endpoint", "\"\"", "not empty");
  const std::optional<std::string> bad_session = SessionNameError(session);
  v.Require(!bad_session, "session", SanitizedForLog(session),
            "a valid session name");
  v.Require(saturation_limit_percent < 0 || (saturation_limit_percent > 0 &&
                                             saturation_limit_percent <= 100),
            "saturation_limit_percent", saturation_limit_percent,
            "< 0 or in (0, 100]");
  ANCHORD_OPTION_IN_CLOSED(v, wait_slice_ms, 1, 60000);
  v.Require(backoff_initial_ms > 0 && backoff_initial_ms <= backoff_max_ms &&
                backoff_max_ms <= 600000,
            "backoff_initial_ms", backoff_initial_ms,
            "0 < backoff_initial_ms <= backoff_max_ms <= 600000");
  ANCHORD_OPTION_GE(v, daemon_silence_frames, 1);
  ANCHORD_OPTION_GE(v, max_frames, 0);
  return v.ToStatus();
}

// --- CompensationTrack --------------------------------------------------

const CompensationTrack::Segment* CompensationTrack::At(double t_s) const {
  if (segments_.empty()) return nullptr;
  auto it =
      std::upper_bound(segments_.begin(), segments_.end(), t_s,
                       [](double t, const Segment& s) { return t < s.t_s; });
  return it == segments_.begin() ? &segments_.front() : &*(it - 1);
}

void CompensationTrack::Set(double t_s, const Vec2& v_nm_per_s) {
  if (!segments_.empty()) {
    t_s = std::max(t_s, segments_.back().t_s);
    if (segments_.back().v_nm_per_s == v_nm_per_s) return;
  }
  segments_.push_back({t_s, OffsetAt(t_s), v_nm_per_s});
  while (segments_.size() > kMaxCompensationSegments) segments_.pop_front();
}

Vec2 CompensationTrack::VelocityAt(double t_s) const {
  const Segment* s = At(t_s);
  return s ? s->v_nm_per_s : Vec2::Zero();
}

Vec2 CompensationTrack::OffsetAt(double t_s) const {
  const Segment* s = At(t_s);
  if (s == nullptr) return Vec2::Zero();
  // Before the first known change the velocity is taken as the first one.
  return s->offset_nm + s->v_nm_per_s * (t_s - s->t_s);
}

Vec2 CompensationTrack::current() const {
  return segments_.empty() ? Vec2::Zero() : segments_.back().v_nm_per_s;
}

// --- The bridge ---------------------------------------------------------

namespace {

class Bridge {
 public:
  Bridge(const BridgeOptions& o,
         const std::atomic<bool>& stop,
         BridgeCounters* counters)
      : o_(o), stop_(stop), c_(*counters), client_(o.controller) {}

  Status Run() {
    Status s = publisher_.Open(o_.publisher, stop_);
    if (!s.ok()) return s;
    try {
      drift_ = zmq::socket_t(drift_context_, zmq::socket_type::sub);
      drift_.set(zmq::sockopt::linger, 0);
      drift_.set(zmq::sockopt::rcvhwm, 1000);
      drift_.set(zmq::sockopt::subscribe, std::string(kTopicDrift));
      drift_.connect(o_.results_endpoint);
    } catch (const zmq::error_t& e) {
      return Status::Internal("cannot connect to " + o_.results_endpoint +
                              ": " + e.what());
    }
    spdlog::info(
        "[bridge] controller {}, frames on {}, drift from {}, channel {} {}, "
        "session {}, drift compensation {}",
        client_.peer(), publisher_.endpoint(), o_.results_endpoint,
        o_.channel.empty() ? "auto" : o_.channel, SxmTraceName(o_.trace),
        o_.session, o_.apply_drift ? "applied" : "not applied");
    int backoff_ms = o_.backoff_initial_ms;
    while (!stop_ && !Done()) {
      if (!client_.connected()) {
        if (!ConnectOnce()) {
          Wait(std::chrono::milliseconds(backoff_ms));
          backoff_ms = std::min(2 * backoff_ms, o_.backoff_max_ms);
        } else {
          backoff_ms = o_.backoff_initial_ms;
        }
        continue;
      }
      Step();
    }
    spdlog::info(
        "[bridge] {} frames published ({} failed), {} connections ({} "
        "reconnects, {} failed attempts, {} lost), {} controller errors, {} "
        "drift messages, {} compensation settings ({} clamped), {} refused "
        "({} saturated), daemon silent {} times",
        c_.frames_published, c_.frames_failed, c_.connects, c_.reconnects,
        c_.connect_failures, c_.controller_losses, c_.controller_errors,
        c_.drift_messages, c_.drift_applied, c_.drift_clamped, c_.drift_refused,
        c_.drift_saturated, c_.daemon_silences);
    return Status::Ok();
  }

 private:
  bool Done() const {
    return o_.max_frames > 0 && c_.frames_published >= o_.max_frames;
  }

  // Sleeps `duration` in short steps, handling drift messages meanwhile
  // (they are dropped while the controller is away).
  void Wait(std::chrono::milliseconds duration) {
    const Clock::time_point until = Clock::now() + duration;
    while (!stop_ && Clock::now() < until) {
      std::this_thread::sleep_for(
          std::min<Clock::duration>(until - Clock::now(), kStopCheck));
      PollDrift();
    }
  }

  bool ConnectOnce() {
    const Status s = client_.Connect();
    if (!s.ok()) {
      ++c_.connect_failures;
      if (failures_in_row_++ == 0 || failures_in_row_ % 20 == 0) {
        spdlog::warn("[bridge] {} (attempt {}; retrying with back-off)",
                     s.message(), failures_in_row_);
      }
      return false;
    }
    ++c_.connects;
    if (c_.connects > 1) {
      ++c_.reconnects;
      spdlog::info("[bridge] reconnected to {} after {} failed attempts",
                   client_.peer(), failures_in_row_);
    } else {
      spdlog::info("[bridge] connected to {}", client_.peer());
    }
    failures_in_row_ = 0;
    channel_index_.reset();
    return true;
  }

  // Counts and logs a failed call; true when the connection is gone.
  bool Failed(const Status& s, const char* what) {
    if (client_.last_failure() == CallFailure::kController) {
      ++c_.controller_errors;
      spdlog::warn("[bridge] {}: {}", what, s.message());
      return false;
    }
    ++c_.controller_losses;
    spdlog::warn("[bridge] {}: {}; reconnecting", what, s.message());
    client_.Close();
    return true;
  }

  // One wait for the end of a frame; then the frame and the drift.
  void Step() {
    nanonis::WaitEndOfScanReply eos;
    const Status s = client_.WaitEndOfScan(o_.wait_slice_ms, &eos);
    if (!s.ok()) {
      if (!Failed(s, "waiting for the end of scan")) Wait(kStopCheck);
      return;
    }
    if (!eos.timed_out) {
      const int64_t end_unix_ns = NowUnixNs();
      InboundFrame frame;
      const Status read = ReadFrame(end_unix_ns, &frame);
      if (read.ok()) {
        const Status sent = publisher_.Send(frame);
        if (sent.ok()) {
          ++c_.frames_published;
          ++frames_since_drift_;
          LogPublished(frame, eos.file_path);
        } else {
          ++c_.frames_failed;
          spdlog::error("[bridge] {}", sent.message());
        }
      } else {
        ++c_.frames_failed;
        if (client_.connected()) {
          spdlog::warn("[bridge] frame not read: {}", read.message());
        }
      }
      CheckDaemonSilence();
    }
    PollDrift();
  }

  void LogPublished(const InboundFrame& f, const std::string& file_path) {
    std::printf(
        "published frame %llu: %dx%d px, %.5gx%.5g nm/px, channel %s, "
        "offset (%.4g, %.4g) nm, compensation (%.4g, %.4g) nm/min%s%s\n",
        static_cast<unsigned long long>(f.frame_id), f.frame.image.cols,
        f.frame.image.rows, f.frame.pixel_size_x_nm, f.frame.pixel_size_y_nm,
        f.frame.channel.c_str(), f.frame.scan_offset_x_nm,
        f.frame.scan_offset_y_nm, f.frame.drift_compensation_nm_per_s.x() * 60,
        f.frame.drift_compensation_nm_per_s.y() * 60,
        file_path.empty() ? "" : ", saved ", file_path.c_str());
    std::fflush(stdout);
  }

  void CheckDaemonSilence() {
    if (frames_since_drift_ >= o_.daemon_silence_frames && !daemon_silent_) {
      daemon_silent_ = true;
      ++c_.daemon_silences;
      spdlog::warn(
          "[bridge] no drift message from the daemon for {} frames (is it "
          "running and subscribed to {}?)",
          frames_since_drift_, publisher_.endpoint());
    }
  }

  // The channels to publish, best first: --channel; else Z under
  // feedback, and at constant height (Z controller off) the signal
  // channels, then any channel but Z ("*").
  std::vector<std::string> Wanted(bool z_controller_on) const {
    if (!o_.channel.empty()) return {o_.channel};
    if (z_controller_on) return {"Z"};
    return {"Current",   "Frequency_Shift", "OC M1 Freq. Shift",
            "Amplitude", "Excitation",      "*"};
  }

  // The rank of `name` in `wanted` (wanted.size() when absent).
  static size_t Rank(const std::vector<std::string>& wanted,
                     const std::string& name) {
    for (size_t i = 0; i < wanted.size(); ++i) {
      if (wanted[i] == "*" ? !ChannelMatches("Z", name)
                           : ChannelMatches(wanted[i], name)) {
        return i;
      }
    }
    return wanted.size();
  }

  // The recorded channel ranked best in `wanted`, found by grabbing each
  // (once per connection and choice); `grab` receives its data.
  Status FindChannel(const nanonis::BufferGetReply& buffer,
                     const nanonis::FrameDataGrabRequest& base,
                     const std::vector<std::string>& wanted,
                     nanonis::FrameDataGrabReply* grab) {
    std::string names;
    size_t best = wanted.size();
    for (int32_t index : buffer.channel_indexes) {
      if (index < 0) continue;
      nanonis::FrameDataGrabRequest request = base;
      request.channel_index = static_cast<uint32_t>(index);
      nanonis::FrameDataGrabReply candidate;
      const Status s = client_.FrameDataGrab(request, &candidate);
      if (!s.ok()) {
        if (client_.last_failure() == CallFailure::kController) continue;
        return s;
      }
      names +=
          (names.empty() ? "" : ", ") + SanitizedForLog(candidate.channel_name);
      const size_t rank = Rank(wanted, candidate.channel_name);
      if (rank < best) {
        best = rank;
        channel_index_ = request.channel_index;
        *grab = std::move(candidate);
        if (rank == 0) break;
      }
    }
    if (best == wanted.size()) {
      channel_index_.reset();
      return Status::InvalidInput("no recorded channel is " + wanted.front() +
                                  " (recorded: " + names + ")");
    }
    spdlog::info("[bridge] publishing channel {} (signal index {}){}",
                 SanitizedForLog(grab->channel_name), *channel_index_,
                 o_.channel.empty() && wanted.front() != "Z"
                     ? ": the Z controller is off (constant height)"
                     : "");
    return Status::Ok();
  }

  Status Grab(const nanonis::BufferGetReply& buffer,
              const std::vector<std::string>& wanted,
              nanonis::FrameDataGrabReply* grab) {
    nanonis::FrameDataGrabRequest request;
    request.forward = o_.trace == SxmTrace::kForward;
    if (channel_index_ && wanted == wanted_) {
      request.channel_index = *channel_index_;
      Status s = client_.FrameDataGrab(request, grab);
      if (!s.ok() && client_.last_failure() != CallFailure::kController) {
        return s;
      }
      if (s.ok() && Rank(wanted, grab->channel_name) < wanted.size()) {
        return Status::Ok();
      }
    }
    channel_index_.reset();  // the buffer or the choice changed: look again
    wanted_ = wanted;
    return FindChannel(buffer, request, wanted, grab);
  }

  // Whether the Z controller is on (ZCtrl.OnOffGet), for the automatic
  // channel; on when the controller does not answer it.
  Status ZControllerOn(bool* on) {
    *on = true;
    if (!o_.channel.empty()) return Status::Ok();
    nanonis::ZCtrlOnOffGetReply z;
    const Status s = client_.ZCtrlOnOffGet(&z);
    if (s.ok()) {
      *on = z.on;
      return s;
    }
    if (client_.last_failure() == CallFailure::kController) {
      if (!warned_zctrl_) {
        warned_zctrl_ = true;
        spdlog::warn("[bridge] {}: taking the Z controller as on", s.message());
      }
      return Status::Ok();
    }
    return s;
  }

  // Reads the frame that ended at `end_unix_ns` into `out`.
  Status ReadFrame(int64_t end_unix_ns, InboundFrame* out) {
    nanonis::BufferGetReply buffer;
    nanonis::SpeedGetReply speed;
    nanonis::ScanFrame scan;
    nanonis::DriftCompGetReply comp;
    nanonis::FrameDataGrabReply grab;
    Status s = client_.BufferGet(&buffer);
    if (s.ok()) s = client_.SpeedGet(&speed);
    if (s.ok()) s = client_.FrameGet(&scan);
    if (s.ok()) s = client_.DriftCompGet(&comp);
    bool z_on = true;
    if (s.ok()) s = ZControllerOn(&z_on);
    if (s.ok()) s = Grab(buffer, Wanted(z_on), &grab);
    if (!s.ok()) {
      if (client_.last_failure() != CallFailure::kNone) {
        Failed(s, "reading the frame");
      }
      return s;
    }
    ObserveCompensation(comp);
    return MakeFrame(end_unix_ns, speed, scan, grab, out);
  }

  // Records a compensation the controller reports that differs from the
  // one the bridge knows (set by someone else, switched off, saturated).
  void ObserveCompensation(const nanonis::DriftCompGetReply& comp) {
    controller_ = comp;
    const Vec2 v = EffectiveVelocityNmPerS(comp);
    if (track_.empty() || track_.current() != v) track_.Set(NowUnixS(), v);
  }

  Status MakeFrame(int64_t end_unix_ns,
                   const nanonis::SpeedGetReply& speed,
                   const nanonis::ScanFrame& scan,
                   const nanonis::FrameDataGrabReply& grab,
                   InboundFrame* out) {
    if (grab.rows < 1 || grab.cols < 1 || grab.rows > kMaxSidePx ||
        grab.cols > kMaxSidePx ||
        grab.data.size() !=
            static_cast<size_t>(grab.rows) * static_cast<size_t>(grab.cols)) {
      return Status::InvalidInput("Scan.FrameDataGrab returned " +
                                  std::to_string(grab.rows) + " x " +
                                  std::to_string(grab.cols) + " px");
    }
    const double line_s = static_cast<double>(speed.forward_line_time_s) +
                          static_cast<double>(speed.backward_line_time_s);
    const double width_nm = scan.width_m * 1e9, height_nm = scan.height_m * 1e9;
    if (!std::isfinite(line_s) || line_s < 0 || line_s > 3600 ||
        !(width_nm > 0) || !(height_nm > 0) || !std::isfinite(width_nm) ||
        !std::isfinite(height_nm) || !std::isfinite(scan.center_x_m) ||
        !std::isfinite(scan.center_y_m) || !std::isfinite(scan.angle_deg)) {
      return Status::InvalidInput("absurd scan geometry or line time");
    }
    const bool backward = o_.trace == SxmTrace::kBackward;
    cv::Mat1f image(grab.rows, grab.cols);
    std::copy(grab.data.begin(), grab.data.end(), image.begin());
    if (backward) cv::flip(image, image, 1);      // right to left → canonical
    if (grab.scan_up) cv::flip(image, image, 0);  // first line at the bottom
    Frame& f = out->frame;
    f.image = image;
    f.channel = grab.channel_name;
    f.direction = SxmTraceName(o_.trace);
    f.pixel_size_x_nm = width_nm / grab.cols;
    f.pixel_size_y_nm = height_nm / grab.rows;
    f.scan_offset_x_nm = scan.center_x_m * 1e9;
    f.scan_offset_y_nm = scan.center_y_m * 1e9;
    f.scan_angle_deg = scan.angle_deg;
    f.line_time_s = line_s;
    const double duration_s = line_s * grab.rows;
    const double start_s = static_cast<double>(end_unix_ns) * 1e-9 - duration_s;
    if (line_s > 0) {
      f.line_times_s.resize(static_cast<size_t>(grab.rows));
      for (int r = 0; r < grab.rows; ++r) {
        const int index = grab.scan_up ? grab.rows - 1 - r : r;
        f.line_times_s[static_cast<size_t>(r)] =
            index * line_s + (backward ? speed.forward_line_time_s : 0.0);
      }
    }
    f.drift_compensation_nm_per_s = track_.VelocityAt(start_s);
    f.drift_compensation_offset_nm = track_.OffsetAt(start_s);
    f.source = "nanonis:" + client_.peer();
    out->frame_id = ++last_frame_id_;
    out->instrument = o_.instrument;
    out->session = o_.session;
    const double start_ns = start_s * 1e9;
    out->acquired_unix_ns =
        start_ns > 0 && start_ns < 7.2e18 ? static_cast<int64_t>(start_ns) : 0;
    return Status::Ok();
  }

  // Reads the waiting drift messages; applies the newest of this session.
  void PollDrift() {
    std::optional<v1::DriftEstimate> newest;
    for (int i = 0; i < kMaxDriftMessagesPerPoll; ++i) {
      zmq::message_t topic, payload;
      try {
        if (!drift_.recv(topic, zmq::recv_flags::dontwait)) break;
        if (!topic.more() || !drift_.recv(payload, zmq::recv_flags::dontwait)) {
          continue;
        }
      } catch (const zmq::error_t& e) {
        if (e.num() == EINTR) continue;
        spdlog::warn("[bridge] drift socket: {}", e.what());
        break;
      }
      v1::DriftEstimate d;
      if (topic.to_string_view() != kTopicDrift ||
          !d.ParseFromArray(payload.data(), static_cast<int>(payload.size())) ||
          d.session() != o_.session || d.frame_id() == 0 ||
          d.frame_id() > last_frame_id_) {
        continue;
      }
      ++c_.drift_messages;
      frames_since_drift_ = 0;
      if (daemon_silent_) {
        daemon_silent_ = false;
        spdlog::info("[bridge] the daemon answers again (frame {})",
                     d.frame_id());
      }
      if (!newest || d.frame_id() > newest->frame_id()) newest = std::move(d);
    }
    if (newest && o_.apply_drift && client_.connected()) Apply(*newest);
  }

  void Apply(const v1::DriftEstimate& d) {
    // The controller's state right now: saturation, vz, the limit.
    nanonis::DriftCompGetReply comp;
    Status s = client_.DriftCompGet(&comp);
    if (!s.ok()) {
      Failed(s, "reading the drift compensation");
      return;
    }
    ObserveCompensation(comp);
    CompensationState state;
    state.velocity_nm_per_s = EffectiveVelocityNmPerS(comp);
    state.x_saturated = comp.x_saturated;
    state.y_saturated = comp.y_saturated;
    const double since_s =
        last_set_
            ? std::chrono::duration<double>(Clock::now() - *last_set_).count()
            : 1e300;
    const DriftDecision decision = DecideDrift(d, o_.drift, since_s, state);
    if (decision.action != DriftAction::kApply) {
      ++c_.drift_refused;
      if (decision.action == DriftAction::kSaturated) ++c_.drift_saturated;
      if (decision.action != DriftAction::kRateLimited) {
        spdlog::debug("[bridge] drift of frame {} not applied: {}",
                      d.frame_id(), decision.reason);
      }
      if (decision.action == DriftAction::kSaturated &&
          c_.drift_saturated == 1) {
        spdlog::warn("[bridge] {}", decision.reason);
      }
      return;
    }
    nanonis::DriftCompSetRequest set;
    set.on = 1;
    set.vx_m_per_s = static_cast<float>(decision.velocity_nm_per_s.x() * 1e-9);
    set.vy_m_per_s = static_cast<float>(decision.velocity_nm_per_s.y() * 1e-9);
    set.vz_m_per_s = comp.vz_m_per_s;
    if (o_.saturation_limit_percent > 0) {
      set.saturation_limit_percent =
          static_cast<float>(o_.saturation_limit_percent);
    } else {
      set.saturation_limit_percent = comp.saturation_limit_percent;
    }
    const double t_s = NowUnixS();
    s = client_.DriftCompSet(set);
    if (!s.ok()) {
      Failed(s, "setting the drift compensation");
      return;
    }
    last_set_ = Clock::now();
    track_.Set(t_s, Vec2(set.vx_m_per_s * 1e9, set.vy_m_per_s * 1e9));
    ++c_.drift_applied;
    if (decision.clamped) ++c_.drift_clamped;
    std::printf("compensation set from frame %llu: (%.4g, %.4g) nm/min%s\n",
                static_cast<unsigned long long>(d.frame_id()),
                decision.velocity_nm_per_s.x() * 60,
                decision.velocity_nm_per_s.y() * 60,
                decision.clamped ? " (clamped)" : "");
    std::fflush(stdout);
  }

  const BridgeOptions& o_;
  const std::atomic<bool>& stop_;
  BridgeCounters& c_;
  NanonisClient client_;
  FramePublisher publisher_;
  zmq::context_t drift_context_{1};
  zmq::socket_t drift_;
  std::optional<uint32_t> channel_index_;
  std::vector<std::string> wanted_;  // the choice channel_index_ answers
  bool warned_zctrl_ = false;
  nanonis::DriftCompGetReply controller_;
  CompensationTrack track_;
  std::optional<Clock::time_point> last_set_;
  uint64_t last_frame_id_ = 0;
  int failures_in_row_ = 0;
  int frames_since_drift_ = 0;
  bool daemon_silent_ = false;
};

}  // namespace

Status RunNanonisBridge(const BridgeOptions& options,
                        const std::atomic<bool>& stop,
                        BridgeCounters* counters) {
  const Status valid = options.Validate();
  if (!valid.ok()) return valid;
  Bridge bridge(options, stop, counters);
  return bridge.Run();
}

}  // namespace anchord::daemon
