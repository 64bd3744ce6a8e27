#include "support/nanonis_simulator.h"

#include "anchord/util/check.h"

#include "daemon/instrument/nanonis_codec.h"
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <fcntl.h>
#include <opencv2/core.hpp>

#include <array>
#include <condition_variable>
#include <future>
#include <mutex>
#include <optional>
#include <thread>

namespace anchord::testing {
namespace {

namespace asio = boost::asio;
namespace nn = daemon::nanonis;
using asio::ip::tcp;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;

constexpr uint32_t kZChannel = 30;
constexpr uint32_t kCurrentChannel = 0;
// Longest wait of Scan.FrameDataGrab for the frame that just ended to be
// rendered, and the poll period of waiting commands.
constexpr std::chrono::milliseconds kRenderWait{5000};
constexpr std::chrono::milliseconds kPoll{1};

void KeepFromChildren(int fd) {
  const int flags = fcntl(fd, F_GETFD);
  if (flags >= 0) fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
}

}  // namespace

struct NanonisSimulator::Impl {
  struct Session;

  explicit Impl(NanonisSimulatorOptions options)
      : o(std::move(options)), instrument(o.instrument) {}

  NanonisSimulatorOptions o;

  // Shared between the scan thread and the server thread.
  mutable std::mutex mu;
  std::condition_variable cv;
  SimulatedInstrument instrument;
  bool stopping = false;
  int64_t ended = 0;     // frames whose last line has passed
  int64_t rendered = 0;  // frames scanned (rendered) so far
  double last_end = 0;   // instrument time of the latest frame's end
  cv::Mat1f latest;      // the latest rendered frame, canonical
  std::vector<daemon::LoopFrame> truth;
  Vec2 compensation_nm_per_s = Vec2::Zero();  // instrument units
  bool compensation_on = false;
  Vec2 scan_offset_nm = Vec2::Zero();
  int connections = 0;
  int drift_sets = 0;

  // Wall clock ↔ instrument time.
  Clock::time_point wall0;
  double t0 = 0;

  std::thread scan_thread, io_thread;
  asio::io_context io;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>>
      work;
  tcp::acceptor acceptor{io};
  int port = 0;
  std::vector<std::weak_ptr<Session>> sessions;  // server thread only

  Clock::time_point WallOf(double t) const {
    return wall0 + std::chrono::duration_cast<Clock::duration>(
                       std::chrono::duration<double>((t - t0) / o.time_scale));
  }
  double InstrumentNow() const {
    return t0 + std::chrono::duration<double>(Clock::now() - wall0).count() *
                    o.time_scale;
  }

  void ScanLoop() {
    const int rows = o.instrument.scan.height_px;
    for (;;) {
      double end = 0;
      {
        std::unique_lock lock(mu);
        end = instrument.now_unix_s() + rows * o.instrument.line_time_s;
        cv.wait_until(lock, WallOf(end), [this] { return stopping; });
        if (stopping) return;
        ++ended;
        cv.notify_all();
      }
      std::lock_guard lock(mu);
      const SimulatedFrame sf = instrument.ScanNextFrame();
      last_end = end;
      latest = sf.scan.frame.image.clone();
      daemon::LoopFrame f;
      f.frame_id = static_cast<uint64_t>(sf.index) + 1;
      f.start_unix_s = sf.scan.frame.acquired_unix_s;
      f.duration_s = rows * o.instrument.line_time_s;
      f.true_velocity_nm_per_s = sf.drift_velocity_nm_per_s;
      f.apparent_start_nm = sf.apparent_start_nm;
      f.apparent_end_nm = sf.apparent_end_nm;
      f.compensation_nm_per_s = sf.scan.frame.drift_compensation_nm_per_s;
      truth.push_back(std::move(f));
      ++rendered;
      cv.notify_all();
    }
  }

  // --- Server (io thread) ----------------------------------------------

  Status Listen() {
    error_code ec;
    const tcp::endpoint at(asio::ip::make_address("127.0.0.1"),
                           static_cast<unsigned short>(port));
    acceptor.open(at.protocol(), ec);
    // Child processes the test spawns (the daemon, the bridge) must not
    // inherit the port: it would stay open in them.
    if (!ec) KeepFromChildren(acceptor.native_handle());
    if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor.bind(at, ec);
    if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      error_code ignored;
      acceptor.close(ignored);
      return Status::Internal("simulator: cannot listen on 127.0.0.1:" +
                              std::to_string(port) + ": " + ec.message());
    }
    port = acceptor.local_endpoint().port();
    Accept();
    return Status::Ok();
  }

