#pragma once

// Scores a FrameResult against a synthetic scan's ground truth: adatom
// site recall / precision, position error, vacancy classification and
// corner-hole recall, all restricted to sites more than `border_nm` from
// the frame border.

#include "anchord/pipeline/register_frame.h"
#include "anchord/synth/synthetic_scan.h"

#include <string>

namespace anchord::testing {

struct TruthScore {
  int truth_sites = 0, matched_sites = 0;
  int reported_sites = 0, reported_matched = 0;
  int occupied_matched = 0;
  double sum_sq_error_nm = 0;  // occupied matched sites
  int true_vacancies = 0, reported_vacancies = 0, vacancy_hits = 0;
  int reported_vacancy_hits = 0;  // reported vacancies that are true
  int truth_holes = 0, matched_holes = 0;
  int faulted_agree = 0;

  double recall() const { return Ratio(matched_sites, truth_sites); }
  double precision() const { return Ratio(reported_matched, reported_sites); }
  double rms_error_nm() const {
    return occupied_matched ? std::sqrt(sum_sq_error_nm / occupied_matched)
                            : 0.0;
  }
  double vacancy_recall() const { return Ratio(vacancy_hits, true_vacancies); }
  double vacancy_precision() const {
    return Ratio(reported_vacancy_hits, reported_vacancies);
  }
  double hole_recall() const { return Ratio(matched_holes, truth_holes); }
  double faulted_accuracy() const {
    return Ratio(faulted_agree, matched_sites);
  }
  void Add(const TruthScore& o);
  std::string Summary() const;

 private:
  static double Ratio(int a, int b) { return b ? double(a) / b : 1.0; }
};

// `match_nm`: a reported site matches a true one within this distance in
// the sample plane.
TruthScore ScoreAgainstTruth(const FrameResult& result,
                             const SyntheticScan& scan,
                             double border_nm = 1.0,
                             double match_nm = 0.2);

}  // namespace anchord::testing
