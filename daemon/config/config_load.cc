#include "daemon/config/config.h"
#include "daemon/config/config_keys.h"
#include <toml++/toml.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace anchord::daemon {
namespace {

using config_internal::EnumRef;
using config_internal::ForEachKey;
using config_internal::JoinKey;
using config_internal::QuoteToml;
using config_internal::RenamedTo;

// The tables and keys of ForEachKey, for rejecting unknown ones.
class Schema {
 public:
  static const Schema& Get() {
    static const Schema schema;
    return schema;
  }
  bool IsTable(const std::string& path) const {
    return members_.count(path) > 0;
  }
  bool IsKey(const std::string& full_key) const {
    return full_keys_.count(full_key) > 0;
  }
  // The names directly inside a table (keys and sub-tables, in file order),
  // for hints.
  std::string Members(const std::string& table) const {
    std::string out;
    for (const std::string& name : members_.at(table)) {
      if (!out.empty()) out += ", ";
      out += name;
    }
    return out;
  }

 private:
  Schema() {
    members_[""];
    const DaemonConfig defaults;
    ForEachKey(defaults, [this](std::string_view table, std::string_view key,
                                const auto&) { AddKey(table, key); });
  }
  void AddKey(std::string_view table, std::string_view key) {
    full_keys_.insert(JoinKey(table, key));
    AddMember(std::string(table), std::string(key));
    // Register every enclosing table ("registration" for
    // "registration.detect") as a member of its parent.
    std::string path(table);
    while (!path.empty()) {
      const std::size_t dot = path.rfind('.');
      const std::string parent =
          dot == std::string::npos ? "" : path.substr(0, dot);
      AddMember(parent, path.substr(dot == std::string::npos ? 0 : dot + 1));
      path = parent;
    }
  }
  void AddMember(const std::string& table, const std::string& name) {
    std::vector<std::string>& members = members_[table];
    if (std::find(members.begin(), members.end(), name) == members.end()) {
      members.push_back(name);
    }
  }

  std::map<std::string, std::vector<std::string>> members_;
  std::set<std::string> full_keys_;
};

// ---------------------------------------------------------------------------
// Problems found while loading, with their file positions.

class Problems {
 public:
  explicit Problems(std::string_view source) : source_(source) {}

  // A problem at a line (0 = unknown), optionally a column.
  void Add(std::uint32_t line, std::string text, std::uint32_t column = 0) {
    items_.push_back({line, column, std::move(text)});
  }
  bool empty() const { return items_.empty(); }

  // kInvalidInput listing every problem, "source:line: text", by line;
  // problems without a line come last.
  Status ToStatus() const {
    std::vector<Item> sorted = items_;
    std::stable_sort(sorted.begin(), sorted.end(),
                     [](const Item& a, const Item& b) {
                       return SortLine(a.line) < SortLine(b.line);
                     });
    std::string all;
    for (const Item& item : sorted) {
      if (!all.empty()) all += '\n';
      all += source_;
      if (item.line > 0) all += ':' + std::to_string(item.line);
      if (item.column > 0) all += ':' + std::to_string(item.column);
      all += ": " + item.text;
    }
    return Status::InvalidInput(all);
  }

 private:
  struct Item {
    std::uint32_t line;
    std::uint32_t column;
    std::string text;
  };
  static std::uint32_t SortLine(std::uint32_t line) {
    return line == 0 ? std::numeric_limits<std::uint32_t>::max() : line;
  }

