// Reading and writing the OCI config.json (runtime-spec 1.x: config.md, config-linux.md).
//
// How validation works: a config.json is read top down by one small reader per JSON shape
// (read_process, read_mount, read_namespace ...). Each reader gets a `Field`: a JSON value
// together with its place in the document ("linux.namespaces[2].type"). Everything that can
// go wrong is reported through that Field, so every error is one line that starts with the
// field path and shows the value:
//
//   linux.namespaces[2].type: 'pidd' is not a namespace type (pid, network, ...)
//   process.terminal: expected a boolean, got "yes"
//
// After spec_from_json returns, the Spec is known good: nothing downstream checks again.
// Unknown fields are skipped without a word, as config.md requires; `null` counts as absent
// (Go's encoding/json, which runc, podman and containerd use, reads it that way).
//
// Writing (spec_to_json) is the inverse: the OCI names again, optional fields left out when
// unset, so spec_from_json(spec_to_json(s)) == s for every Spec that spec_from_json made.
#include "runtime/spec.hpp"

#include <sched.h>      // CLONE_NEW* (clone(2))
#include <fcntl.h>      // open(2) (save_spec)
#include <sys/mount.h>  // MS_* (mount(2))
#include <unistd.h>     // write(2), unlink(2)

#include <seccomp.h>  // seccomp_arch_resolve_name(3)

#include <algorithm>  // std::sort
#include <cctype>     // std::tolower
#include <cerrno>     // errno
#include <cstdio>     // std::rename (save_spec)
#include <charconv>   // std::from_chars
#include <fstream>    // std::ifstream
#include <limits>     // std::numeric_limits
#include <regex>      // std::regex_match
#include <string_view>
#include <system_error>  // std::error_code
#include <utility>       // std::in_range

#include <fmt/format.h>

#include "ctr/error.hpp"    // ctr::UsageError
#include "ctr/netlink.hpp"  // ctr::validate_link_name

