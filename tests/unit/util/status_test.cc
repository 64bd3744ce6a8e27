#include "anchord/util/status.h"

#include <doctest/doctest.h>

#include <set>
#include <string>

namespace anchord {
namespace {

TEST_CASE("StatusCodeName spells the wire names") {
  CHECK(std::string(StatusCodeName(StatusCode::kOk)) == "ok");
  CHECK(std::string(StatusCodeName(StatusCode::kNoLattice)) == "no_lattice");
  CHECK(std::string(StatusCodeName(StatusCode::kInvalidInput)) ==
        "invalid_input");
  CHECK(std::string(StatusCodeName(StatusCode::kInternal)) == "internal_error");
  // Names are distinct, so a client can tell the outcomes apart.
  const std::set<std::string> names = {
      StatusCodeName(StatusCode::kOk), StatusCodeName(StatusCode::kNoLattice),
      StatusCodeName(StatusCode::kInvalidInput),
      StatusCodeName(StatusCode::kInternal)};
  CHECK(names.size() == 4);
}

TEST_CASE("Status factories set code and message; default is ok") {
  const Status d;
  CHECK(d.ok());
  CHECK(d.code() == StatusCode::kOk);
  CHECK(d.message().empty());
  CHECK(Status::Ok().ok());

  const Status n = Status::NoLattice("flat");
  CHECK_FALSE(n.ok());
  CHECK(n.code() == StatusCode::kNoLattice);
  CHECK(n.message() == "flat");

  const Status i = Status::InvalidInput("bad");
  CHECK_FALSE(i.ok());
  CHECK(i.code() == StatusCode::kInvalidInput);
  CHECK(i.message() == "bad");

  const Status e = Status::Internal("oops");
  CHECK_FALSE(e.ok());
  CHECK(e.code() == StatusCode::kInternal);
  CHECK(e.message() == "oops");
}

}  // namespace
}  // namespace anchord
