// `mycontainer cleanup`: what a runtime killed with SIGKILL left behind, removed. The removal
// itself (remove_container) is also what the OCI `delete` does with a container's resources.
#include "commands.hpp"
#include "lifecycle.hpp"  // finish_orphaned_records

#include <signal.h>  // kill(2)
#include <unistd.h>  // getpid(2)

#include <chrono>
#include <filesystem>
#include <optional>

#include <fmt/format.h>

#include "ctr/cgroup.hpp"       // ctr::Cgroup::adopt
#include "ctr/ipam.hpp"         // ctr::release_leases_of
#include "ctr/nat.hpp"          // ctr::Nat::release_dead_users, release_users_of
#include "ctr/netlink.hpp"      // ctr::delete_link
#include "runtime/hosts.hpp"    // ctr::HostsEntry::remove
#include "runtime/overlay.hpp"  // ctr::remove_overlay_dirs
#include "runtime/ports.hpp"    // ctr::PublishedPorts::remove_for
#include "runtime/state.hpp"    // ctr::list_containers, ctr::is_stale, ctr::cgroup_name

namespace mycontainer {

// What names the container's runtime as its holder (the address lease, the NAT user, the port
// claims) is given back only when that runtime is gone (killed), or is us: a detached
// container's monitor removes its container as its last act (`monitor-exit`, lifecycle.cpp),
// with the pid it gave them all (hand_over in engine.cpp). A live runtime still uses them.
pid_t gone_owner(const ctr::ContainerState& c, bool owner_gone) {
  if (c.runtime_pid <= 0) return 0;
  return owner_gone || ctr::is_stale(c) || c.runtime_pid == ::getpid() ? c.runtime_pid : 0;
}

void release_held_by(pid_t owner) {
  ctr::release_leases_of(owner);
  try {
    ctr::Nat::release_users_of(owner);  // the rule and forwarding, if it was the last user
  } catch (const std::exception& e) {
    fmt::print(stderr, "mycontainer: NAT of pid {}: {}\n", owner, e.what());
  }
}

bool remove_container(const ctr::ContainerState& c, const std::filesystem::path& dir,
                      bool owner_gone) {
  bool complete = true;
  const pid_t owner = gone_owner(c, owner_gone);
  // An OCI container's first process, by its pid and start time (never a process that got
  // the number since): the cgroup below finds it too, but a rootless container has none.
  if (c.oci && c.pid > 0) {
    try {
      ctr::signal_process(c.pid, c.pid_start_time, SIGKILL);  // through a pidfd
    } catch (const std::exception& e) {
      fmt::print(stderr, "mycontainer: {}\n", e.what());
    }
  }
  // Its cgroup, by the directories it recorded (whatever cgroup we run in), else by name
  // where the runtime would have made it (beneath our cgroup or the parent; on v2 also the
  // top-level cgroup: Cgroup::list_children).
  try {
    std::optional<ctr::Cgroup> cgroup;
    if (!c.cgroup_dirs.empty()) {
      cgroup = ctr::Cgroup::adopt_dirs(c.cgroup_dirs);
    } else if (!c.rootless && !c.oci) {
      const auto place = ctr::CgroupPlace::here(
          c.cgroup_parent.empty() ? std::nullopt : std::optional<std::string>(c.cgroup_parent));
      if (!ctr::Cgroup::list_children(place, ctr::cgroup_name(c.name)).empty()) {
        cgroup = ctr::Cgroup::adopt(place, ctr::cgroup_name(c.name));
      }
    }
    const auto dirs = cgroup ? cgroup->dirs() : std::vector<std::string>{};
    cgroup.reset();  // kills what is left inside, removes the directories
    for (const auto& d : dirs) {
      if (std::filesystem::exists(d)) {
        fmt::print(stderr, "mycontainer: cannot remove cgroup '{}' of {}\n", d, c.name);
        complete = false;
      }
    }
  } catch (const std::exception& e) {
    fmt::print(stderr, "mycontainer: cgroup of {}: {}\n", c.name, e.what());
    complete = false;
  }
  if (!c.veth.empty()) ctr::delete_link(c.veth);
  // Its published ports (the rules tagged with its name, its port claims) and its line in
  // the bridge's hosts file: what the runtime's destructors would have removed.
  if (!c.ports.empty()) ctr::PublishedPorts::remove_for(c.name, ctr::kPortsStateDir, owner);
  if (!c.bridge.empty()) ctr::HostsEntry::remove(c.bridge, c.name);
  // Its address leases and NAT user: only those that name its gone runtime (see gone_owner).
  if (owner > 0) release_held_by(owner);
  if (!complete) return false;  // keep the state: it is the map to what is left
  // An image's root: the container's upper and work directories (runtime/overlay.hpp). The
  // overlay mount itself was in the container's mount namespace and died with it.
  ctr::remove_overlay_dirs(dir);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return true;
}

// `mycontainer cleanup`: for each container whose runtime is gone (killed with SIGKILL before
// its destructors could run), remove what it left: its cgroup (killing what still runs in
// it), its host-side veth, its address lease, its state. A container whose runtime still
// runs is never touched, nor an OCI container that create finished: it is its engine's, which
// removes it with `delete`.
int cleanup() {
  int removed = 0;
  ctr::remove_abandoned_drafts();  // state directories of runtimes killed while making them
  // Detached containers whose monitor is gone (SIGKILL, a reboot): stopped, their record
  // says how they ended (lifecycle.cpp); their state is gone before the loop below.
  finish_orphaned_records();
  for (const auto& c : ctr::list_containers()) {
    // Never a container whose runtime is alive (running or starting). A directory with no
    // readable state has no owner: a starting runtime's directory appears with its state
    // already inside (StateDir::create renames it into place), so it goes at once.
    if (c.runtime_pid != 0 && !ctr::is_stale(c)) continue;
    if (c.oci && c.pid != 0 && c.runtime_pid == 0) continue;  // created: its engine deletes it
    if (!remove_container(c, ctr::container_dir(c.name))) continue;
    fmt::print("removed {}\n", c.name);
    ++removed;
  }
  // The NAT rule and IPv4 forwarding are shared: each killed runtime left a user record,
  // and the last one gone restores both (ctr::Nat, reference-counted by process).
  try {
    ctr::Nat::release_dead_users();
  } catch (const std::exception& e) {
    fmt::print(stderr, "mycontainer: NAT of killed runtimes: {}\n", e.what());
  }
  fmt::print("{} stale container{} removed\n", removed, removed == 1 ? "" : "s");
  return 0;
}

}  // namespace mycontainer
