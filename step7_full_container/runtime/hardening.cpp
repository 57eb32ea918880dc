#include "runtime/hardening.hpp"

#include <dirent.h>             // opendir(3): the /proc/self/fd fallback
#include <fcntl.h>              // fcntl(2), FD_CLOEXEC
#include <linux/close_range.h>  // CLOSE_RANGE_CLOEXEC
#include <sys/mount.h>          // MS_* flags
#include <sys/prctl.h>          // prctl(2)
#include <sys/resource.h>       // setrlimit(2), getrlimit(2)
#include <sys/stat.h>           // fstat(2)
#include <sys/syscall.h>        // SYS_close_range
#include <unistd.h>             // setsid(2), close(2), syscall(2)

#include <algorithm>
#include <cstdio>  // fopen(3): gid_map
#include <array>
#include <cerrno>
#include <cctype>    // std::toupper
#include <charconv>  // std::from_chars
#include <optional>
#include <utility>

#include <fmt/format.h>

#include "ctr/error.hpp"
#include "ctr/fd.hpp"
#include "ctr/narrate.hpp"
#include "runtime/path.hpp"

namespace ctr {

namespace {

std::string shown(const std::string& root, const std::string& path) {
  if (root.empty() || root == "/") return path;
  return root + (path.empty() || path[0] != '/' ? "/" : "") + path;
}

}  // namespace

// --- Masked and read-only paths ------------------------------------------------------------

const std::vector<std::string>& default_masked_paths() {
  static const std::vector<std::string> kPaths = {
      "/proc/asound",
      "/proc/acpi",
      "/proc/kcore",
      "/proc/keys",
      "/proc/latency_stats",
      "/proc/timer_list",
      "/proc/timer_stats",
      "/proc/sched_debug",
      "/proc/scsi",
      "/sys/firmware",
      "/sys/devices/virtual/powercap",
  };
  return kPaths;
}

const std::vector<std::string>& default_read_only_paths() {
  static const std::vector<std::string> kPaths = {
      "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
  };
  return kPaths;
}

void mask_paths(const std::vector<std::string>& paths, const std::string& root) {
  const UniqueFd root_fd = open_root_dir(root);  // once for the whole list (path.hpp)
  for (const auto& path : paths) {
    std::optional<UniqueFd> target = open_in_root_if_present(root_fd, root, path);
    if (!target) continue;
    struct stat st {};
    check(::fstat(target->get(), &st), "fstat", shown(root, path));
    if (S_ISDIR(st.st_mode)) {
      // An empty tmpfs that nobody can write to: the directory looks empty.
      mount_on_fd("tmpfs", *target, shown(root, path), "tmpfs",
                  MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC);
    } else {
      // /dev/null on top: the file reads as empty, writes vanish.
      mount_on_fd("/dev/null", *target, shown(root, path), "", MS_BIND);
    }
  }
}

void make_paths_read_only(const std::vector<std::string>& paths, const std::string& root) {
  const UniqueFd root_fd = open_root_dir(root);
  for (const auto& path : paths) {
    std::optional<UniqueFd> target = open_in_root_if_present(root_fd, root, path);
    if (!target) continue;
    // A bind mount of the path onto itself makes it a mount of its own, whose flags we can
    // change without touching the rest of /proc (MS_RDONLY is ignored on this first call).
    mount_on_fd(fd_path(target->get()), *target, shown(root, path), "", MS_BIND | MS_REC);
    // Our descriptor still names the object *under* the new mount: remounting through it
    // would make the whole of /proc read-only. Resolve the path again to reach the new mount.
    UniqueFd top = open_in_root(root_fd, root, path, O_PATH);
    remount_bind_read_only(top, shown(root, path), MS_NOSUID | MS_NODEV | MS_NOEXEC);
  }
}

// --- Privileges ----------------------------------------------------------------------------

void set_no_new_privs() {
  check(::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl", "PR_SET_NO_NEW_PRIVS");
  narrate({.call = "prctl(PR_SET_NO_NEW_PRIVS, 1)",
           .result = "ok",
           .shell = "setpriv --no-new-privs",
           .man = "prctl(2)"});
}

bool no_new_privs() {
  return check(::prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0), "prctl", "PR_GET_NO_NEW_PRIVS") == 1;
}

void set_dumpable(bool dumpable) {
  check(::prctl(PR_SET_DUMPABLE, dumpable ? 1 : 0, 0, 0, 0), "prctl", "PR_SET_DUMPABLE");
  narrate({.call = fmt::format("prctl(PR_SET_DUMPABLE, {})", dumpable ? 1 : 0),
           .result = "ok",
           .shell = "",
           .man = "prctl(2)"});
}

bool dumpable() {
  return check(::prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), "prctl", "PR_GET_DUMPABLE") == 1;
}

pid_t setsid() {
  const pid_t sid = check(::setsid(), "setsid");
  narrate({.call = "setsid()",
           .result = fmt::format("session {}", sid),
           .shell = "setsid COMMAND",
           .man = "setsid(2)"});
  return sid;
}

