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
// Where the containers' cgroups go (choose_v2_placement, without --cgroup-parent), in order:
//  1. Beneath the runtime's own cgroup when that cgroup can hand out the controllers:
//     a. it has them in cgroup.subtree_control already (a cgroup delegated to us that we or
//        an earlier run prepared);
//     b. it is the root cgroup, exempt from both rules;
//     c. it holds no process;
//     d. the only process in it is this one: we move *ourselves* into a leaf child
//        "mycontainer-runtime", then enable. That is what systemd's delegation rules ask of a
//        delegated service that wants to hand controllers to children ("Control Group APIs
//        and Delegation", systemd.io/CGROUP_DELEGATION), and what crun and LXC do for their
//        monitor process. Containers then go beside the leaf. We stay in the leaf; the empty
//        leaf is left behind when we exit, and the next run uses it.
//  2. Otherwise it holds other processes too: `sudo mycontainer` typed in a terminal, whose
//     login session scope holds the shell and sudo. We never move a process we did not start,
//     so the containers go beneath a cgroup of the runtime's own at the top of the tree we may
//     manage, "mycontainer", as docker (/sys/fs/cgroup/docker), podman and runc do with the
//     cgroupfs driver: as root the root cgroup (/sys/fs/cgroup/mycontainer/NAME); as an
//     ordinary user the top of the subtree delegated to them (systemd's user@UID.service, made
//     theirs with chown: cgroup-v2.rst "Delegation"). The controllers are enabled on the way
//     down; "mycontainer" itself stays, like docker's, and holds only containers.
//  3. An ordinary user whose cgroup is not delegated to them (a login session's scope belongs
//     to root): no place can take a limit, and a limit is refused with one line that says why.
#include <sys/stat.h>  // stat(2)
#include <unistd.h>    // getpid(2)

#include <fmt/format.h>  // fmt::format
#include <fmt/ranges.h>  // fmt::join

#include "cgroup_internal.hpp"
#include "ctr/error.hpp"    // SyscallError, UsageError
#include "ctr/fd.hpp"       // read_file
#include "ctr/narrate.hpp"  // narrate

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
          "--cgroup-parent /mycontainer to make containers there{}",
          fmt::join(needed, ", "), dir, fmt::join(procs, " "), kSeeTroubleshooting));
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

// The top of the cgroup tree this process may manage: as root, the root cgroup; as an ordinary
// user, the highest cgroup above ours that is theirs (chown'ed to them by a delegation, as
// systemd does for user@UID.service: cgroup-v2.rst "Delegation"). Empty when none is.
std::string delegation_root(const CgroupHierarchy& h) {
  const uid_t me = ::geteuid();
  if (me == 0) return h.mount_point;
  std::string top;
  for (std::string dir = h.own_dir; dir.size() > h.mount_point.size(); dir = dirname_of(dir)) {
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0 || st.st_uid != me) break;
    top = dir;
  }
  return top;
}

std::string pid_list(const std::vector<pid_t>& pids) {
  return fmt::format("{}", fmt::join(pids, " "));
}

}  // namespace

std::string v2_top_level_dir(const CgroupHierarchy& h) {
  const std::string top = delegation_root(h);
  return top.empty() ? top : top + "/" + std::string(kTopLevelCgroup);
}

