#include "anchord/io/sxm.h"

#include "anchord/io/file_bytes.h"

#include "sxm_internal.h"

#include <algorithm>
#include <bit>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <exception>
#include <limits>
#include <memory>
#include <new>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace anchord {
namespace sxm_internal {

Status Invalid(const std::string& message) {
  std::string text = "sxm: " + message;
  for (char& c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f) c = '?';
  }
  return Status::InvalidInput(std::move(text));
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string Quote(std::string_view s) {
  constexpr size_t kMax = 40;
  std::string out = "'" + std::string(s.substr(0, kMax));
  if (s.size() > kMax) out += "...";
  return out + "'";
}

}  // namespace sxm_internal

namespace {

using sxm_internal::Guarded;
using sxm_internal::Invalid;
using sxm_internal::Lower;
using sxm_internal::Quote;

static_assert(std::numeric_limits<float>::is_iec559);

constexpr std::string_view kEndKey = "SCANIT_END";
constexpr std::string_view kDataMarker("\x1a\x04", 2);
constexpr double kNmPerM = 1e9;

// ---------------------------------------------------------------------------
// Text helpers. None of them reads outside the views they are given.

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' ||
         c == '\f';
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

// Lines of `text` split at '\n', each with surrounding whitespace (and so
// any '\r') removed.
std::vector<std::string_view> TrimmedLines(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    lines.push_back(Trim(text.substr(0, nl)));
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  return lines;
}

// Runs of non-whitespace in `s`.
std::vector<std::string_view> SplitWhitespace(std::string_view s) {
  std::vector<std::string_view> tokens;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && IsSpace(s[i])) ++i;
    const size_t begin = i;
    while (i < s.size() && !IsSpace(s[i])) ++i;
    if (i > begin) tokens.push_back(s.substr(begin, i - begin));
  }
  return tokens;
}

// Fields of one table row (DATA_INFO, Z-CONTROLLER): tab-separated when the
// trimmed line holds a tab (names may contain spaces: "log Current"), else
// whitespace-separated. Fields are trimmed; empty tab fields are kept.
std::vector<std::string_view> SplitTableRow(std::string_view line) {
  line = Trim(line);
  if (line.find('\t') == std::string_view::npos) return SplitWhitespace(line);
  std::vector<std::string_view> fields;
  while (true) {
    const size_t tab = line.find('\t');
    fields.push_back(Trim(line.substr(0, tab)));
    if (tab == std::string_view::npos) break;
    line.remove_prefix(tab + 1);
  }
  return fields;
}

// `token` without one leading '+' ("+1" -> "1"; "+-1" stays invalid).
std::string_view StripPlus(std::string_view token) {
  if (token.size() > 1 && token[0] == '+' && token[1] != '-') {
    token.remove_prefix(1);
  }
  return token;
}

// Parses all of `token` as a decimal or scientific number ("-2.000E+0",
// "+1e-9"); locale-independent. inf and nan parse (callers check).
bool ParseDouble(std::string_view token, double* value) {
  token = StripPlus(token);
  const char* end = token.data() + token.size();
  const auto [ptr, ec] = std::from_chars(token.data(), end, *value);
  return !token.empty() && ec == std::errc() && ptr == end;
}

// Parses all of `token` as a decimal integer.
bool ParseInt(std::string_view token, int64_t* value) {
  token = StripPlus(token);
  const char* end = token.data() + token.size();
  const auto [ptr, ec] = std::from_chars(token.data(), end, *value);
  return !token.empty() && ec == std::errc() && ptr == end;
}

// `v` in %g notation, for messages.
std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", v);
  return buf;
}

// ---------------------------------------------------------------------------
// Header structure

using Fields = std::map<std::string, std::string>;

// A trimmed line ":KEY:" with a non-empty KEY.
bool IsKeyLine(std::string_view line) {
  return line.size() >= 3 && line.front() == ':' && line.back() == ':';
}

