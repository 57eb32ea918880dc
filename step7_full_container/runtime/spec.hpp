// The container to run, as one typed value: the OCI runtime-spec `config.json` (runtime-spec
// 1.x, config.md and config-linux.md). Every front end produces a Spec (`run FLAGS` through
// spec_from_flags, `run --config FILE` and the OCI `create --bundle` through read_spec), and
// the engine (engine.hpp) reads nothing else.
//
// Which step taught each part:
//   root.path, process.args/env/cwd          step 1 (chroot, exec)
//   linux.namespaces pid                     step 2
//   linux.namespaces mount, mounts           step 3 (/proc, /sys, pivot_root)
//   linux.namespaces uts, hostname           step 4
//   linux.namespaces network                 step 5 (the bridge: annotations below)
//   linux.resources, linux.cgroupsPath       step 6
//   user, ipc and cgroup namespaces, uid/gidMappings, process.user, capabilities,
//   noNewPrivileges, rlimits, seccomp, maskedPaths, readonlyPaths, devices, terminal:
//                                            step 7
//
// Reading validates everything once: an error names the field and the value
// (`linux.resources.memory.limit: -2 is not a size`) and is a SpecError (exit code 125).
// Fields the spec defines that we do not use, and unknown fields, are ignored, as the spec
// says ("Implementations that are reading/processing this configuration file MUST NOT
// generate an error if they encounter an unknown property", config.md).
#pragma once

#include <sys/resource.h>  // RLIMIT_*
#include <sys/types.h>     // uid_t, gid_t, mode_t

#include <cstdint>     // uint32_t, uint64_t, int64_t
#include <filesystem>  // std::filesystem::path
#include <map>         // std::map
#include <optional>    // std::optional
#include <stdexcept>   // std::runtime_error
#include <string>      // std::string
#include <vector>      // std::vector

#include <nlohmann/json.hpp>

#include "ctr/ipv4.hpp"              // ctr::Ipv4Cidr
#include "runtime/capabilities.hpp"  // ctr::CapabilitySet
#include "runtime/ports.hpp"         // ctr::PortMapping

