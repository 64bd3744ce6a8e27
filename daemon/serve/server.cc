#include "daemon/serve/server.h"

#include "daemon/common/clock.h"
#include "daemon/common/curve_keys.h"
#include "daemon/common/exit_codes.h"
#include "daemon/common/log_text.h"
#include "daemon/config/reload.h"
#include "daemon/serve/curve_auth.h"
#include "daemon/serve/metrics_http.h"
#include "daemon/serve/queries.h"
#include "daemon/serve/stages.h"
#include "daemon/serve/track_stage.h"
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <zmq_addon.hpp>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <sstream>

namespace anchord::daemon {
namespace {

using Clock = std::chrono::steady_clock;
namespace asio = boost::asio;

// Messages taken from one socket per turn of the serve loop, so that no
// peer — a flooding query client, a controller sending faster than the
// workers — keeps the loop from the other sockets. Frames are only queued
// (cheap), results only forwarded; a query is answered in the turn.
constexpr int kFramesPerTurn = 64;
constexpr int kResultsPerTurn = 256;
constexpr int kQueriesPerTurn = 32;
// The finished-results queue: batches (one per frame) and bytes held
// between the pipeline and the PUB socket at most.
constexpr size_t kResultBatches = 256;
constexpr size_t kResultBytes = size_t{512} << 20;
// Shutdown: how much longer than the drain deadline a stuck stage may
// keep the process before it exits without it.
constexpr auto kStopGrace = std::chrono::milliseconds(700);

// Poll timeout of the serve loop: normally, and while a frame is held.
constexpr auto kPollIdle = std::chrono::milliseconds(20);
constexpr auto kPollHolding = std::chrono::milliseconds(2);

// Tells systemd (Type=notify) about state changes; a no-op when the
// daemon was not started by systemd (no NOTIFY_SOCKET).
void NotifySystemd(const char* state) {
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (path == nullptr || path[0] == '\0') return;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const size_t len = std::strlen(path);
  if (len >= sizeof(addr.sun_path)) return;
  std::memcpy(addr.sun_path, path, len);
  if (addr.sun_path[0] == '@') addr.sun_path[0] = '\0';  // abstract socket
  const int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  sendto(fd, state, std::strlen(state), 0, reinterpret_cast<sockaddr*>(&addr),
         static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len));
  close(fd);
}

// "127.0.0.1:9105" → host and port; false when malformed.
bool SplitHostPort(const std::string& text,
                   std::string& host,
                   unsigned short& port) {
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos) return false;
  host = text.substr(0, colon);
  if (host.size() > 1 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  const int p = std::atoi(text.c_str() + colon + 1);
  if (p <= 0 || p > 65535) return false;
  port = static_cast<unsigned short>(p);
  return true;
}

// zmq::poll that treats an interrupting signal (EINTR: SIGTERM, SIGHUP
// arriving on this thread) as a timeout; the signal thread records it.
void Poll(zmq::pollitem_t* items,
          size_t count,
          std::chrono::milliseconds timeout) {
  try {
    zmq::poll(items, count, timeout);
  } catch (const zmq::error_t& e) {
    if (e.num() != EINTR) throw;
    for (size_t k = 0; k < count; ++k) items[k].revents = 0;
  }
}

StageStatsView View(const StageSnapshot& st) {
  StageStatsView v;
  v.name = st.name;
  v.errors = st.errors;
  v.processed = st.processed;
  v.exec_ms_p50 = st.exec_ms_p50;
  v.exec_ms_p90 = st.exec_ms_p90;
  v.exec_ms_p99 = st.exec_ms_p99;
  v.exec_ms_max = st.exec_ms_max;
  return v;
}

// "a, b, c".
std::string JoinKeys(const std::vector<std::string>& keys) {
  std::string out;
  for (const std::string& key : keys) out += (out.empty() ? "" : ", ") + key;
  return out;
}

void SetLogLevel(const std::string& level) {
  spdlog::set_level(spdlog::level::from_str(level));
}

}  // namespace

