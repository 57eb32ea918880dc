// Step 7: the whole container. Everything of steps 1-6, plus a user namespace (so it runs
// without root), an IPC and a cgroup namespace, hardening (capabilities, seccomp, masked
// paths, a minimal /dev), a terminal, an init, and state for `mycontainer ps`.
//
// Unlike steps 1-6, nothing here reads a command-line flag: the container is described by
// one Spec, the OCI runtime-spec config.json as C++ types (runtime/spec.hpp), which `run`
// makes from its flags (spec_from_flags.cpp) or reads from a file (`run --config`).
//
// === 1. Command line === is options.cpp and spec_from_flags.cpp: the flags become a Spec.
//
// This file reads like the chapter, in step 6's sections: the child's side first (=== 2 ===,
// in the order it must happen), then the parent's (=== 3 === onwards). Each phase is a short
// function named for what it does. The order matters, and each phase says why:
//
//   user namespace first   every other namespace created with it belongs to it, so root
//                          inside may mount and set the host name there (user_namespaces(7))
//   maps by the parent     a process cannot write its own uid_map with more than itself
//   mounts before pivot    the host's paths are reachable only until the root changes
//   privileges last        dropping capabilities and loading seccomp ends our own power
//                          to mount and configure: nothing may be left to do after them
#include "engine.hpp"

#include <fcntl.h>          // openat(2), O_* flags
#include <linux/mount.h>    // MOUNT_ATTR_*
#include <sched.h>          // CLONE_NEW*, unshare(2), setns(2)
#include <signal.h>         // SIGKILL
#include <sys/mount.h>      // mount(2) MS_MOVE
#include <sys/prctl.h>      // prctl(2) PR_SET_PDEATHSIG
#include <sys/socket.h>     // socket(2), connect(2)
#include <sys/stat.h>       // mkdirat(2), stat(2), mkfifo(3)
#include <sys/un.h>         // sockaddr_un
#include <sys/sysmacros.h>  // major(3), minor(3)
#include <unistd.h>         // getpid(2), readlinkat(2)

#include <algorithm>  // std::any_of
#include <chrono>
#include <cstring>  // std::strerror
#include <filesystem>
#include <set>
#include <optional>
#include <thread>  // std::jthread: an image root's teardown
#include <utility>

#include <fmt/format.h>
#include <fmt/ranges.h>  // fmt::join

#include "ctr/bridge.hpp"            // ctr::Bridge, ctr::VethPair
#include "ctr/cgroup.hpp"            // ctr::Cgroup
#include "ctr/exec.hpp"              // ctr::execvpe
#include "ctr/handshake.hpp"         // ctr::Handshake
#include "ctr/ipam.hpp"              // ctr::Ipam
#include "ctr/mount.hpp"             // ctr::mount, ctr::pivot_root
#include "ctr/narrate.hpp"           // ctr::narrate
#include "ctr/nat.hpp"               // ctr::Nat
#include "ctr/netlink.hpp"           // ctr::configure_container_interface
#include "ctr/process.hpp"           // ctr::ChildProcess, ctr::SignalForwarder
#include "ctr/uts.hpp"               // ctr::sethostname
#include "runtime/capabilities.hpp"  // ctr::apply_capabilities (libcap)
#include "runtime/devices.hpp"       // ctr::populate_dev
#include "runtime/exec_chain.hpp"    // ctr::check_exec_chain
#include "runtime/exec.hpp"          // mycontainer::namespaces_to_join (createContainer hooks)
#include "runtime/hardening.hpp"     // masked paths, no_new_privs, rlimits, descriptors
#include "runtime/hooks.hpp"         // ctr::run_hooks (OCI create)
#include "runtime/init.hpp"          // ctr::run_init (--init)
#include "runtime/hosts.hpp"         // ctr::HostsEntry: names on the bridge
#include "runtime/netns.hpp"         // ctr::make_netns, ctr::join_netns
#include "runtime/overlay.hpp"       // ctr::ContainerOverlay, ctr::mount_overlay (image layers)
#include "runtime/ports.hpp"         // ctr::PublishedPorts: -p
#include "runtime/record.hpp"        // mycontainer::record_dir (a kept upper layer)
#include "runtime/path.hpp"          // ctr::open_in_root: mount targets resolved inside the rootfs
#include "runtime/pty.hpp"           // ctr::openpty, ctr::TerminalRelay (-t)
#include "runtime/seccomp.hpp"       // ctr::load_bpf (libseccomp)
#include "runtime/state.hpp"         // ctr::StateDir
#include "runtime/user.hpp"          // ctr::setgroups, ctr::setresgid, ctr::setresuid
#include "runtime/userns.hpp"        // ctr::plan_for_mappings, ctr::apply_id_maps
#include "oci.hpp"                   // mycontainer::log_error (--log)

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
  ctr::HostsEntry hosts_entry;      // its name in the bridge's hosts file
  ctr::PublishedPorts ports;        // -p: its DNAT rules and port claims
  ctr::VethPair veth;               // host end on the bridge, peer for the container
  ctr::Ipv4Cidr gateway{};
  std::optional<ctr::Cgroup> cgroup;
  ctr::UniqueFd netns;  // the network namespace the parent made for the child (bridge)
  std::vector<std::pair<NamespaceType, ctr::UniqueFd>> joined;  // linux.namespaces[].path
  ctr::IdMapPlan id_maps;       // how the user namespace is mapped (method kNone: none)
  ctr::BpfProgram seccomp;      // the compiled filter (empty: none)
  bool parent_asleep = false;   // CLONE_VFORK: nobody will release the child; see run()
  bool born_in_cgroup = false;  // clone3 CLONE_INTO_CGROUP (v2): no move needed; see run()
  std::string exec_fifo;        // OCI create: the fifo the first process waits on for `start`
  // An image's root (spec.root_layers): the layers and the container's own upper directory,
  // mounted by the child as an overlay on `overlay_root` (runtime/overlay.hpp).
  std::optional<ctr::OverlayDirs> overlay;
  std::string overlay_root;
  // As root with --userns the runtime mounts that overlay and sends it to the child (NEW:
  // images; runtime/overlay.hpp, make_overlay_for_user_namespace): the store is root's alone.
  bool overlay_from_runtime = false;
};

// One container being run: the spec, and what this run made for it.
struct Container {
  const Spec& spec;
  const RunRequest& request;
  HostSide host;

  const std::string& rootfs() const { return host.overlay ? host.overlay_root : request.rootfs; }
  // OCI create (engine.hpp): nullptr for the foreground `run`.
  const CreateRequest* oci() const { return request.create ? &*request.create : nullptr; }
  // The caller, not us, is the first process's parent (clone(2) CLONE_PARENT): its life
  // must not end with ours (no PR_SET_PDEATHSIG).
  bool caller_is_parent() const { return oci() != nullptr && oci()->caller_is_parent; }
  // Descriptors 3.. that pass to the container (OCI --preserve-fds, LISTEN_FDS).
  int preserved_fds() const { return oci() != nullptr ? oci()->preserve_fds : 0; }
  bool in_user_namespace() const { return host.id_maps.method != ctr::IdMapMethod::kNone; }
  // Where the child was not born in its cgroup (v1), who moves it in. The child itself, as
  // one thread, which never waits (Cgroup::add_self); but in a user namespace it may not write
  // the host's cgroup files, and for OCI create the createRuntime hooks must find it in its
  // cgroup while it is still busy with its mounts: there the parent moves it.
  bool child_joins_cgroup_itself() const { return !in_user_namespace() && oci() == nullptr; }
  bool own_network() const { return spec.linux.has_namespace(NamespaceType::kNetwork); }
};

// A mount target that is a symlink whose target does not exist inside the rootfs (the image's
// /data -> /srv/data, and no /srv/data): resolved inside, it leads nowhere, and we do not
// create what it names (that would be writing into the image where it did not ask). Said in
// one line, rather than the EEXIST that mkdirat(2) gives for the link's own name.
void refuse_dangling_link(const ctr::UniqueFd& dir, const std::string& leaf,
                          const std::string& path) {
  char target[4096];
  const ssize_t n = ::readlinkat(dir.get(), leaf.c_str(), target, sizeof target - 1);
  if (n < 0) return;  // not a symlink (EINVAL), or not there (ENOENT): mkdirat will say
  throw ctr::UsageError(fmt::format(
      "mount target '{}' is a symbolic link to '{}', which does not exist inside the rootfs "
      "(links are resolved inside it): create it in the rootfs, or choose another target",
      path, std::string(target, static_cast<size_t>(n))));
}

// Makes `path` exist inside rootfs (a directory, or an empty file when `file`), resolving
// every component inside the rootfs, and returns it opened O_PATH: the mount target.
// A missing target is the usual case (/dev/pts, /dev/shm and /dev/mqueue in a fresh /dev), so
// it is an answer, not an exception: the first throws of a process cost about 0.1 ms each here
// (the unwinder reads its tables, faulting their pages in), 0.33 ms of every start (#16).
ctr::UniqueFd mount_point_in_rootfs(const std::string& rootfs, const std::string& path, bool file) {
  if (auto present = ctr::open_in_root_if_present(rootfs, path)) return std::move(*present);
  const auto slash = path.find_last_of('/');
  const std::string parent = slash == 0 ? "/" : path.substr(0, slash);
  const std::string leaf = path.substr(slash + 1);
  const ctr::UniqueFd dir = mount_point_in_rootfs(rootfs, parent, false);
  const ctr::UniqueFd real_dir(ctr::check(
      ::openat(dir.get(), ".", O_DIRECTORY | O_RDONLY | O_CLOEXEC), "openat", rootfs + parent));
  refuse_dangling_link(real_dir, leaf, path);
  if (file) {
    ctr::UniqueFd(ctr::check(
        ::openat(real_dir.get(), leaf.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644),
        "openat", rootfs + path));
  } else {
    ctr::check(::mkdirat(real_dir.get(), leaf.c_str(), 0755), "mkdirat", rootfs + path);
  }
  return ctr::open_in_root(rootfs, path);
}

// MS_RDONLY, MS_NOSUID... -> MOUNT_ATTR_RDONLY, MOUNT_ATTR_NOSUID... (mount_setattr(2)).
uint64_t mount_attributes(unsigned long flags) {
  uint64_t attr = MOUNT_ATTR_NODEV;  // every mount the container can reach: see mount_root
  if (flags & MS_RDONLY) attr |= MOUNT_ATTR_RDONLY;
  if (flags & MS_NOSUID) attr |= MOUNT_ATTR_NOSUID;
  if (flags & MS_NOEXEC) attr |= MOUNT_ATTR_NOEXEC;
  return attr;
}

// ============================================================================================
// === What this engine can do: checked before anything is created ===
// ============================================================================================
// A config.json may ask for what mycontainer does not do; each such field is refused by name
// rather than silently left out (a container without the hook or the limit it asked for is
// not the container it described). And what it may ask is an allow-list: a sysctl of one of
// the container's own namespaces, a device of the host's /dev by its own name and number.

