// Pausing a container: the cgroup freezer (`mycontainer pause` / `resume`, `docker pause`).
//
// Freezing stops every process of a cgroup, and of the cgroups beneath it, where it stands:
// unlike SIGSTOP, nothing inside can see it, catch it or undo it, and a process forked in the
// middle is frozen too. The processes keep their memory and descriptors; thawing lets them
// run on as if nothing happened.
//
//   v1: the freezer hierarchy, freezer.state: write FROZEN or THAWED; it reads FREEZING until
//       every task has stopped (Documentation/admin-guide/cgroup-v1/freezer-subsystem.rst).
//   v2: cgroup.freeze: write 1 or 0 in the cgroup itself; "frozen 1" in cgroup.events says
//       when it is done (cgroup-v2.rst "Core Interface Files", Linux 5.2).
//
// See it: `cat /sys/fs/cgroup/freezer/.../freezer.state` while a container is paused; its
// processes are in state D or T ("stopped") in `ps -o stat`.
#pragma once

#include <chrono>  // std::chrono::milliseconds
#include <string>  // std::string
#include <vector>  // std::vector

namespace ctr {

// The file that freezes a container whose cgroup directories (one per hierarchy, as
// ContainerState::cgroup_dirs holds them) are `dirs`: v2's cgroup.freeze, or freezer.state
// of the v1 freezer hierarchy. "" when neither exists (no freezer: v1 without the freezer
// tree, or v2 before 5.2).
std::string freezer_file(const std::vector<std::string>& dirs);

// True while the cgroup is frozen (v1 "FROZEN"; v2 "frozen 1" in cgroup.events). A cgroup
// still FREEZING is not frozen yet.
bool frozen(const std::vector<std::string>& dirs);

// Freezes the cgroup and waits until the kernel says every process has stopped (a process
// in an uninterruptible sleep holds it up). If that takes longer than `timeout`, thaws it
// again and throws SyscallError(EBUSY): a half-frozen container is worse than a running one.
// Throws UsageError when there is no freezer. Narrated.
void freeze(const std::vector<std::string>& dirs,
            std::chrono::milliseconds timeout = std::chrono::seconds(10));

// Thaws it: the processes run on. Narrated.
void thaw(const std::vector<std::string>& dirs);

}  // namespace ctr