namespace mycontainer {

using nlohmann::json;

namespace {

// --- Messages ----------------------------------------------------------------------------

// 'value' for a message, on one line whatever the value holds: control characters are
// shown as \xNN (a hostile config must not be able to forge log lines), long values cut.
std::string quote(std::string_view value) {
  std::string out = "'";
  for (unsigned char c : value.substr(0, 100)) {
    if (c < 0x20 || c == 0x7f) {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + (value.size() > 100 ? "...'" : "'");
}

// --- Field: a JSON value and where it is ----------------------------------------------------

class Field {
 public:
  Field(const json& value, std::string path) : value_(value), path_(std::move(path)) {}

  const json& value() const { return value_; }
  const std::string& path() const { return path_; }

  // Every error: "path: problem".
  [[noreturn]] void fail(std::string_view problem) const {
    throw SpecError(fmt::format("{}: {}", path_, problem));
  }

  // Member `name` of this object; nullopt when absent or null.
  std::optional<Field> get(std::string_view name) const {
    expect(value_.is_object(), "an object");
    const auto it = value_.find(name);
    if (it == value_.end() || it->is_null()) return std::nullopt;
    return Field(*it, member_path(name));
  }

  // Member `name`, which the spec says is REQUIRED.
  Field require(std::string_view name) const {
    if (auto field = get(name)) return *field;
    throw SpecError(fmt::format("{}: missing", member_path(name)));
  }

  // The elements of an array: "path[0]", "path[1]" ...
  std::vector<Field> elements() const {
    expect(value_.is_array(), "an array");
    std::vector<Field> out;
    for (size_t i = 0; i < value_.size(); ++i) {
      out.emplace_back(value_[i], fmt::format("{}[{}]", path_, i));
    }
    return out;
  }

  bool boolean() const {
    expect(value_.is_boolean(), "a boolean");
    return value_.get<bool>();
  }

  std::string string() const {
    expect(value_.is_string(), "a string");
    return value_.get<std::string>();
  }

  // A whole number that fits T and lies in [lo, hi]. 1.5 and "1" are refused, as Go would.
  template <typename T>
  T integer(T lo = std::numeric_limits<T>::min(), T hi = std::numeric_limits<T>::max()) const {
    expect(value_.is_number_integer(), "an integer");
    const bool fits = value_.is_number_unsigned() ? std::in_range<T>(value_.get<uint64_t>())
                                                  : std::in_range<T>(value_.get<int64_t>());
    if (!fits || value_.get<T>() < lo || value_.get<T>() > hi) {
      fail(fmt::format("{} is out of range ({} to {})", value_.dump(), lo, hi));
    }
    return value_.get<T>();
  }

  std::vector<std::string> strings() const {
    std::vector<std::string> out;
    for (const Field& element : elements()) out.push_back(element.string());
    return out;
  }

  // An object of strings ("sysctl", "annotations"): member paths read sysctl["net.x"], the
  // key written as a JSON string (escaped: a key cannot break the message into lines).
  std::map<std::string, std::string> string_map() const {
    expect(value_.is_object(), "an object");
    std::map<std::string, std::string> out;
    for (const auto& [key, value] : value_.items()) {
      const std::string shown_key = json(key).dump(-1, ' ', false, json::error_handler_t::replace);
      out[key] = Field(value, fmt::format("{}[{}]", path_, shown_key)).string();
    }
    return out;
  }

  // A string that must be one of table's names: the enum value it stands for.
  template <typename Table>
  auto one_of(const Table& table, std::string_view what) const {
    const std::string name = string();
    for (const auto& entry : table) {
      if (entry.name == name) return entry.value;
    }
    std::string names;
    for (const auto& entry : table) names += (names.empty() ? "" : ", ") + std::string(entry.name);
    fail(fmt::format("{} is not {} ({})", quote(name), what, names));
  }

 private:
  std::string member_path(std::string_view name) const {
    return path_.empty() ? std::string(name) : fmt::format("{}.{}", path_, name);
  }

  void expect(bool ok, std::string_view type) const {
    if (ok) return;
    // The value as JSON, which escapes control characters (one line, whatever it holds);
    // `replace`: a string with invalid UTF-8 must not throw a second error.
    std::string shown = value_.dump(-1, ' ', false, json::error_handler_t::replace);
    if (shown.size() > 60) shown = shown.substr(0, 57) + "...";
    fail(fmt::format("expected {}, got {}", type, shown));
  }

  const json& value_;
  std::string path_;
};

// Reads every element of an array with `read`.
template <typename Read>
auto read_list(const Field& array, Read read) {
  std::vector<decltype(read(array))> out;
  for (const Field& element : array.elements()) out.push_back(read(element));
  return out;
}

std::string absolute_path(const Field& field) {
  std::string path = field.string();
  if (path.empty() || path[0] != '/')
    field.fail(fmt::format("{} is not an absolute path", quote(path)));
  return path;
}

// process.env and hooks[].env: execve(2) takes "KEY=VALUE" strings; one without '=' or with
// an empty key is a typo that the program would never see as a variable.
std::vector<std::string> read_env(const Field& array) {
  return read_list(array, [](const Field& element) {
    std::string entry = element.string();
    if (entry.find('=') == std::string::npos || entry[0] == '=') {
      element.fail(fmt::format("{} is not KEY=VALUE", quote(entry)));
    }
    return entry;
  });
}

// --- Names <-> enums ------------------------------------------------------------------------

template <typename E>
struct Named {
  std::string_view name;
  E value;
};

template <typename Table, typename E>
std::string_view name_of(const Table& table, E value) {
  for (const auto& entry : table) {
    if (entry.value == value) return entry.name;
  }
  return "?";
}

constexpr Named<NamespaceType> kNamespaceTypes[] = {
    {"pid", NamespaceType::kPid},       {"network", NamespaceType::kNetwork},
    {"mount", NamespaceType::kMount},   {"ipc", NamespaceType::kIpc},
    {"uts", NamespaceType::kUts},       {"user", NamespaceType::kUser},
    {"cgroup", NamespaceType::kCgroup}, {"time", NamespaceType::kTime},
};

constexpr Named<NetworkMode> kNetworkModes[] = {
    {"none", NetworkMode::kNone}, {"host", NetworkMode::kHost}, {"bridge", NetworkMode::kBridge}};

// Mount propagation (mount(8) "Shared subtree operations"; mount_namespaces(7)), both as a
// mount option and as linux.rootfsPropagation.
constexpr Named<Propagation> kPropagations[] = {
    {"private", Propagation::kPrivate},       {"rprivate", Propagation::kRprivate},
    {"shared", Propagation::kShared},         {"rshared", Propagation::kRshared},
    {"slave", Propagation::kSlave},           {"rslave", Propagation::kRslave},
    {"unbindable", Propagation::kUnbindable}, {"runbindable", Propagation::kRunbindable},
};

// getrlimit(2): the resources, by the names the spec uses.
constexpr Named<int> kRlimits[] = {
    {"RLIMIT_AS", RLIMIT_AS},
    {"RLIMIT_CORE", RLIMIT_CORE},
    {"RLIMIT_CPU", RLIMIT_CPU},
    {"RLIMIT_DATA", RLIMIT_DATA},
    {"RLIMIT_FSIZE", RLIMIT_FSIZE},
    {"RLIMIT_LOCKS", RLIMIT_LOCKS},
    {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK},
    {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE},
    {"RLIMIT_NICE", RLIMIT_NICE},
    {"RLIMIT_NOFILE", RLIMIT_NOFILE},
    {"RLIMIT_NPROC", RLIMIT_NPROC},
    {"RLIMIT_RSS", RLIMIT_RSS},
    {"RLIMIT_RTPRIO", RLIMIT_RTPRIO},
    {"RLIMIT_RTTIME", RLIMIT_RTTIME},
    {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING},
    {"RLIMIT_STACK", RLIMIT_STACK},
};

// config-linux.md "Devices": "u" is an unbuffered character device, which Linux does not
// distinguish from "c" (mknod(2) knows S_IFCHR only): it reads as kChar, writes back as "c".
constexpr Named<DeviceType> kDeviceTypes[] = {{"c", DeviceType::kChar},
                                              {"u", DeviceType::kChar},
                                              {"b", DeviceType::kBlock},
                                              {"p", DeviceType::kFifo}};

// seccomp(2) RETURN VALUES, by libseccomp's names (seccomp_rule_add(3)).
constexpr Named<SeccompAction> kSeccompActions[] = {
    {"SCMP_ACT_KILL", SeccompAction::kKill},
    {"SCMP_ACT_KILL_PROCESS", SeccompAction::kKillProcess},
    {"SCMP_ACT_KILL_THREAD", SeccompAction::kKillThread},
    {"SCMP_ACT_TRAP", SeccompAction::kTrap},
    {"SCMP_ACT_ERRNO", SeccompAction::kErrno},
    {"SCMP_ACT_TRACE", SeccompAction::kTrace},
    {"SCMP_ACT_ALLOW", SeccompAction::kAllow},
    {"SCMP_ACT_LOG", SeccompAction::kLog},
    {"SCMP_ACT_NOTIFY", SeccompAction::kNotify},
};

// The comparisons of a seccomp argument rule (seccomp_rule_add(3), "SCMP_CMP_*").
constexpr Named<SeccompOperator> kSeccompOperators[] = {
    {"SCMP_CMP_NE", SeccompOperator::kNotEqual},
    {"SCMP_CMP_LT", SeccompOperator::kLessThan},
    {"SCMP_CMP_LE", SeccompOperator::kLessEqual},
    {"SCMP_CMP_EQ", SeccompOperator::kEqualTo},
    {"SCMP_CMP_GE", SeccompOperator::kGreaterEqual},
    {"SCMP_CMP_GT", SeccompOperator::kGreaterThan},
    {"SCMP_CMP_MASKED_EQ", SeccompOperator::kMaskedEqual},
};

// seccomp(2) SECCOMP_SET_MODE_FILTER flags, as config-linux.md names them.
constexpr std::string_view kSeccompFlags[] = {
    "SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"};

// --- process ----------------------------------------------------------------------------------

ConsoleSize read_console_size(const Field& field) {
  return {.height = field.require("height").integer<unsigned>(),
          .width = field.require("width").integer<unsigned>()};
}

User read_user(const Field& field) {
  User user;
  user.uid = field.require("uid").integer<uid_t>();
  user.gid = field.require("gid").integer<gid_t>();
  if (auto umask = field.get("umask")) user.umask = umask->integer<mode_t>(0, 0777);
  if (auto gids = field.get("additionalGids")) {
    user.additional_gids = read_list(*gids, [](const Field& f) { return f.integer<gid_t>(); });
  }
  return user;
}

// "CAP_NET_ADMIN" -> CAP_NET_ADMIN, with capability_from_name's message on a typo.
ctr::CapabilitySet read_capability_set(const Field& array) {
  ctr::CapabilitySet set;
  for (const Field& element : array.elements()) {
    try {
      set.insert(ctr::capability_from_name(element.string()));
    } catch (const ctr::UsageError& e) {
      element.fail(e.what());
    }
  }
  return set;
}

Capabilities read_capabilities(const Field& field) {
  Capabilities caps;
  if (auto set = field.get("bounding")) caps.bounding = read_capability_set(*set);
  if (auto set = field.get("effective")) caps.effective = read_capability_set(*set);
  if (auto set = field.get("inheritable")) caps.inheritable = read_capability_set(*set);
  if (auto set = field.get("permitted")) caps.permitted = read_capability_set(*set);
  if (auto set = field.get("ambient")) caps.ambient = read_capability_set(*set);
  return caps;
}

Rlimit read_rlimit(const Field& field) {
  Rlimit limit;
  limit.resource = field.require("type").one_of(kRlimits, "a resource limit");
  limit.hard = field.require("hard").integer<uint64_t>();
  limit.soft = field.require("soft").integer<uint64_t>();
  // setrlimit(2) EINVAL: "rlim->rlim_cur was greater than rlim->rlim_max".
  if (limit.soft > limit.hard) {
    field.fail(fmt::format("soft limit {} is above the hard limit {}", limit.soft, limit.hard));
  }
  return limit;
}

Process read_process(const Field& field) {
  Process process;
  if (auto v = field.get("terminal")) process.terminal = v->boolean();
  if (auto v = field.get("consoleSize")) process.console_size = read_console_size(*v);
  if (auto v = field.get("user")) process.user = read_user(*v);
  if (auto v = field.get("args")) process.args = v->strings();
  if (process.args.empty()) {
    throw SpecError(fmt::format("{}.args: must have at least one element", field.path()));
  }
  if (auto v = field.get("env")) process.env = read_env(*v);
  if (auto v = field.get("cwd")) process.cwd = absolute_path(*v);  // absent: "/"
  if (auto v = field.get("capabilities")) process.capabilities = read_capabilities(*v);
  if (auto v = field.get("rlimits")) process.rlimits = read_list(*v, read_rlimit);
  if (auto v = field.get("noNewPrivileges")) process.no_new_privileges = v->boolean();
  // proc(5) /proc/PID/oom_score_adj: -1000 (never kill) to 1000 (kill first).
  if (auto v = field.get("oomScoreAdj")) process.oom_score_adj = v->integer<int>(-1000, 1000);
  return process;
}

// --- root, mounts -----------------------------------------------------------------------------

Root read_root(const Field& field) {
  Root root;
  root.path = field.require("path").string();
  if (root.path.empty()) field.require("path").fail("must not be empty");
  if (auto v = field.get("readonly")) root.readonly = v->boolean();
  return root;
}

// The mount(8) options that are mount(2) flags. `clear`: the option switches the flag off
// ("rw" undoes "ro"), which matters when a bind mount is remounted with its own flags.
struct MountFlag {
  std::string_view name;
  unsigned long flag;
  bool clear;
};

constexpr MountFlag kMountFlags[] = {
    {"defaults", 0, false},
    {"ro", MS_RDONLY, false},
    {"rw", MS_RDONLY, true},
    {"nosuid", MS_NOSUID, false},
    {"suid", MS_NOSUID, true},
    {"nodev", MS_NODEV, false},
    {"dev", MS_NODEV, true},
    {"noexec", MS_NOEXEC, false},
    {"exec", MS_NOEXEC, true},
    {"sync", MS_SYNCHRONOUS, false},
    {"async", MS_SYNCHRONOUS, true},
    {"dirsync", MS_DIRSYNC, false},
    {"remount", MS_REMOUNT, false},
    {"mand", MS_MANDLOCK, false},
    {"nomand", MS_MANDLOCK, true},
    {"noatime", MS_NOATIME, false},
    {"atime", MS_NOATIME, true},
    {"nodiratime", MS_NODIRATIME, false},
    {"diratime", MS_NODIRATIME, true},
    {"relatime", MS_RELATIME, false},
    {"norelatime", MS_RELATIME, true},
    {"strictatime", MS_STRICTATIME, false},
    {"nostrictatime", MS_STRICTATIME, true},
    {"nosymfollow", MS_NOSYMFOLLOW, false},  // Linux 5.10
    {"symfollow", MS_NOSYMFOLLOW, true},
    {"bind", MS_BIND, false},
    {"rbind", MS_BIND | MS_REC, false},  // the whole tree below the source, submounts too
};

// What one option does to `mount`: it sets or clears a flag, sets the propagation, or
// (anything else, as runc does it) is data for the file system ("mode=755", "size=65536k").
enum class OptionKind { kFlag, kData, kRefused };

// "idmap"/"ridmap" ask for an idmapped mount (mount_setattr(2) MOUNT_ATTR_IDMAP), which this
// runtime does not implement: refused rather than passed on as data to fail later, less clearly.
OptionKind apply_mount_option(Mount& mount, const std::string& option) {
  if (option == "idmap" || option == "ridmap") return OptionKind::kRefused;
  if (option == "tmpcopyup") {
    mount.copy_up = true;
    return OptionKind::kFlag;
  }
  for (const MountFlag& f : kMountFlags) {
    if (f.name != option) continue;
    mount.flags = f.clear ? mount.flags & ~f.flag : mount.flags | f.flag;
    mount.clear_flags = f.clear ? mount.clear_flags | f.flag : mount.clear_flags & ~f.flag;
    return OptionKind::kFlag;
  }
  for (const auto& p : kPropagations) {
    if (p.name != option) continue;
    mount.propagation = p.value;
    return OptionKind::kFlag;
  }
  mount.data += (mount.data.empty() ? "" : ",") + option;
  return OptionKind::kData;
}

}  // namespace

std::vector<std::string> supported_mount_options() {
  std::vector<std::string> out;
  for (const MountFlag& f : kMountFlags) out.emplace_back(f.name);
  for (const auto& p : kPropagations) out.emplace_back(p.name);
  out.emplace_back("tmpcopyup");
  std::sort(out.begin(), out.end());
  return out;
}

namespace {

// Applies every option; returns the problem with options[i] as {i, message}, if any.
std::optional<std::pair<size_t, std::string>> apply_mount_options(Mount& mount) {
  std::optional<size_t> first_data;
  for (size_t i = 0; i < mount.options.size(); ++i) {
    const OptionKind kind = apply_mount_option(mount, mount.options[i]);
    if (kind == OptionKind::kRefused) {
      return std::pair{i, fmt::format("{} is not supported (idmapped mounts are not implemented)",
                                      quote(mount.options[i]))};
    }
    if (kind == OptionKind::kData && !first_data) first_data = i;
  }
  // mount(2) "Creating a bind mount": "The filesystemtype and data arguments are ignored".
  // An option we pass as data would vanish without a word: "rro" (a recursive read-only
  // that runc knows) would leave the bind writable. Refused instead.
  if (mount.is_bind() && first_data) {
    return std::pair{*first_data,
                     fmt::format("{} is not a mount flag, and a bind mount takes no other options",
                                 quote(mount.options[*first_data]))};
  }
  return std::nullopt;
}

Mount read_mount(const Field& field) {
  Mount mount;
  mount.destination = absolute_path(field.require("destination"));
  if (auto v = field.get("type")) mount.type = v->string();
  if (auto v = field.get("source")) mount.source = v->string();
  if (auto v = field.get("options")) {
    mount.options = v->strings();
    if (auto problem = apply_mount_options(mount))
      v->elements()[problem->first].fail(problem->second);
  }
  if (mount.is_bind() && mount.source.empty()) {
    throw SpecError(fmt::format("{}.source: missing (a bind mount needs one)", field.path()));
  }
  return mount;
}

// --- linux ----------------------------------------------------------------------------------

Namespace read_namespace(const Field& field) {
  Namespace ns;
  ns.type = field.require("type").one_of(kNamespaceTypes, "a namespace type");
  // "path": join that namespace (setns(2)); "" is the same as no path (Go's omitempty).
  if (auto v = field.get("path"); v && !v->string().empty()) ns.path = absolute_path(*v);
  return ns;
}

// config-linux.md: "Duplicated namespaces with the same type ... MUST generate an error".
std::vector<Namespace> read_namespaces(const Field& array) {
  std::vector<Namespace> out;
  for (const Field& element : array.elements()) {
    Namespace ns = read_namespace(element);
    for (const Namespace& seen : out) {
      if (seen.type == ns.type) {
        element.fail(fmt::format("a second {} namespace", quote(to_string(ns.type))));
      }
    }
    out.push_back(ns);
  }
  return out;
}

// user_namespaces(7) "User and group ID mappings": a line of /proc/PID/uid_map.
IdMapping read_id_mapping(const Field& field) {
  IdMapping mapping;
  mapping.container_id = field.require("containerID").integer<uint32_t>();
  mapping.host_id = field.require("hostID").integer<uint32_t>();
  const Field size = field.require("size");
  mapping.size = size.integer<uint32_t>();
  if (mapping.size == 0) size.fail("0 maps no ids (the size must be at least 1)");
  return mapping;
}

// Memory sizes are bytes, -1 meaning unlimited (config-linux.md "Memory").
int64_t read_size(const Field& field) {
  const auto bytes = field.integer<int64_t>();
  if (bytes < -1) field.fail(fmt::format("{} is not a size (bytes, or -1 for unlimited)", bytes));
  return bytes;
}

MemoryResources read_memory(const Field& field) {
  MemoryResources memory;
  if (auto v = field.get("limit")) memory.limit = read_size(*v);
  if (auto v = field.get("reservation")) memory.reservation = read_size(*v);
  if (auto v = field.get("swap")) memory.swap = read_size(*v);
  return memory;
}

// cpuset(7) "List format": "0-3,8,10-11". "" means "not set", as in runc.
std::string read_cpu_list(const Field& field) {
  std::string list = field.string();
  static const std::regex kList(R"((\d+(-\d+)?)(,\d+(-\d+)?)*)");
  if (!list.empty() && !std::regex_match(list, kList)) {
    field.fail(fmt::format("{} is not a list of numbers like 0-3,8 (cpuset(7))", quote(list)));
  }
  return list;
}

CpuResources read_cpu(const Field& field) {
  CpuResources cpu;
  if (auto v = field.get("shares")) cpu.shares = v->integer<uint64_t>();
  if (auto v = field.get("quota")) {
    cpu.quota = v->integer<int64_t>();
    if (*cpu.quota < -1) {
      v->fail(fmt::format("{} is not a quota (microseconds, or -1 for unlimited)", *cpu.quota));
    }
  }
  if (auto v = field.get("period")) cpu.period = v->integer<uint64_t>();
  if (auto v = field.get("cpus")) cpu.cpus = read_cpu_list(*v);
  if (auto v = field.get("mems")) cpu.mems = read_cpu_list(*v);
  return cpu;
}

PidsResources read_pids(const Field& field) {
  const Field limit = field.require("limit");
  const auto value = limit.integer<int64_t>();
  if (value < -1)
    limit.fail(fmt::format("{} is not a number of processes (or -1 for unlimited)", value));
  return {.limit = value};
}

Resources read_resources(const Field& field) {
  Resources resources;
  if (auto v = field.get("memory")) resources.memory = read_memory(*v);
  if (auto v = field.get("cpu")) resources.cpu = read_cpu(*v);
  if (auto v = field.get("pids")) resources.pids = read_pids(*v);
  return resources;
}

SeccompArg read_seccomp_arg(const Field& field) {
  SeccompArg arg;
  arg.index = field.require("index").integer<unsigned>(0, 5);  // a syscall has 6 arguments
  arg.value = field.require("value").integer<uint64_t>();
  if (auto v = field.get("valueTwo")) arg.value_two = v->integer<uint64_t>();
  arg.op = field.require("op").one_of(kSeccompOperators, "a seccomp operator");
  return arg;
}

SeccompSyscall read_seccomp_syscall(const Field& field) {
  SeccompSyscall syscall;
  // Names are not checked: a profile lists calls that this kernel or libseccomp may not
  // know yet, and runtimes skip those (the seccomp compiler does too).
  syscall.names = field.require("names").strings();
  if (syscall.names.empty()) field.require("names").fail("must have at least one element");
  syscall.action = field.require("action").one_of(kSeccompActions, "a seccomp action");
  if (auto v = field.get("errnoRet")) syscall.errno_ret = v->integer<unsigned>();
  if (auto v = field.get("args")) syscall.args = read_list(*v, read_seccomp_arg);
  return syscall;
}

// "SCMP_ARCH_X86_64" -> libseccomp's "x86_64", which it must know.
std::string read_seccomp_arch(const Field& field) {
  std::string name = field.string();
  std::string bare = name.rfind("SCMP_ARCH_", 0) == 0 ? name.substr(10) : "";
  for (char& c : bare) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (bare.empty() || ::seccomp_arch_resolve_name(bare.c_str()) == 0) {
    field.fail(fmt::format("{} is not an architecture libseccomp knows (like SCMP_ARCH_X86_64)",
                           quote(name)));
  }
  return name;
}

std::string read_seccomp_flag(const Field& field) {
  std::string flag = field.string();
  if (std::find(std::begin(kSeccompFlags), std::end(kSeccompFlags), flag) ==
      std::end(kSeccompFlags)) {
    field.fail(fmt::format("{} is not a seccomp filter flag (see seccomp(2))", quote(flag)));
  }
  return flag;
}

Seccomp read_seccomp(const Field& field) {
  Seccomp seccomp;
  seccomp.default_action =
      field.require("defaultAction").one_of(kSeccompActions, "a seccomp action");
  if (auto v = field.get("defaultErrnoRet")) seccomp.default_errno_ret = v->integer<unsigned>();
  if (auto v = field.get("architectures")) seccomp.architectures = read_list(*v, read_seccomp_arch);
  if (auto v = field.get("flags")) seccomp.flags = read_list(*v, read_seccomp_flag);
  if (auto v = field.get("syscalls")) seccomp.syscalls = read_list(*v, read_seccomp_syscall);
  return seccomp;
}

Device read_device(const Field& field) {
  Device device;
  device.type = field.require("type").one_of(kDeviceTypes, "a device type");
  device.path = absolute_path(field.require("path"));
  // A FIFO has no device number; the others need both (config-linux.md "Devices").
  if (device.type != DeviceType::kFifo) {
    device.major = field.require("major").integer<int64_t>(0, 4095);     // 12 bits
    device.minor = field.require("minor").integer<int64_t>(0, 1048575);  // 20 bits (makedev(3))
  }
  if (auto v = field.get("fileMode")) device.file_mode = v->integer<mode_t>();
  if (auto v = field.get("uid")) device.uid = v->integer<uid_t>();
  if (auto v = field.get("gid")) device.gid = v->integer<gid_t>();
  return device;
}

Linux read_linux(const Field& field) {
  Linux linux;
  if (auto v = field.get("namespaces")) linux.namespaces = read_namespaces(*v);
  if (auto v = field.get("uidMappings")) linux.uid_mappings = read_list(*v, read_id_mapping);
  if (auto v = field.get("gidMappings")) linux.gid_mappings = read_list(*v, read_id_mapping);
  if (auto v = field.get("resources")) linux.resources = read_resources(*v);
  if (auto v = field.get("cgroupsPath")) linux.cgroups_path = v->string();
  if (auto v = field.get("seccomp")) linux.seccomp = read_seccomp(*v);
  if (auto v = field.get("maskedPaths")) linux.masked_paths = read_list(*v, absolute_path);
  if (auto v = field.get("readonlyPaths")) linux.readonly_paths = read_list(*v, absolute_path);
  if (auto v = field.get("devices")) linux.devices = read_list(*v, read_device);
  if (auto v = field.get("sysctl")) linux.sysctl = v->string_map();
  if (auto v = field.get("rootfsPropagation"); v && !v->string().empty()) {
    linux.rootfs_propagation = v->one_of(kPropagations, "a propagation");
  }
  // Mappings describe a user namespace: without one there is nothing to write them to.
  for (const char* name : {"uidMappings", "gidMappings"}) {
    auto mappings = field.get(name);
    if (mappings && !mappings->value().empty() && !linux.has_namespace(NamespaceType::kUser)) {
      mappings->fail("given, but linux.namespaces has no 'user' namespace");
    }
  }
  return linux;
}

// --- hooks ------------------------------------------------------------------------------------

Hook read_hook(const Field& field) {
  Hook hook;
  hook.path = absolute_path(field.require("path"));
  if (auto v = field.get("args")) hook.args = v->strings();
  if (auto v = field.get("env")) hook.env = read_env(*v);
  if (auto v = field.get("timeout")) {
    hook.timeout = v->integer<int>();
    if (*hook.timeout <= 0) {
      v->fail(fmt::format("{} is not a timeout (seconds, at least 1)", *hook.timeout));
    }
  }
  return hook;
}

// The hook lists by their JSON names, for reading and writing alike.
constexpr std::pair<const char*, std::vector<Hook> Hooks::*> kHookLists[] = {
    {"prestart", &Hooks::prestart},  // deprecated since 1.0.2 (createRuntime...), still seen
    {"createRuntime", &Hooks::create_runtime},
    {"createContainer", &Hooks::create_container},
    {"startContainer", &Hooks::start_container},
    {"poststart", &Hooks::poststart},
    {"poststop", &Hooks::poststop},
};

Hooks read_hooks(const Field& field) {
  Hooks hooks;
  for (const auto& [name, list] : kHookLists) {
    if (auto v = field.get(name)) hooks.*list = read_list(*v, read_hook);
  }
  return hooks;
}

// --- the mycontainer annotations --------------------------------------------------------------
// The rule that makes reading and writing inverse: reading moves each io.mycontainer.* key
// this file knows into its typed field (Spec::network, init, stop_timeout) and out of
// Spec::annotations; writing puts them back from the typed fields. Other annotations, other
// io.mycontainer.* keys included, stay in the map untouched.

[[noreturn]] void annotation_error(std::string_view key, std::string_view problem) {
  throw SpecError(fmt::format("annotations[\"{}\"]: {}", key, problem));
}

// Removes `key` from the map and returns its value, if it was there.
std::optional<std::string> take(std::map<std::string, std::string>& annotations,
                                std::string_view key) {
  auto node = annotations.extract(std::string(key));
  if (node.empty()) return std::nullopt;
  return std::move(node.mapped());
}

bool parse_bool_annotation(std::string_view key, const std::string& value) {
  if (value == "true") return true;
  if (value == "false") return false;
  annotation_error(key, fmt::format("{} is not true or false", quote(value)));
}

// Runs `parse` (a ctr parser that throws UsageError) and names the annotation on failure.
template <typename Parse>
auto parse_annotation(std::string_view key, Parse parse) {
  try {
    return parse();
  } catch (const ctr::UsageError& e) {
    annotation_error(key, e.what());
  }
}

NetworkMode parse_network_mode(const std::string& value) {
  for (const auto& mode : kNetworkModes) {
    if (mode.name == value) return mode.value;
  }
  annotation_error(kAnnotationNetwork,
                   fmt::format("{} is not a network mode (none, host, bridge)", quote(value)));
}

// The network mode must agree with linux.namespaces: "host" shares the host's network, so
// there must be no network namespace; "none" and "bridge" need one. Without the annotation
// (a config.json from another tool) the namespaces decide.
NetworkMode network_mode(std::optional<std::string> value, const Linux& linux) {
  const bool has_netns = linux.has_namespace(NamespaceType::kNetwork);
  if (!value) return has_netns ? NetworkMode::kNone : NetworkMode::kHost;
  const NetworkMode mode = parse_network_mode(*value);
  if (mode == NetworkMode::kHost && has_netns) {
    annotation_error(kAnnotationNetwork, "'host', but linux.namespaces has a network namespace");
  }
  if (mode != NetworkMode::kHost && !has_netns) {
    annotation_error(
        kAnnotationNetwork,
        fmt::format("{} needs a 'network' namespace in linux.namespaces", quote(*value)));
  }
  return mode;
}

Network read_network(std::map<std::string, std::string>& annotations, const Linux& linux) {
  Network network;
  network.mode = network_mode(take(annotations, kAnnotationNetwork), linux);
  if (auto bridge = take(annotations, kAnnotationBridge)) {
    parse_annotation(kAnnotationBridge, [&] { ctr::validate_link_name(*bridge, "bridge"); });
    network.bridge = *bridge;
  }
  if (auto subnet = take(annotations, kAnnotationSubnet)) {
    network.subnet =
        parse_annotation(kAnnotationSubnet, [&] { return ctr::parse_subnet(*subnet); });
  }
  if (auto address = take(annotations, kAnnotationAddress)) {
    network.address = parse_annotation(kAnnotationAddress, [&] {
      const ctr::Ipv4Cidr cidr = ctr::parse_cidr(*address, "address");
      ctr::validate_container_address(cidr, network.subnet);
      return cidr;
    });
  }
  if (auto nat = take(annotations, kAnnotationNat)) {
    network.nat = parse_bool_annotation(kAnnotationNat, *nat);
  }
  if (auto ports = take(annotations, kAnnotationPorts)) {
    for (size_t start = 0; start <= ports->size();) {
      const size_t comma = std::min(ports->find(',', start), ports->size());
      const std::string one = ports->substr(start, comma - start);
      network.ports.push_back(
          parse_annotation(kAnnotationPorts, [&] { return ctr::parse_port_mapping(one); }));
      start = comma + 1;
    }
    if (network.mode != NetworkMode::kBridge)
      annotation_error(kAnnotationPorts, "published ports need the network mode 'bridge'");
  }
  return network;
}

int parse_stop_timeout(const std::string& value) {
  int seconds = -1;
  const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), seconds);
  if (error != std::errc() || end != value.data() + value.size() || seconds < 0) {
    annotation_error(kAnnotationStopTimeout,
                     fmt::format("{} is not a number of seconds (0 or more)", quote(value)));
  }
  return seconds;
}

// A JSON array of absolute directories, at least one.
std::vector<std::string> parse_root_layers(const std::string& value) {
  const auto bad = [&](std::string_view why) { annotation_error(kAnnotationRootLayers, why); };
  const nlohmann::json j = nlohmann::json::parse(value, nullptr, false);
  if (!j.is_array() || j.empty()) bad("not a JSON array of layer directories (bottom first)");
  std::vector<std::string> layers;
  for (const auto& layer : j) {
    if (!layer.is_string() || layer.get<std::string>().empty() ||
        layer.get<std::string>()[0] != '/') {
      bad(fmt::format("{} is not an absolute directory", layer.dump()));
    }
    layers.push_back(layer.get<std::string>());
  }
  return layers;
}

void read_mycontainer_annotations(Spec& spec) {
  spec.network = read_network(spec.annotations, spec.linux);
  if (auto init = take(spec.annotations, kAnnotationInit)) {
    spec.init = parse_bool_annotation(kAnnotationInit, *init);
  }
  if (auto timeout = take(spec.annotations, kAnnotationStopTimeout)) {
    spec.stop_timeout = parse_stop_timeout(*timeout);
  }
  if (auto layers = take(spec.annotations, kAnnotationRootLayers)) {
    spec.root_layers = parse_root_layers(*layers);
  }
  if (auto upper = take(spec.annotations, kAnnotationRootUpper)) {
    if (upper->empty() || (*upper)[0] != '/') {
      annotation_error(kAnnotationRootUpper,
                       fmt::format("{} is not an absolute directory", quote(*upper)));
    }
    if (spec.root_layers.empty()) {
      annotation_error(kAnnotationRootUpper, "an upper layer needs image layers below it (" +
                                                 std::string(kAnnotationRootLayers) + ")");
    }
    spec.root_upper = *upper;
  }
  if (auto size = take(spec.annotations, kAnnotationRootSize)) {
    std::uint64_t bytes = 0;
    const auto [end, error] = std::from_chars(size->data(), size->data() + size->size(), bytes);
    if (error != std::errc() || end != size->data() + size->size() || bytes == 0) {
      annotation_error(kAnnotationRootSize,
                       fmt::format("{} is not a number of bytes (1 or more)", quote(*size)));
    }
    if (spec.root_layers.empty()) {
      annotation_error(kAnnotationRootSize, "a writable layer's size needs image layers (" +
                                                std::string(kAnnotationRootLayers) + ")");
    }
    spec.root_size = bytes;
  }
}

// --- the whole document -----------------------------------------------------------------------

// config.md: ociVersion is SemVer; runtimes read any 1.x ("1.0.2-dev", "1.2.0", "1.3.0").
std::string read_oci_version(const Field& field) {
  std::string version = field.string();
  static const std::regex kOneDotX(R"(1\.\d+\.\d+([-+][0-9A-Za-z.+-]+)?)");
  if (!std::regex_match(version, kOneDotX)) {
    field.fail(fmt::format("{} is not a 1.x version", quote(version)));
  }
  return version;
}

// hostname and domainname: sethostname(2) and setdomainname(2) refuse more than 64 bytes
// (EINVAL; HOST_NAME_MAX). And either needs a UTS namespace of its own, or it would rename
// the host (runc refuses the same way).
std::string read_uts_name(const Field& field, const Linux& linux) {
  std::string name = field.string();
  if (name.size() > 64) field.fail(fmt::format("{} is longer than 64 characters", quote(name)));
  if (!name.empty() && !linux.has_namespace(NamespaceType::kUts)) {
    field.fail("set, but linux.namespaces has no 'uts' namespace");
  }
  return name;
}

// --- writing ----------------------------------------------------------------------------------

template <typename T, typename Write>
json write_list(const std::vector<T>& items, Write write) {
  json out = json::array();
  for (const T& item : items) out.push_back(write(item));
  return out;
}

// Capability names, sorted, as runc and podman write them.
json write_capability_set(const ctr::CapabilitySet& set) {
  std::vector<std::string> names;
  for (cap_value_t cap : set) names.push_back(ctr::capability_name(cap));
  std::sort(names.begin(), names.end());
  return names;
}

json write_capabilities(const Capabilities& caps) {
  return {{"bounding", write_capability_set(caps.bounding)},
          {"effective", write_capability_set(caps.effective)},
          {"inheritable", write_capability_set(caps.inheritable)},
          {"permitted", write_capability_set(caps.permitted)},
          {"ambient", write_capability_set(caps.ambient)}};
}

json write_user(const User& user) {
  json out = {{"uid", user.uid}, {"gid", user.gid}};
  if (user.umask) out["umask"] = *user.umask;
  if (!user.additional_gids.empty()) out["additionalGids"] = user.additional_gids;
  return out;
}

json write_rlimit(const Rlimit& limit) {
  return {{"type", name_of(kRlimits, limit.resource)}, {"hard", limit.hard}, {"soft", limit.soft}};
}

json write_process(const Process& process) {
  json out = {{"terminal", process.terminal},
              {"user", write_user(process.user)},
              {"args", process.args},
              {"cwd", process.cwd},
              {"noNewPrivileges", process.no_new_privileges}};
  if (process.console_size) {
    out["consoleSize"] = {{"height", process.console_size->height},
                          {"width", process.console_size->width}};
  }
  if (!process.env.empty()) out["env"] = process.env;
  if (process.capabilities) out["capabilities"] = write_capabilities(*process.capabilities);
  if (!process.rlimits.empty()) out["rlimits"] = write_list(process.rlimits, write_rlimit);
  if (process.oom_score_adj) out["oomScoreAdj"] = *process.oom_score_adj;
  return out;
}

json write_mount(const Mount& mount) {
  json out = {{"destination", mount.destination}};
  if (!mount.type.empty()) out["type"] = mount.type;
  if (!mount.source.empty()) out["source"] = mount.source;
  if (!mount.options.empty()) out["options"] = mount.options;
  return out;
}

json write_namespace(const Namespace& ns) {
  json out = {{"type", to_string(ns.type)}};
  if (ns.path) out["path"] = *ns.path;
  return out;
}

json write_id_mapping(const IdMapping& mapping) {
  return {
      {"containerID", mapping.container_id}, {"hostID", mapping.host_id}, {"size", mapping.size}};
}

// Sets out[key] when the optional holds a value.
template <typename T>
void put(json& out, const char* key, const std::optional<T>& value) {
  if (value) out[key] = *value;
}

json write_resources(const Resources& resources) {
  json out = json::object();
  if (const auto& memory = resources.memory) {
    json& m = out["memory"] = json::object();
    put(m, "limit", memory->limit);
    put(m, "reservation", memory->reservation);
    put(m, "swap", memory->swap);
  }
  if (const auto& cpu = resources.cpu) {
    json& c = out["cpu"] = json::object();
    put(c, "shares", cpu->shares);
    put(c, "quota", cpu->quota);
    put(c, "period", cpu->period);
    put(c, "cpus", cpu->cpus);
    put(c, "mems", cpu->mems);
  }
  if (resources.pids) out["pids"] = {{"limit", resources.pids->limit}};
  return out;
}

json write_seccomp_arg(const SeccompArg& arg) {
  json out = {
      {"index", arg.index}, {"value", arg.value}, {"op", name_of(kSeccompOperators, arg.op)}};
  if (arg.value_two != 0) out["valueTwo"] = arg.value_two;
  return out;
}

json write_seccomp_syscall(const SeccompSyscall& syscall) {
  json out = {{"names", syscall.names}, {"action", name_of(kSeccompActions, syscall.action)}};
  put(out, "errnoRet", syscall.errno_ret);
  if (!syscall.args.empty()) out["args"] = write_list(syscall.args, write_seccomp_arg);
  return out;
}

json write_seccomp(const Seccomp& seccomp) {
  json out = {{"defaultAction", name_of(kSeccompActions, seccomp.default_action)}};
  put(out, "defaultErrnoRet", seccomp.default_errno_ret);
  if (!seccomp.architectures.empty()) out["architectures"] = seccomp.architectures;
  if (!seccomp.flags.empty()) out["flags"] = seccomp.flags;
  if (!seccomp.syscalls.empty())
    out["syscalls"] = write_list(seccomp.syscalls, write_seccomp_syscall);
  return out;
}

json write_device(const Device& device) {
  json out = {{"type", name_of(kDeviceTypes, device.type)}, {"path", device.path}};
  if (device.type != DeviceType::kFifo) {
    out["major"] = device.major;
    out["minor"] = device.minor;
  }
  put(out, "fileMode", device.file_mode);
  put(out, "uid", device.uid);
  put(out, "gid", device.gid);
  return out;
}

json write_linux(const Linux& linux) {
  json out = {{"namespaces", write_list(linux.namespaces, write_namespace)}};
  if (!linux.uid_mappings.empty())
    out["uidMappings"] = write_list(linux.uid_mappings, write_id_mapping);
  if (!linux.gid_mappings.empty())
    out["gidMappings"] = write_list(linux.gid_mappings, write_id_mapping);
  if (linux.resources) out["resources"] = write_resources(*linux.resources);
  if (!linux.cgroups_path.empty()) out["cgroupsPath"] = linux.cgroups_path;
  if (linux.seccomp) out["seccomp"] = write_seccomp(*linux.seccomp);
  if (!linux.masked_paths.empty()) out["maskedPaths"] = linux.masked_paths;
  if (!linux.readonly_paths.empty()) out["readonlyPaths"] = linux.readonly_paths;
  if (!linux.devices.empty()) out["devices"] = write_list(linux.devices, write_device);
  if (!linux.sysctl.empty()) out["sysctl"] = linux.sysctl;
  if (linux.rootfs_propagation != Propagation::kNone) {
    out["rootfsPropagation"] = name_of(kPropagations, linux.rootfs_propagation);
  }
  return out;
}

json write_hook(const Hook& hook) {
  json out = {{"path", hook.path}};
  if (!hook.args.empty()) out["args"] = hook.args;
  if (!hook.env.empty()) out["env"] = hook.env;
  put(out, "timeout", hook.timeout);
  return out;
}

json write_hooks(const Hooks& hooks) {
  json out = json::object();
  for (const auto& [name, list] : kHookLists) {
    if (!(hooks.*list).empty()) out[name] = write_list(hooks.*list, write_hook);
  }
  return out;
}

// The typed fields back into io.mycontainer.* annotations. The mode is always written (its
// absence means "decided by linux.namespaces"); the rest when the mode is bridge or the
// value is not the default, so that `mycontainer spec` shows what matters and no more.
std::map<std::string, std::string> write_annotations(const Spec& spec) {
  std::map<std::string, std::string> out = spec.annotations;
  const Network& network = spec.network;
  const Network defaults;
  const bool bridge = network.mode == NetworkMode::kBridge;
  out[kAnnotationNetwork] = to_string(network.mode);
  if (bridge || network.bridge != defaults.bridge) out[kAnnotationBridge] = network.bridge;
  if (bridge || network.subnet != defaults.subnet)
    out[kAnnotationSubnet] = network.subnet.to_string();
  if (network.address) out[kAnnotationAddress] = network.address->to_string();
  if (bridge || network.nat) out[kAnnotationNat] = network.nat ? "true" : "false";
  if (!network.ports.empty()) {
    std::string ports;
    for (const auto& p : network.ports) ports += (ports.empty() ? "" : ",") + ctr::to_string(p);
    out[kAnnotationPorts] = ports;
  }
  if (spec.init) out[kAnnotationInit] = "true";
  if (spec.stop_timeout != Spec{}.stop_timeout) {
    out[kAnnotationStopTimeout] = std::to_string(spec.stop_timeout);
  }
  if (!spec.root_layers.empty()) {
    out[kAnnotationRootLayers] = nlohmann::json(spec.root_layers).dump();
  }
  if (!spec.root_upper.empty()) out[kAnnotationRootUpper] = spec.root_upper;
  if (spec.root_size) out[kAnnotationRootSize] = std::to_string(*spec.root_size);
  return out;
}

}  // namespace

// --- public -----------------------------------------------------------------------------------

bool Mount::is_bind() const {
  if (type == "bind") return true;
  return std::find_if(options.begin(), options.end(), [](const std::string& option) {
           return option == "bind" || option == "rbind";
         }) != options.end();
}

Mount make_mount(std::string destination, std::string type, std::string source,
                 std::vector<std::string> options) {
  Mount mount;
  mount.destination = std::move(destination);
  mount.type = std::move(type);
  mount.source = std::move(source);
  mount.options = std::move(options);
  if (auto problem = apply_mount_options(mount)) {
    throw SpecError(fmt::format("mount {}: option {}", mount.destination, problem->second));
  }
  return mount;
}

bool Linux::has_namespace(NamespaceType type) const {
  return find_namespace(type) != nullptr;
}

const Namespace* Linux::find_namespace(NamespaceType type) const {
  for (const Namespace& ns : namespaces) {
    if (ns.type == type) return &ns;
  }
  return nullptr;
}

Spec spec_from_json(const json& document) {
  if (!document.is_object()) {
    throw SpecError(fmt::format("expected a JSON object, got {}", document.type_name()));
  }
  const Field top(document, "");
  Spec spec;
  spec.oci_version = read_oci_version(top.require("ociVersion"));
  spec.root = read_root(top.require("root"));
  spec.process = read_process(top.require("process"));
  if (auto v = top.get("linux")) spec.linux = read_linux(*v);
  if (auto v = top.get("hostname")) spec.hostname = read_uts_name(*v, spec.linux);
  if (auto v = top.get("domainname")) spec.domainname = read_uts_name(*v, spec.linux);
  if (auto v = top.get("mounts")) spec.mounts = read_list(*v, read_mount);
  if (auto v = top.get("hooks")) spec.hooks = read_hooks(*v);
  if (auto v = top.get("annotations")) spec.annotations = v->string_map();
  read_mycontainer_annotations(spec);
  return spec;
}

Process process_from_json(const json& document, const std::string& where) {
  return read_process(Field(document, where));
}

Resources resources_from_json(const json& document, const std::string& where) {
  return read_resources(Field(document, where));
}

Spec read_spec(const std::filesystem::path& file) {
  const std::string hint = "(is this a bundle? `mycontainer spec` writes a config.json)";
  std::error_code error;
  if (std::filesystem::is_directory(file, error)) {
    throw SpecError(fmt::format("{}: is a directory, not a config.json {}", file.string(), hint));
  }
  std::ifstream in(file);
  if (!in) {
    throw SpecError(fmt::format("{}: cannot read it: {} {}", file.string(),
                                std::generic_category().message(errno), hint));
  }
  json document;
  try {
    document = json::parse(in);
  } catch (const json::parse_error& e) {
    // e.what() starts with "[json.exception.parse_error.101] ": the rest says where.
    std::string what = e.what();
    what = what.substr(what.find("] ") + 2);
    throw SpecError(fmt::format("{}: not JSON: {} {}", file.string(), what, hint));
  }
  try {
    return spec_from_json(document);
  } catch (const SpecError& e) {
    throw SpecError(fmt::format("{}: {}", file.string(), e.what()));
  }
}

json spec_to_json(const Spec& spec) {
  json out = {{"ociVersion", spec.oci_version},
              {"root", {{"path", spec.root.path.string()}, {"readonly", spec.root.readonly}}},
              {"process", write_process(spec.process)},
              {"linux", write_linux(spec.linux)},
              {"annotations", write_annotations(spec)}};
  if (!spec.hostname.empty()) out["hostname"] = spec.hostname;
  if (!spec.domainname.empty()) out["domainname"] = spec.domainname;
  if (!spec.mounts.empty()) out["mounts"] = write_list(spec.mounts, write_mount);
  if (json hooks = write_hooks(spec.hooks); !hooks.empty()) out["hooks"] = hooks;
  return out;
}

void save_spec(const std::filesystem::path& file, const Spec& spec) {
  const std::string text = spec_to_json(spec).dump(2) + "\n";
  const std::filesystem::path tmp = file.string() + ".tmp";
  // O_EXCL|O_NOFOLLOW: never through a file or link someone else put there.
  ::unlink(tmp.c_str());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) throw ctr::SyscallError(errno, "open", tmp.string());
  const ssize_t n = ::write(fd, text.data(), text.size());
  const int err = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(text.size())) {
    ::unlink(tmp.c_str());
    throw ctr::SyscallError(n < 0 ? err : ENOSPC, "write", tmp.string());
  }
  if (::rename(tmp.c_str(), file.c_str()) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    throw ctr::SyscallError(e, "rename", file.string());
  }
}

