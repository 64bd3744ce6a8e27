#include "daemon/config/config.h"
#include "daemon/config/config_keys.h"

#include <charconv>
#include <cstdint>
#include <cstdio>
#include <string>
#include <type_traits>
#include <vector>

namespace anchord::daemon {
namespace config_internal {

std::string QuoteToml(std::string_view s) {
  std::string out = "\"";
  for (const char ch : s) {
    const auto u = static_cast<unsigned char>(ch);
    switch (ch) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (u < 0x20 || u == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04X", u);
          out += buf;
        } else {
          out += ch;
        }
    }
  }
  return out + "\"";
}

}  // namespace config_internal

namespace {

using config_internal::ForEachKey;
using config_internal::IsEnumRef;
using config_internal::JoinKey;
using config_internal::QuoteToml;

// Shortest text that reads back as exactly `x`, always a TOML float.
std::string FormatDouble(double x) {
  char buf[64];
  const auto result = std::to_chars(buf, buf + sizeof buf, x);
  std::string s(buf, result.ptr);
  // "inf" and "nan" contain an 'n'; integers need a fraction to stay
  // floats.
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
  return s;
}

template <typename Field>
std::string FormatValue(const Field& field) {
  using T = std::remove_cvref_t<Field>;
  if constexpr (IsEnumRef<T>::value) {
    for (const auto& spelling : field.spellings) {
      if (spelling.value == field.value) return QuoteToml(spelling.name);
    }
    return QuoteToml("?");
  } else if constexpr (std::is_same_v<T, bool>) {
    return field ? "true" : "false";
  } else if constexpr (std::is_same_v<T, int> ||
                       std::is_same_v<T, std::int64_t>) {
    return std::to_string(field);
  } else if constexpr (std::is_same_v<T, double>) {
    return FormatDouble(field);
  } else {
    static_assert(std::is_same_v<T, std::string>);
    return QuoteToml(field);
  }
}

// One key with its value as TOML text.
struct FlatKey {
  std::string table;
  std::string key;
  std::string value;
};

std::vector<FlatKey> Flatten(const DaemonConfig& config) {
  std::vector<FlatKey> out;
  ForEachKey(config, [&out](std::string_view table, std::string_view key,
                            const auto& field) {
    out.push_back({std::string(table), std::string(key), FormatValue(field)});
  });
  return out;
}

}  // namespace

bool operator==(const DaemonConfig& a, const DaemonConfig& b) {
  return ChangedKeys(a, b).empty();
}

std::vector<std::string> ChangedKeys(const DaemonConfig& a,
                                     const DaemonConfig& b) {
  const std::vector<FlatKey> fa = Flatten(a), fb = Flatten(b);
  std::vector<std::string> changed;
  for (std::size_t k = 0; k < fa.size(); ++k) {
    if (fa[k].value != fb[k].value) {
      changed.push_back(JoinKey(fa[k].table, fa[k].key));
    }
  }
  return changed;
}

std::string ToToml(const DaemonConfig& config) {
  std::string out;
  std::string table;
  for (const FlatKey& k : Flatten(config)) {
    if (k.table != table) {
      if (!out.empty()) out += '\n';
      out += "[" + k.table + "]\n";
      table = k.table;
    }
    out += k.key + " = " + k.value + "\n";
  }
  return out;
}

}  // namespace anchord::daemon
