#include "daemon/instrument/header_time.h"

#include "daemon/common/cli_args.h"

#include <ctime>
#include <string>

namespace anchord::daemon {

std::optional<int64_t> IsoLocalTimeToUnixNs(std::string_view iso) {
  // YYYY-MM-DDTHH:MM:SS
  if (iso.size() != 19 || iso[4] != '-' || iso[7] != '-' || iso[10] != 'T' ||
      iso[13] != ':' || iso[16] != ':') {
    return std::nullopt;
  }
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!ParseNumber(iso.substr(0, 4), year) ||
      !ParseNumber(iso.substr(5, 2), month) ||
      !ParseNumber(iso.substr(8, 2), day) ||
      !ParseNumber(iso.substr(11, 2), hour) ||
      !ParseNumber(iso.substr(14, 2), minute) ||
      !ParseNumber(iso.substr(17, 2), second)) {
    return std::nullopt;
  }
  if (year < 1970 || year > 2199 || month < 1 || month > 12 || day < 1 ||
      day > 31 || hour > 23 || minute > 59 || second > 60) {
    return std::nullopt;
  }
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  const time_t t = timegm(&tm);
  if (t < 0 || tm.tm_mday != day) return std::nullopt;  // 31 February
  return static_cast<int64_t>(t) * 1000000000;
}

std::optional<int64_t> HeaderAcquiredUnixNs(const Frame& frame) {
  return IsoLocalTimeToUnixNs(frame.acquired_at);
}

}  // namespace anchord::daemon
