// Changing a running container's limits: `mycontainer update` (`docker update`, `podman
// update`), linux.resources written into the cgroup the container already runs in.
//
// The same files step 6 writes at creation (ctr::Cgroup), now on a live cgroup, and the rest
// of linux.resources that an engine sends:
//
//   linux.resources         cgroup v1                          cgroup v2
//   memory.limit            memory.limit_in_bytes              memory.max
//   memory.swap (mem+swap)  memory.memsw.limit_in_bytes        memory.swap.max (swap - limit)
//   memory.reservation      memory.soft_limit_in_bytes         memory.low
//   cpu.shares              cpu.shares                         cpu.weight (converted)
//   cpu.quota, cpu.period   cpu.cfs_quota_us, cpu.cfs_period_us cpu.max "QUOTA PERIOD"
//   cpu.cpus, cpu.mems      cpuset.cpus, cpuset.mems           cpuset.cpus, cpuset.mems
//   pids.limit              pids.max                           pids.max
//
// Nothing is skipped quietly: a field whose file does not exist (no such controller for this
// cgroup, no swap accounting) is refused with the field's name, before anything is written.
// The kernel may still refuse a value (a memory limit below what is in use: EBUSY), and then
// what was written before stays (runc behaves the same).
#pragma once

#include <cstdint>  // uint64_t
#include <string>   // std::string
#include <utility>  // std::pair
#include <vector>   // std::vector

#include "runtime/spec.hpp"  // mycontainer::Resources

namespace ctr {

// One write the update makes: the file (absolute), the value, and the field it comes from.
struct ResourceWrite {
  std::string field;  // "linux.resources.memory.limit"
  std::string file;   // "/sys/fs/cgroup/memory/.../memory.limit_in_bytes"
  std::string value;  // "67108864"
  bool operator==(const ResourceWrite&) const = default;
};

// The writes that apply `resources` to the cgroup whose directories (one per hierarchy, as
// ContainerState::cgroup_dirs holds them) are `dirs`, in the order to make them. Looks at
// which files exist to tell v1 from v2 and where each controller is. Throws UsageError naming
// the field when a file is missing or a value cannot be expressed.
std::vector<ResourceWrite> plan_resource_update(const std::vector<std::string>& dirs,
                                                const mycontainer::Resources& resources);

// Makes the writes, narrated. On v1 the memory and memory+swap limits are written in the
// order the kernel accepts (memsw never below the memory limit): if the first order fails
// with EINVAL, the other one. Throws SyscallError naming the file.
void apply_resource_update(const std::vector<ResourceWrite>& writes);

// cgroup v2's cpu.weight (1..10000, default 100) for v1's cpu.shares (2..262144, default
// 1024): the conversion runc and crun use, 1 + ((shares - 2) * 9999) / 262142.
uint64_t cpu_weight_from_shares(uint64_t shares);

}  // namespace ctr
