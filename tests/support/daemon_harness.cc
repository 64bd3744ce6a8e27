#include "support/daemon_harness.h"

#include "daemon/wire/wire.h"
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <opencv2/core.hpp>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq_addon.hpp>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <random>
#include <sstream>
#include <thread>

extern char** environ;

namespace anchord::testing {
namespace fs = std::filesystem;
namespace {

using Clock = std::chrono::steady_clock;

// Nominal pixel size of the test frames, nm: 15 nm over 256 px, about 46
// px per 7×7 cell.
constexpr double kPixelNm = 15.0 / 256.0;

Millis Remaining(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now());
  return left.count() > 0 ? left : Millis(0);
}

// True when `socket` has a message within `timeout`.
bool PollIn(zmq::socket_t& socket, Millis timeout) {
  zmq::pollitem_t item{static_cast<void*>(socket), 0, ZMQ_POLLIN, 0};
  zmq::poll(&item, 1, timeout);
  return (item.revents & ZMQ_POLLIN) != 0;
}

ExitInfo ToExitInfo(int raw) {
  ExitInfo info;
  if (WIFEXITED(raw)) {
    info.exited = true;
    info.code = WEXITSTATUS(raw);
  } else if (WIFSIGNALED(raw)) {
    info.signal = WTERMSIG(raw);
  }
  return info;
}

}  // namespace

int FreeLoopbackPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  int port = -1;
  socklen_t len = sizeof(addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

std::string LoopbackEndpoint(int port) {
  return "tcp://127.0.0.1:" + std::to_string(port);
}

std::string AnchordBinary() {
  const char* bin = std::getenv("ANCHORD_BIN");
  return bin == nullptr ? std::string() : std::string(bin);
}

fs::path SourceRoot() {
  if (const char* dir = std::getenv("ANCHORD_SOURCE_DIR"); dir && *dir) {
    return dir;
  }
  // This file is <root>/tests/support/daemon_harness.cc.
  return fs::path(__FILE__).parent_path().parent_path().parent_path();
}

bool WriteFileAtomically(const std::string& path, const std::string& text) {
  const std::string temp = path + ".tmp";
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out.good()) return false;
  }
  std::error_code ec;
  fs::rename(temp, path, ec);
  return !ec;
}

std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream all;
  all << in.rdbuf();
  return all.str();
}

daemon::DaemonConfig MakeTestConfig(const std::string& frames_endpoint) {
  daemon::DaemonConfig c;
  c.endpoints.frames = frames_endpoint;
  c.endpoints.frames_mode = daemon::FramesMode::kConnect;
  c.endpoints.results = LoopbackEndpoint(FreeLoopbackPort());
  c.endpoints.queries = LoopbackEndpoint(FreeLoopbackPort());
  c.endpoints.http_metrics = "127.0.0.1:" + std::to_string(FreeLoopbackPort());
  c.pipeline.status_period_ms = 100;
  c.logging.level = "info";
  c.catalog.options.path = "";
  return c;
}

pid_t SpawnLogged(const std::vector<std::string>& argv,
                  const std::string& log_path,
                  std::string* error) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_path.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  std::vector<std::string> args = argv;
  std::vector<char*> raw;
  for (std::string& a : args) raw.push_back(a.data());
  raw.push_back(nullptr);
  pid_t pid = -1;
  const int rc =
      posix_spawnp(&pid, raw[0], &actions, nullptr, raw.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    *error = "posix_spawn " + argv[0] + ": " + std::strerror(rc);
    return -1;
  }
  return pid;
}

std::optional<ExitInfo> WaitChild(pid_t pid, Millis timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    int raw = 0;
    const pid_t got = ::waitpid(pid, &raw, WNOHANG);
    if (got == pid) return ToExitInfo(raw);
    if (got < 0) return ExitInfo{};  // not our child (any more)
    if (Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(Millis(5));
  }
}

// --- DaemonProcess ----------------------------------------------------------

DaemonProcess::DaemonProcess(const daemon::DaemonConfig& config)
    : dir_("anchord_daemon_it"),
      config_path_(dir_ / "anchord.toml"),
      log_path_(dir_ / "daemon.log") {
  WriteFileAtomically(config_path_, daemon::ToToml(config));
}

DaemonProcess::~DaemonProcess() {
  if (pid_ > 0 && !exit_) {
    ::kill(pid_, SIGKILL);
    int raw = 0;
    ::waitpid(pid_, &raw, 0);
  }
}

