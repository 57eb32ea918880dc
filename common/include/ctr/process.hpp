// ChildProcess: clone(2) a child into new namespaces, on a stack this object owns, and
// make sure it is reaped on every path.
#pragma once

#include <sys/types.h>  // pid_t

#include <chrono>      // std::chrono::milliseconds
#include <cstddef>     // size_t
#include <functional>  // std::function
#include <optional>    // std::optional
#include <string>      // std::string
#include <utility>     // std::exchange

#include "ctr/fd.hpp"

namespace ctr {

// How a process ended, as waitpid(2) reports it.
struct ExitStatus {
  bool exited = false;  // WIFEXITED: it called exit
  int code = 0;         // WEXITSTATUS when exited
  int signal = 0;       // WTERMSIG when killed by a signal
  bool core_dumped = false;

  static ExitStatus from_wait_status(int status);
  // What a shell would say in $?: the code, or 128 + the signal (docker does the same).
  int shell_code() const;
  // "exited with code 3", "killed by signal 9 (Killed)".
  std::string describe() const;
};

// Names the CLONE_* bits of flags: "CLONE_NEWNS|CLONE_NEWPID|SIGCHLD".
std::string clone_flags_to_string(int flags);

// The memory a clone(2) child runs on: a mapping of its own (mmap(2)) with an inaccessible
// guard page below it, so that a child that overflows its stack dies of SIGSEGV instead of
// silently writing over whatever lies below. The stack grows down: the child starts at top().
class CloneStack {
 public:
  CloneStack() = default;
  explicit CloneStack(size_t size);
  CloneStack(CloneStack&& other) noexcept;
  CloneStack& operator=(CloneStack&& other) noexcept;
  CloneStack(const CloneStack&) = delete;
  CloneStack& operator=(const CloneStack&) = delete;
  ~CloneStack();

  char* bottom() const noexcept { return base_ == nullptr ? nullptr : base_ + guard_; }
  char* top() const noexcept { return base_ == nullptr ? nullptr : base_ + length_; }
  size_t size() const noexcept { return length_ - guard_; }

 private:
  char* base_ = nullptr;  // the guard page, then the stack
  size_t length_ = 0;     // guard included
  size_t guard_ = 0;
};

class ChildProcess {
 public:
  using Entry = std::function<int()>;

  // clone(2) with flags (namespace flags; SIGCHLD is added so the parent can waitpid for it).
  // The child runs entry() and exits with its return value; it never returns into our
  // frames. With the child killed by SIGKILL when we die (PR_SET_PDEATHSIG, prctl(2)),
  // a container never outlives the runtime that started it.
  // With CLONE_VM | CLONE_VFORK in flags (posix_spawn(3)'s way) the child runs in our memory
  // and clone returns only once it has exec'd or exited: no page tables to copy, no
  // copy-on-write. The child must then change no object we use afterwards.
  static ChildProcess clone(int flags, Entry entry);
  // The same, the child born inside the cgroup2 directory open as `cgroup_fd` (clone3(2)
  // CLONE_INTO_CGROUP, Linux 5.7): no move afterwards, and none of the wait a move can cost
  // (cgroup.cpp, Cgroup::add_self). Empty where the kernel cannot (ENOSYS, E2BIG, EINVAL, said
  // in --explain) or on another architecture than x86-64: the caller then clones as above and
  // moves the child itself. `cgroup_dir` names the directory for --explain.
  static std::optional<ChildProcess> clone_into_cgroup(int flags, int cgroup_fd,
                                                       const std::string& cgroup_dir, Entry entry);

  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  // Unless waited for: SIGKILL and reap, so no child and no zombie outlives its owner.
  ~ChildProcess();

