#pragma once

// Small command-line helpers shared by the subcommands:
// `--opt value` / `--opt=value` splitting and whole-string number parsing.

#include "anchord/util/status.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
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

// Sets one option from its value; kInvalidInput naming the problem.
using OptionSetter =
    std::function<Status(const std::string& name, const std::string& value)>;

// The parser of a subcommand without positional arguments: --help / -h
// sets `help` (nothing else is checked then); each option of
// `value_names` goes to `apply`; anything else is a usage error.
Status ApplyOptions(const std::vector<std::string>& args,
                    const std::vector<std::string>& value_names,
                    const OptionSetter& apply,
                    bool& help);

}  // namespace anchord::daemon
