#include "options.hpp"

#include <fcntl.h>     // O_RDONLY, O_NONBLOCK
#include <sys/stat.h>  // fstat(2)
#include <unistd.h>    // geteuid(2)

#include <cstdlib>
#include <filesystem>  // lexically_normal: the volume target as the kernel will see it
#include <map>
#include <fstream>
#include <sstream>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "runtime/path.hpp"  // ctr::open_in_root_if_present
#include "runtime/capabilities.hpp"
#include "ctr/error.hpp"
#include "ctr/ipv4.hpp"     // ctr::parse_subnet, ctr::parse_cidr
#include "ctr/limits.hpp"   // ctr::parse_memory_limit, ctr::parse_cpus
#include "ctr/netlink.hpp"  // ctr::validate_link_name
#include "runtime/state.hpp"
#include "ctr/uts.hpp"
#include "ctr/cli.hpp"      // ctr::validate_rootfs
#include "ctr/narrate.hpp"  // ctr::set_narrator

namespace mycontainer {

namespace {
const std::map<std::string, NetworkMode> kNetworkModes = {
    {"bridge", NetworkMode::kBridge}, {"none", NetworkMode::kNone}, {"host", NetworkMode::kHost}};
}  // namespace

void add_run_options(CLI::App& run, RunOptions& o) {
  // The repeatable options (-e, -v, -p, --tmpfs, --cap-add, ...) take one value each time
  // (allow_extra_args(false)): a vector option of CLI11 would otherwise go on taking words,
  // the image and the command included (`run -e X=1 alpine sh` as docker reads it).
  ctr::add_common_options(run, o.common);
  run.add_option("--name", o.name, "container name (default: mc-XXXXXXXX)");
  run.add_option("--hostname", o.hostname, "host name inside (default: the name)");
  run.add_option("-e,--env", o.env, "set an environment variable, KEY=VALUE")
      ->take_all()
      ->allow_extra_args(false);
  run.add_option("-w,--workdir", o.workdir, "working directory inside")->capture_default_str();
  run.add_option("-u,--user", o.user_spec, "run the command as UID[:GID] (or names)");
  run.add_option("-v,--volume", o.volume_specs, "bind mount HOST:CONTAINER[:ro]")
      ->take_all()
      ->allow_extra_args(false);
  run.add_flag("--read-only", o.read_only, "mount the root filesystem read-only");
  run.add_option("--tmpfs", o.tmpfs, "mount a tmpfs at PATH")->take_all()->allow_extra_args(false);
  run.add_option_function<std::string>(
      "-m,--memory",
      [&](const std::string& v) { o.limits.memory_bytes = ctr::parse_memory_limit(v); },
      "memory limit: 64m, 1g, bytes");
  run.add_option_function<std::string>(
      "--cpus", [&](const std::string& v) { o.limits.cpus = ctr::parse_cpus(v); },
      "CPU limit in CPUs (0.5 = half of one)");
  run.add_option_function<std::string>(
      "--pids-limit", [&](const std::string& v) { o.limits.pids = ctr::parse_pids_limit(v); },
      "most processes at once");
  run.add_option_function<std::string>(
      "--cgroup-parent", [&](const std::string& v) { o.cgroup_parent = v; },
      "make the container's cgroup beneath this one");
  run.add_option_function<std::string>(
         "--net,--network", [&](const std::string& v) { o.net = kNetworkModes.at(v); },
         "bridge (default as root), none (default rootless), host")
      ->check(CLI::IsMember({"bridge", "none", "host"}));
  run.add_option_function<std::string>(
      "--ip", [&](const std::string& v) { o.ip = ctr::parse_cidr(v, "--ip"); },
      "address on the bridge, ADDR/PREFIX (default: next free)");
  run.add_option("--bridge", o.bridge, "bridge name")->capture_default_str();
  run.add_option_function<std::string>(
      "--subnet", [&](const std::string& v) { o.subnet = ctr::parse_subnet(v); },
      "the bridge's subnet (default 10.47.0.0/24)");
  run.add_flag("--nat", o.nat, "masquerade the subnet so containers reach the outside");
  run.add_option("-p,--publish", o.publish,
                 "publish a port: [IP:]HOSTPORT:PORT[/tcp|udp] (repeatable; needs --net bridge)")
      ->take_all()
      ->allow_extra_args(false);
  run.add_flag("-t,--tty", o.tty, "give the command a terminal (a pty)");
  run.add_flag("-i,--interactive", o.interactive, "keep stdin attached");
  run.add_flag("--init", o.init,
               "run a small init as PID 1 that reaps orphans and forwards signals");
  run.add_flag("--userns", o.userns, "as root: map the container's root to an unprivileged range");
  run.add_option("--cap-add", o.cap_add, "add a capability (or ALL)")
      ->take_all()
      ->allow_extra_args(false);
  run.add_option("--cap-drop", o.cap_drop, "drop a capability (or ALL)")
      ->take_all()
      ->allow_extra_args(false);
  run.add_flag(
      "--privileged", o.privileged,
      "UNSAFE: every capability, no seccomp, no masked paths: the container can take the host");
  run.add_option("--security-opt", o.security_opts, "no-new-privileges=false, seccomp=unconfined")
      ->take_all()
      ->allow_extra_args(false);
  run.add_option_function<std::string>(
         "--seccomp", [&](const std::string& v) { o.seccomp = v == "default"; },
         "default or unconfined")
      ->check(CLI::IsMember({"default", "unconfined"}));
  run.add_option("--ulimit", o.ulimit_specs,
                 "resource limit NAME=SOFT[:HARD], e.g. nofile=1024:4096")
      ->take_all()
      ->allow_extra_args(false);
  run.add_option("--stop-timeout", o.stop_timeout, "seconds from a forwarded SIGTERM to SIGKILL")
      ->capture_default_str();
  run.add_flag("--timings", o.timings, "print how long each phase of the start took");
  run.add_flag("-d,--detach", o.detach,
               "run it in the background: print its id and return (lifecycle.md)");
  run.add_flag("--rm", o.auto_remove,
               "remove the container once it ends (-d; always in the foreground)");
  run.add_option("--config", o.config,
                 "run the container a config.json describes (as `mycontainer spec` writes it)");
  run.add_option_function<std::string>(
      "--entrypoint", [&](const std::string& v) { o.entrypoint = v; },
      "with an image: run this instead of its Entrypoint (and without its Cmd)");
  run.add_option("--storage-opt", o.storage_opts,
                 "size=SIZE: the most an image's container can write (default: half of -m, or "
                 "of the RAM)")
      ->take_all()
      ->allow_extra_args(false);
}

Volume parse_volume(const std::string& spec) {
  std::vector<std::string> parts;
  std::istringstream in(spec);
  for (std::string part; std::getline(in, part, ':');) parts.push_back(part);
  const auto bad = [&](const std::string& why) {
    return ctr::UsageError(
        fmt::format("invalid volume '{}': {} (use HOST:CONTAINER[:ro])", spec, why));
  };
  if (parts.size() < 2 || parts.size() > 3) throw bad("expected two or three parts");
  Volume v{parts[0], parts[1], false};
  if (parts.size() == 3) {
    if (parts[2] == "ro") {
      v.read_only = true;
    } else if (parts[2] != "rw") {
      throw bad(fmt::format("unknown mode '{}'", parts[2]));
    }
  }
  if (v.host.empty() || v.host[0] != '/') throw bad("the host path must be absolute");
  if (v.container.empty() || v.container[0] != '/')
    throw bad("the container path must be absolute");
  if (v.container == "/") throw bad("cannot mount over the container's root");
  // The container's own /proc, which the runtime mounts and then masks and makes partly
  // read-only: a volume on it would replace it (and leave the masks nothing to land on), one
  // beneath it would cover a part of it. runc refuses such targets too.
  const std::string target = std::filesystem::path(v.container).lexically_normal().string();
  if (target == "/proc" || target.rfind("/proc/", 0) == 0) {
    throw ctr::UsageError(fmt::format(
        "invalid volume '{}': '{}' is on or beneath /proc, the container's own proc file system "
        "(the runtime mounts it): mount the volume elsewhere, e.g. '{}:/host-proc'",
        spec, v.container, v.host));
  }
  if (::access(v.host.c_str(), F_OK) != 0)
    throw bad(fmt::format("'{}' does not exist on the host", v.host));
  return v;
}

namespace {
// The line of a passwd-style file (name:x:id:...) whose field `field` is `value`, split.
std::optional<std::vector<std::string>> find_entry(const FileOpener& open, const std::string& file,
                                                   size_t field, const std::string& value) {
  // The image (or, for exec, the running container) controls this file: a fifo would block
  // the open and the read (the openers use O_NONBLOCK), a device or a huge file would have us
  // read without end. A regular file of at most 1 MiB, or nothing.
  const auto fd = open(file);
  if (!fd) return std::nullopt;
  struct stat st {};
  constexpr off_t kMaxSize = off_t{1} << 20;
  if (::fstat(fd->get(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > kMaxSize) {
    throw ctr::UsageError(
        fmt::format("{} in the container's root is not a regular file of at "
                    "most 1 MiB: not read",
                    file));
  }
  std::istringstream in(ctr::read_all(fd->get()));
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> f;
    std::istringstream fields(line);
    for (std::string x; std::getline(fields, x, ':');) f.push_back(x);
    if (f.size() >= 3 && f.size() > field && f[field] == value) return f;
  }
  return std::nullopt;
}

// A numeric field of a passwd or group line (the image wrote it: it may be anything).
unsigned id_field(const std::vector<std::string>& entry, size_t i, const std::string& file) {
  const std::string& f = entry.at(i);
  if (f.empty() || f.size() > 10 || f.find_first_not_of("0123456789") != std::string::npos ||
      std::stoull(f) > 0xfffffffeULL) {
    throw ctr::UsageError(
        fmt::format("{}: '{}' has no valid ID ('{}')", file, entry[0], ctr::printable(f)));
  }
  return static_cast<unsigned>(std::stoul(f));
}

// A user or group ID given as a number; nullopt for a name. `what` is "user" or "group".
std::optional<unsigned> number(const std::string& s, const char* what) {
  if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
  // 4294967295 is (uid_t)-1, which setresuid(2) and setresgid(2) take as "leave unchanged".
  if (s.size() > 10 || std::stoull(s) > 0xfffffffeULL) {
    throw ctr::UsageError(fmt::format(
        "{} ID {} is out of range: use 0 to 4294967294 (4294967295 means \"unchanged\" to "
        "set{}id(2))",
        what, s, what[0] == 'u' ? "resu" : "resg"));
  }
  return static_cast<unsigned>(std::stoul(s));
}
}  // namespace

User resolve_user(const std::string& spec, const std::string& rootfs) {
  return resolve_user(
      spec,
      [&](const std::string& file) {
        return ctr::open_in_root_if_present(rootfs, file, O_RDONLY | O_NONBLOCK);
      },
      "the rootfs's");
}

User resolve_user(const std::string& spec, const FileOpener& rootfs, const std::string& where) {
  const auto colon = spec.find(':');
  const std::string u = spec.substr(0, colon);
  const std::string g = colon == std::string::npos ? "" : spec.substr(colon + 1);
  const std::string passwd = "/etc/passwd";
  User user;
  if (auto n = number(u, "user")) {
    // A number need not be in /etc/passwd; if it is, its primary group comes along.
    user.uid = *n;
    const auto entry = find_entry(rootfs, passwd, 2, u);
    user.gid = entry && entry->size() >= 4 ? id_field(*entry, 3, passwd) : *n;
  } else if (auto entry = find_entry(rootfs, passwd, 0, u); entry && entry->size() >= 4) {
    user.uid = id_field(*entry, 2, passwd);
    user.gid = id_field(*entry, 3, passwd);
  } else {
    throw ctr::UsageError(
        fmt::format("unknown user '{}': not a number and not in {} /etc/passwd", u, where));
  }
  if (!g.empty()) {
    if (auto n = number(g, "group")) {
      user.gid = *n;
    } else if (auto entry = find_entry(rootfs, "/etc/group", 0, g)) {
      user.gid = id_field(*entry, 2, "/etc/group");
    } else {
      throw ctr::UsageError(
          fmt::format("unknown group '{}': not a number and not in {} /etc/group", g, where));
    }
  }
  return user;
}

std::vector<gid_t> supplementary_groups(const std::string& spec, const std::string& rootfs) {
  const std::string u = spec.substr(0, spec.find(':'));
  std::string name = u;
  if (number(u, "user")) {
    const auto entry = find_entry(
        [&](const std::string& file) {
          return ctr::open_in_root_if_present(rootfs, file, O_RDONLY | O_NONBLOCK);
        },
        "/etc/passwd", 2, u);
    if (!entry) return {};  // a uid without a name is in no group's member list
    name = (*entry)[0];
  }
  const auto fd = ctr::open_in_root_if_present(rootfs, "/etc/group", O_RDONLY | O_NONBLOCK);
  if (!fd) return {};
  struct stat st {};
  if (::fstat(fd->get(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > (off_t{1} << 20)) {
    throw ctr::UsageError(
        "/etc/group in the container's root is not a regular file of at most "
        "1 MiB: not read");
  }
  std::vector<gid_t> groups;
  std::istringstream in(ctr::read_all(fd->get()));
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> f;
    std::istringstream fields(line);
    for (std::string x; std::getline(fields, x, ':');) f.push_back(x);
    if (f.size() < 4) continue;
    std::istringstream members(f[3]);
    for (std::string m; std::getline(members, m, ',');) {
      if (m == name) {
        groups.push_back(id_field(f, 2, "/etc/group"));
        break;
      }
    }
  }
  return groups;
}

std::optional<std::string> resolve_env(const std::string& spec) {
  const auto eq = spec.find('=');
  if (eq == 0 || spec.empty()) {
    throw ctr::UsageError(fmt::format("invalid environment variable '{}': use KEY=VALUE", spec));
  }
  if (eq != std::string::npos) return spec;
  if (const char* v = std::getenv(spec.c_str())) return spec + "=" + v;
  return std::nullopt;
}

// The words after run's options: `[IMAGE] [CMD...]` (NEW: images). The rule:
//   --rootfs DIR given          every word is the command (today's form)
//   no word before `--`         the default rootfs, the command after `--` (or /bin/sh)
//   a first word starting "/"   a command in the default rootfs (no image name starts so)
//   any other first word        the IMAGE; the words after it (and after `--`) the command
// `o.common.command` holds the words after `--` (mycontainer.cpp splits them off).
void split_image_and_command(const CLI::App& run, RunOptions& o) {
  std::vector<std::string> words = run.remaining();
  // prefix_command() hands an unknown option to the command too: refuse it instead.
  if (!words.empty() && words.front().rfind('-', 0) == 0) {
    throw ctr::UsageError(fmt::format("unknown option '{}' (see --help)", words.front()));
  }
  const bool rootfs_given = run.get_option("--rootfs")->count() > 0;
  if (!rootfs_given && !words.empty() && words.front()[0] != '/') {
    o.image = words.front();
    words.erase(words.begin());
  }
  words.insert(words.end(), o.common.command.begin(), o.common.command.end());
  o.common.command = words;
  if (o.image.empty()) {
    if (o.common.command.empty()) o.common.command = {"/bin/sh"};
    ctr::validate_rootfs(o.common.rootfs);
  } else if (!o.config.empty()) {
    throw ctr::UsageError(
        "an image cannot be combined with --config: the config.json names the root");
  }
  if (o.entrypoint && o.image.empty()) {
    throw ctr::UsageError("--entrypoint needs an image: mycontainer run --entrypoint CMD IMAGE");
  }
  if (o.common.explain) ctr::set_narrator(ctr::stderr_narrator("mycontainer"));
}

// --storage-opt size=SIZE (docker's): the bound of the container's writable layer. It is in
// memory for `run IMAGE` and `run -d --rm IMAGE` (a tmpfs: runtime/overlay.hpp), and a tmpfs
// has a size; anywhere else it is refused before anything is made, as docker refuses it on a
// storage driver that cannot apply it.
namespace {
void check_storage_opts(RunOptions& o, bool rootless) {
  for (const auto& opt : o.storage_opts) {
    if (!opt.starts_with("size=")) {
      throw ctr::UsageError(fmt::format(
          "--storage-opt '{}': only size=SIZE is supported (the most the container can write), "
          "e.g. --storage-opt size=512m",
          opt));
    }
    o.storage_size = ctr::parse_size(std::string_view(opt).substr(5), "--storage-opt size");
  }
  if (!o.storage_size) return;
  // Where it cannot apply: why, and what to do instead.
  const auto refuse = [](std::string_view why, std::string_view instead) {
    return ctr::UsageError(fmt::format(
        "--storage-opt size= cannot apply: {}; it bounds the writable layer in memory of `run "
        "IMAGE` and `run -d --rm IMAGE`: {}",
        why, instead));
  };
  if (o.image.empty()) {
    throw refuse("a --rootfs DIR is written in place, it has no layer", "drop --storage-opt");
  }
  if (o.detach && !o.auto_remove) {
    throw refuse(
        "a detached container keeps its layer on disk (for start and restart), which "
        "mycontainer cannot bound",
        "add --rm, or drop --storage-opt");
  }
  if (o.userns || rootless) {
    throw refuse(
        "in a user namespace the layer is on disk, which mycontainer cannot bound",
        rootless ? "run as root, or drop --storage-opt" : "drop --userns or --storage-opt");
  }
}
}  // namespace

void finish_run_options(const CLI::App& run, RunOptions& o) {
  split_image_and_command(run, o);
  o.workdir_given = run.get_option("--workdir")->count() > 0;
  const bool rootless = ::geteuid() != 0;

  if (o.name.empty()) o.name = ctr::random_container_name();
  ctr::validate_container_name(o.name);
  if (o.hostname.empty()) o.hostname = o.name.size() <= 64 ? o.name : o.name.substr(0, 64);
  ctr::validate_hostname(o.hostname);
  for (const auto& spec : o.volume_specs) o.volumes.push_back(parse_volume(spec));
  for (const auto& spec : o.ulimit_specs) o.ulimits.push_back(ctr::parse_ulimit(spec));
  for (const auto& e : o.env) resolve_env(e);  // refuse malformed ones now
  // With an image, in its layers (spec_from_image).
  if (!o.user_spec.empty() && o.image.empty()) o.user = resolve_user(o.user_spec, o.common.rootfs);
  if (o.workdir.empty() || o.workdir[0] != '/') {
    throw ctr::UsageError(
        fmt::format("invalid workdir '{}': it must be an absolute path", o.workdir));
  }
  for (const auto& t : o.tmpfs) {
    if (t.empty() || t[0] != '/' || t == "/") {
      throw ctr::UsageError(
          fmt::format("invalid --tmpfs '{}': use an absolute path other than /", t));
    }
  }
  check_storage_opts(o, rootless);
  // --privileged turns no_new_privs off too, as docker's does, unless asked for explicitly.
  if (o.privileged) o.no_new_privileges = false;
  for (const auto& opt : o.security_opts) {
    if (opt == "no-new-privileges=false" || opt == "no-new-privileges:false") {
      o.no_new_privileges = false;
    } else if (opt == "no-new-privileges" || opt == "no-new-privileges=true") {
      o.no_new_privileges = true;
    } else if (opt == "seccomp=unconfined" || opt == "seccomp:unconfined") {
      o.seccomp = false;
    } else {
      throw ctr::UsageError(fmt::format(
          "unknown --security-opt '{}': use no-new-privileges=false or seccomp=unconfined", opt));
    }
  }
  if (o.stop_timeout < 0) throw ctr::UsageError("--stop-timeout must be 0 or more seconds");
  // Capability names are checked now, not in the child.
  ctr::resolve_capabilities(ctr::default_capabilities(), o.cap_add, o.cap_drop);

  // Networking. Rootless, we cannot create links on the host: bridge networking needs real
  // root (CAP_NET_ADMIN in the initial user namespace), so the default there is none.
  if (!o.net) o.net = rootless ? NetworkMode::kNone : NetworkMode::kBridge;
  const bool bridge = o.net == NetworkMode::kBridge;
  if (rootless && bridge) {
    throw ctr::UsageError(
        "--net bridge needs root: creating a veth pair and a bridge on the host takes "
        "CAP_NET_ADMIN in the host's user namespace; use --net none or --net host, or run with "
        "sudo");
  }
  if (o.subnet.prefix == 0) o.subnet = ctr::kDefaultSubnet;
  ctr::validate_link_name(o.bridge, "bridge");
  if (o.ip) {
    if (!bridge) throw ctr::UsageError("--ip needs --net bridge");
    ctr::validate_container_address(*o.ip, o.subnet);
  }
  if (o.nat && !bridge) throw ctr::UsageError("--nat needs --net bridge");
  for (const std::string& p : o.publish) o.ports.push_back(ctr::parse_port_mapping(p));
  if (!o.ports.empty() && !bridge) throw ctr::UsageError("-p needs --net bridge");
}

}  // namespace mycontainer
