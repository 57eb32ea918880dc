// mycontainer's command line: the options of `mycontainer run`, named and behaving like
// docker run's, parsed into one struct and checked before anything is created.
#pragma once

#include <sys/types.h>  // uid_t, gid_t

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "ctr/limits.hpp"         // ctr::Limits
#include "ctr/cli.hpp"            // ctr::CommonOptions, CLI::App (declared)
#include "runtime/hardening.hpp"  // ctr::Ulimit
#include "runtime/spec.hpp"       // mycontainer::Spec
#include "ctr/ipv4.hpp"           // ctr::Ipv4Cidr
#include "ctr/fd.hpp"             // ctr::UniqueFd

namespace mycontainer {

struct Volume {
  std::string host;       // absolute path on the host
  std::string container;  // absolute path inside
  bool read_only = false;
};

struct RunOptions {
  ctr::CommonOptions common;              // --rootfs, --explain, the command
  std::string name;                       // --name (default: mc-XXXXXXXX)
  std::string hostname;                   // --hostname (default: the name)
  std::vector<std::string> env;           // -e KEY=VALUE (or KEY: taken from our environment)
  std::string workdir = "/";              // -w
  std::string user_spec;                  // -u UID[:GID] or NAME[:GROUP]
  User user;                              //   resolved in the rootfs, once
  std::vector<std::string> volume_specs;  // -v HOST:CONTAINER[:ro]
  std::vector<Volume> volumes;
  std::vector<std::string> tmpfs;  // --tmpfs PATH
  ctr::Limits limits;              // -m, --cpus, --pids-limit
  std::optional<std::string> cgroup_parent;
  std::optional<NetworkMode> net;   // bridge | none | host (decided once parsed)
  std::optional<ctr::Ipv4Cidr> ip;  // --ip ADDR/PREFIX
  std::string bridge{"ctr0"};
  ctr::Ipv4Cidr subnet{};
  std::vector<std::string> publish;     // -p [IP:]HOSTPORT:PORT[/tcp|udp], repeatable
  std::vector<ctr::PortMapping> ports;  //   parsed
  std::vector<std::string> cap_add, cap_drop;
  std::vector<std::string> security_opts;  // no-new-privileges=false, seccomp=unconfined
  std::vector<std::string> ulimit_specs;
  std::vector<ctr::Ulimit> ulimits;
  int stop_timeout = 10;  // seconds between a forwarded SIGTERM and SIGKILL
  std::string config;     // --config FILE: the whole container from a config.json
  // --- run IMAGE [CMD...] (NEW: images) ---
  std::string image;                      // the first word, without --rootfs: an image reference
  std::optional<std::string> entrypoint;  // --entrypoint (with an image)
  std::vector<std::string> storage_opts;  // --storage-opt size=SIZE (docker's)
  std::optional<std::uint64_t> storage_size;  //   parsed: the writable layer's bound
  // --- switches, together (no padding between them) ---
  bool read_only = false;  // --read-only
  bool nat = false;
  bool tty = false;          // -t
  bool interactive = false;  // -i
  bool init = false;         // --init
  bool userns = false;       // --userns: remap root to an unprivileged range
  bool privileged = false;
  bool seccomp = true;  // --seccomp default (true) | unconfined (false)
  bool no_new_privileges = true;
  bool timings = false;        // --timings
  bool detach = false;         // -d: return at once, a monitor keeps it (lifecycle.hpp)
  bool auto_remove = false;    // --rm: remove it once it ends (foreground runs always are)
  bool workdir_given = false;  // -w was given: it wins over the image's WorkingDir
};

// An image as `run` uses it, found in the store (or pulled first): see image_for_run.
struct ImageForRun {
  std::string reference;            // as the user wrote it: "busybox", "localhost:5000/app:1"
  std::string id;                   // "sha256:..." of its config: recorded in the state
  nlohmann::json config;            // the image config blob
  std::vector<std::string> layers;  // unpacked layer directories, bottom first
};

// Adds run's options to the `run` subcommand.
void add_run_options(CLI::App& run, RunOptions& options);
// After parsing: the command, the rootfs, every value checked, defaults that depend on who
// runs us (rootless: --net none unless asked). Throws UsageError with what to do.
void finish_run_options(const CLI::App& run, RunOptions& options);

// The container those flags describe, as the engine takes it: the OCI config that
// `mycontainer spec FLAGS` prints (spec_from_flags.cpp).
Spec spec_from_flags(const RunOptions& options);
// `run IMAGE`: the same, with the image's config applied under docker's rules
// (runtime/image_config.hpp) and the root an overlay of its layers (spec.root_layers).
Spec spec_from_image(const RunOptions& options, const ImageForRun& image);
// The image `reference` names, from the store; pulled first when it is not there, as docker
// does (image_run.cpp). Throws UsageError.
ImageForRun image_for_run(const std::string& reference);

// "-v /srv/data:/data:ro" -> Volume. Throws UsageError.
Volume parse_volume(const std::string& spec);
// "1000", "1000:1000", "root", "nobody:nogroup": numbers, or names from the rootfs's
// /etc/passwd and /etc/group, read inside the rootfs (a symlink in the image cannot make us
// read the host's). Throws UsageError.
User resolve_user(const std::string& spec, const std::string& rootfs);
// The groups of /etc/group (inside rootfs) that list the user of `spec` ("name[:group]", or a
// uid whose name /etc/passwd gives) as a member: what login(1) and initgroups(3) add, and
// runc and docker give a process started as that user. Throws UsageError.
std::vector<gid_t> supplementary_groups(const std::string& spec, const std::string& rootfs);
// The same, reading /etc/passwd and /etc/group through `open` (an image's layers:
// ctr::open_in_layers); `where` names them in errors ("the image's").
using FileOpener = std::function<std::optional<ctr::UniqueFd>(const std::string& path)>;
User resolve_user(const std::string& spec, const FileOpener& open, const std::string& where);
// "KEY=VALUE" as is; "KEY" alone takes our own value (docker's rule), or is dropped.
std::optional<std::string> resolve_env(const std::string& spec);

}  // namespace mycontainer
