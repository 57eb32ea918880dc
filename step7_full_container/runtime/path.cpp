#include "runtime/path.hpp"

#include <linux/mount.h>  // struct mount_attr, MOUNT_ATTR_*
#include <sys/syscall.h>  // SYS_mount_setattr: no glibc wrapper

#include <fcntl.h>          // openat(2), O_* flags
#include <linux/openat2.h>  // struct open_how, RESOLVE_* (openat2(2))
#include <sys/mount.h>      // MS_* flags
#include <sys/stat.h>       // fstat(2)
#include <sys/statvfs.h>    // fstatvfs(3), ST_* flags
#include <sys/syscall.h>    // SYS_openat2: glibc 2.36 has no wrapper
#include <unistd.h>         // syscall(2)

#include <cerrno>
#include <vector>

#include <fmt/format.h>

#include "ctr/error.hpp"
#include "ctr/mount.hpp"
#include "ctr/narrate.hpp"

namespace ctr {

namespace {

// "/rootfs" + "dev" -> "/rootfs/dev", for messages only.
std::string shown(const std::string& root, const std::string& path) {
  if (root.empty() || root == "/") return path.empty() || path[0] != '/' ? "/" + path : path;
  std::string out = root;
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  if (path.empty() || path == ".") return out;
  return path[0] == '/' ? out + path : out + "/" + path;
}

// The components of path, with "." dropped and ".." applied by name, clamped at the root:
// exactly what the kernel does under RESOLVE_IN_ROOT when no symlink is involved.
std::vector<std::string> lexical_components(const std::string& path) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t end = path.find('/', pos);
    if (end == std::string::npos) end = path.size();
    std::string part = path.substr(pos, end - pos);
    if (part == "..") {
      if (!out.empty()) out.pop_back();
    } else if (!part.empty() && part != ".") {
      out.push_back(std::move(part));
    }
    pos = end + 1;
  }
  return out;
}

[[noreturn]] void throw_errno(int err, const char* call, const std::string& arg) {
  throw SyscallError(err, call, arg);
}

}  // namespace

namespace {

// open_in_root without the exception: the descriptor, or -errno. ENOENT is an everyday
// answer for some callers (docker's masked paths name files only some machines have), and a
// C++ exception costs tens of microseconds on a container's start path.
long openat2_in_root(int root_fd, const std::string& root, const std::string& path, int flags) {
  open_how how{};
  how.flags = static_cast<unsigned long long>(flags | O_CLOEXEC);
  // RESOLVE_IN_ROOT: "/" and ".." stop at root_fd, as if we had chroot'ed there.
  // RESOLVE_NO_MAGICLINKS: no /proc/<pid>/fd/N or /proc/<pid>/root jumps, which ignore roots.
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  const std::string rel = path.empty() ? "." : path;
  long fd = -1;
  for (int attempt = 0; attempt < 8; ++attempt) {
    fd = ::syscall(SYS_openat2, root_fd, rel.c_str(), &how, sizeof how);
    // EAGAIN: a concurrent rename made ".." resolution ambiguous; openat2(2) says retry.
    if (fd >= 0 || errno != EAGAIN) break;
  }
  if (fd < 0) return -errno;
  if (narrating()) {
    narrate({.call = fmt::format("openat2(\"{}\", \"{}\", RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS)",
                                 root, rel),
             .result = fmt::format("fd {}", fd),
             .shell = "",
             .man = "openat2(2)"});
  }
  return fd;
}

// ENOSYS: a kernel before 5.6. EPERM: a seccomp profile that predates openat2 (docker's
// before 20.10 answered EPERM to calls it did not know) when we run inside a container.
bool openat2_missing(long rc) {
  return rc == -ENOSYS || rc == -EPERM;
}

}  // namespace

UniqueFd open_root_dir(const std::string& root) {
  const std::string r = root.empty() ? "/" : root;
  return UniqueFd(check(::open(r.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC), "open", r));
}

UniqueFd open_in_root(const std::string& root, const std::string& path, int flags) {
  return open_in_root(open_root_dir(root), root, path, flags);
}

