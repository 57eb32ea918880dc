// Cgroup: the v1 and v2 backends behind one interface. Read cgroup.hpp first.
//
// The rest of the implementation, by concern: cgroup_fs.cpp (reading the files, and every
// mkdir/write/rmdir, narrated), cgroup_layout.cpp (what is mounted, and where we are),
// cgroup_v2.cpp (enabling controllers on v2), cgroup_kill.cpp (killing what is inside, and
// removing the directories).
//
// Sources: cgroups(7); Documentation/admin-guide/cgroup-v2.rst (cited as cgroup-v2.rst);
// Documentation/admin-guide/cgroup-v1/{cgroups,memory,cpusets,pids}.rst.
#include "ctr/cgroup.hpp"

#include <fcntl.h>  // open(2)

#include <algorithm>  // std::sort, std::unique
#include <cmath>      // std::llround
#include <map>        // std::map
#include <utility>    // std::exchange

#include <fmt/format.h>  // fmt::format

#include "cgroup_internal.hpp"  // CgroupFs, file helpers
#include "ctr/error.hpp"        // UsageError
#include "ctr/fd.hpp"           // read_file

namespace ctr {

using detail::base_dir;
using detail::CgroupFs;
using detail::collect_pids;
using detail::container_bases;
using detail::exists;
using detail::is_dir;
using detail::normalize_parent;
using detail::read_key;
using detail::read_u64;
using detail::subdirs;

namespace {

void check_name(const std::string& name) {
  const std::string_view n = name;  // (std::string's own compares: GCC 12 false positives)
  if (n.empty() || n == "." || n == ".." || n.find('/') != std::string_view::npos ||
      n == kRuntimeLeafCgroup || n.size() > 200) {
    throw UsageError(fmt::format(
        "invalid cgroup name '{}': use a single path component like 'mycontainer-42'", name));
  }
}

// Which controller each limit needs, and how the limit is called in messages.
std::map<std::string, std::string> required_controllers(const Limits& limits) {
  std::map<std::string, std::string> need;  // controller -> limit
  if (limits.memory_bytes) need["memory"] = "memory";
  if (limits.cpus) need["cpu"] = "cpus";
  if (limits.cpu_shares) need["cpu"] = "cpu shares";
  if (limits.pids) need["pids"] = "pids";
  return need;
}

uint64_t cpu_quota_usec(double cpus) {
  return static_cast<uint64_t>(std::llround(cpus * static_cast<double>(kCpuPeriodUsec)));
}

// v1: whether the tree `h` is one to make the cgroup in. Each tree costs a mkdir, a move into
// it and an rmdir per container, and a mount in its /sys/fs/cgroup view; a tree whose
// controllers nobody asked for and no limit needs is left out (see Cgroup::create).
bool tree_wanted(const CgroupHierarchy& h, const std::set<std::string>& trees,
                 const std::map<std::string, std::string>& required) {
  if (trees.empty()) return true;
  for (const auto& c : h.controllers) {
    if (trees.count(c) != 0 || required.count(c) != 0) return true;
  }
  return false;
}

}  // namespace

namespace detail {

std::string normalize_parent(const std::string& parent) {
  std::string out;
  for (const auto& part : split(parent, '/')) {
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      throw UsageError(
          fmt::format("invalid cgroup parent '{}': '..' is not allowed; give a path from the "
                      "top of the cgroup tree, like /mycontainer",
                      parent));
    }
    out += "/" + part;
  }
  return out;
}

std::string base_dir(const CgroupLayout& layout, const CgroupHierarchy& h,
                     const std::optional<std::string>& parent) {
  if (parent) return h.mount_point + normalize_parent(*parent);
  // A runtime that moved itself into its leaf (enable_v2_controllers) puts containers beside it,
  // beneath the cgroup it was started in.
  if (layout.version == CgroupVersion::kV2 && basename_of(h.own_dir) == kRuntimeLeafCgroup) {
    return dirname_of(h.own_dir);
  }
  return h.own_dir;
}

std::vector<std::string> container_bases(const CgroupLayout& layout, const CgroupHierarchy& h,
                                         const std::optional<std::string>& parent) {
  std::vector<std::string> bases = {base_dir(layout, h, parent)};
  if (!parent && layout.version == CgroupVersion::kV2) {
    const std::string top = v2_top_level_dir(h);
    if (!top.empty() && top != bases.front()) bases.push_back(top);
  }
  return bases;
}

}  // namespace detail

CgroupPlace CgroupPlace::here(std::optional<std::string> parent) {
  return {.layout = CgroupLayout::detect(), .parent = std::move(parent), .hooks = {}};
}

