#include "ctr/mount.hpp"

#include <sys/syscall.h>  // SYS_pivot_root: glibc has no wrapper (pivot_root(2))
#include <unistd.h>       // chroot(2), chdir(2), syscall(2)

#include <climits>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <utility>

#include <fmt/format.h>

#include "ctr/error.hpp"
#include "ctr/narrate.hpp"

namespace ctr {

std::string mount_flags_to_string(unsigned long flags) {
  static constexpr std::pair<unsigned long, const char*> kNames[] = {
      {MS_RDONLY, "MS_RDONLY"},   {MS_NOSUID, "MS_NOSUID"},
      {MS_NODEV, "MS_NODEV"},     {MS_NOEXEC, "MS_NOEXEC"},
      {MS_REMOUNT, "MS_REMOUNT"}, {MS_BIND, "MS_BIND"},
      {MS_REC, "MS_REC"},         {MS_PRIVATE, "MS_PRIVATE"},
      {MS_SLAVE, "MS_SLAVE"},     {MS_STRICTATIME, "MS_STRICTATIME"},
  };
  std::string out;
  for (const auto& [bit, name] : kNames) {
    if (flags & bit) out += out.empty() ? name : fmt::format("|{}", name);
  }
  return out.empty() ? "0" : out;
}

namespace {

// The mount(8) options for the per-mount flags (mount(8), "FILESYSTEM-INDEPENDENT MOUNT
// OPTIONS").
std::string flag_options(unsigned long flags) {
  static constexpr std::pair<unsigned long, const char*> kOptions[] = {
      {MS_RDONLY, "ro"},     {MS_NOSUID, "nosuid"},           {MS_NODEV, "nodev"},
      {MS_NOEXEC, "noexec"}, {MS_STRICTATIME, "strictatime"},
  };
  std::string out;
  for (const auto& [bit, name] : kOptions) {
    if (flags & bit) out += out.empty() ? name : fmt::format(",{}", name);
  }
  return out;
}

}  // namespace

std::string mount_shell_command(const std::string& source, const std::string& target,
                                const std::string& fstype, unsigned long flags,
                                const std::string& data) {
  if (flags & (MS_PRIVATE | MS_SLAVE)) {
    return fmt::format("mount --make-{}{} {}", flags & MS_REC ? "r" : "",
                       flags & MS_PRIVATE ? "private" : "slave", target);
  }
  // A remount changes the flags of the mount at target; with MS_BIND, of that mount only,
  // not of the file system (mount(8) "-o remount,bind").
  if (flags & MS_REMOUNT) {
    const std::string options = flag_options(flags);
    return fmt::format("mount -o remount{}{}{} {}", flags & MS_BIND ? ",bind" : "",
                       options.empty() ? "" : ",", options, target);
  }
  // A bind mount takes no other flag (they need a remount, above).
  if (flags & MS_BIND) {
    return fmt::format("mount --{}bind {} {}", flags & MS_REC ? "r" : "", source, target);
  }
  std::string options = flag_options(flags);
  if (!data.empty()) options += options.empty() ? data : "," + data;
  return fmt::format("mount{}{} {} {}", fstype.empty() ? "" : " -t " + fstype,
                     options.empty() ? "" : " -o " + options, source.empty() ? "none" : source,
                     target);
}

void mount(const std::string& source, const std::string& target, const std::string& fstype,
           unsigned long flags, const std::string& data) {
  check(::mount(source.empty() ? nullptr : source.c_str(), target.c_str(),
                fstype.empty() ? nullptr : fstype.c_str(), flags,
                data.empty() ? nullptr : data.c_str()),
        "mount", target);
  if (narrating()) {
    narrate({.call = fmt::format("mount(\"{}\", \"{}\", \"{}\", {}{})", source, target, fstype,
                                 mount_flags_to_string(flags),
                                 data.empty() ? "" : ", \"" + data + "\""),
             .result = "ok",
             .shell = mount_shell_command(source, target, fstype, flags, data),
             .man = "mount(2)"});
  }
}

void umount2(const std::string& target, int flags) {
  check(::umount2(target.c_str(), flags), "umount2", target);
  narrate(
      {.call = fmt::format("umount2(\"{}\", {})", target, flags & MNT_DETACH ? "MNT_DETACH" : "0"),
       .result = "ok",
       .shell = fmt::format("umount {}{}", flags & MNT_DETACH ? "--lazy " : "", target),
       .man = "umount2(2)"});
}

void chroot(const std::string& path) {
  check(::chroot(path.c_str()), "chroot", path);
  narrate({.call = fmt::format("chroot(\"{}\")", path),
           .result = "ok",
           .shell = fmt::format("chroot {}", path),
           .man = "chroot(2)"});
  ctr::chdir("/");
}

void chdir(const std::string& path) {
  check(::chdir(path.c_str()), "chdir", path);
  narrate({.call = fmt::format("chdir(\"{}\")", path),
           .result = "ok",
           .shell = fmt::format("cd {}", path),
           .man = "chdir(2)"});
}

void make_mounts_private() {
  mount("", "/", "", MS_REC | MS_PRIVATE);
}

void bind_mount(const std::string& source, const std::string& target, bool read_only) {
  ctr::mount(source, target, "", MS_BIND | MS_REC);
  // MS_RDONLY is ignored on the first bind mount: it takes a remount (mount(2) "MS_BIND").
  if (read_only) mount("", target, "", MS_BIND | MS_REMOUNT | MS_RDONLY);
}

void mount_proc(const std::string& target) {
  ctr::mount("proc", target, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC);
}

void mount_sysfs(const std::string& target, bool read_only) {
  ctr::mount("sysfs", target, "sysfs",
             MS_NOSUID | MS_NODEV | MS_NOEXEC | (read_only ? MS_RDONLY : 0));
}

void mount_tmpfs(const std::string& target, const std::string& options, unsigned long flags) {
  ctr::mount("tmpfs", target, "tmpfs", flags, options);
}

void pivot_root(const std::string& new_root) {
  ctr::chdir(new_root);
  check(::syscall(SYS_pivot_root, ".", "."), "pivot_root", new_root);
  narrate({.call = "pivot_root(\".\", \".\")",
           .result = "ok",
           .shell = fmt::format("cd {} && pivot_root . .", new_root),
           .man = "pivot_root(2)"});
  // The old root now sits on top of the new one at "/": detach it, and the host's file
  // system is unreachable from here on.
  // (ctr:: is spelled out: MNT_DETACH is a global enum, so argument-dependent lookup would
  // otherwise pick the un-narrated ::umount2(const char*, int) for a string literal.)
  ctr::umount2(".", MNT_DETACH);
  ctr::chdir("/");
}

bool is_mount_point(const std::string& path) {
  char resolved[PATH_MAX];
  if (::realpath(path.c_str(), resolved) == nullptr) return false;
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string id, parent, devno, root, mount_point;
    fields >> id >> parent >> devno >> root >> mount_point;
    if (mount_point == resolved) return true;
  }
  return false;
}

}  // namespace ctr
