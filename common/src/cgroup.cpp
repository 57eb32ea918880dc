// Cgroup: the v1 and v2 backends behind one interface. Read cgroup.hpp first.
//
// Sources: cgroups(7); Documentation/admin-guide/cgroup-v2.rst (cited as cgroup-v2.rst);
// Documentation/admin-guide/cgroup-v1/{cgroups,memory,freezer-subsystem,pids}.rst.
#include "ctr/cgroup.hpp"

#include <dirent.h>    // opendir(3), readdir(3)
#include <fcntl.h>     // open(2), O_PATH
#include <signal.h>    // kill(2), SIGKILL
#include <sys/stat.h>  // mkdir(2), stat(2)
#include <unistd.h>    // read(2), write(2), rmdir(2), getpid(2), sysconf(3)

#include <algorithm>  // std::sort, std::unique
#include <cctype>     // std::tolower
#include <cerrno>     // errno, EBUSY, EEXIST, ENOENT
#include <charconv>   // std::from_chars
#include <chrono>     // deadlines for waiting on the kernel
#include <cmath>      // std::llround
#include <cstring>    // strerror
#include <limits>     // std::numeric_limits
#include <map>        // std::map
#include <sstream>    // std::istringstream
#include <thread>     // std::this_thread::sleep_for
#include <utility>    // std::exchange

#include <fmt/format.h>  // fmt::format
#include <fmt/ranges.h>  // fmt::join

#include "ctr/error.hpp"    // check, SyscallError, UsageError
#include "ctr/narrate.hpp"  // narrate

namespace ctr {

namespace {

using namespace std::chrono_literals;

constexpr std::string_view kManV1 = "cgroups(7)";
constexpr std::string_view kManV2 = "Documentation/admin-guide/cgroup-v2.rst";

// The controllers we use: memory, cpu and pids for limits; cpuacct for CPU usage on v1 (on v2,
// cpu.stat always has it); freezer to stop processes from forking while we kill them.
const std::set<std::string>& used_controllers() {
  static const std::set<std::string> set = {"memory", "cpu", "cpuacct", "pids", "freezer"};
  return set;
}

// Every v1 controller, to pick them out of a mount's super options ("rw,cpu,cpuacct").
const std::set<std::string>& v1_controller_names() {
  static const std::set<std::string> set = {
      "cpuset",  "cpu",      "cpuacct",    "blkio",   "memory", "devices", "freezer",
      "net_cls", "net_prio", "perf_event", "hugetlb", "pids",   "rdma",    "misc"};
  return set;
}

// --- Small text and file helpers -----------------------------------------------------------

std::vector<std::string> split(std::string_view text, char sep) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t end = std::min(text.find(sep, start), text.size());
    parts.emplace_back(text.substr(start, end - start));
    start = end + 1;
  }
  return parts;
}

std::set<std::string> words(std::string_view text) {
  std::set<std::string> out;
  std::istringstream in{std::string(text)};
  for (std::string w; in >> w;) out.insert(w);
  return out;
}

bool starts_with(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

std::string dirname_of(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == 0 || slash == std::string::npos ? std::string("/") : path.substr(0, slash);
}

std::string basename_of(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

bool is_dir(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool exists(const std::string& path) {
  return ::access(path.c_str(), F_OK) == 0;
}

// The whole file, or nullopt when it cannot be opened (a controller not enabled, a cgroup
// gone). Interface files are small and generated on read, so one buffer loop is enough.
std::optional<std::string> read_text(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return std::nullopt;
  std::string text;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd.get(), buf, sizeof buf)) > 0) text.append(buf, static_cast<size_t>(n));
  if (n < 0) return std::nullopt;
  return text;
}

