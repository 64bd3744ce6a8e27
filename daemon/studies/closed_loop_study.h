#pragma once

// `anchord study closed-loop`: the closed-loop drift figure (residual
// drift with and without compensation). One daemon in this process
// (in-memory catalog) and the simulated instrument, run twice over the
// same sample and drift: once watching only (compensation off), once
// setting the compensation to every published drift velocity (on).
// Reports the residual drift from the instrument's truth and the ratio
// off / on.

#include <iosfwd>
#include <string>
#include <vector>

namespace anchord::daemon {

// Exit status 0 when both runs completed (whatever the ratio), 1 when the
// daemon or a run failed, 2 on a usage error.
int RunClosedLoopStudy(const std::vector<std::string>& args);
void PrintClosedLoopHelp(std::ostream& out);

}  // namespace anchord::daemon
