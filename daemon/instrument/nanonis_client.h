#pragma once

// A client of the Nanonis TCP programming interface (one TCP connection
// to the controller's port, commands serialized on it, as the protocol
// guarantees their order), on Boost.Asio with a deadline on every connect,
// read and write. The framing and the messages are nanonis_codec.h's.
//
// States: closed → Connect() → connected → (a transport or framing
// failure, or Close()) → closed. A controller error (the response's error
// block set) leaves the connection usable. Not thread-safe: one thread
// owns an instance.

#include "anchord/util/status.h"

#include "daemon/instrument/nanonis_codec.h"

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

namespace anchord::daemon {

struct NanonisClientOptions {
  // Controller host name or address. Default "127.0.0.1"; not empty.
  std::string host = "127.0.0.1";
  // Controller TCP port (Nanonis: File > Settings > TCP, 6501 to 6504 by
  // default). Default 6501; in [1, 65535].
  int port = 6501;
  // Longest wait for the connection to open (name resolution included),
  // ms. Default 3000; > 0.
  std::chrono::milliseconds connect_timeout{3000};
  // Longest wait for one request to be written and its response read,
  // beyond the time the command itself may take (Scan.WaitEndOfScan's own
  // timeout), ms. Default 10000; > 0.
  std::chrono::milliseconds io_timeout{10000};

  // kOk, or kInvalidInput listing every violation.
  Status Validate() const;
};

// How a call failed, for the caller's decision to reconnect.
enum class CallFailure {
  kNone,        // the call succeeded
  kTransport,   // connect/read/write failed or timed out: connection closed
  kProtocol,    // a malformed response: connection closed (out of step)
  kController,  // the controller answered with its error block set
};

class NanonisClient {
 public:
  explicit NanonisClient(NanonisClientOptions options);
  ~NanonisClient();
  NanonisClient(const NanonisClient&) = delete;
  NanonisClient& operator=(const NanonisClient&) = delete;

  // Opens the connection (closing a previous one). kInternal "nanonis:
  // cannot connect to HOST:PORT: reason" on failure or timeout.
  Status Connect();
  void Close();
  bool connected() const;
  // "HOST:PORT".
  std::string peer() const;
  // How the latest call failed.
  CallFailure last_failure() const { return last_failure_; }

  // Sends `body` as command `command` with the response flag set and reads
  // the response body into *reply (the error block included, for the
  // codec's DecodeReply). `command_wait` is added to the io timeout (a
  // command that blocks on the controller). kInternal on a transport
  // failure, kInvalidInput on a response for another command or a
  // malformed header; both close the connection.
  Status Call(std::string_view command,
              std::string_view body,
              std::chrono::milliseconds command_wait,
              std::string* reply);

  // The commands the bridge uses: Call + the codec's Decode. A malformed
  // body closes the connection; a controller error does not.
  Status WaitEndOfScan(int32_t timeout_ms, nanonis::WaitEndOfScanReply* out);
  Status FrameGet(nanonis::ScanFrame* out);
  Status FrameSet(const nanonis::ScanFrame& frame);
  Status FrameDataGrab(const nanonis::FrameDataGrabRequest& request,
                       nanonis::FrameDataGrabReply* out);
  Status BufferGet(nanonis::BufferGetReply* out);
  Status SpeedGet(nanonis::SpeedGetReply* out);
  Status DriftCompGet(nanonis::DriftCompGetReply* out);
  Status DriftCompSet(const nanonis::DriftCompSetRequest& request);
  Status ZCtrlOnOffGet(nanonis::ZCtrlOnOffGetReply* out);

 private:
  struct Io;
  // Classifies a decode result: a controller error keeps the connection, a
  // malformed body closes it.
  Status Decoded(const Status& decoded);

  NanonisClientOptions options_;
  std::unique_ptr<Io> io_;
  CallFailure last_failure_ = CallFailure::kNone;
};

}  // namespace anchord::daemon
