// Step 7: the whole container. Everything of steps 1-6, plus a user namespace (so it runs
// without root), an IPC and a cgroup namespace, hardening (capabilities, seccomp, masked
// paths, a minimal /dev), a terminal, an init, and state for `mycontainer ps`.
//
// This file reads like the chapter: the child's side first (=== 2 ===, in the order it must
// happen), then the parent's (=== 3 === onwards). The order matters, and each step says why:
//
//   user namespace first   every other namespace created with it belongs to it, so root
//                          inside may mount and set the host name there (user_namespaces(7))
//   maps by the parent     a process cannot write its own uid_map with more than itself
//   mounts before pivot    the host's paths are reachable only until the root changes
//   privileges last        dropping capabilities and loading seccomp ends our own power
//                          to mount and configure: nothing may be left to do after them
#include "run.hpp"

#include <fcntl.h>        // openat(2), O_* flags
#include <linux/mount.h>  // MOUNT_ATTR_NODEV
#include <sched.h>        // CLONE_NEW*, unshare(2)
#include <signal.h>       // SIGKILL
#include <sys/stat.h>     // mkdirat(2)
#include <unistd.h>       // getpid(2), setresuid(2), setgroups(2)
#include <grp.h>          // setgroups(2)
#include <sys/socket.h>   // socketpair(2), for the terminal's descriptor

#include <chrono>
#include <optional>

#include <fmt/format.h>

#include "runtime/capabilities.hpp"  // ctr::apply_capabilities (libcap)
#include "ctr/cgroup.hpp"            // ctr::Cgroup
#include "runtime/devices.hpp"       // ctr::setup_dev
#include "ctr/exec.hpp"              // ctr::execvpe
#include "ctr/handshake.hpp"         // ctr::Handshake
#include "runtime/hardening.hpp"     // masked paths, no_new_privs, rlimits, descriptors
#include "runtime/init.hpp"          // ctr::run_init (--init)
#include "ctr/ipam.hpp"              // ctr::Ipam
#include "ctr/mount.hpp"             // ctr::mount, ctr::pivot_root
#include "ctr/narrate.hpp"           // ctr::narrate
#include "ctr/net.hpp"               // ctr::Bridge, ctr::VethPair
#include "ctr/path.hpp"              // ctr::open_in_root: mount targets resolved inside the rootfs
#include "ctr/process.hpp"           // ctr::ChildProcess, ctr::SignalForwarder
#include "runtime/pty.hpp"           // ctr::openpty, ctr::TerminalRelay (-t)
#include "runtime/seccomp.hpp"       // ctr::default_seccomp_profile, ctr::cached_seccomp
#include "runtime/state.hpp"         // ctr::StateDir
#include "runtime/userns.hpp"        // ctr::plan_id_maps, ctr::apply_id_maps
#include "ctr/uts.hpp"               // ctr::sethostname

namespace mycontainer {

namespace {

constexpr const char* kProgram = "mycontainer";
using Clock = std::chrono::steady_clock;

// --timings: how long each phase took, in the order they happened.
class Timings {
 public:
  void mark(const std::string& phase) {
    const auto now = Clock::now();
    lines_.push_back(fmt::format("{:<24} {:8.3f} ms", phase,
                                 std::chrono::duration<double, std::milli>(now - last_).count()));
    last_ = now;
  }
  const std::vector<std::string>& lines() const { return lines_; }

