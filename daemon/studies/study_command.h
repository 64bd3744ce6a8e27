#pragma once

// `anchord study fig3 ...` and `anchord study baselines ...`: accuracy
// studies. The computation is in the library (quality/fig3_study.h,
// quality/baselines.h); this file parses arguments, runs cells on worker
// threads and writes tables, CSV and PNG.

#include "anchord/studies/fig3_study.h"
#include "anchord/util/status.h"

#include <iosfwd>
#include <string>
#include <vector>

namespace anchord::daemon {

// The parsed command line of `anchord study fig3`.
struct Fig3Args {
  Fig3Options options;
  std::string csv_path;  // empty: no CSV
  std::string png_path;  // empty: no heat map
  // Worker threads running (σ, N) cells; >= 1. Default: the hardware
  // concurrency. The numbers do not depend on it.
  int threads = 1;
  bool help = false;
};

// Parses the arguments after "fig3". kInvalidInput naming the problem
// (unknown or repeated option, bad value, or every violation of the
// resulting Fig3Options).
Status ParseFig3Args(const std::vector<std::string>& args, Fig3Args& parsed);

// RunFig3Study on `threads` worker threads, one (σ, N) cell at a time per
// thread; the rows in RunFig3Study's order. Requires valid options.
std::vector<Fig3Row> RunFig3Parallel(const Fig3Options& options, int threads);

// One CSV line per row: estimator,sigma,count,where,mae,oks50,oks75,oks95,
// samples,mae_median,failures (a header line first).
Status WriteFig3Csv(const std::string& path, const std::vector<Fig3Row>& rows);

// The OKS@0.95 and median-MAE grids (σ × N, estimators side by side) for
// the fitted anchors and the field of view.
void PrintFig3Tables(std::ostream& out,
                     const std::vector<Fig3Row>& rows,
                     const Fig3Options& options);

void PrintStudyHelp(std::ostream& out);

// Runs `anchord study` with the arguments after "study" and returns the
// process exit status: 0 on success, 1 when an output cannot be written,
// 2 on a usage error.
int RunStudyCommand(const std::vector<std::string>& args);

}  // namespace anchord::daemon
