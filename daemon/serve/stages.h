#pragma once

#include "anchord/model/lattice_model.h"

#include "daemon/serve/stage.h"

#include <memory>
#include <vector>

namespace anchord::daemon {

// Parses and validates the wire message (wire.h DecodeFrame with the
// configured limits). A bad frame keeps its ids when they could be read,
// so it is still answered with an invalid_input result.
class DecodeStage final : public Stage {
 public:
  const char* name() const override { return "decode"; }
  bool Process(Job& job) override;
};

// Registers a decoded frame against the model (anchord::RegisterFrame with
// the job's configuration snapshot). Skips frames that failed to decode.
// no_lattice is a normal outcome, not a stage error.
class RegisterStage final : public Stage {
 public:
  explicit RegisterStage(LatticeModel model) : model_(std::move(model)) {}
  const char* name() const override { return "register"; }
  bool Process(Job& job) override;

 private:
  const LatticeModel model_;
};

// Builds the outgoing messages: always a registration result (whatever
// the status); for a registered frame also corrected and sites. (Drift
// and defects come from the ordered TrackStage.)
class EncodeStage final : public Stage {
 public:
  explicit EncodeStage(LatticeModel model) : model_(std::move(model)) {}
  const char* name() const override { return "encode"; }
  bool Process(Job& job) override;

 private:
  const LatticeModel model_;
};

// decode → register → encode, for the Si(111)-7×7 model.
std::vector<std::unique_ptr<Stage>> MakeDaemonStages();

}  // namespace anchord::daemon
