#include "daemon/instrument/replay_command.h"

#include "anchord/io/image_io.h"

#include "daemon/common/cli_args.h"
#include "daemon/common/exit_codes.h"
#include "daemon/common/session_name.h"
#include "daemon/common/stop_signals.h"
#include "daemon/instrument/header_time.h"
#include "daemon/instrument/sequence.h"
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>

namespace anchord::daemon {
namespace {

// Largest accepted --size, px (the daemon's default limits.max_side_px).
constexpr int kMaxSizePx = 8192;

bool IsSxm(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  for (char& c : ext) c = static_cast<char>(std::tolower(c));
  return ext == ".sxm";
}

// "S" sets both axes, "SX,SY" each axis; both positive.
Status ParsePixelSize(const std::string& text, ReplayArgs& a) {
  const auto values = ParseNumberList<double>(text);
  if (!values || values->size() > 2 ||
      std::any_of(values->begin(), values->end(),
                  [](double v) { return !(v > 0); })) {
    return UsageError("--pixel-size-nm = '" + text +
                      "': expected a positive number S or SX,SY");
  }
  a.pixel_size_x_nm = values->front();
  a.pixel_size_y_nm = values->back();
  return Status::Ok();
}

Status ParseDrift(const std::string& text, ReplayArgs& a) {
  const auto values = ParseNumberList<double>(text);
  if (!values || values->size() != 2) {
    return UsageError("--drift-nm-per-frame = '" + text +
                      "': expected two numbers DX,DY (nm)");
  }
  a.drift_nm_per_frame = Vec2((*values)[0], (*values)[1]);
  return Status::Ok();
}

Status ParseDirection(const std::string& text, ReplayArgs& a) {
  if (text == "forward") {
    a.trace = SxmTrace::kForward;
  } else if (text == "backward") {
    a.trace = SxmTrace::kBackward;
  } else {
    return UsageError("--direction = '" + text +
                      "': expected forward or backward");
  }
  return Status::Ok();
}

// Options of the synthetic sequence.
Status ApplySyntheticOption(const std::string& name,
                            const std::string& value,
                            ReplayArgs& a) {
  if (name == "--synthetic") {
    if (ParseNumber(value, a.synthetic_frames) && a.synthetic_frames > 0) {
      return Status::Ok();
    }
    return UsageError("--synthetic = '" + value +
                      "': expected a frame count >= 1");
  }
  if (name == "--seed") {
    if (ParseNumber(value, a.seed)) return Status::Ok();
    return UsageError("--seed = '" + value + "': expected an unsigned integer");
  }
  if (name == "--size") {
    if (ParseNumber(value, a.size_px) && a.size_px >= 16 &&
        a.size_px <= kMaxSizePx) {
      return Status::Ok();
    }
    return UsageError("--size = '" + value + "': expected an integer in [16, " +
                      std::to_string(kMaxSizePx) + "]");
  }
  if (name == "--fov-nm") {
    if (ParseNumber(value, a.fov_nm) && a.fov_nm > 0) return Status::Ok();
    return UsageError("--fov-nm = '" + value + "': expected a positive number");
  }
  return ParseDrift(value, a);
}

// Stores the value of option `name` (one of kValueOptions).
Status ApplyOption(const std::string& name,
                   const std::string& value,
                   ReplayArgs& a) {
  if (name == "--rate") {
    if (ParseNumber(value, a.rate_hz) && a.rate_hz >= 0) return Status::Ok();
    return UsageError("--rate = '" + value +
                      "': expected frames per second >= 0");
  }
  if (name == "--endpoint") {
    if (value.empty()) return UsageError("--endpoint needs an endpoint");
    a.publisher.endpoint = value;
    return Status::Ok();
  }
  if (name == "--curve-server-key" || name == "--curve-client-key") {
    if (value.empty()) return UsageError(name + " needs a key file");
    (name == "--curve-server-key" ? a.publisher.curve_server_key_file
                                  : a.publisher.curve_client_key_file) = value;
    return Status::Ok();
  }
  if (name == "--time") {
    if (value == "header") {
      a.time = ReplayTime::kHeader;
    } else if (value == "send") {
      a.time = ReplayTime::kSend;
    } else {
      return UsageError("--time = '" + value + "': expected header or send");
    }
    return Status::Ok();
  }
  if (name == "--session") {
    if (const std::optional<std::string> bad = SessionNameError(value)) {
      return UsageError("--session " + SanitizedForLog(value) + " " + *bad);
    }
    a.session = value;
    return Status::Ok();
  }
  if (name == "--pixel-size-nm") return ParsePixelSize(value, a);
  if (name == "--direction") return ParseDirection(value, a);
  if (name == "--channel") {
    if (value.empty()) return UsageError("--channel needs a channel name");
    a.channel = value;
    return Status::Ok();
  }
  return ApplySyntheticOption(name, value, a);
}

const std::vector<std::string> kSyntheticOptions = {
    "--synthetic", "--seed", "--size", "--fov-nm", "--drift-nm-per-frame"};
const std::vector<std::string> kFileOptions = {"--pixel-size-nm", "--channel",
                                               "--direction", "--time"};

std::vector<std::string> ValueOptions() {
  std::vector<std::string> names = {"--rate", "--endpoint", "--session",
                                    "--curve-server-key", "--curve-client-key"};
  names.insert(names.end(), kSyntheticOptions.begin(), kSyntheticOptions.end());
  names.insert(names.end(), kFileOptions.begin(), kFileOptions.end());
  return names;
}

// The first option of `names` that was given, or "".
std::string FirstGiven(const SplitArgs& split,
                       const std::vector<std::string>& names) {
  for (const std::string& name : names) {
    if (split.values.count(name)) return name;
  }
  return "";
}

// Checks the combination of inputs and options.
Status CheckCombination(const SplitArgs& split, const ReplayArgs& a) {
  const bool synthetic = a.synthetic_frames > 0;
  if (synthetic == !a.inputs.empty()) {
    return UsageError(synthetic ? "give input files or --synthetic N, not both"
                                : "no input files and no --synthetic N");
  }
  const std::string misplaced = synthetic
                                    ? FirstGiven(split, kFileOptions)
                                    : FirstGiven(split, kSyntheticOptions);
  if (!misplaced.empty()) {
    return UsageError(misplaced + (synthetic ? " applies to input files only"
                                             : " applies to --synthetic only"));
  }
  if (!synthetic && a.pixel_size_x_nm <= 0 &&
      !std::all_of(a.inputs.begin(), a.inputs.end(), IsSxm)) {
    return UsageError(
        "--pixel-size-nm is required (nm per raw pixel) for inputs other "
        "than .sxm");
  }
  if (a.time == ReplayTime::kHeader &&
      !std::all_of(a.inputs.begin(), a.inputs.end(), IsSxm)) {
    return UsageError(
        "--time header needs .sxm inputs (their REC_DATE and "
        "REC_TIME)");
  }
  if (a.publisher.curve_server_key_file.empty() !=
      a.publisher.curve_client_key_file.empty()) {
    return UsageError("--curve-server-key and --curve-client-key go together");
  }
  return Status::Ok();
}

// Reads one input file into `frame`: .sxm with its metadata (a given
// --pixel-size-nm overrides the header's), other formats with the
// --pixel-size-nm pixel size.
Status ReadInputFrame(const std::string& path,
                      const ReplayArgs& args,
                      Frame* frame) {
  if (IsSxm(path)) {
    const SxmFile file = ReadSxm(path);
    const std::string channel =
        args.channel.empty() ? DefaultSxmChannel(file.header) : args.channel;
    const Status extracted = ExtractSxmFrame(file, channel, args.trace, frame);
    if (!extracted.ok()) return extracted;
  } else {
    const ReadImageResult read = ReadImageFile(path);
    if (!read.status.ok()) return read.status;
    frame->image = read.image;
  }
  if (frame->image.empty()) {
    return Status::InvalidInput("the file holds an empty image");
  }
  if (args.pixel_size_x_nm > 0) {
    frame->pixel_size_x_nm = args.pixel_size_x_nm;
    frame->pixel_size_y_nm = args.pixel_size_y_nm;
  }
  frame->source = path;
  return Status::Ok();
}

// The frames of the input files, in order (over and over with --loop).
// An unreadable file is reported, counted and skipped.
class FileSource {
 public:
  explicit FileSource(const ReplayArgs& args) : args_(args) {}

