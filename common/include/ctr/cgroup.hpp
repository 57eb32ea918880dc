// Cgroup: owns the control group(s) of one container, on cgroup v2 or v1.
//
// A control group is a directory in a special filesystem. Making the directory makes the
// group, writing a number into one of its files sets a limit (memory.max, cpu.max...),
// writing a pid into cgroup.procs moves that process in, and rmdir removes the group once it
// is empty (cgroups(7), Documentation/admin-guide/cgroup-v2.rst).
//
// Two versions are in use, v1 and v2 (cgroup_layout.hpp says how they differ and which one
// this machine has); Cgroup hides the difference behind one interface. What a container may
// use, and the parsers of --memory, --cpus and --pids, are in limits.hpp.
//
// Where a container's cgroup goes: beneath the cgroup this program runs in (per tree, as
// /proc/self/cgroup shows it), so a runtime started inside a limited cgroup cannot hand its
// containers more than it has itself; or beneath a parent the user names explicitly. On v2,
// when our own cgroup cannot hand out controllers because it holds other processes (a login
// shell's session scope), beneath the top-level cgroup kTopLevelCgroup instead, as docker does
// (cgroup_v2.cpp says when, and --explain says where).
//
//   ctr::Cgroup cg = ctr::Cgroup::create("mycontainer-4242", {.memory_bytes = 64 << 20});
//   cg.add(child_pid);
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

#include "ctr/cgroup_layout.hpp"  // CgroupLayout, CgroupVersion
#include "ctr/fd.hpp"             // UniqueFd
#include "ctr/limits.hpp"         // Limits

namespace ctr {

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
// controllers to containers (see cgroup_v2.cpp). A cgroup with this
// name is taken to be a runtime's leaf, and containers go beside it.
inline constexpr std::string_view kRuntimeLeafCgroup = "mycontainer-runtime";

// On v2, when the runtime's own cgroup holds other processes (a login session's scope, with
// the shell and sudo) it cannot hand out controllers, and containers go beneath a cgroup of
// this name at the top of the tree instead: /sys/fs/cgroup/mycontainer/NAME as root (like
// docker's /sys/fs/cgroup/docker), or beneath the top of a user's delegated subtree.
inline constexpr std::string_view kTopLevelCgroup = "mycontainer";

class Cgroup {
 public:
  // Makes the cgroup `name` (unique per container) beneath our own cgroup or `parent`, in
  // every tree we use, and writes `limits`. Throws UsageError when a limit needs a controller
  // that is not available, with what to do about it; SyscallError when a write fails. The
  // container's directories are removed again when it throws.
  // On v2 it may enable controllers in the cgroup above (cgroup.subtree_control), and, when
  // this process is alone in its cgroup, move this process (only it) into the leaf
  // kRuntimeLeafCgroup first. It never moves any other process.
  // On v1, `trees` chooses the trees: those holding one of these controllers, plus those the
  // limits need; empty (the default) is every tree with a controller we use, as runc joins
  // every tree. v2 has one tree, and ignores it.
  static Cgroup create(std::string name, const Limits& limits,
                       std::optional<std::string> parent = {},
                       const std::set<std::string>& trees = {});
  static Cgroup create_at(const CgroupPlace& place, std::string name, const Limits& limits,
                          const std::set<std::string>& trees = {});
  // The directories create_at would make, known before it runs, so that a container's state
  // can name them in its first write (cleanup skips those that were never made). v1 only:
  // on v2 the place is decided while enabling controllers (nullopt).
  static std::optional<std::vector<std::string>> planned_dirs(
      const CgroupPlace& place, const std::string& name, const Limits& limits,
      const std::set<std::string>& trees = {});

  // Takes ownership of an existing cgroup `name` (a leftover of a crashed or detached run),
  // in every tree where it exists; destroying the result kills its processes and removes it.
  // Throws UsageError when it exists nowhere.
  static Cgroup adopt(const CgroupPlace& place, std::string name);
  // Takes ownership of these cgroup directories, by absolute path (as recorded in a
  // container's state), whatever cgroup the caller runs in; missing ones are skipped.
  static Cgroup adopt_dirs(const std::vector<std::string>& dirs);
  // Names of the cgroups beneath our own cgroup (or the parent; on v2 also beneath the
  // top-level kTopLevelCgroup) starting with `prefix`, in any tree, sorted. For `mycontainer
  // cleanup`. adopt() looks in the same places.
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
  // Which tree `dir` (one of dirs()) lies in, by that tree's controllers: v1 {"memory"} or
  // {"cpu", "cpuacct"}, the options that mount the same tree again (mount -t cgroup -o
  // cpu,cpuacct); v2, or a directory that is not ours: empty.
  std::set<std::string> controllers_of(const std::string& dir) const;

  // Moves `pid` into the cgroup: writes it to cgroup.procs in every tree.
  void add(pid_t pid) const;
  // Moves the calling process into the cgroup, from inside: for a single-threaded process
  // (a clone child before its exec) only. On v1 it writes 0 to each tree's `tasks` file,
  // which moves the calling thread alone and so skips the lock that a move of a whole
  // process takes for writing (a wait of milliseconds on a quiet machine: see cgroup.cpp).
  // On v2 it writes 0 to cgroup.procs (clone3 CLONE_INTO_CGROUP is v2's fast way in).
  void add_self() const;
  // The cgroup2 directory, opened for clone3(2) CLONE_INTO_CGROUP; empty on v1.
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
