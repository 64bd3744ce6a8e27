#include "daemon/common/curve_keys.h"

#include "anchord/io/file_bytes.h"

#include <zmq.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace anchord::daemon {
namespace {

constexpr size_t kZ85KeyChars = 40;
// Key files are small; anything larger is not a key file.
constexpr uint64_t kMaxKeyFileBytes = 1 << 20;

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

std::vector<std::string_view> Lines(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    const size_t end = text.find('\n');
    lines.push_back(Trim(text.substr(0, end)));
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
  return lines;
}

// The quoted value of `name = "…"` on `line` (ZPL certificates), if any.
std::optional<std::string> ZplValue(std::string_view line,
                                    std::string_view name) {
  if (line.substr(0, name.size()) != name) return std::nullopt;
  line = Trim(line.substr(name.size()));
  if (line.empty() || line.front() != '=') return std::nullopt;
  line = Trim(line.substr(1));
  if (line.size() < 2 || line.front() != '"' || line.back() != '"') {
    return std::nullopt;
  }
  return std::string(line.substr(1, line.size() - 2));
}

enum class KeyRole { kPublic, kSecret };

bool IsKeyLine(std::string_view line) {
  return line.size() == kZ85KeyChars && IsZ85Key(std::string(line));
}

// Every key of `role` in `text`: ZPL values, the key after a curve_keygen
// header of that role, and bare keys. Lines of key length that are not
// valid Z85 are collected in `malformed`.
std::vector<std::string> KeysIn(std::string_view text,
                                KeyRole role,
                                std::vector<std::string>* malformed) {
  const std::string_view headers[2] = {"== CURVE PUBLIC KEY ==",
                                       "== CURVE SECRET KEY =="};
  const std::string_view zpl[2] = {"public-key", "secret-key"};
  const int want = role == KeyRole::kPublic ? 0 : 1;
  int section = -1;  // the curve_keygen header just read, if any
  std::vector<std::string> keys;
  for (std::string_view line : Lines(text)) {
    if (line.empty()) continue;
    if (line == headers[0] || line == headers[1]) {
      section = line == headers[0] ? 0 : 1;
      continue;
    }
    if (std::optional<std::string> v = ZplValue(line, zpl[want])) {
      keys.push_back(*v);
    } else if (IsKeyLine(line)) {
      if (section == -1 || section == want) keys.emplace_back(line);
    } else if (line.size() == kZ85KeyChars && line.front() != '#' &&
               malformed != nullptr) {
      malformed->emplace_back(line);
    }
    section = -1;
  }
  return keys;
}

Status ReadKeyText(const std::string& path, std::string* text) {
  return ReadFileBytes(path, text, kMaxKeyFileBytes);
}

// The single valid key of `role` in the file at `path`.
Status ReadOneKey(const std::string& path, KeyRole role, std::string* out) {
  std::string text;
  if (Status s = ReadKeyText(path, &text); !s.ok()) return s;
  const char* what = role == KeyRole::kPublic ? "public" : "secret";
  for (const std::string& key : KeysIn(text, role, nullptr)) {
    if (IsZ85Key(key)) {
      *out = key;
      return Status::Ok();
    }
  }
  return Status::InvalidInput(path + ": no CURVE " + std::string(what) +
                              " key (40 Z85 characters) found");
}

}  // namespace

bool IsZ85Key(const std::string& text) {
  if (text.size() != kZ85KeyChars) return false;
  std::array<uint8_t, 32> bytes{};
  return zmq_z85_decode(bytes.data(), text.c_str()) != nullptr;
}

Status ReadCurveSecretKeyFile(const std::string& path, CurveKeyPair* out) {
  CurveKeyPair pair;
  if (Status s = ReadOneKey(path, KeyRole::kSecret, &pair.secret_z85);
      !s.ok()) {
    return s;
  }
  std::array<char, kZ85KeyChars + 1> pub{};
  if (zmq_curve_public(pub.data(), pair.secret_z85.c_str()) != 0) {
    return Status::InvalidInput(path +
                                ": cannot derive the CURVE public key "
                                "(libzmq without CURVE support?)");
  }
  pair.public_z85 = pub.data();
  *out = std::move(pair);
  return Status::Ok();
}

Status ReadCurvePublicKeyFile(const std::string& path, std::string* out) {
  return ReadOneKey(path, KeyRole::kPublic, out);
}

Status ReadCurveAllowList(const std::string& path, std::set<std::string>* out) {
  std::string text;
  if (Status s = ReadKeyText(path, &text); !s.ok()) return s;
  std::vector<std::string> malformed;
  std::set<std::string> keys;
  for (const std::string& key : KeysIn(text, KeyRole::kPublic, &malformed)) {
    if (IsZ85Key(key)) {
      keys.insert(key);
    } else {
      malformed.push_back(key);
    }
  }
  if (!malformed.empty()) {
    return Status::InvalidInput(path + ": '" + malformed.front() +
                                "' is not a CURVE public key (40 Z85 "
                                "characters)");
  }
  if (keys.empty()) {
    return Status::InvalidInput(path + ": no client public key listed");
  }
  *out = std::move(keys);
  return Status::Ok();
}

void SetCurveServer(zmq::socket_t& socket, const CurveKeyPair& server) {
  socket.set(zmq::sockopt::curve_server, 1);
  socket.set(zmq::sockopt::curve_secretkey, server.secret_z85);
  // Every connection is checked by the ZAP handler (domain "anchord").
  socket.set(zmq::sockopt::zap_domain, "anchord");
}

void SetCurveClient(zmq::socket_t& socket,
                    const CurveKeyPair& client,
                    const std::string& server_public_z85) {
  socket.set(zmq::sockopt::curve_serverkey, server_public_z85);
  socket.set(zmq::sockopt::curve_publickey, client.public_z85);
  socket.set(zmq::sockopt::curve_secretkey, client.secret_z85);
}

}  // namespace anchord::daemon