// Signals and the Prometheus endpoint, on their own io_context thread.
struct Server::AsioRuntime {
  asio::io_context io;
  asio::signal_set signals{io, SIGTERM, SIGINT, SIGHUP};
  std::unique_ptr<MetricsHttpServer> metrics;
  std::function<void(const boost::system::error_code&, int)> on_signal;
};

Server::Server(std::shared_ptr<const DaemonConfig> config,
               std::string config_path)
    : config_(std::move(config)),
      config_path_(std::move(config_path)),
      started_(Clock::now()),
      context_(1),
      finished_(kResultBatches, OverflowPolicy::kBlock, kResultBytes),
      warnings_(config_.Get()->logging.per_frame_warnings_per_s) {}

Server::~Server() {
  if (asio_) asio_->io.stop();
  if (signal_thread_ && signal_thread_->joinable()) signal_thread_->join();
}

bool Server::StartCurve(CurveKeyPair* server_keys) {
  const SecurityConfig& sec = config_.Get()->security;
  std::set<std::string> allowed;
  Status why =
      ReadCurveSecretKeyFile(sec.curve_server_secret_key_file, server_keys);
  if (why.ok()) {
    why = ReadCurveAllowList(sec.curve_allowed_client_keys_file, &allowed);
  }
  if (why.ok()) {
    const size_t clients = allowed.size();
    auth_ = CurveAuthenticator::Start(context_, std::move(allowed), &why);
    if (auth_) {
      spdlog::info(
          "[serve] CURVE on every socket: server key {}, {} "
          "client keys allowed",
          server_keys->public_z85, clients);
      return true;
    }
  }
  spdlog::critical("[serve] [security] {}", why.message());
  return false;
}

bool Server::OpenSockets() {
  const DaemonConfig& c = *config_.Get();
  CurveKeyPair server_keys;
  const bool curve = c.security.curve_enabled();
  if (curve && !StartCurve(&server_keys)) return false;
  try {
    frames_ = zmq::socket_t(context_, zmq::socket_type::sub);
    results_ = zmq::socket_t(context_, zmq::socket_type::pub);
    queries_ = zmq::socket_t(context_, zmq::socket_type::router);
    if (curve) {
      for (zmq::socket_t* socket : {&frames_, &results_, &queries_}) {
        SetCurveServer(*socket, server_keys);
      }
    }
    frames_.set(zmq::sockopt::subscribe, "");
    frames_.set(zmq::sockopt::rcvhwm, 64);
    if (c.endpoints.frames_mode == FramesMode::kBind) {
      frames_.bind(c.endpoints.frames);
    } else {
      frames_.connect(c.endpoints.frames);
    }
    results_.set(zmq::sockopt::linger, 1000);
    results_.bind(c.endpoints.results);
    queries_.set(zmq::sockopt::linger, 0);
    queries_.bind(c.endpoints.queries);
    handoff_in_ = zmq::socket_t(context_, zmq::socket_type::pull);
    handoff_in_.bind("inproc://anchord-results");
    handoff_out_ = zmq::socket_t(context_, zmq::socket_type::push);
    // A wake-up that finds the pipe full is not needed: one is pending.
    handoff_out_.set(zmq::sockopt::sndhwm, 4);
    handoff_out_.connect("inproc://anchord-results");
  } catch (const zmq::error_t& e) {
    spdlog::critical("[serve] cannot open sockets: {}", e.what());
    return false;
  }
  spdlog::info("[serve] frames {} ({}), results {}, queries {}",
               c.endpoints.frames, FramesModeName(c.endpoints.frames_mode),
               c.endpoints.results, c.endpoints.queries);
  return true;
}

