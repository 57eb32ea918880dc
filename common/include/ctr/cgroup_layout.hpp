// Which cgroup filesystems the machine mounts, and where this process is in them.
//
// Two versions are in use:
//   v2  one tree at /sys/fs/cgroup, every controller in it    (most distributions since 2021)
//   v1  one tree per controller: /sys/fs/cgroup/memory, .../cpu, .../pids ...
// A "hybrid" machine mounts both; its cgroup2 tree usually holds no controllers, so for
// limits it is a v1 machine. CgroupLayout::detect() decides from /proc/self/cgroup and
// /proc/self/mountinfo (cgroups(7), proc(5)).
#pragma once

#include <set>          // std::set
#include <string>       // std::string
#include <string_view>  // std::string_view
#include <vector>       // std::vector

namespace ctr {

enum class CgroupVersion { kNone, kV1, kV2 };

// One mounted cgroup tree ("hierarchy") and our place in it.
struct CgroupHierarchy {
  std::set<std::string> controllers;  // v1: {"memory"} or {"cpu", "cpuacct"}; v2: empty
                                      // (v2 lists them in the cgroup.controllers file)
  std::string mount_point;            // "/sys/fs/cgroup/memory"
  std::string own_path;  // the cgroup we run in, from /proc/self/cgroup: "/process_api/42"
  std::string own_dir;   // the directory of that cgroup: mount_point + own_path
};

struct CgroupLayout {
  CgroupVersion version = CgroupVersion::kNone;
  // v2: exactly one. v1: one per tree that holds a controller we use (memory, cpu, cpuacct,
  // pids, freezer); trees mounted twice are listed once.
  std::vector<CgroupHierarchy> hierarchies;

  // The tree that holds `controller` (v2: the only one), or nullptr.
  const CgroupHierarchy* find(std::string_view controller) const;

  // Reads /proc/self/cgroup and /proc/self/mountinfo.
  static CgroupLayout detect();
  // The decision itself, from those files' text, so tests can feed it any machine:
  //  - a v1 tree mounted with memory, cpu or pids -> kV1 (a controller lives in one tree
  //    only, so a hybrid's cgroup2 cannot have them: cgroup-v2.rst "Mounting");
  //  - else a cgroup2 mount -> kV2 (whether it has controllers shows in its files);
  //  - else kNone.
  // A tree whose mount does not show our cgroup (mounted from elsewhere in the tree, as inside
  // some containers) is left out.
  static CgroupLayout detect(const std::string& proc_self_cgroup, const std::string& mountinfo);
};

}  // namespace ctr