json resources_to_json(const Resources& resources) {
  return write_resources(resources);
}

std::string to_string(NamespaceType type) {
  return std::string(name_of(kNamespaceTypes, type));
}

// clone(2), namespaces(7): the flag that makes a new namespace of each type.
int clone_flag(NamespaceType type) {
  switch (type) {
    case NamespaceType::kPid:
      return CLONE_NEWPID;
    case NamespaceType::kNetwork:
      return CLONE_NEWNET;
    case NamespaceType::kMount:
      return CLONE_NEWNS;  // the first namespace (2002): "NS"
    case NamespaceType::kIpc:
      return CLONE_NEWIPC;
    case NamespaceType::kUts:
      return CLONE_NEWUTS;
    case NamespaceType::kUser:
      return CLONE_NEWUSER;
    case NamespaceType::kCgroup:
      return CLONE_NEWCGROUP;
    case NamespaceType::kTime:
      // Linux 5.6. Not for clone(2): 0x80 lies in its exit-signal byte; unshare(2) and
      // clone3(2) take it (and only the caller's children enter the new namespace).
      return CLONE_NEWTIME;
  }
  return 0;
}

std::string to_string(NetworkMode mode) {
  return std::string(name_of(kNetworkModes, mode));
}

}  // namespace mycontainer
