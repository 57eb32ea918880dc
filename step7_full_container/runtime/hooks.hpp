// OCI hooks (config.md "POSIX-platform Hooks"): programs the engine asks the runtime to run
// at fixed points of a container's life, each given the container's state on its stdin.
// podman and containerd use them for the network (createRuntime: a CNI plugin that needs
// the container's network namespace before the process starts), for GPU devices (the NVIDIA
// container toolkit's createContainer hook) and for bookkeeping (poststop).
//
//   hook              when                                       where it runs
//   createRuntime     create, mounts made, before pivot_root     the runtime's namespaces
//   createContainer   create, after createRuntime, before        the container's namespaces
//                     pivot_root                                 (path resolved on the host)
//   startContainer    start, just before the user's process      as a process of the
//                                                                container: its namespaces,
//                                                                cgroup, user, capabilities,
//                                                                seccomp (path resolved inside;
//                                                                oci_commands.cpp, by exec's
//                                                                machinery)
//   poststart         start, after the user's process started    the runtime's namespaces
//   poststop          delete, after the container is gone        the runtime's namespaces
//   (prestart: deprecated, the same moment as createRuntime)
//
// A hook is path, args (argv, args[0] included, as execv(3) takes it), env and a timeout in
// seconds. One that exits non-zero or outlives its timeout fails the operation: for
// createRuntime, createContainer and startContainer the container is torn down (the spec:
// "the runtime MUST generate an error and stop the container"); a failing poststart or
// poststop is only reported.
#pragma once

#include <sys/types.h>  // pid_t

#include <map>        // std::map
#include <optional>   // std::optional
#include <stdexcept>  // std::runtime_error
#include <string>     // std::string
#include <vector>     // std::vector

#include "ctr/process.hpp"   // ctr::ExitStatus
#include "runtime/spec.hpp"  // mycontainer::Hook

namespace ctr {

// A hook that failed: "hooks.createRuntime[0] '/usr/bin/x': exited with code 3: <output>".
class HookError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Where a hook runs: by default in our own namespaces. For createContainer and startContainer
// the hook's process first joins the container's namespaces through a pidfd of the
// container's process (setns(2) with several CLONE_NEW* flags at once, Linux 5.8). Its pid
// namespace is not joined: that would take one more fork, and no hook needs it.
struct HookNamespaces {
  int pidfd = -1;            // the container's first process; -1: stay in ours
  int ns_flags = 0;          // CLONE_NEWNS | CLONE_NEWNET ... (CLONE_NEWPID is ignored)
  bool path_inside = false;  // startContainer: resolve path inside the container
};

// The OCI state a hook reads on its stdin (runtime.md "State"): what `state ID` prints, with
// the status of the moment ("creating" for createRuntime and createContainer, "created" for
// startContainer, "running" for poststart, "stopped" for poststop). One line of JSON.
std::string hook_state_json(const std::string& id, const std::string& status, pid_t pid,
                            const std::string& bundle,
                            const std::map<std::string, std::string>& annotations);

// Runs one hook and waits for it: its stdin is `state_json` (the OCI state, runtime.md
// "State"), its stdout and stderr are collected (the last 4 KiB go into the error message),
// no descriptor of ours reaches it. Without env it gets the runtime's environment, as runc
// does (Go's exec.Cmd with a nil Env). `where` names it in errors ("hooks.poststop[1]").
// Throws HookError when it cannot start, exits non-zero, is killed, or outlives its
// timeout (then it is killed with SIGKILL first). Narrated.
void run_hook(const mycontainer::Hook& hook, const std::string& state_json,
              const std::string& where, const HookNamespaces& ns = {});

// --- The parts of run_hook, for a hook started another way (startContainer: as a process of
// the container, by exec's machinery; oci_commands.cpp) ---
struct HookOutcome {
  std::string output;      // the last 4 KiB of its stdout and stderr, trailing blanks trimmed
  bool timed_out = false;  // killed with SIGKILL when its timeout was up
};
// Reads the hook's output from `output` until it ends or `timeout` seconds are up (then it is
// killed). pid must be our child, not yet reaped: the caller waits for it afterwards.
HookOutcome supervise_hook(int output, pid_t pid, std::optional<int> timeout);
// Throws HookError unless the hook exited with 0 in time; `name` is "hooks.X[i] 'PATH'".
void check_hook_outcome(const std::string& name, const HookOutcome& outcome,
                        const ExitStatus& status, std::optional<int> timeout);
// Writes the state into the hook's stdin pipe (a hook that never reads it is no error).
void feed_state(int fd, const std::string& state_json);

// Runs each hook of a list in order; the first failure stops it. `kind` is the list's JSON
// name ("createRuntime"), for messages.
void run_hooks(const std::vector<mycontainer::Hook>& hooks, const std::string& state_json,
               const std::string& kind, const HookNamespaces& ns = {});

}  // namespace ctr