// Where the header text ends and the data begin.
struct HeaderSpan {
  std::string_view text;   // from the start up to the :SCANIT_END: line
  size_t data_offset = 0;  // first byte after the 0x1A 0x04 marker
};

// Finds the :SCANIT_END: line and the data marker after it, both within
// the first kSxmMaxHeaderBytes of `bytes`.
Status FindHeaderEnd(std::string_view bytes, HeaderSpan* span) {
  if (bytes.empty()) return Invalid("empty input");
  const std::string_view window =
      bytes.substr(0, std::min(bytes.size(), kSxmMaxHeaderBytes));
  size_t line_start = 0;
  while (line_start < window.size()) {
    const size_t nl = window.find('\n', line_start);
    const size_t line_end = nl == std::string_view::npos ? window.size() : nl;
    const std::string_view line =
        Trim(window.substr(line_start, line_end - line_start));
    if (IsKeyLine(line) && line.substr(1, line.size() - 2) == kEndKey) {
      span->text = window.substr(0, line_start);
      // Skip the rest of the key line and blank lines up to the marker.
      size_t pos =
          static_cast<size_t>(line.data() - window.data()) + line.size();
      while (pos < window.size() && IsSpace(window[pos])) ++pos;
      if (window.substr(pos, kDataMarker.size()) != kDataMarker) {
        return Invalid("no 0x1A 0x04 data marker after :SCANIT_END:");
      }
      span->data_offset = pos + kDataMarker.size();
      return Status::Ok();
    }
    if (nl == std::string_view::npos) break;
    line_start = nl + 1;
  }
  if (bytes.size() > kSxmMaxHeaderBytes) {
    return Invalid("no :SCANIT_END: line in the first " +
                   std::to_string(kSxmMaxHeaderBytes) +
                   " bytes (not an .sxm file?)");
  }
  return Invalid("no :SCANIT_END: line (header truncated or not an .sxm file)");
}

// Splits the header text into key -> value text. The first non-blank line
// must be a key line; the first occurrence of a repeated key wins.
Status SplitFields(std::string_view text, Fields* fields) {
  std::string key;
  std::string value;
  bool in_key = false;
  auto flush = [&] {
    if (in_key) fields->emplace(key, std::string(Trim(value)));
  };
  for (std::string_view line : TrimmedLines(text)) {
    if (IsKeyLine(line)) {
      flush();
      key.assign(line.substr(1, line.size() - 2));
      value.clear();
      in_key = true;
    } else if (in_key) {
      if (!value.empty()) value.push_back('\n');
      value.append(line);
    } else if (!line.empty()) {
      return Invalid(
          "not an .sxm file: the header does not start with a "
          ":KEY: line but with " +
          Quote(line));
    }
  }
  flush();
  if (fields->empty()) return Invalid("header holds no :KEY: lines");
  return Status::Ok();
}

// Reads the value of `key` as exactly `n` finite numbers into `values`.
// `*found` tells whether the key exists (an absent key is not an error).
Status GetNumbers(const Fields& fields,
                  const std::string& key,
                  size_t n,
                  std::vector<double>* values,
                  bool* found) {
  values->clear();
  const auto it = fields.find(key);
  *found = it != fields.end();
  if (!*found) return Status::Ok();
  const std::vector<std::string_view> tokens = SplitWhitespace(it->second);
  if (tokens.size() != n) {
    return Invalid(key + " must hold " + std::to_string(n) +
                   (n == 1 ? " number" : " numbers") + ", has " +
                   Quote(it->second));
  }
  for (std::string_view token : tokens) {
    double v = 0;
    if (!ParseDouble(token, &v) || !std::isfinite(v)) {
      return Invalid(key + ": " + Quote(token) + " is not a finite number");
    }
    values->push_back(v);
  }
  return Status::Ok();
}

