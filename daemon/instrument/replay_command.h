#pragma once

#include "anchord/io/sxm.h"
#include "anchord/util/geometry.h"
#include "anchord/util/status.h"

#include "daemon/instrument/frame_publisher.h"

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

namespace anchord::daemon {

// `anchord replay FILE...|--synthetic N [options]`: acts as the
// acquisition controller. Publishes anchord.v1.Frame messages on a ZeroMQ
// PUB socket (bound by default on tcp://127.0.0.1:5555, where the daemon's
// default SUB connects) at --rate frames per second, one line per frame
// sent on stdout. From files: frame ids 1, 2, … in the order
// given; from --synthetic N: a drifting sequence of one synthetic sample
// (SyntheticSequence). --loop repeats the inputs (or the N synthetic
// frames) until interrupted, frame ids still increasing. acquired_unix_ns
// is the .sxm header's REC_DATE/REC_TIME (--time header, the default for
// .sxm; each --loop pass shifted by the span of the inputs plus their mean
// interval) or the wall clock at sending (--time send, the default for
// other inputs and --synthetic). SIGINT/SIGTERM stop it after the frame in
// flight. Exit status: 0 when every frame was sent (or the run was
// interrupted), 1 when the socket could not be opened, a send failed or an
// input could not be read (the others are still sent), 2 on a usage error.

// Which acquisition time replayed frames carry (Frame.acquired_unix_ns).
enum class ReplayTime {
  kAuto,    // header for .sxm inputs, send for the others and --synthetic
  kHeader,  // the file header's REC_DATE/REC_TIME (.sxm only)
  kSend,    // the wall clock when the frame is sent
};

// The parsed command line.
struct ReplayArgs {
  std::vector<std::string> inputs;
  // --synthetic N: number of synthetic frames; 0 = replay the inputs.
  int64_t synthetic_frames = 0;
  PublisherOptions publisher;  // --endpoint, --bind / --connect
  double rate_hz = 2.0;        // --rate; 0 = as fast as possible
  bool loop = false;
  // Synthetic sequence: structure seed, frame side, field of view, drift.
  uint64_t seed = 7;
  int size_px = 512;
  double fov_nm = 30.0;
  Vec2 drift_nm_per_frame = Vec2(0.25, 0.1);
  // Inputs: nominal pixel size (required for everything but .sxm, where it
  // overrides the header), .sxm channel and trace.
  double pixel_size_x_nm = 0;
  double pixel_size_y_nm = 0;
  // .sxm channel; empty (no --channel): DefaultSxmChannel (Z, or the
  // signal channel of a constant-height scan).
  std::string channel;
  SxmTrace trace = SxmTrace::kForward;
  // --time: the acquisition time base.
  ReplayTime time = ReplayTime::kAuto;
  // --session: Frame.session; empty = "replay" for files,
  // "anchord-synthetic" for --synthetic.
  std::string session;
  bool help = false;
};

// Parses the arguments after "replay". kInvalidInput naming the problem on
// a usage error (unknown option, bad value, both or neither of inputs and
// --synthetic, synthetic options with inputs, --pixel-size-nm missing for
// an input that is not .sxm).
Status ParseReplayArgs(const std::vector<std::string>& args,
                       ReplayArgs& parsed);

// The --help text.
void PrintReplayHelp(std::ostream& out);

// Runs `anchord replay` and returns the process exit status.
int RunReplayCommand(const std::vector<std::string>& args);

}  // namespace anchord::daemon