std::optional<uint64_t> to_u64(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::optional<uint64_t> read_u64(const std::string& path) {
  const auto text = read_text(path);
  return text ? to_u64(*text) : std::nullopt;
}

// A "flat keyed" file (cgroup-v2.rst "Interface Files"): "key value" per line.
std::optional<uint64_t> read_key(const std::string& path, std::string_view key) {
  const auto text = read_text(path);
  if (!text) return std::nullopt;
  for (const auto& line : split(*text, '\n')) {
    const size_t space = line.find(' ');
    if (space != std::string::npos && std::string_view(line).substr(0, space) == key) {
      return to_u64(std::string_view(line).substr(space + 1));
    }
  }
  return std::nullopt;
}

// The subdirectories of dir (cgroups beneath it), by name.
std::vector<std::string> subdirs(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return names;
  while (const dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    if (e->d_type == DT_DIR ||
        (e->d_type == DT_UNKNOWN && is_dir(fmt::format("{}/{}", dir, name)))) {
      names.push_back(name);
    }
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<pid_t> read_pids(const std::string& procs_file) {
  std::vector<pid_t> pids;
  if (const auto text = read_text(procs_file)) {
    for (const auto& w : split(*text, '\n')) {
      if (const auto v = to_u64(w); v && *v > 0) pids.push_back(static_cast<pid_t>(*v));
    }
  }
  return pids;
}

// cgroup.procs of dir and of every cgroup beneath it.
void collect_pids(const std::string& dir, std::vector<pid_t>& into) {
  const auto pids = read_pids(dir + "/cgroup.procs");
  into.insert(into.end(), pids.begin(), pids.end());
  for (const auto& sub : subdirs(dir)) collect_pids(fmt::format("{}/{}", dir, sub), into);
}

// --- The three things we do to a cgroup filesystem, each narrated ----------------------------

// mkdir, write and rmdir on cgroupfs, each reported to the narrator with the shell command
// that does the same, so `--explain` shows a learner how to do it by hand.
class CgroupFs {
 public:
  CgroupFs(CgroupVersion version, const CgroupFsHooks& hooks)
      : man_(version == CgroupVersion::kV1 ? kManV1 : kManV2), hooks_(hooks) {}

  // One write(2) with the whole value: cgroupfs parses each write on its own, and reports a
  // bad value or a refused move as the errno of that write (EINVAL, EBUSY...).
  void write(const std::string& path, const std::string& value) const {
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC));  // as echo > does
    const bool ok = fd && ::write(fd.get(), value.data(), value.size()) >= 0;
    const int err = ok ? 0 : errno;
    narrate({.call = fmt::format("write {} = {}", path, value),
             .result = err == 0 ? "ok" : std::strerror(err),
             .shell = fmt::format("echo {} > {}", value, path),
             .man = std::string(man_)});
    if (err != 0) throw SyscallError(err, "write", path);
  }

  // Makes one cgroup. The kernel fills the new directory with interface files by itself.
  void make_dir(const std::string& path) const {
    const int rc = ::mkdir(path.c_str(), 0755);
    const int err = rc == 0 ? 0 : errno;
    narrate({.call = fmt::format("mkdir {}", path),
             .result = err == 0 ? "ok" : std::strerror(err),
             .shell = fmt::format("mkdir {}", path),
             .man = std::string(man_)});
    if (err == EEXIST) {
      throw UsageError(fmt::format(
          "cgroup '{}' already exists: another container uses that name, or a crashed run left "
          "it behind (mycontainer cleanup removes leftovers)",
          path));
    }
    if (err != 0) throw SyscallError(err, "mkdir", path);
    if (hooks_.after_mkdir) hooks_.after_mkdir(path);
  }

  // rmdir of an empty cgroup (no processes, no children; the interface files do not count).
  // Returns 0 or the errno.
  int remove_dir(const std::string& path) const noexcept {
    try {
      if (hooks_.before_rmdir) hooks_.before_rmdir(path);
    } catch (...) {
    }
    const int err = ::rmdir(path.c_str()) == 0 ? 0 : errno;
    narrate({.call = fmt::format("rmdir {}", path),
             .result = err == 0 ? "ok" : std::strerror(err),
             .shell = fmt::format("rmdir {}", path),
             .man = std::string(man_)});
    return err;
  }

  // mkdir -p, for a parent the user named. Not recorded: a parent outlives its containers.
  void make_dirs(const std::string& from, const std::string& relative) const {
    std::string dir = from;
    for (const auto& part : split(relative, '/')) {
      if (part.empty()) continue;
      dir += "/" + part;
      if (is_dir(dir)) continue;
      if (::access(dir.c_str(), F_OK) == 0) {
        throw UsageError(fmt::format(
            "cgroup parent '{}': '{}' is not a directory, so no cgroup can be made beneath it",
            relative, dir));
      }
      make_dir(dir);
    }
  }

 private:
  std::string_view man_;
  const CgroupFsHooks& hooks_;
};

// --- Names -----------------------------------------------------------------------------------

void check_name(const std::string& name) {
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos ||
      name == kRuntimeLeafCgroup || name.size() > 200) {
    throw UsageError(fmt::format(
        "invalid cgroup name '{}': use a single path component like 'mycontainer-42'", name));
  }
}

// "mycontainer", "/a/b/" -> "/mycontainer", "/a/b"; refuses "..".
std::string normalize_parent(const std::string& parent) {
  std::string out;
  for (const auto& part : split(parent, '/')) {
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      throw UsageError(
          fmt::format("invalid cgroup parent '{}': '..' is not allowed; give a path from the "
                      "top of the cgroup tree, like /mycontainer",
                      parent));
    }
    out += "/" + part;
  }
  return out;
}

// The cgroup that containers go beneath, in hierarchy h (before any controller setup).
std::string base_dir(const CgroupLayout& layout, const CgroupHierarchy& h,
                     const std::optional<std::string>& parent) {
  if (parent) return h.mount_point + normalize_parent(*parent);
  // A runtime that moved itself into its leaf (enable_v2_controllers) puts containers beside it,
  // beneath the cgroup it was started in.
  if (layout.version == CgroupVersion::kV2 && basename_of(h.own_dir) == kRuntimeLeafCgroup) {
    return dirname_of(h.own_dir);
  }
  return h.own_dir;
}

// Which controller each limit needs, and how the limit is called in messages.
std::map<std::string, std::string> required_controllers(const Limits& limits) {
  std::map<std::string, std::string> need;  // controller -> limit
  if (limits.memory_bytes) need["memory"] = "memory";
  if (limits.cpus) need["cpu"] = "cpus";
  if (limits.pids) need["pids"] = "pids";
  return need;
}