bool Server::OpenMetrics() {
  asio_ = std::make_unique<AsioRuntime>();
  const std::string& http = config_.Get()->endpoints.http_metrics;
  if (http.empty()) return true;
  std::string host;
  unsigned short port = 0;
  Status why = Status::InvalidInput("metrics address '" + http +
                                    "': expected host:port");
  if (SplitHostPort(http, host, port)) {
    asio_->metrics = MetricsHttpServer::Open(
        asio_->io, host, port, MetricsHttpOptions{},
        [this] { return MetricsText(); }, &why);
  }
  if (!asio_->metrics) {
    spdlog::critical("[serve] metrics endpoint {}: {}", http, why.message());
    return false;
  }
  spdlog::info("[serve] Prometheus metrics on http://{}/metrics", http);
  return true;
}

void Server::StartSignalThread() {
  asio_->on_signal = [this](const boost::system::error_code& ec, int signo) {
    if (ec) return;
    if (signo == SIGHUP) {
      reload_requested_ = true;
    } else {
      stop_requested_ = true;
    }
    asio_->signals.async_wait(asio_->on_signal);
  };
  asio_->signals.async_wait(asio_->on_signal);
  if (asio_->metrics) asio_->metrics->Start();
  signal_thread_ = std::make_unique<std::thread>([this] { asio_->io.run(); });
}

int Server::Run() {
  const std::shared_ptr<const DaemonConfig> config = config_.Get();
  SetLogLevel(config->logging.level);
  Status opened;
  track_ = TrackService::Open(*config, &opened);
  if (!track_) {
    spdlog::error("[serve] defect catalog '{}' unavailable: {}",
                  config->catalog.options.path, opened.message());
    return kExitFailure;
  }
  if (!OpenSockets() || !OpenMetrics()) return kExitFailure;
  std::vector<std::unique_ptr<Stage>> ordered;
  ordered.push_back(std::make_unique<TrackStage>(track_));
  pipeline_ = std::make_unique<FramePipeline>(
      config->pipeline, MakeDaemonStages(), std::move(ordered),
      [this] { return config_.Get(); },
      [this](std::unique_ptr<Job> job) { OnJobDone(std::move(job)); });
  pipeline_->Start();
  StartSignalThread();
  NotifySystemd("READY=1");
  spdlog::info("[serve] ready: {} workers, ingest queue {} ({})",
               config->pipeline.workers, config->pipeline.ingest_queue,
               OverflowPolicyName(config->pipeline.ingest_overflow));
  next_status_ = Clock::now();
  ServeLoop();
  NotifySystemd("STOPPING=1");
  Drain();
  return kExitOk;
}

void Server::ServeLoop() {
  bool more_results = false;
  while (!stop_requested_) {
    // While a frame is held, the frame socket is left unread (ZeroMQ's
    // receive limit then pushes back) and the held frame retried often.
    // Results left over from the last turn: no waiting at all.
    const bool holding = !OfferHeldFrame();
    zmq::pollitem_t items[] = {
        {static_cast<void*>(handoff_in_), 0, ZMQ_POLLIN, 0},
        {static_cast<void*>(queries_), 0, ZMQ_POLLIN, 0},
        {static_cast<void*>(frames_), 0, ZMQ_POLLIN, 0}};
    const auto timeout = more_results ? std::chrono::milliseconds(0)
                         : holding    ? kPollHolding
                                      : kPollIdle;
    more_results = false;
    Poll(items, holding ? 2 : 3, timeout);
    try {
      if (!holding && (items[2].revents & ZMQ_POLLIN)) ReceiveFrames();
      more_results = ForwardResults();
      if (items[1].revents & ZMQ_POLLIN) AnswerQueries();
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) throw;  // a signal: the loop goes on
    }
    pipeline_->Poll();
    if (reload_requested_.exchange(false)) Reload();
    if (Clock::now() >= next_status_) PublishStatus();
  }
}

