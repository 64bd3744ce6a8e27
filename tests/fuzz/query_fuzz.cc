// libFuzzer target for the query decoder: DecodeQuery on the input; every
// request that decodes passes through the validation its kind has (the
// daemon answers an invalid one with the message, never acts on it).

#include "daemon/wire/wire.h"
#include "fuzz_check.h"

#include <cstddef>
#include <cstdint>
#include <string_view>

using anchord::fuzz::Check;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  anchord::v1::QueryRequest request;
  const anchord::Status s = anchord::daemon::DecodeQuery(bytes, &request);
  Check(anchord::fuzz::IsLoggable(s.message()), "printable message");
  const anchord::v1::QueryReply error =
      anchord::daemon::MakeErrorReply(request.request_id(), s);
  Check(s.ok() || !error.ok(), "an error reply says not ok");
  if (!s.ok()) return 0;
  if (request.has_find_defects()) {
    const anchord::Status v =
        anchord::daemon::ValidateFindDefects(request.find_defects());
    Check(anchord::fuzz::IsLoggable(v.message()), "printable message");
  }
  if (request.has_sites_in_rect()) {
    const anchord::Status v =
        anchord::daemon::ValidateSitesInRect(request.sites_in_rect());
    Check(anchord::fuzz::IsLoggable(v.message()), "printable message");
  }
  return 0;
}
