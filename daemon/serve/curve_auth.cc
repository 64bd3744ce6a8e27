#include "daemon/serve/curve_auth.h"

#include <spdlog/spdlog.h>
#include <zmq.h>
#include <zmq_addon.hpp>

#include <array>
#include <chrono>
#include <iterator>
#include <utility>
#include <vector>

namespace anchord::daemon {
namespace {

constexpr const char* kZapEndpoint = "inproc://zeromq.zap.01";
// How often the handler thread looks at its stop flag.
constexpr auto kStopPoll = std::chrono::milliseconds(100);

// The Z85 text of a 32-byte CURVE key.
std::string Z85(const zmq::message_t& key) {
  if (key.size() != 32) return {};
  std::array<char, 41> text{};
  if (zmq_z85_encode(text.data(), static_cast<const uint8_t*>(key.data()),
                     32) == nullptr) {
    return {};
  }
  return text.data();
}

// Printable form of a peer address for a log line.
std::string Printable(std::string s) {
  for (char& c : s) {
    if (c < 0x20 || c > 0x7e) c = '?';
  }
  return s;
}

}  // namespace

std::unique_ptr<CurveAuthenticator> CurveAuthenticator::Start(
    zmq::context_t& context,
    std::set<std::string> allowed_public_z85,
    Status* why) {
  try {
    zmq::socket_t handler(context, zmq::socket_type::rep);
    handler.set(zmq::sockopt::linger, 0);
    handler.bind(kZapEndpoint);
    return std::unique_ptr<CurveAuthenticator>(new CurveAuthenticator(
        std::move(handler), std::move(allowed_public_z85)));
  } catch (const zmq::error_t& e) {
    *why = Status::Internal(
        std::string("CURVE: cannot bind the ZAP handler: ") + e.what());
    return nullptr;
  }
}

CurveAuthenticator::CurveAuthenticator(zmq::socket_t handler,
                                       std::set<std::string> allowed)
    : handler_(std::move(handler)), allowed_(std::move(allowed)) {
  thread_ = std::thread([this] { Loop(); });
}

CurveAuthenticator::~CurveAuthenticator() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void CurveAuthenticator::Loop() {
  while (!stop_) {
    zmq::pollitem_t item{static_cast<void*>(handler_), 0, ZMQ_POLLIN, 0};
    try {
      zmq::poll(&item, 1, kStopPoll);
      if (!(item.revents & ZMQ_POLLIN)) continue;
      std::vector<zmq::message_t> request;
      if (!zmq::recv_multipart(handler_, std::back_inserter(request))) continue;
      Answer(request);
    } catch (const zmq::error_t& e) {
      if (e.num() == ETERM) return;  // context shutting down
      if (e.num() != EINTR) {
        spdlog::error("[serve] CURVE handler: {}", e.what());
      }
    }
  }
}

void CurveAuthenticator::Answer(std::vector<zmq::message_t>& request) {
  // version, request id, domain, address, routing id, mechanism,
  // credentials… (RFC 27). A malformed request still gets a reply: the
  // REP socket must answer every request.
  const bool well_formed =
      request.size() >= 6 && request[0].to_string_view() == "1.0";
  const std::string mechanism =
      request.size() >= 6 ? request[5].to_string() : std::string();
  const std::string key =
      well_formed && mechanism == "CURVE" && request.size() >= 7
          ? Z85(request[6])
          : std::string();
  const bool ok = !key.empty() && allowed_.count(key) == 1;
  if (ok) {
    ++accepted_;
  } else {
    ++refused_;
    uint64_t suppressed = 0;
    if (refusals_log_.Allow(suppressed)) {
      spdlog::warn(
          "[serve] CURVE: refused a {} client{}{} from {} ({} "
          "refusals not logged)",
          mechanism.empty() ? "malformed" : Printable(mechanism),
          key.empty() ? "" : " with key ", key,
          request.size() >= 4 ? Printable(request[3].to_string())
                              : std::string("?"),
          suppressed);
    }
  }
  std::vector<zmq::message_t> reply;
  reply.emplace_back(std::string_view("1.0"));
  if (request.size() >= 2) {
    reply.emplace_back(request[1].data(), request[1].size());
  } else {
    reply.emplace_back();
  }
  reply.emplace_back(std::string_view(ok ? "200" : "400"));
  reply.emplace_back(std::string_view(ok ? "OK" : "client key not allowed"));
  reply.emplace_back(std::string_view(ok ? key : std::string()));
  reply.emplace_back();  // no metadata
  zmq::send_multipart(handler_, reply);
}

}  // namespace anchord::daemon
