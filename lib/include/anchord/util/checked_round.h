#pragma once

// Float → int conversions that refuse instead of invoking undefined
// behaviour. static_cast<int>(x) of a double that is NaN, infinite or
// outside [INT_MIN, INT_MAX] after truncation is undefined (on x86 it
// yields INT_MIN, which then feeds loop bounds); std::lround of such a
// value is unspecified. These return std::nullopt instead, so the caller
// states what an out-of-range value means. The same for int64_t
// (std::llround), e.g. seconds → ns.

#include <climits>
#include <cmath>
#include <cstdint>
#include <optional>

namespace anchord {

// The int equal to the integral value `v`, when it is one: nullopt for
// NaN, ±inf and values outside [INT_MIN, INT_MAX]. `v` must already be
// integral (the result of std::floor, std::ceil, std::round, std::trunc).
inline std::optional<int> IntegralToInt(double v) {
  // Both bounds are exact in a double; NaN fails both comparisons.
  if (!(v >= static_cast<double>(INT_MIN) &&
        v <= static_cast<double>(INT_MAX))) {
    return std::nullopt;
  }
  return static_cast<int>(v);
}

// Nearest int, halfway cases away from zero (as std::lround).
inline std::optional<int> RoundToInt(double v) {
  return IntegralToInt(std::round(v));
}
// Largest int <= v.
inline std::optional<int> FloorToInt(double v) {
  return IntegralToInt(std::floor(v));
}
// Smallest int >= v.
inline std::optional<int> CeilToInt(double v) {
  return IntegralToInt(std::ceil(v));
}

// The int64_t equal to the integral value `v`, when it is one: nullopt
// for NaN, ±inf and values outside [INT64_MIN, INT64_MAX]. `v` must already
// be integral. (INT64_MAX is not a double: the largest integral double
// below 2^63 is the largest accepted.)
inline std::optional<std::int64_t> IntegralToInt64(double v) {
  // -2^63 and 2^63 are exact in a double; NaN fails both comparisons.
  constexpr double kTwoTo63 = 9223372036854775808.0;
  if (!(v >= -kTwoTo63 && v < kTwoTo63)) return std::nullopt;
  return static_cast<std::int64_t>(v);
}

// Nearest int64_t, halfway cases away from zero (as std::llround).
inline std::optional<std::int64_t> RoundToInt64(double v) {
  return IntegralToInt64(std::round(v));
}

}  // namespace anchord