// sysctl(8) keys that belong to a namespace of the container's (runc's list,
// libcontainer/configs/validate): the network namespace's net.*, the IPC namespace's SysV
// and POSIX queue knobs. Every other key is the host's: kernel.core_pattern, for one, runs a
// program on the host.
bool namespaced_sysctl(const Spec& spec, const std::string& key) {
  if (key.find("..") != std::string::npos || key.find('/') != std::string::npos) return false;
  const auto starts = [&](const char* prefix) { return key.rfind(prefix, 0) == 0; };
  if (starts("net.")) return spec.linux.has_namespace(NamespaceType::kNetwork);
  static const std::set<std::string> kIpc = {
      "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
      "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"};
  if (kIpc.count(key) || starts("fs.mqueue.")) {
    return spec.linux.has_namespace(NamespaceType::kIpc);
  }
  return false;
}

// linux.devices: /dev/NAME, bound from the host's /dev/NAME, which must be that very device.
void check_device(const Device& d, std::size_t i) {
  const std::string field = fmt::format("linux.devices[{}]", i);
  const std::string name = d.path.substr(std::min<std::size_t>(5, d.path.size()));
  if (d.path.rfind("/dev/", 0) != 0 || name.empty() || name.find('/') != std::string::npos ||
      name == "." || name == "..") {
    throw ctr::UsageError(fmt::format("{}.path: '{}' must be /dev/NAME", field, d.path));
  }
  struct stat st {};
  const bool is_char = d.type == DeviceType::kChar;
  if (::stat(d.path.c_str(), &st) != 0 || (is_char ? !S_ISCHR(st.st_mode) : !S_ISBLK(st.st_mode)) ||
      major(st.st_rdev) != d.major || minor(st.st_rdev) != d.minor) {
    throw ctr::UsageError(fmt::format(
        "{}: the host has no {} device {}:{} at {} (devices are bound from the host's /dev)", field,
        is_char ? "character" : "block", d.major, d.minor, d.path));
  }
}

void refuse_unsupported(const Spec& spec, bool oci) {
  const auto refuse = [](const std::string& field, const std::string& why) {
    throw ctr::UsageError(fmt::format("{}: {}", field, why));
  };
  const Hooks& h = spec.hooks;
  if (oci) {
    // OCI create runs them (runtime/hooks.hpp); the foreground `run` has no `start` or
    // `delete` to run the later ones at.
  } else if (!h.prestart.empty() || !h.create_runtime.empty() || !h.create_container.empty() ||
             !h.start_container.empty() || !h.poststart.empty() || !h.poststop.empty()) {
    refuse("hooks", "mycontainer run does not run OCI hooks; remove them from the config.json");
  }
  for (const Namespace& ns : spec.linux.namespaces) {
    // What a podman pod shares (network, ipc, uts, cgroup; pid with --share pid). A user or
    // mount namespace would have to be entered before anything else is set up.
    const bool joinable = ns.type == NamespaceType::kNetwork || ns.type == NamespaceType::kIpc ||
                          ns.type == NamespaceType::kUts || ns.type == NamespaceType::kPid ||
                          ns.type == NamespaceType::kCgroup;
    if (ns.path && !joinable) {
      refuse("linux.namespaces", fmt::format("joining an existing {} namespace is not possible "
                                             "here; only network, ipc, uts, pid and cgroup can "
                                             "be joined",
                                             to_string(ns.type)));
    }
    if (ns.type == NamespaceType::kTime) {
      refuse("linux.namespaces", "a time namespace is not made by mycontainer; remove it");
    }
  }
  if (const auto& caps = spec.process.capabilities;
      caps && (!caps->inheritable.empty() || !caps->ambient.empty())) {
    refuse("process.capabilities",
           "inheritable and ambient capabilities are not given by mycontainer; leave them empty");
  }
  if (const auto& r = spec.linux.resources) {
    if (r->memory && r->memory->reservation) {
      refuse("linux.resources.memory.reservation", "not applied; remove it");
    }
    // swap is memory + swap (config-linux.md): -1 unlimited, else at least the limit.
    if (r->memory && r->memory->swap && *r->memory->swap != -1 &&
        (!r->memory->limit || *r->memory->limit <= 0 || *r->memory->swap < *r->memory->limit)) {
      refuse("linux.resources.memory.swap",
             "must be -1 or at least linux.resources.memory.limit (it counts memory + swap)");
    }
    if (r->cpu && (r->cpu->cpus || r->cpu->mems)) {
      refuse("linux.resources.cpu", "cpus and mems are not applied; remove them");
    }
  }
  for (const auto& [key, value] : spec.linux.sysctl) {
    if (!namespaced_sysctl(spec, key)) {
      refuse(fmt::format("linux.sysctl[\"{}\"]", key),
             "not a setting of the container's own namespaces (net.* with a network namespace, "
             "the IPC ones with an IPC namespace): it would change the host");
    }
  }
  for (std::size_t i = 0; i < spec.linux.devices.size(); ++i)
    check_device(spec.linux.devices[i], i);
}

// ============================================================================================
// === 2. Inside the child: build the container's world, then run the command ===
// ============================================================================================

// --- Join the namespaces the parent opened for us --- NEW in step 7
// The network namespace the parent made (with our veth already in it), and those the spec
// names by path (linux.namespaces[].path: podman's pod, a namespace kept by `ip netns`).
// First: /sys, mounted below, shows the devices of the mounter's network namespace.
void join_namespaces(const HostSide& host) {
  if (host.netns) {
    ctr::join_netns(host.netns);
    ::close(host.netns.get());  // our copy: the descriptor only (the object is the parent's)
  }
  for (const auto& [type, fd] : host.joined) {
    // pid: the parent joined it for us, before clone (see join_pid_namespace); cgroup: once
    // we are in our cgroup (enter_cgroup_namespace).
    if (type == NamespaceType::kPid || type == NamespaceType::kCgroup) continue;
    ctr::check(::setns(fd.get(), clone_flag(type)), "setns", to_string(type));
    ctr::narrate({.call = fmt::format("setns(fd, {})", to_string(type)),
                  .result = "ok",
                  .shell = fmt::format("nsenter --{}=PATH", to_string(type)),
                  .man = "setns(2)"});
  }
}

// --- Become root of the user namespace --- NEW in step 7
// The parent has written our uid_map and gid_map by now. Until we setresuid(0) we are
// "nobody" even to ourselves (user_namespaces(7)).
void become_root(const Container& c) {
  if (!c.in_user_namespace()) return;
  ctr::become_root_in_userns();
  if (!c.caller_is_parent()) ctr::set_parent_death_signal(SIGKILL);  // cleared by the uid change
}

// --- Bind the root onto itself, or mount the image's layers there ---
// pivot_root(2) needs new_root to be a mount point. nodev: a device node in the image, or
// one the container makes with mknod, cannot be opened: no path to the host's disks (the
// same on every mount the container can write).
// An image's root is an overlay of its layers (NEW: images): mounted here, in our own mount
// namespace, so it exists only while the container does. A runtime killed with SIGKILL
// leaves no mount behind: the namespace, and every mount in it, dies with the container's
// last process (mount_namespaces(7)).
// With --userns as root, the runtime made the overlay (it can reach the store, we cannot):
// it comes over the handshake as a detached mount, and we move it onto the mount point.
void mount_root(const Container& c, ctr::Handshake& handshake) {
  const std::string& rootfs = c.rootfs();
  if (c.host.overlay) {
    const ctr::UniqueFd target(
        ctr::check(::open(rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC), "open", rootfs));
    if (c.host.overlay_from_runtime) {
      const ctr::UniqueFd mounted = ctr::recv_fd(handshake.child_fd());
      if (!mounted) throw ctr::UsageError("the runtime sent no overlay for the image's root");
      ctr::move_overlay_into_place(mounted, target, rootfs);
      return;
    }
    ctr::mount_overlay(*c.host.overlay, target, rootfs, c.in_user_namespace());
    return;
  }
  ctr::bind_mount(rootfs, rootfs);
  ctr::mount_setattr_recursive(ctr::open_in_root(rootfs, "/"), rootfs, MOUNT_ATTR_NODEV);
}

// The foreground `run` holds the overlay it waits for (runtime/overlay.hpp, ContainerOverlay:
// its teardown then waits in the runtime, not in the container's exit). A descriptor of the
// merged root, opened after the mount (so it is the overlay's), is a reference to the mount.
// Not for OCI create: the runtime exits, the container keeps its overlay.
bool parent_holds_overlay(const Container& c) {
  return c.host.overlay && !c.oci();
}

void send_overlay_to_parent(const Container& c, ctr::Handshake& handshake) {
  if (!parent_holds_overlay(c)) return;
  const std::string& rootfs = c.rootfs();
  const ctr::UniqueFd root(
      ctr::check(::open(rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC), "open", rootfs));
  ctr::narrate({.call = fmt::format("open(\"{}\", O_PATH|O_DIRECTORY) -> fd {}, to the runtime",
                                    rootfs, root.get()),
                .result = "ok",
                .shell = "(the runtime holds the overlay until its end: runtime/overlay.hpp)",
                .man = "open(2) O_PATH, unix(7) SCM_RIGHTS"});
  handshake.send_fd(root.get());
}

// A bind mount (-v): the source from the host, the target resolved inside the rootfs; its
// flags applied to it and to every mount below it (mount_setattr(2) AT_RECURSIVE).
void mount_bind(const std::string& rootfs, const Mount& m) {
  const bool is_file = !std::filesystem::is_directory(m.source);
  const ctr::UniqueFd target = mount_point_in_rootfs(rootfs, m.destination, is_file);
  ctr::mount_on_fd(m.source, target, rootfs + m.destination, "", MS_BIND | (m.flags & MS_REC));
  ctr::mount_setattr_recursive(ctr::open_in_root(rootfs, m.destination), rootfs + m.destination,
                               mount_attributes(m.flags));
}

// sysfs shows the network devices of the mounter's network namespace. A user namespace that
// does not own the network namespace may not mount it (sysfs(5)): bind the host's,
// read-only, instead, as runc does.
void mount_sysfs(const Container& c, const Mount& m, const ctr::UniqueFd& target) {
  const std::string shown = c.rootfs() + m.destination;
  if (c.own_network() || !c.in_user_namespace()) {
    ctr::mount_on_fd("sysfs", target, shown, "sysfs", m.flags, m.data);
    return;
  }
  ctr::mount_on_fd("/sys", target, shown, "", MS_BIND | MS_REC);
  ctr::remount_bind_read_only(ctr::open_in_root(c.rootfs(), m.destination), shown);
}