// GetNumbers for a key that must be present.
Status GetRequiredNumbers(const Fields& fields,
                          const std::string& key,
                          size_t n,
                          std::vector<double>* values) {
  bool found = false;
  if (Status s = GetNumbers(fields, key, n, values, &found); !s.ok()) return s;
  if (!found) return Invalid("missing " + key);
  return Status::Ok();
}

// ---------------------------------------------------------------------------
// Header keys

Status ParsePixels(const Fields& fields, SxmHeader* h) {
  const auto it = fields.find("SCAN_PIXELS");
  if (it == fields.end()) return Invalid("missing SCAN_PIXELS");
  const std::vector<std::string_view> tokens = SplitWhitespace(it->second);
  int64_t pixels[2] = {0, 0};
  if (tokens.size() != 2 || !ParseInt(tokens[0], &pixels[0]) ||
      !ParseInt(tokens[1], &pixels[1])) {
    return Invalid("SCAN_PIXELS must hold two integers, has " +
                   Quote(it->second));
  }
  for (int64_t p : pixels) {
    if (p <= 0 || p > kSxmMaxPixels) {
      return Invalid("SCAN_PIXELS " + std::to_string(pixels[0]) + " " +
                     std::to_string(pixels[1]) + " out of range [1, " +
                     std::to_string(kSxmMaxPixels) + "]");
    }
  }
  h->cols = static_cast<int>(pixels[0]);
  h->rows = static_cast<int>(pixels[1]);
  return Status::Ok();
}

// A length in m converted to a finite nm value.
Status MetresToNm(const std::string& key, double m, double* nm) {
  *nm = m * kNmPerM;
  if (!std::isfinite(*nm)) {
    return Invalid(key + " " + Num(m) + " m is out of range");
  }
  return Status::Ok();
}

Status ParseGeometry(const Fields& fields, SxmHeader* h) {
  std::vector<double> v;
  if (Status s = GetRequiredNumbers(fields, "SCAN_RANGE", 2, &v); !s.ok()) {
    return s;
  }
  if (!(v[0] > 0 && v[1] > 0)) {
    return Invalid("SCAN_RANGE must be > 0, is " + Num(v[0]) + " " + Num(v[1]) +
                   " m");
  }
  if (Status s = MetresToNm("SCAN_RANGE", v[0], &h->range_x_nm); !s.ok()) {
    return s;
  }
  if (Status s = MetresToNm("SCAN_RANGE", v[1], &h->range_y_nm); !s.ok()) {
    return s;
  }
  bool found = false;
  if (Status s = GetNumbers(fields, "SCAN_OFFSET", 2, &v, &found); !s.ok()) {
    return s;
  }
  if (found) {
    if (Status s = MetresToNm("SCAN_OFFSET", v[0], &h->offset_x_nm); !s.ok()) {
      return s;
    }
    if (Status s = MetresToNm("SCAN_OFFSET", v[1], &h->offset_y_nm); !s.ok()) {
      return s;
    }
  }
  if (Status s = GetNumbers(fields, "SCAN_ANGLE", 1, &v, &found); !s.ok()) {
    return s;
  }
  if (found) h->angle_deg = v[0];
  return Status::Ok();
}

Status ParseScanDir(const Fields& fields, SxmHeader* h) {
  const auto it = fields.find("SCAN_DIR");
  if (it == fields.end()) return Status::Ok();  // default "down"
  const std::string dir = Lower(Trim(it->second));
  if (dir != "down" && dir != "up") {
    return Invalid("SCAN_DIR must be up or down, is " + Quote(it->second));
  }
  h->scan_dir = dir;
  return Status::Ok();
}

