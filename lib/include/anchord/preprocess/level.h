#pragma once

#include "anchord/util/frame.h"
#include "anchord/util/status.h"

#include <vector>

namespace anchord {

// Options of the levelling step of the registration pipeline
// (anchord/pipeline/register_frame.h).
struct LevelOptions {
  // Subtract a least-squares plane fitted to the pixels between these
  // quantiles (robust to holes, adsorbates and spikes). Default true.
  bool remove_plane = true;
  // Subtract each row's robust (clipped) mean after the plane: removes
  // per-line offsets of the fast scan. Default true.
  bool level_lines = true;
  // A row is a glitch when its mean absolute difference from the rows
  // above and below exceeds this many times the frame's typical value.
  // Default 4; > 1.
  double glitch_threshold = 4.0;
  // Mask glitch rows and rows with non-finite pixels; masked rows are
  // filled from the nearest good rows. Default true.
  bool mask_glitches = true;
  // Maximum share of masked rows before the frame is rejected. Default 0.5.
  double max_masked_row_fraction = 0.5;

  Status Validate() const;
};

// Levelled frame: the image scaled to unit robust spread (so thresholds
// downstream are scale-free) with a per-row validity mask.
struct LevelResult {
  Status status;
  cv::Mat1f image;           // levelled, finite everywhere
  std::vector<bool> row_ok;  // false for masked rows
  int masked_rows = 0;
  double scale = 1.0;  // raw units per levelled unit
  // The frame after filling and plane removal, before per-line levelling
  // and glitch masking, raw units (what a second, lattice-aware levelling
  // folds into the mean cell). Empty when level_lines is off.
  cv::Mat1f plane_removed;
};

// Plane removal, per-line levelling and glitch masking. Never throws; an
// empty or all-NaN frame gives kInvalidInput, a frame without contrast
// beyond a plane gives kNoLattice.
//
// lattice_signal (optional; raw units, the size of `raw`): the lattice's
// own height after plane removal, e.g. the frame's mean unit cell
// rendered through a first registration (anchord/correct/unit_cell.h).
// When given, each row's offset is the clipped mean of the row minus
// this signal: a row of the lattice running along the fast axis then
// does not pass for a line offset (a plain row mean holds the lattice's
// row profile; subtracting it moves the corner holes by up to a pixel
// when a lattice row is within ~2° of the fast axis). A signal of
// another size is ignored.
LevelResult Level(const cv::Mat1f& raw,
                  const LevelOptions& options,
                  const cv::Mat1f& lattice_signal = cv::Mat1f());

}  // namespace anchord
