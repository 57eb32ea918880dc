// Step 5: a network namespace — the container gets its own network stack, wired to the
// host through a veth pair and a bridge.
//
// clone(2) with CLONE_NEWNET gives the child an empty network stack: only a loopback
// interface, down (network_namespaces(7)). To connect it, the parent creates a veth pair
// (veth(4): two interfaces joined like the ends of a cable), plugs the host end into a
// bridge (a virtual switch, `ctr0`, which also holds the gateway address 10.47.0.1) and
// moves the other end into the child's namespace. The child renames it eth0, gives it an
// address and a default route. All of it goes over netlink (rtnetlink(7)) through libnl;
// --explain shows the `ip` command for each call.
//
// What still leaks: nothing limits what the container consumes — it can eat all of the
// host's memory or CPU (step 6), and it runs as real root with every capability (step 7).
//
//   sudo ./container -- ip addr                  # lo and eth0 10.47.0.2/24, nothing else
//   sudo ./container --net none -- ip addr       # only lo
#include <sched.h>  // CLONE_NEWPID, CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWNET

#include <optional>  // std::optional

#include <CLI/CLI.hpp>   // CLI::App: the command line
#include <fmt/format.h>  // fmt::print

#include "ctr/bridge.hpp"     // ctr::Bridge, ctr::VethPair: the container's link to the host
#include "ctr/cli.hpp"        // command line shared by every step
#include "ctr/exec.hpp"       // ctr::execvpe
#include "ctr/handshake.hpp"  // parent <-> child handshake over a socketpair
#include "ctr/ipam.hpp"       // ctr::Ipam: addresses for containers, leased
#include "ctr/ipv4.hpp"       // ctr::Ipv4Cidr, ctr::parse_subnet
#include "ctr/mount.hpp"      // ctr::mount_proc, ctr::pivot_root, ...
#include "ctr/nat.hpp"        // ctr::Nat (--nat)
#include "ctr/netlink.hpp"    // ctr::configure_container_interface (netlink via libnl)
#include "ctr/process.hpp"    // ctr::ChildProcess (clone), ctr::SignalForwarder
#include "ctr/uts.hpp"        // ctr::sethostname

namespace {

constexpr std::chrono::seconds kStopGrace{10};  // from a forwarded SIGTERM to SIGKILL
constexpr const char* kProgram = "container_with_network";

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
};

// === 1. Command line ===
Options parse_command_line(int argc, char** argv) {
  Options options;
  CLI::App app{"Step 5: run a command with its own network stack", kProgram};
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

    handshake.release_child();
    if (auto error = handshake.wait_for_exec()) {
      child.wait();
      fmt::print(stderr, "{}: {}\n", kProgram, error->message);
      return error->exit_code;
    }
    // The command may ignore a forwarded SIGTERM (a PID 1 ignores every signal it has no
    // handler for: pid_namespaces(7)): 10 s later, or at a second ^C, it gets SIGKILL.
    const ctr::ExitStatus status = child.wait_with_grace(kStopGrace);
    fmt::print(stderr, "{}: {} {}\n", kProgram, options.common.command[0], status.describe());

    // === 6. Clean up ===
    // NEW in step 3: nothing to unmount. The child's mounts lived in its own mount
    // namespace, and the kernel dropped them with the namespace when its last process ended.
    // NEW in step 5: `network` and `nat` go out of scope here: the veth pair is deleted (if
    // the kernel has not already, with the namespace), the address lease is released. The
    // bridge stays for other containers.

    return status.shell_code();
  });
}
