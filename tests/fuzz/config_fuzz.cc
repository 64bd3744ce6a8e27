// libFuzzer target for the TOML configuration loader: LoadConfigString on
// the input. A configuration that loads must be valid and survive
// ToToml → LoadConfigString unchanged (what SIGHUP and CurrentConfig
// rely on).

#include "daemon/config/config.h"
#include "fuzz_check.h"

#include <cstddef>
#include <cstdint>
#include <string_view>

using anchord::fuzz::Check;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const anchord::daemon::LoadedConfig loaded =
      anchord::daemon::LoadConfigString(text, "fuzz.toml");
  if (!loaded.status.ok()) {
    Check(loaded.config == nullptr, "no config with an error");
    return 0;
  }
  Check(loaded.config != nullptr, "a config on success");
  Check(loaded.config->Validate().ok(), "a loaded config is valid");
  const anchord::daemon::LoadedConfig again = anchord::daemon::LoadConfigString(
      anchord::daemon::ToToml(*loaded.config), "round-trip.toml");
  Check(again.status.ok(), "ToToml output loads");
  Check(*again.config == *loaded.config, "ToToml round trip is exact");
  return 0;
}