 private:
  Clock::time_point last_ = Clock::now();
  std::vector<std::string> lines_;
};

// What the parent prepared on the host, and the child needs to know.
struct HostSide {
  std::optional<ctr::Lease> lease;  // the container's address
  ctr::VethPair veth;               // host end on the bridge, peer for the container
  ctr::Ipv4Cidr gateway{};
  std::optional<ctr::Cgroup> cgroup;
  ctr::UniqueFd netns;         // the network namespace the parent made for the child (bridge)
  ctr::IdMapPlan id_maps;      // how the user namespace is mapped (method kNone: none)
  int console_socket = -1;     // -t: the child sends its terminal's master here
  ctr::BpfProgram seccomp;     // the compiled default filter (empty: none)
  bool parent_asleep = false;  // CLONE_VFORK: nobody will release the child; see run()
};

bool in_user_namespace(const HostSide& host) {
  return host.id_maps.method != ctr::IdMapMethod::kNone;
}

// The environment the command starts with: docker's defaults, then -e.
std::vector<std::string> container_environment(const RunOptions& o, const User& user) {
  std::vector<std::string> env = {
      fmt::format("PATH={}", ctr::kDefaultPath), fmt::format("HOSTNAME={}", o.hostname),
      fmt::format("HOME={}", user.uid == 0 ? "/root" : "/"),
      "container=mycontainer",  // how systemd and friends recognise a container
  };
  if (o.tty) env.emplace_back("TERM=xterm");
  for (const auto& spec : o.env) {
    auto kv = resolve_env(spec);
    if (!kv) continue;
    const std::string key = kv->substr(0, kv->find('='));
    std::erase_if(env, [&](const std::string& e) { return e.rfind(key + "=", 0) == 0; });
    env.push_back(*kv);
  }
  return env;
}

// Makes `path` exist inside rootfs (a directory, or an empty file when `file`), resolving
// every component inside the rootfs, and returns it opened O_PATH: the mount target.
ctr::UniqueFd mount_point_in_rootfs(const std::string& rootfs, const std::string& path, bool file) {
  try {
    return ctr::open_in_root(rootfs, path);
  } catch (const ctr::SyscallError& e) {
    if (e.err() != ENOENT) throw;
  }
  const auto slash = path.find_last_of('/');
  const std::string parent = slash == 0 ? "/" : path.substr(0, slash);
  const std::string leaf = path.substr(slash + 1);
  const ctr::UniqueFd dir = mount_point_in_rootfs(rootfs, parent, false);
  const ctr::UniqueFd real_dir(ctr::check(
      ::openat(dir.get(), ".", O_DIRECTORY | O_RDONLY | O_CLOEXEC), "openat", rootfs + parent));
  if (file) {
    ctr::UniqueFd(ctr::check(
        ::openat(real_dir.get(), leaf.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644),
        "openat", rootfs + path));
  } else {
    ctr::check(::mkdirat(real_dir.get(), leaf.c_str(), 0755), "mkdirat", rootfs + path);
  }
  return ctr::open_in_root(rootfs, path);
}

// /sys/fs/cgroup inside: the container's own cgroup as the root of a read-only view (the
// cgroup namespace makes it the root, cgroup_namespaces(7)). On v2 one cgroup2 mount; on v1 a
// tmpfs with one read-only mount per hierarchy. A view that cannot be mounted (v1 in a user
// namespace: only the initial one may mount cgroup v1) is left empty.
void mount_cgroup_view(const std::string& rootfs, const HostSide& host) {
  const std::string target = rootfs + "/sys/fs/cgroup";
  const ctr::UniqueFd fd = ctr::open_in_root(rootfs, "/sys/fs/cgroup");
  const unsigned long ro = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC;
  if (host.cgroup && host.cgroup->version() == ctr::CgroupVersion::kV2) {
    ctr::mount_on_fd("cgroup2", fd, target, "cgroup2", ro);
    return;
  }
  ctr::mount_on_fd("tmpfs", fd, target, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                   "mode=755,size=64k");
  if (host.cgroup && !in_user_namespace(host)) {
    for (const auto& dir : host.cgroup->dirs()) {
      // .../memory/<own path>/<name> -> "memory"; "cpu,cpuacct" -> the same option string.
      const std::string base = dir.substr(std::string("/sys/fs/cgroup/").size());
      const std::string tree = base.substr(0, base.find('/'));
      if (tree == "unified" || tree == "systemd") continue;
      const std::string where = target + "/" + tree;
      ctr::check(::mkdir(where.c_str(), 0755), "mkdir", where);
      ctr::mount("cgroup", where, "cgroup", ro, tree);
    }
  }
  ctr::mount("", target, "", MS_REMOUNT | ro);
}

// ============================================================================================
// === 2. Inside the child: build the container's world, then run the command ===
// ============================================================================================
int container_main(const RunOptions& o, const HostSide& host, ctr::Handshake& handshake) {
  handshake.close_parent_end();
  ctr::DeferTerminatingSignals::unblock_in_child();  // the parent's mask came with clone
  if (!host.parent_asleep) handshake.wait_for_parent();
  // Not dumpable until exec: nothing in the container can ptrace us or read our memory
  // through /proc/PID/mem while we still hold the host's file system (prctl(2)
  // PR_SET_DUMPABLE; execve(2) sets it back for the command). Only now: it also makes our
  // /proc/PID files root's, and a rootless parent must write our uid_map first.
  ctr::set_dumpable(false);
  Timings timings;
  return ctr::child_setup(handshake, [&]() -> int {
    const std::string& rootfs = o.common.rootfs;

    // --- Join the network namespace the parent made, with our veth already in it ---
    // First: /sys, mounted below, shows the devices of the mounter's network namespace.
    if (host.netns) {
      ctr::join_netns(host.netns);
      ::close(host.netns.get());  // our copy: the descriptor only (the object is the parent's)
    }

    // --- Become root of the user namespace ---
    // The parent has written our uid_map and gid_map by now. Until we setresuid(0) we are
    // "nobody" even to ourselves (user_namespaces(7)).
    if (in_user_namespace(host)) {
      ctr::become_root_in_userns();
      ctr::set_parent_death_signal(SIGKILL);  // a change of uid cleared it (prctl(2))
    }

    // --- Make our mounts private ---
    ctr::make_mounts_private();
    timings.mark("child: namespaces");

    // --- Mount the root, /proc, /sys, /dev ---
    // Each target is resolved inside the rootfs (open_in_root): a symlink the image planted
    // at /proc or /dev cannot send a mount onto the host (runc CVE-2019-19921).
    ctr::bind_mount(rootfs, rootfs);  // pivot_root(2) needs new_root to be a mount point
    // nodev: a device node in the image, or one the container makes with mknod, cannot be
    // opened: no path to the host's disks (the same on every mount the container can write).
    ctr::mount_setattr_recursive(ctr::open_in_root(rootfs, "/"), rootfs, MOUNT_ATTR_NODEV);
    ctr::mount_on_fd("proc", ctr::open_in_root(rootfs, "/proc"), rootfs + "/proc", "proc",
                     MS_NOSUID | MS_NODEV | MS_NOEXEC);
    const bool own_net = o.net != "host";
    if (own_net || !in_user_namespace(host)) {
      // sysfs shows the network devices of the mounter's network namespace; read-only.
      ctr::mount_on_fd("sysfs", ctr::open_in_root(rootfs, "/sys"), rootfs + "/sys", "sysfs",
                       MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC);
    } else {
      // A user namespace that does not own the network namespace may not mount sysfs:
      // bind the host's, read-only.
      const ctr::UniqueFd sys = ctr::open_in_root(rootfs, "/sys");
      ctr::mount_on_fd("/sys", sys, rootfs + "/sys", "", MS_BIND | MS_REC);
      ctr::remount_bind_read_only(ctr::open_in_root(rootfs, "/sys"), rootfs + "/sys");
    }
    ctr::setup_dev(rootfs, in_user_namespace(host), /*mqueue=*/true);
    timings.mark("child: proc, sys, dev");

    // --- Volumes and tmpfs (-v, --tmpfs) ---
    for (const auto& v : o.volumes) {
      const bool is_file = !std::filesystem::is_directory(v.host);
      const ctr::UniqueFd target = mount_point_in_rootfs(rootfs, v.container, is_file);
      ctr::mount_on_fd(v.host, target, rootfs + v.container, "", MS_BIND | MS_REC);
      const ctr::UniqueFd mounted = ctr::open_in_root(rootfs, v.container);
      if (v.read_only) {
        ctr::mount_setattr_recursive(mounted, rootfs + v.container,
                                     MOUNT_ATTR_NODEV | MOUNT_ATTR_RDONLY);
      } else {
        ctr::mount_setattr_recursive(mounted, rootfs + v.container, MOUNT_ATTR_NODEV);
      }
    }
    for (const auto& path : o.tmpfs) {
      ctr::mount_on_fd("tmpfs", mount_point_in_rootfs(rootfs, path, false), rootfs + path, "tmpfs",
                       MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k");
    }

    // --- Set the host name ---
    ctr::sethostname(o.hostname);

    // --- Network ---
    if (o.net == "bridge") {
      ctr::configure_container_interface(ctr::kContainerInterface, ctr::kContainerInterface,
                                         host.lease->address(), host.gateway.addr);
    } else if (o.net == "none") {
      ctr::bring_up_loopback();
    }
    // Issue #17 item 8: ping without CAP_NET_RAW, in our own network namespace only.
    if (own_net) ctr::allow_unprivileged_ping();
    timings.mark("child: volumes, net");

    // --- Wait until the parent has put us into our cgroup ---
    // Everything above ran while the parent was moving us (a cgroup move can wait for an
    // RCU grace period, milliseconds): now it is done, and the rest depends on it.
    // A parent asleep in clone (CLONE_VFORK) cannot: we move ourselves, writing 0 to each
    // cgroup.procs, which means "the writer" (cgroups(7)).
    if (host.parent_asleep) {
      if (host.cgroup) host.cgroup->add(0);
    } else {
      handshake.wait_for_parent();
    }
    timings.mark("child: (waited for cgroup)");

    // --- Enter a cgroup namespace ---
    // Now, not at clone: we are in our cgroup, so it becomes the root of what
    // /proc/self/cgroup and /sys/fs/cgroup show (cgroup_namespaces(7)).
    ctr::check(::unshare(CLONE_NEWCGROUP), "unshare", "CLONE_NEWCGROUP");
    ctr::narrate({.call = "unshare(CLONE_NEWCGROUP)",
                  .result = "ok",
                  .shell = "unshare --cgroup",
                  .man = "cgroup_namespaces(7)"});

    try {
      mount_cgroup_view(rootfs, host);
    } catch (const ctr::SyscallError& e) {
      ctr::narrate({.call = "mount /sys/fs/cgroup",
                    .result = fmt::format("skipped: {}", e.what()),
                    .shell = "",
                    .man = "cgroups(7)"});
    }

    // --- Change root ---
    ctr::pivot_root(rootfs);
    timings.mark("child: pivot_root");

    // --- Hide what the kernel shows too much of ---
    // Files under /proc and /sys that describe or control the whole host: masked (an empty
    // file or directory on top) or read-only. docker's list (moby oci/defaults.go).
    if (!o.privileged) {
      ctr::mask_paths(ctr::default_masked_paths());
      ctr::make_paths_read_only(ctr::default_read_only_paths());
    }
    if (o.read_only) ctr::remount_bind_read_only(ctr::open_in_root("/", "/"), "/");

    // --- A terminal (-t) ---
    // Opened here, in the container's own devpts, and its master handed to the parent over
    // a unix socket (SCM_RIGHTS): the parent relays between it and the caller's terminal.
    if (o.tty) {
      ctr::Pty pty = ctr::openpty();
      ctr::send_fd(host.console_socket, pty.master.get());
      // Wait until the parent has set the terminal's size, so the command starts with it.
      char go = 0;
      if (::read(host.console_socket, &go, 1) != 1) ::_exit(ctr::kExitRuntimeFailed);
      ::close(host.console_socket);
      ctr::make_controlling_terminal(pty.slave.get());
    } else {
      // A new session all the same: without a controlling terminal of the caller's, the
      // container cannot push keystrokes into it with TIOCSTI (ioctl_tty(2)).
      ctr::setsid();
    }

    const User user = o.user_spec.empty() ? User{} : resolve_user(o.user_spec, "/");
    const std::vector<std::string> env = container_environment(o, user);
    // Issue #17 item 1: inside the root, no magic links, and checked after (hardening.hpp).
    ctr::enter_workdir(o.workdir);
    // The command is looked up inside the container, and must stay there: /proc/self/exe
    // (or a link to it, or a script whose #! names it) would run the runtime's own binary
    // from the host, the first move of CVE-2019-5736. Checked here, still as root and before
    // seccomp (issue #17 item 3: a file root cannot read is refused; item 2: the check uses
    // openat2, which the filter answers with ENOSYS).
    ctr::check_exec_chain(ctr::find_command(o.common.command[0], env));

    // --- Drop privileges: last, because after this we could not set anything up ---
    ctr::set_default_nofile();
    ctr::apply_ulimits(o.ulimits);
    if (o.no_new_privileges) ctr::set_no_new_privs();  // setuid binaries stop granting anything
    if (!host.seccomp.empty()) {
      // Loaded while we still hold CAP_SYS_ADMIN (seccomp(2) needs it or no_new_privs); the
      // filter still lets the calls below through (capset, setresuid, execve). The parent
      // compiled it (compile_seccomp of default_seccomp_profile), or took it from its cache.
      ctr::load_bpf(host.seccomp);
    }
    const ctr::CapabilitySet caps =
        o.privileged
            ? ctr::all_capabilities()
            : ctr::resolve_capabilities(ctr::default_capabilities(), o.cap_add, o.cap_drop);
    // The bounding set first (it needs CAP_SETPCAP), then the user switch while we still
    // hold CAP_SETUID and CAP_SETGID in the effective set, whatever --cap-drop says: runc's
    // order. Groups, then the group, then the user (setuid(2)).
    if (user.uid != 0) ctr::drop_bounding_set(caps);  // for root, apply_capabilities does it
    if (user.gid == 0 && user.uid == 0 && !in_user_namespace(host)) {
      // Root keeps no supplementary group of the caller's (become_root_in_userns does the
      // same in a user namespace, where setgroups may be denied).
      ctr::check(::setgroups(0, nullptr), "setgroups", "0");
    }
    if (user.gid != 0 || user.uid != 0) {
      ctr::check(::setgroups(1, &user.gid), "setgroups", std::to_string(user.gid));
      ctr::check(::setresgid(user.gid, user.gid, user.gid), "setresgid", std::to_string(user.gid));
    }
    if (user.uid != 0) {
      // A non-zero uid clears the permitted and effective sets (capabilities(7), "Effect of
      // user ID changes"): a non-root user keeps only the bounding set, as in docker.
      ctr::check(::setresuid(user.uid, user.uid, user.uid), "setresuid", std::to_string(user.uid));
      ctr::set_parent_death_signal(SIGKILL);  // cleared again by the change of uid
    } else {
      ctr::apply_capabilities(caps);  // root: permitted and effective = caps, ambient cleared
    }
    // No descriptor of the runtime may reach the command (CVE-2024-21626): all close on exec.
    ctr::set_cloexec_from(3);
    timings.mark("child: privileges");
    if (o.timings) {
      for (const auto& line : timings.lines()) handshake.send_note(line);
    }

    // --- Run the command (checked above: check_exec_chain) ---
    if (o.init) ctr::run_init(o.common.command, env, &handshake);
    ctr::execvpe(o.common.command, env);
  });
}

// UTC, from the C++20 calendar: gmtime(3) would first read /etc/localtime (glibc sets up
// the time zone on its first call, even for UTC).
std::string now_iso8601() {
  using namespace std::chrono;
  const auto now = floor<seconds>(system_clock::now());
  const auto day = floor<days>(now);
  const year_month_day ymd(day);
  const hh_mm_ss hms(now - day);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", static_cast<int>(ymd.year()),
                     static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                     hms.hours().count(), hms.minutes().count(), hms.seconds().count());
}

}  // namespace

// ============================================================================================
// === 3. The parent: prepare the host side, start the child, wait, clean up ===
// ============================================================================================
int run(const RunOptions& o) {
  Timings timings;
  // Issue #17 item 1: no descriptor of our caller's survives into anything we do (a leaked
  // directory is a way out: `-w /proc/self/fd/N`, /proc/1/fd/N of --init). Before anything
  // else opens or resolves a path.
  ctr::close_fds_from(3);
  const bool rootless = ctr::running_rootless();
  // From here until the forwarder is in place, a ^C or SIGTERM waits: it must not kill us
  // while we hold a state directory, an address and a cgroup with nobody to give them back.
  ctr::DeferTerminatingSignals defer_signals;

  // --- Who maps whom: the user namespace plan ---
  // Rootless always needs one (an unprivileged process can create no other namespace
  // without it); as root, only with --userns.
  HostSide host;
  if (rootless) {
    if (auto problem = ctr::unprivileged_userns_problem()) throw ctr::UsageError(*problem);
  }
  // (Only when there is one: detecting reads the user database and the subid files.)
  if (rootless || o.userns) host.id_maps = ctr::plan_id_maps(ctr::UsernsFacts::detect(), o.userns);
  if (rootless && (o.limits.memory_bytes || o.limits.cpus || o.limits.pids || o.cgroup_parent)) {
    // An ordinary user may only write to a cgroup that was delegated to it (cgroup-v2.rst,
    // "Delegation"). We do not go looking for one: say what is missing.
    throw ctr::UsageError(
        "cgroup limits need root (or a cgroup delegated to you, which this runtime does not "
        "use rootless): run with sudo, or drop -m/--cpus/--pids-limit");
  }

  // --- State: the name is ours while this directory exists ---
  ctr::ContainerState state;  // written again as each resource appears: cleanup's map
  state.name = o.name;
  state.runtime_pid = ::getpid();
  state.runtime_start_time = ctr::process_start_time(::getpid());
  state.command = o.common.command;
  state.started = now_iso8601();
  state.rootfs = o.common.rootfs;
  state.rootless = rootless;
  state.cgroup_parent = o.cgroup_parent.value_or("");
  ctr::StateDir state_dir = ctr::StateDir::create(state);
  timings.mark("state");

  // --- Network (bridge): the address, the bridge, and the container's network namespace ---
  std::optional<ctr::Nat> nat;
  std::optional<ctr::Bridge> bridge;
  if (o.net == "bridge") {
    ctr::Ipam ipam(o.subnet);
    host.lease = o.ip.empty() ? ipam.allocate() : ipam.reserve(ctr::parse_cidr(o.ip, "--ip"));
    host.gateway = ctr::gateway_of(o.subnet);
    state.ip = host.lease->address().to_string();
    state.lease = host.lease->path().string();
    state_dir.write(state);
    bridge = ctr::Bridge::ensure(o.bridge, host.gateway);
    if (o.nat) nat = ctr::Nat::enable(o.subnet, o.bridge);
    if (!in_user_namespace(host)) {
      // Unlike step 5, we make the container's network namespace ourselves, now, and create
      // the veth pair with its container end inside it, already named eth0; the child joins
      // it (setns). Moving a device between namespaces would cost the kernel RCU grace
      // periods (tens of milliseconds here); and with the pair made before the child exists,
      // the parent has nothing left to do for the child (see "Create the child").
      host.netns = ctr::make_netns();
      host.veth = ctr::VethPair::create_in_netns(ctr::unique_veth_names().host,
                                                 std::string(ctr::kContainerInterface), host.netns);
      host.veth.attach_to(*bridge);
      host.veth.up();
      state.veth = host.veth.host_name();
    }
  }
  timings.mark("network");

  // --- Cgroup ---
  // As root, always: it is how `ps`, the OOM report and the final kill find every process.
  if (!rootless) {
    host.cgroup = ctr::Cgroup::create("mycontainer-" + o.name, o.limits, o.cgroup_parent);
    state.cgroup = host.cgroup->name();
    state.cgroup_dirs = host.cgroup->dirs();
    state_dir.write(state);
  }
  timings.mark("cgroup");

  // --- The seccomp filter, compiled once and cached: libseccomp takes most of a millisecond ---
  if (!o.privileged && o.seccomp != "unconfined") {
    // Issue #17 item 2: the allow list, gated by the capabilities the container will hold.
    const ctr::CapabilitySet caps =
        ctr::resolve_capabilities(ctr::default_capabilities(), o.cap_add, o.cap_drop);
    // (= cached_seccomp(default_seccomp_profile(caps), dir), once this file can see spec.hpp)
    host.seccomp = ctr::cached_default_seccomp(caps, ctr::state_root() / "seccomp");
  }

  // --- The terminal's socket (-t) ---
  ctr::UniqueFd console_parent, console_child;
  if (o.tty) {
    int fds[2];
    ctr::check(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds), "socketpair",
               "console");
    console_parent.reset(fds[0]);
    console_child.reset(fds[1]);
    host.console_socket = console_child.get();
  }