// --- Devices --- NEW in step 7
// The default six (null, zero, full, random, urandom, tty) and the spec's linux.devices, each
// the host's node bind-mounted onto an empty file in the container's /dev tmpfs.
void populate_devices(const Container& c) {
  std::vector<ctr::DeviceNode> extra;
  const auto& defaults = ctr::default_devices();
  for (const Device& d : c.spec.linux.devices) {
    const std::string name = d.path.substr(std::string("/dev/").size());
    if (std::any_of(defaults.begin(), defaults.end(),
                    [&](const auto& n) { return n.name == name; })) {
      continue;  // one of the six already (check_device made sure it is the same device)
    }
    extra.push_back({d.path.substr(std::string("/dev/").size()), static_cast<unsigned>(d.major),
                     static_cast<unsigned>(d.minor)});
  }
  ctr::populate_dev(c.rootfs(), extra);
}

// The target of a non-bind mount. /proc and /sys are part of every root filesystem: where the
// image has none, it is no root filesystem (or an empty directory), and we say so rather than
// write into it. Other targets (/dev/pts in our /dev, a --tmpfs) are made when missing.
// Under an engine (OCI create) the root is the engine's: an image without /proc (podman's
// pod infra image, built from one static binary) gets the directory made, as runc does. So
// does the overlay of an image's layers (`create` true): made in the container's own upper
// directory, the image is not touched.
ctr::UniqueFd kernel_mount_point(const std::string& rootfs, const Mount& m, bool create) {
  if ((m.type != "proc" && m.type != "sysfs") || create)
    return mount_point_in_rootfs(rootfs, m.destination, false);
  if (auto fd = ctr::open_in_root_if_present(rootfs, m.destination)) return std::move(*fd);
  throw ctr::UsageError(
      fmt::format("rootfs '{}' has no {}: it does not look like a root filesystem (make one with "
                  "scripts/make-rootfs.sh, or pass --rootfs DIR)",
                  rootfs, m.destination));
}

// A tmpfs with "tmpcopyup": what the image has there, copied into it. A descriptor of the
// directory opened before the mount still reaches what the mount then covers (mount(2)
// shadows names, not open files), and both sides are named through /proc/self/fd, never by
// a path an image's symlink could redirect.
void mount_tmpfs_copied_up(const std::string& rootfs, const Mount& m, const ctr::UniqueFd& target) {
  const ctr::UniqueFd below(
      ctr::check(::openat(target.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC), "openat",
                 rootfs + m.destination));
  ctr::mount_on_fd(m.source, target, rootfs + m.destination, m.type, m.flags, m.data);
  const ctr::UniqueFd above = ctr::open_in_root(rootfs, m.destination, O_RDONLY | O_DIRECTORY);
  namespace fs = std::filesystem;
  // Entry by entry: the two /proc/self/fd links are symlinks themselves, which copy_symlinks
  // would copy as links rather than follow.
  const fs::path to = fmt::format("/proc/self/fd/{}", above.get());
  for (const auto& entry : fs::directory_iterator(fmt::format("/proc/self/fd/{}", below.get()))) {
    fs::copy(entry.path(), to / entry.path().filename(),
             fs::copy_options::recursive | fs::copy_options::copy_symlinks);
  }
}

// --- Mount what the spec lists: /proc, /dev, /sys, volumes, tmpfs ---
// Each target is resolved inside the rootfs (open_in_root): a symlink the image planted at
// /proc or /dev cannot send a mount onto the host (runc CVE-2019-19921). The cgroup view
// waits until we are in our cgroup (mount_cgroups).
void mount_spec_mounts(const Container& c) {
  const std::string& rootfs = c.rootfs();
  for (const Mount& m : c.spec.mounts) {
    if (m.type == "cgroup" || m.type == "cgroup2") continue;
    if (m.is_bind()) {
      mount_bind(rootfs, m);
      continue;
    }
    const ctr::UniqueFd target =
        kernel_mount_point(rootfs, m, c.oci() != nullptr || c.host.overlay.has_value());
    if (m.type == "sysfs") {
      mount_sysfs(c, m, target);
    } else if (m.copy_up && m.type == "tmpfs") {
      mount_tmpfs_copied_up(rootfs, m, target);
    } else {
      ctr::mount_on_fd(m.source, target, rootfs + m.destination, m.type, m.flags, m.data);
    }
    // A fresh tmpfs at /dev gets its devices at once, before /dev/pts and /dev/shm land in it.
    if (m.destination == "/dev" && m.type == "tmpfs") populate_devices(c);
  }
}

// --- Set the host name, and the network inside ---
void configure_network(const Container& c) {
  if (!c.spec.hostname.empty()) ctr::sethostname(c.spec.hostname);
  if (!c.spec.domainname.empty()) ctr::setdomainname(c.spec.domainname);
  switch (c.spec.network.mode) {
    case NetworkMode::kBridge:
      ctr::configure_container_interface(ctr::kContainerInterface, ctr::kContainerInterface,
                                         c.host.lease->address(), c.host.gateway.addr);
      break;
    case NetworkMode::kNone:
      if (c.own_network()) ctr::bring_up_loopback();
      break;
    case NetworkMode::kHost:
      break;
  }
}

// --- Kernel parameters of our own namespaces (linux.sysctl) --- NEW in step 7
// /proc/sys/net/... of a network namespace we own, kernel.shm* of our IPC namespace: written
// through our own /proc, resolved inside the rootfs.
void write_sysctls(const Container& c) {
  for (const auto& [key, value] : c.spec.linux.sysctl) {
    std::string path = "/proc/sys/" + key;
    std::replace(path.begin() + 10, path.end(), '.', '/');
    const ctr::UniqueFd fd = ctr::open_in_root(c.rootfs(), path, O_WRONLY);
    ctr::check(static_cast<int>(::write(fd.get(), value.data(), value.size())), "write", path);
    ctr::narrate({.call = fmt::format("write(\"{}\", \"{}\")", path, value),
                  .result = "ok",
                  .shell = fmt::format("sysctl -w {}='{}'", key, value),
                  .man = "sysctl(8)"});
  }
}

// /sys/fs/cgroup inside: the container's own cgroup as the root of a read-only view (the
// cgroup namespace makes it the root, cgroup_namespaces(7)). On v2 one cgroup2 mount; on v1 a
// tmpfs with one read-only mount per hierarchy, each directory made inside the rootfs. A
// view that cannot be mounted (v1 in a user namespace: only the initial one may mount
// cgroup v1) is left empty.
void mount_cgroup_view(const Container& c, const std::string& destination) {
  const std::string& rootfs = c.rootfs();
  const std::string target = rootfs + destination;
  const ctr::UniqueFd fd = mount_point_in_rootfs(rootfs, destination, false);
  const unsigned long ro = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC;
  const auto& cgroup = c.host.cgroup;
  // Without a cgroup namespace of its own (podman's default on v1, --cgroupns host), a
  // cgroup mount would show the host's whole tree, rooted at the host's root: bind the
  // container's own directories instead, as runc does, so /sys/fs/cgroup/memory is its cgroup.
  const bool own_root = c.spec.linux.has_namespace(NamespaceType::kCgroup);
  if (cgroup && cgroup->version() == ctr::CgroupVersion::kV2) {
    if (own_root) {
      ctr::mount_on_fd("cgroup2", fd, target, "cgroup2", ro);
    } else {
      ctr::mount_on_fd(cgroup->dirs().front(), fd, target, "", MS_BIND);
      ctr::remount_bind(ctr::open_in_root(rootfs, destination), target, ro);
    }
    return;
  }
  ctr::mount_on_fd("tmpfs", fd, target, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                   "mode=755,size=64k");
  if (cgroup && !c.in_user_namespace()) {
    // The tmpfs is new, ours, and seen by no other process yet (we are the container's first,
    // before its exec): its directories are made and opened relative to it, with none of
    // mount_point_in_rootfs's resolving, which guards against what an image may have planted.
    const ctr::UniqueFd view = ctr::open_in_root(rootfs, destination, O_RDONLY | O_DIRECTORY);
    for (const auto& dir : cgroup->dirs()) {
      // Each tree by its controllers: "memory", "cpu,cpuacct", the name and the mount options
      // (mount -t cgroup -o cpu,cpuacct) of the same tree seen from the container.
      const std::string tree = fmt::format("{}", fmt::join(cgroup->controllers_of(dir), ","));
      if (tree.empty()) continue;
      const std::string inside = fmt::format("{}/{}", destination, tree);
      ctr::check(::mkdirat(view.get(), tree.c_str(), 0755), "mkdirat", rootfs + inside);
      const ctr::UniqueFd where(ctr::check(
          ::openat(view.get(), tree.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC),
          "openat", rootfs + inside));
      if (own_root) {
        ctr::mount_on_fd("cgroup", where, rootfs + inside, "cgroup", ro, tree);
      } else {
        ctr::mount_on_fd(dir, where, rootfs + inside, "", MS_BIND);
        ctr::remount_bind(ctr::open_in_root(rootfs, inside), rootfs + inside, ro);
      }
    }
  }
  ctr::remount_bind(ctr::open_in_root(rootfs, destination), target, ro);
}

// --- Enter a cgroup namespace, and mount the cgroup view --- NEW in step 7
// Now, not at clone: we are in our cgroup, so it becomes the root of what /proc/self/cgroup
// and /sys/fs/cgroup show (cgroup_namespaces(7)).
void enter_cgroup_namespace(const Container& c) {
  const auto joined = std::find_if(c.host.joined.begin(), c.host.joined.end(),
                                   [](const auto& j) { return j.first == NamespaceType::kCgroup; });
  if (joined != c.host.joined.end()) {
    // A pod's: its root is the pod's cgroup, as the other members see it.
    ctr::check(::setns(joined->second.get(), CLONE_NEWCGROUP), "setns", "cgroup");
    ctr::narrate({.call = "setns(fd, CLONE_NEWCGROUP)",
                  .result = "ok",
                  .shell = "nsenter --cgroup=PATH",
                  .man = "setns(2), cgroup_namespaces(7)"});
  } else if (c.spec.linux.has_namespace(NamespaceType::kCgroup)) {
    ctr::check(::unshare(CLONE_NEWCGROUP), "unshare", "CLONE_NEWCGROUP");
    ctr::narrate({.call = "unshare(CLONE_NEWCGROUP)",
                  .result = "ok",
                  .shell = "unshare --cgroup",
                  .man = "cgroup_namespaces(7)"});
  }
  for (const Mount& m : c.spec.mounts) {
    if (m.type != "cgroup" && m.type != "cgroup2") continue;
    try {
      mount_cgroup_view(c, m.destination);
    } catch (const ctr::SyscallError& e) {
      ctr::narrate({.call = "mount " + m.destination,
                    .result = fmt::format("skipped: {}", e.what()),
                    .shell = "",
                    .man = "cgroups(7)"});
    }
  }
}

