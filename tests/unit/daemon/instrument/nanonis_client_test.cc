#include "daemon/instrument/nanonis_client.h"

#include "daemon/instrument/nanonis_codec.h"
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <doctest/doctest.h>

#include <array>
#include <functional>
#include <thread>

namespace anchord::daemon {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
namespace nn = nanonis;

// A one-connection server on 127.0.0.1 that reads one request and answers
// with `answer(command)` (the raw bytes; empty: answer nothing, hold the
// connection for `hold`).
class OneShotServer {
 public:
  OneShotServer(std::function<std::string(const std::string&)> answer,
                std::chrono::milliseconds hold = std::chrono::milliseconds(0))
      : acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this, answer, hold] {
      boost::system::error_code ec;
      tcp::socket s = acceptor_.accept(ec);
      if (ec) return;
      std::array<char, nn::kHeaderBytes> header;
      asio::read(s, asio::buffer(header), ec);
      nn::Header h;
      if (ec || !nn::DecodeHeader({header.data(), header.size()}, &h).ok()) {
        return;
      }
      std::string body(h.body_size, '\0');
      if (!body.empty())
        asio::read(s, asio::buffer(body.data(), body.size()), ec);
      const std::string reply = answer(h.command);
      if (!reply.empty()) asio::write(s, asio::buffer(reply), ec);
      std::this_thread::sleep_for(hold);
    });
  }
  ~OneShotServer() { thread_.join(); }
  int port() const { return port_; }

 private:
  asio::io_context io_;
  tcp::acceptor acceptor_;
  int port_ = 0;
  std::thread thread_;
};

NanonisClientOptions To(int port) {
  NanonisClientOptions o;
  o.port = port;
  o.connect_timeout = std::chrono::milliseconds(2000);
  o.io_timeout = std::chrono::milliseconds(300);
  return o;
}

TEST_CASE("client: a reply round-trips over TCP") {
  OneShotServer server([](const std::string& command) {
    return nn::EncodeMessage(
        command, nn::EncodeReply(nn::ScanFrame{1e-9f, 0, 2e-8f, 2e-8f, 0}, {}),
        0);
  });
  NanonisClient client(To(server.port()));
  REQUIRE(client.Connect().ok());
  nn::ScanFrame frame;
  REQUIRE(client.FrameGet(&frame).ok());
  CHECK(frame.center_x_m == 1e-9f);
  CHECK(client.connected());
}

TEST_CASE("client: a controller error keeps the connection") {
  OneShotServer server([](const std::string& command) {
    return nn::EncodeMessage(command, nn::EncodeEmptyReply({1, "busy"}), 0);
  });
  NanonisClient client(To(server.port()));
  REQUIRE(client.Connect().ok());
  const Status s = client.FrameSet({});
  CHECK(s.message() == "nanonis Scan.FrameSet: controller error 1: busy");
  CHECK(client.last_failure() == CallFailure::kController);
  CHECK(client.connected());
}

TEST_CASE("client: an answer for another command closes the connection") {
  OneShotServer server([](const std::string&) {
    return nn::EncodeMessage("Bias.Get", nn::EncodeEmptyReply({}), 0);
  });
  NanonisClient client(To(server.port()));
  REQUIRE(client.Connect().ok());
  const Status s = client.FrameSet({});
  CHECK(s.message() ==
        "nanonis: response for 'Bias.Get' to a request for 'Scan.FrameSet'");
  CHECK(client.last_failure() == CallFailure::kProtocol);
  CHECK(!client.connected());
}

TEST_CASE("client: a body cut short, then the connection closed") {
  OneShotServer server([](const std::string& command) {
    std::string m =
        nn::EncodeMessage(command, nn::EncodeReply(nn::ScanFrame{}, {}), 0);
    return m.substr(0, m.size() - 3);
  });
  NanonisClient client(To(server.port()));
  REQUIRE(client.Connect().ok());
  nn::ScanFrame frame;
  const Status s = client.FrameGet(&frame);
  CHECK(s.code() == StatusCode::kInternal);
  CHECK(s.message().find("cut short") != std::string::npos);
  CHECK(client.last_failure() == CallFailure::kTransport);
  CHECK(!client.connected());
}

TEST_CASE("client: no answer within the deadline") {
  OneShotServer server([](const std::string&) { return std::string(); },
                       std::chrono::milliseconds(800));
  NanonisClient client(To(server.port()));
  REQUIRE(client.Connect().ok());
  const auto start = std::chrono::steady_clock::now();
  nn::ScanFrame frame;
  const Status s = client.FrameGet(&frame);
  const double waited_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  CHECK(s.message().find("no response header") != std::string::npos);
  CHECK(waited_s < 0.7);
  CHECK(!client.connected());
}

TEST_CASE("client: nothing listening") {
  int port = 0;
  {
    asio::io_context io;
    tcp::acceptor a(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    port = a.local_endpoint().port();
  }
  NanonisClient client(To(port));
  const Status s = client.Connect();
  CHECK(s.message().find("nanonis: cannot connect to 127.0.0.1:") == 0);
  CHECK(!client.connected());
  nn::ScanFrame frame;
  CHECK(!client.FrameGet(&frame).ok());  // not connected: no crash
}

}  // namespace
}  // namespace anchord::daemon
