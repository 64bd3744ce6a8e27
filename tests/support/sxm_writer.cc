#include "support/sxm_writer.h"

#include <bit>
#include <cstdint>
#include <cstdio>
#include <fstream>

namespace anchord::testing {
namespace {

std::string Sci(double v) {
  char text[32];
  std::snprintf(text, sizeof text, "%.6E", v);
  return text;
}

}  // namespace

std::string SxmBytes(const SxmWriteSpec& s) {
  const int rows = s.channels.empty() ? 0 : s.channels[0].forward.rows;
  const int cols = s.channels.empty() ? 0 : s.channels[0].forward.cols;
  std::string h;
  const auto key = [&h](const std::string& k, const std::string& v) {
    h += ":" + k + ":\n" + v + "\n";
  };
  key("NANONIS_VERSION", "2");
  key("SCANIT_TYPE", "              FLOAT            MSBFIRST");
  key("REC_DATE", " " + s.rec_date);
  key("REC_TIME", s.rec_time);
  key("ACQ_TIME", "       " + std::to_string(rows * s.line_time_s));
  key("SCAN_PIXELS",
      "       " + std::to_string(cols) + "       " + std::to_string(rows));
  key("SCAN_TIME", "             " + Sci(s.line_time_s / 2) + "             " +
                       Sci(s.line_time_s / 2));
  key("SCAN_RANGE", "           " + Sci(s.range_x_nm * 1e-9) + "           " +
                        Sci(s.range_y_nm * 1e-9));
  key("SCAN_OFFSET", "             0.000000E+0         0.000000E+0");
  key("SCAN_ANGLE", "            0.000E+0");
  key("SCAN_DIR", "down");
  key("BIAS", "            -2.000E+0");
  key("Z-CONTROLLER",
      "\tName\ton\tSetpoint\tP-gain\tI-gain\tT-const\n\t" +
          s.z_controller_name + "\t" + (s.z_controller_on ? "1" : "0") +
          "\t2.500E-10 A\t7.428E-12 m\t6.551E-8 m/s\t1.134E-4 s");
  std::string info = "\tChannel\tName\tUnit\tDirection\tCalibration\tOffset";
  int index = 14;
  for (const SxmChannelImage& c : s.channels) {
    info += "\n\t" + std::to_string(index--) + "\t" + c.name + "\t" + c.unit +
            "\tforward\t1.000E+0\t0.000E+0";
  }
  key("DATA_INFO", info + "\n");
  std::string out = h + ":SCANIT_END:\n\n\n\x1a\x04";
  for (const SxmChannelImage& c : s.channels) {
    for (int r = 0; r < c.forward.rows; ++r) {
      for (int x = 0; x < c.forward.cols; ++x) {
        const auto bits = std::bit_cast<uint32_t>(c.forward(r, x));
        for (int i = 0; i < 4; ++i) {
          out.push_back(static_cast<char>((bits >> (24 - 8 * i)) & 0xff));
        }
      }
    }
  }
  return out;
}

bool WriteSxm(const std::string& path, const SxmWriteSpec& spec) {
  std::ofstream f(path, std::ios::binary);
  const std::string bytes = SxmBytes(spec);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return static_cast<bool>(f);
}

}  // namespace anchord::testing
