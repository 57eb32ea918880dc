// Step 6: cgroups — limits on what the container may consume.
//
// Namespaces decide what a process can *see*; control groups decide how much it may *use*
// (cgroups(7)). The parent makes a cgroup for the container beneath the cgroup it runs in
// itself (on cgroup v2, when that cgroup also holds your shell, beneath the top-level
// /sys/fs/cgroup/mycontainer instead, as docker does: README.md, and --explain says which),
// writes the limits into its files (memory, CPU time, number of processes), and
// puts the child into it before the child runs a single instruction of the command. When
// the container ends, the parent reads how it ended (was it the OOM killer?), kills
// whatever is left in the cgroup, and removes it.
//
// Two interfaces exist: cgroup v1, one tree per controller (/sys/fs/cgroup/memory/...),
// and cgroup v2, one unified tree (cgroup-v2.rst). ctr::Cgroup speaks both.
//
// What still leaks: the container's root is the host's root, with every capability; it can
// load kernel modules, reboot the machine, or write to /proc/sysrq-trigger (step 7).
//
//   sudo ./container -m 32m -- /bin/sh -c 'x=$(head -c 64m /dev/zero | tr "\\0" x)'
//   sudo ./container --cpus 0.25 --pids-limit 20
#include <sched.h>  // CLONE_NEWPID, CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWNET

#include <signal.h>  // SIGKILL
#include <unistd.h>  // getpid(2)

#include <optional>  // std::optional

#include <CLI/CLI.hpp>   // CLI::App: the command line
#include <fmt/format.h>  // fmt::print

#include "ctr/cgroup.hpp"     // ctr::Cgroup: v1 and v2 behind one interface
#include "ctr/bridge.hpp"     // ctr::Bridge, ctr::VethPair: the container's link to the host
#include "ctr/cli.hpp"        // command line shared by every step
#include "ctr/exec.hpp"       // ctr::execvpe
#include "ctr/handshake.hpp"  // parent <-> child handshake over a socketpair
#include "ctr/ipam.hpp"       // ctr::Ipam: addresses for containers, leased
#include "ctr/ipv4.hpp"       // ctr::Ipv4Cidr, ctr::parse_subnet
#include "ctr/limits.hpp"     // ctr::parse_memory_limit, ctr::parse_cpus, ctr::parse_pids_limit
#include "ctr/mount.hpp"      // ctr::mount_proc, ctr::pivot_root, ...
#include "ctr/nat.hpp"        // ctr::Nat (--nat)
#include "ctr/netlink.hpp"    // ctr::configure_container_interface (netlink via libnl)
#include "ctr/process.hpp"    // ctr::ChildProcess (clone), ctr::SignalForwarder
#include "ctr/uts.hpp"        // ctr::sethostname

