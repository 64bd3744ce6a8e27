// The command-line helpers every subcommand shares: option splitting,
// ApplyOptions with flags, and the one way usage errors and --help end a
// subcommand's parsing.

#include "daemon/common/cli_args.h"

#include "daemon/common/exit_codes.h"
#include <doctest/doctest.h>

#include <map>
#include <ostream>
#include <string>
#include <vector>

namespace anchord::daemon {
namespace {

using Args = std::vector<std::string>;

// Applies options into a map; "--bad" is refused.
struct Recorder {
  std::map<std::string, std::string> seen;
  bool help = false;

  Status Apply(const Args& args) {
    return ApplyOptions(
        args, {"--flag"}, {"--value", "--bad"},
        [this](const std::string& name, const std::string& value) {
          if (name == "--bad") return UsageError("--bad = '" + value + "'");
          seen[name] = value;
          return Status::Ok();
        },
        help);
  }
};

int help_printed = 0;
void PrintTestHelp(std::ostream&) { ++help_printed; }

TEST_CASE("ApplyOptions passes flags and values to the setter") {
  Recorder r;
  REQUIRE(r.Apply({"--flag", "--value=3"}).ok());
  CHECK(!r.help);
  CHECK(r.seen ==
        std::map<std::string, std::string>{{"--flag", ""}, {"--value", "3"}});
}

TEST_CASE("ApplyOptions: --help wins, everything else unknown is an error") {
  Recorder help;
  CHECK(help.Apply({"--value", "3", "-h", "stray"}).ok());
  CHECK(help.help);
  CHECK(help.seen.empty());

  const auto message = [](const Args& args) {
    Recorder r;
    const Status s = r.Apply(args);
    CHECK(s.code() == StatusCode::kInvalidInput);
    return s.message();
  };
  CHECK(message({"stray"}) == "unexpected argument 'stray'");
  CHECK(message({"--other"}) == "unknown option --other");
  CHECK(message({"--value"}) == "--value needs a value");
  CHECK(message({"--flag", "--flag"}) == "--flag given twice");
  CHECK(message({"--bad", "x"}) == "--bad = 'x'");
}

TEST_CASE("FinishParsing: usage error, help, or go on") {
  const CommandUsage usage{"test", &PrintTestHelp};
  help_printed = 0;
  CHECK(FinishParsing(usage, UsageError("no"), true) == kExitUsage);
  CHECK(help_printed == 0);
  CHECK(FinishParsing(usage, Status::Ok(), true) == kExitOk);
  CHECK(help_printed == 1);
  CHECK(!FinishParsing(usage, Status::Ok(), false).has_value());
  CHECK(ReportUsageError(usage, UsageError("no")) == kExitUsage);
}

}  // namespace
}  // namespace anchord::daemon