  void Accept();
  void CloseAll() {
    error_code ignored;
    acceptor.close(ignored);
    for (const std::weak_ptr<Session>& w : sessions) {
      if (const auto s = w.lock()) s->Close();
    }
    sessions.clear();
  }

  // Runs `f` on the io thread and waits for it.
  template <typename F>
  auto OnIo(F f) {
    std::packaged_task<decltype(f())()> task(std::move(f));
    auto result = task.get_future();
    asio::post(io, [&task] { task(); });
    return result.get();
  }

  struct Session : std::enable_shared_from_this<Session> {
    Session(Impl* impl, tcp::socket s)
        : impl(impl), socket(std::move(s)), timer(impl->io) {}
    Impl* impl;
    tcp::socket socket;
    asio::steady_timer timer;
    std::array<char, nn::kHeaderBytes> header{};
    nn::Header request;
    std::string body, out;

    void Close() {
      error_code ignored;
      timer.cancel();
      socket.close(ignored);
    }

    void ReadHeader() {
      auto self = shared_from_this();
      asio::async_read(socket, asio::buffer(header),
                       [self](const error_code& ec, size_t) {
                         if (ec) return;
                         self->OnHeader();
                       });
    }

    void OnHeader() {
      if (!nn::DecodeHeader(std::string_view(header.data(), header.size()),
                            &request)
               .ok()) {
        Close();
        return;
      }
      body.assign(request.body_size, '\0');
      if (body.empty()) {
        Handle();
        return;
      }
      auto self = shared_from_this();
      asio::async_read(socket, asio::buffer(body.data(), body.size()),
                       [self](const error_code& ec, size_t) {
                         if (!ec) self->Handle();
                       });
    }

    void Reply(const std::string& reply_body) {
      if (request.send_response == 0) {
        ReadHeader();
        return;
      }
      out = nn::EncodeMessage(request.command, reply_body, 0);
      auto self = shared_from_this();
      asio::async_write(socket, asio::buffer(out),
                        [self](const error_code& ec, size_t) {
                          if (!ec) self->ReadHeader();
                        });
    }

    void Error(const std::string& why) {
      Reply(nn::EncodeEmptyReply({1, why}));
    }

    // Polls `ready` every kPoll until it gives a reply body or `deadline`
    // passes (then `late`).
    template <typename Ready, typename Late>
    void Await(Ready ready, Late late, Clock::time_point deadline) {
      if (std::optional<std::string> reply = ready()) {
        Reply(*reply);
        return;
      }
      if (Clock::now() >= deadline) {
        Reply(late());
        return;
      }
      timer.expires_after(kPoll);
      auto self = shared_from_this();
      timer.async_wait([self, ready, late, deadline](const error_code& ec) {
        if (!ec) self->Await(ready, late, deadline);
      });
    }

    void Handle();
  };

  std::string FrameGetReply() {
    std::lock_guard lock(mu);
    const SyntheticScanOptions& s = o.instrument.scan;
    const double px_nm = s.field_of_view_nm / s.width_px;
    nn::ScanFrame f;
    f.center_x_m = static_cast<float>(scan_offset_nm.x() * 1e-9);
    f.center_y_m = static_cast<float>(scan_offset_nm.y() * 1e-9);
    f.width_m = static_cast<float>(s.field_of_view_nm * 1e-9);
    f.height_m = static_cast<float>(px_nm * s.height_px * 1e-9);
    f.angle_deg = 0;
    return nn::EncodeReply(f, {});
  }

  std::string SpeedGetReply() const {
    const double half_line_s = 0.5 * o.instrument.line_time_s / o.time_scale;
    nn::SpeedGetReply r;
    r.forward_line_time_s = static_cast<float>(half_line_s);
    r.backward_line_time_s = static_cast<float>(half_line_s);
    r.forward_speed_m_per_s = static_cast<float>(
        o.instrument.scan.field_of_view_nm * 1e-9 / half_line_s);
    r.backward_speed_m_per_s = r.forward_speed_m_per_s;
    r.keep_constant = 1;
    r.speed_ratio = 1;
    return nn::EncodeReply(r, {});
  }

