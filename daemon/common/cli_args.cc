#include "daemon/common/cli_args.h"

#include "daemon/common/exit_codes.h"

#include <algorithm>
#include <iostream>
#include <utility>

namespace anchord::daemon {
namespace {

bool Contains(const std::vector<std::string>& names, const std::string& s) {
  return std::find(names.begin(), names.end(), s) != names.end();
}

bool IsOption(const std::string& arg) {
  return arg.size() > 1 && arg[0] == '-';
}

}  // namespace

std::vector<std::string> SplitList(std::string_view text) {
  std::vector<std::string> out;
  while (true) {
    const size_t comma = text.find(',');
    out.emplace_back(text.substr(0, comma));
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return out;
}

Status SplitCommandLine(const std::vector<std::string>& args,
                        const std::vector<std::string>& flag_names,
                        const std::vector<std::string>& value_names,
                        SplitArgs& out) {
  bool options_done = false;
  for (size_t k = 0; k < args.size(); ++k) {
    const std::string& arg = args[k];
    if (options_done || !IsOption(arg)) {
      out.positional.push_back(arg);
      continue;
    }
    if (arg == "--") {
      options_done = true;
      continue;
    }
    const size_t eq = arg.find('=');
    const std::string name = arg.substr(0, eq);
    if (Contains(flag_names, name) && eq == std::string::npos) {
      if (Contains(out.flags, name)) {
        return Status::InvalidInput(name + " given twice");
      }
      out.flags.push_back(name);
      continue;
    }
    if (!Contains(value_names, name)) {
      return Status::InvalidInput("unknown option " + name);
    }
    std::string value;
    if (eq != std::string::npos) {
      value = arg.substr(eq + 1);
    } else if (k + 1 < args.size()) {
      value = args[++k];
    } else {
      return Status::InvalidInput(name + " needs a value");
    }
    if (!out.values.emplace(name, value).second) {
      return Status::InvalidInput(name + " given twice");
    }
  }
  return Status::Ok();
}

Status ApplyOptions(const std::vector<std::string>& args,
                    const std::vector<std::string>& flag_names,
                    const std::vector<std::string>& value_names,
                    const OptionSetter& apply,
                    bool& help) {
  std::vector<std::string> flags = {"--help", "-h"};
  flags.insert(flags.end(), flag_names.begin(), flag_names.end());
  SplitArgs split;
  Status s = SplitCommandLine(args, flags, value_names, split);
  if (!s.ok()) return s;
  if (Contains(split.flags, "--help") || Contains(split.flags, "-h")) {
    help = true;
    return Status::Ok();
  }
  if (!split.positional.empty()) {
    return UsageError("unexpected argument '" + split.positional.front() + "'");
  }
  for (const std::string& flag : split.flags) {
    s = apply(flag, "");
    if (!s.ok()) return s;
  }
  for (const auto& [name, value] : split.values) {
    s = apply(name, value);
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

Status ApplyOptions(const std::vector<std::string>& args,
                    const std::vector<std::string>& value_names,
                    const OptionSetter& apply,
                    bool& help) {
  return ApplyOptions(args, {}, value_names, apply, help);
}

Status UsageError(std::string message) {
  return Status::InvalidInput(std::move(message));
}

int ReportUsageError(const CommandUsage& usage, const Status& why) {
  std::cerr << "anchord " << usage.command << ": " << why.message()
            << "\nTry 'anchord " << usage.command << " --help'.\n";
  return kExitUsage;
}

std::optional<int> FinishParsing(const CommandUsage& usage,
                                 const Status& parsed,
                                 bool help) {
  if (!parsed.ok()) return ReportUsageError(usage, parsed);
  if (!help) return std::nullopt;
  usage.print_help(std::cout);
  return kExitOk;
}

}  // namespace anchord::daemon