// Shutdown order: stop ingress, drain the pipeline within the
// deadline while still publishing what it finishes, flush, final status.
void Server::Drain() {
  const int drain_ms = config_.Get()->pipeline.drain_timeout_ms;
  spdlog::info("[serve] stopping: draining in-flight frames (up to {} ms)",
               drain_ms);
  frames_.close();
  std::atomic<bool> drained{false};
  std::thread stopper([&] {
    pipeline_->Stop(std::chrono::milliseconds(drain_ms));
    drained = true;
  });
  if (held_frame_) {
    spdlog::info(
        "[serve] stopping: 1 frame held for the full ingest queue "
        "is dropped");
    held_frame_.reset();
  }
  // A stage stuck past the deadline must not keep the process alive:
  // past drain + kStopGrace the daemon exits without it (what is
  // committed is on disk; an open catalog transaction rolls back).
  const auto give_up =
      Clock::now() + std::chrono::milliseconds(drain_ms) + kStopGrace;
  while (!drained) {
    zmq::pollitem_t item{static_cast<void*>(handoff_in_), 0, ZMQ_POLLIN, 0};
    Poll(&item, 1, std::chrono::milliseconds(10));
    ForwardResults();
    if (Clock::now() >= give_up) ExitStuck();
  }
  stopper.join();
  while (ForwardResults()) {
  }
  PublishStatus();
  const auto stats = pipeline_->Stats();
  spdlog::info("[serve] stopped: {} frames published, {} dropped",
               counters_.published.load(), stats.dropped);
  if (asio_) asio_->io.stop();
}

void Server::ExitStuck() {
  const FramePipeline::Snapshot s = pipeline_->Stats();
  spdlog::critical(
      "[serve] stopping: stage '{}' has run {:.0f} ms on one frame and did "
      "not finish within the drain deadline; exiting without it ({} frames "
      "published)",
      s.longest_running_stage, s.longest_running_ms,
      counters_.published.load());
  spdlog::shutdown();
  std::_Exit(kExitFailure);
}

bool Server::OfferHeldFrame() {
  if (!held_frame_) return true;
  if (pipeline_->TrySubmit(*held_frame_, held_frame_unix_ns_) ==
      PushOutcome::kFull) {
    return false;
  }
  held_frame_.reset();
  return true;
}

void Server::ReceiveFrames() {
  for (int turn = 0; turn < kFramesPerTurn; ++turn) {
    std::vector<zmq::message_t> parts;
    const auto got = zmq::recv_multipart(frames_, std::back_inserter(parts),
                                         zmq::recv_flags::dontwait);
    if (!got || parts.empty()) return;
    ++counters_.received;
    // A frame is a single message, or [topic, payload] from a controller
    // that publishes topics: the payload is the last part.
    std::string payload = parts.back().to_string();
    const int64_t received_unix_ns = NowUnixNs();
    if (pipeline_->TrySubmit(payload, received_unix_ns) == PushOutcome::kFull) {
      held_frame_ = std::move(payload);
      held_frame_unix_ns_ = received_unix_ns;
      return;
    }
  }
}

void Server::OnJobDone(std::unique_ptr<Job> job) {
  RecordOutcome(*job);
  size_t bytes = 0;
  for (const OutboundMessage& m : job->outputs) {
    bytes += m.topic.size() + m.payload.size();
  }
  // Waits while the queue is full: the I/O thread is the only consumer
  // and never waits on the pipeline, so this always ends. A batch larger
  // than the whole budget counts as the whole budget (it waits for an
  // empty queue; results are never dropped here).
  if (!finished_.Push(std::move(job->outputs), std::min(bytes, kResultBytes))) {
    return;  // closed: only at destruction
  }
  // A full wake-up pipe means the I/O thread has one pending already.
  try {
    handoff_out_.send(zmq::buffer("w", 1), zmq::send_flags::dontwait);
  } catch (const zmq::error_t&) {
  }
}