bool DaemonProcess::Start(std::string* error) {
  const std::string bin = AnchordBinary();
  if (bin.empty()) {
    *error = "ANCHORD_BIN is not set; run this test through ctest";
    return false;
  }
  pid_ =
      SpawnLogged({bin, "serve", "--config", config_path_}, log_path_, error);
  return pid_ > 0;
}

bool DaemonProcess::Running() {
  if (pid_ <= 0 || exit_) return false;
  exit_ = WaitChild(pid_, Millis(0));
  return !exit_;
}

bool DaemonProcess::Signal(int signo) {
  return Running() && ::kill(pid_, signo) == 0;
}

std::optional<ExitInfo> DaemonProcess::WaitExit(Millis timeout) {
  if (pid_ <= 0) return std::nullopt;
  if (!exit_) exit_ = WaitChild(pid_, timeout);
  return exit_;
}

bool DaemonProcess::RewriteConfig(const std::string& toml) {
  return WriteFileAtomically(config_path_, toml);
}

std::string DaemonProcess::Log() const { return ReadWholeFile(log_path_); }

long DaemonProcess::RssKb() const {
  std::ifstream in("/proc/" + std::to_string(pid_) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return -1;
}

// --- DaemonClient -----------------------------------------------------------

DaemonClient::DaemonClient(std::vector<std::string> topics,
                           const std::optional<CurveClientKeys>& curve)
    : frames_(context_, zmq::socket_type::xpub),
      results_(context_, zmq::socket_type::sub),
      queries_(context_, zmq::socket_type::dealer),
      topics_(std::move(topics)) {
  if (curve) {
    for (zmq::socket_t* socket : {&frames_, &results_, &queries_}) {
      daemon::SetCurveClient(*socket, curve->client, curve->server_public_z85);
    }
  }
  frames_.set(zmq::sockopt::linger, 0);
  frames_.set(zmq::sockopt::sndhwm, 0);  // the test decides what to send
  frames_.bind("tcp://127.0.0.1:*");
  frames_endpoint_ = frames_.get(zmq::sockopt::last_endpoint);
  results_.set(zmq::sockopt::linger, 0);
  results_.set(zmq::sockopt::rcvhwm, 0);  // keep every result
  if (topics_.empty()) {
    results_.set(zmq::sockopt::subscribe, "");
  } else {
    for (const std::string& t : topics_) {
      results_.set(zmq::sockopt::subscribe, t);
    }
  }
  queries_.set(zmq::sockopt::linger, 0);
}

void DaemonClient::Connect(const daemon::DaemonConfig& config) {
  if (!connected_results_.empty()) {
    results_.disconnect(connected_results_);
    queries_.disconnect(connected_queries_);
  }
  connected_results_ = config.endpoints.results;
  connected_queries_ = config.endpoints.queries;
  results_.connect(connected_results_);
  queries_.connect(connected_queries_);
}

bool DaemonClient::WaitReady(Millis timeout) {
  const auto deadline = Clock::now() + timeout;
  bool subscribed = false;
  while (!subscribed) {
    if (!PollIn(frames_, Remaining(deadline))) return false;
    zmq::message_t note;
    if (!frames_.recv(note, zmq::recv_flags::dontwait)) continue;
    // XPUB reports a subscription as "\x01" + prefix.
    subscribed = note.size() >= 1 && note.data<uint8_t>()[0] == 1;
  }
  for (;;) {
    std::optional<Published> m = Receive(Remaining(deadline));
    if (!m) return false;
    if (m->topic == daemon::kTopicStatus) {
      Keep(*m, nullptr);
      return true;
    }
  }
}

bool DaemonClient::Send(const std::string& frame_bytes) {
  return frames_.send(zmq::buffer(frame_bytes), zmq::send_flags::dontwait)
      .has_value();
}

std::optional<Published> DaemonClient::Receive(Millis timeout) {
  if (!PollIn(results_, timeout)) return std::nullopt;
  std::vector<zmq::message_t> parts;
  if (!zmq::recv_multipart(results_, std::back_inserter(parts),
                           zmq::recv_flags::dontwait)) {
    return std::nullopt;
  }
  Published m;
  if (!parts.empty()) m.topic = parts.front().to_string();
  if (parts.size() >= 2) m.payload = parts.back().to_string();
  return m;
}

void DaemonClient::Keep(const Published& message,
                        std::vector<v1::RegistrationResult>* registrations) {
  ++topic_counts_[message.topic];
  if (message.topic == daemon::kTopicStatus) {
    v1::Status status;
    if (status.ParseFromString(message.payload)) statuses_.push_back(status);
  } else if (message.topic == daemon::kTopicRegistration &&
             registrations != nullptr) {
    v1::RegistrationResult result;
    result.ParseFromString(message.payload);
    registrations->push_back(std::move(result));
  }
}

std::vector<v1::RegistrationResult> DaemonClient::CollectRegistrations(
    size_t count, Millis timeout) {
  const auto deadline = Clock::now() + timeout;
  std::vector<v1::RegistrationResult> out;
  while (out.size() < count) {
    std::optional<Published> m = Receive(Remaining(deadline));
    if (!m) break;
    Keep(*m, &out);
  }
  return out;
}

std::vector<v1::RegistrationResult> DaemonClient::DrainRegistrations(
    Millis quiet) {
  // Status messages keep arriving; only results restart the quiet time.
  std::vector<v1::RegistrationResult> out;
  auto deadline = Clock::now() + quiet;
  while (std::optional<Published> m = Receive(Remaining(deadline))) {
    Keep(*m, &out);
    if (m->topic == daemon::kTopicRegistration) deadline = Clock::now() + quiet;
  }
  return out;
}

std::optional<v1::QueryReply> DaemonClient::Query(v1::QueryRequest request,
                                                  Millis timeout) {
  request.set_request_id(next_request_id_++);
  const auto deadline = Clock::now() + timeout;
  const std::string body = request.SerializeAsString();
  // [empty, payload]: the envelope a REQ socket would add.
  queries_.send(zmq::message_t(), zmq::send_flags::sndmore);
  queries_.send(zmq::buffer(body), zmq::send_flags::none);
  while (PollIn(queries_, Remaining(deadline))) {
    std::vector<zmq::message_t> parts;
    if (!zmq::recv_multipart(queries_, std::back_inserter(parts))) continue;
    v1::QueryReply reply;
    if (!parts.empty() && reply.ParseFromString(parts.back().to_string()) &&
        reply.request_id() == request.request_id()) {
      return reply;
    }
  }
  return std::nullopt;
}

std::optional<v1::QueryReply> DaemonClient::QueryRaw(const std::string& bytes,
                                                     Millis timeout) {
  queries_.send(zmq::message_t(), zmq::send_flags::sndmore);
  queries_.send(zmq::buffer(bytes), zmq::send_flags::none);
  if (!PollIn(queries_, timeout)) return std::nullopt;
  std::vector<zmq::message_t> parts;
  if (!zmq::recv_multipart(queries_, std::back_inserter(parts))) {
    return std::nullopt;
  }
  v1::QueryReply reply;
  if (parts.empty() || !reply.ParseFromString(parts.back().to_string())) {
    return std::nullopt;
  }
  return reply;
}

std::optional<v1::Status> DaemonClient::Health() {
  v1::QueryRequest request;
  request.mutable_health();
  std::optional<v1::QueryReply> reply = Query(request);
  if (!reply || !reply->ok() || !reply->has_health()) return std::nullopt;
  return reply->health();
}

std::shared_ptr<const daemon::DaemonConfig> DaemonClient::CurrentConfig() {
  v1::QueryRequest request;
  request.mutable_current_config();
  std::optional<v1::QueryReply> reply = Query(request);
  if (!reply || !reply->ok()) return nullptr;
  return daemon::LoadConfigString(reply->config_toml(), "CurrentConfig").config;
}

// --- RunningDaemon ----------------------------------------------------------

RunningDaemon::RunningDaemon(
    const std::function<void(daemon::DaemonConfig&)>& customize,
    std::vector<std::string> topics,
    const std::optional<CurveClientKeys>& curve)
    : client(std::move(topics), curve) {
  // A port that was free when probed may be taken before the daemon binds
  // it (tests run in parallel): a daemon that exits at start-up is retried
  // on fresh ports.
  for (int attempt = 0; attempt < 3 && !ok; ++attempt) {
    config = MakeTestConfig(client.frames_endpoint());
    if (customize) customize(config);
    process = std::make_unique<DaemonProcess>(config);
    if (!process->Start(&error)) return;
    client.Connect(config);
    ok = client.WaitReady(Millis(15000));
    if (ok) return;
    error = "the daemon did not become ready within 15 s (running: " +
            std::string(process->Running() ? "yes" : "no") + "); its log:\n" +
            process->Log();
    if (process->Running()) return;  // not a start-up failure: give up
  }
}

// --- Frames -----------------------------------------------------------------

SyntheticScan MakeTruthScan(uint64_t seed, int size_px) {
  std::mt19937_64 random(seed);
  std::uniform_real_distribution<double> unit(-1.0, 1.0);
  SyntheticScanOptions o;
  o.width_px = o.height_px = size_px;
  o.field_of_view_nm = kPixelNm * size_px;
  o.rotation_deg = 180.0 * unit(random);
  o.scale_error_x = 0.08 * unit(random);
  o.scale_error_y = 0.08 * unit(random);
  o.shear = 0.05 * unit(random);
  o.offset_nm = Vec2(3.0 * unit(random), 3.0 * unit(random));
  o.noise = 0.08;
  o.vacancy_fraction = 0.03;
  o.seed = seed;
  return MakeSyntheticScan(o);
}

Frame MakeNoiseFrame(uint64_t seed, int size_px) {
  Frame frame;
  frame.image.create(size_px, size_px);
  cv::RNG rng(seed);
  rng.fill(frame.image, cv::RNG::NORMAL, 0.0, 1.0);
  frame.pixel_size_x_nm = frame.pixel_size_y_nm = kPixelNm;
  return frame;
}

v1::Frame ToMessage(const Frame& frame,
                    uint64_t frame_id,
                    int64_t acquired_unix_ns) {
  daemon::InboundFrame in;
  in.frame_id = frame_id;
  in.instrument = "test-stm";
  in.session = "itest";
  in.acquired_unix_ns = acquired_unix_ns;
  in.frame = frame;
  return daemon::FrameToProto(in);
}

std::string Encode(const Frame& frame,
                   uint64_t frame_id,
                   int64_t acquired_unix_ns) {
  return ToMessage(frame, frame_id, acquired_unix_ns).SerializeAsString();
}

std::vector<Vec2> CornerHolesPx(const v1::RegistrationResult& result) {
  std::vector<Vec2> out;
  if (result.image_from_model_size() != 9) return out;
  const auto h = [&](int r, int c) {
    return result.image_from_model(3 * r + c);
  };
  for (const v1::CornerHole& hole : result.corner_holes()) {
    const double x = hole.x_nm(), y = hole.y_nm();
    const double w = h(2, 0) * x + h(2, 1) * y + h(2, 2);
    out.emplace_back((h(0, 0) * x + h(0, 1) * y + h(0, 2)) / w,
                     (h(1, 0) * x + h(1, 1) * y + h(1, 2)) / w);
  }
  return out;
}

double MaxHoleErrorPx(const v1::RegistrationResult& result,
                      const SyntheticScan& truth,
                      double margin_px,
                      int* checked,
                      int row_begin,
                      int row_end) {
  *checked = 0;
  if (result.image_from_model_size() != 9) {
    return std::numeric_limits<double>::infinity();
  }
  if (row_end < 0) row_end = static_cast<int>(result.height());
  double worst = 0;
  for (const Vec2& p : CornerHolesPx(result)) {
    const double px = p.x(), py = p.y();
    if (px < margin_px || py < row_begin + margin_px ||
        px > result.width() - 1 - margin_px || py > row_end - 1 - margin_px) {
      continue;
    }
    double nearest = std::numeric_limits<double>::infinity();
    for (const TruthCornerHole& t : truth.corner_holes) {
      nearest = std::min(nearest, std::hypot(t.p_px.x() - px, t.p_px.y() - py));
    }
    worst = std::max(worst, nearest);
    ++*checked;
  }
  return worst;
}

std::string StatusName(v1::ResultStatus status) {
  switch (status) {
    case v1::RESULT_STATUS_OK:
      return "ok";
    case v1::RESULT_STATUS_NO_LATTICE:
      return "no_lattice";
    case v1::RESULT_STATUS_INVALID_INPUT:
      return "invalid_input";
    case v1::RESULT_STATUS_INTERNAL_ERROR:
      return "internal_error";
    default:
      return "unspecified(" + std::to_string(static_cast<int>(status)) + ")";
  }
}

}  // namespace anchord::testing