Cgroup::Cgroup(CgroupVersion version, std::string name, CgroupFsHooks hooks)
    : version_(version), name_(std::move(name)), hooks_(std::move(hooks)) {}

Cgroup::Cgroup(Cgroup&& other) noexcept
    : version_(other.version_),
      name_(std::move(other.name_)),
      dirs_(std::exchange(other.dirs_, {})),
      hooks_(std::move(other.hooks_)) {}

Cgroup& Cgroup::operator=(Cgroup&& other) noexcept {
  if (this != &other) {
    destroy();
    version_ = other.version_;
    name_ = std::move(other.name_);
    dirs_ = std::exchange(other.dirs_, {});
    hooks_ = std::move(other.hooks_);
  }
  return *this;
}

Cgroup::~Cgroup() {
  destroy();
}

Cgroup Cgroup::create(std::string name, const Limits& limits, std::optional<std::string> parent,
                      const std::set<std::string>& trees) {
  return create_at(CgroupPlace::here(std::move(parent)), std::move(name), limits, trees);
}

std::optional<std::vector<std::string>> Cgroup::planned_dirs(const CgroupPlace& place,
                                                             const std::string& name,
                                                             const Limits& limits,
                                                             const std::set<std::string>& trees) {
  if (place.layout.version != CgroupVersion::kV1) return std::nullopt;
  const auto required = required_controllers(limits);
  std::vector<std::string> dirs;
  for (const auto& h : place.layout.hierarchies) {
    if (tree_wanted(h, trees, required))
      dirs.push_back(base_dir(place.layout, h, place.parent) + "/" + name);
  }
  return dirs;
}