void Server::RecordOutcome(const Job& job) {
  switch (job.status.code()) {
    case StatusCode::kOk:
      break;
    case StatusCode::kInvalidInput:
      ++counters_.invalid;
      break;
    case StatusCode::kNoLattice:
      ++counters_.no_lattice;
      break;
    case StatusCode::kInternal:
      ++counters_.internal;
      break;
  }
  if (job.registered) {
    std::lock_guard lock(lib_stats_mutex_);
    for (const auto& [stage, ms] : job.result.timing_ms) {
      auto& stats = lib_stats_[stage];
      if (!stats) stats = std::make_unique<ExecStats>("register." + stage);
      stats->Record(ms, false);
    }
  }
  if (job.status.ok()) return;
  uint64_t suppressed = 0;
  if (warnings_.Allow(suppressed)) {
    spdlog::warn("[serve] frame {} (sequence {}): {}: {}{}",
                 job.inbound.frame_id, job.sequence,
                 StatusCodeName(job.status.code()),
                 OneLineForLog(job.status.message()),
                 suppressed ? " (" + std::to_string(suppressed) +
                                  " similar warnings suppressed)"
                            : std::string());
  }
}

bool Server::ForwardResults() {
  // Wake-ups only say "look at the queue"; drop them all.
  for (int k = 0; k < kResultsPerTurn; ++k) {
    zmq::message_t wake;
    if (!handoff_in_.recv(wake, zmq::recv_flags::dontwait)) break;
  }
  for (int turn = 0; turn < kResultsPerTurn; ++turn) {
    std::optional<std::vector<OutboundMessage>> batch = finished_.TryPop();
    if (!batch) return false;
    for (const OutboundMessage& m : *batch) {
      if (m.topic == kTopicRegistration) {
        ++counters_.published;
        latest_registration_ = m.payload;
      } else if (m.topic == kTopicSites) {
        latest_sites_ = m.payload;
      }
      results_.send(zmq::buffer(m.topic), zmq::send_flags::sndmore);
      results_.send(zmq::buffer(m.payload), zmq::send_flags::none);
    }
  }
  return true;
}

void Server::AnswerQueries() {
  for (int turn = 0; turn < kQueriesPerTurn; ++turn) {
    std::vector<zmq::message_t> parts;
    const auto got = zmq::recv_multipart(queries_, std::back_inserter(parts),
                                         zmq::recv_flags::dontwait);
    if (!got || parts.size() < 2) return;
    // [identity, (empty delimiter from REQ clients), request]
    v1::QueryRequest request;
    const Status decoded = DecodeQuery(parts.back().to_string_view(), &request);
    const v1::QueryReply reply =
        decoded.ok() ? Answer(request)
                     : MakeErrorReply(request.request_id(), decoded);
    const std::string body = reply.SerializeAsString();
    parts.back() = zmq::message_t(body.data(), body.size());
    zmq::send_multipart(queries_, parts);
  }
}

v1::QueryReply Server::Answer(const v1::QueryRequest& request) const {
  v1::QueryReply reply;
  reply.set_request_id(request.request_id());
  reply.set_ok(true);
  switch (request.query_case()) {
    case v1::QueryRequest::kHealth:
      *reply.mutable_health() = MakeStatus(Snapshot(), NowUnixNs());
      break;
    case v1::QueryRequest::kLatestResult:
      if (latest_registration_.empty() ||
          !reply.mutable_latest()->ParseFromString(latest_registration_)) {
        return MakeErrorReply(request.request_id(),
                              Status::NoLattice("no frame processed yet"));
      }
      break;
    case v1::QueryRequest::kSitesInRect: {
      const Status valid = ValidateSitesInRect(request.sites_in_rect());
      v1::Sites latest;
      if (!valid.ok()) return MakeErrorReply(request.request_id(), valid);
      if (latest_sites_.empty() || !latest.ParseFromString(latest_sites_)) {
        return MakeErrorReply(request.request_id(),
                              Status::NoLattice("no frame registered yet"));
      }
      *reply.mutable_sites() = SitesInRect(latest, request.sites_in_rect());
      break;
    }
    case v1::QueryRequest::kCurrentConfig:
      reply.set_config_toml(ToToml(*config_.Get()));
      break;
    case v1::QueryRequest::kLatestDrift: {
      const Status found = track_->LatestDrift(request.latest_drift().session(),
                                               reply.mutable_drift());
      if (!found.ok()) return MakeErrorReply(request.request_id(), found);
      break;
    }
    case v1::QueryRequest::kFindDefects: {
      const Status found = track_->FindDefects(
          request.find_defects(), config_.Get()->catalog.max_query_results,
          reply.mutable_defects());
      if (!found.ok()) return MakeErrorReply(request.request_id(), found);
      break;
    }
    case v1::QueryRequest::QUERY_NOT_SET:
      return MakeErrorReply(request.request_id(),
                            Status::InvalidInput("query: no query set"));
  }
  return reply;
}