Status ParseTiming(const Fields& fields, SxmHeader* h) {
  std::vector<double> v;
  bool found = false;
  if (Status s = GetNumbers(fields, "SCAN_TIME", 2, &v, &found); !s.ok()) {
    return s;
  }
  if (!found) return Status::Ok();
  if (v[0] < 0 || v[1] < 0) {
    return Invalid("SCAN_TIME must be >= 0, is " + Num(v[0]) + " " + Num(v[1]) +
                   " s");
  }
  h->line_time_forward_s = v[0];
  h->line_time_backward_s = v[1];
  return Status::Ok();
}

Status ParseBias(const Fields& fields, SxmHeader* h) {
  std::vector<double> v;
  bool found = false;
  if (Status s = GetNumbers(fields, "BIAS", 1, &v, &found); !s.ok()) return s;
  if (found) h->bias_v = v[0];
  return Status::Ok();
}

// Splits `text` at `sep` into exactly three integers.
bool ParseTriple(std::string_view text, char sep, int64_t out[3]) {
  for (int i = 0; i < 3; ++i) {
    const size_t end = i < 2 ? text.find(sep) : text.size();
    if (end == std::string_view::npos) return false;
    const std::string_view part = text.substr(0, end);
    if (part.empty() || part[0] < '0' || part[0] > '9' ||
        !ParseInt(part, &out[i])) {
      return false;
    }
    text.remove_prefix(i < 2 ? end + 1 : end);
  }
  return true;
}

