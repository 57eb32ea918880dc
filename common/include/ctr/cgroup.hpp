// Cgroup: owns the control group(s) of one container, on cgroup v2 or v1.
//
// A control group is a directory in a special filesystem. Making the directory makes the
// group, writing a number into one of its files sets a limit (memory.max, cpu.max...),
// writing a pid into cgroup.procs moves that process in, and rmdir removes the group once it
// is empty (cgroups(7), Documentation/admin-guide/cgroup-v2.rst).
//
// Two versions are in use:
//   v2  one tree at /sys/fs/cgroup, every controller in it    (most distributions since 2021)
//   v1  one tree per controller: /sys/fs/cgroup/memory, .../cpu, .../pids ...
// A "hybrid" machine mounts both; its cgroup2 tree usually holds no controllers, so for
// limits it is a v1 machine. CgroupLayout::detect() decides from /proc/self/cgroup and
// /proc/self/mountinfo; Cgroup hides the difference behind one interface.
//
// Where a container's cgroup goes: beneath the cgroup this program runs in (per tree, as
// /proc/self/cgroup shows it), so a runtime started inside a limited cgroup cannot hand its
// containers more than it has itself; or beneath a parent the user names explicitly.
//
//   ctr::Cgroup cg = ctr::Cgroup::create("mycontainer-4242", {.memory_bytes = 64 << 20});
//   cg.add(child_pid);   // or clone3(CLONE_INTO_CGROUP) with cg.open_v2_dir()
//   ...                  // ~Cgroup kills what is left inside and removes the directories
#pragma once

#include <sys/types.h>  // pid_t

#include <cstdint>      // uint64_t
#include <functional>   // std::function
#include <optional>     // std::optional
#include <set>          // std::set
#include <string>       // std::string
#include <string_view>  // std::string_view
#include <vector>       // std::vector

#include "ctr/fd.hpp"  // UniqueFd

namespace ctr {

// === Limits and their parsers =================================================================

// What a container may use; an empty optional means "no limit".
struct Limits {
  std::optional<uint64_t> memory_bytes = {};  // memory.max (v2), memory.limit_in_bytes (v1)
  std::optional<double> cpus = {};            // CPUs' worth of time: 0.5 = half of one CPU
  std::optional<uint64_t> pids = {};          // most processes and threads at once
};

// The CFS period we use: the quota is cpus * kCpuPeriodUsec microseconds per period
// (cpu.max in cgroup-v2.rst "CPU Interface Files"; cpu.cfs_period_us in cgroup-v1/cfs).
inline constexpr uint64_t kCpuPeriodUsec = 100000;
// Docker refuses memory limits below 6 MiB: the runtime's own child needs a few MiB in the
// cgroup before it execs the command, and would be OOM-killed in confusing places.
inline constexpr uint64_t kMinMemoryBytes = uint64_t{6} * 1024 * 1024;
// The kernel's PID_MAX_LIMIT on 64-bit (include/linux/threads.h): pids.max above it is moot.
inline constexpr uint64_t kMaxPidsLimit = 4194304;

// "1048576", "512k", "64m", "1g", "1.5g", "64MiB", "64mb" -> bytes. Binary units like docker
// (k = 1024); suffixes b, k, m, g, t, case-insensitive, optionally followed by "b" or "ib".
// Fractions round down to whole bytes. Throws UsageError on empty, negative, garbage or
// overflow; `what` names the value in the message ("memory size").
uint64_t parse_size(std::string_view text, std::string_view what = "size");
// The other way: 67108864 -> "64 MiB", 1536 -> "1.5 KiB", 100 -> "100 B".
std::string format_size(uint64_t bytes);
// parse_size() for --memory: also refuses less than kMinMemoryBytes.
uint64_t parse_memory_limit(std::string_view text);
// "0.5", "2" -> CPUs, from 0.01 (a quota of 1 ms, the kernel's minimum) to the number of
// online CPUs, like docker's --cpus. Throws UsageError otherwise.
double parse_cpus(std::string_view text);
double parse_cpus(std::string_view text, unsigned online_cpus);
// "100" -> 100: a positive whole number up to kMaxPidsLimit. Leave the limit out for no
// limit (docker's -1). Throws UsageError otherwise.
uint64_t parse_pids_limit(std::string_view text);

// === Layout: what the machine mounts, and where we are in it =================================

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

// === The cgroup of one container ============================================================

// The kernel's part, for unit tests that run the file logic on a plain temporary directory:
// after mkdir they fill the new directory with interface files as cgroupfs would; before
// rmdir they empty it. Unset on a real cgroup filesystem.
struct CgroupFsHooks {
  std::function<void(const std::string& dir)> after_mkdir;
  std::function<void(const std::string& dir)> before_rmdir;
};

// Where containers' cgroups go.
struct CgroupPlace {
  CgroupLayout layout;
  // Beneath this path instead of our own cgroup: a path from each tree's mount point,
  // "/mycontainer" -> /sys/fs/cgroup/mycontainer (v2), /sys/fs/cgroup/memory/mycontainer (v1).
  // Made when missing, and left in place afterwards, like docker's --cgroup-parent.
  std::optional<std::string> parent;
  CgroupFsHooks hooks;

