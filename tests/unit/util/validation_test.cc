// Violations / Validate(): every violated constraint is reported, one per
// line, with its key, value and constraint; Merge() keeps them all.

#include "anchord/util/validation.h"

#include "anchord/detect/corner_hole_detector.h"

#include <doctest/doctest.h>

#include <sstream>
#include <string>
#include <vector>

namespace anchord {
namespace {

std::vector<std::string> Lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

TEST_CASE("Violations: nothing violated gives ok with an empty message") {
  Violations v("x");
  v.Require(true, "a", 1, "> 0");
  const Status s = v.ToStatus();
  CHECK(s.ok());
  CHECK(s.code() == StatusCode::kOk);
  CHECK(s.message().empty());
}

TEST_CASE("Violations: one line per violation, in the documented format") {
  Violations v("stage");
  v.Require(false, "alpha", -1, "> 0");
  v.Require(true, "beta", 3, "> 0");
  v.Require(false, "gamma", 2.5, "in (0, 1)");
  const Status s = v.ToStatus();
  REQUIRE_FALSE(s.ok());
  CHECK(s.code() == StatusCode::kInvalidInput);
  const auto lines = Lines(s.message());
  REQUIRE(lines.size() == 2);
  CHECK(lines[0] == "stage.alpha = -1. Violated constraint: > 0");
  CHECK(lines[1] == "stage.gamma = 2.5. Violated constraint: in (0, 1)");
  CHECK_FALSE(Contains(s.message(), "beta"));
}

TEST_CASE("DetectOptions with two bad fields lists both keys, one per line") {
  DetectOptions o;
  REQUIRE(o.Validate().ok());  // the defaults are valid
  o.hole_sigma_fraction = -1;
  o.nms_fraction = 2;
  const Status s = o.Validate();
  REQUIRE_FALSE(s.ok());
  CHECK(s.code() == StatusCode::kInvalidInput);
  const auto lines = Lines(s.message());
  REQUIRE(lines.size() == 2);
  int hole = -1, nms = -1;
  for (int k = 0; k < 2; ++k) {
    if (Contains(lines[k], "detect.hole_sigma_fraction = -1")) hole = k;
    if (Contains(lines[k], "detect.nms_fraction = 2")) nms = k;
  }
  CHECK(hole >= 0);
  CHECK(nms >= 0);
  CHECK(hole != nms);
  for (const auto& line : lines) {
    CHECK(Contains(line, "Violated constraint"));
  }
}

TEST_CASE("DetectOptions: every field's constraint is enforced") {
  // Each bad value alone yields exactly one line naming that key.
  struct Case {
    const char* key;
    void (*apply)(DetectOptions&);
  };
  const Case cases[] = {
      {"detect.hole_sigma_fraction",
       [](DetectOptions& o) { o.hole_sigma_fraction = 0.5; }},
      {"detect.working_cell_px",
       [](DetectOptions& o) { o.working_cell_px = 7.9; }},
      {"detect.min_response_sigma",
       [](DetectOptions& o) { o.min_response_sigma = 0; }},
      {"detect.nms_fraction", [](DetectOptions& o) { o.nms_fraction = 0; }},
      {"detect.max_candidates_per_cell",
       [](DetectOptions& o) { o.max_candidates_per_cell = 0.5; }},
  };
  for (const Case& c : cases) {
    CAPTURE(c.key);
    DetectOptions o;
    c.apply(o);
    const Status s = o.Validate();
    REQUIRE_FALSE(s.ok());
    CHECK(Lines(s.message()).size() == 1);
    CHECK(Contains(s.message(), std::string(c.key) + " = "));
  }
}

TEST_CASE("Violations::Merge keeps every line of the merged status") {
  DetectOptions d;
  d.hole_sigma_fraction = 0.7;
  d.min_response_sigma = -2;
  Violations v("pipeline");
  v.Require(false, "threads", 0, ">= 1");
  v.Merge(d.Validate());
  v.Merge(Status::Ok());  // merging ok adds nothing
  const Status s = v.ToStatus();
  REQUIRE_FALSE(s.ok());
  const auto lines = Lines(s.message());
  REQUIRE(lines.size() == 3);
  CHECK(Contains(lines[0], "pipeline.threads = 0"));
  CHECK(Contains(s.message(), "detect.hole_sigma_fraction = 0.7"));
  CHECK(Contains(s.message(), "detect.min_response_sigma = -2"));
}

TEST_CASE("Merging only ok statuses stays ok") {
  Violations v("p");
  v.Merge(Status::Ok());
  v.Merge(DetectOptions{}.Validate());
  CHECK(v.ToStatus().ok());
}

}  // namespace
}  // namespace anchord
