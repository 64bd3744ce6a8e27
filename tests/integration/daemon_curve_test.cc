// `anchord serve` with [security] CURVE: the real binary over loopback. A
// client on the allow-list gets results and answers; a client with an
// unknown key and a plain client get nothing; the daemon keeps serving.

#include "daemon/common/curve_keys.h"
#include "support/daemon_harness.h"
#include "support/loopback_http.h"
#include <doctest/doctest.h>
#include <zmq.h>
#include <zmq.hpp>

#include <array>
#include <chrono>
#include <fstream>
#include <optional>
#include <string>

namespace anchord::testing {
namespace {

#define REQUIRE_DAEMON(d) REQUIRE_MESSAGE((d).ok, (d).error)

daemon::CurveKeyPair NewKeyPair() {
  std::array<char, 41> pub{}, sec{};
  REQUIRE(zmq_curve_keypair(pub.data(), sec.data()) == 0);
  return {pub.data(), sec.data()};
}

void WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  REQUIRE(out.good());
}

// Key files as an operator would make them: the server's as curve_keygen
// prints it, the allow-list with a comment and one bare key per line.
struct CurveFiles {
  CurveFiles() : dir("anchord_curve_test") {
    server = NewKeyPair();
    allowed = NewKeyPair();
    server_file = dir / "server.key";
    allow_file = dir / "clients.allow";
    WriteText(server_file, "== CURVE PUBLIC KEY ==\n" + server.public_z85 +
                               "\n== CURVE SECRET KEY ==\n" +
                               server.secret_z85 + "\n");
    WriteText(allow_file,
              "# the lab's controller\n" + allowed.public_z85 + "\n");
  }
  TempDir dir;
  daemon::CurveKeyPair server, allowed;
  std::string server_file, allow_file;
};

// A health query from a fresh DEALER (CURVE client with `keys`, or plain);
// true when any reply arrived within `timeout`.
bool HealthAnswered(const std::string& endpoint,
                    const std::optional<CurveClientKeys>& keys,
                    Millis timeout) {
  zmq::context_t context(1);
  zmq::socket_t dealer(context, zmq::socket_type::dealer);
  dealer.set(zmq::sockopt::linger, 0);
  if (keys)
    daemon::SetCurveClient(dealer, keys->client, keys->server_public_z85);
  dealer.connect(endpoint);
  v1::QueryRequest health;
  health.mutable_health();
  dealer.send(zmq::buffer(health.SerializeAsString()), zmq::send_flags::none);
  zmq::pollitem_t item{static_cast<void*>(dealer), 0, ZMQ_POLLIN, 0};
  zmq::poll(&item, 1, timeout);
  return (item.revents & ZMQ_POLLIN) != 0;
}

// Whether a fresh SUB receives anything (the status topic comes every
// 100 ms) within `timeout`.
bool ResultsReceived(const std::string& endpoint,
                     const std::optional<CurveClientKeys>& keys,
                     Millis timeout) {
  zmq::context_t context(1);
  zmq::socket_t sub(context, zmq::socket_type::sub);
  sub.set(zmq::sockopt::linger, 0);
  if (keys) daemon::SetCurveClient(sub, keys->client, keys->server_public_z85);
  sub.set(zmq::sockopt::subscribe, "");
  sub.connect(endpoint);
  zmq::pollitem_t item{static_cast<void*>(sub), 0, ZMQ_POLLIN, 0};
  zmq::poll(&item, 1, timeout);
  return (item.revents & ZMQ_POLLIN) != 0;
}

TEST_CASE(
    "CURVE: allowed clients are served, strangers and plain clients "
    "get nothing" *
    doctest::timeout(120)) {
  CurveFiles keys;
  const CurveClientKeys allowed{keys.allowed, keys.server.public_z85};
  RunningDaemon d(
      [&](daemon::DaemonConfig& c) {
        c.security.curve_server_secret_key_file = keys.server_file;
        c.security.curve_allowed_client_keys_file = keys.allow_file;
      },
      {}, allowed);
  // Ready means: the daemon's frame SUB reached our XPUB and its status
  // reached our SUB, both over CURVE.
  REQUIRE_DAEMON(d);
  REQUIRE(d.client.Send(Encode(MakeTruthScan(3).frame, 3)));
  const auto results = d.client.CollectRegistrations(1, Millis(10000));
  REQUIRE(results.size() == 1);
  CHECK(StatusName(results[0].status()) == "ok");
  CHECK(d.client.Health().has_value());

  const CurveClientKeys stranger{NewKeyPair(), keys.server.public_z85};
  CHECK_FALSE(
      HealthAnswered(d.config.endpoints.queries, stranger, Millis(1000)));
  CHECK_FALSE(
      HealthAnswered(d.config.endpoints.queries, std::nullopt, Millis(1000)));
  CHECK_FALSE(
      ResultsReceived(d.config.endpoints.results, stranger, Millis(1000)));
  CHECK_FALSE(
      ResultsReceived(d.config.endpoints.results, std::nullopt, Millis(1000)));
  // A second allowed connection still gets in, and the first one is still
  // served.
  CHECK(HealthAnswered(d.config.endpoints.queries, allowed, Millis(3000)));
  REQUIRE(d.client.Send(Encode(MakeTruthScan(4).frame, 4)));
  CHECK(d.client.CollectRegistrations(1, Millis(10000)).size() == 1);

  const std::string metrics =
      HttpGet(PortOf(d.config.endpoints.http_metrics), "/metrics");
  CHECK(metrics.find("anchord_curve_clients_refused_total") !=
        std::string::npos);
  CHECK(metrics.find("anchord_curve_clients_refused_total 0\n") ==
        std::string::npos);
}

// Runs `anchord replay --synthetic 2` on `endpoint` with the given key
// files; true when it exited 0.
bool Replay(const std::string& endpoint,
            const std::string& server_public_file,
            const std::string& client_secret_file,
            const std::string& log) {
  std::string error;
  const pid_t pid = SpawnLogged(
      {AnchordBinary(), "replay", "--synthetic", "2", "--rate", "20", "--size",
       "256", "--endpoint", endpoint, "--curve-server-key", server_public_file,
       "--curve-client-key", client_secret_file},
      log, &error);
  if (pid < 0) return false;
  const std::optional<ExitInfo> exit = WaitChild(pid, Millis(30000));
  return exit && exit->exited && exit->code == 0;
}

TEST_CASE("CURVE: replay with an allowed client key feeds the daemon" *
          doctest::timeout(120)) {
  CurveFiles keys;
  const std::string server_public = keys.dir / "server.pub";
  const std::string client_secret = keys.dir / "client.key";
  const std::string stranger_secret = keys.dir / "stranger.key";
  WriteText(server_public, keys.server.public_z85 + "\n");
  WriteText(client_secret, keys.allowed.secret_z85 + "\n");
  WriteText(stranger_secret, NewKeyPair().secret_z85 + "\n");
  const std::string frames = LoopbackEndpoint(FreeLoopbackPort());
  DaemonClient client({"registration", "status"},
                      CurveClientKeys{keys.allowed, keys.server.public_z85});
  daemon::DaemonConfig config = MakeTestConfig(frames);
  config.security.curve_server_secret_key_file = keys.server_file;
  config.security.curve_allowed_client_keys_file = keys.allow_file;
  DaemonProcess process(config);
  std::string error;
  REQUIRE_MESSAGE(process.Start(&error), error);
  client.Connect(config);
  REQUIRE(client.Receive(Millis(15000)).has_value());  // status over CURVE

  REQUIRE(Replay(frames, server_public, stranger_secret,
                 keys.dir / "stranger.log"));
  CHECK(client.CollectRegistrations(1, Millis(3000)).empty());
  REQUIRE(
      Replay(frames, server_public, client_secret, keys.dir / "replay.log"));
  const auto results = client.CollectRegistrations(2, Millis(15000));
  CHECK(results.size() == 2);
}

TEST_CASE("CURVE: an unusable key file stops serve at start with the reason" *
          doctest::timeout(60)) {
  CurveFiles keys;
  WriteText(keys.allow_file, "this_is_not_a_key_but_it_is_forty_chars_\n");
  DaemonClient client;
  daemon::DaemonConfig config = MakeTestConfig(client.frames_endpoint());
  config.security.curve_server_secret_key_file = keys.server_file;
  config.security.curve_allowed_client_keys_file = keys.allow_file;
  DaemonProcess process(config);
  std::string error;
  REQUIRE_MESSAGE(process.Start(&error), error);
  const std::optional<ExitInfo> exit = process.WaitExit(Millis(10000));
  REQUIRE(exit.has_value());
  CHECK(exit->exited);
  CHECK(exit->code == 1);
  CHECK(process.Log().find("is not a CURVE public key") != std::string::npos);
}

}  // namespace
}  // namespace anchord::testing