  // --- Create the child ---
  // When the parent has nothing to do for the child between clone and exec (no user
  // namespace to map, no terminal to take over, no init that never execs), the child
  // borrows our memory instead of getting a copy of it (CLONE_VM) and we
  // sleep until its execve (CLONE_VFORK): what posix_spawn(3) does. No page tables copied,
  // no copy-on-write faults on either side, nothing to unmap at exec: 0.27 ms less per
  // container here. (It also makes us undumpable with the child: that is a property of
  // the memory, prctl(2) PR_SET_DUMPABLE.)
  host.parent_asleep = !in_user_namespace(host) && !o.tty && !o.init;
  if (host.parent_asleep) {
    // The child will go from setup to its command with nobody in between: a ^C or SIGTERM
    // that came during our setup stops everything here instead, as it would below.
    if (const int sig = defer_signals.take_pending()) {
      fmt::print(stderr, "{}: stopped by signal {} during setup\n", kProgram, sig);
      return ctr::kExitSignalBase + sig;
    }
  }
  // clang-format off
  const int flags = 0
      | CLONE_NEWPID
      | CLONE_NEWNS
      | CLONE_NEWUTS
      | CLONE_NEWIPC                                  // NEW in step 7: own SysV IPC, POSIX queues
      | (o.net != "host" && !host.netns ? CLONE_NEWNET : 0)  // else: it joins host.netns
      | (in_user_namespace(host) ? CLONE_NEWUSER : 0)  // NEW in step 7: own user IDs
      | (host.parent_asleep ? CLONE_VM | CLONE_VFORK : 0)  // NEW in step 7: see above
      ;
  // clang-format on
  ctr::Handshake handshake;
  ctr::ChildProcess child =
      ctr::ChildProcess::clone(flags, [&] { return container_main(o, host, handshake); });
  handshake.close_child_end();
  console_child.reset();
  timings.mark("clone");

