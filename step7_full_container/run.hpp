// `mycontainer run`: one container from start to end.
#pragma once

#include "options.hpp"

namespace mycontainer {

// Runs the container and returns the exit status docker would: the command's own, 128+N
// for a signal, 125/126/127 when the runtime or the exec failed.
int run(const RunOptions& options);

}  // namespace mycontainer
