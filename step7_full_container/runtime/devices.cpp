#include "runtime/devices.hpp"

#include <fcntl.h>          // openat(2), O_*
#include <linux/magic.h>    // TMPFS_MAGIC
#include <sys/mount.h>      // MS_* flags
#include <sys/stat.h>       // mknodat(2), mkdirat(2), fchmodat(2)
#include <sys/statfs.h>     // fstatfs(2)
#include <sys/sysmacros.h>  // makedev(3)
#include <unistd.h>         // symlinkat(2)

#include <cerrno>

#include <fmt/format.h>

#include "ctr/error.hpp"
#include "ctr/fd.hpp"
#include "ctr/narrate.hpp"
#include "runtime/path.hpp"

namespace ctr {

namespace {

// The options docker gives /dev and /dev/shm (moby oci/defaults.go).
constexpr const char* kDevOptions = "mode=755,size=65536k";
constexpr const char* kShmOptions = "mode=1777,size=65536k";
// devpts (filesystems(5), the kernel's Documentation/filesystems/devpts.rst): a private
// instance; terminals group-owned by tty (gid 5) and rw--w----, and /dev/pts/ptmx usable by
// everyone (a new instance creates it 0000 unless told otherwise).
constexpr const char* kPtsOptions = "newinstance,ptmxmode=0666,mode=0620";

void make_dir(const UniqueFd& dir, const std::string& name, mode_t mode, const std::string& at) {
  if (::mkdirat(dir.get(), name.c_str(), mode) != 0 && errno != EEXIST) {
    throw SyscallError(errno, "mkdir", at);
  }
  narrate({.call = fmt::format("mkdir(\"{}\", 0{:o})", at, mode),
           .result = "ok",
           .shell = fmt::format("mkdir -p {}", at),
           .man = "mkdir(2)"});
}

void make_symlink(const UniqueFd& dir, const std::string& target, const std::string& name,
                  const std::string& at) {
  check(::symlinkat(target.c_str(), dir.get(), name.c_str()), "symlink", at);
  narrate({.call = fmt::format("symlink(\"{}\", \"{}\")", target, at),
           .result = "ok",
           .shell = fmt::format("ln -s {} {}", target, at),
           .man = "symlink(2)"});
}

// Opens name below dir without following a symlink: dir is our own fresh tmpfs, but being
// strict costs nothing.
UniqueFd open_below(const UniqueFd& dir, const std::string& name, const std::string& at) {
  return UniqueFd(
      check(::openat(dir.get(), name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC), "open", at));
}

// An empty regular file as the mount point, the host's node bind-mounted on top. Not
// mknod(2), even where we could: /dev is mounted nodev, so a device node that the container
// makes there itself (it keeps CAP_MKNOD, as in docker) cannot be opened, and the six
// devices still work because each is a mount of its own, from the host's /dev, where
// device files are allowed (mount(2) MS_NODEV is checked on the mount a file is opened
// through). docker closes the same hole with the devices cgroup; this works on cgroup v1,
// v2 and rootless alike, without an eBPF program.
void make_device(const UniqueFd& dev, const DeviceNode& d, const std::string& at) {
  UniqueFd file(check(::openat(dev.get(), d.name.c_str(),
                               O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0666),
                      "open", at));
  mount_on_fd("/dev/" + d.name, file, at, "", MS_BIND);
}

}  // namespace

const std::vector<DeviceNode>& default_devices() {
  static const std::vector<DeviceNode> kDevices = {
      {"null", 1, 3},     // reads as empty, swallows writes
      {"zero", 1, 5},     // endless zero bytes
      {"full", 1, 7},     // writes fail with ENOSPC: for testing error paths
      {"random", 1, 8},   // the kernel's random numbers (random(4))
      {"urandom", 1, 9},  //   the same, never blocking
      {"tty", 5, 0},      // this process's controlling terminal, whatever it is
  };
  return kDevices;
}

void populate_dev(const std::string& rootfs, const std::vector<DeviceNode>& extra) {
  const std::string base = (rootfs == "/" ? std::string() : rootfs) + "/dev";
  const auto at = [&base](const std::string& name) { return base + "/" + name; };
  // The tmpfs itself, checked: a symlink or the image's own /dev must not receive the nodes.
  UniqueFd dev = open_in_root(rootfs, "dev", O_PATH | O_DIRECTORY);
  struct statfs fs {};
  check(::fstatfs(dev.get(), &fs), "statfs", base);
  if (fs.f_type != TMPFS_MAGIC) throw SyscallError(EXDEV, "mount", base + " is not our tmpfs");

  // The six devices, and those the spec adds.
  for (const auto& d : default_devices()) make_device(dev, d, at(d.name));
  for (const auto& d : extra) make_device(dev, d, at(d.name));

  // ptmx -> pts/ptmx, so opening /dev/ptmx allocates in the container's devpts instance.
  make_symlink(dev, "pts/ptmx", "ptmx", at("ptmx"));
  // The links programs expect (bash's <(...), `cat /dev/stdin`). They point into the
  // container's own /proc, which pivot_root makes /proc.
  make_symlink(dev, "/proc/self/fd", "fd", at("fd"));
  make_symlink(dev, "/proc/self/fd/0", "stdin", at("stdin"));
  make_symlink(dev, "/proc/self/fd/1", "stdout", at("stdout"));
  make_symlink(dev, "/proc/self/fd/2", "stderr", at("stderr"));
}

void setup_dev(const std::string& rootfs, bool in_user_namespace, bool mqueue) {
  const std::string base = (rootfs == "/" ? std::string() : rootfs) + "/dev";
  const auto at = [&base](const std::string& name) { return base + "/" + name; };

  // 1. ROOTFS/dev (created if the image has none), resolved inside the rootfs, then a tmpfs
  // on it.
  {
    UniqueFd root(check(::open(rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC), "open", rootfs));
    if (::mkdirat(root.get(), "dev", 0755) != 0 && errno != EEXIST) {
      throw SyscallError(errno, "mkdir", base);
    }
    UniqueFd under = open_in_root(rootfs, "dev", O_PATH | O_DIRECTORY);
    mount_on_fd("tmpfs", under, base, "tmpfs", MS_NOSUID | MS_NODEV | MS_STRICTATIME, kDevOptions);
  }
  // 2. The devices and links.
  populate_dev(rootfs);
  UniqueFd dev = open_in_root(rootfs, "dev", O_PATH | O_DIRECTORY);

  // 3. A private devpts instance (ptmx points into it).
  make_dir(dev, "pts", 0755, at("pts"));
  {
    UniqueFd pts = open_below(dev, "pts", at("pts"));
    const std::string options =
        in_user_namespace ? kPtsOptions : fmt::format("{},gid=5", kPtsOptions);
    mount_on_fd("devpts", pts, at("pts"), "devpts", MS_NOSUID | MS_NOEXEC, options);
  }

  // 4. /dev/shm, and /dev/mqueue when the container has its own IPC namespace.
  make_dir(dev, "shm", 01777, at("shm"));
  {
    UniqueFd shm = open_below(dev, "shm", at("shm"));
    mount_on_fd("shm", shm, at("shm"), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, kShmOptions);
  }
  if (mqueue) {
    make_dir(dev, "mqueue", 0755, at("mqueue"));
    UniqueFd mq = open_below(dev, "mqueue", at("mqueue"));
    mount_on_fd("mqueue", mq, at("mqueue"), "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC);
  }
}

}  // namespace ctr
