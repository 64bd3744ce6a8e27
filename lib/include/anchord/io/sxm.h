#pragma once

// Reader for Nanonis .sxm scan files (header version 2, as written by the
// Nanonis SPM controller).
//
// Layout: text lines of `:KEY:` followed by value lines, up to the line
// `:SCANIT_END:`; then optional blank lines, the two bytes 0x1A 0x04, and
// the images as float32 (SCANIT_TYPE "FLOAT MSBFIRST": big-endian; "FLOAT
// LSBFIRST" is accepted too). The images follow the DATA_INFO table: for
// each channel in table order its forward image, then its backward image
// when the direction is "both". Each image is rows × cols samples in
// acquisition order: the first stored line is the first line scanned (the
// top for SCAN_DIR down, the bottom for up), and a backward line is stored
// in the order the tip moved, right to left.
//
// Parsing never reads outside the input, never throws, and gives
// kInvalidInput with a message starting "sxm: " and naming what is wrong
// for a malformed or truncated file.

#include "anchord/util/frame.h"
#include "anchord/util/status.h"

#include <opencv2/core.hpp>

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace anchord {

// The two traces of a scan line: forward (left to right in the scan frame)
// and backward (right to left).
enum class SxmTrace { kForward, kBackward };

// "forward" / "backward".
const char* SxmTraceName(SxmTrace trace);

// One row of the DATA_INFO table: a recorded signal.
struct SxmChannel {
  int index = -1;          // "Channel": controller signal index; -1 if absent
  std::string name;        // "Name": "Z", "Current", … (never empty)
  std::string unit;        // "Unit": "m", "A", …; empty if absent
  std::string direction;   // "Direction", lower case: both|forward|backward
  double calibration = 0;  // "Calibration"; 0 if absent
  double offset = 0;       // "Offset"; 0 if absent

  bool has_forward() const { return direction != "backward"; }
  bool has_backward() const { return direction != "forward"; }
};

// The header of an .sxm file. Lengths are converted from the file's metres
// to nm. Keys marked "required" make parsing fail when absent or invalid;
// the others take the stated default when absent but still fail parsing
// when present and not a finite number of the right kind.
struct SxmHeader {
  // SCAN_PIXELS (required): samples per line (x) and lines (y), each in
  // [1, kSxmMaxPixels].
  int cols = 0;
  int rows = 0;
  // SCAN_RANGE (required, > 0): size of the scan frame, nm.
  double range_x_nm = 0;
  double range_y_nm = 0;
  // SCAN_OFFSET: centre of the scan frame in scanner coordinates, nm.
  double offset_x_nm = 0;
  double offset_y_nm = 0;
  // SCAN_ANGLE: rotation of the scan frame, degrees, as the file says.
  double angle_deg = 0;
  // SCAN_DIR: "down" (first line at the top of the frame) or "up" (first
  // line at the bottom); "down" when absent.
  std::string scan_dir = "down";
  // SCAN_TIME (>= 0): duration of the forward and of the backward trace of
  // one line, s; 0 when absent.
  double line_time_forward_s = 0;
  double line_time_backward_s = 0;
  // BIAS: tip-sample bias, V.
  double bias_v = 0;
  // REC_DATE ("07.01.2016", day.month.year) and REC_TIME ("12:54:04") as
  // written; empty when absent.
  std::string rec_date;
  std::string rec_time;
  // REC_DATE + REC_TIME as ISO 8601 local time ("2016-01-07T12:54:04");
  // empty when either is absent or not a valid date/time.
  std::string acquired_at;
  // Z-CONTROLLER table (a line of column names, a line of values) as text:
  // "Name" -> "log Current", "Setpoint" -> "2.500E-10 A", …; empty if the
  // key is absent or the table has fewer than two lines.
  std::map<std::string, std::string> z_controller;
  // DATA_INFO (required, at least one row, names unique), in table (=
  // storage) order.
  std::vector<SxmChannel> channels;
  // Every header key (without the colons) -> its value lines, each
  // trimmed, joined with '\n'. The first occurrence of a repeated key wins.
  // Text is passed through as stored (Nanonis writes Windows-1252, so it
  // need not be valid UTF-8).
  std::map<std::string, std::string> fields;
};

// Largest accepted SCAN_PIXELS value along either axis.
inline constexpr int kSxmMaxPixels = 16384;
// The header (up to :SCANIT_END: and the 0x1A 0x04 marker) must end within
// this many bytes of the start of the file.
inline constexpr size_t kSxmMaxHeaderBytes = size_t{1} << 20;

// One stored image: a channel in one trace direction, as stored.
struct SxmImage {
  std::string channel;  // SxmChannel::name
  std::string unit;     // SxmChannel::unit
  SxmTrace trace = SxmTrace::kForward;
  // rows × cols in acquisition order (see the top of this file): row 0 is
  // the first line scanned, column 0 the first sample of the trace. NaN
  // (lines not scanned in an aborted frame) is kept.
  cv::Mat1f stored;
};

// A parsed .sxm file, or the reason it could not be parsed.
struct SxmFile {
  // kInvalidInput naming what is wrong (kInternal when out of memory);
  // header and images are then empty.
  Status status;
  std::string source;  // the path for ReadSxm; empty for ParseSxm
  SxmHeader header;
  std::vector<SxmImage> images;  // storage order: per channel fwd, then bwd
};

// Reads and parses the .sxm file at `path`. A missing or unreadable file
// gives kInvalidInput "cannot read PATH: reason"; otherwise as ParseSxm.
SxmFile ReadSxm(const std::string& path);

// Parses .sxm bytes already in memory: the header and every image. Bytes
// after the last image are ignored. Fails with kInvalidInput when a
// required key is missing or invalid, the header does not end within
// kSxmMaxHeaderBytes, the 0x1A 0x04 marker is missing, SCANIT_TYPE is not
// 32-bit float, or the data are shorter than the header promises. Never
// throws.
SxmFile ParseSxm(std::string_view bytes);

// "Z forward, Z backward, Current forward, …": the images of `file`, for
// messages and --help style listings.
std::string SxmImageList(const SxmFile& file);

// True when the header says the Z controller was off during the scan (a
// constant-height scan: Z is flat and the image is in the signal channel):
// the Z-CONTROLLER table's "on" column is 0.
bool SxmConstantHeight(const SxmHeader& header);

// The channel to register when none is asked for: "Z", unless the scan
// was taken at constant height (SxmConstantHeight), then its signal
// channel: the channel the Z controller regulates when the scan is under
// feedback (the Z-CONTROLLER "Name" without a leading "log ", e.g.
// "Current"), else the first of Current, Frequency_Shift, OC M1 Freq.
// Shift, Amplitude, Excitation that the file holds (ignoring case), else
// the first channel that is not Z; "Z" when there is no other.
std::string DefaultSxmChannel(const SxmHeader& header);

// Builds the canonical Frame (anchord/util/frame.h) of one image of a
// parsed file.
//
// `channel` matches SxmChannel::name, exactly first, else ignoring case.
// The image is a copy of the stored one, mirrored left-right for the
// backward trace (so pixel (x, y) of both traces shows the same nominal
// place) and flipped upside down for SCAN_DIR up (so row 0 is the top).
// Pixel sizes are range / pixels. Metadata: channel (the file's spelling),
// direction, source, scan angle and offset, bias, acquired_at,
// feedback_error (the channel is what the Z controller regulates, e.g.
// Current with "log Current" control on: its image is the error signal),
// and
// line_time_s = forward + backward trace time (the period of one scan line:
// the tip traces every line forward, then backward; e.g. 256 lines of
// 0.192 + 0.192 s = 98.3 s against ACQ_TIME 98.5 s in a real file).
// line_times_s[r] is when the trace of canonical row r started, relative
// to the start of the frame: (acquisition index of r) × line_time_s, plus
// the forward trace time for a backward image; the acquisition index of
// row r is r for a down scan and rows - 1 - r for an up scan. line_times_s
// is empty and line_time_s 0 when SCAN_TIME is absent or both times are 0.
//
// Fails with the file's status when it did not parse, with kInvalidInput
// listing the available images when `channel` has no image in `trace`,
// and with kInvalidInput when the image's size differs from SCAN_PIXELS
// (a hand-edited SxmFile). Never throws; on failure *out is unchanged.
Status ExtractSxmFrame(const SxmFile& file,
                       const std::string& channel,
                       SxmTrace trace,
                       Frame* out);

}  // namespace anchord