// --- Hide what the kernel shows too much of --- NEW in step 7
// Files under /proc and /sys that describe or control the whole host: masked (an empty file
// or directory on top) or read-only (linux.maskedPaths, linux.readonlyPaths; by default
// docker's list, moby oci/defaults.go). Then the root itself, if root.readonly.
void hide_host_paths(const Container& c) {
  ctr::mask_paths(c.spec.linux.masked_paths);
  ctr::make_paths_read_only(c.spec.linux.readonly_paths);
  if (c.spec.root.readonly) ctr::remount_bind_read_only(ctr::open_in_root("/", "/"), "/");
}

// --- A terminal (process.terminal) --- NEW in step 7
// Opened here, in the container's own devpts, and its master handed to the parent over the
// handshake (SCM_RIGHTS, unix(7)): the parent relays between it and the caller's terminal.
// Without one, a new session all the same: without a controlling terminal of the caller's,
// the container cannot push keystrokes into it with TIOCSTI (ioctl_tty(2)).
void set_up_terminal(const Container& c, ctr::Handshake& handshake) {
  if (!c.spec.process.terminal) {
    ctr::setsid();
    return;
  }
  ctr::Pty pty = ctr::openpty();
  handshake.send_fd(pty.master.get());
  handshake.wait_for_parent();  // until the parent has set the terminal's size
  ctr::make_controlling_terminal(pty.slave.get());
}

// --- Drop privileges: last, because after this we could not set anything up --- NEW in step 7
// Limits, no_new_privs, seccomp (loaded while we still hold CAP_SYS_ADMIN: seccomp(2) needs
// it or no_new_privs; the filter still lets capset, setresuid and execve through), then the
// bounding set (it needs CAP_SETPCAP), then the user switch while we still hold CAP_SETUID
// and CAP_SETGID: runc's order. Groups, then the group, then the user (setuid(2)).
void drop_privileges(const Container& c) {
  const Process& p = c.spec.process;
  if (p.oom_score_adj) ctr::set_oom_score_adj(*p.oom_score_adj);
  if (p.user.umask) ::umask(*p.user.umask);  // umask(2) cannot fail
  ctr::set_default_nofile();
  for (const Rlimit& r : p.rlimits) ctr::apply_ulimits({{r.resource, r.soft, r.hard}});
  if (p.no_new_privileges) ctr::set_no_new_privs();  // setuid binaries stop granting anything
  if (!c.host.seccomp.empty()) ctr::load_bpf(c.host.seccomp);
  const Capabilities caps = p.capabilities.value_or(Capabilities{});
  const User& user = p.user;
  if (user.uid != 0) ctr::drop_bounding_set(caps.bounding);  // for root: apply_capabilities
  if (user.gid != 0 || user.uid != 0 || !user.additional_gids.empty()) {
    std::vector<gid_t> groups = user.additional_gids;
    if (groups.empty()) groups.push_back(user.gid);
    ctr::setgroups(groups);
    ctr::setresgid(user.gid);
  } else if (!c.in_user_namespace()) {
    // Root keeps no supplementary group of the caller's (become_root_in_userns does the
    // same in a user namespace, where setgroups may be denied).
    ctr::setgroups({});
  }
  if (user.uid != 0) {
    // A non-zero uid clears the permitted and effective sets (capabilities(7), "Effect of
    // user ID changes"): a non-root user keeps only the bounding set, as in docker.
    ctr::setresuid(user.uid);
    if (!c.caller_is_parent()) ctr::set_parent_death_signal(SIGKILL);  // cleared by the change
  } else {
    ctr::apply_capabilities(caps.effective);  // permitted and effective, ambient cleared
  }
  // No descriptor of the runtime may reach the command (CVE-2024-21626): all close on exec,
  // but those the caller asked to pass on (OCI --preserve-fds, LISTEN_FDS).
  ctr::set_cloexec_from(3 + c.preserved_fds());
}

// --- The exec fifo: opened now, written last --- NEW for the OCI create
// The state directory is the host's, reachable only until the root changes. O_PATH opens the
// fifo without waiting for a reader (opening it for writing would block here, fifo(7));
// wait_for_start reopens it through /proc/self/fd for writing, runc's way.
ctr::UniqueFd open_exec_fifo(const Container& c) {
  if (c.host.exec_fifo.empty()) return {};
  return ctr::UniqueFd(
      ctr::check(::open(c.host.exec_fifo.c_str(), O_PATH | O_CLOEXEC), "open", c.host.exec_fifo));
}

// --- Change root: pivot_root, or (OCI --no-pivot) MS_MOVE and chroot ---
// --no-pivot is for a root on a ramfs or tmpfs that is the initial root, where pivot_root(2)
// fails with EINVAL. It is weaker: the old root is not detached, only covered, and chroot(2)
// NOTES says a process that keeps CAP_SYS_CHROOT can get back out. runc does the same.
void change_root(const Container& c) {
  if (c.oci() == nullptr || !c.oci()->no_pivot) {
    ctr::pivot_root(c.rootfs());
    return;
  }
  ctr::chdir(c.rootfs());
  ctr::check(::mount(".", "/", nullptr, MS_MOVE, nullptr), "mount", "MS_MOVE " + c.rootfs());
  ctr::chroot(".");  // and chdir("/")
  ctr::narrate({.call = "mount(\".\", \"/\", MS_MOVE); chroot(\".\")",
                .result = "ok",
                .shell = fmt::format("cd {} && mount --move . / && chroot .", c.rootfs()),
                .man = "mount(2) MS_MOVE, chroot(2)"});
}

// --- Wait for `start`, then run the command --- NEW for the OCI create
// Everything is set up and the command was found. Closing our end of the handshake tells
// `create` so (it reads EOF, as for an exec) and it returns; we block opening the fifo for
// writing until `start` opens it for reading (fifo(7): an open for writing waits for a
// reader). The descriptor is close-on-exec: a successful execve closes it, and `start`
// reads EOF; a failed one writes "CODE message" into it first, and `start` reports that.
int run_when_started(const Container& c, ctr::Handshake& handshake, const ctr::UniqueFd& fifo) {
  ::close(handshake.child_fd());  // nothing is reported over the handshake from here on
  // We may wait long: nothing of create's may stay open with us meanwhile, least of all the
  // container's lock (flock(2) belongs to the open file, which clone copied to us).
  ctr::close_fds_from(3 + c.preserved_fds(), {fifo.get()});
  const auto& args = c.spec.process.args;
  const auto& env = c.spec.process.env;
  const std::string self = fmt::format("/proc/self/fd/{}", fifo.get());
  int fd;
  while ((fd = ::open(self.c_str(), O_WRONLY | O_CLOEXEC)) < 0 && errno == EINTR) {
  }
  if (fd < 0) {
    const int err = errno;
    fmt::print(stderr, "{}: open('{}'): {} (is /proc mounted?)\n", kProgram, self,
               std::strerror(err));
    return ctr::kExitRuntimeFailed;
  }
  const ctr::UniqueFd started(fd);
  try {
    ctr::execvpe(args, env);
  } catch (const std::exception& e) {
    const auto* sys = dynamic_cast<const ctr::SyscallError*>(&e);
    const int code = sys != nullptr ? ctr::exec_error_code(sys->err()) : ctr::kExitRuntimeFailed;
    const std::string line = fmt::format("{} {}\n", code, ctr::error_line(e));
    [[maybe_unused]] const ssize_t n = ::write(started.get(), line.data(), line.size());
    return code;
  }
  return ctr::kExitRuntimeFailed;  // execvpe returns only by throwing
}

// OCI: hooks that run while the container is being created (the parent runs them between the
// mounts and pivot_root, engine.cpp "the createRuntime and createContainer hooks run now").
bool has_create_hooks(const Hooks& h) {
  return !h.prestart.empty() || !h.create_runtime.empty() || !h.create_container.empty();
}

// The child: each phase in the order the chapter explains.
int container_main(Container& c, ctr::Handshake& handshake) {
  handshake.close_parent_end();
  ctr::DeferTerminatingSignals::unblock_in_child();  // the parent's mask came with clone
  // Our parent is the caller's process (conmon, the shim), not the runtime: we live on when
  // it ends, as runc's containers do (prctl(2) PR_SET_PDEATHSIG, set by the clone wrapper).
  if (c.caller_is_parent()) ::prctl(PR_SET_PDEATHSIG, 0);
  if (!c.host.parent_asleep) handshake.wait_for_parent();
  // Not dumpable until exec: nothing in the container can ptrace us or read our memory
  // through /proc/PID/mem while we still hold the host's file system (prctl(2)
  // PR_SET_DUMPABLE; execve(2) sets it back for the command). Only now: it also makes our
  // /proc/PID files root's, and a rootless parent must write our uid_map first.
  ctr::set_dumpable(false);
  Timings timings;
  return ctr::child_setup(handshake, [&]() -> int {
    join_namespaces(c.host);
    become_root(c);
    ctr::make_mounts_private();
    const ctr::UniqueFd exec_fifo = open_exec_fifo(c);  // OCI create: before the root changes
    timings.mark("child: namespaces");

    mount_root(c, handshake);
    send_overlay_to_parent(c, handshake);
    mount_spec_mounts(c);
    timings.mark("child: mounts");

    configure_network(c);
    write_sysctls(c);
    timings.mark("child: hostname, net");

    // --- Into our cgroup ---
    // On v2 we were born in it (clone3 CLONE_INTO_CGROUP, see run()). Else we move ourselves
    // in, as one thread (cgroup.cpp, Cgroup::add_self: v1's `tasks` file, 0 for "the
    // writer"), which skips the lock that the parent moving us would take, and the RCU grace
    // period it waits for on a quiet machine (milliseconds: the cold start). In a user
    // namespace, or for OCI create, the parent moves us while we make the mounts above
    // (Container::child_joins_cgroup_itself), and we wait for it.
    if (c.host.cgroup && !c.host.born_in_cgroup && c.child_joins_cgroup_itself()) {
      c.host.cgroup->add_self();
    }
    if (!c.host.parent_asleep) handshake.wait_for_parent();
    timings.mark("child: cgroup");
    enter_cgroup_namespace(c);

    // --- OCI: the createRuntime and createContainer hooks run now --- NEW for the engines
    // Every mount is made, the root has not changed yet (config.md "createRuntime Hooks",
    // "createContainer Hooks": "before pivot_root"): we say so and wait until the parent has
    // run them (a createContainer hook joins our namespaces and sees the host's paths, and
    // the rootfs with its mounts where it lies on the host, as runc's do).
    if (c.oci() && has_create_hooks(c.spec.hooks)) {
      handshake.report_ready();
      handshake.wait_for_parent();
    }

    // --- Change root ---
    change_root(c);
    timings.mark("child: pivot_root");

    hide_host_paths(c);
    set_up_terminal(c, handshake);
    // The working directory, resolved inside the root with no magic link, and checked after
    // (hardening.hpp): `-w /proc/self/fd/N` cannot lead out (runc CVE-2024-21626).
    ctr::enter_workdir(c.spec.process.cwd);
    // The command is looked up inside the container, and must stay there: /proc/self/exe
    // (or a link to it, or a script whose #! names it) would run the runtime's own binary
    // from the host, the first move of CVE-2019-5736. Checked from the working directory, as
    // execve resolves it, still as root (a file root cannot read is refused) and before
    // seccomp (the check uses openat2, which the filter answers with ENOSYS).
    const auto& args = c.spec.process.args;
    const auto& env = c.spec.process.env;
    const std::string command = ctr::find_command(args[0], env);
    ctr::check_exec_chain(command);
    // OCI create: the command must be there now, not only once `start` comes (runc checks it
    // at create too): execve's own answer, 127 when missing, 126 when not executable.
    if (exec_fifo) ctr::check(::access(command.c_str(), X_OK), "execve", command);
    drop_privileges(c);
    timings.mark("child: privileges");
    if (c.request.timings) {
      for (const auto& line : timings.lines()) handshake.send_note(line);
    }

    // --- Run the command (OCI create: once `start` says so) ---
    if (exec_fifo) return run_when_started(c, handshake, exec_fifo);
    if (c.spec.init) ctr::run_init(args, env, &handshake);  // NEW in step 7: --init
    ctr::execvpe(args, env);
  });
}

