// Constant-height scans: with the Z controller off, Z is flat and the
// image is in the signal channel; DefaultSxmChannel picks it.

#include "anchord/io/sxm.h"
#include "anchord/model/lattice_model.h"
#include "anchord/pipeline/register_frame.h"
#include "anchord/synth/synthetic_scan.h"

#include "support/sxm_writer.h"
#include <doctest/doctest.h>

namespace anchord {
namespace {

// A synthetic frame saved as a constant-height scan: Z flat (the tip
// height held), the topography in the current channel.
testing::SxmWriteSpec ConstantHeight(const SyntheticScan& scan, bool on) {
  testing::SxmWriteSpec spec;
  cv::Mat1f flat(scan.frame.image.size(), 1.5e-9f);
  spec.channels = {{"Z", "m", flat}, {"Current", "A", scan.frame.image}};
  spec.range_x_nm = scan.frame.pixel_size_x_nm * scan.frame.image.cols;
  spec.range_y_nm = scan.frame.pixel_size_y_nm * scan.frame.image.rows;
  spec.z_controller_on = on;
  return spec;
}

TEST_CASE(
    "the default channel: Z under feedback, the signal at constant "
    "height") {
  const SyntheticScan scan =
      MakeSyntheticScan(ModeratelyDistortedScan(3, 64, 8));
  SxmFile on = ParseSxm(testing::SxmBytes(ConstantHeight(scan, true)));
  REQUIRE(on.status.ok());
  CHECK(!SxmConstantHeight(on.header));
  CHECK(DefaultSxmChannel(on.header) == "Z");

  SxmFile off = ParseSxm(testing::SxmBytes(ConstantHeight(scan, false)));
  REQUIRE(off.status.ok());
  CHECK(SxmConstantHeight(off.header));
  CHECK(DefaultSxmChannel(off.header) == "Current");

  // An AFM frequency-shift channel when the regulated signal is absent.
  testing::SxmWriteSpec afm = ConstantHeight(scan, false);
  afm.z_controller_name = "Amplitude";
  afm.channels[1].name = "Frequency_Shift";
  afm.channels[1].unit = "Hz";
  SxmFile f = ParseSxm(testing::SxmBytes(afm));
  REQUIRE(f.status.ok());
  CHECK(DefaultSxmChannel(f.header) == "Frequency_Shift");

  // Only Z: Z.
  testing::SxmWriteSpec z_only = ConstantHeight(scan, false);
  z_only.channels.resize(1);
  SxmFile z = ParseSxm(testing::SxmBytes(z_only));
  REQUIRE(z.status.ok());
  CHECK(DefaultSxmChannel(z.header) == "Z");
}

TEST_CASE("a constant-height .sxm registers on its signal channel") {
  const SyntheticScan scan =
      MakeSyntheticScan(ModeratelyDistortedScan(7, 256, 15.0));
  const SxmFile file = ParseSxm(testing::SxmBytes(ConstantHeight(scan, false)));
  REQUIRE(file.status.ok());
  const std::string channel = DefaultSxmChannel(file.header);
  REQUIRE(channel == "Current");
  Frame frame;
  REQUIRE(ExtractSxmFrame(file, channel, SxmTrace::kForward, &frame).ok());
  CHECK(frame.channel == "Current");
  CHECK(!frame.feedback_error);  // no loop: the current is the topography
  const FrameResult r =
      RegisterFrame(frame, MakeSi7x7Model(), PipelineOptions());
  CHECK_MESSAGE(r.status.ok(), r.status.message());

  // The flat Z of the same file holds no lattice.
  Frame z;
  REQUIRE(ExtractSxmFrame(file, "Z", SxmTrace::kForward, &z).ok());
  const FrameResult rz = RegisterFrame(z, MakeSi7x7Model(), PipelineOptions());
  CHECK(!rz.status.ok());
}

}  // namespace
}  // namespace anchord