  std::string source_;
  std::vector<Item> items_;
};

const char* TypeName(toml::node_type type) {
  switch (type) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a floating-point number";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

std::uint32_t LineOf(const toml::node& node) {
  return node.source().begin.line;
}

// Reports every key or table of `table` (at dotted `path`) that the schema
// does not know, and non-tables where the schema expects a table.
void CheckStructure(const toml::table& table,
                    const std::string& path,
                    Problems& problems) {
  const Schema& schema = Schema::Get();
  for (const auto& [key, node] : table) {
    const std::string full = JoinKey(path, key.str());
    if (schema.IsTable(full)) {
      if (const toml::table* sub = node.as_table()) {
        CheckStructure(*sub, full, problems);
      } else {
        problems.Add(LineOf(node), full + ": expected a table, found " +
                                       TypeName(node.type()));
      }
      continue;
    }
    if (schema.IsKey(full)) continue;
    const std::string what =
        node.is_table() ? "unknown table " : "unknown key ";
    const std::string where = path.empty() ? "top level" : "[" + path + "]";
    const std::string_view renamed = RenamedTo(full);
    const std::string hint =
        renamed.empty() ? "known in " + where + ": " + schema.Members(path)
                        : "renamed to " + std::string(renamed);
    problems.Add(key.source().begin.line, what + full + " (" + hint + ")");
  }
}

// Reads each schema key present in the document into its field, reporting
// wrong types; remembers each key's line for later messages.
class Reader {
 public:
  Reader(const toml::table& root, Problems& problems)
      : root_(root), problems_(problems) {}

  template <typename Field>
  void operator()(std::string_view table, std::string_view key, Field&& field) {
    const toml::node* node = Find(table, key);
    if (node == nullptr) return;
    const std::string name = JoinKey(table, key);
    lines_[name] = LineOf(*node);
    Read(*node, name, std::forward<Field>(field));
  }

  // The line of a key read from the document, 0 when absent.
  std::uint32_t LineOfKey(const std::string& full_key) const {
    const auto it = lines_.find(full_key);
    return it == lines_.end() ? 0 : it->second;
  }

 private:
  const toml::node* Find(std::string_view table, std::string_view key) const {
    const toml::table* t = &root_;
    std::string_view rest = table;
    while (!rest.empty()) {
      const std::size_t dot = rest.find('.');
      const toml::node* sub = t->get(rest.substr(0, dot));
      t = sub == nullptr ? nullptr : sub->as_table();
      if (t == nullptr) return nullptr;
      rest = dot == std::string_view::npos ? "" : rest.substr(dot + 1);
    }
    return t->get(key);
  }

  void WrongType(const toml::node& node,
                 const std::string& name,
                 const char* expected) {
    problems_.Add(LineOf(node), name + ": expected " + expected + ", found " +
                                    TypeName(node.type()));
  }

  void Read(const toml::node& node, const std::string& name, bool& out) {
    if (const auto* v = node.as_boolean()) {
      out = v->get();
    } else {
      WrongType(node, name, "a boolean");
    }
  }

  void Read(const toml::node& node, const std::string& name, int& out) {
    const auto* v = node.as_integer();
    if (v == nullptr) return WrongType(node, name, "an integer");
    const std::int64_t x = v->get();
    if (x < std::numeric_limits<int>::min() ||
        x > std::numeric_limits<int>::max()) {
      problems_.Add(LineOf(node), name + " = " + std::to_string(x) +
                                      ". Violated constraint: in [-2147483648,"
                                      " 2147483647]");
      return;
    }
    out = static_cast<int>(x);
  }

  void Read(const toml::node& node,
            const std::string& name,
            std::int64_t& out) {
    if (const auto* v = node.as_integer()) {
      out = v->get();
    } else {
      WrongType(node, name, "an integer");
    }
  }

  void Read(const toml::node& node, const std::string& name, double& out) {
    if (const auto* f = node.as_floating_point()) {
      out = f->get();
    } else if (const auto* i = node.as_integer()) {
      out = static_cast<double>(i->get());
    } else {
      WrongType(node, name, "a number");
    }
  }

  void Read(const toml::node& node, const std::string& name, std::string& out) {
    if (const auto* v = node.as_string()) {
      out = v->get();
    } else {
      WrongType(node, name, "a string");
    }
  }

  template <typename E>
  void Read(const toml::node& node, const std::string& name, EnumRef<E> out) {
    const auto* v = node.as_string();
    if (v == nullptr) return WrongType(node, name, "a string");
    std::string choices;
    for (const auto& spelling : out.spellings) {
      if (v->get() == spelling.name) {
        out.value = spelling.value;
        return;
      }
      if (!choices.empty()) choices += ", ";
      choices += QuoteToml(spelling.name);
    }
    problems_.Add(LineOf(node), name + " = " + QuoteToml(v->get()) +
                                    ". Violated constraint: one of " + choices);
  }

  const toml::table& root_;
  Problems& problems_;
  std::map<std::string, std::uint32_t> lines_;
};

// The full key a validation message starts with ("a.b = …" → "a.b").
std::string MessageKey(const std::string& message) {
  return message.substr(0, message.find(" = "));
}

LoadedConfig Fail(Status status, std::string source_text) {
  return {std::move(status), nullptr, std::move(source_text)};
}

}  // namespace

LoadedConfig LoadConfigString(std::string_view toml_text,
                              std::string_view source_name) {
  std::string text(toml_text);
  Problems problems(source_name);
  toml::table root;
  try {
    root = toml::parse(text, source_name);
  } catch (const toml::parse_error& e) {
    problems.Add(e.source().begin.line, std::string(e.description()),
                 e.source().begin.column);
    return Fail(problems.ToStatus(), std::move(text));
  }
  CheckStructure(root, "", problems);
  auto config = std::make_shared<DaemonConfig>();
  Reader reader(root, problems);
  ForEachKey(*config, reader);
  const Status valid = config->Validate();
  std::istringstream lines(valid.message());
  for (std::string line; std::getline(lines, line);) {
    problems.Add(reader.LineOfKey(MessageKey(line)), line);
  }
  if (!problems.empty()) return Fail(problems.ToStatus(), std::move(text));
  return {Status::Ok(), std::move(config), std::move(text)};
}

LoadedConfig LoadConfigFile(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    const std::string why = ec ? ec.message() : "not a regular file";
    return Fail(Status::InvalidInput("cannot read " + path + ": " + why), "");
  }
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in) {
    return Fail(Status::InvalidInput("cannot read " + path + ": " +
                                     std::strerror(errno)),
                "");
  }
  return LoadConfigString(text.str(), path);
}

}  // namespace anchord::daemon