// --- The clone: born in its cgroup where the kernel can --- NEW in step 7
// On cgroup v2, clone3(2) with CLONE_INTO_CGROUP makes the child a member of its cgroup from
// its first instant (Linux 5.7): no process is moved, so nothing waits for the lock that a
// move takes (cgroup.cpp, Cgroup::add_self). Elsewhere (v1, older kernels) a plain clone,
// and the child moves itself in. host.born_in_cgroup tells the child which happened: it is
// set before the clone, so the child's copy of our memory has it.
ctr::ChildProcess clone_child(Container& c, int flags, ctr::Handshake& handshake) {
  const auto entry = [&] { return container_main(c, handshake); };
  if (c.host.cgroup) {
    if (const ctr::UniqueFd dir = c.host.cgroup->open_v2_dir()) {
      c.host.born_in_cgroup = true;
      if (auto child = ctr::ChildProcess::clone_into_cgroup(flags, dir.get(),
                                                            c.host.cgroup->dirs().front(), entry)) {
        return std::move(*child);
      }
      c.host.born_in_cgroup = false;  // the kernel cannot: --explain said why
    }
  }
  return ctr::ChildProcess::clone(flags, entry);
}

// ============================================================================================
// === 3. Prepare the host side ===
// ============================================================================================

// --- Who maps whom: the user namespace plan (NEW in step 7) ---
// From the spec's uid/gid mappings: root writes them itself; a rootless runtime writes its
// own uid alone, or has newuidmap/newgidmap write the subordinate ranges.
ctr::IdMapPlan plan_user_namespace(const Spec& spec, bool rootless) {
  if (rootless) {
    if (auto problem = ctr::unprivileged_userns_problem()) throw ctr::UsageError(*problem);
  }
  if (!spec.linux.has_namespace(NamespaceType::kUser)) return {};
  const auto convert = [](const std::vector<IdMapping>& in) {
    std::vector<ctr::IdMapping> out;
    out.reserve(in.size());
    for (const auto& m : in) out.push_back({m.container_id, m.host_id, m.size});
    return out;
  };
  return ctr::plan_for_mappings(convert(spec.linux.uid_mappings), convert(spec.linux.gid_mappings),
                                ::geteuid(), ::getegid());
}

ctr::Limits limits_of(const Spec& spec);

// --- The image's root: the container's own upper directory (NEW: images) ---
// Thrown away at the end (not kept): in memory, on a tmpfs the child mounts in its own mount
// namespace (runtime/overlay.hpp, OverlayDirs::upper_in_memory). Not in a user namespace:
// overlayfs there keeps its markers in user.* xattrs, which tmpfs has only since Linux 6.6.
bool overlay_in_memory(const Container& c) {
  return c.spec.root_upper.empty() && !c.in_user_namespace();
}

// The bound of a writable layer in memory (tmpfs(5) size=): --storage-opt size=, else half
// of the memory limit, else half of the RAM ("50%", tmpfs's own default, written out). Half:
// the tmpfs's pages are charged to the container's memory cgroup, so a layer as large as -m
// would leave its processes nothing, and the OOM killer would come before ENOSPC; half is
// tmpfs's own rule, with -m as the container's RAM (docs/images.md, "How much it can write").
std::string upper_size(const Spec& spec) {
  if (spec.root_size) return std::to_string(*spec.root_size);
  if (const auto memory = limits_of(spec).memory_bytes) return std::to_string(*memory / 2);
  return "50%";
}

// Where the image's root is mounted, in the container's mount namespace: the one mount point
// of every root in memory, or the container's own in its state directory.
std::string overlay_mount_point(const Container& c) {
  return (overlay_in_memory(c)
              ? ctr::ContainerOverlay::in_memory_mount_point(ctr::state_root())
              : ctr::ContainerOverlay::mount_point_in(ctr::container_dir(c.request.name)))
      .string();
}

// Made in the state directory, so it goes with it: at the end of the run, or by `cleanup`
// after a runtime was killed. But a detached container's (spec.root_upper, RECORD/overlay):
// kept there over its runs, removed with its record (`rm`). Owned by whoever the container's
// root is on the host (us, or with --userns the first id of the range): it writes there.
ctr::ContainerOverlay prepare_overlay(Container& c, const ctr::StateDir& state_dir) {
  if (c.spec.root_layers.empty()) return {};
  uid_t uid = ::geteuid();
  gid_t gid = ::getegid();
  for (const auto& m : c.host.id_maps.uid) {
    if (m.inside == 0) uid = m.outside;
  }
  for (const auto& m : c.host.id_maps.gid) {
    if (m.inside == 0) gid = m.outside;
  }
  ctr::ContainerOverlay overlay = ctr::ContainerOverlay::create(
      state_dir.path(), c.spec.root_layers, uid, gid, c.spec.root_upper,
      overlay_in_memory(c) ? ctr::ContainerOverlay::in_memory_mount_point(ctr::state_root())
                           : std::filesystem::path());
  c.host.overlay = overlay.dirs();
  if (c.host.overlay->upper_in_memory) c.host.overlay->upper_size = upper_size(c.spec);
  c.host.overlay_root = overlay.mount_point();
  c.host.overlay_from_runtime = c.in_user_namespace() && !ctr::running_rootless();
  return overlay;
}

// The limits of linux.resources, as step 6's cgroup code takes them.
ctr::Limits limits_of(const Spec& spec) {
  ctr::Limits limits;
  if (!spec.linux.resources) return limits;
  const Resources& r = *spec.linux.resources;
  if (r.memory && r.memory->limit && *r.memory->limit > 0) limits.memory_bytes = *r.memory->limit;
  if (r.cpu && r.cpu->quota && *r.cpu->quota > 0) {
    const double period = static_cast<double>(r.cpu->period.value_or(ctr::kCpuPeriodUsec));
    limits.cpus = static_cast<double>(*r.cpu->quota) / period;
  }
  if (r.pids && r.pids->limit > 0) limits.pids = static_cast<uint64_t>(r.pids->limit);
  if (limits.memory_bytes && r.memory->swap) limits.memory_swap_bytes = *r.memory->swap;
  if (r.cpu && r.cpu->shares && *r.cpu->shares > 0) limits.cpu_shares = *r.cpu->shares;
  return limits;
}

bool wants_cgroup_limits(const Spec& spec) {
  const ctr::Limits l = limits_of(spec);
  return l.memory_bytes || l.cpus || l.pids || l.cpu_shares || !spec.linux.cgroups_path.empty();
}

// --- Network (bridge): the address, the bridge, and the container's network namespace ---
void prepare_network(Container& c, ctr::ContainerState& state, ctr::StateDir& state_dir,
                     std::optional<ctr::Bridge>& bridge, std::optional<ctr::Nat>& nat) {
  const Network& net = c.spec.network;
  if (net.mode != NetworkMode::kBridge) return;
  HostSide& host = c.host;
  ctr::Ipam ipam(net.subnet);
  host.lease = net.address ? ipam.reserve(*net.address) : ipam.allocate();
  host.gateway = ctr::gateway_of(net.subnet);
  state.ip = host.lease->address().to_string();
  state.lease = host.lease->path().string();
  // Recorded before they exist: after a SIGKILL from here on, `cleanup` finds the hosts line
  // by the bridge and the rules by the tag (the container's name).
  state.bridge = net.bridge;
  for (const auto& p : net.ports) state.ports.push_back(ctr::to_string(p));
  state_dir.write(state);
  bridge = ctr::Bridge::ensure(net.bridge, host.gateway);
  // Published ports need forwarding (packets from other machines are forwarded to the
  // bridge): the same reference-counted switch as --nat, restored by the last user.
  if (net.nat || !net.ports.empty()) nat = ctr::Nat::enable(net.subnet, net.bridge);
  host.ports = ctr::PublishedPorts::publish(c.request.name, net.bridge, net.subnet,
                                            host.lease->address().addr, net.ports);
  host.hosts_entry =
      ctr::HostsEntry::add(net.bridge, host.lease->address().addr, c.request.name, c.spec.hostname);
  if (c.in_user_namespace()) return;  // the pair is made after clone, see finish_host_side
  // Unlike step 5, we make the container's network namespace ourselves, now, and create the
  // veth pair with its container end inside it, already named eth0; the child joins it
  // (setns). Moving a device between namespaces would cost the kernel RCU grace periods
  // (tens of milliseconds here); and with the pair made before the child exists, the parent
  // has nothing left to do for the child (see "Create the child").
  host.netns = ctr::make_netns();
  host.veth = ctr::VethPair::create_in_netns(ctr::unique_veth_names().host,
                                             std::string(ctr::kContainerInterface), host.netns);
  host.veth.attach_to(*bridge);
  if (!net.ports.empty()) ctr::enable_hairpin(host.veth.host_name());  // runtime/ports.hpp
  host.veth.up();
  state.veth = host.veth.host_name();
}

// --- /etc/hosts, /etc/hostname, /etc/resolv.conf (NEW in step 7, issue 14) ---
// Files of the host bind-mounted read-only over the image's, as docker does: the bridge's
// shared hosts file (runtime/hosts.hpp), and the container's own hostname and resolv.conf in
// its state directory. Not for --net host (the image's, as with docker), not for OCI create
// (the engine mounts its own), and not over a file the spec already mounts (-v wins).
bool wants_network_files(const Spec& spec, const RunRequest& request) {
  return !request.create && spec.network.mode != NetworkMode::kHost;
}