  std::string DriftCompGetReply() {
    std::lock_guard lock(mu);
    nn::DriftCompGetReply r;
    r.on = compensation_on;
    const Vec2 v = compensation_nm_per_s * o.time_scale * 1e-9;
    r.vx_m_per_s = static_cast<float>(v.x());
    r.vy_m_per_s = static_cast<float>(v.y());
    if (o.saturation_limit_percent >= 0) {
      r.saturation_limit_percent = o.saturation_limit_percent;
    }
    return nn::EncodeReply(r, {});
  }

  void DriftCompSet(const nn::DriftCompSetRequest& r) {
    std::lock_guard lock(mu);
    // Now, and never before the end of the frame scanned last (the wall
    // clock's rounding).
    const double t = std::max(InstrumentNow(), last_end);
    if (r.on >= 0) compensation_on = r.on == 1;
    compensation_nm_per_s =
        Vec2(r.vx_m_per_s, r.vy_m_per_s) * 1e9 / o.time_scale;
    const Vec2 applied = compensation_on ? compensation_nm_per_s : Vec2::Zero();
    instrument.SetDriftCompensationAt(applied, t);
    ++drift_sets;
  }

  // The data of the latest frame that ended; nullopt while it is being
  // rendered.
  std::optional<std::string> Grab(const nn::FrameDataGrabRequest& r) {
    std::lock_guard lock(mu);
    if (rendered < ended || rendered == 0) return std::nullopt;
    nn::FrameDataGrabReply g;
    g.rows = latest.rows;
    g.cols = latest.cols;
    g.data.resize(latest.total());
    g.scan_up = false;  // the first line scanned is row 0
    g.channel_name = r.channel_index == kZChannel ? "Z" : "Current";
    if ((r.channel_index == kZChannel) != o.constant_height) {
      cv::Mat1f stored;
      // A backward line is stored as the tip moved: right to left.
      if (r.forward) {
        stored = latest;
      } else {
        cv::flip(latest, stored, 1);
      }
      std::copy(stored.begin(), stored.end(), g.data.begin());
    } else {
      std::fill(g.data.begin(), g.data.end(),
                r.channel_index == kZChannel ? 1.5e-9f : 1e-10f);
    }
    return nn::EncodeReply(g, {});
  }
};

void NanonisSimulator::Impl::Accept() {
  acceptor.async_accept([this](const error_code& ec, tcp::socket socket) {
    if (ec || !acceptor.is_open()) return;  // closed
    {
      std::lock_guard lock(mu);
      ++connections;
    }
    KeepFromChildren(socket.native_handle());
    auto session = std::make_shared<Session>(this, std::move(socket));
    sessions.push_back(session);
    session->ReadHeader();
    Accept();
  });
}