uint64_t cpu_quota_usec(double cpus) {
  return static_cast<uint64_t>(std::llround(cpus * static_cast<double>(kCpuPeriodUsec)));
}

// --- cgroup v2: controllers must be enabled on the way down ---------------------------------
//
// In v2 a cgroup's children can use a controller only when the cgroup lists it in its
// cgroup.subtree_control ("Enabling and Disabling" in cgroup-v2.rst), and it can list it only
// when its own parent does (its cgroup.controllers shows which). Two rules make it hard:
//  - "No Internal Process Constraint": a non-root cgroup that holds processes cannot enable
//    domain controllers (memory, io) for its children: the write fails with EBUSY.
//  - "Threads": cpu and pids are also threaded controllers, and enabling one of them in a
//    cgroup that holds processes *works*, but turns the cgroup into a "thread root"; from then
//    on memory cannot be enabled there (EOPNOTSUPP) and no process can join a domain child
//    (EOPNOTSUPP). So we never write subtree_control of a cgroup that holds processes.
//
// The runtime runs in its own cgroup, so that cgroup always holds at least one process: us.
// What we do, in order:
//  1. Controllers already in cgroup.subtree_control: nothing to do (a cgroup delegated to us
//     that we or an earlier run prepared).
//  2. The root cgroup is exempt from both rules: enable there directly.
//  3. A cgroup without processes: enable.
//  4. The only process in the cgroup is this one: move *ourselves* into a leaf child
//     "mycontainer-runtime", then enable. That is what systemd's delegation rules ask of a
//     delegated service that wants to hand controllers to children ("Control Group APIs and
//     Delegation", systemd.io/CGROUP_DELEGATION), and what crun and LXC do for their monitor
//     process. Containers then go beside the leaf, beneath our cgroup. We stay in the leaf;
//     the empty leaf is left behind when we exit, and the next run uses it.
//  5. Other processes too (the shell that started us...): we never move a process we did not
//     start. If a limit needs a controller, stop with a message that says how to give the
//     runtime a cgroup of its own, before any container starts. If no limit was asked, go on
//     without controllers: the containers' cgroups still count CPU time and can be killed.
void enable_v2_controllers(const CgroupFs& fs, const std::string& dir,
                           const std::map<std::string, std::string>& required, bool may_move_self) {
  const auto available = words(read_text(dir + "/cgroup.controllers").value_or(""));
  for (const auto& [controller, limit] : required) {
    if (available.count(controller) == 0) {
      throw UsageError(fmt::format(
          "the {} limit needs the {} controller, but cgroup '{}' does not offer it (its "
          "cgroup.controllers lists: '{}'): the cgroup above it must enable it in "
          "cgroup.subtree_control (cgroup-v2.rst \"Enabling and Disabling\"); under systemd, "
          "start the runtime with systemd-run --scope -p Delegate=yes",
          limit, controller, dir, fmt::join(available, " ")));
    }
  }
  const auto enabled = words(read_text(dir + "/cgroup.subtree_control").value_or(""));
  std::vector<std::string> missing;  // the ones we use, offered here, not yet enabled
  for (const std::string controller : {"memory", "cpu", "pids"}) {
    if (available.count(controller) != 0 && enabled.count(controller) == 0) {
      missing.push_back(controller);
    }
  }
  if (missing.empty()) return;

  // cgroup.type exists in every cgroup but the root (cgroup-v2.rst "Core Interface Files").
  const bool is_root = !exists(dir + "/cgroup.type");
  if (const auto procs = read_pids(dir + "/cgroup.procs"); !is_root && !procs.empty()) {
    if (may_move_self && procs == std::vector<pid_t>{::getpid()}) {
      const std::string leaf = fmt::format("{}/{}", dir, kRuntimeLeafCgroup);
      if (!is_dir(leaf)) fs.make_dir(leaf);
      fs.write(leaf + "/cgroup.procs", std::to_string(::getpid()));
    } else {
      std::vector<std::string> needed;
      for (const auto& c : missing) {
        if (required.count(c) != 0) needed.push_back(c);
      }
      if (needed.empty()) return;  // no limit needs them: do without
      throw UsageError(fmt::format(
          "cannot enable the {} controller for containers in cgroup '{}': it holds processes "
          "(pids {}), and cgroup v2 lets a cgroup hand controllers to its children only when "
          "it holds none itself (cgroup-v2.rst \"No Internal Process Constraint\"). Start the "
          "runtime in a cgroup of its own (systemd-run --scope -p Delegate=yes ...), or pass "
          "--cgroup-parent /mycontainer to make containers there",
          fmt::join(needed, ", "), dir, fmt::join(procs, " ")));
    }
  }
  for (const auto& controller : missing) {
    try {
      fs.write(dir + "/cgroup.subtree_control", "+" + controller);
    } catch (const SyscallError&) {
      // EBUSY: a process joined meanwhile; EINVAL for cpu: a realtime process outside the
      // root cgroup ("CPU" in cgroup-v2.rst). Fatal only when a limit needs the controller.
      if (required.count(controller) != 0) throw;
    }
  }
}