  // --- The host side of the child: maps, network, cgroup ---
  ctr::SignalForwarder forward_signals(child.pid());
  defer_signals.release();  // a signal that came during setup is forwarded now
  ctr::apply_id_maps(child.pid(), host.id_maps);  // NEW in step 7
  if (host.netns) {
    // The child joins it (setns) or has: from now on the namespace lives as long as the
    // container's processes, and the kernel deletes the veth pair with it.
    host.netns.reset();
  } else if (o.net == "bridge") {
    // In a user namespace: the child's network namespace came with clone (CLONE_NEWNET) and
    // belongs to it; the pair's container end is created in it, found by the child's pid.
    host.veth = ctr::VethPair::create_in_netns(ctr::unique_veth_names().host,
                                               std::string(ctr::kContainerInterface), child.pid());
    host.veth.attach_to(*bridge);
    host.veth.up();
  }
  timings.mark("maps, veth");

  // --- Let the child build its mounts while we put it into its cgroup ---
  // The child waits a second time before anything that depends on its cgroup (the cgroup
  // namespace, and exec): the move and the state file overlap with its mounts.
  // (Back from CLONE_VFORK, the child has done all that itself and runs the command.)
  if (!host.parent_asleep) {
    handshake.release_child();
    if (host.cgroup) host.cgroup->add(child.pid());
  }
  state.pid = child.pid();
  state.veth = host.veth.host_name();
  state_dir.write(state);
  timings.mark("cgroup.procs, state");