  // This machine's layout (CgroupLayout::detect()).
  static CgroupPlace here(std::optional<std::string> parent = {});
};

// On v2, the leaf that the runtime moves itself into when its own cgroup must hand
// controllers to containers (see enable_v2_controllers in cgroup.cpp). A cgroup with this
// name is taken to be a runtime's leaf, and containers go beside it.
inline constexpr std::string_view kRuntimeLeafCgroup = "mycontainer-runtime";

class Cgroup {
 public:
  // Makes the cgroup `name` (unique per container) beneath our own cgroup or `parent`, in
  // every tree we use, and writes `limits`. Throws UsageError when a limit needs a controller
  // that is not available, with what to do about it; SyscallError when a write fails. The
  // container's directories are removed again when it throws.
  // On v2 it may enable controllers in the cgroup above (cgroup.subtree_control), and, when
  // this process is alone in its cgroup, move this process (only it) into the leaf
  // kRuntimeLeafCgroup first. It never moves any other process.
  static Cgroup create(std::string name, const Limits& limits,
                       std::optional<std::string> parent = {});
  static Cgroup create_at(const CgroupPlace& place, std::string name, const Limits& limits);

  // Takes ownership of an existing cgroup `name` (a leftover of a crashed or detached run),
  // in every tree where it exists; destroying the result kills its processes and removes it.
  // Throws UsageError when it exists nowhere.
  static Cgroup adopt(const CgroupPlace& place, std::string name);
  // Takes ownership of these cgroup directories, by absolute path (as recorded in a
  // container's state), whatever cgroup the caller runs in; missing ones are skipped.
  static Cgroup adopt_dirs(const std::vector<std::string>& dirs);
  // Names of the cgroups beneath our own cgroup (or the parent) starting with `prefix`,
  // in any tree, sorted. For `mycontainer cleanup`.
  static std::vector<std::string> list_children(const CgroupPlace& place, std::string_view prefix);

  Cgroup(Cgroup&& other) noexcept;
  Cgroup& operator=(Cgroup&& other) noexcept;
  Cgroup(const Cgroup&) = delete;
  Cgroup& operator=(const Cgroup&) = delete;
  // kill_all(), then removes every directory this object made or adopted. Never throws.
  ~Cgroup();

  CgroupVersion version() const noexcept { return version_; }
  const std::string& name() const noexcept { return name_; }
  // The directories, one per tree (v2: one).
  std::vector<std::string> dirs() const;
  // The directory that holds `controller`'s files ("" if none). v2: the one directory.
  std::string dir_for(std::string_view controller) const;

  // Moves `pid` into the cgroup: writes it to cgroup.procs in every tree.
  void add(pid_t pid) const;
  // v2: the cgroup directory opened O_PATH, for clone3(CLONE_INTO_CGROUP), which starts the
  // child inside the cgroup with no window outside it (clone(2)). v1: an empty UniqueFd.
  UniqueFd open_v2_dir() const;

  // The processes inside (and inside any cgroup the container made beneath), sorted.
  std::vector<pid_t> procs() const;
  // CPU time used, in microseconds: v2 cpu.stat usage_usec, v1 cpuacct.usage / 1000.
  std::optional<uint64_t> cpu_usage_usec() const;
  // How many processes the OOM killer killed in here: v2 memory.events oom_kill; v1
  // memory.oom_control oom_kill (kernel >= 4.13), or else 1 if memory.failcnt > 0 (the
  // limit was hit: the closest older kernels tell). Empty without the memory controller.
  std::optional<uint64_t> oom_kill_count() const;
  bool oom_killed() const { return oom_kill_count().value_or(0) > 0; }
  // pids.current: processes and threads inside now. Empty without the pids controller.
  std::optional<uint64_t> pids_current() const;

  // Kills every process inside with SIGKILL, and waits (two seconds at most) until none is
  // left: v2 cgroup.kill (kernel >= 5.14), else freeze, kill each, thaw, until empty.
  // Never signals the calling process.
  void kill_all() const;
  // Gives up ownership: the directories stay (a detached container). adopt() takes them back.
  void release() noexcept;

 private:
  struct Dir {
    std::string path;
    std::set<std::string> controllers;  // v1: the tree's controllers; v2: empty
  };
  Cgroup(CgroupVersion version, std::string name, CgroupFsHooks hooks);
  void destroy() noexcept;

  CgroupVersion version_ = CgroupVersion::kNone;
  std::string name_;
  std::vector<Dir> dirs_;  // what ~Cgroup removes, in the order made
  CgroupFsHooks hooks_;
};

}  // namespace ctr