int DaysInMonth(int64_t year, int64_t month) {
  static constexpr int kDays[12] = {31, 28, 31, 30, 31, 30,
                                    31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return month == 2 && leap ? 29 : kDays[month - 1];
}

// REC_DATE "DD.MM.YYYY" + REC_TIME "hh:mm:ss" -> "YYYY-MM-DDThh:mm:ss", or
// "" when either does not parse as a valid date / time of day.
std::string IsoTimestamp(std::string_view date, std::string_view time) {
  int64_t d[3], t[3];
  if (!ParseTriple(date, '.', d) || !ParseTriple(time, ':', t)) return "";
  const int64_t day = d[0], month = d[1], year = d[2];
  if (year < 1000 || year > 9999 || month < 1 || month > 12 || day < 1 ||
      day > DaysInMonth(year, month)) {
    return "";
  }
  if (t[0] < 0 || t[0] > 23 || t[1] < 0 || t[1] > 59 || t[2] < 0 || t[2] > 60) {
    return "";
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d",
                static_cast<int>(year), static_cast<int>(month),
                static_cast<int>(day), static_cast<int>(t[0]),
                static_cast<int>(t[1]), static_cast<int>(t[2]));
  return buf;
}

void ParseRecording(const Fields& fields, SxmHeader* h) {
  if (auto it = fields.find("REC_DATE"); it != fields.end()) {
    h->rec_date = it->second;
  }
  if (auto it = fields.find("REC_TIME"); it != fields.end()) {
    h->rec_time = it->second;
  }
  h->acquired_at = IsoTimestamp(h->rec_date, h->rec_time);
}

// Z-CONTROLLER: a line of column names and a line of values, paired in
// order. Informational only, so a garbled table is not an error.
void ParseZController(const Fields& fields, SxmHeader* h) {
  const auto it = fields.find("Z-CONTROLLER");
  if (it == fields.end()) return;
  const std::vector<std::string_view> lines = TrimmedLines(it->second);
  if (lines.size() < 2) return;
  const std::vector<std::string_view> names = SplitTableRow(lines[0]);
  const std::vector<std::string_view> values = SplitTableRow(lines[1]);
  for (size_t i = 0; i < names.size() && i < values.size(); ++i) {
    if (!names[i].empty()) {
      h->z_controller.emplace(std::string(names[i]), std::string(values[i]));
    }
  }
}

// Column positions of the DATA_INFO table; -1 when the column is absent.
struct DataInfoColumns {
  int channel = -1, name = -1, unit = -1, direction = -1, calibration = -1,
      offset = -1;
};

Status FindDataInfoColumns(const std::vector<std::string_view>& header,
                           DataInfoColumns* c) {
  for (size_t i = 0; i < header.size(); ++i) {
    const std::string column = Lower(header[i]);
    const int index = static_cast<int>(i);
    if (column == "channel") c->channel = index;
    if (column == "name") c->name = index;
    if (column == "unit") c->unit = index;
    if (column == "direction") c->direction = index;
    if (column == "calibration") c->calibration = index;
    if (column == "offset") c->offset = index;
  }
  if (c->name < 0 || c->direction < 0) {
    return Invalid("DATA_INFO table has no Name and Direction columns");
  }
  return Status::Ok();
}

// One DATA_INFO row (`row` counts from 1, for messages).
Status ParseDataInfoRow(const std::vector<std::string_view>& fields,
                        const DataInfoColumns& c,
                        size_t row,
                        SxmChannel* channel) {
  const std::string where = "DATA_INFO row " + std::to_string(row);
  channel->name = std::string(fields[c.name]);
  if (channel->name.empty()) return Invalid(where + ": empty Name");
  channel->direction = Lower(fields[c.direction]);
  if (channel->direction != "both" && channel->direction != "forward" &&
      channel->direction != "backward") {
    return Invalid(where + ": Direction " + Quote(fields[c.direction]) +
                   " is not both, forward or backward");
  }
  if (c.unit >= 0) channel->unit = std::string(fields[c.unit]);
  if (c.channel >= 0) {
    int64_t index = 0;
    if (!ParseInt(fields[c.channel], &index) || index < 0 ||
        index > std::numeric_limits<int>::max()) {
      return Invalid(where + ": Channel " + Quote(fields[c.channel]) +
                     " is not a non-negative integer");
    }
    channel->index = static_cast<int>(index);
  }
  const std::pair<int, double*> numbers[] = {
      {c.calibration, &channel->calibration}, {c.offset, &channel->offset}};
  for (const auto& [column, value] : numbers) {
    if (column < 0) continue;
    if (!ParseDouble(fields[column], value) || !std::isfinite(*value)) {
      return Invalid(where + ": " + Quote(fields[column]) +
                     " is not a finite number");
    }
  }
  return Status::Ok();
}

Status ParseDataInfo(const Fields& fields, SxmHeader* h) {
  const auto it = fields.find("DATA_INFO");
  if (it == fields.end()) return Invalid("missing DATA_INFO");
  std::vector<std::string_view> lines = TrimmedLines(it->second);
  std::erase_if(lines, [](std::string_view l) { return l.empty(); });
  if (lines.size() < 2) return Invalid("DATA_INFO lists no channels");
  const std::vector<std::string_view> header = SplitTableRow(lines[0]);
  DataInfoColumns columns;
  if (Status s = FindDataInfoColumns(header, &columns); !s.ok()) return s;
  std::set<std::string> names;
  for (size_t r = 1; r < lines.size(); ++r) {
    const std::vector<std::string_view> row = SplitTableRow(lines[r]);
    if (row.size() != header.size()) {
      return Invalid("DATA_INFO row " + std::to_string(r) + " has " +
                     std::to_string(row.size()) + " fields, the header " +
                     std::to_string(header.size()));
    }
    SxmChannel channel;
    if (Status s = ParseDataInfoRow(row, columns, r, &channel); !s.ok()) {
      return s;
    }
    // Names select images, so they must be unique (Nanonis records each
    // signal once).
    if (!names.insert(channel.name).second) {
      return Invalid("DATA_INFO lists channel " + Quote(channel.name) +
                     " twice");
    }
    h->channels.push_back(std::move(channel));
  }
  return Status::Ok();
}

// SCANIT_TYPE: "FLOAT MSBFIRST" (default) or "FLOAT LSBFIRST".
Status ParseScanType(const Fields& fields, bool* big_endian) {
  *big_endian = true;
  const auto it = fields.find("SCANIT_TYPE");
  if (it == fields.end()) return Status::Ok();
  const std::vector<std::string_view> tokens = SplitWhitespace(it->second);
  if (tokens.size() == 2 && Lower(tokens[0]) == "float") {
    const std::string order = Lower(tokens[1]);
    if (order == "msbfirst" || order == "lsbfirst") {
      *big_endian = order == "msbfirst";
      return Status::Ok();
    }
  }
  return Invalid("unsupported SCANIT_TYPE " + Quote(it->second) +
                 " (expected FLOAT MSBFIRST or FLOAT LSBFIRST)");
}

// The parsed header of `bytes`, and where its data begin.
struct ParsedHeader {
  SxmHeader header;
  bool big_endian = true;
  size_t data_offset = 0;
};

Status ParseHeader(std::string_view bytes, ParsedHeader* out) {
  HeaderSpan span;
  if (Status s = FindHeaderEnd(bytes, &span); !s.ok()) return s;
  SxmHeader& h = out->header;
  if (Status s = SplitFields(span.text, &h.fields); !s.ok()) return s;
  using Step = Status (*)(const Fields&, SxmHeader*);
  for (Step step : {ParsePixels, ParseGeometry, ParseScanDir, ParseTiming,
                    ParseBias, ParseDataInfo}) {
    if (Status s = step(h.fields, &h); !s.ok()) return s;
  }
  ParseRecording(h.fields, &h);
  ParseZController(h.fields, &h);
  if (Status s = ParseScanType(h.fields, &out->big_endian); !s.ok()) return s;
  out->data_offset = span.data_offset;
  return Status::Ok();
}

// ---------------------------------------------------------------------------
// Data

size_t ImageCount(const SxmHeader& h) {
  size_t n = 0;
  for (const SxmChannel& c : h.channels) {
    n += (c.has_forward() ? 1 : 0) + (c.has_backward() ? 1 : 0);
  }
  return n;
}

// Bytes of image data the header promises. No overflow: pixels per image
// are at most 2^28 and the image count is bounded by the header size.
uint64_t ExpectedDataBytes(const SxmHeader& h) {
  return uint64_t{ImageCount(h)} * static_cast<uint64_t>(h.rows) *
         static_cast<uint64_t>(h.cols) * sizeof(float);
}

// The float32 at `p` (4 readable bytes) in the given byte order.
float LoadFloat(const unsigned char* p, bool big_endian) {
  const uint32_t b0 = p[0], b1 = p[1], b2 = p[2], b3 = p[3];
  const uint32_t bits = big_endian ? (b0 << 24) | (b1 << 16) | (b2 << 8) | b3
                                   : (b3 << 24) | (b2 << 16) | (b1 << 8) | b0;
  return std::bit_cast<float>(bits);
}

// Decodes one rows × cols image from `p` (rows * cols * 4 readable bytes).
cv::Mat1f DecodeImage(const unsigned char* p,
                      int rows,
                      int cols,
                      bool big_endian) {
  cv::Mat1f image(rows, cols);
  for (int r = 0; r < rows; ++r) {
    float* out = image[r];
    for (int c = 0; c < cols; ++c, p += sizeof(float)) {
      out[c] = LoadFloat(p, big_endian);
    }
  }
  return image;
}

// Decodes every image the header lists from `data` (the bytes after the
// marker; extra bytes at the end are ignored).
Status DecodeImages(std::string_view data,
                    const ParsedHeader& parsed,
                    std::vector<SxmImage>* images) {
  const SxmHeader& h = parsed.header;
  const uint64_t expected = ExpectedDataBytes(h);
  if (data.size() < expected) {
    return Invalid(
        "data truncated: expected " + std::to_string(expected) + " bytes for " +
        std::to_string(ImageCount(h)) + " images of " + std::to_string(h.cols) +
        "x" + std::to_string(h.rows) + ", have " + std::to_string(data.size()));
  }
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  const size_t image_bytes =
      static_cast<size_t>(h.rows) * static_cast<size_t>(h.cols) * sizeof(float);
  for (const SxmChannel& c : h.channels) {
    for (SxmTrace trace : {SxmTrace::kForward, SxmTrace::kBackward}) {
      const bool present =
          trace == SxmTrace::kForward ? c.has_forward() : c.has_backward();
      if (!present) continue;
      images->push_back(
          SxmImage{c.name, c.unit, trace,
                   DecodeImage(p, h.rows, h.cols, parsed.big_endian)});
      p += image_bytes;
    }
  }
  return Status::Ok();
}

// Header and images of `bytes` into `file` (status left to the caller).
Status ParseInto(std::string_view bytes, SxmFile* file) {
  ParsedHeader parsed;
  if (Status s = ParseHeader(bytes, &parsed); !s.ok()) return s;
  std::vector<SxmImage> images;
  if (Status s =
          DecodeImages(bytes.substr(parsed.data_offset), parsed, &images);
      !s.ok()) {
    return s;
  }
  file->header = std::move(parsed.header);
  file->images = std::move(images);
  return Status::Ok();
}

// ---------------------------------------------------------------------------
// Files

// Reads the header, then only as many bytes as the header promises, so a
// large unrelated file is not slurped whole.
Status ReadInto(const std::string& path, SxmFile* file) {
  InputFile f;
  if (Status s = InputFile::Open(path, &f); !s.ok()) return s;
  std::string bytes;
  if (Status s = f.ReadUpTo(kSxmMaxHeaderBytes, &bytes); !s.ok()) return s;
  ParsedHeader parsed;
  if (Status s = ParseHeader(bytes, &parsed); !s.ok()) return s;
  const uint64_t total = parsed.data_offset + ExpectedDataBytes(parsed.header);
  if (Status s = f.ReadUpTo(total, &bytes); !s.ok()) return s;
  return ParseInto(bytes, file);
}

}  // namespace

