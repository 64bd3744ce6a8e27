#include "daemon/instrument/sequence.h"

#include "anchord/util/check.h"

#include <cmath>
#include <cstdio>

namespace anchord::daemon {
namespace {

// SplitMix64 finaliser: a bijection of 64-bit integers that spreads
// neighbouring inputs over the whole range.
uint64_t Mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

}  // namespace

InboundFrame SimulatedInbound(const SimulatedFrame& frame,
                              const std::string& instrument,
                              const std::string& session,
                              uint64_t frame_id) {
  InboundFrame in;
  in.frame_id = frame_id;
  in.instrument = instrument;
  in.session = session;
  in.acquired_unix_ns = static_cast<int64_t>(
      std::llround(frame.scan.frame.acquired_unix_s * 1e9));
  in.frame = frame.scan.frame;
  return in;
}

Status SyntheticSequence::Validate() const {
  const Status valid = base.Validate();
  if (!valid.ok()) return valid;
  if (!std::isfinite(drift_nm_per_frame.x()) ||
      !std::isfinite(drift_nm_per_frame.y())) {
    return Status::InvalidInput(
        "sequence: drift_nm_per_frame is not finite. Violated constraint: "
        "finite");
  }
  return Status::Ok();
}

uint64_t SyntheticSequence::NoiseSeed(int64_t k) const {
  ANCHORD_CHECK(k >= 0) << "frame index " << k;
  // 0 would mean "reuse the structure seed's noise".
  const uint64_t seed = Mix(Mix(base.seed) + static_cast<uint64_t>(k));
  return seed == 0 ? 1 : seed;
}

SyntheticScanOptions SyntheticSequence::Options(int64_t k) const {
  SyntheticScanOptions o = base;
  o.offset_nm = base.offset_nm + static_cast<double>(k) * drift_nm_per_frame;
  o.noise_seed = NoiseSeed(k);
  return o;
}

SyntheticScan SyntheticSequence::Truth(int64_t k) const {
  const Status valid = Validate();
  ANCHORD_CHECK(valid.ok()) << valid.message();
  return MakeSyntheticScan(Options(k));
}

InboundFrame SyntheticSequence::Inbound(int64_t k) const {
  return Inbound(k, Truth(k));
}

InboundFrame SyntheticSequence::Inbound(int64_t k,
                                        const SyntheticScan& truth) const {
  InboundFrame in;
  in.frame_id = first_frame_id + static_cast<uint64_t>(k);
  in.instrument = instrument;
  in.session = session;
  in.acquired_unix_ns = 0;
  in.frame = truth.frame;
  const Vec2 offset = Options(k).offset_nm;
  char suffix[96];
  std::snprintf(suffix, sizeof suffix, " k=%lld offset_nm=%.3f,%.3f",
                static_cast<long long>(k), offset.x(), offset.y());
  in.frame.source = truth.frame.source + suffix;
  return in;
}

}  // namespace anchord::daemon
