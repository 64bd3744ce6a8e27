#include "daemon/serve/queries.h"

#include <algorithm>
#include <utility>

namespace anchord::daemon {
namespace {

bool PassesFilters(const v1::Adatom& a,
                   const v1::QueryRequest::SitesInRect& q) {
  if (q.occupancy() == v1::OCCUPANCY_OCCUPIED && !a.occupied()) return false;
  if (q.occupancy() == v1::OCCUPANCY_VACANT && a.occupied()) return false;
  return q.kind() == v1::SITE_KIND_UNSPECIFIED || q.kind() == a.kind();
}

}  // namespace

DefectQuery ToDefectQuery(const v1::QueryRequest::FindDefects& q,
                          const std::string& session,
                          int64_t max_limit) {
  DefectQuery out;
  out.session = session;
  if (q.kind() == v1::DEFECT_KIND_VACANCY) out.kind = DefectKind::kVacancy;
  if (q.kind() == v1::DEFECT_KIND_OFF_LATTICE) {
    out.kind = DefectKind::kOffLattice;
  }
  if (q.has_rect()) {
    const auto& r = q.rect();
    out.rect_nm = std::make_pair(
        Vec2(std::min(r.x0_nm(), r.x1_nm()), std::min(r.y0_nm(), r.y1_nm())),
        Vec2(std::max(r.x0_nm(), r.x1_nm()), std::max(r.y0_nm(), r.y1_nm())));
  }
  if (q.has_disc()) {
    out.disc_nm = std::make_pair(Vec2(q.disc().x_nm(), q.disc().y_nm()),
                                 q.disc().radius_nm());
  }
  if (q.has_nearest_to_nm()) {
    out.nearest_to_nm = Vec2(q.nearest_to_nm().x(), q.nearest_to_nm().y());
  }
  if (q.changed_since_unix_ns() != 0) {
    out.changed_since_unix_ns = q.changed_since_unix_ns();
  }
  out.limit =
      q.limit() == 0 ? max_limit : std::min<int64_t>(q.limit(), max_limit);
  out.include_inactive = q.include_inactive();
  return out;
}

v1::Sites SitesInRect(const v1::Sites& sites,
                      const v1::QueryRequest::SitesInRect& q) {
  v1::Sites out;
  out.set_frame_id(sites.frame_id());
  out.set_sequence(sites.sequence());
  const double x_lo = std::min(q.x0_px(), q.x1_px());
  const double x_hi = std::max(q.x0_px(), q.x1_px());
  const double y_lo = std::min(q.y0_px(), q.y1_px());
  const double y_hi = std::max(q.y0_px(), q.y1_px());
  for (const v1::Adatom& a : sites.adatoms()) {
    const bool inside = a.x_px() >= x_lo && a.x_px() <= x_hi &&
                        a.y_px() >= y_lo && a.y_px() <= y_hi;
    if (inside && PassesFilters(a, q)) *out.add_adatoms() = a;
  }
  return out;
}

}  // namespace anchord::daemon
