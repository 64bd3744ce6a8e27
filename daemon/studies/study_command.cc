#include "daemon/studies/study_command.h"

#include "anchord/util/stopwatch.h"

#include "daemon/common/cli_args.h"
#include "daemon/common/exit_codes.h"
#include "daemon/studies/align_study.h"
#include "daemon/studies/baselines_study.h"
#include "daemon/studies/closed_loop_study.h"
#include "daemon/studies/fig3_heatmap.h"
#include <opencv2/core/utility.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <numeric>
#include <string>
#include <thread>

namespace anchord::daemon {
namespace {

int DefaultThreads() {
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

Status ParseEstimators(const std::string& text,
                       std::vector<Fig3Estimator>& out) {
  out.clear();
  for (const std::string& name : SplitList(text)) {
    const std::optional<Fig3Estimator> e = ParseFig3Estimator(name);
    if (!e) {
      return Status::InvalidInput("--estimators: unknown estimator '" + name +
                                  "' (lmeds, anchord, lsq, ransac, usac)");
    }
    out.push_back(*e);
  }
  return Status::Ok();
}

Status BadValue(const std::string& name,
                const std::string& value,
                const char* expected) {
  return Status::InvalidInput(name + " = '" + value + "': expected " +
                              expected);
}

// Applies one "--name value" pair to the parsed arguments.
Status ApplyFig3Option(const std::string& name,
                       const std::string& value,
                       Fig3Args& p) {
  Fig3Options& o = p.options;
  if (name == "--samples") {
    if (ParseNumber(value, o.samples)) return Status::Ok();
    return BadValue(name, value, "an integer");
  }
  if (name == "--seed") {
    if (ParseNumber(value, o.seed)) return Status::Ok();
    return BadValue(name, value, "an unsigned integer");
  }
  if (name == "--threads") {
    if (ParseNumber(value, p.threads) && p.threads >= 1) return Status::Ok();
    return BadValue(name, value, "an integer >= 1");
  }
  if (name == "--sigmas") {
    const auto list = ParseNumberList<double>(value);
    if (!list) return BadValue(name, value, "numbers separated by commas");
    o.sigmas = *list;
    return Status::Ok();
  }
  if (name == "--counts") {
    const auto list = ParseNumberList<int>(value);
    if (!list) return BadValue(name, value, "integers separated by commas");
    o.counts = *list;
    return Status::Ok();
  }
  if (name == "--estimators") return ParseEstimators(value, o.estimators);
  if (name == "--field-grid") {
    if (ParseNumber(value, o.field_grid)) return Status::Ok();
    return BadValue(name, value, "an integer");
  }
  if (name == "--field-margin") {
    if (ParseNumber(value, o.field_margin)) return Status::Ok();
    return BadValue(name, value, "a number");
  }
  if (name == "--csv") {
    p.csv_path = value;
    return Status::Ok();
  }
  if (name == "--png") {
    p.png_path = value;
    return Status::Ok();
  }
  return Status::InvalidInput("unknown option " + name);
}

const Fig3Row* Find(const std::vector<Fig3Row>& rows,
                    Fig3Estimator e,
                    Fig3Where w,
                    double sigma,
                    int count) {
  for (const Fig3Row& r : rows) {
    if (r.estimator == e && r.where == w && r.sigma == sigma &&
        r.count == count) {
      return &r;
    }
  }
  return nullptr;
}

// One σ × N grid per estimator, side by side, of `value(row)`.
template <typename Value>
void PrintGrid(std::ostream& out,
               const std::vector<Fig3Row>& rows,
               const Fig3Options& o,
               Fig3Where where,
               const char* title,
               const char* format,
               Value value) {
  char cell[32];
  out << '\n' << title << ", " << Fig3WhereName(where) << '\n';
  const int width = 6 * static_cast<int>(o.counts.size());
  out << "  sigma";
  for (Fig3Estimator e : o.estimators) {
    std::string name = Fig3EstimatorName(e);
    name.resize(std::max<size_t>(name.size(), width - 1), ' ');
    out << " | " << name;
  }
  out << "\n    N  ";
  for (size_t e = 0; e < o.estimators.size(); ++e) {
    out << " |";
    for (int count : o.counts) {
      std::snprintf(cell, sizeof cell, "%6d", count);
      out << cell;
    }
  }
  out << '\n';
  for (double sigma : o.sigmas) {
    std::snprintf(cell, sizeof cell, "  %5.3f", sigma);
    out << cell;
    for (Fig3Estimator e : o.estimators) {
      out << " |";
      for (int count : o.counts) {
        const Fig3Row* r = Find(rows, e, where, sigma, count);
        std::snprintf(cell, sizeof cell, format, r ? value(*r) : NAN);
        out << cell;
      }
    }
    out << '\n';
  }
}

std::string CsvLine(const Fig3Row& r) {
  char line[256];
  std::snprintf(line, sizeof line, "%s,%g,%d,%s,%.6g,%.6f,%.6f,%.6f,%d,%.6g,%d",
                Fig3EstimatorName(r.estimator), r.sigma, r.count,
                Fig3WhereName(r.where), r.mae, r.oks50, r.oks75, r.oks95,
                r.samples, r.mae_median, r.failures);
  return line;
}

int RunFig3(const std::vector<std::string>& args) {
  Fig3Args parsed;
  const Status status = ParseFig3Args(args, parsed);
  if (const std::optional<int> exit =
          FinishParsing({"study fig3", &PrintStudyHelp}, status, parsed.help)) {
    return *exit;
  }
  Stopwatch watch;
  const std::vector<Fig3Row> rows =
      RunFig3Parallel(parsed.options, parsed.threads);
  const double seconds = watch.Lap() / 1000.0;
  PrintFig3Tables(std::cout, rows, parsed.options);
  std::cout << "\n"
            << parsed.options.samples << " samples per cell, seed "
            << parsed.options.seed << ", " << parsed.threads << " thread(s), "
            << seconds << " s\n";
  int exit_code = kExitOk;
  if (!parsed.csv_path.empty()) {
    const Status written = WriteFig3Csv(parsed.csv_path, rows);
    if (!written.ok()) {
      spdlog::error("[study] {}", written.message());
      exit_code = kExitFailure;
    }
  }
  if (!parsed.png_path.empty()) {
    const Status written =
        WriteFig3Heatmap(parsed.png_path, rows, parsed.options);
    if (!written.ok()) {
      spdlog::error("[study] {}", written.message());
      exit_code = kExitFailure;
    }
  }
  return exit_code;
}

}  // namespace

Status ParseFig3Args(const std::vector<std::string>& args, Fig3Args& parsed) {
  parsed.threads = DefaultThreads();
  const Status s = ApplyOptions(
      args,
      {"--samples", "--seed", "--threads", "--sigmas", "--counts",
       "--estimators", "--field-grid", "--field-margin", "--csv", "--png"},
      [&](const std::string& name, const std::string& value) {
        return ApplyFig3Option(name, value, parsed);
      },
      parsed.help);
  if (!s.ok() || parsed.help) return s;
  return parsed.options.Validate();
}

std::vector<Fig3Row> RunFig3Parallel(const Fig3Options& options, int threads) {
  struct Cell {
    double sigma;
    int count;
  };
  std::vector<Cell> cells;
  for (double sigma : options.sigmas) {
    for (int count : options.counts) cells.push_back({sigma, count});
  }
  // Largest cells first, so that no thread is left with a big one at the
  // end; the results go to their fixed slots.
  std::vector<size_t> order(cells.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return cells[a].count > cells[b].count;
  });
  std::vector<std::vector<Fig3Row>> results(cells.size());
  std::atomic<size_t> next{0};
  const auto work = [&] {
    for (size_t k; (k = next.fetch_add(1)) < order.size();) {
      const Cell& c = cells[order[k]];
      results[order[k]] = RunFig3Cell(options, c.count, c.sigma);
    }
  };
  cv::setNumThreads(0);
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (std::thread& t : pool) t.join();
  std::vector<Fig3Row> rows;
  for (const auto& cell_rows : results) {
    rows.insert(rows.end(), cell_rows.begin(), cell_rows.end());
  }
  return rows;
}

Status WriteFig3Csv(const std::string& path, const std::vector<Fig3Row>& rows) {
  std::ofstream out(path, std::ios::trunc);
  out << "estimator,sigma,count,where,mae,oks50,oks75,oks95,samples,"
         "mae_median,failures\n";
  for (const Fig3Row& r : rows) out << CsvLine(r) << '\n';
  out.flush();
  if (!out) return Status::Internal("cannot write " + path);
  return Status::Ok();
}

void PrintFig3Tables(std::ostream& out,
                     const std::vector<Fig3Row>& rows,
                     const Fig3Options& options) {
  for (const Fig3Where where : {Fig3Where::kFitted, Fig3Where::kField}) {
    PrintGrid(out, rows, options, where, "OKS@0.95 recall", "%6.3f",
              [](const Fig3Row& r) { return r.oks95; });
  }
  for (const Fig3Where where : {Fig3Where::kFitted, Fig3Where::kField}) {
    PrintGrid(out, rows, options, where, "median per-sample MAE, unit spacings",
              "%6.3f", [](const Fig3Row& r) { return r.mae_median; });
  }
}

void PrintStudyHelp(std::ostream& out) {
  out << R"(Usage: anchord study fig3 [options]
       anchord study baselines [options]   (anchord study baselines --help)
       anchord study closed-loop [options] (anchord study closed-loop --help)
       anchord study align [options]       (anchord study align --help)

fig3: the accuracy study of Diao et al., Sci. Rep. 15, 13486 (2025),
Fig. 3. N anchors on an n x n unit grid, a random homography, Gaussian
noise of std sigma (unit spacings) on the image points, H estimated from
the noisy pairs, the model reconstructed from the true image points
through H^-1 and compared with the anchors (fitted) and with a grid over
the field of view (field). Metrics: MAE and recall at OKS >= 0.5, 0.75,
0.95 with OKS = exp(-d^2 / (2 * 0.1^2)).

Options:
  --samples N        samples per (sigma, N) cell (default 10000)
  --seed S           random seed (default 1); same seed, same numbers
  --sigmas A,B,...   noise std values (default 0,0.01,0.02,0.05,0.08,0.1,
                     0.15,0.2)
  --counts A,B,...   anchor counts, perfect squares >= 4 (default
                     4,9,16,25,36,64,100)
  --estimators L     comma list of lmeds, anchord, lsq, ransac, usac
                     (default lmeds,anchord,lsq)
  --field-grid G     field-of-view points per side (default 10)
  --field-margin M   field of view beyond the outermost anchors, unit
                     spacings (default 0.5)
  --threads T        worker threads (default: hardware concurrency)
  --csv OUT.csv      write estimator,sigma,count,where,mae,oks50,oks75,
                     oks95,samples,mae_median,failures
  --png OUT.png      write the Fig. 3e-style OKS@0.95 heat map
  -h, --help         show this help

Exit status: 0 on success, 1 when an output cannot be written, 2 on a
usage error.
)";
}

int RunStudyCommand(const std::vector<std::string>& args) {
  constexpr CommandUsage kUsage{"study", &PrintStudyHelp};
  if (args.empty()) {
    return ReportUsageError(
        kUsage,
        UsageError("which study? fig3, baselines, closed-loop or align"));
  }
  const bool help = args[0] == "--help" || args[0] == "-h" || args[0] == "help";
  if (help) return *FinishParsing(kUsage, Status::Ok(), true);
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  if (args[0] == "fig3") return RunFig3(rest);
  if (args[0] == "baselines") return RunBaselinesStudy(rest);
  if (args[0] == "closed-loop") return RunClosedLoopStudy(rest);
  if (args[0] == "align") return RunAlignStudy(rest);
  return ReportUsageError(kUsage,
                          UsageError("unknown study '" + args[0] + "'"));
}

}  // namespace anchord::daemon
