// The queries' selection logic: sites in a rectangle with their filters,
// and find_defects requests as catalog queries.

#include "daemon/serve/queries.h"

#include "daemon/wire/wire.h"
#include <doctest/doctest.h>

#include <string>

namespace anchord::daemon {
namespace {

TEST_CASE("SitesInRect filters by the closed rectangle, occupancy and kind") {
  v1::Sites sites;
  sites.set_frame_id(5);
  sites.set_sequence(6);
  const auto add = [&](double x, double y, bool occupied, v1::SiteKind kind) {
    v1::Adatom* a = sites.add_adatoms();
    a->set_x_px(x);
    a->set_y_px(y);
    a->set_occupied(occupied);
    a->set_kind(kind);
  };
  add(10, 10, true, v1::SITE_KIND_CORNER);
  add(20, 20, false, v1::SITE_KIND_CORNER);
  add(20, 30, false, v1::SITE_KIND_CENTER);
  add(50, 50, false, v1::SITE_KIND_CENTER);

  v1::QueryRequest::SitesInRect q;
  q.set_x0_px(20);  // corners given in reverse order
  q.set_y0_px(30);
  q.set_x1_px(10);
  q.set_y1_px(10);
  v1::Sites got = SitesInRect(sites, q);
  CHECK(got.frame_id() == 5);
  CHECK(got.sequence() == 6);
  CHECK(got.adatoms_size() == 3);  // edges included
  q.set_occupancy(v1::OCCUPANCY_VACANT);
  CHECK(SitesInRect(sites, q).adatoms_size() == 2);
  q.set_kind(v1::SITE_KIND_CENTER);
  got = SitesInRect(sites, q);
  REQUIRE(got.adatoms_size() == 1);
  CHECK(got.adatoms(0).y_px() == 30);
  q.set_occupancy(v1::OCCUPANCY_OCCUPIED);
  CHECK(SitesInRect(sites, q).adatoms_size() == 0);
}

TEST_CASE("a find_defects query becomes a catalog query") {
  v1::QueryRequest sent;
  sent.set_request_id(5);
  auto* q = sent.mutable_find_defects();
  q->set_kind(v1::DEFECT_KIND_VACANCY);
  q->mutable_rect()->set_x0_nm(4);
  q->mutable_rect()->set_x1_nm(-4);
  q->mutable_rect()->set_y0_nm(1);
  q->mutable_rect()->set_y1_nm(2);
  q->set_limit(5000);
  v1::QueryRequest got;
  REQUIRE(DecodeQuery(sent.SerializeAsString(), &got).ok());
  const DefectQuery dq = ToDefectQuery(got.find_defects(), "s", 1000);
  CHECK(dq.session == "s");
  REQUIRE(dq.kind.has_value());
  CHECK(*dq.kind == DefectKind::kVacancy);
  REQUIRE(dq.rect_nm.has_value());
  CHECK(dq.rect_nm->first == Vec2(-4, 1));
  CHECK(dq.rect_nm->second == Vec2(4, 2));
  CHECK(!dq.disc_nm.has_value());
  CHECK(!dq.nearest_to_nm.has_value());
  CHECK(!dq.changed_since_unix_ns.has_value());
  CHECK(dq.limit == 1000);  // clamped
}

}  // namespace
}  // namespace anchord::daemon