  pid_t pid() const noexcept { return pid_; }
  // Blocks until the child ends (waitpid, retried on EINTR).
  ExitStatus wait();
  // Like wait(), but once a terminating signal has been forwarded to the child (SIGINT,
  // SIGTERM, SIGHUP or SIGQUIT through SignalForwarder), gives it `grace` to end and then
  // sends SIGKILL: a PID 1 that ignores SIGTERM (as a shell does) cannot hold the runtime
  // forever. This is `docker stop`'s rule (grace 10 s by default); a second terminating
  // signal (^C twice) kills at once. *escalated tells if it came to that.
  ExitStatus wait_with_grace(std::chrono::milliseconds grace, bool* escalated = nullptr);
  // The status if it already ended, nullopt if it still runs (WNOHANG).
  std::optional<ExitStatus> try_wait();
  // kill(2); false when it already ended.
  bool kill(int sig) noexcept;
  // Gives the child up: no longer ours to kill or reap (an OCI container, whose parent is our
  // caller since clone(2) CLONE_PARENT, or whose pid the caller waits for). Returns its pid.
  pid_t release() noexcept { return std::exchange(pid_, -1); }

 private:
  ChildProcess(pid_t pid, CloneStack stack) noexcept;
  pid_t pid_ = -1;
  CloneStack stack_;  // the child's stack, owned here (clone(2) NOTES)
};

// prctl(PR_SET_PDEATHSIG, sig): the kernel sends sig to this process when its parent dies.
// Changing the effective uid or gid clears it (prctl(2)), so a child that changes
// credentials sets it again. If the parent already died before that, the child would never
// be told: then it exits at once (the parent's end of `watch_fd`, a socket, has hung up).
void set_parent_death_signal(int sig, int watch_fd = -1);

// pidfd_open(2): a descriptor that becomes readable when the process ends, so poll(2) can
// wait for a child and for other things at once. Empty on kernels before 5.3.
UniqueFd pidfd_open(pid_t pid);

// docker stop's rule, as a clock: from the first terminating signal forwarded to the
// container (SIGINT, SIGTERM, SIGHUP, SIGQUIT through SignalForwarder) it has `grace` to end;
// a second such signal (^C twice) means now.
class StopDeadline {
 public:
  explicit StopDeadline(std::chrono::milliseconds grace) : grace_(grace) {}
  // True once the container should get SIGKILL.
  bool expired();
  // Milliseconds until then, for poll(2); -1 while no signal has come.
  int timeout_ms();
  std::chrono::milliseconds grace() const noexcept { return grace_; }

 private:
  std::chrono::milliseconds grace_;
  std::optional<std::chrono::steady_clock::time_point> deadline_;
};

// Blocks SIGINT, SIGTERM, SIGHUP and SIGQUIT while it lives (sigprocmask(2)): a ^C during a
// runtime's setup then waits, pending, instead of killing the runtime before its destructors
// can give back what it made. Unblocking delivers it: install the SignalForwarder first. A
// child made meanwhile inherits the mask: it calls unblock_in_child() (signal(7): the mask
// survives fork and execve).
class DeferTerminatingSignals {
 public:
  DeferTerminatingSignals();
  ~DeferTerminatingSignals() { release(); }
  DeferTerminatingSignals(const DeferTerminatingSignals&) = delete;
  DeferTerminatingSignals& operator=(const DeferTerminatingSignals&) = delete;
  void release() noexcept;  // unblocks them now
  // One terminating signal that came meanwhile, taken off the queue (sigtimedwait(2) with
  // no wait), so that releasing no longer delivers it; 0 if none came.
  int take_pending() noexcept;
  static void unblock_in_child() noexcept;

 private:
  bool active_ = true;
};

// Forwards SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 sent to this process on to
// `pid` while the object lives, then restores the previous handlers. A container's PID 1
// gets the signal exactly as if it had been sent to it (what docker run does by default).
class SignalForwarder {
 public:
  explicit SignalForwarder(pid_t pid);
  ~SignalForwarder();
  SignalForwarder(const SignalForwarder&) = delete;
  SignalForwarder& operator=(const SignalForwarder&) = delete;
  // The last signal forwarded (0 if none): a caller may escalate after a grace period.
  static int last_signal() noexcept;
  // How many terminating signals (INT, TERM, HUP, QUIT) arrived: a second ^C means "now".
  static int terminating_count() noexcept;
};

}  // namespace ctr
