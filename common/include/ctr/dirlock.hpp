// How processes share a state directory with no daemon between them (the address leases of
// ipam.hpp, the NAT users of nat.hpp): they take turns with a lock on the directory, and an
// entry whose owner process died is noticed by its pid.
#pragma once

#include <sys/types.h>  // pid_t

#include <filesystem>  // std::filesystem::path

#include "ctr/fd.hpp"  // UniqueFd

namespace ctr {

// True when a process with this pid exists. kill(pid, 0) sends nothing and only checks
// (kill(2)); EPERM means "exists, but not yours", so only ESRCH counts as gone.
bool pid_alive(pid_t pid);

// An exclusive flock(2) on a directory, held until destruction. Every process that changes
// a shared state directory (leases, NAT users) takes it first, so "look, then act" cannot
// interleave with another process doing the same. flock locks belong to the open file
// description: two threads that each open the directory exclude each other too. The
// kernel drops the lock when the holder dies, even by SIGKILL: no stale lock is possible.
class DirLock {
 public:
  // Creates the directory (and its parents, mode 0755) if missing, then blocks until the
  // lock is ours. Throws SyscallError.
  explicit DirLock(const std::filesystem::path& dir);
  const std::filesystem::path& dir() const noexcept { return dir_; }

 private:
  std::filesystem::path dir_;
  UniqueFd fd_;
};

}  // namespace ctr
