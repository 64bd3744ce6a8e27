#include "daemon/instrument/watch_command.h"

#include "daemon/common/cli_args.h"
#include "daemon/common/exit_codes.h"
#include "daemon/common/session_name.h"
#include "daemon/common/stop_signals.h"
#include "daemon/instrument/header_time.h"
#include <spdlog/spdlog.h>

#include <cstdio>
#include <iostream>
#include <thread>

namespace anchord::daemon {
namespace {

Status Apply(const std::string& name, const std::string& value, WatchArgs& a) {
  const auto bad = [&] {
    return UsageError(name + " = '" + value + "': out of range");
  };
  if (name == "--pattern") {
    if (value.empty()) return bad();
    a.watch.pattern = value;
  } else if (name == "--session") {
    if (const std::optional<std::string> why = SessionNameError(value)) {
      return UsageError("--session " + SanitizedForLog(value) + " " + *why);
    }
    a.session = value;
  } else if (name == "--channel") {
    if (value.empty()) return bad();
    a.channel = value;
    a.channel_given = true;
  } else if (name == "--direction") {
    if (value != "forward" && value != "backward") {
      return UsageError("--direction = '" + value +
                        "': expected forward or backward");
    }
    a.trace = value == "forward" ? SxmTrace::kForward : SxmTrace::kBackward;
  } else if (name == "--endpoint") {
    if (value.empty()) return bad();
    a.publisher.endpoint = value;
  } else if (name == "--poll-ms") {
    if (!ParseNumber(value, a.poll_ms) || a.poll_ms < 10 || a.poll_ms > 60000) {
      return bad();
    }
  } else if (name == "--settle-ms") {
    if (!ParseNumber(value, a.watch.settle_ms) || a.watch.settle_ms < 0 ||
        a.watch.settle_ms > 3600000) {
      return bad();
    }
  } else if (name == "--give-up-s") {
    double s = 0;
    if (!ParseNumber(value, s) || s < 0 || s > 86400) return bad();
    a.watch.give_up_ms = static_cast<int>(s * 1000);
  } else if (name == "--rate") {
    if (!ParseNumber(value, a.rate_hz) || a.rate_hz < 0) return bad();
  } else if (name == "--frames") {
    if (!ParseNumber(value, a.max_frames) || a.max_frames < 0) return bad();
  }
  return Status::Ok();
}

// Reads one .sxm and sends it.
class FilePublisher {
 public:
  FilePublisher(const WatchArgs& args, FramePublisher& publisher)
      : args_(args), publisher_(publisher) {}

  Status operator()(const std::string& path) {
    const SxmFile file = ReadSxm(path);
    if (!file.status.ok()) return file.status;
    InboundFrame in;
    const std::string channel =
        args_.channel_given ? args_.channel : DefaultSxmChannel(file.header);
    Status s = ExtractSxmFrame(file, channel, args_.trace, &in.frame);
    if (!s.ok()) return s;
    in.frame_id = ++last_id_;
    in.instrument = "watch";
    in.session = args_.session;
    const std::optional<int64_t> t = HeaderAcquiredUnixNs(in.frame);
    in.acquired_unix_ns = t.value_or(0);
    if (!t) {
      spdlog::warn(
          "[watch] {}: no valid REC_DATE/REC_TIME: the time of "
          "sending is used",
          path);
    }
    s = publisher_.Send(in);
    if (!s.ok()) {
      --last_id_;
      return s;
    }
    std::printf("published frame %llu: %s, %dx%d px, channel %s, acquired %s\n",
                static_cast<unsigned long long>(in.frame_id), path.c_str(),
                in.frame.image.cols, in.frame.image.rows,
                in.frame.channel.c_str(),
                in.frame.acquired_at.empty() ? "(unknown)"
                                             : in.frame.acquired_at.c_str());
    std::fflush(stdout);
    return Status::Ok();
  }
  uint64_t published() const { return last_id_; }

