// anchord: one binary, one subcommand per task. This file only configures
// logging and dispatches; each subcommand parses its own arguments and
// returns the process exit status.

#include "daemon/common/exit_codes.h"
#include "daemon/demo/demo_command.h"
#include "daemon/instrument/bridge_command.h"
#include "daemon/instrument/replay_command.h"
#include "daemon/instrument/watch_command.h"
#include "daemon/offline/align_command.h"
#include "daemon/offline/register_command.h"
#include "daemon/offline/segment_command.h"
#include "daemon/offline/synth_command.h"
#include "daemon/serve/serve_command.h"
#include "daemon/studies/bench_command.h"
#include "daemon/studies/study_command.h"
#include <google/protobuf/stubs/logging.h>
#include <malloc.h>
#include <spdlog/cfg/env.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <exception>
#include <iomanip>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

namespace {

using anchord::daemon::kExitFailure;
using anchord::daemon::kExitOk;
using anchord::daemon::kExitUsage;

struct Subcommand {
  const char* name;
  const char* summary;
  int (*run)(const std::vector<std::string>& args);
};

constexpr Subcommand kSubcommands[] = {
    {"serve", "the daemon: frames in over ZeroMQ, results out, queries",
     &anchord::daemon::RunServeCommand},
    {"replay", "act as the instrument: publish frames from files or synthetic",
     &anchord::daemon::RunReplayCommand},
    {"bridge",
     "a Nanonis controller's frames to the daemon, its drift back (TCP)",
     &anchord::daemon::RunBridgeCommand},
    {"watch", "publish every new complete .sxm of a folder, header times",
     &anchord::daemon::RunWatchCommand},
    {"demo", "daemon + simulated instrument + console view, one command",
     &anchord::daemon::RunDemoCommand},
    {"register",
     "register image files against the Si(111)-7x7 model; JSON lines out",
     &anchord::daemon::RunRegisterCommand},
    {"align", "align two frames without a lattice: shift, affine, field",
     &anchord::daemon::RunAlignCommand},
    {"segment",
     "segment a frame by symmetry descriptors (domains, disorder); JSON out",
     &anchord::daemon::RunSegmentCommand},
    {"synth", "write a synthetic Si(111)-7x7 scan with its ground truth",
     &anchord::daemon::RunSynthCommand},
    {"study", "accuracy studies: fig3 (Diao et al. 2025, Fig. 3), baselines",
     &anchord::daemon::RunStudyCommand},
    {"bench", "time RegisterFrame per stage, sizes, detectors, threads",
     &anchord::daemon::RunBenchCommand},
};

void PrintUsage(std::ostream& out) {
  out << "Usage: anchord <subcommand> [arguments]\n\nSubcommands:\n";
  for (const Subcommand& sub : kSubcommands) {
    out << "  " << std::left << std::setw(10) << sub.name << sub.summary
        << '\n';
  }
  out << "\n`anchord <subcommand> --help` (or `anchord help <subcommand>`) "
         "describes one.\nLog level: environment variable SPDLOG_LEVEL "
         "(e.g. debug, warn, off).\n";
}

const Subcommand* FindSubcommand(const std::string& name) {
  for (const Subcommand& sub : kSubcommands) {
    if (name == sub.name) return &sub;
  }
  return nullptr;
}

// Logs go to stderr as "[level] message"; stdout carries results only.
// The library never logs; only this binary configures sinks.
// libprotobuf logs every rejected message (e.g. bad UTF-8 in a string
// field) on stderr without limit; such frames are already answered and
// counted as invalid_input, so its own log lines are dropped.
void SilenceProtobufLog() { google::protobuf::SetLogHandler(nullptr); }

void ConfigureLogging() {
  auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>("anchord", sink);
  logger->set_pattern("[%l] %v");
  spdlog::set_default_logger(logger);
  spdlog::cfg::load_env_levels();
}

bool IsHelp(const std::string& arg) {
  return arg == "--help" || arg == "-h" || arg == "help";
}

// `anchord help` lists the subcommands; `anchord help SUB` is `SUB --help`.
int RunHelp(const std::vector<std::string>& args) {
  if (args.size() < 2) {
    PrintUsage(std::cout);
    return kExitOk;
  }
  const Subcommand* sub = FindSubcommand(args[1]);
  if (sub == nullptr) {
    std::cerr << "anchord: unknown subcommand '" << args[1] << "'\n\n";
    PrintUsage(std::cerr);
    return kExitUsage;
  }
  return sub->run({"--help"});
}

}  // namespace

// Every frame allocates a few frame-sized buffers. glibc would map each
// from the kernel and unmap it on free, so the kernel zeroes fresh pages
// every frame (~15 % of a 512 px frame's time); keeping freed memory in
// the heap lets the next frame reuse it.
void KeepFrameBuffersInHeap() {
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
}

int main(int argc, char** argv) {
  KeepFrameBuffersInHeap();
  ConfigureLogging();
  SilenceProtobufLog();
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    PrintUsage(std::cerr);
    return kExitUsage;
  }
  if (IsHelp(args[0])) return RunHelp(args);
  const Subcommand* sub = FindSubcommand(args[0]);
  if (sub == nullptr) {
    std::cerr << "anchord: unknown subcommand '" << args[0] << "'\n\n";
    PrintUsage(std::cerr);
    return kExitUsage;
  }
  try {
    return sub->run({args.begin() + 1, args.end()});
  } catch (const std::exception& e) {
    spdlog::critical("[{}] {}", sub->name, e.what());
    return kExitFailure;
  }
}
