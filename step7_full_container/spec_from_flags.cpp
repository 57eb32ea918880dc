// === 1. Command line (continued): the flags of `run`, turned into the container's spec ===
//
// Everything the engine will do is decided here, once, and written into one Spec (the OCI
// config, runtime/spec.hpp); nothing downstream looks at a flag again. `mycontainer spec
// FLAGS` prints the result: the way to see what `-m 64m` or `--userns` means in OCI terms.
#include <cmath>       // std::llround
#include <filesystem>  // std::filesystem::absolute

#include <fmt/format.h>

#include "ctr/limits.hpp"  // ctr::kCpuPeriodUsec, ctr::Limits
#include "ctr/exec.hpp"    // ctr::kDefaultPath
#include "ctr/ipv4.hpp"    // ctr::kDefaultSubnet
#include "options.hpp"
#include "runtime/capabilities.hpp"  // ctr::default_capabilities
#include "runtime/hardening.hpp"     // ctr::default_masked_paths
#include "runtime/image_config.hpp"  // mycontainer::apply_image_config (run IMAGE)
#include "runtime/overlay.hpp"       // ctr::open_in_layers
#include "runtime/seccomp.hpp"       // ctr::default_seccomp_profile
#include "runtime/state.hpp"         // ctr::cgroup_name
#include "runtime/userns.hpp"        // ctr::plan_id_maps