namespace mycontainer {

// A config.json that cannot be run: the message names the field, e.g.
// "linux.namespaces[2].type: 'pidd' is not a namespace type".
class SpecError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The runtime-spec versions we read: every 1.x (engines write 1.0.2-dev to 1.3.0).
inline constexpr const char* kOciVersion = "1.2.0";

// --- process (config.md "Process") ---------------------------------------------------------

struct User {
  uid_t uid = 0;
  gid_t gid = 0;
  std::optional<mode_t> umask;
  std::vector<gid_t> additional_gids;
  bool operator==(const User&) const = default;
};

struct Capabilities {  // "CAP_SYS_ADMIN" ... in JSON
  ctr::CapabilitySet bounding, effective, inheritable, permitted, ambient;
  bool operator==(const Capabilities&) const = default;
};

struct Rlimit {
  int resource = 0;  // RLIMIT_NOFILE ... ("RLIMIT_NOFILE" in JSON)
  uint64_t soft = 0;
  uint64_t hard = 0;
  bool operator==(const Rlimit&) const = default;
};

struct ConsoleSize {
  unsigned height = 0;
  unsigned width = 0;
  bool operator==(const ConsoleSize&) const = default;
};

struct Process {
  bool terminal = false;
  std::optional<ConsoleSize> console_size;
  User user;
  std::vector<std::string> args;             // required, at least one
  std::vector<std::string> env;              // KEY=VALUE
  std::string cwd = "/";                     // absolute
  std::optional<Capabilities> capabilities;  // absent: none at all
  std::vector<Rlimit> rlimits;
  bool no_new_privileges = false;
  std::optional<int> oom_score_adj;
  bool operator==(const Process&) const = default;
};

// --- root, hostname, mounts (config.md) -------------------------------------------------------

struct Root {
  std::filesystem::path path;  // relative to the bundle, or absolute
  bool readonly = false;
  bool operator==(const Root&) const = default;
};

enum class Propagation {
  kNone,
  kPrivate,
  kRprivate,
  kShared,
  kRshared,
  kSlave,
  kRslave,
  kUnbindable,
  kRunbindable
};

struct Mount {
  std::string destination;  // absolute, inside the container
  std::string type;         // "proc", "tmpfs", "bind", "" (a bind when options say so) ...
  std::string source;
  std::vector<std::string> options;  // as written: kept for writing the spec back
  // What options mean, parsed once when read (mount(8) option names):
  unsigned long flags = 0;        // MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_BIND, MS_REC...
  unsigned long clear_flags = 0;  // "rw", "suid", "dev", "exec": flags to clear on a bind
  Propagation propagation = Propagation::kNone;
  std::string data;  // what is left: "mode=755,size=65536k" (the file system's own options)
  // "tmpcopyup" (runc's and crun's extension, podman sends it for the tmpfs of --read-only):
  // the tmpfs starts with a copy of what the image has at the destination.
  bool copy_up = false;
  bool is_bind() const;  // type "bind", or "bind"/"rbind" among the options
  bool operator==(const Mount&) const = default;
};

// A Mount with flags, clear_flags, propagation and data worked out from `options`, the way
// reading a config.json does it: front ends that build mounts in code use this, so that
// writing the spec and reading it back gives the same Mount. Throws SpecError ("mount
// /data: option 'idmap' is not supported ...").
Mount make_mount(std::string destination, std::string type, std::string source,
                 std::vector<std::string> options);

// The mount(8) option names read as flags or propagation (the rest is the file system's own
// data, "mode=755"): what `mycontainer features` lists as mountOptions.
std::vector<std::string> supported_mount_options();

// --- linux (config-linux.md) ---------------------------------------------------------------

enum class NamespaceType { kPid, kNetwork, kMount, kIpc, kUts, kUser, kCgroup, kTime };

struct Namespace {
  NamespaceType type = NamespaceType::kPid;
  std::optional<std::string> path;  // join this one (setns) instead of making a new one
  bool operator==(const Namespace&) const = default;
};

struct IdMapping {  // {"containerID", "hostID", "size"}
  uint32_t container_id = 0;
  uint32_t host_id = 0;
  uint32_t size = 0;
  bool operator==(const IdMapping&) const = default;
};

struct MemoryResources {
  std::optional<int64_t> limit;  // bytes; -1 = unlimited
  std::optional<int64_t> reservation;
  std::optional<int64_t> swap;  // memory + swap, as in cgroup v1's memsw
  bool operator==(const MemoryResources&) const = default;
};

struct CpuResources {
  std::optional<uint64_t> shares;
  std::optional<int64_t> quota;     // microseconds per period; -1 = unlimited
  std::optional<uint64_t> period;   // microseconds
  std::optional<std::string> cpus;  // "0-3"
  std::optional<std::string> mems;
  bool operator==(const CpuResources&) const = default;
};

struct PidsResources {
  int64_t limit = 0;  // 0 or -1: unlimited
  bool operator==(const PidsResources&) const = default;
};

struct Resources {
  std::optional<MemoryResources> memory;
  std::optional<CpuResources> cpu;
  std::optional<PidsResources> pids;
  bool operator==(const Resources&) const = default;
};

enum class DeviceType { kChar, kBlock, kFifo };  // "c" (or "u"), "b", "p"

struct Device {
  DeviceType type = DeviceType::kChar;
  std::string path;  // absolute, inside
  int64_t major = 0;
  int64_t minor = 0;
  std::optional<mode_t> file_mode;
  std::optional<uid_t> uid;
  std::optional<gid_t> gid;
  bool operator==(const Device&) const = default;
};

// seccomp (config-linux.md "Seccomp"): the profile the engine sends, compiled with libseccomp.
enum class SeccompAction {
  kKill,
  kKillProcess,
  kKillThread,
  kTrap,
  kErrno,
  kTrace,
  kAllow,
  kLog,
  kNotify
};
enum class SeccompOperator {
  kNotEqual,
  kLessThan,
  kLessEqual,
  kEqualTo,
  kGreaterEqual,
  kGreaterThan,
  kMaskedEqual
};

struct SeccompArg {
  unsigned index = 0;
  uint64_t value = 0;
  uint64_t value_two = 0;
  SeccompOperator op = SeccompOperator::kEqualTo;
  bool operator==(const SeccompArg&) const = default;
};

struct SeccompSyscall {
  std::vector<std::string> names;
  SeccompAction action = SeccompAction::kAllow;
  std::optional<unsigned> errno_ret;
  std::vector<SeccompArg> args;  // all must hold (AND)
  bool operator==(const SeccompSyscall&) const = default;
};

struct Seccomp {
  SeccompAction default_action = SeccompAction::kAllow;
  std::optional<unsigned> default_errno_ret;
  std::vector<std::string> architectures;  // "SCMP_ARCH_X86_64" ...
  std::vector<std::string> flags;          // "SECCOMP_FILTER_FLAG_LOG" ...
  std::vector<SeccompSyscall> syscalls;
  bool operator==(const Seccomp&) const = default;
};

struct Linux {
  std::vector<Namespace> namespaces;
  std::vector<IdMapping> uid_mappings, gid_mappings;
  std::optional<Resources> resources;
  std::string cgroups_path;  // "" = the runtime decides
  std::optional<Seccomp> seccomp;
  std::vector<std::string> masked_paths, readonly_paths;
  std::vector<Device> devices;
  std::map<std::string, std::string> sysctl;
  Propagation rootfs_propagation = Propagation::kNone;