UniqueFd open_in_root(const UniqueFd& root_fd, const std::string& root, const std::string& path,
                      int flags) {
  const long fd = openat2_in_root(root_fd.get(), root, path, flags);
  if (openat2_missing(fd)) return open_in_root_no_symlinks(root, path, flags);
  if (fd < 0) throw_errno(static_cast<int>(-fd), "openat2", shown(root, path));
  return UniqueFd(static_cast<int>(fd));
}

std::optional<UniqueFd> open_in_root_if_present(const std::string& root, const std::string& path,
                                                int flags) {
  return open_in_root_if_present(open_root_dir(root), root, path, flags);
}

std::optional<UniqueFd> open_in_root_if_present(const UniqueFd& root_fd, const std::string& root,
                                                const std::string& path, int flags) {
  const long fd = openat2_in_root(root_fd.get(), root, path, flags);
  if (fd == -ENOENT) {
    narrate({.call = fmt::format("openat2(\"{}\", \"{}\")", root, path),
             .result = "not present",
             .shell = "",
             .man = "openat2(2)"});
    return std::nullopt;
  }
  if (openat2_missing(fd)) {
    try {
      return open_in_root_no_symlinks(root, path, flags);
    } catch (const SyscallError& e) {
      if (e.err() == ENOENT) return std::nullopt;
      throw;
    }
  }
  if (fd < 0) throw_errno(static_cast<int>(-fd), "openat2", shown(root, path));
  return UniqueFd(static_cast<int>(fd));
}