// --- Resource limits -----------------------------------------------------------------------

namespace {

struct LimitName {
  const char* name;
  int resource;
};
constexpr std::array<LimitName, 15> kLimitNames{{
    {"core", RLIMIT_CORE},
    {"cpu", RLIMIT_CPU},
    {"data", RLIMIT_DATA},
    {"fsize", RLIMIT_FSIZE},
    {"locks", RLIMIT_LOCKS},
    {"memlock", RLIMIT_MEMLOCK},
    {"msgqueue", RLIMIT_MSGQUEUE},
    {"nice", RLIMIT_NICE},
    {"nofile", RLIMIT_NOFILE},
    {"nproc", RLIMIT_NPROC},
    {"rss", RLIMIT_RSS},
    {"rtprio", RLIMIT_RTPRIO},
    {"rttime", RLIMIT_RTTIME},
    {"sigpending", RLIMIT_SIGPENDING},
    {"stack", RLIMIT_STACK},
}};

std::string limit_value(rlim_t v) {
  return v == RLIM_INFINITY ? "unlimited" : fmt::format("{}", v);
}

constexpr const char* kUlimitSyntax = "expected NAME=SOFT[:HARD], e.g. nofile=1024:4096";

rlim_t parse_limit_value(std::string_view spec, std::string_view value, const char* which) {
  if (value == "unlimited" || value == "-1") return RLIM_INFINITY;
  uint64_t v = 0;
  const auto* end = value.data() + value.size();
  const auto [ptr, ec] = std::from_chars(value.data(), end, v);
  if (value.empty() || ec != std::errc() || ptr != end || v >= RLIM_INFINITY) {
    throw UsageError(fmt::format(
        "invalid ulimit '{}': the {} limit '{}' is not a number (or -1 / unlimited); {}", spec,
        which, value, kUlimitSyntax));
  }
  return static_cast<rlim_t>(v);
}

}  // namespace

int rlimit_from_name(std::string_view name) {
  for (const auto& l : kLimitNames) {
    if (name == l.name) return l.resource;
  }
  std::string known;
  for (const auto& l : kLimitNames) known += (known.empty() ? "" : ", ") + std::string(l.name);
  throw UsageError(fmt::format("unknown ulimit '{}': use one of {}", name, known));
}

std::string rlimit_name(int resource) {
  for (const auto& l : kLimitNames) {
    if (l.resource == resource) return l.name;
  }
  return fmt::format("resource {}", resource);
}

Ulimit parse_ulimit(std::string_view spec) {
  const auto eq = spec.find('=');
  if (eq == std::string_view::npos || eq == 0) {
    throw UsageError(fmt::format("invalid ulimit '{}': {}", spec, kUlimitSyntax));
  }
  const std::string_view name = spec.substr(0, eq);
  const std::string_view values = spec.substr(eq + 1);
  Ulimit u;
  try {
    u.resource = rlimit_from_name(name);
  } catch (const UsageError& e) {
    throw UsageError(fmt::format("invalid ulimit '{}': {}", spec, e.what()));
  }
  const auto colon = values.find(':');
  if (colon != std::string_view::npos && values.find(':', colon + 1) != std::string_view::npos) {
    throw UsageError(fmt::format("invalid ulimit '{}': {}", spec, kUlimitSyntax));
  }
  u.soft = parse_limit_value(spec, values.substr(0, colon), "soft");
  u.hard = colon == std::string_view::npos
               ? u.soft
               : parse_limit_value(spec, values.substr(colon + 1), "hard");
  // RLIM_INFINITY is the largest rlim_t, so "unlimited" compares as it should.
  if (u.soft > u.hard) {
    throw UsageError(fmt::format(
        "invalid ulimit '{}': the soft limit {} is above the hard limit {} (the soft limit "
        "must be at most the hard one)",
        spec, limit_value(u.soft), limit_value(u.hard)));
  }
  return u;
}

void set_rlimit(int resource, rlim_t soft, rlim_t hard) {
  const rlimit limit{soft, hard};
  const std::string name = rlimit_name(resource);
  check(::setrlimit(static_cast<__rlimit_resource_t>(resource), &limit), "setrlimit", name);
  if (narrating()) {
    std::string upper = name;
    for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    narrate({.call = fmt::format("setrlimit(RLIMIT_{}, {{soft {}, hard {}}})", upper,
                                 limit_value(soft), limit_value(hard)),
             .result = "ok",
             .shell = fmt::format("prlimit --{}={}:{} COMMAND", name, limit_value(soft),
                                  limit_value(hard)),
             .man = "setrlimit(2)"});
  }
}

void apply_ulimits(const std::vector<Ulimit>& limits) {
  for (const auto& u : limits) set_rlimit(u.resource, u.soft, u.hard);
}

void set_default_nofile() {
  rlimit current{};
  check(::getrlimit(RLIMIT_NOFILE, &current), "getrlimit", "nofile");
  set_rlimit(RLIMIT_NOFILE, std::min(kDefaultNofileSoft, current.rlim_max), current.rlim_max);
}