// The cgroup that containers go beneath, ready for them: controllers enabled on the way.
std::string prepare_v2_base(const CgroupFs& fs, const CgroupLayout& layout,
                            const CgroupHierarchy& h, const std::optional<std::string>& parent,
                            const std::map<std::string, std::string>& required) {
  if (parent) {
    // A parent path from the top: each level enables the controllers for the next.
    std::string dir = h.mount_point;
    for (const auto& part : split(normalize_parent(*parent), '/')) {
      if (part.empty()) continue;
      enable_v2_controllers(fs, dir, required, /*may_move_self=*/false);
      dir += "/" + part;
      if (!is_dir(dir)) fs.make_dir(dir);
    }
    enable_v2_controllers(fs, dir, required, /*may_move_self=*/false);
    return dir;
  }
  std::string base = base_dir(layout, h, parent);
  enable_v2_controllers(fs, base, required, /*may_move_self=*/base == h.own_dir);
  return base;
}

}  // namespace

// === Parsers ==================================================================================

uint64_t parse_size(std::string_view text, std::string_view what) {
  const auto bad = [&](std::string_view why) {
    return UsageError(
        fmt::format("invalid {} '{}': {}use a number with an optional k, m or g "
                    "suffix, like 64m",
                    what, text, why));
  };
  if (!text.empty() && text.front() == '-') throw bad("it cannot be negative; ");
  // The whole part, then an optional fraction: "1.5g". 128 bits leave room to detect overflow.
  size_t i = 0;
  unsigned __int128 whole = 0;
  for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
    whole = whole * 10 + static_cast<unsigned>(text[i] - '0');
    if (whole > std::numeric_limits<uint64_t>::max()) throw bad("too large; ");
  }
  if (i == 0) throw bad("");
  unsigned __int128 frac = 0, frac_scale = 1;
  if (i < text.size() && text[i] == '.') {
    const size_t frac_start = ++i;
    for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
      if (frac_scale < 1000000000000000000ULL) {  // 18 digits are plenty: round down the rest
        frac = frac * 10 + static_cast<unsigned>(text[i] - '0');
        frac_scale *= 10;
      }
    }
    if (i == frac_start) throw bad("");
  }
  // The unit: k, m, g or t (powers of 1024), then optionally "b" or "ib"; or just "b".
  std::string unit;
  for (; i < text.size(); ++i)
    unit += static_cast<char>(std::tolower(static_cast<unsigned char>(text[i])));
  std::string_view rest = unit;
  uint64_t multiplier = 1;
  if (const size_t p = std::string_view("kmgt").find(rest.substr(0, 1));
      !rest.empty() && p != std::string_view::npos) {
    multiplier = uint64_t{1} << (10 * (p + 1));
    rest.remove_prefix(1);
    if (rest == "ib") rest = "b";
  }
  if (!rest.empty() && rest != "b") throw bad("");
  const unsigned __int128 bytes = whole * multiplier + frac * multiplier / frac_scale;
  // v1 files hold a signed 64-bit number (memory.limit_in_bytes), so stay below INT64_MAX.
  if (bytes > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) throw bad("too large; ");
  return static_cast<uint64_t>(bytes);
}

std::string format_size(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  size_t unit = 0;
  while (value >= 1024 && unit + 1 < std::size(kUnits)) {
    value /= 1024;
    ++unit;
  }
  if (unit == 0 || value == static_cast<double>(static_cast<uint64_t>(value))) {
    return fmt::format("{} {}", static_cast<uint64_t>(value), kUnits[unit]);
  }
  return fmt::format("{:.1f} {}", value, kUnits[unit]);
}

uint64_t parse_memory_limit(std::string_view text) {
  const uint64_t bytes = parse_size(text, "memory size");
  if (bytes < kMinMemoryBytes) {
    throw UsageError(fmt::format(
        "memory limit '{}' is too small: give at least 6m, the least a container can start in "
        "(docker has the same minimum)",
        text));
  }
  return bytes;
}

double parse_cpus(std::string_view text) {
  const long online = ::sysconf(_SC_NPROCESSORS_ONLN);
  return parse_cpus(text, online > 0 ? static_cast<unsigned>(online) : 1);
}

double parse_cpus(std::string_view text, unsigned online_cpus) {
  const auto bad = [&] {
    return UsageError(fmt::format(
        "invalid cpus '{}': use a number of CPUs from 0.01 to {} (this machine has {} online), "
        "like 0.5",
        text, online_cpus, online_cpus));
  };
  // Only plain decimals: from_chars would also take "1e3", "inf" and "nan".
  bool seen_digit = false, seen_dot = false;
  for (const char c : text) {
    if (c >= '0' && c <= '9') {
      seen_digit = true;
    } else if (c == '.' && !seen_dot) {
      seen_dot = true;
    } else {
      throw bad();
    }
  }
  if (!seen_digit) throw bad();
  double cpus = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), cpus);
  if (ec != std::errc() || end != text.data() + text.size()) throw bad();
  // 0.01 CPU is a quota of 1000 us per 100000 us period, the least the kernel takes
  // (cpu.cfs_quota_us >= 1ms, sched/core.c: min_cfs_quota_period).
  if (cpus < 0.01 || cpus > static_cast<double>(online_cpus)) throw bad();
  return cpus;
}