// The per-container files live in the state directory, mode 0700 and root's: a container
// that root runs in a user namespace of its own (--userns) is an unprivileged host user when
// it mounts them and may not even look inside (path_resolution(7)). It gets the bridge's
// hosts file (in a directory anyone may search) and the image's hostname and resolv.conf.
// Rootless, the state directory is the user's own, as is the container's root.
bool own_files_reachable(const Spec& spec) {
  return ctr::running_rootless() || !spec.linux.has_namespace(NamespaceType::kUser);
}

// Rootless, we cannot create a mount point in a root filesystem that host root owns (a
// --rootfs made by root): a file of these three that the rootfs lacks there is left out, as a
// missing /etc/resolv.conf is left out by `--net host`, rather than failing the run with
// EACCES. (An image's root is an overlay whose upper directory is ours: it always can.)
bool mount_point_possible(const Spec& spec, const char* destination) {
  if (!ctr::running_rootless() || !spec.root_layers.empty()) return true;
  if (ctr::open_in_root_if_present(spec.root.path, destination)) return true;
  const auto etc = ctr::open_in_root_if_present(spec.root.path, "/etc");
  return etc && ::faccessat(etc->get(), ".", W_OK, AT_EACCESS) == 0;
}

Spec with_network_files(const Spec& given, const RunRequest& request) {
  if (!wants_network_files(given, request)) return given;
  Spec spec = given;
  const std::filesystem::path dir = ctr::container_dir(request.name);
  const bool bridge = spec.network.mode == NetworkMode::kBridge;
  const std::pair<const char*, std::filesystem::path> files[] = {
      {"/etc/hosts", bridge ? ctr::HostsEntry::file_of(spec.network.bridge) : dir / "hosts"},
      {"/etc/hostname", dir / "hostname"},
      {"/etc/resolv.conf", dir / "resolv.conf"}};
  for (const auto& [destination, source] : files) {
    if (source.parent_path() == dir && !own_files_reachable(given)) continue;
    if (!mount_point_possible(given, destination)) continue;
    const std::string_view target = destination;  // (a lambda cannot capture a binding)
    const bool mounted = std::any_of(given.mounts.begin(), given.mounts.end(),
                                     [&](const Mount& m) { return m.destination == target; });
    if (!mounted)
      spec.mounts.push_back(make_mount(destination, "bind", source.string(),
                                       {"rbind", "ro", "nosuid", "nodev", "noexec"}));
  }
  return spec;
}

void write_state_file(const std::filesystem::path& path, const std::string& text) {
  const ctr::UniqueFd fd(ctr::check(
      ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644), "open", path.string()));
  ctr::check(::write(fd.get(), text.data(), text.size()), "write", path.string());
}

// With --net none there is no name server to reach: an empty resolv.conf.
void write_network_files(const Spec& spec, const RunRequest& request,
                         const std::filesystem::path& dir) {
  if (!wants_network_files(spec, request) || !own_files_reachable(spec)) return;
  const std::string hostname = spec.hostname.empty() ? request.name : spec.hostname;
  write_state_file(dir / "hostname", hostname + "\n");
  if (spec.network.mode == NetworkMode::kBridge) {
    write_state_file(dir / "resolv.conf",
                     ctr::container_resolv_conf(ctr::read_file("/etc/resolv.conf").value_or("")));
  } else {
    write_state_file(dir / "resolv.conf", "");
    write_state_file(dir / "hosts", ctr::standalone_hosts(hostname));
  }
}

// --- Namespaces the spec names by path: opened now, joined by the child --- NEW in step 7
void open_joined_namespaces(Container& c) {
  for (const Namespace& ns : c.spec.linux.namespaces) {
    if (!ns.path) continue;
    c.host.joined.emplace_back(
        ns.type, ctr::UniqueFd(
                     ctr::check(::open(ns.path->c_str(), O_RDONLY | O_CLOEXEC), "open", *ns.path)));
  }
}

// --- Cgroup ---
struct CgroupPlan {
  std::string name;
  ctr::CgroupPlace place;
  ctr::Limits limits;
  std::set<std::string> trees;  // v1: cgroup_trees
};

// Which v1 trees (cgroup v1 has one per controller; v2 one for all). A foreground `run` makes
// its cgroup in those that keeping track of the container needs: pids (pids.current counts
// every process inside, the teardown's test for "anything left?", and the processes `ps`
// and `kill --all` find), freezer (`pause`, and the kill of what is left that no fork can
// outrun) and memory (the OOM report); cpu and cpuacct only for a CPU limit, the only thing
// `run` uses them for. Each tree costs every container a mkdir, a move into it, a mount in
// its /sys/fs/cgroup and an rmdir: about a tenth of a millisecond the two trees, on a start of
// three here (tests/bench/RESULTS.md, issue 16). runc makes every tree for every container
// (libcontainer/cgroups/fs), since its `update` may set any limit later and engines read CPU
// use from cpuacct (`podman stats`): an engine's container (OCI create, and `run -d`) gets
// them all here too (an empty set).
std::set<std::string> cgroup_trees(const Container& c) {
  if (c.oci()) return {};
  return {"pids", "freezer", "memory"};
}

// As root, always: it is how `ps`, the OOM report and the final kill find every process.
// Rootless, only for limits, in a cgroup delegated to the user (cgroup v2).
// linux.cgroupsPath "PARENT/NAME" (as `--cgroup-parent` writes it), else mycontainer-NAME
// beneath our own cgroup; on v2, when our cgroup holds other processes (a login shell's
// session scope), beneath the top-level cgroup /sys/fs/cgroup/mycontainer instead
// (ctr::Cgroup decides; --explain says where and why).
std::optional<CgroupPlan> plan_cgroup(const Container& c, bool rootless) {
  if (rootless && !wants_cgroup_limits(c.spec)) return std::nullopt;
  const std::string& path = c.spec.linux.cgroups_path;
  std::string name = ctr::cgroup_name(c.request.name);
  std::optional<std::string> parent;
  if (!path.empty()) {
    const auto slash = path.find_last_of('/');
    name = path.substr(slash == std::string::npos ? 0 : slash + 1);
    if (slash != std::string::npos && slash > 0) parent = path.substr(0, slash);
  }
  return CgroupPlan{.name = name,
                    .place = ctr::CgroupPlace::here(parent),
                    .limits = limits_of(c.spec),
                    .trees = cgroup_trees(c)};
}

// The cgroup's directories in the state's first write, before they exist (as the bridge's
// are in prepare_network): one write of state.json fewer, and after a SIGKILL from here on
// `cleanup` finds them by path, skipping those never made. v2 decides its place while it
// enables controllers: there the state is written again once the cgroup exists (run_container).
void record_planned_cgroup(const std::optional<CgroupPlan>& plan, ctr::ContainerState& state) {
  if (!plan) return;
  if (auto dirs = ctr::Cgroup::planned_dirs(plan->place, plan->name, plan->limits, plan->trees)) {
    state.cgroup = plan->name;
    state.cgroup_dirs = std::move(*dirs);
  }
}

void prepare_cgroup(Container& c, const std::optional<CgroupPlan>& plan) {
  if (!plan) return;
  c.host.cgroup = ctr::Cgroup::create_at(plan->place, plan->name, plan->limits, plan->trees);
}

// The clone flags of linux.namespaces: a new namespace for each one listed without a path.
// The network namespace the parent made for a bridge is joined instead.
int namespace_flags(const Container& c) {
  int flags = 0;
  for (const Namespace& ns : c.spec.linux.namespaces) {
    if (ns.path || ns.type == NamespaceType::kCgroup) continue;  // cgroup: after the move
    if (ns.type == NamespaceType::kNetwork && c.host.netns) continue;
    if (ns.type == NamespaceType::kUser && !c.in_user_namespace()) continue;
    flags |= clone_flag(ns.type);
  }
  return flags;
}

// ============================================================================================
// === OCI create: what is different when the engine calls us (NEW for the engines) ===
// ============================================================================================

// What `create` cannot do, refused before anything is made. The bridge is `run`'s own
// network: under an engine the network namespace is the engine's (podman, CNI), given as
// linux.namespaces' path. --init reports through the handshake, which create closes.
// True when the caller of create is mycontainer's own monitor (`run -d`, detached.cpp).
bool monitored(const Spec& spec) {
  const auto it = spec.annotations.find(kAnnotationMonitor);
  return it != spec.annotations.end() && it->second == "true";
}

// A kept upper layer (kAnnotationRootUpper) is written by the container and, at `rm`, removed
// with everything in it: a bundle that could name one could have create write into, and rm
// delete, any directory of the host. The annotation is only believed as `run -d IMAGE`
// writes it: under our own monitor, the bundle being the container's own record directory,
// and the upper layer that record's (the annotation io.mycontainer.monitor alone is a
// bundle's word, so it is not enough). `run` in the foreground never keeps one.
void refuse_foreign_upper(const Spec& spec, const std::string& id, const CreateRequest* create) {
  if (spec.root_upper.empty()) return;
  namespace fs = std::filesystem;
  const fs::path record = record_dir(id);
  std::error_code ec;
  const bool ours = create != nullptr && monitored(spec) &&
                    fs::equivalent(create->bundle, record, ec) &&
                    fs::path(spec.root_upper) == record / "overlay";
  if (!ours) {
    throw ctr::UsageError(fmt::format(
        "{}: only a container of `mycontainer run -d IMAGE` keeps its upper layer (in its "
        "record, {}); remove the annotation",
        kAnnotationRootUpper, (record_dir("ID") / "overlay").string()));
  }
}

void refuse_for_create(const Spec& spec, const std::string& id, const CreateRequest& create) {
  // Under our own monitor (`run -d`) the bridge is ours as in `run`: the monitor holds the
  // address lease once create is done (hand_over).
  if (spec.network.mode == NetworkMode::kBridge && !monitored(spec)) {
    throw ctr::UsageError(fmt::format(
        "{}: bridge networking is `mycontainer run`'s; with create the engine makes the network "
        "(linux.namespaces network with a path), or set it to none or host",
        kAnnotationNetwork));
  }
  if (spec.init) {
    throw ctr::UsageError(
        fmt::format("{}: not with create (the engine runs its own init, e.g. "
                    "podman --init)",
                    kAnnotationInit));
  }
  // An image's layers: under an engine the engine mounts the image's root (root.path); our
  // own monitor (`run -d IMAGE`) has the overlay made as `run IMAGE` does.
  if (!spec.root_layers.empty() && !monitored(spec)) {
    throw ctr::UsageError(
        fmt::format("{}: not with create (the engine mounts the image's root: root.path)",
                    kAnnotationRootLayers));
  }
  refuse_foreign_upper(spec, id, &create);
  if (spec.process.terminal && create.console_socket.empty()) {
    throw ctr::UsageError(
        "process.terminal: a terminal needs --console-socket SOCK (its master is sent there)");
  }
}