  // The next readable input as frame k (frame_id k + 1); false at the end
  // of the list (without --loop) or after a whole pass over the list
  // without a readable file.
  bool Next(int64_t k, InboundFrame* out) {
    const size_t count = args_.inputs.size();
    for (size_t tries = 0; tries < count; ++tries) {
      if (!args_.loop && position_ >= count) return false;
      const size_t pass = position_ / count;
      const std::string& path = args_.inputs[position_ % count];
      ++position_;
      *out = InboundFrame();
      const Status read = ReadInputFrame(path, args_, &out->frame);
      if (read.ok()) {
        out->frame_id = static_cast<uint64_t>(k) + 1;
        out->instrument = "replay";
        out->session = args_.session.empty() ? "replay" : args_.session;
        out->acquired_unix_ns = HeaderTime(path, out->frame, pass);
        return true;
      }
      spdlog::error("[replay] {}: {}", path, read.message());
      ++failures_;
    }
    return false;
  }
  int failures() const { return failures_; }

 private:
  // The header time of `frame` (0: stamped when sent), shifted by `pass`
  // × the span of the header times seen in the first pass plus their mean
  // interval, so that --loop keeps time increasing.
  int64_t HeaderTime(const std::string& path, const Frame& frame, size_t pass) {
    if (args_.time == ReplayTime::kSend || !IsSxm(path)) return 0;
    const std::optional<int64_t> t = HeaderAcquiredUnixNs(frame);
    if (!t) {
      if (!warned_no_header_time_) {
        spdlog::warn(
            "[replay] {}: no valid REC_DATE/REC_TIME; such frames carry the "
            "time they are sent",
            path);
        warned_no_header_time_ = true;
      }
      return 0;
    }
    if (pass == 0) {
      first_ns_ = std::min(first_ns_.value_or(*t), *t);
      last_ns_ = std::max(last_ns_.value_or(*t), *t);
      ++timed_;
    }
    if (pass == 0 || !first_ns_) return *t;
    const int64_t span = *last_ns_ - *first_ns_;
    const int64_t step = timed_ > 1 ? span / (timed_ - 1) : int64_t{1000000000};
    return *t + static_cast<int64_t>(pass) * (span + step);
  }

