#include "anchord/segment/symmetry_segmentation.h"

#include "anchord/detect/corner_hole_detector.h"
#include "anchord/lattice/lattice_estimate.h"
#include "anchord/util/validation.h"

#include <Eigen/Dense>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <exception>
#include <limits>
#include <random>
#include <string>

namespace anchord {
namespace {

constexpr double kCellNm = 2.688;  // the 7×7 lattice constant
constexpr int kAngles = 24;        // polar samples, 15° apart
constexpr int kRadii = 8;

using Matrix = Eigen::MatrixXd;

// A length in nm as whole pixels, at least `lo`; the options' bounds keep
// it far inside int.
int Px(double nm, double pixel_nm, int lo) {
  const double px = std::round(nm / pixel_nm);
  return static_cast<int>(std::clamp(px, double(lo), 1e5));
}

// The frame with non-finite pixels set to the median of the finite ones.
cv::Mat1f Filled(const cv::Mat1f& image, cv::Mat1b& finite) {
  finite = cv::Mat1b(image.size(), uchar{0});
  std::vector<float> values;
  values.reserve(image.total());
  for (int y = 0; y < image.rows; ++y) {
    for (int x = 0; x < image.cols; ++x) {
      if (std::isfinite(image(y, x))) {
        finite(y, x) = 1;
        values.push_back(image(y, x));
      }
    }
  }
  cv::Mat1f out = image.clone();
  if (values.empty()) return out;
  std::nth_element(values.begin(), values.begin() + values.size() / 2,
                   values.end());
  const float median = values[values.size() / 2];
  for (int y = 0; y < out.rows; ++y) {
    for (int x = 0; x < out.cols; ++x) {
      if (!finite(y, x)) out(y, x) = median;
    }
  }
  return out;
}

// The strided grid: descriptor points at (s·j, s·i), the last row and
// column at the frame's edge.
struct Grid {
  int stride = 1, nx = 1, ny = 1;
  int X(int j) const { return j * stride; }
  int Y(int i) const { return i * stride; }
};

// Translation scores (Wang et al., Sec. II A 1, Eq. 3): per shift t, the
// Pearson correlation of the square patch of side 2r + 1 at p with the one
// at p + t, over the pixel pairs of which both lie in the frame and are
// finite (masked box sums; outside the frame counts as missing, so the
// frame's border adds no mirrored structure).
void TranslationScores(const cv::Mat1f& img,
                       const cv::Mat1b& finite,
                       int r,
                       const std::vector<cv::Point>& shifts,
                       const Grid& g,
                       Matrix& features,
                       int column) {
  int s_max = 0;
  for (const cv::Point& t : shifts) {
    s_max = std::max({s_max, std::abs(t.x), std::abs(t.y)});
  }
  const int pad = s_max + r + 1;
  cv::Mat1f padded, mask;
  cv::Mat1f finite_f;
  finite.convertTo(finite_f, CV_32F);
  cv::copyMakeBorder(img, padded, pad, pad, pad, pad, cv::BORDER_CONSTANT, 0);
  cv::copyMakeBorder(finite_f, mask, pad, pad, pad, pad, cv::BORDER_CONSTANT,
                     0);
  padded = padded.mul(mask);
  const cv::Mat1f padded_sq = padded.mul(padded);
  const cv::Size k(2 * r + 1, 2 * r + 1);
  // The region whose box sums the grid points read: the frame ± r.
  const cv::Rect base(pad - r, pad - r, img.cols + 2 * r, img.rows + 2 * r);
  // Buffers reused across shifts (a fresh frame-sized allocation per map
  // and shift cost more than the filtering).
  cv::Mat1f m, prod, n_pairs, sa, sb, saa, sbb, sab;
  const auto box = [&](const cv::Mat1f& src, cv::Mat1f& dst) {
    cv::boxFilter(src, dst, CV_32F, k, cv::Point(-1, -1), false,
                  cv::BORDER_CONSTANT);
  };
  for (size_t n = 0; n < shifts.size(); ++n) {
    const cv::Rect shifted = base + shifts[n];
    cv::multiply(mask(base), mask(shifted), m);
    box(m, n_pairs);
    // padded is 0 wherever its mask is, so a·m = a·m_b and b·m = b·m_a.
    cv::multiply(padded(base), mask(shifted), prod);
    box(prod, sa);
    cv::multiply(padded(shifted), mask(base), prod);
    box(prod, sb);
    cv::multiply(padded_sq(base), mask(shifted), prod);
    box(prod, saa);
    cv::multiply(padded_sq(shifted), mask(base), prod);
    box(prod, sbb);
    cv::multiply(padded(base), padded(shifted), prod);
    box(prod, sab);
    for (int i = 0; i < g.ny; ++i) {
      for (int j = 0; j < g.nx; ++j) {
        const int x = g.X(j) + r, y = g.Y(i) + r;
        const double np = n_pairs(y, x);
        double score = 0;
        if (np >= 0.25 * k.area()) {
          const double ma = sa(y, x) / np, mb = sb(y, x) / np;
          const double va = saa(y, x) / np - ma * ma;
          const double vb = sbb(y, x) / np - mb * mb;
          const double cov = sab(y, x) / np - ma * mb;
          const double den = std::sqrt(std::max(va, 0.0) * std::max(vb, 0.0));
          score = den > 1e-12 ? std::clamp(cov / den, -1.0, 1.0) : 0.0;
        }
        features(i * g.nx + j, column + static_cast<int>(n)) = score;
      }
    }
  }
}

double BilinearReflect(const cv::Mat1f& img, double x, double y) {
  x = std::clamp(x, 0.0, img.cols - 1.001);
  y = std::clamp(y, 0.0, img.rows - 1.001);
  const int x0 = static_cast<int>(x), y0 = static_cast<int>(y);
  const double fx = x - x0, fy = y - y0;
  return (1 - fy) * ((1 - fx) * img(y0, x0) + fx * img(y0, x0 + 1)) +
         fy * ((1 - fx) * img(y0 + 1, x0) + fx * img(y0 + 1, x0 + 1));
}

// Weighted Pearson correlation of a polar patch with its permutation
// `perm` (weights ∝ radius: equal area per sample).
double PolarCorrelation(const std::vector<double>& v,
                        const std::vector<int>& perm,
                        const std::vector<double>& w) {
  // A sample is missing when its weight is 0; a pair counts when both
  // samples are present.
  double sw = 0, ma = 0, mb = 0;
  for (size_t m = 0; m < v.size(); ++m) {
    const double wm = std::min(w[m], w[perm[m]]);
    sw += wm;
    ma += wm * v[m];
    mb += wm * v[perm[m]];
  }
  if (sw <= 0) return 0.0;
  ma /= sw;
  mb /= sw;
  double ab = 0, aa = 0, bb = 0;
  for (size_t m = 0; m < v.size(); ++m) {
    const double wm = std::min(w[m], w[perm[m]]);
    const double a = v[m] - ma, b = v[perm[m]] - mb;
    ab += wm * a * b;
    aa += wm * a * a;
    bb += wm * b * b;
  }
  const double den = std::sqrt(aa * bb);
  return den > 1e-12 ? ab / den : 0.0;
}

// Rotation (60, 90, 120, 180°) and reflection (axes at 0, 30, …, 150°)
// scores on a circular patch of radius r in polar samples (Wang et al.,
// Sec. II A 2), then max-pooled over `pool` grid points (the
// translation-invariance step of the same section).
void PointScores(const cv::Mat1f& img,
                 const cv::Mat1b& finite,
                 const Mat2& shape,
                 int r,
                 bool rotations,
                 bool reflections,
                 int pool,
                 const Grid& g,
                 Matrix& features,
                 int column,
                 int& count) {
  std::vector<std::vector<int>> perms;
  const auto perm_of = [](auto&& index_of) {
    std::vector<int> p(kRadii * kAngles);
    for (int ir = 0; ir < kRadii; ++ir) {
      for (int ia = 0; ia < kAngles; ++ia) {
        p[ir * kAngles + ia] = ir * kAngles + index_of(ia);
      }
    }
    return p;
  };
  if (rotations) {
    for (int steps : {4, 6, 8, 12}) {  // 60, 90, 120, 180°
      perms.push_back(
          perm_of([steps](int ia) { return (ia + steps) % kAngles; }));
    }
  }
  if (reflections) {
    for (int axis = 0; axis < 6; ++axis) {  // θ → 2φ − θ, φ = 30°·axis
      perms.push_back(perm_of([axis](int ia) {
        return ((4 * axis - ia) % kAngles + kAngles) % kAngles;
      }));
    }
  }
  count = static_cast<int>(perms.size());
  if (perms.empty()) return;
  std::vector<cv::Vec2d> offsets;
  std::vector<double> weight;
  for (int ir = 0; ir < kRadii; ++ir) {
    const double rad = r * (ir + 1.0) / kRadii;
    for (int ia = 0; ia < kAngles; ++ia) {
      const double a = ia * 2.0 * CV_PI / kAngles;
      const Vec2 d = shape * Vec2(rad * std::cos(a), rad * std::sin(a));
      offsets.push_back({d.x(), d.y()});
      weight.push_back(rad);
    }
  }
  std::vector<cv::Mat1f> maps(perms.size(), cv::Mat1f(g.ny, g.nx, 0.0f));
  for (auto& m : maps) m = cv::Mat1f(g.ny, g.nx, 0.0f);
  std::vector<double> v(offsets.size()), w(offsets.size());
  for (int i = 0; i < g.ny; ++i) {
    for (int j = 0; j < g.nx; ++j) {
      for (size_t m = 0; m < offsets.size(); ++m) {
        const double px = g.X(j) + offsets[m][0];
        const double py = g.Y(i) + offsets[m][1];
        const bool inside =
            px >= 0 && py >= 0 && px <= img.cols - 1 && py <= img.rows - 1;
        v[m] = inside ? BilinearReflect(img, px, py) : 0.0;
        const bool ok = inside && finite(static_cast<int>(std::lround(py)),
                                         static_cast<int>(std::lround(px)));
        w[m] = ok ? weight[m] : 0.0;
      }
      for (size_t q = 0; q < perms.size(); ++q) {
        maps[q](i, j) = static_cast<float>(PolarCorrelation(v, perms[q], w));
      }
    }
  }
  const cv::Mat kernel = cv::getStructuringElement(
      cv::MORPH_ELLIPSE, cv::Size(2 * pool + 1, 2 * pool + 1));
  for (size_t q = 0; q < perms.size(); ++q) {
    cv::Mat1f pooled;
    cv::dilate(maps[q], pooled, kernel, cv::Point(-1, -1), 1,
               cv::BORDER_REPLICATE);
    for (int i = 0; i < g.ny; ++i) {
      for (int j = 0; j < g.nx; ++j) {
        features(i * g.nx + j, column + static_cast<int>(q)) = pooled(i, j);
      }
    }
  }
}

// k-means (Wang et al., Sec. II C) with k-means++ seeding from our own
// generator; bounded Lloyd iterations; the best of `attempts` by inertia.
struct KMeans {
  std::vector<int> label;
  Matrix centres;
  double inertia = std::numeric_limits<double>::infinity();
};

KMeans RunKMeans(const Matrix& y, int k, const SegmentOptions& o) {
  const int n = static_cast<int>(y.rows());
  std::mt19937_64 rng(o.seed + 7919 * static_cast<uint64_t>(k));
  KMeans best;
  for (int attempt = 0; attempt < o.kmeans_attempts; ++attempt) {
    Matrix c(k, y.cols());
    std::uniform_int_distribution<int> pick(0, n - 1);
    c.row(0) = y.row(pick(rng));
    Eigen::VectorXd d2(n);
    for (int q = 1; q < k; ++q) {
      for (int p = 0; p < n; ++p) {
        double best_d = std::numeric_limits<double>::infinity();
        for (int e = 0; e < q; ++e) {
          best_d = std::min(best_d, (y.row(p) - c.row(e)).squaredNorm());
        }
        d2[p] = best_d;
      }
      std::discrete_distribution<int> weighted(d2.data(), d2.data() + n);
      c.row(q) = y.row(d2.sum() > 0 ? weighted(rng) : pick(rng));
    }
    std::vector<int> label(n, 0);
    double inertia = 0;
    for (int it = 0; it < o.kmeans_iterations; ++it) {
      bool changed = false;
      inertia = 0;
      for (int p = 0; p < n; ++p) {
        int arg = 0;
        double bd = std::numeric_limits<double>::infinity();
        for (int e = 0; e < k; ++e) {
          const double d = (y.row(p) - c.row(e)).squaredNorm();
          if (d < bd) {
            bd = d;
            arg = e;
          }
        }
        changed = changed || arg != label[p];
        label[p] = arg;
        inertia += bd;
      }
      Matrix sum = Matrix::Zero(k, y.cols());
      std::vector<int> count(k, 0);
      for (int p = 0; p < n; ++p) {
        sum.row(label[p]) += y.row(p);
        ++count[label[p]];
      }
      for (int e = 0; e < k; ++e) {
        if (count[e] > 0) c.row(e) = sum.row(e) / count[e];
      }
      if (!changed && it > 0) break;
    }
    if (inertia < best.inertia) best = {label, c, inertia};
  }
  return best;
}

// Grid points whose patch reaches beyond the frame or holds more than 10 %
// non-finite pixels score on too few pixels (noisy scores, which the max-
// pooling then favours): each takes the descriptor of the nearest grid
// point whose patch is whole. Unchanged when there is none.
void FillFromInterior(const cv::Mat1b& finite,
                      int r,
                      const Grid& g,
                      Matrix& x) {
  cv::Mat1f finite_share;
  cv::boxFilter(finite, finite_share, CV_32F, cv::Size(2 * r + 1, 2 * r + 1),
                cv::Point(-1, -1), true, cv::BORDER_CONSTANT);
  cv::Mat1b outer(g.ny, g.nx, uchar{1});
  std::vector<int> interior;
  for (int i = 0; i < g.ny; ++i) {
    for (int j = 0; j < g.nx; ++j) {
      const int px = g.X(j), py = g.Y(i);
      const bool whole = px >= r && py >= r && px < finite.cols - r &&
                         py < finite.rows - r && finite_share(py, px) >= 0.9f;
      if (whole) {
        outer(i, j) = 0;
        interior.push_back(i * g.nx + j);
      }
    }
  }
  if (interior.empty() || static_cast<int>(interior.size()) == g.nx * g.ny) {
    return;
  }
  cv::Mat1f dist;
  cv::Mat1i label;
  cv::distanceTransform(outer, dist, label, cv::DIST_L2, cv::DIST_MASK_5,
                        cv::DIST_LABEL_PIXEL);
  // Label of each interior point → its row.
  std::vector<int> row_of_label;
  for (int q : interior) {
    const int l = label(q / g.nx, q % g.nx);
    if (l >= static_cast<int>(row_of_label.size())) {
      row_of_label.resize(l + 1, -1);
    }
    row_of_label[l] = q;
  }
  for (int i = 0; i < g.ny; ++i) {
    for (int j = 0; j < g.nx; ++j) {
      if (!outer(i, j)) continue;
      const int l = label(i, j);
      if (l >= 0 && l < static_cast<int>(row_of_label.size()) &&
          row_of_label[l] >= 0) {
        x.row(i * g.nx + j) = x.row(row_of_label[l]);
      }
    }
  }
}

// The scanner's distortion from the frame's own lattice (corner-hole
// candidates and their neighbour vectors, as the registration estimates
// them): `shape`, the area-preserving linear map that carries a regular
// hexagonal pair of vectors onto the estimated lattice vectors, and
// `scale`, the measured cell length over the nominal one. Identity and 1
// when no lattice is found or the map is implausible (axis ratio > 3,
// scale outside [0.5, 2]).
struct ScannerShape {
  Mat2 shape = Mat2::Identity();
  double scale = 1.0;
};

ScannerShape ShapeFromLattice(const cv::Mat1f& img, double px_nm) {
  const double cell_px = kCellNm / px_nm;
  const DetectResult det = DetectCornerHoles(img, cell_px, DetectOptions());
  if (!det.status.ok()) return {};
  const LatticeEstimate lat =
      EstimateLattice(det.candidates, cell_px, LatticeOptions());
  if (!lat.status.ok()) return {};
  Mat2 b;
  b.col(0) = lat.b1_px;
  b.col(1) = lat.b2_px;
  Mat2 hex;  // columns (1, 0) and (1/2, −√3/2): Cross < 0 as b1, b2
  hex << 1.0, 0.5, 0.0, -std::sqrt(3.0) / 2;
  Mat2 a = b * hex.inverse();
  const double det_a = std::abs(a.determinant());
  if (!(det_a > 0) || !a.allFinite()) return {};
  ScannerShape out;
  out.scale = std::sqrt(det_a) / cell_px;
  out.shape = a / std::sqrt(det_a);
  Eigen::JacobiSVD<Mat2> svd(out.shape);
  const auto sv = svd.singularValues();
  if (!(sv[0] <= 3.0 * sv[1]) || !(out.scale >= 0.5 && out.scale <= 2.0)) {
    return {};
  }
  return out;
}

SegmentResult Segment(const cv::Mat1f& image, const SegmentOptions& o) {
  SegmentResult res;
  const double px_nm = o.pixel_size_nm;
  // Lengths follow the measured cell when the frame shows the lattice.
  const ScannerShape scanner = o.undistort_from_lattice
                                   ? ShapeFromLattice(image, px_nm)
                                   : ScannerShape{};
  res.image_from_sample = scanner.shape;
  res.cell_scale = scanner.scale;
  const double len_px_nm = px_nm / scanner.scale;  // nm of the lattice per px
  const int r = Px(o.patch_radius_nm, len_px_nm, 2);
  if (image.cols < 2 * r + 2 || image.rows < 2 * r + 2) {
    res.status = Status::InvalidInput(
        "segment: the frame (" + std::to_string(image.cols) + " × " +
        std::to_string(image.rows) + " px) is smaller than the patch (" +
        std::to_string(2 * r + 1) + " px)");
    return res;
  }
  cv::Mat1b finite;
  const cv::Mat1f img = Filled(image, finite);
  Grid g;
  g.stride = o.stride_px;
  g.nx = (image.cols - 1) / g.stride + 1;
  g.ny = (image.rows - 1) / g.stride + 1;
  // Translation shifts on a grid within ±window, (0, 0) left out.
  const int w = Px(o.shift_window_nm, len_px_nm, 1);
  std::vector<cv::Point> shifts;
  for (int iy = 0; iy < o.shifts_per_axis; ++iy) {
    for (int ix = 0; ix < o.shifts_per_axis; ++ix) {
      const double fx = -1.0 + 2.0 * ix / (o.shifts_per_axis - 1);
      const double fy = -1.0 + 2.0 * iy / (o.shifts_per_axis - 1);
      const cv::Point t(static_cast<int>(std::lround(fx * w)),
                        static_cast<int>(std::lround(fy * w)));
      if (t == cv::Point(0, 0)) continue;
      shifts.push_back(t);
    }
  }
  const int n_trans = static_cast<int>(shifts.size());
  const int n_point = (o.rotations ? 4 : 0) + (o.reflections ? 6 : 0);
  Matrix x(g.nx * g.ny, n_trans + n_point);
  TranslationScores(img, finite, r, shifts, g, x, 0);
  int count = 0;
  const int pool = Px(o.pool_radius_nm, len_px_nm * g.stride, 0);
  PointScores(img, finite, res.image_from_sample, r, o.rotations, o.reflections,
              pool, g, x, n_trans, count);
  res.descriptor_length = static_cast<int>(x.cols());

  FillFromInterior(finite, r, g, x);

  // PCA (Sec. II B).
  const Eigen::RowVectorXd mean = x.colwise().mean();
  const Matrix centred = x.rowwise() - mean;
  const Matrix cov = centred.transpose() * centred / double(x.rows());
  Eigen::SelfAdjointEigenSolver<Matrix> eig(cov);
  const int p = std::min<int>(o.pca_components, static_cast<int>(x.cols()));
  const Matrix basis = eig.eigenvectors().rightCols(p);
  const Matrix y = centred * basis;
  const double total = eig.eigenvalues().sum();
  res.explained_variance =
      total > 0 ? eig.eigenvalues().tail(p).sum() / total : 0.0;

  // k-means (Sec. II C), k given or chosen.
  KMeans km = RunKMeans(y, 1, o);
  if (o.classes > 0) {
    km = RunKMeans(y, o.classes, o);
  } else {
    // The paper leaves k to the user; here each added class must remove at
    // least (1 − max_inertia_ratio) of the within-class sum of squares
    // left by one class fewer.
    for (int k = 2; k <= o.max_classes; ++k) {
      KMeans trial = RunKMeans(y, k, o);
      if (!(trial.inertia <= o.max_inertia_ratio * km.inertia)) break;
      km = std::move(trial);
    }
  }
  const int k = static_cast<int>(km.centres.rows());

  // Back to every pixel (Sec. II D): each class's feature distance,
  // interpolated bilinearly between grid points, nearest class wins.
  std::vector<cv::Mat1f> dist(k, cv::Mat1f(g.ny, g.nx));
  for (int e = 0; e < k; ++e) {
    dist[e] = cv::Mat1f(g.ny, g.nx);
    for (int q = 0; q < g.nx * g.ny; ++q) {
      dist[e](q / g.nx, q % g.nx) =
          static_cast<float>((y.row(q) - km.centres.row(e)).norm());
    }
  }
  res.labels = cv::Mat1i(image.size(), -1);
  std::vector<double> area(k, 0.0);
  double finite_px = 0;
  for (int yy = 0; yy < image.rows; ++yy) {
    for (int xx = 0; xx < image.cols; ++xx) {
      if (!finite(yy, xx)) continue;
      const double gx = double(xx) / g.stride, gy = double(yy) / g.stride;
      int best = 0;
      double bd = std::numeric_limits<double>::infinity();
      for (int e = 0; e < k; ++e) {
        const double d = BilinearReflect(dist[e], gx, gy);
        if (d < bd) {
          bd = d;
          best = e;
        }
      }
      res.labels(yy, xx) = best;
      area[best] += 1;
      finite_px += 1;
    }
  }
  // Per class: the 120° and 90° scores (the header).
  const int rot120 = o.rotations ? n_trans + 2 : -1;
  for (int e = 0; e < k; ++e) {
    SegmentClass c;
    c.label = e;
    c.area_fraction = finite_px > 0 ? area[e] / finite_px : 0.0;
    Eigen::RowVectorXd sum = Eigen::RowVectorXd::Zero(x.cols());
    int n = 0;
    for (int q = 0; q < x.rows(); ++q) {
      if (km.label[q] != e) continue;
      sum += x.row(q);
      ++n;
    }
    if (n > 0) sum /= n;
    c.rotation_120_score = rot120 >= 0 ? sum[rot120] : 0.0;
    c.rotation_90_score = rot120 >= 0 ? sum[rot120 - 1] : 0.0;
    c.looks_7x7 = c.rotation_120_score >= 0.6 &&
                  c.rotation_120_score > c.rotation_90_score;
    res.classes.push_back(c);
  }
  res.status = Status::Ok();
  return res;
}

}  // namespace

Status SegmentOptions::Validate() const {
  Violations v("segment");
  ANCHORD_OPTION_IN_OPEN(v, pixel_size_nm, 0.0, 1e4);
  ANCHORD_OPTION_IN_CLOSED(v, patch_radius_nm, 0.2, 20.0);
  ANCHORD_OPTION_IN_CLOSED(v, shift_window_nm, 0.1, 50.0);
  ANCHORD_OPTION_IN_CLOSED(v, shifts_per_axis, 2, 15);
  ANCHORD_OPTION_IN_CLOSED(v, pool_radius_nm, 0.0, 50.0);
  ANCHORD_OPTION_IN_CLOSED(v, stride_px, 1, 64);
  ANCHORD_OPTION_IN_CLOSED(v, pca_components, 1, 32);
  ANCHORD_OPTION_IN_CLOSED(v, classes, 0, 16);
  ANCHORD_OPTION_IN_CLOSED(v, max_classes, 1, 16);
  ANCHORD_OPTION_IN_OPEN(v, max_inertia_ratio, 0.0, 1.0);
  ANCHORD_OPTION_IN_CLOSED(v, kmeans_attempts, 1, 100);
  ANCHORD_OPTION_IN_CLOSED(v, kmeans_iterations, 1, 1000);
  v.Require(rotations || reflections || shifts_per_axis >= 2, "rotations",
            rotations, "some descriptor is on");
  return v.ToStatus();
}

SegmentResult SegmentFrame(const cv::Mat1f& image,
                           const SegmentOptions& options) {
  SegmentResult res;
  res.status = options.Validate();
  if (!res.status.ok()) return res;
  if (image.empty()) {
    res.status = Status::InvalidInput("segment: empty image");
    return res;
  }
  try {
    return Segment(image, options);
  } catch (const std::exception& e) {
    res.status = Status::Internal(std::string("segment: ") + e.what());
    return res;
  }
}

}  // namespace anchord