// --- Descriptors ---------------------------------------------------------------------------

namespace {

// Calls fn(lo, hi) for each range of descriptors >= first that holds none of keep.
template <typename Fn>
void for_each_range(int first, const std::vector<int>& keep, Fn&& fn) {
  std::vector<int> sorted;
  for (int fd : keep) {
    if (fd >= first) sorted.push_back(fd);
  }
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  auto lo = static_cast<unsigned>(std::max(first, 0));
  for (int fd : sorted) {
    if (static_cast<unsigned>(fd) > lo) fn(lo, static_cast<unsigned>(fd) - 1);
    lo = static_cast<unsigned>(fd) + 1;
  }
  fn(lo, ~0U);
}

// The open descriptors, from /proc/self/fd; or, without /proc, every number up to the
// RLIMIT_NOFILE soft limit.
std::vector<int> open_fds() {
  std::vector<int> out;
  if (DIR* dir = ::opendir("/proc/self/fd")) {
    const int own = ::dirfd(dir);
    while (const dirent* e = ::readdir(dir)) {
      int fd = -1;
      const std::string_view name = e->d_name;
      if (std::from_chars(name.data(), name.data() + name.size(), fd).ec == std::errc() &&
          fd != own) {
        out.push_back(fd);
      }
    }
    ::closedir(dir);
    return out;
  }
  rlimit limit{};
  rlim_t max = 65536;
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < max) max = limit.rlim_cur;
  for (rlim_t fd = 0; fd < max; ++fd) out.push_back(static_cast<int>(fd));
  return out;
}

void fds_from(int first, const std::vector<int>& keep, bool cloexec) {
  const unsigned flags = cloexec ? CLOSE_RANGE_CLOEXEC : 0;
  bool fallback = false;
  for_each_range(first, keep, [&](unsigned lo, unsigned hi) {
    if (fallback) return;
    if (::syscall(SYS_close_range, lo, hi, flags) == 0) {
      narrate({.call = fmt::format("close_range({}, {}, {})", lo,
                                   hi == ~0U ? "~0U" : fmt::format("{}", hi),
                                   cloexec ? "CLOSE_RANGE_CLOEXEC" : "0"),
               .result = "ok",
               .shell = "",
               .man = "close_range(2)"});
      return;
    }
    // ENOSYS: before Linux 5.9; EINVAL: CLOSE_RANGE_CLOEXEC before 5.11.
    if (errno != ENOSYS && errno != EINVAL) throw SyscallError(errno, "close_range");
    fallback = true;
  });
  if (!fallback) return;
  std::vector<int> kept(keep.begin(), keep.end());
  for (int fd : open_fds()) {
    if (fd < first || std::find(kept.begin(), kept.end(), fd) != kept.end()) continue;
    if (cloexec) {
      const int fl = ::fcntl(fd, F_GETFD);
      if (fl >= 0) ::fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
    } else {
      ::close(fd);
    }
  }
  narrate({.call = fmt::format("{} every descriptor >= {} listed in /proc/self/fd",
                               cloexec ? "fcntl(F_SETFD, FD_CLOEXEC) on" : "close(2)", first),
           .result = "ok",
           .shell = "",
           .man = cloexec ? "fcntl(2)" : "close(2)"});
}

}  // namespace

void close_fds_from(int first, const std::vector<int>& keep) {
  fds_from(first, keep, false);
}

void set_cloexec_from(int first, const std::vector<int>& keep) {
  fds_from(first, keep, true);
}

void enter_workdir(const std::string& workdir) {
  const UniqueFd dir = open_in_root("/", workdir, O_PATH | O_DIRECTORY);
  check(::fchdir(dir.get()), "fchdir", workdir);
  char cwd[4096];
  if (::getcwd(cwd, sizeof cwd) == nullptr) throw SyscallError(errno, "getcwd", workdir);
  // getcwd(2): "(unreachable)" prefixes a directory that is not below the process's root.
  if (cwd[0] != '/') {
    throw SyscallError(EACCES, "workdir", fmt::format("{} is outside the container", workdir));
  }
  narrate({.call = fmt::format("openat2(\"/\", \"{}\", RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS), "
                               "fchdir",
                               workdir),
           .result = fmt::format("cwd {}", cwd),
           .shell = fmt::format("cd {}", workdir),
           .man = "openat2(2), getcwd(2)"});
}

void set_oom_score_adj(int score) {
  const std::string value = std::to_string(score);
  const UniqueFd fd(check(::open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC), "open",
                          "/proc/self/oom_score_adj"));
  check(static_cast<int>(::write(fd.get(), value.data(), value.size())), "write",
        "/proc/self/oom_score_adj");
  narrate({.call = fmt::format("write(\"/proc/self/oom_score_adj\", \"{}\")", value),
           .result = "ok",
           .shell = fmt::format("choom -n {} -p $$", score),
           .man = "proc(5)"});
}

}  // namespace ctr