void NanonisSimulator::Impl::Session::Handle() {
  const std::string& c = request.command;
  if (c == nn::kScanWaitEndOfScan) {
    nn::WaitEndOfScanRequest r;
    if (!nn::DecodeRequest(body, &r).ok()) return Error("bad arguments");
    int64_t target = 0;
    {
      std::lock_guard lock(impl->mu);
      target = impl->ended;
    }
    const Clock::time_point deadline =
        r.timeout_ms < 0
            ? Clock::now() + std::chrono::hours(24)
            : Clock::now() + std::chrono::milliseconds(r.timeout_ms);
    Impl* im = impl;
    Await(
        [im, target]() -> std::optional<std::string> {
          std::lock_guard lock(im->mu);
          if (im->ended <= target) return std::nullopt;
          return nn::EncodeReply(
              nn::WaitEndOfScanReply{
                  false, "sim_" + std::to_string(im->ended) + ".sxm"},
              {});
        },
        [] {
          return nn::EncodeReply(nn::WaitEndOfScanReply{true, ""}, {});
        },
        deadline);
    return;
  }
  if (c == nn::kScanFrameDataGrab) {
    nn::FrameDataGrabRequest r;
    if (!nn::DecodeRequest(body, &r).ok()) return Error("bad arguments");
    if (r.channel_index != kZChannel && r.channel_index != kCurrentChannel) {
      return Error("channel " + std::to_string(r.channel_index) +
                   " is not recorded");
    }
    Impl* im = impl;
    Await([im, r] { return im->Grab(r); },
          [] {
            return nn::EncodeEmptyReply({1, "no frame scanned yet"});
          },
          Clock::now() + kRenderWait);
    return;
  }
  if (c == nn::kScanFrameGet) return Reply(impl->FrameGetReply());
  if (c == nn::kZCtrlOnOffGet) {
    return Reply(
        nn::EncodeReply(nn::ZCtrlOnOffGetReply{!impl->o.constant_height}, {}));
  }
  if (c == nn::kScanSpeedGet) return Reply(impl->SpeedGetReply());
  if (c == nn::kPiezoDriftCompGet) return Reply(impl->DriftCompGetReply());
  if (c == nn::kScanBufferGet) {
    nn::BufferGetReply r;
    r.channel_indexes = {static_cast<int32_t>(kCurrentChannel),
                         static_cast<int32_t>(kZChannel)};
    r.pixels = impl->o.instrument.scan.width_px;
    r.lines = impl->o.instrument.scan.height_px;
    return Reply(nn::EncodeReply(r, {}));
  }
  if (c == nn::kPiezoDriftCompSet) {
    nn::DriftCompSetRequest r;
    if (!nn::DecodeRequest(body, &r).ok() ||
        !Vec2(r.vx_m_per_s, r.vy_m_per_s).allFinite()) {
      return Error("bad arguments");
    }
    impl->DriftCompSet(r);
    return Reply(nn::EncodeEmptyReply({}));
  }
  if (c == nn::kScanFrameSet) {
    nn::ScanFrame r;
    if (!nn::DecodeRequest(body, &r).ok() ||
        !Vec2(r.center_x_m, r.center_y_m).allFinite()) {
      return Error("bad arguments");
    }
    {
      std::lock_guard lock(impl->mu);
      impl->scan_offset_nm = Vec2(r.center_x_m, r.center_y_m) * 1e9;
      impl->instrument.SetScanOffset(impl->scan_offset_nm);
    }
    return Reply(nn::EncodeEmptyReply({}));
  }
  Error("unknown command " + c);
}

NanonisSimulator::NanonisSimulator(NanonisSimulatorOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {
  ANCHORD_CHECK(impl_->o.time_scale > 0) << "time_scale must be > 0";
}

NanonisSimulator::~NanonisSimulator() { Stop(); }

Status NanonisSimulator::Start() {
  Impl& m = *impl_;
  m.port = m.o.port;
  const Status s = m.Listen();
  if (!s.ok()) return s;
  m.wall0 = Clock::now();
  m.t0 = m.instrument.now_unix_s();
  m.work.emplace(m.io.get_executor());
  m.io_thread = std::thread([&m] { m.io.run(); });
  m.scan_thread = std::thread([&m] { m.ScanLoop(); });
  return Status::Ok();
}

int NanonisSimulator::port() const { return impl_->port; }

void NanonisSimulator::StopListening() {
  Impl& m = *impl_;
  if (!m.io_thread.joinable()) return;
  m.OnIo([&m] {
    m.CloseAll();
    return 0;
  });
}

Status NanonisSimulator::ResumeListening() {
  Impl& m = *impl_;
  if (!m.io_thread.joinable()) return Status::Internal("simulator: stopped");
  return m.OnIo([&m] { return m.Listen(); });
}

void NanonisSimulator::Stop() {
  Impl& m = *impl_;
  {
    std::lock_guard lock(m.mu);
    m.stopping = true;
    m.cv.notify_all();
  }
  if (m.scan_thread.joinable()) m.scan_thread.join();
  if (m.io_thread.joinable()) {
    StopListening();
    m.work.reset();
    m.io.stop();
    m.io_thread.join();
  }
}

std::vector<daemon::LoopFrame> NanonisSimulator::frames() const {
  std::lock_guard lock(impl_->mu);
  return impl_->truth;
}

int64_t NanonisSimulator::frames_scanned() const {
  std::lock_guard lock(impl_->mu);
  return impl_->rendered;
}

int NanonisSimulator::connections() const {
  std::lock_guard lock(impl_->mu);
  return impl_->connections;
}

int NanonisSimulator::drift_sets() const {
  std::lock_guard lock(impl_->mu);
  return impl_->drift_sets;
}

Vec2 NanonisSimulator::compensation_nm_per_s() const {
  std::lock_guard lock(impl_->mu);
  return impl_->compensation_on ? impl_->compensation_nm_per_s : Vec2::Zero();
}

}  // namespace anchord::testing