Cgroup Cgroup::create_at(const CgroupPlace& place, std::string name, const Limits& limits,
                         const std::set<std::string>& trees) {
  check_name(name);
  const CgroupLayout& layout = place.layout;
  const auto required = required_controllers(limits);
  const CgroupFs fs(layout.version, place.hooks);

  if (layout.version == CgroupVersion::kNone) {
    throw UsageError(
        "no cgroup filesystem is mounted (/proc/self/mountinfo shows neither cgroup2 nor a "
        "cgroup v1 tree): mount one, e.g. mount -t cgroup2 none /sys/fs/cgroup");
  }

  if (layout.version == CgroupVersion::kV2) {
    // --- v2: one directory; controllers enabled in the cgroup above it ---
    const CgroupHierarchy& h = layout.hierarchies.front();
    const std::string base = prepare_v2_base(fs, layout, h, place.parent, required);
    const std::string dir = base + "/" + name;
    Cgroup cg(CgroupVersion::kV2, std::move(name), place.hooks);
    fs.make_dir(dir);
    cg.dirs_.push_back({dir, {}});  // from here on, ~Cgroup removes it if a write throws
    // cgroup-v2.rst "Memory Interface Files": memory.max is the hard limit (the OOM killer
    // acts above it); memory.swap.max = 0 keeps the container from swapping instead, and
    // exists only where swap accounting is on.
    if (limits.memory_bytes) {
      fs.write(dir + "/memory.max", std::to_string(*limits.memory_bytes));
      // memory.swap.max is swap alone, where OCI's swap is memory + swap.
      std::string swap = "0";
      if (const auto total = limits.memory_swap_bytes) {
        swap = *total < 0 ? "max"
                          : std::to_string(std::max<int64_t>(
                                0, *total - static_cast<int64_t>(*limits.memory_bytes)));
      }
      if (exists(dir + "/memory.swap.max")) fs.write(dir + "/memory.swap.max", swap);
    }
    // "Weights": cpu.weight 1..10000 (default 100) for v1's shares 2..262144 (default 1024),
    // the conversion runc and crun use.
    if (limits.cpu_shares) {
      const uint64_t shares = std::clamp<uint64_t>(*limits.cpu_shares, 2, 262144);
      fs.write(dir + "/cpu.weight", std::to_string(1 + ((shares - 2) * 9999) / 262142));
    }
    // "CPU Interface Files": cpu.max is "$MAX $PERIOD": at most MAX us of CPU time per PERIOD.
    if (limits.cpus) {
      fs.write(dir + "/cpu.max",
               fmt::format("{} {}", cpu_quota_usec(*limits.cpus), kCpuPeriodUsec));
    }
    // "PID Interface Files": fork() and clone() fail with EAGAIN once pids.max are inside.
    if (limits.pids) fs.write(dir + "/pids.max", std::to_string(*limits.pids));
    return cg;
  }

  // --- v1: one directory in every tree, each tree with its own controllers ---
  for (const auto& [controller, limit] : required) {
    if (layout.find(controller) == nullptr) {
      throw UsageError(fmt::format(
          "the {} limit needs the {} controller, but no cgroup v1 tree with it is mounted "
          "(see /proc/self/mountinfo): mount one, e.g. mkdir -p /sys/fs/cgroup/{} && mount -t "
          "cgroup -o {} cgroup /sys/fs/cgroup/{}",
          limit, controller, controller, controller, controller));
    }
  }
  Cgroup cg(CgroupVersion::kV1, std::move(name), place.hooks);
  for (const auto& h : layout.hierarchies) {
    if (!tree_wanted(h, trees, required)) continue;
    const std::string base = base_dir(layout, h, place.parent);
    if (place.parent) fs.make_dirs(h.mount_point, normalize_parent(*place.parent));
    const std::string dir = base + "/" + cg.name_;
    fs.make_dir(dir);
    cg.dirs_.push_back({dir, h.controllers});
    // A new cpuset cgroup starts with no CPUs and no memory nodes, and no task can join it
    // until both are set (cgroup-v1/cpusets.rst): copy them from the cgroup above.
    if (h.controllers.count("cpuset") != 0) {
      for (const char* file : {"cpuset.cpus", "cpuset.mems"}) {
        const auto value = read_file(base + "/" + file);
        if (value) fs.write(dir + "/" + file, *value);
      }
    }
  }
  // cgroup-v1/memory.rst: memory.limit_in_bytes limits RAM; memory.memsw.limit_in_bytes limits
  // RAM + swap, so the same number there means no swap. memsw must never be below the RAM
  // limit, so RAM first. memsw exists only with swap accounting (swapaccount=1).
  if (limits.memory_bytes) {
    const std::string dir = cg.dir_for("memory");
    const std::string bytes = std::to_string(*limits.memory_bytes);
    fs.write(dir + "/memory.limit_in_bytes", bytes);
    if (exists(dir + "/memory.memsw.limit_in_bytes")) {
      const auto total = limits.memory_swap_bytes;
      fs.write(dir + "/memory.memsw.limit_in_bytes", total ? std::to_string(*total) : bytes);
    }
  }
  // cgroup-v1/cgroups.rst, sched-design-CFS: cpu.shares, the group's weight (1024 default).
  if (limits.cpu_shares) {
    fs.write(cg.dir_for("cpu") + "/cpu.shares", std::to_string(*limits.cpu_shares));
  }
  // scheduler/sched-bwc.rst (CFS bandwidth control): cfs_quota_us of CPU time per
  // cfs_period_us; the same idea as v2's cpu.max in two files.
  if (limits.cpus) {
    const std::string dir = cg.dir_for("cpu");
    fs.write(dir + "/cpu.cfs_period_us", std::to_string(kCpuPeriodUsec));
    fs.write(dir + "/cpu.cfs_quota_us", std::to_string(cpu_quota_usec(*limits.cpus)));
  }
  // cgroup-v1/pids.rst: the same pids.max file as v2.
  if (limits.pids) fs.write(cg.dir_for("pids") + "/pids.max", std::to_string(*limits.pids));
  return cg;
}

Cgroup Cgroup::adopt(const CgroupPlace& place, std::string name) {
  check_name(name);
  Cgroup cg(place.layout.version, name, place.hooks);
  for (const auto& h : place.layout.hierarchies) {
    for (const auto& base : container_bases(place.layout, h, place.parent)) {
      const std::string dir = fmt::format("{}/{}", base, name);
      if (is_dir(dir)) cg.dirs_.push_back({dir, h.controllers});
    }
  }
  if (cg.dirs_.empty()) {
    throw UsageError(fmt::format("no cgroup named '{}' beneath our cgroup{}", name,
                                 place.parent ? " parent '" + *place.parent + "'" : ""));
  }
  return cg;
}

Cgroup Cgroup::adopt_dirs(const std::vector<std::string>& dirs) {
  const CgroupLayout layout = CgroupLayout::detect();
  Cgroup cg(layout.version, dirs.empty() ? std::string() : dirs.front(), CgroupFsHooks{});
  for (const auto& dir : dirs) {
    if (!is_dir(dir)) continue;
    std::set<std::string> controllers;
    for (const auto& h : layout.hierarchies) {
      if (dir.rfind(h.mount_point + "/", 0) == 0) controllers = h.controllers;
    }
    cg.dirs_.push_back({dir, controllers});
  }
  return cg;
}

