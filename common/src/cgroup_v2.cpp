// cgroup v2 delegation: controllers must be enabled on the way down. Read cgroup.hpp first.
//
// In v2 a cgroup's children can use a controller only when the cgroup lists it in its
// cgroup.subtree_control ("Enabling and Disabling" in cgroup-v2.rst), and it can list it only
// when its own parent does (its cgroup.controllers shows which). Two rules make it hard:
//  - "No Internal Process Constraint": a non-root cgroup that holds processes cannot enable
//    domain controllers (memory, io) for its children: the write fails with EBUSY.
//  - "Threads": cpu and pids are also threaded controllers, and enabling one of them in a
//    cgroup that holds processes *works*, but turns the cgroup into a "thread root"; from then
//    on memory cannot be enabled there (EOPNOTSUPP) and no process can join a domain child
//    (EOPNOTSUPP). So we never write subtree_control of a cgroup that holds processes.
//
// The runtime runs in its own cgroup, so that cgroup always holds at least one process: us.
// What we do, in order:
//  1. Controllers already in cgroup.subtree_control: nothing to do (a cgroup delegated to us
//     that we or an earlier run prepared).
//  2. The root cgroup is exempt from both rules: enable there directly.
//  3. A cgroup without processes: enable.
//  4. The only process in the cgroup is this one: move *ourselves* into a leaf child
//     "mycontainer-runtime", then enable. That is what systemd's delegation rules ask of a
//     delegated service that wants to hand controllers to children ("Control Group APIs and
//     Delegation", systemd.io/CGROUP_DELEGATION), and what crun and LXC do for their monitor
//     process. Containers then go beside the leaf, beneath our cgroup. We stay in the leaf;
//     the empty leaf is left behind when we exit, and the next run uses it.
//  5. Other processes too (the shell that started us...): we never move a process we did not
//     start. If a limit needs a controller, stop with a message that says how to give the
//     runtime a cgroup of its own, before any container starts. If no limit was asked, go on
//     without controllers: the containers' cgroups still count CPU time and can be killed.
#include <unistd.h>  // getpid(2)

#include <fmt/format.h>  // fmt::format
#include <fmt/ranges.h>  // fmt::join

#include "cgroup_internal.hpp"
#include "ctr/error.hpp"  // SyscallError, UsageError
#include "ctr/fd.hpp"     // read_file

namespace ctr::detail {

namespace {

void enable_v2_controllers(const CgroupFs& fs, const std::string& dir,
                           const std::map<std::string, std::string>& required, bool may_move_self) {
  const auto available = words(read_file(dir + "/cgroup.controllers").value_or(""));
  for (const auto& [controller, limit] : required) {
    if (available.count(controller) == 0) {
      throw UsageError(fmt::format(
          "the {} limit needs the {} controller, but cgroup '{}' does not offer it (its "
          "cgroup.controllers lists: '{}'): the cgroup above it must enable it in "
          "cgroup.subtree_control (cgroup-v2.rst \"Enabling and Disabling\"); under systemd, "
          "start the runtime with systemd-run --scope -p Delegate=yes",
          limit, controller, dir, fmt::join(available, " ")));
    }
  }
  const auto enabled = words(read_file(dir + "/cgroup.subtree_control").value_or(""));
  std::vector<std::string> missing;  // the ones we use, offered here, not yet enabled
  for (const std::string controller : {"memory", "cpu", "pids"}) {
    if (available.count(controller) != 0 && enabled.count(controller) == 0) {
      missing.push_back(controller);
    }
  }
  if (missing.empty()) return;

  // cgroup.type exists in every cgroup but the root (cgroup-v2.rst "Core Interface Files").
  const bool is_root = !exists(dir + "/cgroup.type");
  if (const auto procs = read_pids(dir + "/cgroup.procs"); !is_root && !procs.empty()) {
    if (may_move_self && procs == std::vector<pid_t>{::getpid()}) {
      const std::string leaf = fmt::format("{}/{}", dir, kRuntimeLeafCgroup);
      if (!is_dir(leaf)) fs.make_dir(leaf);
      fs.write(leaf + "/cgroup.procs", std::to_string(::getpid()));
    } else {
      std::vector<std::string> needed;
      for (const auto& c : missing) {
        if (required.count(c) != 0) needed.push_back(c);
      }
      if (needed.empty()) return;  // no limit needs them: do without
      throw UsageError(fmt::format(
          "cannot enable the {} controller for containers in cgroup '{}': it holds processes "
          "(pids {}), and cgroup v2 lets a cgroup hand controllers to its children only when "
          "it holds none itself (cgroup-v2.rst \"No Internal Process Constraint\"). Start the "
          "runtime in a cgroup of its own (systemd-run --scope -p Delegate=yes ...), or pass "
          "--cgroup-parent /mycontainer to make containers there",
          fmt::join(needed, ", "), dir, fmt::join(procs, " ")));
    }
  }
  for (const auto& controller : missing) {
    try {
      fs.write(dir + "/cgroup.subtree_control", "+" + controller);
    } catch (const SyscallError&) {
      // EBUSY: a process joined meanwhile; EINVAL for cpu: a realtime process outside the
      // root cgroup ("CPU" in cgroup-v2.rst). Fatal only when a limit needs the controller.
      if (required.count(controller) != 0) throw;
    }
  }
}

}  // namespace

std::string prepare_v2_base(const CgroupFs& fs, const CgroupLayout& layout,
                            const CgroupHierarchy& h, const std::optional<std::string>& parent,
                            const std::map<std::string, std::string>& required) {
  if (parent) {
    // A parent path from the top: each level enables the controllers for the next.
    std::string dir = h.mount_point;
    for (const auto& part : split(normalize_parent(*parent), '/')) {
      if (part.empty()) continue;
      enable_v2_controllers(fs, dir, required, /*may_move_self=*/false);
      dir += "/" + part;
      if (!is_dir(dir)) fs.make_dir(dir);
    }
    enable_v2_controllers(fs, dir, required, /*may_move_self=*/false);
    return dir;
  }
  std::string base = base_dir(layout, h, parent);
  enable_v2_controllers(fs, base, required, /*may_move_self=*/base == h.own_dir);
  return base;
}

}  // namespace ctr::detail
