#pragma once

namespace anchord::daemon {

// Process exit status of every subcommand: success, a failure while
// working (an unreadable input, a socket that cannot be bound, a file
// that cannot be written), and a usage error.
constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

}  // namespace anchord::daemon