std::vector<std::string> Cgroup::list_children(const CgroupPlace& place, std::string_view prefix) {
  std::vector<std::string> names;
  for (const auto& h : place.layout.hierarchies) {
    for (const auto& base : container_bases(place.layout, h, place.parent)) {
      for (const auto& sub : subdirs(base)) {
        if (sub.starts_with(prefix) && sub != kRuntimeLeafCgroup) names.push_back(sub);
      }
    }
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

std::vector<std::string> Cgroup::dirs() const {
  std::vector<std::string> out;
  for (const auto& d : dirs_) out.push_back(d.path);
  return out;
}

std::string Cgroup::dir_for(std::string_view controller) const {
  for (const auto& d : dirs_) {
    if (version_ == CgroupVersion::kV2 || d.controllers.count(std::string(controller)) != 0) {
      return d.path;
    }
  }
  return {};
}

std::set<std::string> Cgroup::controllers_of(const std::string& dir) const {
  for (const auto& d : dirs_) {
    if (d.path == dir) return d.controllers;
  }
  return {};
}

void Cgroup::add(pid_t pid) const {
  // cgroups(7) "Creating cgroups and moving processes": writing a PID to cgroup.procs moves
  // the whole process (all its threads). On v1, once per tree.
  const CgroupFs fs(version_, hooks_);
  for (const auto& d : dirs_) fs.write(d.path + "/cgroup.procs", std::to_string(pid));
}

// Why `tasks`, and why 0: moving a whole process (cgroup.procs, or any pid but our own) takes
// the kernel's cgroup_threadgroup_rwsem for writing, so that no thread of it is being born or
// exiting meanwhile; a writer of that per-CPU semaphore waits for an RCU grace period unless
// another writer came just before (rcu_sync): 2-20 ms on a quiet machine, 50 us back to
// back. A thread moving itself alone (0 written to the v1 `tasks` file, or to v2's
// cgroup.threads) cannot exit or exec under the kernel's hands, and the kernel skips that
// lock (kernel/cgroup/cgroup.c, cgroup_procs_write_start: "If we migrate a single thread, we
// don't care about threadgroup stability", since the 2022 commit "cgroup: Optimize single
// thread migration"; measured here: 0.2 ms cold instead of 2.5). For a process of one thread,
// moving the thread is moving the process (cgroups(7), "Cgroups version 1": tasks).
void Cgroup::add_self() const {
  const CgroupFs fs(version_, hooks_);
  const char* file = version_ == CgroupVersion::kV1 ? "/tasks" : "/cgroup.procs";
  for (const auto& d : dirs_) fs.write(d.path + file, "0");
}

UniqueFd Cgroup::open_v2_dir() const {
  if (version_ != CgroupVersion::kV2 || dirs_.empty()) return {};
  return UniqueFd(::open(dirs_.front().path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
}

std::vector<pid_t> Cgroup::procs() const {
  std::vector<pid_t> pids;
  for (const auto& d : dirs_) collect_pids(d.path, pids);
  std::sort(pids.begin(), pids.end());
  pids.erase(std::unique(pids.begin(), pids.end()), pids.end());
  return pids;
}

std::optional<uint64_t> Cgroup::cpu_usage_usec() const {
  if (version_ == CgroupVersion::kV2) {
    // cpu.stat exists with or without the cpu controller (cgroup-v2.rst "CPU Interface Files").
    return dirs_.empty() ? std::nullopt : read_key(dirs_.front().path + "/cpu.stat", "usage_usec");
  }
  const std::string dir = dir_for("cpuacct");  // cgroup-v1/cpuacct.rst: nanoseconds
  if (dir.empty()) return std::nullopt;
  const auto ns = read_u64(dir + "/cpuacct.usage");
  return ns ? std::optional<uint64_t>(*ns / 1000) : std::nullopt;
}

std::optional<uint64_t> Cgroup::oom_kill_count() const {
  const std::string dir = dir_for("memory");
  if (dir.empty()) return std::nullopt;
  if (version_ == CgroupVersion::kV2) return read_key(dir + "/memory.events", "oom_kill");
  if (const auto n = read_key(dir + "/memory.oom_control", "oom_kill")) return n;
  // Before Linux 4.13 memory.oom_control has no oom_kill count. memory.failcnt counts how
  // often usage hit the limit; reclaim may have saved the day, so this can say "killed" when
  // nothing was. It is the closest an old kernel tells.
  const auto failcnt = read_u64(dir + "/memory.failcnt");
  if (!failcnt) return std::nullopt;
  return *failcnt > 0 ? 1 : 0;
}

std::optional<uint64_t> Cgroup::pids_current() const {
  const std::string dir = dir_for("pids");
  if (dir.empty()) return std::nullopt;
  return read_u64(dir + "/pids.current");
}

void Cgroup::release() noexcept {
  dirs_.clear();
}

}  // namespace ctr
