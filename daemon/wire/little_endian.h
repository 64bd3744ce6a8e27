#pragma once

// Little-endian byte order of the wire's pixel payloads (Frame.pixels,
// CorrectedFrame.pixels), whatever the host's order. Internal to
// daemon/wire.

#include <opencv2/core.hpp>

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstring>
#include <string>

namespace anchord::daemon {

// Reads one little-endian T at `p` (no alignment required).
template <typename T>
T LoadLittleEndian(const char* p) {
  std::array<char, sizeof(T)> b;
  std::memcpy(b.data(), p, sizeof(T));
  if constexpr (std::endian::native == std::endian::big) {
    std::reverse(b.begin(), b.end());
  }
  T value;
  std::memcpy(&value, b.data(), sizeof(T));
  return value;
}

// Appends the rows of `image` as little-endian float32 to `out`.
inline void AppendFloat32LittleEndian(const cv::Mat1f& image,
                                      std::string* out) {
  out->reserve(out->size() + image.total() * sizeof(float));
  for (int r = 0; r < image.rows; ++r) {
    const float* row = image.ptr<float>(r);
    if constexpr (std::endian::native == std::endian::little) {
      out->append(reinterpret_cast<const char*>(row),
                  static_cast<size_t>(image.cols) * sizeof(float));
    } else {
      for (int c = 0; c < image.cols; ++c) {
        std::array<char, sizeof(float)> b;
        std::memcpy(b.data(), &row[c], sizeof(float));
        out->append(b.rbegin(), b.rend());
      }
    }
  }
}

}  // namespace anchord::daemon