 private:
  const WatchArgs& args_;
  FramePublisher& publisher_;
  uint64_t last_id_ = 0;
};

}  // namespace

Status ParseWatchArgs(const std::vector<std::string>& args, WatchArgs& a) {
  SplitArgs split;
  Status s = SplitCommandLine(
      args, {"--help", "-h", "--bind", "--connect", "--existing"},
      {"--pattern", "--session", "--channel", "--direction", "--endpoint",
       "--poll-ms", "--settle-ms", "--give-up-s", "--rate", "--frames"},
      split);
  if (!s.ok()) return s;
  for (const std::string& flag : split.flags) {
    if (flag == "--help" || flag == "-h") a.help = true;
    if (flag == "--bind") a.publisher.bind = true;
    if (flag == "--connect") a.publisher.bind = false;
    if (flag == "--existing") a.watch.existing = true;
  }
  if (a.help) return Status::Ok();
  if (split.positional.size() != 1) {
    return UsageError("expected one folder: `anchord watch DIR`");
  }
  a.watch.dir = split.positional[0];
  for (const auto& [name, value] : split.values) {
    s = Apply(name, value, a);
    if (!s.ok()) return s;
  }
  a.watch.give_up_ms = std::max(a.watch.give_up_ms, a.watch.settle_ms);
  return a.watch.Validate();
}

void PrintWatchHelp(std::ostream& out) {
  out << R"(Usage: anchord watch DIR [--pattern '*.sxm'] [--session NAME] [options]

Publishes every new complete file of DIR (a controller's autosave folder)
as an anchord.v1.Frame for `anchord serve`, in name order, with the
acquisition time of its header (.sxm REC_DATE/REC_TIME, read as UTC), one
line per frame on stdout. The folder is polled: a file is complete once its
size and time have not changed for --settle-ms and it reads; a file that
does not read is retried while it changes and reported and skipped
--give-up-s after its last change. Files present at start are left alone
unless --existing. Without --channel a constant-height scan (Z controller
off) is published on its signal channel instead of the flat Z.

Options:
  --pattern P           file name pattern (default '*.sxm')
  --session NAME        Frame.session (default watch)
  --channel NAME        .sxm channel (default Z; see above)
  --direction forward|backward
                        .sxm trace (default forward)
  --endpoint E          ZeroMQ endpoint (default tcp://127.0.0.1:5555, bound)
  --bind | --connect    bind E (default) or connect (frames_mode = "bind")
  --poll-ms MS          poll interval (default 500)
  --settle-ms MS        unchanged this long counts as written (default 1000)
  --give-up-s S         skip a file that does not read S s after its last
                        change (default 10)
  --existing            also publish the files already there
  --rate HZ             at most HZ frames per second (default 2; 0 = no
                        limit): a burst of files must not overflow the
                        daemon's ingest queue, which drops the oldest
  --frames N            stop after N frames (default: never)
  -h, --help            show this help

Exit status: 0 when stopped, 1 when the socket cannot be opened, 2 on a
usage error.
)";
}

int RunWatchCommand(const std::vector<std::string>& args) {
  constexpr CommandUsage kUsage{"watch", &PrintWatchHelp};
  WatchArgs parsed;
  const Status status = ParseWatchArgs(args, parsed);
  if (const std::optional<int> exit =
          FinishParsing(kUsage, status, parsed.help)) {
    return *exit;
  }
  StopSignals signals;
  FramePublisher publisher;
  const Status opened = publisher.Open(parsed.publisher, signals.flag());
  if (!opened.ok()) {
    spdlog::error("[watch] {}", opened.message());
    return kExitFailure;
  }
  FolderWatcher watcher(parsed.watch);
  FilePublisher files(parsed, publisher);
  // Sends at most --rate frames per second (a burst of files, after a
  // slow one or with --existing, would overflow the daemon's ingest).
  const auto period =
      parsed.rate_hz > 0
          ? std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                std::chrono::duration<double>(1.0 / parsed.rate_hz))
          : std::chrono::steady_clock::duration::zero();
  std::chrono::steady_clock::time_point next_send{};
  const auto paced = [&](const std::string& path) {
    while (!signals.stop_requested() &&
           std::chrono::steady_clock::now() < next_send) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    const Status s = files(path);
    if (s.ok()) next_send = std::chrono::steady_clock::now() + period;
    return s;
  };
  bool first = true;
  while (!signals.stop_requested()) {
    const std::vector<WatchEvent> events =
        watcher.Poll(FolderWatcher::Clock::now(), paced);
    if (first) {
      first = false;
      spdlog::info("[watch] watching {} ({}) -> {} ({}), session {}, {}",
                   parsed.watch.dir, parsed.watch.pattern, publisher.endpoint(),
                   parsed.publisher.bind ? "bound" : "connected",
                   parsed.session, RateText(parsed.rate_hz));
    }
    for (const WatchEvent& e : events) {
      if (e.kind == WatchEvent::Kind::kSkipped) {
        spdlog::error("[watch] {} skipped: {}", e.path, e.message);
      } else if (e.kind == WatchEvent::Kind::kError) {
        spdlog::warn("[watch] {}", e.message);
      }
    }
    if (parsed.max_frames > 0 &&
        static_cast<int64_t>(files.published()) >= parsed.max_frames) {
      break;
    }
    for (int slept = 0; slept < parsed.poll_ms && !signals.stop_requested();
         slept += 10) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  spdlog::info("[watch] {} files published, {} skipped", watcher.published(),
               watcher.skipped());
  return kExitOk;
}

}  // namespace anchord::daemon