uint64_t parse_pids_limit(std::string_view text) {
  uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < 1 || value > kMaxPidsLimit) {
    throw UsageError(fmt::format(
        "invalid pids limit '{}': use a whole number of processes from 1 to {}, like 100 "
        "(leave the option out for no limit)",
        text, kMaxPidsLimit));
  }
  return value;
}

// === Layout ===================================================================================

const CgroupHierarchy* CgroupLayout::find(std::string_view controller) const {
  for (const auto& h : hierarchies) {
    if (version == CgroupVersion::kV2 || h.controllers.count(std::string(controller)) != 0) {
      return &h;
    }
  }
  return nullptr;
}

CgroupLayout CgroupLayout::detect() {
  return detect(read_text("/proc/self/cgroup").value_or(""),
                read_text("/proc/self/mountinfo").value_or(""));
}

namespace {

// mountinfo escapes space, tab, newline and backslash as \040 style octal (proc(5)).
std::string unescape_octal(std::string_view s) {
  const auto octal = [](char c) { return c >= '0' && c <= '7'; };
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && octal(s[i + 1]) && octal(s[i + 2]) && octal(s[i + 3])) {
      out += static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

struct MountLine {
  std::string device;  // "0:29": the same for every mount of one tree
  std::string root;    // which directory of the tree is mounted ("/" for all of it)
  std::string mount_point;
  std::string fstype;
  std::string super_options;
};

// proc(5) /proc/[pid]/mountinfo: "36 35 98:0 /root /mnt opts [optional...] - type src super"
std::vector<MountLine> parse_mountinfo(const std::string& text) {
  std::vector<MountLine> mounts;
  for (const auto& line : split(text, '\n')) {
    const auto f = split(line, ' ');
    size_t sep = 6;  // the optional fields end at "-"
    while (sep < f.size() && f[sep] != "-") ++sep;
    if (sep + 3 >= f.size()) continue;  // not a complete line
    mounts.push_back({f[2], unescape_octal(f[3]), unescape_octal(f[4]), f[sep + 1], f[sep + 3]});
  }
  return mounts;
}

// Our cgroup inside a tree, as a directory: the mount shows the tree from `root` down, so a
// path "/a/b" in the tree is at mount_point + "/b" when root is "/a". Empty when the mount
// does not show our cgroup at all.
std::optional<std::string> own_dir_in(const MountLine& m, const std::string& own_path) {
  if (m.root == "/") return own_path == "/" ? m.mount_point : m.mount_point + own_path;
  if (own_path == m.root) return m.mount_point;
  if (own_path.compare(0, m.root.size() + 1, m.root + "/") == 0) {
    return m.mount_point + own_path.substr(m.root.size());
  }
  return std::nullopt;
}

}  // namespace

CgroupLayout CgroupLayout::detect(const std::string& proc_self_cgroup,
                                  const std::string& mountinfo) {
  // cgroups(7) /proc/[pid]/cgroup: "hierarchy-ID:controller-list:cgroup-path" per tree;
  // the v2 tree is the line "0::/path".
  std::map<std::string, std::string> v1_paths;  // controller -> our cgroup path
  std::optional<std::string> v2_path;
  for (const auto& line : split(proc_self_cgroup, '\n')) {
    const size_t a = line.find(':');
    const size_t b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    const std::string list = line.substr(a + 1, b - a - 1);
    const std::string path = line.substr(b + 1);
    if (line.compare(0, a, "0") == 0 && list.empty()) {
      v2_path = path;
    } else {
      for (const auto& c : split(list, ',')) v1_paths[c] = path;
    }
  }

  CgroupLayout v1{.version = CgroupVersion::kV1, .hierarchies = {}};
  CgroupLayout v2{.version = CgroupVersion::kV2, .hierarchies = {}};
  std::set<std::string> seen_devices;
  bool v1_has_limits = false;
  for (const auto& m : parse_mountinfo(mountinfo)) {
    if (m.fstype == "cgroup") {
      std::set<std::string> controllers;
      for (const auto& opt : split(m.super_options, ',')) {
        if (v1_controller_names().count(opt) != 0) controllers.insert(opt);
      }
      bool used = false;
      std::optional<std::string> path;
      for (const auto& c : controllers) {
        used = used || used_controllers().count(c) != 0;
        if (auto it = v1_paths.find(c); it != v1_paths.end()) path = it->second;
      }
      if (!used || !path || seen_devices.count(m.device) != 0) continue;
      const auto dir = own_dir_in(m, *path);
      if (!dir) continue;
      seen_devices.insert(m.device);
      v1_has_limits = v1_has_limits || controllers.count("memory") != 0 ||
                      controllers.count("cpu") != 0 || controllers.count("pids") != 0;
      v1.hierarchies.push_back({controllers, m.mount_point, *path, *dir});
    } else if (m.fstype == "cgroup2" && v2_path && v2.hierarchies.empty()) {
      if (const auto dir = own_dir_in(m, *v2_path)) {
        v2.hierarchies.push_back({{}, m.mount_point, *v2_path, *dir});
      }
    }
  }
  if (v1_has_limits) return v1;
  if (!v2.hierarchies.empty()) return v2;
  return {};
}

CgroupPlace CgroupPlace::here(std::optional<std::string> parent) {
  return {.layout = CgroupLayout::detect(), .parent = std::move(parent), .hooks = {}};
}

// === Cgroup ===================================================================================

Cgroup::Cgroup(CgroupVersion version, std::string name, CgroupFsHooks hooks)
    : version_(version), name_(std::move(name)), hooks_(std::move(hooks)) {}

Cgroup::Cgroup(Cgroup&& other) noexcept
    : version_(other.version_),
      name_(std::move(other.name_)),
      dirs_(std::exchange(other.dirs_, {})),
      hooks_(std::move(other.hooks_)) {}

Cgroup& Cgroup::operator=(Cgroup&& other) noexcept {
  if (this != &other) {
    destroy();
    version_ = other.version_;
    name_ = std::move(other.name_);
    dirs_ = std::exchange(other.dirs_, {});
    hooks_ = std::move(other.hooks_);
  }
  return *this;
}

Cgroup::~Cgroup() {
  destroy();
}

Cgroup Cgroup::create(std::string name, const Limits& limits, std::optional<std::string> parent) {
  return create_at(CgroupPlace::here(std::move(parent)), std::move(name), limits);
}

Cgroup Cgroup::create_at(const CgroupPlace& place, std::string name, const Limits& limits) {
  check_name(name);
  const CgroupLayout& layout = place.layout;
  const auto required = required_controllers(limits);
  const CgroupFs fs(layout.version, place.hooks);

  if (layout.version == CgroupVersion::kNone) {
    throw UsageError(
        "no cgroup filesystem is mounted (/proc/self/mountinfo shows neither cgroup2 nor a "
        "cgroup v1 tree): mount one, e.g. mount -t cgroup2 none /sys/fs/cgroup");
  }

  if (layout.version == CgroupVersion::kV2) {
    // --- v2: one directory; controllers enabled in the cgroup above it ---
    const CgroupHierarchy& h = layout.hierarchies.front();
    const std::string base = prepare_v2_base(fs, layout, h, place.parent, required);
    const std::string dir = base + "/" + name;
    Cgroup cg(CgroupVersion::kV2, std::move(name), place.hooks);
    fs.make_dir(dir);
    cg.dirs_.push_back({dir, {}});  // from here on, ~Cgroup removes it if a write throws
    // cgroup-v2.rst "Memory Interface Files": memory.max is the hard limit (the OOM killer
    // acts above it); memory.swap.max = 0 keeps the container from swapping instead, and
    // exists only where swap accounting is on.
    if (limits.memory_bytes) {
      fs.write(dir + "/memory.max", std::to_string(*limits.memory_bytes));
      if (exists(dir + "/memory.swap.max")) fs.write(dir + "/memory.swap.max", "0");
    }
    // "CPU Interface Files": cpu.max is "$MAX $PERIOD": at most MAX us of CPU time per PERIOD.
    if (limits.cpus) {
      fs.write(dir + "/cpu.max",
               fmt::format("{} {}", cpu_quota_usec(*limits.cpus), kCpuPeriodUsec));
    }
    // "PID Interface Files": fork() and clone() fail with EAGAIN once pids.max are inside.
    if (limits.pids) fs.write(dir + "/pids.max", std::to_string(*limits.pids));
    return cg;
  }

  // --- v1: one directory in every tree, each tree with its own controllers ---
  for (const auto& [controller, limit] : required) {
    if (layout.find(controller) == nullptr) {
      throw UsageError(fmt::format(
          "the {} limit needs the {} controller, but no cgroup v1 tree with it is mounted "
          "(see /proc/self/mountinfo): mount one, e.g. mkdir -p /sys/fs/cgroup/{} && mount -t "
          "cgroup -o {} cgroup /sys/fs/cgroup/{}",
          limit, controller, controller, controller, controller));
    }
  }
  Cgroup cg(CgroupVersion::kV1, std::move(name), place.hooks);
  for (const auto& h : layout.hierarchies) {
    const std::string base = base_dir(layout, h, place.parent);
    if (place.parent) fs.make_dirs(h.mount_point, normalize_parent(*place.parent));
    const std::string dir = base + "/" + cg.name_;
    fs.make_dir(dir);
    cg.dirs_.push_back({dir, h.controllers});
    // A new cpuset cgroup starts with no CPUs and no memory nodes, and no task can join it
    // until both are set (cgroup-v1/cpusets.rst): copy them from the cgroup above.
    if (h.controllers.count("cpuset") != 0) {
      for (const char* file : {"cpuset.cpus", "cpuset.mems"}) {
        const auto value = read_text(base + "/" + file);
        if (value) fs.write(dir + "/" + file, *value);
      }
    }
  }
  // cgroup-v1/memory.rst: memory.limit_in_bytes limits RAM; memory.memsw.limit_in_bytes limits
  // RAM + swap, so the same number there means no swap. memsw must never be below the RAM
  // limit, so RAM first. memsw exists only with swap accounting (swapaccount=1).
  if (limits.memory_bytes) {
    const std::string dir = cg.dir_for("memory");
    const std::string bytes = std::to_string(*limits.memory_bytes);
    fs.write(dir + "/memory.limit_in_bytes", bytes);
    if (exists(dir + "/memory.memsw.limit_in_bytes")) {
      fs.write(dir + "/memory.memsw.limit_in_bytes", bytes);
    }
  }
  // scheduler/sched-bwc.rst (CFS bandwidth control): cfs_quota_us of CPU time per
  // cfs_period_us; the same idea as v2's cpu.max in two files.
  if (limits.cpus) {
    const std::string dir = cg.dir_for("cpu");
    fs.write(dir + "/cpu.cfs_period_us", std::to_string(kCpuPeriodUsec));
    fs.write(dir + "/cpu.cfs_quota_us", std::to_string(cpu_quota_usec(*limits.cpus)));
  }
  // cgroup-v1/pids.rst: the same pids.max file as v2.
  if (limits.pids) fs.write(cg.dir_for("pids") + "/pids.max", std::to_string(*limits.pids));
  return cg;
}

Cgroup Cgroup::adopt(const CgroupPlace& place, std::string name) {
  check_name(name);
  Cgroup cg(place.layout.version, name, place.hooks);
  for (const auto& h : place.layout.hierarchies) {
    const std::string dir = base_dir(place.layout, h, place.parent) + "/" + name;
    if (is_dir(dir)) cg.dirs_.push_back({dir, h.controllers});
  }
  if (cg.dirs_.empty()) {
    throw UsageError(fmt::format("no cgroup named '{}' beneath our cgroup{}", name,
                                 place.parent ? " parent '" + *place.parent + "'" : ""));
  }
  return cg;
}

Cgroup Cgroup::adopt_dirs(const std::vector<std::string>& dirs) {
  const CgroupLayout layout = CgroupLayout::detect();
  Cgroup cg(layout.version, dirs.empty() ? std::string() : dirs.front(), CgroupFsHooks{});
  for (const auto& dir : dirs) {
    if (!is_dir(dir)) continue;
    std::set<std::string> controllers;
    for (const auto& h : layout.hierarchies) {
      if (dir.rfind(h.mount_point + "/", 0) == 0) controllers = h.controllers;
    }
    cg.dirs_.push_back({dir, controllers});
  }
  return cg;
}

std::vector<std::string> Cgroup::list_children(const CgroupPlace& place, std::string_view prefix) {
  std::vector<std::string> names;
  for (const auto& h : place.layout.hierarchies) {
    for (const auto& sub : subdirs(base_dir(place.layout, h, place.parent))) {
      if (starts_with(sub, prefix) && sub != kRuntimeLeafCgroup) names.push_back(sub);
    }
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

std::vector<std::string> Cgroup::dirs() const {
  std::vector<std::string> out;
  for (const auto& d : dirs_) out.push_back(d.path);
  return out;
}

std::string Cgroup::dir_for(std::string_view controller) const {
  for (const auto& d : dirs_) {
    if (version_ == CgroupVersion::kV2 || d.controllers.count(std::string(controller)) != 0) {
      return d.path;
    }
  }
  return {};
}

void Cgroup::add(pid_t pid) const {
  // cgroups(7) "Creating cgroups and moving processes": writing a PID to cgroup.procs moves
  // the whole process (all its threads). On v1, once per tree.
  const CgroupFs fs(version_, hooks_);
  for (const auto& d : dirs_) fs.write(d.path + "/cgroup.procs", std::to_string(pid));
}

UniqueFd Cgroup::open_v2_dir() const {
  if (version_ != CgroupVersion::kV2 || dirs_.empty()) return {};
  const std::string& dir = dirs_.front().path;
  UniqueFd fd(check(::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC), "open", dir));
  narrate({.call = fmt::format("open({}, O_PATH|O_DIRECTORY)", dir),
           .result = fmt::format("fd {}", fd.get()),
           .shell = "",
           .man = "clone(2) CLONE_INTO_CGROUP"});
  return fd;
}

std::vector<pid_t> Cgroup::procs() const {
  std::vector<pid_t> pids;
  for (const auto& d : dirs_) collect_pids(d.path, pids);
  std::sort(pids.begin(), pids.end());
  pids.erase(std::unique(pids.begin(), pids.end()), pids.end());
  return pids;
}

std::optional<uint64_t> Cgroup::cpu_usage_usec() const {
  if (version_ == CgroupVersion::kV2) {
    // cpu.stat exists with or without the cpu controller (cgroup-v2.rst "CPU Interface Files").
    return dirs_.empty() ? std::nullopt : read_key(dirs_.front().path + "/cpu.stat", "usage_usec");
  }
  const std::string dir = dir_for("cpuacct");  // cgroup-v1/cpuacct.rst: nanoseconds
  if (dir.empty()) return std::nullopt;
  const auto ns = read_u64(dir + "/cpuacct.usage");
  return ns ? std::optional<uint64_t>(*ns / 1000) : std::nullopt;
}

std::optional<uint64_t> Cgroup::oom_kill_count() const {
  const std::string dir = dir_for("memory");
  if (dir.empty()) return std::nullopt;
  if (version_ == CgroupVersion::kV2) return read_key(dir + "/memory.events", "oom_kill");
  if (const auto n = read_key(dir + "/memory.oom_control", "oom_kill")) return n;
  // Before Linux 4.13 memory.oom_control has no oom_kill count. memory.failcnt counts how
  // often usage hit the limit; reclaim may have saved the day, so this can say "killed" when
  // nothing was. It is the closest an old kernel tells.
  const auto failcnt = read_u64(dir + "/memory.failcnt");
  if (!failcnt) return std::nullopt;
  return *failcnt > 0 ? 1 : 0;
}

std::optional<uint64_t> Cgroup::pids_current() const {
  const std::string dir = dir_for("pids");
  if (dir.empty()) return std::nullopt;
  return read_u64(dir + "/pids.current");
}

void Cgroup::kill_all() const {
  if (dirs_.empty()) return;
  const CgroupFs fs(version_, hooks_);
  const auto deadline = std::chrono::steady_clock::now() + 2s;
  const auto wait_empty = [&](std::chrono::steady_clock::time_point until) {
    while (!procs().empty() && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(5ms);
    }
    return procs().empty();
  };
  // Usually nothing is left: the container's PID namespace died with its first process,
  // taking every other process with it (pid_namespaces(7)). One read says so, for the whole
  // tree beneath: v2's "populated" (cgroup.events), or v1's pids.current, which counts the
  // processes of every cgroup below too (cgroup-v1/pids.rst).
  const std::string first_dir = dirs_.front().path;
  if (version_ == CgroupVersion::kV2) {
    if (read_key(first_dir + "/cgroup.events", "populated") == 0) return;
  } else if (pids_current() == 0) {
    return;
  }
  if (procs().empty()) return;

  // v2, Linux >= 5.14: cgroup.kill SIGKILLs everything inside and beneath, in one write, with
  // no race against fork (cgroup-v2.rst "Core Interface Files").
  const std::string& first = first_dir;
  if (version_ == CgroupVersion::kV2 && exists(first + "/cgroup.kill")) {
    fs.write(first + "/cgroup.kill", "1");
    if (wait_empty(deadline)) return;
  }

  // Otherwise: freeze, so nothing inside can fork while we read the list and kill it
  // (a fork bomb would outrun a plain loop), SIGKILL each, thaw so the kills take effect (v1
  // frozen tasks cannot act on a signal: cgroup-v1/freezer-subsystem.rst), repeat.
  std::string freeze_file, frozen, thawed;
  if (version_ == CgroupVersion::kV2 && exists(first + "/cgroup.freeze")) {
    freeze_file = first + "/cgroup.freeze", frozen = "1", thawed = "0";  // Linux >= 5.2
  } else if (const std::string dir = dir_for("freezer"); !dir.empty()) {
    freeze_file = dir + "/freezer.state", frozen = "FROZEN", thawed = "THAWED";
  }
  const pid_t self = ::getpid();
  while (true) {
    if (!freeze_file.empty()) {
      fs.write(freeze_file, frozen);
      // v1 reports FREEZING until every task has stopped; wait for it, briefly.
      for (int i = 0; i < 100 && version_ == CgroupVersion::kV1; ++i) {
        if (read_text(freeze_file).value_or("").rfind("FROZEN", 0) == 0) break;
        std::this_thread::sleep_for(1ms);
      }
    }
    const auto pids = procs();
    for (const pid_t pid : pids) {
      if (pid > 1 && pid != self) ::kill(pid, SIGKILL);
    }
    narrate({.call = fmt::format("kill(pid, SIGKILL) for each pid in cgroup.procs ({})",
                                 fmt::join(pids, " ")),
             .result = fmt::format("{} killed", pids.size()),
             .shell = fmt::format("kill -KILL $(cat {}/cgroup.procs)", first),
             .man = "kill(2)"});
    if (!freeze_file.empty()) fs.write(freeze_file, thawed);
    if (wait_empty(std::min(deadline, std::chrono::steady_clock::now() + 50ms))) return;
    if (std::chrono::steady_clock::now() >= deadline) return;
  }
}

void Cgroup::release() noexcept {
  dirs_.clear();
}

namespace {
// rmdir dir, and before it every cgroup the container made beneath it, deepest first.
// Killed processes leave their cgroup a moment after the signal; EBUSY until then.
// rmdir(2) of a cgroup fails with EBUSY while it has either: so try it first, and look for
// cgroups beneath only when it is refused (the usual container made none).
void remove_tree(const CgroupFs& fs, const std::string& dir) noexcept {
  for (int attempt = 0; attempt < 100; ++attempt) {  // ~1 s at most
    if (fs.remove_dir(dir) != EBUSY) return;         // removed, already gone, or not ours to retry
    try {
      for (const auto& sub : subdirs(dir)) remove_tree(fs, fmt::format("{}/{}", dir, sub));
    } catch (...) {
    }
    if (fs.remove_dir(dir) != EBUSY) return;
    std::this_thread::sleep_for(10ms);
  }
}
}  // namespace

void Cgroup::destroy() noexcept {
  if (dirs_.empty()) return;
  try {
    kill_all();
  } catch (...) {
    // Removal below fails with EBUSY for a cgroup that still holds processes; nothing else
    // can be done in a destructor.
  }
  const CgroupFs fs(version_, hooks_);
  for (auto it = dirs_.rbegin(); it != dirs_.rend(); ++it) remove_tree(fs, it->path);
  dirs_.clear();
}

}  // namespace ctr