namespace {

constexpr std::chrono::seconds kStopGrace{10};  // from a forwarded SIGTERM to SIGKILL
constexpr const char* kProgram = "container_with_cgroups";

// What the parent prepared on the host for the child's network (NEW in step 5).
struct HostNetwork {
  std::optional<ctr::Lease> lease;  // the container's address, held while it runs
  ctr::VethPair veth;               // host end on the bridge, peer for the container
  ctr::Ipv4Cidr gateway{};          // the bridge's address: the container's default route
};

struct Options {
  ctr::CommonOptions common;
  std::string hostname = "container";  // NEW in step 4: the host name inside (--hostname)
  // NEW in step 5:
  std::string net = "bridge";                  // bridge | none
  std::string ip;                              // ADDR/PREFIX; empty: the next free one
  std::string bridge{ctr::kDefaultBridge};     // the host's virtual switch
  ctr::Ipv4Cidr subnet = ctr::kDefaultSubnet;  // 10.47.0.0/24
  bool nat = false;                            // masquerade to the outside world
  // NEW in step 6:
  ctr::Limits limits;                        // -m, --cpus, --pids-limit
  std::optional<std::string> cgroup_parent;  // default: beneath our own cgroup
};

// === 1. Command line ===
Options parse_command_line(int argc, char** argv) {
  Options options;
  CLI::App app{"Step 6: run a command with limits on memory, CPU and processes", kProgram};
  ctr::add_common_options(app, options.common);
  // NEW in step 4: the --hostname option
  app.add_option("--hostname", options.hostname, "the container's host name")
      ->capture_default_str();
  // NEW in step 5:
  std::string subnet = options.subnet.to_string();
  app.add_option("--net", options.net, "bridge: eth0 on the bridge; none: only lo")
      ->check(CLI::IsMember({"bridge", "none"}))
      ->capture_default_str();
  app.add_option("--ip", options.ip, "the container's address, ADDR/PREFIX (default: next free)");
  app.add_option("--bridge", options.bridge, "bridge name")->capture_default_str();
  app.add_option("--subnet", subnet, "the bridge's subnet, CIDR")->capture_default_str();
  app.add_flag("--nat", options.nat, "masquerade the subnet so containers reach the outside");
  // NEW in step 6: parsed here, so a bad value is refused before anything is created.
  app.add_option_function<std::string>(
      "-m,--memory",
      [&](const std::string& v) { options.limits.memory_bytes = ctr::parse_memory_limit(v); },
      "memory limit: 64m, 1g, bytes");
  app.add_option_function<std::string>(
      "--cpus", [&](const std::string& v) { options.limits.cpus = ctr::parse_cpus(v); },
      "CPU time limit in CPUs: 0.5 is half of one CPU");
  app.add_option_function<std::string>(
      "--pids-limit", [&](const std::string& v) { options.limits.pids = ctr::parse_pids_limit(v); },
      "most processes (and threads) at once");
  app.add_option_function<std::string>(
      "--cgroup-parent", [&](const std::string& v) { options.cgroup_parent = v; },
      "make the container's cgroup beneath this one, not beneath our own");

  ctr::parse(app, argc, argv);
  ctr::finish_common_options(app, options.common, kProgram);
  ctr::validate_hostname(options.hostname);    // refuse a bad name before anything is created
  options.subnet = ctr::parse_subnet(subnet);  // NEW in step 5: --subnet, checked
  ctr::validate_link_name(options.bridge, "bridge");  // before anything is created
  if (!options.ip.empty()) {
    ctr::validate_container_address(ctr::parse_cidr(options.ip, "--ip"), options.subnet);
  }
  return options;
}

// === 2. Inside the child: build the container's world, then run the command ===
int container_main(const Options& options, const HostNetwork& network, ctr::Handshake& handshake) {
  handshake.close_parent_end();
  handshake.wait_for_parent();
  return ctr::child_setup(handshake, [&]() -> int {
    // --- Make our mounts private --- NEW in step 3
    // The copy of the host's mount table we start with shares mount events with the host
    // (systemd makes / "shared"). MS_REC|MS_PRIVATE cuts that link before we mount anything
    // (mount_namespaces(7), "Shared subtrees").
    ctr::make_mounts_private();

    // --- Mount /proc and /sys --- (sysfs NEW in step 3)
    // Mounted before the root changes, so the paths are the rootfs's. A procfs lists the
    // PIDs of the namespace it was mounted from; now the mount is ours alone.
    const std::string& rootfs = options.common.rootfs;
    ctr::bind_mount(rootfs, rootfs);  // pivot_root(2) needs new_root to be a mount point
    ctr::mount_proc(rootfs + "/proc");
    ctr::mount_sysfs(rootfs + "/sys");

    // --- Change root --- (pivot_root instead of chroot: NEW in step 3)
    // pivot_root(2) moves the whole mount namespace onto the rootfs, and we detach the old
    // root: the host's files are no longer reachable by any path, `..` included.
    ctr::pivot_root(rootfs);

    // --- Set the host name --- NEW in step 4
    // Only this UTS namespace sees it: run `hostname` on the host meanwhile.
    ctr::sethostname(options.hostname);

    // --- Network --- NEW in step 5
    // By now the parent has moved our veth end in (we waited for it in wait_for_parent).
    // A new network namespace starts with lo down: even 127.0.0.1 needs it up.
    if (options.net == "bridge") {
      ctr::configure_container_interface(network.veth.peer_name(), ctr::kContainerInterface,
                                         network.lease->address(), network.gateway.addr);
    } else {
      ctr::bring_up_loopback();
    }

    // --- Run the command ---
    // execve(2) replaces this process; on success the handshake socket closes (CLOEXEC)
    // and the parent knows the command runs.
    ctr::execvpe(options.common.command, ctr::current_environment());
  });
}

}  // namespace