  // --- Let the child go on to exec, and wait for it ---
  if (!host.parent_asleep && ctr::SignalForwarder::terminating_count() > 0) {
    // Asked to stop before the command ever ran: give everything back instead of starting it.
    const int sig = ctr::SignalForwarder::last_signal();
    fmt::print(stderr, "{}: stopped by signal {} during setup\n", kProgram, sig);
    return ctr::kExitSignalBase + sig;
  }
  if (!host.parent_asleep) handshake.release_child();
  std::optional<ctr::TerminalRelay> relay;
  if (o.tty) {
    ctr::UniqueFd master = ctr::recv_fd(console_parent.get());
    if (master) {
      relay.emplace(std::move(master));  // raw mode, and the caller's window size
      const char go = 'G';
      (void)!::write(console_parent.get(), &go, 1);
    }
  }
  std::vector<std::string> child_timings;
  if (auto error = handshake.wait_for_exec(&child_timings)) {
    relay.reset();
    child.wait();
    fmt::print(stderr, "{}: {}\n", kProgram, error->message);
    return error->exit_code;
  }
  timings.mark("child setup + exec");
  const auto grace = std::chrono::seconds(o.stop_timeout);
  bool escalated = false;
  if (relay) {
    // The relay holds the loop while the container runs; its tick applies the stop rule.
    ctr::StopDeadline deadline(grace);
    const ctr::UniqueFd exited = ctr::pidfd_open(child.pid());
    relay->run(exited.get(), [&] {
      if (!escalated && deadline.expired()) escalated = child.kill(SIGKILL);
    });
  }
  const ctr::ExitStatus status = child.wait_with_grace(grace, escalated ? nullptr : &escalated);
  relay.reset();
  timings.mark("command ran");
  // The container's network namespace dies with its last process, and the kernel deletes the
  // veth pair with it; deleting it ourselves would wait for RCU grace periods instead.
  host.veth.leave_to_kernel();

  // --- Report how it ended ---
  if (escalated) {
    fmt::print(stderr, "{}: the container did not stop within {} s of the signal: killed it\n",
               kProgram, o.stop_timeout);
  }
  // The killer picks the biggest process, not always the command: say which it was.
  if (host.cgroup && host.cgroup->oom_killed()) {
    const bool command = !status.exited && status.signal == SIGKILL;
    fmt::print(stderr, "{}: {} killed by the OOM killer (memory limit {})\n", kProgram,
               command ? "the command was" : "a process in the container was",
               o.limits.memory_bytes ? ctr::format_size(*o.limits.memory_bytes) : "none");
  }
  if (o.timings) {
    fmt::print(stderr, "{}: timings\n", kProgram);
    std::vector<std::string> all = timings.lines();
    for (const auto& line : all) fmt::print(stderr, "  {}\n", line);
    for (const auto& line : child_timings) fmt::print(stderr, "  {}\n", line);
  }

  // === 6. Clean up ===
  // In reverse order of creation, by the destructors: the child (already reaped), the cgroup
  // (what is left in it is killed, then it is removed), the veth pair, the address lease,
  // the NAT rule, and last the state directory.
  return status.shell_code();
}

}  // namespace mycontainer
