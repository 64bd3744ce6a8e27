#include "daemon/config/config.h"

#include "anchord/util/validation.h"

#include <toml++/toml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <span>
#include <sstream>
#include <type_traits>
#include <utility>

namespace anchord::daemon {
namespace {

// ---------------------------------------------------------------------------
// The schema: every key, its table and its field, in one place.

// One spelling of an enum value in the configuration file.
template <typename E>
struct EnumSpelling {
  E value;
  const char* name;
};

constexpr EnumSpelling<FramesMode> kFramesModes[] = {
    {FramesMode::kConnect, "connect"},
    {FramesMode::kBind, "bind"},
};
constexpr EnumSpelling<OverflowPolicy> kOverflowPolicies[] = {
    {OverflowPolicy::kDropOldest, "drop_oldest"},
    {OverflowPolicy::kDropNewest, "drop_newest"},
    {OverflowPolicy::kBlock, "block"},
};
const EnumSpelling<DetectorKind> kDetectorKinds[] = {
    {DetectorKind::kFast, DetectorKindName(DetectorKind::kFast)},
    {DetectorKind::kSift, DetectorKindName(DetectorKind::kSift)},
};
constexpr EnumSpelling<HomographyMethod> kHomographyMethods[] = {
    {HomographyMethod::kLmeds, "lmeds"},
    {HomographyMethod::kRansac, "ransac"},
    {HomographyMethod::kUsac, "usac"},
};
// spdlog level names accepted by spdlog::level::from_str.
constexpr const char* kLogLevels[] = {"trace", "debug",    "info", "warn",
                                      "error", "critical", "off"};

// An enum field (E may be const) together with its spellings.
template <typename E>
struct EnumRef {
  E& value;
  std::span<const EnumSpelling<std::remove_const_t<E>>> spellings;
};

template <typename E, std::size_t N>
EnumRef<E> Enum(E& value,
                const EnumSpelling<std::remove_const_t<E>> (&spellings)[N]) {
  return {value, spellings};
}

template <typename T>
struct IsEnumRef : std::false_type {};
template <typename E>
struct IsEnumRef<EnumRef<E>> : std::true_type {};

// Calls visit(table, key, field) for every configuration key, in the order
// of config/anchord.toml. `Config` is DaemonConfig or const DaemonConfig;
// `field` is a bool, int, int64_t, double or std::string lvalue, or an
// EnumRef.
template <typename Config, typename Visitor>
void ForEachKey(Config& c, Visitor&& visit) {
  auto& e = c.endpoints;
  visit("endpoints", "frames", e.frames);
  visit("endpoints", "frames_mode", Enum(e.frames_mode, kFramesModes));
  visit("endpoints", "results", e.results);
  visit("endpoints", "queries", e.queries);
  visit("endpoints", "http_metrics", e.http_metrics);

  auto& s = c.security;
  visit("security", "curve_server_secret_key_file",
        s.curve_server_secret_key_file);
  visit("security", "curve_allowed_client_keys_file",
        s.curve_allowed_client_keys_file);

  auto& p = c.pipeline;
  visit("pipeline", "workers", p.workers);
  visit("pipeline", "ingest_queue", p.ingest_queue);
  visit("pipeline", "ingest_overflow",
        Enum(p.ingest_overflow, kOverflowPolicies));
  visit("pipeline", "reorder_max", p.reorder_max);
  visit("pipeline", "reorder_timeout_ms", p.reorder_timeout_ms);
  visit("pipeline", "drain_timeout_ms", p.drain_timeout_ms);
  visit("pipeline", "status_period_ms", p.status_period_ms);

  auto& l = c.limits;
  visit("limits", "max_side_px", l.max_side_px);
  visit("limits", "min_side_px", l.min_side_px);
  visit("limits", "min_pixel_nm", l.min_pixel_nm);
  visit("limits", "max_pixel_nm", l.max_pixel_nm);
  visit("limits", "max_nonfinite_fraction", l.max_nonfinite_fraction);

  visit("logging", "level", c.logging.level);
  visit("logging", "per_frame_warnings_per_s",
        c.logging.per_frame_warnings_per_s);

  auto& r = c.registration;
  visit("registration", "make_corrected", r.make_corrected);
  visit("registration", "min_cell_px", r.min_cell_px);

  auto& lv = r.level;
  visit("registration.level", "remove_plane", lv.remove_plane);
  visit("registration.level", "level_lines", lv.level_lines);
  visit("registration.level", "glitch_threshold", lv.glitch_threshold);
  visit("registration.level", "mask_glitches", lv.mask_glitches);
  visit("registration.level", "max_masked_row_fraction",
        lv.max_masked_row_fraction);

  auto& d = r.detect;
  visit("registration.detect", "kind", Enum(d.kind, kDetectorKinds));
  visit("registration.detect", "hole_sigma_fraction", d.hole_sigma_fraction);
  visit("registration.detect", "working_cell_px", d.working_cell_px);
  visit("registration.detect", "min_response_sigma", d.min_response_sigma);
  visit("registration.detect", "nms_fraction", d.nms_fraction);
  visit("registration.detect", "max_candidates_per_cell",
        d.max_candidates_per_cell);

  auto& la = r.lattice;
  visit("registration.lattice", "min_scale_ratio", la.min_scale_ratio);
  visit("registration.lattice", "max_scale_ratio", la.max_scale_ratio);
  visit("registration.lattice", "cluster_tolerance", la.cluster_tolerance);
  visit("registration.lattice", "min_support_fraction",
        la.min_support_fraction);
  visit("registration.lattice", "vote_tolerance", la.vote_tolerance);

  auto& rg = r.homography;
  visit("registration.homography", "method",
        Enum(rg.method, kHomographyMethods));
  visit("registration.homography", "gate_fraction", rg.gate_fraction);
  visit("registration.homography", "initial_window_cells",
        rg.initial_window_cells);
  visit("registration.homography", "window_growth", rg.window_growth);
  visit("registration.homography", "ransac_threshold_fraction",
        rg.ransac_threshold_fraction);
  visit("registration.homography", "inlier_sigmas", rg.inlier_sigmas);
  visit("registration.homography", "min_inlier_px", rg.min_inlier_px);
  visit("registration.homography", "max_iterations", rg.max_iterations);
  visit("registration.homography", "min_inliers", rg.min_inliers);
  visit("registration.homography", "min_paired_fraction",
        rg.min_paired_fraction);
  visit("registration.homography", "propagate_residuals",
        rg.propagate_residuals);

  auto& si = r.sites;
  visit("registration.sites", "border_px", si.border_px);
  visit("registration.sites", "refine_radius_fraction",
        si.refine_radius_fraction);
  visit("registration.sites", "vacancy_threshold", si.vacancy_threshold);
  visit("registration.sites", "canonical_faulted_t1", si.canonical_faulted_t1);

  auto& ol = r.off_lattice;
  visit("registration.off_lattice", "enabled", ol.enabled);
  visit("registration.off_lattice", "min_height", ol.min_height);
  visit("registration.off_lattice", "min_site_distance_nm",
        ol.min_site_distance_nm);
  visit("registration.off_lattice", "level_radius_nm", ol.level_radius_nm);
  visit("registration.off_lattice", "border_nm", ol.border_nm);
  visit("registration.off_lattice", "merge_distance_nm", ol.merge_distance_nm);

  auto& co = r.correct;
  visit("registration.correct", "output_pixel_nm", co.output_pixel_nm);
  visit("registration.correct", "max_output_px", co.max_output_px);

  auto& t = c.track;
  visit("track", "prior_velocity_sigma_nm_per_s",
        t.prior_velocity_sigma_nm_per_s);
  visit("track", "min_prediction_sigma_nm", t.min_prediction_sigma_nm);
  visit("track", "max_search_cells", t.max_search_cells);
  visit("track", "max_frame_duration_s", t.max_frame_duration_s);
  visit("track", "min_confidence", t.min_confidence);
  visit("track", "site_error_rate", t.site_error_rate);
  visit("track", "min_site_confidence", t.min_site_confidence);
  visit("track", "min_faulted_contrast", t.min_faulted_contrast);
  visit("track", "border_px", t.border_px);
  visit("track", "max_session_cells", t.max_session_cells);
  visit("track", "feature_sigma_nm", t.feature_sigma_nm);
  auto& td = t.drift;
  visit("track.drift", "window_s", td.window_s);
  visit("track.drift", "max_frames", td.max_frames);
  visit("track.drift", "creep_tau_s", td.creep_tau_s);
  visit("track.drift", "outlier_sigmas", td.outlier_sigmas);
  visit("track.drift", "position_sigma_nm", td.position_sigma_nm);

  auto& ca = c.catalog;
  visit("catalog", "path", ca.options.path);
  visit("catalog", "max_defects_per_session",
        ca.options.max_defects_per_session);
  visit("catalog", "max_age_s", ca.options.max_age_s);
  visit("catalog", "match_radius_nm", ca.options.match_radius_nm);
  visit("catalog", "max_query_results", ca.max_query_results);
  visit("catalog", "state_interval_s", ca.state_interval_s);
}

// Keys and tables of earlier versions, by their full names, and what they
// are called now. A file that still uses one is refused with the new name
// in the message (an old spelling is not accepted beside the new one).
constexpr std::pair<std::string_view, std::string_view> kRenamed[] = {
    {"registration.max_nonfinite_fraction", "limits.max_nonfinite_fraction"},
    {"registration.register", "registration.homography"},
};

// The current name of a renamed key or table; empty when `full` was not
// renamed.
std::string_view RenamedTo(std::string_view full) {
  for (const auto& [old_name, new_name] : kRenamed) {
    if (full == old_name) return new_name;
  }
  return {};
}

std::string JoinKey(std::string_view table, std::string_view key) {
  std::string out(table);
  if (!out.empty()) out += '.';
  out += key;
  return out;
}

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
// Formatting values as TOML.

// A TOML basic string: quoted, with ", \ and control characters escaped.
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

// ---------------------------------------------------------------------------
// Validation of the daemon's own keys.

// Parses a decimal port in [1, 65535].
bool IsPort(std::string_view s) {
  int port = 0;
  const auto result = std::from_chars(s.data(), s.data() + s.size(), port);
  return result.ec == std::errc() && result.ptr == s.data() + s.size() &&
         port >= 1 && port <= 65535;
}

// "host:port" with a non-empty host (IPv6 in brackets) and a valid port;
// `allow_wildcard_port` also accepts "*" (ZeroMQ bind to any free port).
bool IsHostPort(std::string_view s, bool allow_wildcard_port) {
  const std::size_t colon = s.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  const std::string_view host = s.substr(0, colon);
  const std::string_view port = s.substr(colon + 1);
  const bool bracketed = host.front() == '[' && host.back() == ']';
  if (!bracketed && host.find_first_of("[]:") != std::string_view::npos) {
    return false;
  }
  return IsPort(port) || (allow_wildcard_port && port == "*");
}

bool IsZmqEndpoint(std::string_view e, bool bound) {
  for (const std::string_view scheme : {"ipc://", "inproc://"}) {
    if (e.starts_with(scheme)) return e.size() > scheme.size();
  }
  constexpr std::string_view kTcp = "tcp://";
  return e.starts_with(kTcp) && IsHostPort(e.substr(kTcp.size()), bound);
}

bool IsIpv4Loopback(std::string_view host) {
  int octets[4];
  std::string_view rest = host;
  for (int k = 0; k < 4; ++k) {
    const std::size_t dot = rest.find('.');
    if ((k < 3) == (dot == std::string_view::npos)) return false;
    const std::string_view part = rest.substr(0, dot);
    const auto result =
        std::from_chars(part.data(), part.data() + part.size(), octets[k]);
    if (part.empty() || part.size() > 3 || result.ec != std::errc() ||
        result.ptr != part.data() + part.size() || octets[k] > 255) {
      return false;
    }
    rest = k < 3 ? rest.substr(dot + 1) : "";
  }
  return octets[0] == 127;
}

constexpr const char* kZmqSyntax =
    "tcp://host:port, ipc://path or inproc://name";

void ValidateEndpoints(const EndpointsConfig& e,
                       const SecurityConfig& s,
                       Violations& v) {
  const bool frames_bound = e.frames_mode == FramesMode::kBind;
  const std::pair<const char*, const std::string*> zmq[] = {
      {"frames", &e.frames}, {"results", &e.results}, {"queries", &e.queries}};
  for (const auto& [key, value] : zmq) {
    const bool bound = value != &e.frames || frames_bound;
    if (!IsZmqEndpoint(*value, bound)) {
      v.Require(false, key, QuoteToml(*value), kZmqSyntax);
    } else {
      v.Require(IsLoopbackEndpoint(*value) || s.curve_enabled(), key,
                QuoteToml(*value),
                "loopback (tcp://127.x.x.x, tcp://localhost, tcp://[::1], "
                "ipc://, inproc://) unless security.curve_server_secret_key_"
                "file and security.curve_allowed_client_keys_file are set");
    }
  }
  v.Require(e.queries != e.results, "queries", QuoteToml(e.queries),
            "differs from endpoints.results");
  if (frames_bound) {
    v.Require(e.frames != e.results && e.frames != e.queries, "frames",
              QuoteToml(e.frames),
              "differs from endpoints.results and endpoints.queries");
  }
  v.Require(e.http_metrics.empty() || IsHostPort(e.http_metrics, false),
            "http_metrics", QuoteToml(e.http_metrics),
            "host:port with port in [1, 65535], or empty (off)");
}

void ValidateSecurity(const SecurityConfig& s, Violations& v) {
  const std::pair<const char*, const std::string*> files[] = {
      {"curve_server_secret_key_file", &s.curve_server_secret_key_file},
      {"curve_allowed_client_keys_file", &s.curve_allowed_client_keys_file}};
  for (const auto& [key, path] : files) {
    if (path->empty()) continue;
    std::error_code ec;
    v.Require(std::filesystem::is_regular_file(*path, ec), key,
              QuoteToml(*path), "an existing regular file");
  }
  const bool server = !s.curve_server_secret_key_file.empty();
  const bool clients = !s.curve_allowed_client_keys_file.empty();
  v.Require(server || !clients, "curve_server_secret_key_file",
            QuoteToml(s.curve_server_secret_key_file),
            "set together with security.curve_allowed_client_keys_file");
  v.Require(clients || !server, "curve_allowed_client_keys_file",
            QuoteToml(s.curve_allowed_client_keys_file),
            "set together with security.curve_server_secret_key_file");
}

void ValidateLogging(const LoggingConfig& l, Violations& v) {
  const auto* end = std::end(kLogLevels);
  v.Require(std::find(std::begin(kLogLevels), end, l.level) != end, "level",
            QuoteToml(l.level),
            "one of \"trace\", \"debug\", \"info\", \"warn\", \"error\", "
            "\"critical\", \"off\"");
  v.Require(l.per_frame_warnings_per_s >= 0, "per_frame_warnings_per_s",
            l.per_frame_warnings_per_s, ">= 0");
}

// The library's messages name keys by stage ("homography.gate_fraction",
// "pipeline.min_cell_px"); the file nests them under [registration].
Status RegistrationViolations(const PipelineOptions& options) {
  const Status status = options.Validate();
  if (status.ok()) return status;
  std::istringstream lines(status.message());
  std::string out;
  constexpr std::string_view kOwn = "pipeline.";
  for (std::string line; std::getline(lines, line);) {
    if (line.empty()) continue;
    if (!out.empty()) out += '\n';
    out += line.starts_with(kOwn) ? "registration." + line.substr(kOwn.size())
                                  : "registration." + line;
  }
  return Status::InvalidInput(out);
}

// The full key a validation message starts with ("a.b = …" → "a.b").
std::string MessageKey(const std::string& message) {
  return message.substr(0, message.find(" = "));
}

// ---------------------------------------------------------------------------
// Loading.

LoadedConfig Fail(Status status, std::string source_text) {
  return {std::move(status), nullptr, std::move(source_text)};
}

}  // namespace

const char* FramesModeName(FramesMode mode) {
  return mode == FramesMode::kBind ? "bind" : "connect";
}

bool IsLoopbackEndpoint(std::string_view endpoint) {
  if (endpoint.starts_with("ipc://") || endpoint.starts_with("inproc://")) {
    return true;
  }
  constexpr std::string_view kTcp = "tcp://";
  if (!endpoint.starts_with(kTcp)) return false;
  const std::string_view rest = endpoint.substr(kTcp.size());
  const std::size_t colon = rest.rfind(':');
  if (colon == std::string_view::npos) return false;
  const std::string_view host = rest.substr(0, colon);
  return host == "localhost" || host == "[::1]" || IsIpv4Loopback(host);
}

Status PipelineConfig::Validate() const {
  Violations v("pipeline");
  v.Require(workers >= 1 && workers <= 64, "workers", workers, "in [1, 64]");
  v.Require(ingest_queue >= 1 && ingest_queue <= 4096, "ingest_queue",
            ingest_queue, "in [1, 4096]");
  v.Require(reorder_max >= workers && reorder_max <= 4096, "reorder_max",
            reorder_max,
            ("in [pipeline.workers (" + std::to_string(workers) + "), 4096]")
                .c_str());
  v.Require(reorder_timeout_ms >= 1, "reorder_timeout_ms", reorder_timeout_ms,
            ">= 1");
  v.Require(drain_timeout_ms >= 0, "drain_timeout_ms", drain_timeout_ms,
            ">= 0");
  v.Require(status_period_ms >= 100, "status_period_ms", status_period_ms,
            ">= 100");
  return v.ToStatus();
}

CatalogOptions CatalogConfig::OpenOptions() const {
  CatalogOptions open = options;
  if (open.path.empty()) open.path = ":memory:";
  return open;
}

Status CatalogConfig::Validate() const {
  Violations v("catalog");
  v.Merge(OpenOptions().Validate());
  v.Require(max_query_results >= 1, "max_query_results", max_query_results,
            ">= 1");
  v.Require(state_interval_s >= 0, "state_interval_s", state_interval_s,
            ">= 0");
  return v.ToStatus();
}

Status DaemonConfig::Validate() const {
  Violations endpoints_v("endpoints"), security_v("security"),
      logging_v("logging");
  ValidateEndpoints(endpoints, security, endpoints_v);
  ValidateSecurity(security, security_v);
  ValidateLogging(logging, logging_v);
  // Merge() keeps the messages as they are; the prefix is unused.
  Violations all("config");
  for (const Violations* v : {&endpoints_v, &security_v}) {
    all.Merge(v->ToStatus());
  }
  all.Merge(pipeline.Validate());
  all.Merge(limits.Validate());
  all.Merge(logging_v.ToStatus());
  all.Merge(RegistrationViolations(registration));
  all.Merge(track.Validate());
  all.Merge(catalog.Validate());
  return all.ToStatus();
}

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
