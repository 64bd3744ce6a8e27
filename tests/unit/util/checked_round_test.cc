#include "anchord/util/checked_round.h"

#include <doctest/doctest.h>

#include <climits>
#include <cmath>
#include <cstdint>
#include <limits>

namespace anchord {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

TEST_CASE("in-range values convert like lround, floor and ceil") {
  CHECK(RoundToInt(2.5) == 3);
  CHECK(RoundToInt(-2.5) == -3);
  CHECK(RoundToInt(-0.4) == 0);
  CHECK(FloorToInt(-0.5) == -1);
  CHECK(FloorToInt(1.999) == 1);
  CHECK(CeilToInt(1.001) == 2);
  CHECK(CeilToInt(-1.5) == -1);
  for (const double v : {-3.7, -1.0, 0.0, 0.49, 7.5, 1e6 + 0.5}) {
    CAPTURE(v);
    CHECK(RoundToInt(v) == static_cast<int>(std::lround(v)));
    CHECK(FloorToInt(v) == static_cast<int>(std::floor(v)));
    CHECK(CeilToInt(v) == static_cast<int>(std::ceil(v)));
  }
}

TEST_CASE("the int range is inclusive at both ends") {
  CHECK(IntegralToInt(static_cast<double>(INT_MAX)) == INT_MAX);
  CHECK(IntegralToInt(static_cast<double>(INT_MIN)) == INT_MIN);
  CHECK(FloorToInt(INT_MAX + 0.5) == INT_MAX);
  CHECK(CeilToInt(INT_MIN - 0.5) == INT_MIN);
  CHECK_FALSE(CeilToInt(INT_MAX + 0.5).has_value());
  CHECK_FALSE(FloorToInt(INT_MIN - 0.5).has_value());
  CHECK_FALSE(RoundToInt(INT_MAX + 0.5).has_value());
  CHECK_FALSE(RoundToInt(INT_MIN - 0.5).has_value());
}

TEST_CASE("NaN, infinities and huge values are refused") {
  for (const double v : {kNaN, kInf, -kInf, 4 * 6.4e9 / 2.688, -3e9, 1e300}) {
    CAPTURE(v);
    CHECK_FALSE(RoundToInt(v).has_value());
    CHECK_FALSE(FloorToInt(v).has_value());
    CHECK_FALSE(CeilToInt(v).has_value());
    CHECK_FALSE(IntegralToInt(v).has_value());
  }
}

TEST_CASE("int64: in range like llround, out of range refused") {
  CHECK(RoundToInt64(2.5) == 3);
  CHECK(RoundToInt64(-2.5) == -3);
  CHECK(RoundToInt64(1.8e9 * 1e9) == 1800000000000000000LL);
  CHECK(IntegralToInt64(-9223372036854775808.0) == INT64_MIN);
  // The largest double below 2^63.
  CHECK(IntegralToInt64(9223372036854774784.0) == 9223372036854774784LL);
  for (const double v :
       {kNaN, kInf, -kInf, 9223372036854775808.0, 1e19, -1e19, 1e300}) {
    CAPTURE(v);
    CHECK_FALSE(RoundToInt64(v).has_value());
    CHECK_FALSE(IntegralToInt64(v).has_value());
  }
}

}  // namespace
}  // namespace anchord
