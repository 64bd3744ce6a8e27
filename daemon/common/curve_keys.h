#pragma once

// ZeroMQ CURVE key material (libzmq's built-in CURVE; RFC 26/CurveZMQ):
// reading key files and setting the socket options of either side.
//
// Key files hold Z85 text (40 characters per 32-byte key) in any of the
// three forms the usual tools write:
//   - a bare key on a line of its own;
//   - the output of libzmq's `curve_keygen` ("== CURVE PUBLIC KEY ==",
//     the key on the next line, then "== CURVE SECRET KEY ==" and its key);
//   - a ZPL certificate as written by czmq / pyzmq's zmq.auth
//     (public-key = "…", secret-key = "…").
// Blank lines and lines starting with '#' are ignored.

#include "anchord/util/status.h"

#include <zmq.hpp>

#include <set>
#include <string>

namespace anchord::daemon {

// A CURVE key pair, Z85 text (40 characters each).
struct CurveKeyPair {
  std::string public_z85;
  std::string secret_z85;
};

// True when `text` is a valid Z85 encoding of a 32-byte key.
bool IsZ85Key(const std::string& text);

// Reads the secret key in `path` and derives its public key. kInvalidInput
// naming the file when it cannot be read or holds no valid secret key.
Status ReadCurveSecretKeyFile(const std::string& path, CurveKeyPair* out);

// Reads the public key in `path` (a file that also holds the secret key
// is accepted; only the public key is taken).
Status ReadCurvePublicKeyFile(const std::string& path, std::string* out);

// Reads an allow-list of client public keys: every key in the file (one
// per line, in any of the forms above). An empty list is an error (it
// would refuse every client).
Status ReadCurveAllowList(const std::string& path, std::set<std::string>* out);

// Makes `socket` the CURVE server side with `server` keys; the ZAP handler
// of its context (CurveAuthenticator) decides which clients get in.
void SetCurveServer(zmq::socket_t& socket, const CurveKeyPair& server);

// Makes `socket` a CURVE client with its own `client` keys, talking to the
// server whose public key is `server_public_z85`.
void SetCurveClient(zmq::socket_t& socket,
                    const CurveKeyPair& client,
                    const std::string& server_public_z85);

}  // namespace anchord::daemon
