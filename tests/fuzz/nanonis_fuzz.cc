// libFuzzer target for the Nanonis TCP codec
// (daemon/instrument/nanonis_codec.h), what `anchord bridge nanonis` reads
// from a controller: the first byte picks a decoder (the header, each
// reply, each request the simulator decodes), the rest is its input. Every
// decoder must return a printable status without reading out of bounds,
// and a reply that decodes must encode into one that decodes again.

#include "daemon/instrument/nanonis_codec.h"
#include "fuzz_check.h"

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace nn = anchord::daemon::nanonis;
using anchord::fuzz::Check;
using anchord::fuzz::IsLoggable;

namespace {

template <typename Reply>
void DecodeReply(std::string_view body) {
  Reply reply;
  const anchord::Status s = nn::DecodeReply(body, &reply);
  Check(IsLoggable(s.message()), "printable message");
  if (s.ok()) {
    Reply again;
    Check(nn::DecodeReply(nn::EncodeReply(reply, {}), &again).ok(),
          "a decoded reply re-encodes");
  }
}

template <typename Request>
void DecodeRequest(std::string_view body) {
  Request request;
  const anchord::Status s = nn::DecodeRequest(body, &request);
  Check(IsLoggable(s.message()), "printable message");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view body(reinterpret_cast<const char*>(data) + 1,
                              size - 1);
  switch (data[0] % 12) {
    case 0: {
      nn::Header h;
      const anchord::Status s = nn::DecodeHeader(body, &h);
      Check(IsLoggable(s.message()), "printable message");
      Check(!s.ok() || h.body_size <= nn::kMaxBodyBytes, "body size bound");
      break;
    }
    case 1:
      DecodeReply<nn::WaitEndOfScanReply>(body);
      break;
    case 2:
      DecodeReply<nn::ScanFrame>(body);
      break;
    case 3:
      DecodeReply<nn::FrameDataGrabReply>(body);
      break;
    case 4:
      DecodeReply<nn::BufferGetReply>(body);
      break;
    case 5:
      DecodeReply<nn::SpeedGetReply>(body);
      break;
    case 6:
      DecodeReply<nn::DriftCompGetReply>(body);
      break;
    case 7:
      DecodeReply<nn::ZCtrlOnOffGetReply>(body);
      break;
    case 8: {
      const anchord::Status s = nn::DecodeEmptyReply("Scan.FrameSet", body);
      Check(IsLoggable(s.message()), "printable message");
      break;
    }
    case 9:
      DecodeRequest<nn::WaitEndOfScanRequest>(body);
      break;
    case 10:
      DecodeRequest<nn::FrameDataGrabRequest>(body);
      break;
    default:
      DecodeRequest<nn::DriftCompSetRequest>(body);
      break;
  }
  return 0;
}
