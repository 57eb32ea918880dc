// The cgroup filesystem, the plain way: small helpers that read its files, and CgroupFs,
// through which every change is made and narrated. See cgroup_internal.hpp.
//
// Sources: cgroups(7); Documentation/admin-guide/cgroup-v2.rst (cited as cgroup-v2.rst).
#include <dirent.h>    // opendir(3), readdir(3)
#include <fcntl.h>     // open(2)
#include <sys/stat.h>  // mkdir(2), stat(2)
#include <unistd.h>    // write(2), rmdir(2), access(2)

#include <algorithm>  // std::sort, std::min
#include <cerrno>     // errno, EEXIST
#include <charconv>   // std::from_chars
#include <cstring>    // strerror
#include <sstream>    // std::istringstream

#include <fmt/format.h>  // fmt::format

#include "cgroup_internal.hpp"
#include "ctr/error.hpp"    // SyscallError, UsageError
#include "ctr/fd.hpp"       // UniqueFd, read_file
#include "ctr/narrate.hpp"  // narrate

namespace ctr::detail {

namespace {

constexpr std::string_view kManV1 = "cgroups(7)";
constexpr std::string_view kManV2 = "Documentation/admin-guide/cgroup-v2.rst";

std::optional<uint64_t> to_u64(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

}  // namespace

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

std::optional<uint64_t> read_u64(const std::string& path) {
  const auto text = read_file(path);
  return text ? to_u64(*text) : std::nullopt;
}

// A "flat keyed" file (cgroup-v2.rst "Interface Files"): "key value" per line.
std::optional<uint64_t> read_key(const std::string& path, std::string_view key) {
  const auto text = read_file(path);
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
  if (const auto text = read_file(procs_file)) {
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

CgroupFs::CgroupFs(CgroupVersion version, const CgroupFsHooks& hooks)
    : man_(version == CgroupVersion::kV1 ? kManV1 : kManV2), hooks_(hooks) {}

void CgroupFs::write(const std::string& path, const std::string& value) const {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC));  // as echo > does
  const bool ok = fd && ::write(fd.get(), value.data(), value.size()) >= 0;
  const int err = ok ? 0 : errno;
  narrate({.call = fmt::format("write {} = {}", path, value),
           .result = err == 0 ? "ok" : std::strerror(err),
           .shell = fmt::format("echo {} > {}", value, path),
           .man = std::string(man_)});
  if (err != 0) throw SyscallError(err, "write", path);
}

void CgroupFs::make_dir(const std::string& path) const {
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

int CgroupFs::remove_dir(const std::string& path) const noexcept {
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

void CgroupFs::make_dirs(const std::string& from, const std::string& relative) const {
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

}  // namespace ctr::detail
