// The engine: one container, from a Spec (runtime/spec.hpp) to its exit status. Every way of
// starting a container ends here: `run FLAGS` (through spec_from_flags), `run --config FILE`.
#pragma once

#include <optional>
#include <string>

#include "runtime/spec.hpp"

namespace mycontainer {

// OCI `create` (oci.hpp): the same phases, stopped before the command runs. The first process
// waits on the state directory's exec.fifo until `start`; what the foreground run owns (state
// directory, cgroup, veth, address lease, NAT rule) is recorded in the state and handed over
// to the container, and `delete` removes it.
struct CreateRequest {
  std::string bundle;          // absolute
  std::string pid_file;        // written atomically once the process waits ("" none)
  std::string console_socket;  // process.terminal: the master goes there (SCM_RIGHTS)
  int preserve_fds = 0;        // descriptors 3..3+N-1 pass to the container
  bool no_pivot = false;       // MS_MOVE + chroot instead of pivot_root
  // true: the caller (conmon, the shim: a subreaper) becomes the process's parent
  // (clone(2) CLONE_PARENT) and reaps it; false (`run ID` in the foreground): we are.
  bool caller_is_parent = true;
};

// How to run the spec: what is about this run, not about the container.
struct RunRequest {
  std::string name;      // the container's name: state, cgroup and veth names derive from it
  std::string rootfs;    // spec.root.path made absolute (relative paths: from the bundle)
  bool timings = false;  // --timings: how long each phase took
  std::optional<CreateRequest> create;  // OCI create: stop where the command waits for start
};

// Runs the container in the foreground and returns the exit status docker would: the
// command's own, 128+N for a signal, 125/126/127 when the runtime or the exec failed.
// With request.create: returns 0 once the first process waits for `start` (its pid is in the
// state), or 125/126/127 with nothing left behind.
int run_container(const Spec& spec, const RunRequest& request);

}  // namespace mycontainer