// Descriptors 3..3+n-1 are the caller's to pass on (--preserve-fds, LISTEN_FDS): not
// close-on-exec, whatever they were.
void pass_on_fds(int n) {
  for (int fd = 3; fd < 3 + n; ++fd) {
    const int flags = ::fcntl(fd, F_GETFD);
    if (flags < 0)
      throw ctr::SyscallError(errno, "fcntl", fmt::format("--preserve-fds: fd {}", fd));
    ctr::check(::fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC), "fcntl", std::to_string(fd));
  }
}

// STATE_DIR/exec.fifo, which the first process waits on until `start` (runtime/state.hpp).
// 0622: the process writes it as whatever user the container runs as (even root of a user
// namespace is "other" to the host's root-owned file), only root reads it.
std::string make_exec_fifo(const ctr::StateDir& state_dir) {
  std::string path = (state_dir.path() / ctr::kExecFifo).string();
  ctr::check(::mkfifo(path.c_str(), 0622), "mkfifo", path);
  ctr::check(::chmod(path.c_str(), 0622), "chmod", path);  // whatever our umask took away
  return path;
}

// linux.namespaces pid with a path (a pod sharing its pid namespace): setns(2) on a pid
// namespace changes only where our *children* go (pid_namespaces(7)), so we join it now and
// clone the first process into it.
void join_pid_namespace(const Container& c) {
  for (const auto& [type, fd] : c.host.joined) {
    if (type != NamespaceType::kPid) continue;
    ctr::check(::setns(fd.get(), CLONE_NEWPID), "setns", "pid");
    ctr::narrate({.call = "setns(fd, CLONE_NEWPID)",
                  .result = "our next child is born in it",
                  .shell = "nsenter --pid=PATH",
                  .man = "setns(2), pid_namespaces(7)"});
  }
}

// The terminal's master, to the engine: connect to --console-socket and send it with
// SCM_RIGHTS (unix(7)), as runtime.md's "console socket" says; conmon or the shim relays it.
void send_to_console_socket(const Spec& spec, const std::string& socket_path,
                            const ctr::UniqueFd& master) {
  if (const auto& size = spec.process.console_size) {
    ctr::set_window_size(master.get(), {static_cast<unsigned short>(size->height),
                                        static_cast<unsigned short>(size->width)});
  }
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof addr.sun_path) {
    throw ctr::UsageError(fmt::format("--console-socket '{}': path too long", socket_path));
  }
  std::copy(socket_path.begin(), socket_path.end(), addr.sun_path);
  const ctr::UniqueFd sock(
      ctr::check(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), "socket", "AF_UNIX"));
  ctr::check(::connect(sock.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr),
             "connect", socket_path);
  ctr::send_fd(sock.get(), master.get());
}

// pid, then newline, in a temporary file renamed into place: the engine reads it as soon as
// create returns, and must never see half of it (rename(2) is atomic). The temporary name is
// guessable: O_EXCL|O_NOFOLLOW, so a link planted there by whoever may write that directory
// cannot make us (root) write through it.
void write_pid_file(const std::string& file, pid_t pid) {
  const std::filesystem::path final_path = std::filesystem::absolute(file);
  const std::filesystem::path tmp =
      final_path.parent_path() /
      fmt::format(".{}.{}.tmp", final_path.filename().string(), ::getpid());
  const std::string text = std::to_string(pid);  // runc writes it without a newline
  ::unlink(tmp.c_str());  // one a killed create left (a link is removed, not followed)
  {
    const ctr::UniqueFd fd(
        ctr::check(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644),
                   "open", tmp.string()));
    ctr::check(::write(fd.get(), text.data(), text.size()), "write", tmp.string());
  }
  if (::rename(tmp.c_str(), final_path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw ctr::SyscallError(err, "rename", final_path.string());
  }
}

// --- OCI hooks during create (runtime/hooks.hpp) --- NEW for the engines
// The state a hook reads on its stdin: the container as `state ID` shows it now.
std::string hook_state(const Container& c, pid_t pid) {
  return ctr::hook_state_json(c.request.name, "creating", pid, c.oci()->bundle, c.spec.annotations);
}

// createRuntime (and prestart, its deprecated name): the container's namespaces exist, its
// root has not changed yet; they run in the runtime's namespaces (a CNI plugin configuring
// the container's network namespace from outside is the classic one).
void run_create_runtime_hooks(const Container& c, pid_t pid) {
  const Hooks& h = c.spec.hooks;
  if (h.prestart.empty() && h.create_runtime.empty()) return;
  const std::string state = hook_state(c, pid);
  ctr::run_hooks(h.prestart, state, "prestart");
  ctr::run_hooks(h.create_runtime, state, "createRuntime");
}

// createContainer: in the container's namespaces, the program found on the host
// (config.md: "The createContainer hooks' path MUST resolve in the runtime namespace",
// "MUST be executed in the container namespace"). The first process waits before
// pivot_root, its mounts made; the hook's process joins its namespaces through a pidfd (one
// setns(2), as `exec` does). setns(2) of the mount namespace puts the hook at that
// namespace's root, which is still the host's "/" there: it finds the rootfs, with the
// container's mounts on it, at its host path (the NVIDIA toolkit's hook mounts into it so).
void run_create_container_hooks(const Container& c, pid_t pid) {
  const Hooks& h = c.spec.hooks;
  if (h.create_container.empty()) return;
  const ctr::UniqueFd pidfd = ctr::pidfd_open(pid);
  const ctr::HookNamespaces ns{
      .pidfd = pidfd.get(), .ns_flags = namespaces_to_join(pid), .path_inside = false};
  ctr::run_hooks(h.create_container, hook_state(c, pid), "createContainer", ns);
}

// === 5 (OCI create). Hand the container over ===
// Its first process waits for `start`. What this run made for it is recorded in the state
// (cgroup directories, pid and its start time) and given up here, so that our destructors
// leave it: from now on the container owns it, and `delete` removes it (cleanup.cpp).
int hand_over(Container& c, std::optional<ctr::Nat>& nat, ctr::ContainerState& state,
              ctr::StateDir& state_dir, ctr::ChildProcess& child) {
  state.pid = child.pid();
  state.pid_start_time = ctr::process_start_time(child.pid());
  state.runtime_pid = 0;  // create is done: nobody but the engine owns it now
  state.runtime_start_time = 0;
  if (monitored(c.spec)) {
    // `run -d`: our caller is the container's monitor (the child's parent too, CLONE_PARENT).
    // It owns the container now, as a foreground run would: while it lives the container is
    // managed; once it is gone (SIGKILL), `cleanup` sees a stale runtime and removes it all.
    state.runtime_pid = ::getppid();
    state.runtime_start_time = ctr::process_start_time(state.runtime_pid);
    // So do its address, its NAT user and its published ports: each names the monitor now,
    // and the monitor's last act (`monitor-exit`, the same pid) gives them back
    // (remove_container); its hosts line is removed there too, by name.
    if (c.host.lease) c.host.lease->hand_over(state.runtime_pid);
    if (nat) nat->hand_over(state.runtime_pid);
    c.host.ports.hand_over(state.runtime_pid);
    c.host.hosts_entry.leave();
  }
  state_dir.write(state);
  if (!c.oci()->pid_file.empty()) write_pid_file(c.oci()->pid_file, child.pid());
  // Nothing below can fail.
  if (c.host.cgroup) c.host.cgroup->release();
  c.host.veth.leave_to_kernel();  // it ends with the container's network namespace
  state_dir.release();
  child.release();  // our caller reaps it (CLONE_PARENT), or `run ID` waits for its pid
  return 0;
}

}  // namespace

