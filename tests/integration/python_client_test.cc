// The Python client (deploy/anchord_client.py) against the real daemon:
// it subscribes, prints N frames and exits 0; its query mode gets a
// health reply. Skipped, with a message, when python3 with the zmq and
// protobuf modules or protoc is missing.

#include "support/daemon_harness.h"
#include <doctest/doctest.h>
#include <signal.h>
#include <zmq.h>

#include <array>
#include <chrono>
#include <filesystem>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace anchord::testing {
namespace {

using Clock = std::chrono::steady_clock;

// Runs `argv` to completion (at most `timeout`) with its output in `log`;
// the exit status, or -1 when it failed to start or timed out (killed).
int RunToCompletion(const std::vector<std::string>& argv,
                    const std::string& log,
                    Millis timeout) {
  std::string error;
  const pid_t pid = SpawnLogged(argv, log, &error);
  if (pid < 0) return -1;
  std::optional<ExitInfo> exit = WaitChild(pid, timeout);
  if (!exit) {
    ::kill(pid, SIGKILL);
    WaitChild(pid, Millis(5000));
    return -1;
  }
  return exit->exited ? exit->code : -1;
}

// A python3 that imports zmq and google.protobuf (Debian's /usr/bin/python3
// first: a virtualenv or pyenv python3 usually lacks them), or "".
std::string FindPython(const TempDir& dir) {
  for (const char* python : {"/usr/bin/python3", "python3"}) {
    if (RunToCompletion({python, "-c", "import zmq, google.protobuf"},
                        dir / "probe.log", Millis(20000)) == 0) {
      return python;
    }
  }
  return "";
}

bool HaveProtoc(const TempDir& dir) {
  return RunToCompletion({"protoc", "--version"}, dir / "probe.log",
                         Millis(10000)) == 0;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

}  // namespace

TEST_CASE("the Python client receives N results from the running daemon" *
          doctest::timeout(60)) {
  TempDir dir("anchord_python_client");
  const std::string python = FindPython(dir);
  if (python.empty() || !HaveProtoc(dir)) {
    MESSAGE(
        "skipped: needs python3 with the zmq and protobuf modules "
        "(python3-zmq, python3-protobuf) and protoc (protobuf-compiler)");
    return;
  }
  const std::string client = (SourceRoot() / "deploy/anchord_client.py");
  REQUIRE(std::filesystem::exists(client));

  RunningDaemon d;
  REQUIRE_MESSAGE(d.ok, d.error);

  constexpr int kCount = 3;
  std::string error;
  const std::string log = dir / "client.log";
  const pid_t pid =
      SpawnLogged({python, client, "--endpoint", d.config.endpoints.results,
                   "--count", std::to_string(kCount), "--timeout-s", "40"},
                  log, &error);
  REQUIRE_MESSAGE(pid > 0, error);
  // The client subscribes some time after it starts (it runs protoc
  // first); frames published before that are not seen by it, so keep
  // publishing until it has printed kCount frames and exited.
  const SyntheticScan scan = MakeTruthScan(51);
  std::optional<ExitInfo> exit;
  uint64_t id = 1;
  const auto deadline = Clock::now() + Millis(45000);
  while (!(exit = WaitChild(pid, Millis(0))) && Clock::now() < deadline) {
    REQUIRE(d.client.Send(Encode(scan.frame, id++)));
    d.client.CollectRegistrations(1, Millis(150));
  }
  if (!exit) {
    ::kill(pid, SIGKILL);
    WaitChild(pid, Millis(5000));
  }
  const std::string output = ReadWholeFile(log);
  INFO(output);
  REQUIRE(exit.has_value());
  CHECK(exit->exited);
  CHECK(exit->code == 0);
  int frames = 0;
  for (const std::string& line : Lines(output)) {
    if (line.rfind("frame ", 0) != 0) continue;
    ++frames;
    CHECK(line.find(" ok ") != std::string::npos);
    CHECK(line.find("adatoms") != std::string::npos);
    CHECK(line.find("drift") != std::string::npos);
  }
  CHECK(frames == kCount);

  // Query mode: a health reply, exit 0.
  const std::string query_log = dir / "query.log";
  CHECK(RunToCompletion({python, client, "--query", "health", "--endpoint",
                         d.config.endpoints.queries},
                        query_log, Millis(30000)) == 0);
  CHECK(ReadWholeFile(query_log).find("frames_received") != std::string::npos);
}

TEST_CASE("the Python client speaks CURVE to a daemon with keys" *
          doctest::timeout(90)) {
  TempDir dir("anchord_python_client_curve");
  const std::string python = FindPython(dir);
  if (python.empty() || !HaveProtoc(dir)) {
    MESSAGE("skipped: needs python3-zmq, python3-protobuf and protoc");
    return;
  }
  const std::string client = (SourceRoot() / "deploy/anchord_client.py");
  std::array<char, 41> pub{}, sec{}, cpub{}, csec{}, spub{}, ssec{};
  REQUIRE(zmq_curve_keypair(pub.data(), sec.data()) == 0);
  REQUIRE(zmq_curve_keypair(cpub.data(), csec.data()) == 0);
  REQUIRE(zmq_curve_keypair(spub.data(), ssec.data()) == 0);
  const std::string server_key = dir / "server.key";
  const std::string server_pub = dir / "server.pub";
  const std::string allow = dir / "clients.allow";
  const std::string client_key = dir / "client.key";
  const std::string stranger_key = dir / "stranger.key";
  REQUIRE(WriteFileAtomically(server_key, std::string(sec.data()) + "\n"));
  REQUIRE(WriteFileAtomically(server_pub, std::string(pub.data()) + "\n"));
  REQUIRE(WriteFileAtomically(allow, std::string(cpub.data()) + "\n"));
  // curve_keygen's layout for the client's own file.
  REQUIRE(WriteFileAtomically(
      client_key, "== CURVE PUBLIC KEY ==\n" + std::string(cpub.data()) +
                      "\n== CURVE SECRET KEY ==\n" + csec.data() + "\n"));
  REQUIRE(WriteFileAtomically(stranger_key, std::string(ssec.data()) + "\n"));
  RunningDaemon d(
      [&](daemon::DaemonConfig& c) {
        c.security.curve_server_secret_key_file = server_key;
        c.security.curve_allowed_client_keys_file = allow;
      },
      {}, CurveClientKeys{{cpub.data(), csec.data()}, pub.data()});
  REQUIRE_MESSAGE(d.ok, d.error);
  const std::string ok_log = dir / "ok.log";
  CHECK(RunToCompletion({python, client, "--query", "health", "--endpoint",
                         d.config.endpoints.queries, "--curve-server-key",
                         server_pub, "--curve-client-key", client_key},
                        ok_log, Millis(30000)) == 0);
  INFO(ReadWholeFile(ok_log));
  CHECK(ReadWholeFile(ok_log).find("ok: true") != std::string::npos);
  const std::string refused_log = dir / "refused.log";
  CHECK(RunToCompletion({python, client, "--query", "health", "--endpoint",
                         d.config.endpoints.queries, "--timeout-s", "2",
                         "--curve-server-key", server_pub, "--curve-client-key",
                         stranger_key},
                        refused_log, Millis(30000)) == 1);
}

}  // namespace anchord::testing
