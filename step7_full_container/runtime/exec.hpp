// `mycontainer exec`: a new process in a container that already runs (`docker exec`,
// `podman exec`, `kubectl exec`). Not a new container: the same namespaces, the same cgroup,
// the same hardening, entered from outside.
//
//   mycontainer exec (P)              intermediate (C)                  the new process (G)
//   --------------------              ----------------                  -------------------
//   close inherited descriptors
//   pidfd_open(container's pid)
//   open cgroup.procs of each tree
//   compile the container's seccomp
//   clone C -------------------------> not dumpable
//                                      write 0 to each cgroup.procs
//                                      setns(pidfd, CLONE_NEWUSER|NEWNS|
//                                            NEWNET|NEWPID|...)
//                                      clone(CLONE_PARENT) --------------> in the pid namespace
//                                      pid of G -> P, _exit               setsid or a terminal
//   read G's pid  <-------------------                                    working directory,
//   reap C                                                                resolved inside
//   wait for G's exec <-------------------------------------------------- limits, no_new_privs,
//   --detach: return its pid                                              seccomp, user, caps
//   else: wait for G, its exit code                                       execve
//
// Why the intermediate process: setns(2) into a pid namespace changes only where the
// caller's *children* go (pid_namespaces(7)), so the process that runs the command must be
// forked after setns. CLONE_PARENT makes that process our child rather than C's, so that we
// can wait for it (and, with --detach, so that when we exit it goes to the caller, a
// subreaper like conmon or containerd's shim, which collects its exit code).
//
// One setns(2) call on a pidfd joins every namespace at once, user namespace first (Linux
// 5.8): no /proc/PID/ns paths to race with a pid being reused.
#pragma once

#include <sys/types.h>  // pid_t

#include <functional>  // std::function
#include <optional>    // std::optional
#include <string>      // std::string
#include <vector>      // std::vector

#include "runtime/seccomp.hpp"  // ctr::BpfProgram
#include "runtime/spec.hpp"     // mycontainer::Process

namespace mycontainer {

// The container to enter, from its state.
struct ExecTarget {
  pid_t pid = 0;                      // its first process, as the host numbers it
  unsigned long long start_time = 0;  // that process's start time (proc(5) field 22); 0: unchecked
  std::vector<std::string> cgroup_dirs;  // one per hierarchy; empty: rootless, no cgroup
};

// What to run there, and how.
struct ExecRequest {
  Process process;          // process.json, or the container's process with the args replaced
  ctr::BpfProgram seccomp;  // the container's filter, compiled (empty: none)
  bool detach = false;      // return once it runs, leave it to our caller
  int console_socket = -1;  // with process.terminal: where the terminal's master goes
  int preserve_fds = 0;     // descriptors 3..3+N-1 of ours pass on to it (exec --preserve-fds)
  // Called with the new process's pid once it runs (has exec'd), before any waiting: where
  // `exec --pid-file` writes its file.
  std::function<void(pid_t)> on_start;
};

struct ExecResult {
  pid_t pid = 0;                 // the new process, as the host numbers it
  std::optional<int> exit_code;  // without detach: its shell code (128+N for signal N)
};

// Starts the process in the container; without detach, also waits for it (forwarding
// SIGINT, SIGTERM... to it, and relaying its terminal when there is no console socket).
// Throws UsageError when the container is not running; a setup error of the new process
// (its working directory, a missing command) comes back as ctr::SyscallError or UsageError
// with the 125/126/127 exit code in ExecError.
ExecResult exec_in_container(const ExecTarget& target, const ExecRequest& request);

// The new process could not start: message and exit code (126: cannot execute, 127: not
// found, 125: anything else), as the engine reports a container that could not start.
class ExecError : public std::runtime_error {
 public:
  ExecError(int exit_code, const std::string& message)
      : std::runtime_error(message), exit_code_(exit_code) {}
  int exit_code() const noexcept { return exit_code_; }

 private:
  int exit_code_;
};

// The CLONE_NEW* flags of the namespaces pid lives in that differ from ours (/proc/PID/ns/*
// compared with /proc/self/ns/*, by inode): what exec joins. Throws SyscallError when pid is
// gone.
int namespaces_to_join(pid_t pid);

// Gives this process the credentials of `process`: the bounding set, the supplementary
// groups, gid and uid (keeping capabilities across the uid change, PR_SET_KEEPCAPS), then
// permitted, effective and inheritable (capset(2)) and the ambient set. runc's order.
// `setgroups_allowed`: false in a user namespace whose /proc/PID/setgroups is "deny".
void apply_process_credentials(const Process& process, bool setgroups_allowed);

}  // namespace mycontainer