// ============================================================================================
// === The parent: the phases of 3, then 4, 5 and 6, in order ===
// ============================================================================================
int run_container(const Spec& given, const RunRequest& request) {
  const Spec spec = with_network_files(given, request);
  // No descriptor of our caller's survives into anything we do (a leaked directory is a way
  // out: `-w /proc/self/fd/N`, /proc/1/fd/N of --init). Before anything opens or resolves a
  // path (the run command did the same before reading its options). But those the OCI caller
  // passes on (--preserve-fds).
  const int preserved = request.create ? request.create->preserve_fds : 0;
  ctr::close_fds_from(3 + preserved);
  pass_on_fds(preserved);
  refuse_unsupported(spec, request.create.has_value());
  if (request.create) refuse_for_create(spec, request.name, *request.create);
  if (!request.create) refuse_foreign_upper(spec, request.name, nullptr);
  Timings timings;
  const bool rootless = ctr::running_rootless();
  // From here until the forwarder is in place, a ^C or SIGTERM waits: it must not kill us
  // while we hold a state directory, an address and a cgroup with nobody to give them back.
  ctr::DeferTerminatingSignals defer_signals;
  Container c{spec, request, {}};
  HostSide& host = c.host;
  host.id_maps = plan_user_namespace(spec, rootless);  // NEW in step 7
  // An image's root with --userns as root: made by us, idmapped (Linux 6.15+); refused now,
  // before anything exists, rather than after the clone.
  if (!spec.root_layers.empty() && c.in_user_namespace() && !rootless) {
    ctr::require_overlay_for_user_namespace();
  }
  if (spec.root_size && !overlay_in_memory(c)) {  // run --storage-opt refuses it first
    throw ctr::UsageError(fmt::format(
        "{}: the writable layer of this container is on disk (kept over its runs, or in a user "
        "namespace), which mycontainer cannot bound; remove the annotation",
        kAnnotationRootSize));
  }
  if (rootless && wants_cgroup_limits(spec) &&
      ctr::CgroupLayout::detect().version != ctr::CgroupVersion::kV2) {
    // An ordinary user may only write to a cgroup that was delegated to it (cgroup-v2.rst,
    // "Delegation"), and only cgroup v2 delegates safely. On v2, ctr::Cgroup looks for the
    // delegation (systemd's user@UID.service) and says why when there is none.
    throw ctr::UsageError(
        "cgroup limits need root on cgroup v1 (only cgroup v2 delegates a cgroup to an "
        "ordinary user): run with sudo, or drop -m/--cpus/--pids-limit");
  }

  // --- State: the name is ours while this directory exists --- NEW in step 7
  ctr::ContainerState state;  // written again as each resource appears: cleanup's map
  state.name = request.name;
  state.runtime_pid = ::getpid();
  state.runtime_start_time = ctr::process_start_time(::getpid());
  state.command = spec.process.args;
  state.started = ctr::now_iso8601();
  state.rootfs = request.rootfs;
  state.rootless = rootless;
  if (const auto slash = spec.linux.cgroups_path.find_last_of('/');
      slash != std::string::npos && slash > 0) {
    state.cgroup_parent = spec.linux.cgroups_path.substr(0, slash);
  }
  if (request.create) {  // NEW for the engines: see runtime/state.hpp
    state.oci = true;
    state.bundle = request.create->bundle;
    state.annotations = spec.annotations;
  }
  // An image's root: where its overlay will be mounted, and the image that `rmi` must keep,
  // in the first state.json already (not a second write once the overlay's directories exist).
  if (!spec.root_layers.empty()) {
    state.rootfs = overlay_mount_point(c);
    for (const char* key : {kAnnotationImage, kAnnotationImageName}) {
      if (auto a = spec.annotations.find(key); a != spec.annotations.end()) {
        state.annotations[key] = a->second;
      }
    }
  }
  const std::optional<CgroupPlan> cgroup_plan = plan_cgroup(c, rootless);
  record_planned_cgroup(cgroup_plan, state);
  // An image's root in memory is given back on a thread (ContainerOverlay): joined by this
  // one's destructor, the last to run, after the state directory is gone.
  std::jthread overlay_teardown;
  // OCI create holds the container's lock from before its name appears until it returns.
  ctr::StateDir state_dir = ctr::StateDir::create(state, ctr::state_root(), state.oci);
  if (request.create) {
    host.exec_fifo = make_exec_fifo(state_dir);
    // The container's own copy of its config: later commands read it, not the bundle.
    save_spec(state_dir.path() / ctr::kConfigCopy, spec);
  }
  // Removed before the state directory (declared after it): the upper directory's content.
  ctr::ContainerOverlay overlay = prepare_overlay(c, state_dir);
  write_network_files(spec, request, state_dir.path());
  timings.mark("state");

  std::optional<ctr::Nat> nat;
  std::optional<ctr::Bridge> bridge;
  prepare_network(c, state, state_dir, bridge, nat);
  open_joined_namespaces(c);
  timings.mark("network");

  prepare_cgroup(c, cgroup_plan);
  if (host.cgroup && (state.cgroup != host.cgroup->name() ||
                      state.cgroup_dirs != host.cgroup->dirs())) {  // v2: see record_planned_cgroup
    state.cgroup = host.cgroup->name();
    state.cgroup_dirs = host.cgroup->dirs();
    state_dir.write(state);
  }
  timings.mark("cgroup");

  // --- The seccomp filter (NEW in step 7), compiled once per profile and cached: libseccomp takes
  // most of a millisecond ---
  if (spec.linux.seccomp)
    host.seccomp = ctr::cached_seccomp(*spec.linux.seccomp, ctr::state_root() / "seccomp");

  // === 4. Create the child ===
  // When the parent has nothing to do for the child between clone and exec (no user
  // namespace to map, no terminal to take over, no init that never execs), the child
  // borrows our memory instead of getting a copy of it (CLONE_VM) and we
  // sleep until its execve (CLONE_VFORK): what posix_spawn(3) does. No page tables copied,
  // no copy-on-write faults on either side, nothing to unmap at exec: 0.27 ms less per
  // container here. (It also makes us undumpable with the child: that is a property of
  // the memory, prctl(2) PR_SET_DUMPABLE.)
  // (Not for OCI create: the child waits for `start`, we would sleep until then.)
  host.parent_asleep = !c.oci() && !c.in_user_namespace() && !spec.process.terminal && !spec.init;
  if (host.parent_asleep) {
    // The child will go from setup to its command with nobody in between: a ^C or SIGTERM
    // that came during our setup stops everything here instead, as it would below.
    if (const int sig = defer_signals.take_pending()) {
      fmt::print(stderr, "{}: stopped by signal {} during setup\n", kProgram, sig);
      return ctr::kExitSignalBase + sig;
    }
  }
  // linux.namespaces: pid, mount, uts, ipc (NEW in step 7), network, user (NEW in step 7).
  // OCI create: CLONE_PARENT makes our caller (conmon, the shim: subreapers that collect the
  // container's exit status) the child's parent, as if it had forked it itself; we exit.
  join_pid_namespace(c);
  const int flags = namespace_flags(c) | (host.parent_asleep ? CLONE_VM | CLONE_VFORK : 0) |
                    (c.caller_is_parent() ? CLONE_PARENT : 0);
  ctr::Handshake handshake;
  ctr::ChildProcess child = clone_child(c, flags, handshake);
  handshake.close_child_end();
  timings.mark(host.born_in_cgroup ? "clone3" : "clone");  // clone3: born in its cgroup

  // --- The host side of the child: maps, network, cgroup ---
  ctr::SignalForwarder forward_signals(child.pid());
  defer_signals.release();  // a signal that came during setup is forwarded now
  ctr::apply_id_maps(child.pid(), host.id_maps);  // NEW in step 7
  if (host.netns) {
    // The child joins it (setns) or has: from now on the namespace lives as long as the
    // container's processes, and the kernel deletes the veth pair with it.
    host.netns.reset();
  } else if (spec.network.mode == NetworkMode::kBridge) {
    // In a user namespace: the child's network namespace came with clone (CLONE_NEWNET) and
    // belongs to it; the pair's container end is created in it, found by the child's pid.
    host.veth = ctr::VethPair::create_in_netns(ctr::unique_veth_names().host,
                                               std::string(ctr::kContainerInterface), child.pid());
    host.veth.attach_to(*bridge);
    if (!spec.network.ports.empty()) ctr::enable_hairpin(host.veth.host_name());
    host.veth.up();
  }
  timings.mark("maps, veth");

  // === 5. Let the child go, and wait for it ===
  // The child builds its mounts while we record its pid; it waits a second time before
  // anything that depends on its cgroup (the cgroup namespace, and exec). It is in its
  // cgroup by then: born there (clone3), or it moved itself in; only in a user namespace and
  // for OCI create do we move it, meanwhile. (Back from CLONE_VFORK, the child has done all
  // that itself and runs the command.)
  // As root with --userns: the overlay of the image's layers, idmapped into the child's user
  // namespace now that its maps are written, made here and sent once the child goes on.
  ctr::UniqueFd runtime_overlay;
  if (host.overlay_from_runtime) {
    const std::string userns = fmt::format("/proc/{}/ns/user", child.pid());
    const ctr::UniqueFd ns(
        ctr::check(::open(userns.c_str(), O_RDONLY | O_CLOEXEC), "open", userns));
    runtime_overlay = ctr::make_overlay_for_user_namespace(*host.overlay, ns, c.rootfs());
  }
  if (!host.parent_asleep) {
    handshake.release_child();
    if (runtime_overlay) {
      ctr::send_fd(handshake.parent_fd(), runtime_overlay.get());
      runtime_overlay.reset();  // the child has it: the mount is the container's from now on
    }
    if (host.cgroup && !host.born_in_cgroup && !c.child_joins_cgroup_itself()) {
      host.cgroup->add(child.pid());
    }
  }
  state.pid = child.pid();
  state.veth = host.veth.host_name();
  state_dir.write(state);
  timings.mark("state: its pid");

  if (!host.parent_asleep && ctr::SignalForwarder::terminating_count() > 0) {
    // Asked to stop before the command ever ran: give everything back instead of starting it.
    const int sig = ctr::SignalForwarder::last_signal();
    fmt::print(stderr, "{}: stopped by signal {} during setup\n", kProgram, sig);
    return ctr::kExitSignalBase + sig;
  }
  if (!host.parent_asleep) handshake.release_child();
  // OCI: the createRuntime hooks (and the deprecated prestart) in our namespaces, then the
  // createContainer hooks in the container's, once the child has made every mount and waits
  // before pivot_root. A failing one ends create here, and every destructor below gives back
  // what was made: the child, its cgroup, the state directory. (A child that failed before
  // it got there: wait_for_exec below says why.)
  if (c.oci() && has_create_hooks(spec.hooks) && handshake.wait_for_ready()) {
    run_create_runtime_hooks(c, child.pid());
    run_create_container_hooks(c, child.pid());
    handshake.release_child();
  }
  // The overlay the child mounted, sent before anything else it sends (send_overlay_to_parent);
  // nothing when its setup failed first: wait_for_exec says why.
  if (parent_holds_overlay(c)) overlay.hold(handshake.receive_fd());
  std::optional<ctr::TerminalRelay> relay;
  if (spec.process.terminal) {
    // The terminal's master, from the child (NEW in step 7); nothing if its setup failed.
    if (ctr::UniqueFd master = handshake.receive_fd()) {
      if (c.oci()) {
        send_to_console_socket(spec, c.oci()->console_socket, master);  // the engine relays
      } else {
        relay.emplace(std::move(master));  // raw mode, and the caller's window size
      }
      handshake.release_child();  // the command may start: its size is set
    }
  }
  std::vector<std::string> child_timings;
  if (auto error = handshake.wait_for_exec(&child_timings)) {
    relay.reset();
    if (!c.caller_is_parent()) child.wait();  // else our caller reaps it
    fmt::print(stderr, "{}: {}\n", kProgram, error->message);
    log_error(error->message);
    return error->exit_code;
  }
  timings.mark("child setup + exec");
  // OCI create: the child did not exec; it waits for `start`, and we are done.
  if (c.oci()) {
    const int rc = hand_over(c, nat, state, state_dir, child);
    overlay.release();  // `run -d IMAGE`: removed with the container's state (remove_container)
    return rc;
  }
  const auto grace = std::chrono::seconds(spec.stop_timeout);
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
  // An image's root goes on a thread of its own from now on: the overlay's teardown waits for
  // a grace period, its directories for the disk (runtime/overlay.hpp, ContainerOverlay).
  overlay_teardown = overlay.give_back_in_background();
  // The container's network namespace dies with its last process, and the kernel deletes the
  // veth pair with it; deleting it ourselves would wait for RCU grace periods instead.
  host.veth.leave_to_kernel();

  // --- Report how it ended ---
  if (escalated) {
    fmt::print(stderr, "{}: the container did not stop within {} s of the signal: killed it\n",
               kProgram, spec.stop_timeout);
  }
  // The killer picks the biggest process, not always the command: say which it was.
  if (host.cgroup && host.cgroup->oom_killed()) {
    // A SIGKILL we sent ourselves (escalated) is not the OOM killer's.
    const bool command = !status.exited && status.signal == SIGKILL && !escalated;
    const auto memory = limits_of(spec).memory_bytes;
    fmt::print(stderr, "{}: {} killed by the OOM killer (memory limit {})\n", kProgram,
               command ? "the command was" : "a process in the container was",
               memory ? ctr::format_size(*memory) : "none");
  }
  if (request.timings) {
    fmt::print(stderr, "{}: timings\n", kProgram);
    for (const auto& line : timings.lines()) fmt::print(stderr, "  {}\n", line);
    for (const auto& line : child_timings) fmt::print(stderr, "  {}\n", line);
  }

  // === 6. Clean up ===
  // In reverse order of creation: the cgroup first (what is left in it is killed, then it is
  // removed), here, while an image's root is given back on its thread (~ContainerOverlay waits
  // for it); then by the destructors the child (already reaped), the NAT rule, the overlay's
  // directories, the state directory, the veth pair and the address lease.
  host.cgroup.reset();
  return status.shell_code();
}

}  // namespace mycontainer