  bool has_namespace(NamespaceType type) const;
  const Namespace* find_namespace(NamespaceType type) const;
  bool operator==(const Linux&) const = default;
};

// --- hooks (config.md "POSIX-platform Hooks") -------------------------------------------------

struct Hook {
  std::string path;  // absolute, on the host
  std::vector<std::string> args;
  std::vector<std::string> env;
  std::optional<int> timeout;  // seconds, > 0
  bool operator==(const Hook&) const = default;
};

struct Hooks {
  std::vector<Hook> prestart, create_runtime, create_container, start_container, poststart,
      poststop;
  bool operator==(const Hooks&) const = default;
};

// --- what OCI has no field for: mycontainer's annotations -------------------------------------
// `run` flags that describe the runtime's own work rather than the container, kept in
// annotations (config.md: "Annotations ... for implementation-specific metadata"), and read
// back into typed values.

enum class NetworkMode { kNone, kHost, kBridge };

struct Network {  // io.mycontainer.network* annotations
  NetworkMode mode = NetworkMode::kNone;
  std::string bridge = "ctr0";
  ctr::Ipv4Cidr subnet = ctr::kDefaultSubnet;  // the bridge's subnet
  std::optional<ctr::Ipv4Cidr> address;        // --ip, else the next free one
  bool nat = false;
  std::vector<ctr::PortMapping> ports;  // -p: published ports (NEW in step 7, issue 14)
  bool operator==(const Network&) const = default;
};

inline constexpr const char* kAnnotationNetwork = "io.mycontainer.network";  // none|host|bridge
inline constexpr const char* kAnnotationBridge = "io.mycontainer.network.bridge";    // ctr0
inline constexpr const char* kAnnotationSubnet = "io.mycontainer.network.subnet";    // 10.47.0.0/24
inline constexpr const char* kAnnotationAddress = "io.mycontainer.network.address";  // 10.47.0.5/24
inline constexpr const char* kAnnotationNat = "io.mycontainer.network.nat";          // true|false
inline constexpr const char* kAnnotationPorts = "io.mycontainer.network.ports";  // 8080:80/tcp,...
inline constexpr const char* kAnnotationInit = "io.mycontainer.init";            // true|false
inline constexpr const char* kAnnotationStopTimeout = "io.mycontainer.stop-timeout";  // seconds
// The root as an overlay of image layers (runtime/overlay.hpp): a JSON array of absolute
// directories, BOTTOM FIRST (the order of an image manifest's layers), e.g.
// "[\"/var/lib/mycontainer/layers/sha256/1f...\", \"/var/lib/mycontainer/layers/sha256/9a...\"]".
// With it, root.path is where the runtime mounts the merged root (STATE/containers/NAME/rootfs).
inline constexpr const char* kAnnotationRootLayers = "io.mycontainer.root.layers";
// Where the container's upper and work directories live when they outlive one run
// (DIR/upper, DIR/work): a detached container's (`run -d IMAGE`) are in its record,
// RECORDS/containers/ID/overlay, so that what it wrote is still there after `stop` and
// `start`, as docker keeps a container's layer until `rm`. Absent: made fresh in the state
// directory and removed with it. Only mycontainer's own monitor names one, and only its own
// record's (engine.cpp refuse_for_create): a bundle cannot point create at a host directory.
inline constexpr const char* kAnnotationRootUpper = "io.mycontainer.root.upper";
// The size of a container's writable layer when it is in memory (a tmpfs: runtime/overlay.hpp,
// upper_in_memory), in bytes: `run --storage-opt size=SIZE IMAGE`. Absent: half of the memory
// limit, or without one half of the RAM (engine.cpp upper_size). Refused where the writable
// layer is on disk (a kept upper layer, --userns): nothing there could bound it.
inline constexpr const char* kAnnotationRootSize = "io.mycontainer.root.size";
// The image a container was made from, by id ("sha256:..."): kept as a plain annotation, and
// recorded in the container's state (what `rmi` checks before removing an image).
inline constexpr const char* kAnnotationImage = "io.mycontainer.image";
// ... and the image as it was named on the command line ("busybox", "localhost:5000/app:1"):
// what `ps` shows in its IMAGE column for a container run in the foreground.
inline constexpr const char* kAnnotationImageName = "io.mycontainer.image.name";
// Set by `run -d` (detached.cpp) in the config.json it writes: the caller of `create` is
// mycontainer's own monitor, which owns the container from then on (engine.cpp "hand over").
inline constexpr const char* kAnnotationMonitor = "io.mycontainer.monitor";  // true

// --- the whole config.json ---------------------------------------------------------------------

struct Spec {
  std::string oci_version = kOciVersion;
  Root root;
  Process process;
  std::string hostname;
  std::string domainname;
  std::vector<Mount> mounts;
  Linux linux;  // (-std=c++20, not gnu++20: no "linux" macro)
  Hooks hooks;
  // Every annotation except the io.mycontainer.* keys that have a typed field below: reading
  // moves those into the fields, spec_to_json writes them from the fields (a value left in
  // this map under such a key is overwritten).
  std::map<std::string, std::string> annotations;

