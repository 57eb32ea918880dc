// The engine: one container, from a Spec (runtime/spec.hpp) to its exit status. Every way of
// starting a container ends here: `run FLAGS` (through spec_from_flags), `run --config FILE`.
#pragma once

#include <string>

#include "runtime/spec.hpp"

namespace mycontainer {

// How to run the spec: what is about this run, not about the container.
struct RunRequest {
  std::string name;      // the container's name: state, cgroup and veth names derive from it
  std::string rootfs;    // spec.root.path made absolute (relative paths: from the bundle)
  bool timings = false;  // --timings: how long each phase took
};

// Runs the container in the foreground and returns the exit status docker would: the
// command's own, 128+N for a signal, 125/126/127 when the runtime or the exec failed.
int run_container(const Spec& spec, const RunRequest& request);

}  // namespace mycontainer
