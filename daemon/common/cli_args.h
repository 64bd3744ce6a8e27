#pragma once

// The command-line helpers every subcommand uses: `--opt value` /
// `--opt=value` splitting, whole-string number parsing, and the one way
// usage errors and --help are reported (with the exit codes of
// exit_codes.h).

#include "anchord/util/status.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <vector>

namespace anchord::daemon {

// Parses all of `text` as a number of type T; false on any trailing
// character, overflow or (for floating point) a non-finite value.
template <typename T>
bool ParseNumber(std::string_view text, T& value) {
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end) return false;
  if constexpr (std::is_floating_point_v<T>) return std::isfinite(value);
  return true;
}

// Parses a comma-separated list "a,b,c" of numbers; nullopt when empty or
// any element is not a number.
template <typename T>
std::optional<std::vector<T>> ParseNumberList(std::string_view text) {
  std::vector<T> out;
  while (true) {
    const size_t comma = text.find(',');
    T value{};
    if (!ParseNumber(text.substr(0, comma), value)) return std::nullopt;
    out.push_back(value);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return out;
}

// Splits a comma-separated list into its (possibly empty) elements.
std::vector<std::string> SplitList(std::string_view text);

// A command line split into options and positional arguments.
struct SplitArgs {
  std::map<std::string, std::string> values;  // "--name" → value
  std::vector<std::string> flags;             // options without a value
  std::vector<std::string> positional;
};

// Splits `args`: every "--name" in `flag_names` is a flag; any other
// "--name" takes a value (`--name value` or `--name=value`); everything
// after "--" is positional. kInvalidInput when an option repeats, lacks
// its value, or is neither a flag nor in `value_names`.
Status SplitCommandLine(const std::vector<std::string>& args,
                        const std::vector<std::string>& flag_names,
                        const std::vector<std::string>& value_names,
                        SplitArgs& out);

// Sets one option from its value (a flag: from an empty value);
// kInvalidInput naming the problem.
using OptionSetter =
    std::function<Status(const std::string& name, const std::string& value)>;

// The parser of a subcommand without positional arguments: --help / -h
// sets `help` (nothing else is checked then); each flag of `flag_names`
// (with an empty value), then each option of `value_names` goes to
// `apply`; anything else is a usage error.
Status ApplyOptions(const std::vector<std::string>& args,
                    const std::vector<std::string>& flag_names,
                    const std::vector<std::string>& value_names,
                    const OptionSetter& apply,
                    bool& help);
// The same for a subcommand without flags.
Status ApplyOptions(const std::vector<std::string>& args,
                    const std::vector<std::string>& value_names,
                    const OptionSetter& apply,
                    bool& help);

// A usage error for a parser to return: kInvalidInput with `message`.
Status UsageError(std::string message);

// How a subcommand names itself in messages, as typed after `anchord`
// ("serve", "study fig3"), and prints its help text.
struct CommandUsage {
  const char* command;                    // "serve", "study fig3"
  void (*print_help)(std::ostream& out);  // the --help text
};

// Reports a usage error on stderr, "anchord <command>: <message>" then
// "Try 'anchord <command> --help'."; returns kExitUsage.
int ReportUsageError(const CommandUsage& usage, const Status& why);

// The end of every subcommand's argument parsing: a failed `parsed` is
// reported (ReportUsageError) and gives kExitUsage; else `help` prints the
// help text on stdout and gives kExitOk; else nullopt: the command runs.
std::optional<int> FinishParsing(const CommandUsage& usage,
                                 const Status& parsed,
                                 bool help);

}  // namespace anchord::daemon