UniqueFd open_in_root_no_symlinks(const std::string& root, const std::string& path, int flags) {
  const std::vector<std::string> parts = lexical_components(path);
  UniqueFd dir = open_root_dir(root);
  if (parts.empty()) {
    return UniqueFd(check(::openat(dir.get(), ".", flags | O_CLOEXEC), "openat", shown(root, "")));
  }
  std::string walked;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    walked += "/" + parts[i];
    // O_PATH|O_NOFOLLOW on a symlink opens the link itself, so we can see it and refuse it.
    UniqueFd next(::openat(dir.get(), parts[i].c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    if (!next) throw_errno(errno, "openat", shown(root, walked));
    struct stat st {};
    check(::fstat(next.get(), &st), "fstat", shown(root, walked));
    if (S_ISLNK(st.st_mode)) throw_errno(ELOOP, "openat", shown(root, walked));
    if (!S_ISDIR(st.st_mode)) throw_errno(ENOTDIR, "openat", shown(root, walked));
    dir = std::move(next);
  }
  walked += "/" + parts.back();
  // Without O_PATH, O_NOFOLLOW makes open fail with ELOOP on a symlink; with O_PATH it opens
  // the link, which fstat shows.
  UniqueFd fd(::openat(dir.get(), parts.back().c_str(), flags | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) throw_errno(errno, "openat", shown(root, walked));
  struct stat st {};
  check(::fstat(fd.get(), &st), "fstat", shown(root, walked));
  if (S_ISLNK(st.st_mode)) throw_errno(ELOOP, "openat", shown(root, walked));
  narrate({.call = fmt::format("openat(\"{}\", \"{}\", O_NOFOLLOW) one component at a time", root,
                               path),
           .result = fmt::format("fd {}", fd.get()),
           .shell = "",
           .man = "openat(2)"});
  return fd;
}

std::string fd_path(int fd) {
  return fmt::format("/proc/self/fd/{}", fd);
}

// The target is the descriptor, through its /proc/self/fd link: what was resolved is what
// gets mounted on, even if the path was swapped for a symlink since. --explain shows the
// path it stands for, and the shell command with that path (fd N is ours, not a shell's).
void mount_on_fd(const std::string& source, const UniqueFd& target, const std::string& shown_as,
                 const std::string& fstype, unsigned long flags, const std::string& data) {
  const std::string via = fd_path(target.get());
  check(::mount(source.empty() ? nullptr : source.c_str(), via.c_str(),
                fstype.empty() ? nullptr : fstype.c_str(), flags,
                data.empty() ? nullptr : data.c_str()),
        "mount", shown_as);
  if (narrating()) {
    narrate({.call = fmt::format("mount(\"{}\", \"{}\" = {}, \"{}\", {}{})", source, via, shown_as,
                                 fstype, mount_flags_to_string(flags),
                                 data.empty() ? "" : ", \"" + data + "\""),
             .result = "ok",
             .shell = mount_shell_command(source, shown_as, fstype, flags, data),
             .man = "mount(2)"});
  }
}

void remount_bind(const UniqueFd& target, const std::string& shown_as, unsigned long add_flags) {
  struct statvfs sv {};
  check(::fstatvfs(target.get(), &sv), "fstatvfs", shown_as);
  unsigned long flags = MS_BIND | MS_REMOUNT | add_flags;
  // The per-mount flags the kernel may have locked (mount(2) EPERM): keep them all.
  static constexpr std::pair<unsigned long, unsigned long> kKeep[] = {
      {ST_RDONLY, MS_RDONLY},     {ST_NOSUID, MS_NOSUID},   {ST_NODEV, MS_NODEV},
      {ST_NOEXEC, MS_NOEXEC},     {ST_NOATIME, MS_NOATIME}, {ST_NODIRATIME, MS_NODIRATIME},
      {ST_RELATIME, MS_RELATIME},
  };
  for (const auto& [st, ms] : kKeep) {
    if (sv.f_flag & st) flags |= ms;
  }
  mount_on_fd("", target, shown_as, "", flags);
}

void mount_setattr_recursive(const UniqueFd& target, const std::string& shown_as,
                             uint64_t attr_set) {
  struct mount_attr attr {};
  attr.attr_set = attr_set;
  const long rc = ::syscall(SYS_mount_setattr, target.get(), "", AT_EMPTY_PATH | AT_RECURSIVE,
                            &attr, sizeof attr);
  if (rc != 0 && errno == ENOSYS) {
    unsigned long flags = 0;
    if (attr_set & MOUNT_ATTR_NODEV) flags |= MS_NODEV;
    if (attr_set & MOUNT_ATTR_NOSUID) flags |= MS_NOSUID;
    if (attr_set & MOUNT_ATTR_NOEXEC) flags |= MS_NOEXEC;
    if (attr_set & MOUNT_ATTR_RDONLY) flags |= MS_RDONLY;
    remount_bind(target, shown_as, flags);
    return;
  }
  check(static_cast<int>(rc), "mount_setattr", shown_as);
  // The attributes by name, and the remount that sets them on each mount below shown_as
  // (mount(8) has no recursive remount: one per mount, as findmnt -R lists them).
  static constexpr std::pair<uint64_t, std::pair<const char*, const char*>> kAttrs[] = {
      {MOUNT_ATTR_RDONLY, {"MOUNT_ATTR_RDONLY", "ro"}},
      {MOUNT_ATTR_NOSUID, {"MOUNT_ATTR_NOSUID", "nosuid"}},
      {MOUNT_ATTR_NODEV, {"MOUNT_ATTR_NODEV", "nodev"}},
      {MOUNT_ATTR_NOEXEC, {"MOUNT_ATTR_NOEXEC", "noexec"}},
  };
  std::string names;
  std::string options;
  for (const auto& [bit, name] : kAttrs) {
    if ((attr_set & bit) == 0) continue;
    names += names.empty() ? name.first : fmt::format("|{}", name.first);
    options += fmt::format(",{}", name.second);
  }
  narrate(
      {.call = fmt::format("mount_setattr(\"{}\", AT_RECURSIVE, attr_set = {})", shown_as, names),
       .result = "ok",
       .shell = fmt::format("for m in $(findmnt -Rno TARGET {}); do mount -o remount,bind{} "
                            "\"$m\"; done",
                            shown_as, options),
       .man = "mount_setattr(2)"});
}

void remount_bind_read_only(const UniqueFd& target, const std::string& shown_as,
                            unsigned long extra_flags) {
  remount_bind(target, shown_as, MS_RDONLY | extra_flags);
}

}  // namespace ctr
