// anchord_register_bench: the benchmark program behind `make bench`. It is
// `anchord bench` under its own name — one implementation, in
// daemon/studies/bench_command.cc (what is measured and how is documented in
// daemon/studies/bench_command.h); the arguments are the same.

#include "daemon/studies/bench_command.h"

#include <string>
#include <vector>

int main(int argc, char** argv) {
  return anchord::daemon::RunBenchCommand(
      std::vector<std::string>(argv + 1, argv + argc));
}