bool SxmConstantHeight(const SxmHeader& header) {
  const auto on = header.z_controller.find("on");
  if (on == header.z_controller.end()) return false;
  std::string_view v = on->second;
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) {
    v.remove_prefix(1);
  }
  return v == "0" || v == "OFF" || v == "off" || v == "FALSE" || v == "false";
}

std::string DefaultSxmChannel(const SxmHeader& header) {
  const auto lower = [](std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(c));
    return s;
  };
  if (!SxmConstantHeight(header)) return "Z";
  const auto holds = [&](const std::string& name) -> const SxmChannel* {
    for (const SxmChannel& c : header.channels) {
      if (lower(c.name) == lower(name)) return &c;
    }
    return nullptr;
  };
  const auto regulated = header.z_controller.find("Name");
  if (regulated != header.z_controller.end()) {
    std::string name = regulated->second;
    if (lower(name).rfind("log ", 0) == 0) name = name.substr(4);
    if (const SxmChannel* c = holds(name)) return c->name;
  }
  for (const char* name : {"Current", "Frequency_Shift", "OC M1 Freq. Shift",
                           "Amplitude", "Excitation"}) {
    if (const SxmChannel* c = holds(name)) return c->name;
  }
  for (const SxmChannel& c : header.channels) {
    if (lower(c.name) != "z") return c.name;
  }
  return "Z";
}

SxmFile ReadSxm(const std::string& path) {
  SxmFile file;
  file.source = path;
  file.status = Guarded("reading", [&] { return ReadInto(path, &file); });
  if (!file.status.ok()) {
    file.header = SxmHeader();
    file.images.clear();
  }
  return file;
}

SxmFile ParseSxm(std::string_view bytes) {
  SxmFile file;
  file.status = Guarded("parsing", [&] { return ParseInto(bytes, &file); });
  if (!file.status.ok()) {
    file.header = SxmHeader();
    file.images.clear();
  }
  return file;
}

}  // namespace anchord