  const ReplayArgs& args_;
  size_t position_ = 0;
  int failures_ = 0;
  bool warned_no_header_time_ = false;
  std::optional<int64_t> first_ns_, last_ns_;
  int64_t timed_ = 0;
};

SyntheticSequence SequenceOf(const ReplayArgs& args) {
  SyntheticSequence sequence;
  if (!args.session.empty()) sequence.session = args.session;
  sequence.base = ModeratelyDistortedScan(args.seed, args.size_px, args.fov_nm);
  sequence.drift_nm_per_frame = args.drift_nm_per_frame;
  return sequence;
}

// Frame k of the sequence: frames 0 … N − 1, again and again with --loop
// (frame ids keep increasing).
FrameProducer SyntheticProducer(const SyntheticSequence& sequence,
                                const ReplayArgs& args) {
  return [&sequence, &args](int64_t k, InboundFrame* out) {
    if (!args.loop && k >= args.synthetic_frames) return false;
    *out = sequence.Inbound(k % args.synthetic_frames);
    out->frame_id = sequence.first_frame_id + static_cast<uint64_t>(k);
    return true;
  };
}

void PrintSent(const InboundFrame& in) {
  std::printf("sent frame %llu: %dx%d px, %.5gx%.5g nm/px, %s\n",
              static_cast<unsigned long long>(in.frame_id), in.frame.image.cols,
              in.frame.image.rows, in.frame.pixel_size_x_nm,
              in.frame.pixel_size_y_nm, in.frame.source.c_str());
  std::fflush(stdout);
}

// Opens the socket and publishes every frame of `next`; the exit status.
int Publish(const ReplayArgs& args, const FrameProducer& next) {
  StopSignals signals;
  FramePublisher publisher;
  const Status opened = publisher.Open(args.publisher, signals.flag());
  if (!opened.ok()) {
    spdlog::error("[replay] {}", opened.message());
    return kExitFailure;
  }
  spdlog::info("[replay] publishing on {} ({}), {}", publisher.endpoint(),
               args.publisher.bind ? "bound" : "connected",
               RateText(args.rate_hz));
  const PublishOutcome outcome =
      PublishPaced(publisher, args.rate_hz, next, signals.flag(),
                   [](int64_t, const InboundFrame& in) { PrintSent(in); });
  spdlog::info("[replay] {} frames sent{}", outcome.sent,
               signals.stop_requested() ? " (interrupted)" : "");
  if (!outcome.status.ok()) {
    spdlog::error("[replay] {}", outcome.status.message());
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace

Status ParseReplayArgs(const std::vector<std::string>& args,
                       ReplayArgs& parsed) {
  SplitArgs split;
  Status s =
      SplitCommandLine(args, {"--help", "-h", "--bind", "--connect", "--loop"},
                       ValueOptions(), split);
  if (!s.ok()) return s;
  for (const std::string& flag : split.flags) {
    if (flag == "--loop") {
      parsed.loop = true;
    } else if (flag == "--connect" || flag == "--bind") {
      parsed.publisher.bind = flag == "--bind";
    } else {
      parsed.help = true;
    }
  }
  if (parsed.help) return Status::Ok();
  if (std::count(split.flags.begin(), split.flags.end(), "--bind") +
          std::count(split.flags.begin(), split.flags.end(), "--connect") >
      1) {
    return UsageError("--bind and --connect exclude each other");
  }
  parsed.inputs = split.positional;
  for (const auto& [name, value] : split.values) {
    s = ApplyOption(name, value, parsed);
    if (!s.ok()) return s;
  }
  return CheckCombination(split, parsed);
}

void PrintReplayHelp(std::ostream& out) {
  out << R"(Usage: anchord replay FILE... [--pixel-size-nm S|SX,SY] [options]
       anchord replay --synthetic N [--seed S] [--size PX] [--fov-nm F]
                      [--drift-nm-per-frame DX,DY] [options]

Acts as the acquisition controller: publishes scan frames (anchord.v1.Frame,
one single-part ZeroMQ message per frame) on a PUB socket for
`anchord serve`, and prints one line per frame sent. It waits 300 ms after
opening the socket so that the daemon has subscribed before the first frame.

Frames from files: FILE... in the order given, frame ids 1, 2, ...
Inputs: Nanonis .sxm (pixel size and metadata from the header); .npy,
.tif/.tiff, .png (need --pixel-size-nm). An unreadable file is reported and
skipped.

Frames from --synthetic N: N frames of one synthetic Si(111)-7x7 sample (the
same lattice and vacancies in every frame, fresh noise per frame) scanned
with a moderate distortion while the sample drifts by DX,DY nm per frame.

Options:
  --endpoint E               ZeroMQ endpoint (default tcp://127.0.0.1:5555,
                             where the daemon's default SUB connects)
  --bind                     bind E (default; daemon frames_mode = "connect")
  --connect                  connect to E (daemon frames_mode = "bind")
  --rate HZ                  frames per second (default 2; 0 = as fast as
                             possible)
  --curve-server-key FILE    CURVE: the daemon's public key (a daemon with
                             [security] keys); needs --curve-client-key
  --curve-client-key FILE    CURVE: this client's secret key (its public key
                             must be on the daemon's allow-list)
  --loop                     repeat the inputs (or the N synthetic frames)
                             until interrupted; frame ids keep increasing
  --session NAME             Frame.session (default replay; anchord-synthetic
                             for --synthetic)
  --time header|send         acquisition time of file frames: the .sxm
                             header's REC_DATE/REC_TIME (header, the default
                             for .sxm) or the time of sending (send)
  --pixel-size-nm S | SX,SY  nominal pixel size of the files, nm (required
                             except for .sxm, where it overrides the header)
  --channel NAME             .sxm channel (default Z; a constant-height
                             scan, Z controller off: its signal channel)
  --direction forward|backward
                             .sxm trace (default forward)
  --synthetic N              publish N synthetic frames instead of files
  --seed S                   synthetic structure seed (default 7)
  --size PX                  synthetic frame side, px (default 512)
  --fov-nm F                 synthetic nominal field of view, nm (default 30)
  --drift-nm-per-frame DX,DY sample drift between synthetic frames, nm
                             (default 0.25,0.1)
  -h, --help                 show this help

A frame's acquired_unix_ns is its .sxm header's time (--time header; read
as UTC, whole seconds; each --loop pass later by the span of the inputs plus
their mean interval) or the time it is sent. The first frame is sent as
soon as it is ready, each later one a full period after the previous one.
SIGINT/SIGTERM stop after the frame in flight.

Exit status: 0 when every frame was sent (or on SIGINT/SIGTERM), 1 when the
socket could not be opened, a send failed or an input could not be read,
2 on a usage error.
)";
}

int RunReplayCommand(const std::vector<std::string>& args) {
  constexpr CommandUsage kUsage{"replay", &PrintReplayHelp};
  ReplayArgs parsed;
  const Status status = ParseReplayArgs(args, parsed);
  if (const std::optional<int> exit =
          FinishParsing(kUsage, status, parsed.help)) {
    return *exit;
  }
  if (parsed.synthetic_frames > 0) {
    const SyntheticSequence sequence = SequenceOf(parsed);
    const Status valid = sequence.Validate();
    if (!valid.ok()) return ReportUsageError(kUsage, valid);
    return Publish(parsed, SyntheticProducer(sequence, parsed));
  }
  FileSource files(parsed);
  const int published = Publish(parsed, [&files](int64_t k, InboundFrame* out) {
    return files.Next(k, out);
  });
  return files.failures() > 0 ? kExitFailure : published;
}

}  // namespace anchord::daemon
