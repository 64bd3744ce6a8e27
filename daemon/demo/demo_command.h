#pragma once

#include "anchord/util/status.h"

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

namespace anchord::daemon {

// `anchord demo [--frames N] [--out DIR] [--rate HZ] [--no-compensation]`:
// the product in one command. Runs, in one process,
// - the daemon (Server, built-in default configuration except endpoints:
//   ipc sockets in a fresh private temporary folder, so nothing clashes
//   with a daemon already running; no metrics endpoint; log level warn),
// - a simulated instrument (SimulatedInstrument) scanning a drifting
//   virtual sample at HZ frames/s and closing the drift loop with the
//   daemon (instrument_loop.h), its catalog in DIR/catalog.sqlite,
// - a console view (DemoView) subscribed to the daemon's results: one row
//   per frame on stdout; corrected frames and overlays written to DIR.
// Stops on SIGINT/SIGTERM, or once the results of N frames are in (N > 0);
// the daemon then drains and stops. Exit status: 0 after a clean stop with
// every frame answered (when interrupted: whatever was answered) and every
// file written; 1 when the daemon could not start, results are missing 15 s
// after the last frame, or a file could not be written; 2 on a usage error.

// The parsed command line.
struct DemoArgs {
  int64_t frames = 0;  // 0 = until interrupted
  std::string out_dir = "out/demo";
  double rate_hz = 2.0;    // 0 = as fast as possible
  bool compensate = true;  // the instrument applies the daemon's drift
  bool help = false;
};

// Parses the arguments after "demo"; kInvalidInput naming the problem.
Status ParseDemoArgs(const std::vector<std::string>& args, DemoArgs& parsed);

// The --help text.
void PrintDemoHelp(std::ostream& out);

// Runs `anchord demo` and returns the process exit status.
int RunDemoCommand(const std::vector<std::string>& args);

}  // namespace anchord::daemon