  // Read from the annotations when the spec is read, written back to them by to_json.
  Network network;
  bool init = false;      // --init: a small init as PID 1
  int stop_timeout = 10;  // seconds between a forwarded SIGTERM and SIGKILL
  // The read-only layers of an image, bottom first (kAnnotationRootLayers): the root is an
  // overlay of them plus an upper directory of the container's own. Empty: root.path as is.
  std::vector<std::string> root_layers;
  // kAnnotationRootUpper: the directory that keeps the upper layer over runs ("" fresh).
  std::string root_upper;
  // kAnnotationRootSize: the bound of a writable layer in memory (--storage-opt size=).
  std::optional<std::uint64_t> root_size;

  bool operator==(const Spec&) const = default;
};

// Parses and validates; throws SpecError naming the field.
Spec spec_from_json(const nlohmann::json& json);
// The "process" object alone (`exec --process process.json`) and "linux.resources" alone
// (`update --resources FILE`): the same validation as within a config.json, errors naming
// the field from `where` ("process.args: ...").
Process process_from_json(const nlohmann::json& json, const std::string& where = "process");
Resources resources_from_json(const nlohmann::json& json,
                              const std::string& where = "linux.resources");
// Reads FILE (a bundle's config.json); a file that is not JSON is a SpecError too.
Spec read_spec(const std::filesystem::path& file);
// The config.json for `spec`, with every field we set (annotations included).
nlohmann::json spec_to_json(const Spec& spec);
// Writes spec_to_json(spec) to `file` atomically (a temporary file beside it, 0600, then
// rename(2)): a reader sees the old config or the new one. An OCI container's own copy,
// STATE_DIR/config.json (runtime/state.hpp): what `start`, `exec`, `update` and `delete`
// use, never the bundle's file again. Throws SyscallError.
void save_spec(const std::filesystem::path& file, const Spec& spec);
// "linux.resources" as JSON (the form `update --resources FILE` reads).
nlohmann::json resources_to_json(const Resources& resources);

// Names <-> values, for messages and --explain.
std::string to_string(NamespaceType type);  // "pid", "network", ...
int clone_flag(NamespaceType type);         // CLONE_NEWPID ...
std::string to_string(NetworkMode mode);    // "none", "host", "bridge"

}  // namespace mycontainer