V2Placement choose_v2_placement(const CgroupLayout& layout, const CgroupHierarchy& h) {
  const std::string own = base_dir(layout, h, std::nullopt);
  // 3. An ordinary user may write only to cgroups delegated to them (chown'ed), and a
  // delegation covers a whole subtree: if our own cgroup is not theirs, none above it is.
  if (struct stat st{};
      ::geteuid() != 0 && ::stat(own.c_str(), &st) == 0 && st.st_uid != ::geteuid()) {
    return {.base = own,
            .refusal = fmt::format(
                "cgroup limits need root, or a cgroup delegated to you: the runtime's cgroup "
                "'{}' belongs to uid {}, not to uid {} (cgroup-v2.rst \"Delegation\"); start "
                "the runtime with systemd-run --user --scope -p Delegate=yes, or run it with sudo",
                own, st.st_uid, ::geteuid())};
  }
  const auto enabled = words(read_file(own + "/cgroup.subtree_control").value_or(""));
  const auto available = words(read_file(own + "/cgroup.controllers").value_or(""));
  bool all_enabled = true;
  for (const std::string controller : {"memory", "cpu", "pids"}) {
    if (available.count(controller) != 0 && enabled.count(controller) == 0) all_enabled = false;
  }
  if (all_enabled) return {.base = own, .why = "the runtime's cgroup hands out its controllers"};
  // cgroup.type exists in every cgroup but the root (cgroup-v2.rst "Core Interface Files").
  if (!exists(own + "/cgroup.type")) return {.base = own, .why = "the root cgroup"};
  const auto procs = read_pids(own + "/cgroup.procs");
  if (procs.empty()) return {.base = own, .why = "the runtime's cgroup holds no process"};
  if (own == h.own_dir && procs == std::vector<pid_t>{::getpid()}) {
    return {
        .base = own,
        .move_self = true,
        .why = "the runtime is alone in its cgroup: it moves into a leaf beside its containers"};
  }
  const std::string busy = fmt::format(
      "the runtime's cgroup '{}' holds other processes (pids {}) and cannot hand out "
      "controllers (cgroup-v2.rst \"No Internal Process Constraint\")",
      own, pid_list(procs));
  // Root may always use the root cgroup; a user whose own cgroup is theirs has a delegation.
  const std::string top = delegation_root(h);
  return {.base = v2_top_level_dir(h),
          .top = top,
          .why = busy + ": beneath the runtime's top-level cgroup instead"};
}

namespace {

// Makes `relative` beneath `from` (mkdir -p), each level enabling the controllers for the next.
std::string prepare_path(const CgroupFs& fs, const std::string& from, const std::string& relative,
                         const std::map<std::string, std::string>& required) {
  std::string dir = from;
  for (const auto& part : split(relative, '/')) {
    if (part.empty()) continue;
    enable_v2_controllers(fs, dir, required, /*may_move_self=*/false);
    dir += "/" + part;
    if (is_dir(dir)) continue;
    if (exists(dir)) {  // an interface file, like cgroup.procs: mkdir would say EEXIST
      throw UsageError(fmt::format(
          "cgroup parent '{}': '{}' is not a directory, so no cgroup can be made beneath it",
          relative, dir));
    }
    fs.make_dir(dir);
  }
  enable_v2_controllers(fs, dir, required, /*may_move_self=*/false);
  return dir;
}

}  // namespace

std::string prepare_v2_base(const CgroupFs& fs, const CgroupLayout& layout,
                            const CgroupHierarchy& h, const std::optional<std::string>& parent,
                            const std::map<std::string, std::string>& required) {
  // A parent path from the top: --cgroup-parent always wins.
  if (parent) return prepare_path(fs, h.mount_point, normalize_parent(*parent), required);

  const V2Placement place = choose_v2_placement(layout, h);
  narrate({.call = fmt::format("container cgroups go beneath {}", place.base),
           .result = place.refusal.empty() ? place.why : place.refusal,
           .shell = fmt::format("cat {}/cgroup.procs", base_dir(layout, h, std::nullopt)),
           .man = "Documentation/admin-guide/cgroup-v2.rst"});
  if (!place.refusal.empty()) {
    if (!required.empty()) throw UsageError(place.refusal);
    return place.base;  // no limit asked: a cgroup without controllers still counts and kills
  }
  if (!place.top.empty()) {
    return prepare_path(fs, place.top, std::string(kTopLevelCgroup), required);
  }
  enable_v2_controllers(fs, place.base, required, place.move_self);
  return place.base;
}

}  // namespace ctr::detail
