#pragma once

#include "anchord/util/frame.h"
#include "anchord/util/status.h"

#include <opencv2/core.hpp>

#include <string>
#include <string_view>

namespace anchord {

// A 2-D image read from a file, as float32, with the reason when it failed.
struct ReadImageResult {
  Status status;  // kInvalidInput with a message naming what is wrong
  cv::Mat1f image;
};

// Reads a NumPy .npy file holding a 2-D float32 or float64 array (either
// byte order, C or Fortran order). Never reads past the file; a malformed
// or truncated file gives kInvalidInput.
ReadImageResult ReadNpy(const std::string& path);
// Parses .npy bytes already in memory (same contract as ReadNpy).
ReadImageResult ParseNpy(const std::string& bytes);

// Writes a 2-D float32 array as .npy (little-endian, C order).
Status WriteNpy(const std::string& path, const cv::Mat1f& image);
// Writes a two-channel float32 image (e.g. a displacement field) as an
// H × W × 2 .npy array (little-endian, C order, channels innermost).
Status WriteNpy(const std::string& path, const cv::Mat2f& field);
// Writes a 2-D int32 array (e.g. a label map) as .npy ('<i4', C order).
Status WriteNpy(const std::string& path, const cv::Mat1i& labels);

// Largest side of a .tif/.tiff/.png image the readers decode, px (the same
// bound as an .sxm SCAN_PIXELS value). The side is read from the file's
// header before any pixel is decoded, so a small compressed file that
// claims a huge image (a "PNG bomb") is refused without allocating it.
inline constexpr int kMaxRasterSidePx = 16384;

// Reads a .tif/.tiff (float32, 8- or 16-bit grey) or .png (8/16-bit grey;
// colour is converted to grey) into float32. The file is read whole (at
// most kMaxInputFileBytes) and decoded from memory; a side over
// kMaxRasterSidePx, or a header the size cannot be read from, gives
// kInvalidInput before decoding.
ReadImageResult ReadRasterImage(const std::string& path);

// Decodes PNG or TIFF bytes already in memory (same checks as
// ReadRasterImage); `name` names the source in messages.
ReadImageResult DecodeRasterImage(std::string_view bytes,
                                  const std::string& name);

// Reads any supported input by extension: .npy, .tif, .tiff, .png. The
// frame's pixel size is left 0; the caller sets it.
ReadImageResult ReadImageFile(const std::string& path);

// Writes a float32 frame as a 32-bit float TIFF (NaN preserved).
Status WriteFloatTiff(const std::string& path, const cv::Mat1f& image);

}  // namespace anchord