DaemonCounters Server::Snapshot() const {
  DaemonCounters c;
  c.uptime_s = std::chrono::duration<double>(Clock::now() - started_).count();
  // Status.config_version counts from 1 (anchord.proto); the holder's
  // version from 0.
  c.config_version = config_.version() + 1;
  c.frames_received = counters_.received;
  c.frames_published = counters_.published;
  c.frames_invalid = counters_.invalid;
  c.frames_no_lattice = counters_.no_lattice;
  c.frames_internal_error = counters_.internal;
  if (track_) {
    const TrackService::Evictions e = track_->evictions();
    c.catalog_sessions_evicted = static_cast<uint64_t>(e.catalog_sessions);
    c.catalog_defects_evicted = static_cast<uint64_t>(e.catalog_defects);
    c.trackers_evicted = static_cast<uint64_t>(e.trackers);
  }
  if (!pipeline_) return c;
  const FramePipeline::Snapshot s = pipeline_->Stats();
  c.frames_dropped = s.dropped;
  c.reorder_skipped = s.reorder_skipped;
  StageStatsView ingest;
  ingest.name = "ingest";
  ingest.queue_depth = s.queue_depth;
  ingest.queue_capacity = s.queue_capacity;
  ingest.dropped = s.dropped;
  ingest.processed = s.submitted;
  c.stages.push_back(ingest);
  for (const StageSnapshot& st : s.stages) c.stages.push_back(View(st));
  StageStatsView reorder;
  reorder.name = "reorder";
  reorder.queue_depth = s.reorder_depth;
  reorder.queue_capacity = s.reorder_capacity;
  reorder.dropped = s.reorder_skipped;
  reorder.processed = s.completed;
  c.stages.push_back(reorder);
  std::lock_guard lock(lib_stats_mutex_);
  for (const auto& [name, stats] : lib_stats_) {
    c.stages.push_back(View(stats->Snapshot()));
  }
  return c;
}

void Server::ReportStuckStages() {
  const FramePipeline::Snapshot s = pipeline_->Stats();
  const double deadline_ms = pipeline_->options().stage_deadline_ms;
  if (s.longest_running_ms <= deadline_ms) return;
  uint64_t suppressed = 0;
  if (!warnings_.Allow(suppressed)) return;
  spdlog::warn(
      "[serve] watchdog: stage '{}' has run {:.0f} ms on one frame "
      "(deadline {:.0f} ms); {} frames abandoned so far",
      s.longest_running_stage, s.longest_running_ms, deadline_ms,
      s.ordered_abandoned);
}

void Server::PublishStatus() {
  ReportStuckStages();
  const v1::Status status = MakeStatus(Snapshot(), NowUnixNs());
  const std::string body = status.SerializeAsString();
  results_.send(zmq::buffer(kTopicStatus), zmq::send_flags::sndmore);
  results_.send(zmq::buffer(body), zmq::send_flags::none);
  next_status_ = Clock::now() + std::chrono::milliseconds(
                                    config_.Get()->pipeline.status_period_ms);
}

