#pragma once

// `anchord watch DIR [options]`: publishes every new complete file of a
// folder (a controller's autosave folder; folder_watcher.h) as an
// anchord.v1.Frame, in name order, each with the acquisition time of its
// header (.sxm REC_DATE/REC_TIME), one line per frame on stdout. A
// half-written file is retried; one that does not read is reported and
// skipped. Runs until SIGINT/SIGTERM (or --frames N). Exit status 0 when
// stopped, 1 when the socket cannot be opened, 2 on a usage error.

#include "anchord/io/sxm.h"
#include "anchord/util/status.h"

#include "daemon/instrument/folder_watcher.h"
#include "daemon/instrument/frame_publisher.h"

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

namespace anchord::daemon {

struct WatchArgs {
  WatchOptions watch;
  PublisherOptions publisher;  // --endpoint, --bind / --connect
  std::string session = "watch";
  std::string channel = "Z";
  bool channel_given = false;  // --channel: no constant-height pick
  SxmTrace trace = SxmTrace::kForward;
  int poll_ms = 500;       // --poll-ms; in [10, 60000]
  double rate_hz = 2;      // --rate: frames per second at most; 0 = no limit
  int64_t max_frames = 0;  // --frames; 0 = until stopped
  bool help = false;
};

// Parses the arguments after "watch". kInvalidInput on a usage error.
Status ParseWatchArgs(const std::vector<std::string>& args, WatchArgs& out);

void PrintWatchHelp(std::ostream& out);

// Runs `anchord watch` and returns the process exit status.
int RunWatchCommand(const std::vector<std::string>& args);

}  // namespace anchord::daemon