namespace mycontainer {

namespace {

// docker's mounts (moby oci/defaults.go), each from the step that taught it: /proc (step 2),
// /sys (step 3), and the minimal /dev of step 7 (devices.hpp says what is in it).
std::vector<Mount> default_mounts(bool user_namespace) {
  // devpts: terminals group-owned by tty (gid 5), unless group 5 may not be mapped.
  std::vector<std::string> pts = {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"};
  if (!user_namespace) pts.emplace_back("gid=5");
  return {
      make_mount("/proc", "proc", "proc", {"nosuid", "noexec", "nodev"}),
      make_mount("/dev", "tmpfs", "tmpfs",
                 {"nosuid", "nodev", "strictatime", "mode=755", "size=65536k"}),
      make_mount("/dev/pts", "devpts", "devpts", pts),
      make_mount("/dev/shm", "tmpfs", "shm",
                 {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}),
      make_mount("/dev/mqueue", "mqueue", "mqueue", {"nosuid", "noexec", "nodev"}),
      make_mount("/sys", "sysfs", "sysfs", {"nosuid", "noexec", "nodev", "ro"}),
      make_mount("/sys/fs/cgroup", "cgroup", "cgroup", {"nosuid", "noexec", "nodev", "ro"}),
  };
}

// -v HOST:CONTAINER[:ro] and --tmpfs PATH.
std::vector<Mount> mounts_from_flags(const RunOptions& o, bool user_namespace) {
  std::vector<Mount> mounts = default_mounts(user_namespace);
  for (const Volume& v : o.volumes) {
    std::vector<std::string> options = {"rbind"};
    if (v.read_only) options.emplace_back("ro");
    mounts.push_back(make_mount(v.container, "bind", v.host, options));
  }
  for (const auto& path : o.tmpfs) {
    mounts.push_back(make_mount(path, "tmpfs", "tmpfs",
                                {"nosuid", "nodev", "noexec", "mode=1777", "size=65536k"}));
  }
  return mounts;
}

// The environment the command starts with: docker's defaults, then -e.
std::vector<std::string> environment_from_flags(const RunOptions& o, const User& user) {
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

Process process_from_flags(const RunOptions& o) {
  Process p;
  p.args = o.common.command;
  p.cwd = o.workdir;
  p.terminal = o.tty;
  p.user = o.user;
  p.env = environment_from_flags(o, p.user);
  // docker's 14 capabilities, with --cap-add/--cap-drop; all of them with --privileged.
  const ctr::CapabilitySet caps =
      o.privileged ? ctr::all_capabilities()
                   : ctr::resolve_capabilities(ctr::default_capabilities(), o.cap_add, o.cap_drop);
  p.capabilities = Capabilities{};
  p.capabilities->bounding = p.capabilities->effective = p.capabilities->permitted = caps;
  for (const auto& u : o.ulimits) {
    p.rlimits.push_back({u.resource, static_cast<uint64_t>(u.soft), static_cast<uint64_t>(u.hard)});
  }
  p.no_new_privileges = o.no_new_privileges;
  return p;
}

// -m, --cpus, --pids-limit: step 6's limits, in OCI units (bytes, a quota per period).
std::optional<Resources> resources_from_flags(const ctr::Limits& limits) {
  if (!limits.memory_bytes && !limits.cpus && !limits.pids) return std::nullopt;
  Resources r;
  if (limits.memory_bytes) {
    r.memory.emplace();
    r.memory->limit = int64_t(*limits.memory_bytes);
  }
  if (limits.cpus) {
    r.cpu.emplace();
    r.cpu->quota = std::llround(*limits.cpus * double(ctr::kCpuPeriodUsec));
    r.cpu->period = ctr::kCpuPeriodUsec;
  }
  if (limits.pids) r.pids = PidsResources{.limit = int64_t(*limits.pids)};
  return r;
}

// ping without CAP_NET_RAW (dropped by default: with it, a container can forge ARP replies
// and take over its neighbours' traffic on the bridge): every group may open ICMP datagram
// sockets (icmp(7) ping_group_range), as podman does, in the container's own network
// namespace only. A user namespace gets the groups it maps (the kernel refuses others).
std::string ping_group_range(const std::vector<IdMapping>& gid_mappings) {
  uint64_t top = 2147483647;
  if (!gid_mappings.empty()) {
    top = 0;
    for (const auto& m : gid_mappings) top = std::max<uint64_t>(top, m.container_id + m.size - 1);
  }
  return fmt::format("0 {}", std::min<uint64_t>(top, 2147483647));
}

// Rootless always needs a user namespace (an unprivileged process can create no other
// namespace without it); as root, only with --userns. Its maps are planned now.
Linux linux_from_flags(const RunOptions& o, const Process& process) {
  Linux l;
  for (auto type : {NamespaceType::kPid, NamespaceType::kMount, NamespaceType::kUts,
                    NamespaceType::kIpc, NamespaceType::kCgroup}) {
    l.namespaces.push_back({type, std::nullopt});
  }
  const bool own_network = o.net != NetworkMode::kHost;
  if (own_network) l.namespaces.push_back({NamespaceType::kNetwork, std::nullopt});
  if (ctr::running_rootless() || o.userns) {
    const ctr::IdMapPlan plan = ctr::plan_id_maps(ctr::UsernsFacts::detect(), o.userns);
    l.namespaces.push_back({NamespaceType::kUser, std::nullopt});
    for (const auto& m : plan.uid) l.uid_mappings.push_back({m.inside, m.outside, m.count});
    for (const auto& m : plan.gid) l.gid_mappings.push_back({m.inside, m.outside, m.count});
  }
  if (own_network) l.sysctl["net.ipv4.ping_group_range"] = ping_group_range(l.gid_mappings);
  l.resources = resources_from_flags(o.limits);
  if (o.cgroup_parent) l.cgroups_path = *o.cgroup_parent + "/" + ctr::cgroup_name(o.name);
  if (!o.privileged) {
    if (o.seccomp) {
      l.seccomp = ctr::default_seccomp_profile(process.capabilities->bounding);
    }
    l.masked_paths = ctr::default_masked_paths();
    l.readonly_paths = ctr::default_read_only_paths();
  }
  return l;
}

Network network_from_flags(const RunOptions& o) {
  Network n;
  n.mode = o.net.value_or(NetworkMode::kNone);
  n.bridge = o.bridge;
  n.subnet = o.subnet;
  n.address = o.ip;
  n.nat = o.nat;
  n.ports = o.ports;
  return n;
}

}  // namespace

Spec spec_from_flags(const RunOptions& o) {
  Spec s;
  s.root.path = std::filesystem::absolute(o.common.rootfs).lexically_normal();
  s.root.readonly = o.read_only;
  s.process = process_from_flags(o);
  s.hostname = o.hostname;
  s.linux = linux_from_flags(o, s.process);
  s.mounts = mounts_from_flags(o, s.linux.has_namespace(NamespaceType::kUser));
  s.network = network_from_flags(o);
  s.init = o.init;
  s.stop_timeout = o.stop_timeout;
  return s;
}

// === run IMAGE: the image's config under the flags (NEW: images) ===
// The flags decide what they say, the image the rest (runtime/image_config.hpp has docker's
// rules); then everything else is what `run --rootfs` with the same flags makes, but the root:
// an overlay of the image's layers, mounted by the engine at STATE/containers/NAME/rootfs.
Spec spec_from_image(const RunOptions& flags, const ImageForRun& image) {
  RunOptions o = flags;
  const ImageConfig config = image_config_from_json(image.config);
  ImageOverrides overrides;
  for (const auto& e : o.env) {
    if (auto kv = resolve_env(e)) overrides.env.push_back(*kv);
  }
  if (o.entrypoint) {
    overrides.entrypoint = o.entrypoint->empty() ? std::vector<std::string>{}
                                                 : std::vector<std::string>{*o.entrypoint};
  }
  overrides.args = o.common.command;
  if (o.workdir_given) overrides.workdir = o.workdir;
  if (!o.user_spec.empty()) overrides.user = o.user_spec;
  // The user first: HOME in the default environment depends on it. Names are looked up in the
  // image's /etc/passwd, read through its layers (never a path outside them).
  const std::string user = overrides.user.value_or(config.user);
  o.user =
      user.empty()
          ? User{}
          : resolve_user(
                user,
                [&](const std::string& file) { return ctr::open_in_layers(image.layers, file); },
                "the image's");
  o.env.clear();  // -e comes last, in apply_image_config
  const ImageProcess p =
      apply_image_config(config, environment_from_flags(o, o.user), overrides, image.reference);
  o.common.command = p.args;
  o.workdir = p.cwd;
  Spec s = spec_from_flags(o);
  s.process.env = p.env;
  s.root.path = ctr::container_dir(o.name) / "rootfs";
  s.root_layers = image.layers;
  s.root_size = o.storage_size;  // --storage-opt size=: the writable layer's bound
  s.annotations[kAnnotationImage] = image.id;
  s.annotations[kAnnotationImageName] = flags.image;
  return s;
}

}  // namespace mycontainer
