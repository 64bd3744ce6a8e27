#pragma once

// A Nanonis controller for tests: a TCP server on 127.0.0.1 that speaks
// the Nanonis TCP framing (daemon/instrument/nanonis_codec.h) and scans
// the simulated instrument (anchord/synth/simulated_instrument.h)
// continuously, frame after frame, applying the drift compensation and
// scan frame it is sent, so that simulator → bridge → daemon → bridge →
// simulator runs over loopback.
//
// Commands: Scan.WaitEndOfScan, Scan.FrameGet, Scan.FrameSet,
// Scan.FrameDataGrab (channel 30 "Z", the frame; channel 0 "Current", a
// constant; the other way round at constant height), Scan.BufferGet,
// Scan.SpeedGet, ZCtrl.OnOffGet, Piezo.DriftCompGet,
// Piezo.DriftCompSet (the new layout with the saturation limit, and the
// older one without). Anything else is answered with the error block set.
//
// Time: the instrument runs `time_scale` times faster than the wall
// clock, consistently: frame k ends at wall time start + (instrument time
// of its end − instrument start) / time_scale; Scan.SpeedGet reports line
// times divided by time_scale, Piezo.DriftCompGet velocities multiplied
// by it, and a velocity set is divided by it. A client that timestamps
// with the wall clock therefore sees a world that is the instrument's,
// sped up: distances are the same, times shorter, velocities larger. A
// compensation set at wall time t applies from the corresponding
// instrument time on (SetDriftCompensationAt); a scan frame set applies
// from the next frame.
//
// States: constructed → Start() → scanning and listening →
// StopListening() (a controller restart: the port closes, connections
// drop, the scan goes on) → ResumeListening() (the same port) … → Stop()
// or the destructor. Thread-safe: the scan runs on one thread, the server
// on another.

#include "anchord/synth/simulated_instrument.h"
#include "anchord/util/geometry.h"
#include "anchord/util/status.h"

#include "daemon/instrument/instrument_loop.h"

#include <cstdint>
#include <memory>
#include <vector>

namespace anchord::testing {

struct NanonisSimulatorOptions {
  // The virtual sample and scanner (its frame_gap_s is the dead time
  // between frames).
  SimulatedInstrumentOptions instrument;
  // Instrument seconds per wall-clock second. Default 1; > 0.
  double time_scale = 1;
  // Port on 127.0.0.1; 0 = one the kernel picks.
  int port = 0;
  // Saturation limit reported by Piezo.DriftCompGet (percent); < 0: the
  // older reply without it. Default 10.
  float saturation_limit_percent = 10;
  // A constant-height scan: ZCtrl.OnOffGet answers off, Z is flat and the
  // image is in "Current". Default false (Z holds the image).
  bool constant_height = false;
};

class NanonisSimulator {
 public:
  explicit NanonisSimulator(NanonisSimulatorOptions options);
  ~NanonisSimulator();
  NanonisSimulator(const NanonisSimulator&) = delete;
  NanonisSimulator& operator=(const NanonisSimulator&) = delete;

  // Listens and starts scanning. kInternal when the port cannot be bound.
  Status Start();
  // The port listened on (after Start()).
  int port() const;
  // Closes the port and every connection (the scan goes on).
  void StopListening();
  // Listens on the same port again. kInternal when it cannot be bound.
  Status ResumeListening();
  // Stops scanning and listening.
  void Stop();

  // The frames scanned so far with the instrument's truth (the drift
  // field of each is empty).
  std::vector<daemon::LoopFrame> frames() const;
  int64_t frames_scanned() const;
  // Connections accepted and Piezo.DriftCompSet requests taken so far.
  int connections() const;
  int drift_sets() const;
  // The compensation velocity in force now, instrument nm/s.
  Vec2 compensation_nm_per_s() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace anchord::testing