int main(int argc, char** argv) {
  return ctr::run_main(kProgram, [&] {
    const Options options = parse_command_line(argc, argv);

    // === 3. Prepare the host side ===
    // NEW in step 5: an address, the bridge, and a veth pair whose host end is on it. Each
    // is an RAII object: whatever happens from here on, they are released on the way out.
    HostNetwork network;
    std::optional<ctr::Nat> nat;
    if (options.net == "bridge") {
      ctr::Ipam ipam(options.subnet);
      network.lease =
          options.ip.empty() ? ipam.allocate() : ipam.reserve(ctr::parse_cidr(options.ip, "--ip"));
      network.gateway = ctr::gateway_of(options.subnet);
      const ctr::Bridge bridge = ctr::Bridge::ensure(options.bridge, network.gateway);
      const ctr::VethNames names = ctr::unique_veth_names();
      network.veth = ctr::VethPair::create(names.host, names.peer);
      network.veth.attach_to(bridge);
      network.veth.up();
      if (options.nat) nat = ctr::Nat::enable(options.subnet, options.bridge);
    }
    // NEW in step 6: the container's cgroup, with its limits written, beneath ours.
    ctr::Cgroup cgroup = ctr::Cgroup::create(fmt::format("{}-{}", kProgram, ::getpid()),
                                             options.limits, options.cgroup_parent);

    // === 4. Create the child ===
    // Each step adds one CLONE_NEW* flag to this list. With none, clone(2) is fork(2).
    // clang-format off
    const int flags = 0
        | CLONE_NEWPID  // NEW in step 2: own PID numbers, the command is PID 1
        | CLONE_NEWNS   // NEW in step 3: own mount table
        | CLONE_NEWUTS  // NEW in step 4: own host name
        | CLONE_NEWNET  // NEW in step 5: own network stack
        ;
    // clang-format on
    ctr::Handshake handshake;
    ctr::ChildProcess child = ctr::ChildProcess::clone(
        flags, [&] { return container_main(options, network, handshake); });
    handshake.close_child_end();
    fmt::print(stderr, "{}: running {} in {} (pid {})\n", kProgram, options.common.command[0],
               options.common.rootfs, child.pid());

    // === 5. Let the child go, and wait for it ===
    ctr::SignalForwarder forward_signals(child.pid());  // Ctrl-C goes to the container
    // NEW in step 5: hand the veth's peer to the child's network namespace, then let it go.
    if (options.net == "bridge") network.veth.move_peer_to_netns(child.pid());
    // NEW in step 6: into the cgroup while the child still waits, so not one instruction of
    // the command runs without its limits.
    cgroup.add(child.pid());

    handshake.release_child();
    if (auto error = handshake.wait_for_exec()) {
      child.wait();
      fmt::print(stderr, "{}: {}\n", kProgram, error->message);
      return error->exit_code;
    }
    // The command may ignore a forwarded SIGTERM (a PID 1 ignores every signal it has no
    // handler for: pid_namespaces(7)): 10 s later, or at a second ^C, it gets SIGKILL.
    bool we_killed_it = false;  // the grace ran out: our own SIGKILL
    const ctr::ExitStatus status = child.wait_with_grace(kStopGrace, &we_killed_it);
    fmt::print(stderr, "{}: {} {}\n", kProgram, options.common.command[0], status.describe());
    // NEW in step 6: a SIGKILL out of nowhere is usually the OOM killer. The cgroup counts
    // its kills (memory.events "oom_kill" on v2, memory.oom_control on v1).
    // The killer picks the biggest process, not always the command: say which it was. A
    // SIGKILL we sent ourselves is not the OOM killer's, even if it killed another process.
    if (cgroup.oom_killed() && options.limits.memory_bytes) {
      const bool command = !status.exited && status.signal == SIGKILL && !we_killed_it;
      fmt::print(stderr, "{}: {} killed by the OOM killer (memory limit {})\n", kProgram,
                 command ? "the command was" : "a process in the container was",
                 ctr::format_size(*options.limits.memory_bytes));
    }

    // === 6. Clean up ===
    // NEW in step 3: nothing to unmount. The child's mounts lived in its own mount
    // namespace, and the kernel dropped them with the namespace when its last process ended.
    // NEW in step 5: `network` and `nat` go out of scope here: the veth pair is deleted (if
    // the kernel has not already, with the namespace), the address lease is released. The
    // bridge stays for other containers.
    // NEW in step 6: `cgroup` goes too: every process still in it is killed (a background
    // job the command left), then its directories are removed.

    return status.shell_code();
  });
}
