// Handshake: the parent and the child of a container talk over a socketpair(2).
//
//   parent                               child
//   ------                               -----
//   clone() ---------------------------> wait_for_parent()   (blocks)
//   set up the host side (maps, veth,
//   cgroup) for the child's pid
//   release_child() -------------------> builds its world (mounts, pivot_root, ...)
//   wait_for_exec()  <------------------ report_error() and _exit   on failure
//                    <------------------ (EOF)                     on a successful execve
//
// The child's end is close-on-exec, so a successful execve(2) closes it: the parent reads EOF
// and knows the command runs. A setup error in the child comes back as a message and an exit
// code, so the parent prints one clear line, not the child.
#pragma once

#include <unistd.h>  // close(2)

#include <optional>  // std::optional
#include <string>    // std::string
#include <vector>    // std::vector

#include "ctr/error.hpp"
#include "ctr/fd.hpp"

namespace ctr {

// Passes a descriptor over a unix socket: sendmsg(2) with SCM_RIGHTS (unix(7)). The receiver
// gets a new descriptor for the same open file, like dup(2) across processes.
void send_fd(int sock, int fd);
// Receives one descriptor sent by send_fd(), close-on-exec (MSG_CMSG_CLOEXEC). Returns an
// empty UniqueFd when the peer closed the socket without sending one (its setup failed: the
// handshake says why). Throws SyscallError, or std::runtime_error if a message came without
// a descriptor.
UniqueFd recv_fd(int sock);

struct ChildError {
  int exit_code = 125;  // 125 runtime failed, 126 cannot execute, 127 not found
  std::string message;  // one line, already with its hint
};

class Handshake {
 public:
  Handshake();  // socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC)

  // --- in the parent, after clone ---
  void close_child_end() noexcept { child_.reset(); }
  // Lets the child go on with its setup (a child that already gave up is not an error
  // here: wait_for_exec() reports why).
  void release_child();
  // Blocks until the child sends a descriptor (send_fd), and returns it; an empty UniqueFd
  // when the child gave up first: wait_for_exec() then says why.
  UniqueFd receive_fd();
  // Blocks until the child says it reached a point where it waits for us (report_ready):
  // true; false when it gave up first (a setup error, or EOF): wait_for_exec() then says
  // why. Step 7's OCI create runs its createRuntime and createContainer hooks there.
  bool wait_for_ready();
  // Blocks until the child has exec'd (nullopt) or reported a setup error. Notes the child
  // sent on the way (send_note) are appended to *notes if given.
  std::optional<ChildError> wait_for_exec(std::vector<std::string>* notes = nullptr);

  // --- in the child ---
  // Closes the child's copy of the parent's end: the descriptor only. A child started with
  // CLONE_VM shares this object's memory with the parent, which still needs its end.
  void close_parent_end() noexcept { ::close(parent_.get()); }
  // Blocks until the parent says go; exits at once if the parent died instead (EOF).
  void wait_for_parent();
  // Tells the parent we reached the point it waits for (wait_for_ready). Throws SyscallError.
  void report_ready();
  // Sends the error to the parent (best effort, never throws).
  void report_error(const ChildError& error) noexcept;
  // Sends a descriptor to the parent (step 7: the master of the container's terminal, which
  // only the child can open, in its own devpts), with send_fd() below.
  void send_fd(int fd) { ctr::send_fd(child_.get(), fd); }
  // Sends a line of information to the parent (e.g. how long each setup phase took);
  // best effort, never throws.
  void send_note(const std::string& note) noexcept;
  int parent_fd() const noexcept { return parent_.get(); }
  int child_fd() const noexcept { return child_.get(); }

 private:
  UniqueFd parent_;
  UniqueFd child_;
  std::optional<ChildError> early_error_;  // what receive_fd() got instead of a descriptor
};

// Exit code for an exec failure with errno err: 127 not found, 126 cannot execute.
int exec_error_code(int err) noexcept;

// Runs a container child's setup: calls fn (which ends in exec), and turns any exception it
// throws into a report to the parent with the matching exit code, which it returns.
template <typename Fn>
int child_setup(Handshake& handshake, Fn&& fn) {
  try {
    return fn();
  } catch (const SyscallError& e) {
    const int code = (e.call() == "execve") ? exec_error_code(e.err()) : kExitRuntimeFailed;
    handshake.report_error({code, error_line(e)});
    return code;
  } catch (const std::exception& e) {
    handshake.report_error({kExitRuntimeFailed, error_line(e)});
    return kExitRuntimeFailed;
  }
}
}  // namespace ctr