std::string Server::MetricsText() const {
  const DaemonCounters c = Snapshot();
  std::ostringstream out;
  const auto counter = [&](const char* name, const char* help, double value) {
    out << "# HELP anchord_" << name << ' ' << help << "\n# TYPE anchord_"
        << name << " counter\nanchord_" << name << ' ' << value << '\n';
  };
  counter("frames_received_total", "Frames read from the frame socket.",
          c.frames_received);
  counter("frames_published_total", "Registration results published.",
          c.frames_published);
  counter("frames_dropped_total", "Frames dropped at ingest (overflow).",
          c.frames_dropped);
  counter("frames_invalid_total", "Frames answered invalid_input.",
          c.frames_invalid);
  counter("frames_no_lattice_total", "Frames answered no_lattice.",
          c.frames_no_lattice);
  counter("frames_internal_error_total", "Frames answered internal_error.",
          c.frames_internal_error);
  counter("catalog_sessions_evicted_total",
          "Sessions the catalog's global bounds evicted.",
          c.catalog_sessions_evicted);
  counter("catalog_defects_evicted_total",
          "Defects removed with the sessions the catalog evicted.",
          c.catalog_defects_evicted);
  counter("trackers_evicted_total",
          "Idle session trackers dropped from memory (state stored).",
          c.trackers_evicted);
  if (auth_) {
    counter("curve_clients_accepted_total",
            "CURVE handshakes admitted by the client allow-list.",
            auth_->accepted());
    counter("curve_clients_refused_total",
            "CURVE handshakes refused (unknown key or malformed).",
            auth_->refused());
  }
  if (pipeline_) {
    const FramePipeline::Snapshot p = pipeline_->Stats();
    counter("reorder_late_total",
            "Frames finished after the reorder buffer gave up on them "
            "(not published).",
            p.reorder_late);
    counter("ordered_abandoned_total",
            "Frames whose tracking the watchdog abandoned.",
            p.ordered_abandoned);
    out << "# HELP anchord_stage_longest_running_seconds The stage call "
           "running longest right now.\n"
           "# TYPE anchord_stage_longest_running_seconds gauge\n"
           "anchord_stage_longest_running_seconds "
        << p.longest_running_ms * 1e-3 << '\n';
  }
  out << "# HELP anchord_uptime_seconds Time since start.\n"
         "# TYPE anchord_uptime_seconds gauge\nanchord_uptime_seconds "
      << c.uptime_s << '\n';
  out << "# HELP anchord_stage_exec_ms Stage execution time percentiles.\n"
         "# TYPE anchord_stage_exec_ms gauge\n";
  for (const StageStatsView& s : c.stages) {
    for (const auto& [q, v] :
         {std::pair{"0.5", s.exec_ms_p50}, std::pair{"0.9", s.exec_ms_p90},
          std::pair{"0.99", s.exec_ms_p99}}) {
      out << "anchord_stage_exec_ms{stage=\"" << s.name << "\",quantile=\"" << q
          << "\"} " << v << '\n';
    }
  }
  out << "# HELP anchord_stage_queue_depth Items waiting in a queue.\n"
         "# TYPE anchord_stage_queue_depth gauge\n";
  for (const StageStatsView& s : c.stages) {
    out << "anchord_stage_queue_depth{stage=\"" << s.name << "\"} "
        << s.queue_depth << '\n';
  }
  return out.str();
}

void Server::Reload() {
  if (config_path_.empty()) {
    spdlog::warn("[serve] SIGHUP: no configuration file to reload");
    return;
  }
  const LoadedConfig loaded = LoadConfigFile(config_path_);
  if (!loaded.status.ok()) {
    spdlog::error("[serve] reload rejected, old configuration kept:\n{}",
                  loaded.status.message());
    return;
  }
  const ReloadPlan plan = ApplyReloadable(*config_.Get(), *loaded.config);
  if (!plan.need_restart.empty()) {
    spdlog::warn("[serve] reload: {} need a restart; not applied",
                 JoinKeys(plan.need_restart));
  }
  SetLogLevel(plan.config.logging.level);
  warnings_.set_rate(plan.config.logging.per_frame_warnings_per_s);
  const uint64_t version =
      config_.Set(std::make_shared<const DaemonConfig>(plan.config)) + 1;
  spdlog::info("[serve] configuration version {} loaded from {}; changed: {}",
               version, config_path_,
               plan.applied.empty() ? "nothing" : JoinKeys(plan.applied));
}

}  // namespace anchord::daemon
