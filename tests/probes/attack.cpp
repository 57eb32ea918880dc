// Probe: the attacks of tests/security, run inside a container (and, for a baseline, on the
// host itself).
//
//   attack NAME [ARGS...]
//
// Each attack prints exactly one line and exits 0:
//   SUCCEEDED <detail>   the attack got through: the container can do this
//   BLOCKED <detail>     something refused it (the detail says what: errno, a mask, a namespace)
//   SKIPPED <reason>     this kernel lacks the feature, so there is nothing to test
// Exit 2 means the probe was called wrongly.
//
// HARMLESS, whatever the answer. The weak steps run this as real root with every capability,
// so every attack is written so that it changes nothing on the host even when it succeeds:
//   - files that control the host (/proc/sysrq-trigger, core_pattern, /sys/kernel/...,
//     release_agent, the runtime's binary) are opened for writing and closed again; nothing
//     is ever written to them, and O_TRUNC is never used;
//   - privileged system calls get arguments the kernel rejects *after* its permission check
//     (reboot with a wrong magic number, swapon of a missing file...), so EPERM means
//     "refused" and EINVAL/ENOENT/EBADF mean "allowed, would have worked with real arguments";
//   - a block device node is only read (512 bytes), a mount only reaches the option parser
//     (an unknown option makes it fail before anything is mounted);
//   - namespaces and mounts an attack creates belong to a child process and vanish with it;
//     a new user namespace comes first, which turns shared mounts into slaves, so nothing
//     can propagate back to the host (mount_namespaces(7), "Restrictions on mount namespaces");
//   - a host process is only signalled with signal 0 and PTRACE_SEIZE'd (which does not stop
//     it; the tracer's exit detaches it);
//   - sethostname is only called in a UTS namespace proven not to be the host's.
//
// Static (tests/CMakeLists.txt): the test rootfs has no C library.
#include <arpa/inet.h>         // inet_ntop, inet_pton
#include <netinet/in.h>        // IPPROTO_ICMP
#include <dirent.h>            // opendir(3)
#include <fcntl.h>             // open(2), O_*, struct file_handle, open_by_handle_at(2)
#include <linux/keyctl.h>      // KEYCTL_GET_KEYRING_ID
#include <linux/reboot.h>      // LINUX_REBOOT_MAGIC*
#include <net/if.h>            // if_nameindex(3)
#include <sched.h>             // unshare(2), CLONE_*
#include <signal.h>            // kill(2)
#include <linux/capability.h>  // struct __user_cap_header_struct, capget(2)
#include <sys/mount.h>         // mount(2), umount2(2)
#include <sys/prctl.h>         // prctl(2)
#include <sys/ptrace.h>        // ptrace(2)
#include <sys/socket.h>        // socket(2), connect(2)
#include <sys/stat.h>          // mknod(2), stat(2)
#include <sys/syscall.h>       // SYS_*
#include <sys/sysmacros.h>     // makedev(3)
#include <sys/time.h>          // struct timezone
#include <sys/un.h>            // sockaddr_un
#include <sys/wait.h>          // waitpid(2)
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

// --- Output ----------------------------------------------------------------------------------

[[noreturn]] __attribute__((format(printf, 2, 3))) void verdict(const char* word, const char* fmt,
                                                                ...) {
  char detail[1024];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(detail, sizeof detail, fmt, ap);
  va_end(ap);
  std::printf("%s %s\n", word, detail);
  std::fflush(stdout);
  std::exit(0);
}
#define SUCCEEDED(...) verdict("SUCCEEDED", __VA_ARGS__)
#define BLOCKED(...) verdict("BLOCKED", __VA_ARGS__)
#define SKIPPED(...) verdict("SKIPPED", __VA_ARGS__)

[[noreturn]] void usage(const char* what) {
  std::fprintf(stderr, "attack: usage: %s\n", what);
  std::exit(2);
}

const char* err_name(int e) {
  switch (e) {
    case 0:
      return "ok";
    case EPERM:
      return "EPERM";
    case EACCES:
      return "EACCES";
    case ENOENT:
      return "ENOENT";
    case EINVAL:
      return "EINVAL";
    case EBADF:
      return "EBADF";
    case EROFS:
      return "EROFS";
    case ENOSYS:
      return "ENOSYS";
    case ESRCH:
      return "ESRCH";
    case ETXTBSY:
      return "ETXTBSY";
    case ENXIO:
      return "ENXIO";
    case ENODEV:
      return "ENODEV";
    case EBUSY:
      return "EBUSY";
    case ENOKEY:
      return "ENOKEY";
    case EEXIST:
      return "EEXIST";
    case ENOTDIR:
      return "ENOTDIR";
    case ELOOP:
      return "ELOOP";
    case ESTALE:
      return "ESTALE";
    case ECONNREFUSED:
      return "ECONNREFUSED";
    case EOPNOTSUPP:
      return "EOPNOTSUPP";
    case EFAULT:
      return "EFAULT";
    case EIO:
      return "EIO";
    default:
      return strerrorname_np(e) ? strerrorname_np(e) : "E?";
  }
}

std::string read_small(const char* path) {
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  char buf[4096];
  const ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

bool write_small(const char* path, const std::string& text) {
  const int fd = ::open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  return ok;
}

// Runs fn in a child process (its namespaces and mounts die with it) and returns what the
// child wrote to the pipe it gets; the child's exit code is ignored.
template <typename Fn>
std::string in_child(Fn fn) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return "pipe failed";
  const pid_t pid = ::fork();
  if (pid < 0) return "fork failed";
  if (pid == 0) {
    ::close(p[0]);
    const std::string out = fn();
    (void)!::write(p[1], out.data(), out.size());
    ::_exit(0);
  }
  ::close(p[1]);
  std::string out;
  char buf[1024];
  ssize_t n;
  while ((n = ::read(p[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(p[0]);
  ::waitpid(pid, nullptr, 0);
  return out;
}

// After unshare(CLONE_NEWUSER): become root of the new namespace (uid/gid 0 mapped to who we
// were). Needs /proc; without one (step 1) we stay unmapped, which changes nothing for the
// capabilities we get in the namespace (user_namespaces(7)).
void map_self_to_root(uid_t uid, gid_t gid) {
  write_small("/proc/self/setgroups", "deny");
  write_small("/proc/self/uid_map", "0 " + std::to_string(uid) + " 1");
  write_small("/proc/self/gid_map", "0 " + std::to_string(gid) + " 1");
}

// A new user and mount namespace whose mounts cannot reach anybody else's.
int private_user_mount_ns(int extra_flags) {
  const uid_t uid = ::geteuid();
  const gid_t gid = ::getegid();
  if (::unshare(CLONE_NEWUSER | CLONE_NEWNS | extra_flags) != 0) return errno;
  map_self_to_root(uid, gid);
  // Already slaves (a less privileged mount namespace), private is one step further. In a
  // chroot "/" is no mount point (EINVAL): the slave rule above is what protects the host.
  (void)::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr);
  return 0;
}

std::string temp_dir(const char* what) {
  std::string dir = std::string("/tmp/mct-") + what + "-" + std::to_string(::getpid());
  ::mkdir(dir.c_str(), 0700);
  return dir;
}

// --- Attacks -----------------------------------------------------------------------------------

// chroot_escape MARKER: root makes a second chroot below its working directory, walks ".."
// out of it, and looks for MARKER, a host file outside the rootfs (chroot(2) NOTES).
void chroot_escape(int argc, char** argv) {
  if (argc != 1) usage("chroot_escape MARKER");
  const std::string marker = argv[0];
  const std::string dir = temp_dir("escape");
  const std::string out = in_child([&]() -> std::string {
    if (::chdir("/") != 0) return "chdir failed";
    if (::chroot(dir.c_str()) != 0) return std::string("chroot: ") + err_name(errno);
    for (int i = 0; i < 256; ++i) {
      if (::chdir("..") != 0) break;
    }
    if (::chroot(".") != 0) return std::string("chroot(.): ") + err_name(errno);
    struct stat st {};
    return ::stat(marker.c_str(), &st) == 0 ? "ESCAPED" : "contained";
  });
  ::rmdir(dir.c_str());
  if (out == "ESCAPED") SUCCEEDED("walked out of a nested chroot and found the host's marker");
  BLOCKED("%s: .. from a nested chroot ends at the container's root", out.c_str());
}

// mknod_block MAJOR MINOR: make a node for a block device of the host's (the test passes
// one that real root can open there: the rootfs's disk, or else a loop device), open it
// read-only and read its first sector, then try to mount it. Opening it is the hole: with
// the host's disk that is every file on it, permissions and the container's root ignored.
void mknod_block(int argc, char** argv) {
  if (argc != 2) usage("mknod_block MAJOR MINOR");
  const dev_t dev = makedev(std::atoi(argv[0]), std::atoi(argv[1]));
  std::string node;
  int mknod_err = 0;
  for (const char* dir : {"/tmp", "/dev"}) {
    node = std::string(dir) + "/mct-blk-" + std::to_string(::getpid());
    if (::mknod(node.c_str(), S_IFBLK | 0600, dev) == 0) {
      mknod_err = 0;
      break;
    }
    mknod_err = errno;
    if (mknod_err == EPERM) break;  // the capability is missing: no other place helps
  }
  if (mknod_err != 0) BLOCKED("mknod(S_IFBLK %s:%s): %s", argv[0], argv[1], err_name(mknod_err));

  int open_err = 0;
  ssize_t got = -1;
  const int fd = ::open(node.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    open_err = errno;
  } else {
    char sector[512];
    got = ::read(fd, sector, sizeof sector);
    if (got < 0) open_err = errno;
    ::close(fd);
  }
  // Mounting it: an option no file system knows makes mount(2) fail in the option parser,
  // after the permission checks and before the device is touched. EINVAL = allowed.
  const std::string mnt = temp_dir("blkmnt");
  const int m = ::mount(node.c_str(), mnt.c_str(), "ext4", MS_RDONLY, "mct_no_such_option");
  const int mount_err = m == 0 ? 0 : errno;
  if (m == 0) ::umount2(mnt.c_str(), MNT_DETACH);  // cannot happen; never leave it behind
  ::rmdir(mnt.c_str());
  ::unlink(node.c_str());
  const char* mount_result =
      mount_err == EINVAL ? "allowed (EINVAL from the option parser)" : err_name(mount_err);
  if (got >= 0) {
    SUCCEEDED("mknod %s ok, opened the host's block device %s:%s and read %zd bytes; mount: %s",
              node.c_str(), argv[0], argv[1], got, mount_result);
  }
  BLOCKED("mknod %s ok, but open/read: %s; mount: %s", node.c_str(), err_name(open_err),
          mount_result);
}

// open_device PATH: a device node that came with the image (no mknod needed): open it
// read-only and read its first sector.
void open_device(int argc, char** argv) {
  if (argc != 1) usage("open_device PATH");
  const int fd = ::open(argv[0], O_RDONLY | O_CLOEXEC);
  if (fd < 0) BLOCKED("open(%s): %s", argv[0], err_name(errno));
  char sector[512];
  const ssize_t got = ::read(fd, sector, sizeof sector);
  ::close(fd);
  SUCCEEDED("opened %s, a device node from the image, and read %zd bytes", argv[0], got);
}

// open_write PATH: can the file be opened for writing? It is never written.
void open_write(int argc, char** argv) {
  if (argc != 1) usage("open_write PATH");
  const int fd = ::open(argv[0], O_WRONLY | O_CLOEXEC | O_NOCTTY);
  if (fd >= 0) {
    ::close(fd);
    SUCCEEDED("%s opened for writing (nothing written)", argv[0]);
  }
  BLOCKED("open(%s, O_WRONLY): %s", argv[0], err_name(errno));
}

// read_file PATH: kernel files that leak host state (/proc/kcore, /proc/keys). Masked means
// /dev/null was bind-mounted on top (hardening.hpp mask_paths).
void read_file(int argc, char** argv) {
  if (argc != 1) usage("read_file PATH");
  const int fd = ::open(argv[0], O_RDONLY | O_CLOEXEC);
  if (fd < 0) BLOCKED("open(%s): %s", argv[0], err_name(errno));
  struct stat st {};
  ::fstat(fd, &st);
  if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3)) {
    ::close(fd);
    BLOCKED("%s is masked: /dev/null on top", argv[0]);
  }
  char buf[64];
  const ssize_t n = ::read(fd, buf, sizeof buf);
  const int e = errno;
  ::close(fd);
  if (n < 0) BLOCKED("read(%s): %s", argv[0], err_name(e));
  SUCCEEDED("%s is the kernel's own file, read %zd bytes", argv[0], n);
}

// unshare_userns: `unshare -Urm`: a user namespace makes us root with every capability over
// new namespaces, the door to mounting and to much of the kernel's attack surface.
void unshare_userns(int argc, char**) {
  if (argc != 0) usage("unshare_userns");
  const std::string out = in_child([]() -> std::string {
    const int e = private_user_mount_ns(0);
    return e == 0 ? "ok" : err_name(e);
  });
  if (out == "ok") SUCCEEDED("unshare(CLONE_NEWUSER|CLONE_NEWNS) ok");
  BLOCKED("unshare(CLONE_NEWUSER|CLONE_NEWNS): %s", out.c_str());
}

// fresh_proc: `unshare -Urmpf mount -t proc proc DIR`: a new procfs has none of the masks
// and read-only mounts the runtime put over /proc. The kernel allows it only where a full
// /proc is already visible (fs/namespace.c mount_too_revealing).
void fresh_proc(int argc, char**) {
  if (argc != 0) usage("fresh_proc");
  const std::string dir = temp_dir("proc");
  const std::string out = in_child([&]() -> std::string {
    const int e = private_user_mount_ns(CLONE_NEWPID);
    if (e != 0) return std::string("unshare: ") + err_name(e);
    // The first child becomes PID 1 of the new PID namespace, which a proc mount needs.
    return in_child([&]() -> std::string {
      if (::mount("proc", dir.c_str(), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0) {
        return std::string("unshare ok, mount proc: ") + err_name(errno);
      }
      struct stat st {};
      const std::string sysrq = dir + "/sysrq-trigger";
      const bool has_sysrq = ::stat(sysrq.c_str(), &st) == 0;
      ::umount2(dir.c_str(), MNT_DETACH);
      return std::string("MOUNTED") + (has_sysrq ? " (sysrq-trigger and all, unmasked)" : "");
    });
  });
  ::rmdir(dir.c_str());
  if (out.rfind("MOUNTED", 0) == 0) {
    SUCCEEDED("mounted a fresh proc in a nested user namespace%s", out.c_str() + 7);
  }
  BLOCKED("%s", out.c_str());
}

// release_agent: CVE-2022-0492. In a new user, mount and cgroup namespace, mount a cgroup v1
// hierarchy and open its release_agent (a program the *host* runs as root when a cgroup
// empties) for writing. Never written: since Linux 5.17 the write itself also needs
// CAP_SYS_ADMIN in the initial user namespace, but the open is what a container must never
// get to.
void release_agent(int argc, char**) {
  if (argc != 0) usage("release_agent");
  const std::string dir = temp_dir("cgroup");
  const std::string out = in_child([&]() -> std::string {
    const int e = private_user_mount_ns(CLONE_NEWCGROUP);
    if (e != 0) return std::string("unshare: ") + err_name(e);
    std::string tried;
    for (const char* controller : {"rdma", "misc", "memory", "pids", "cpu", "freezer", "devices",
                                   "blkio", "cpuset", "cpuacct", "net_cls", "perf_event"}) {
      if (::mount("cgroup", dir.c_str(), "cgroup", MS_NOSUID | MS_NODEV | MS_NOEXEC, controller) !=
          0) {
        tried += std::string(tried.empty() ? "" : ", ") + controller + " " + err_name(errno);
        continue;
      }
      const std::string agent = dir + "/release_agent";
      const int fd = ::open(agent.c_str(), O_WRONLY | O_CLOEXEC);
      const int open_err = errno;
      if (fd >= 0) ::close(fd);
      ::umount2(dir.c_str(), MNT_DETACH);
      if (fd >= 0) return std::string("OPENED cgroup v1 '") + controller + "'";
      tried += std::string(tried.empty() ? "" : ", ") + controller + " mounted, release_agent " +
               err_name(open_err);
    }
    return "unshare ok; mount cgroup v1: " + tried;
  });
  ::rmdir(dir.c_str());
  if (out.rfind("OPENED", 0) == 0) {
    SUCCEEDED("%s: release_agent opened for writing (nothing written)", out.c_str() + 7);
  }
  BLOCKED("%s", out.c_str());
}

// open_by_handle HANDLE_TYPE HANDLE_HEX MARKER_REL: "shocker" (docker 0.11, 2014). The test
// took the file handle of the host's file system root on the host (name_to_handle_at(2); the
// exploit brute-forced it from inode 2). open_by_handle_at(2) resolves a handle against the
// whole file system, ignoring the container's root: open it, then walk to MARKER_REL (the
// test's marker, relative to that root) and read it.
void open_by_handle(int argc, char** argv) {
  if (argc != 3) usage("open_by_handle HANDLE_TYPE HANDLE_HEX MARKER_REL");
  const std::string hex = argv[1];
  std::vector<unsigned char> bytes;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    bytes.push_back(static_cast<unsigned char>(std::stoul(hex.substr(i, 2), nullptr, 16)));
  }
  std::vector<unsigned char> storage(sizeof(file_handle) + bytes.size());
  auto* handle = reinterpret_cast<file_handle*>(storage.data());
  handle->handle_bytes = static_cast<unsigned>(bytes.size());
  handle->handle_type = std::atoi(argv[0]);
  std::memcpy(handle->f_handle, bytes.data(), bytes.size());

  const int mount_fd = ::open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  const int root = ::open_by_handle_at(mount_fd, handle, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (root < 0)
    BLOCKED("open_by_handle_at(root inode of the host's file system): %s", err_name(errno));
  const int marker = ::openat(root, argv[2], O_RDONLY | O_CLOEXEC);
  if (marker < 0) BLOCKED("open_by_handle_at ok, but the host's marker: %s", err_name(errno));
  char buf[64] = {};
  const ssize_t n = ::read(marker, buf, sizeof buf - 1);
  if (n > 0 && std::strncmp(buf, "host marker", 11) == 0) {
    SUCCEEDED("opened the host's root by handle and read /%s", argv[2]);
  }
  BLOCKED("opened something by handle, but not the host's marker");
}

// sethostname HOST_UTS: HOST_UTS is the host's "uts:[N]" (readlink /proc/self/ns/uts on the
// host). Sharing it means sethostname would rename the host: then it is NOT called.
void set_hostname(int argc, char** argv) {
  if (argc != 1) usage("sethostname HOST_UTS_NS");
  char ns[64] = {};
  if (::readlink("/proc/self/ns/uts", ns, sizeof ns - 1) <= 0) {
    SKIPPED("no /proc/self/ns/uts: cannot prove this is not the host's UTS namespace");
  }
  if (std::strcmp(ns, argv[0]) == 0) {
    SUCCEEDED(
        "shares the host's UTS namespace %s: sethostname would rename the host (not "
        "called)",
        ns);
  }
  const char name[] = "mct-renamed-by-probe";
  if (::sethostname(name, sizeof name - 1) != 0) BLOCKED("sethostname: %s", err_name(errno));
  BLOCKED("own UTS namespace %s: sethostname renamed only the container", ns);
}

// host_process PID: a process the test started on the host. Signal 0 checks visibility and
// the right to signal without sending anything (kill(2)); PTRACE_SEIZE attaches without
// stopping it, and our exit detaches.
void host_process(int argc, char** argv) {
  if (argc != 1) usage("host_process PID");
  const pid_t pid = std::atoi(argv[0]);
  std::string seen;
  if (::kill(pid, 0) == 0) seen += " kill(pid, 0) ok;";
  const std::string proc = "/proc/" + std::string(argv[0]) + "/cmdline";
  const std::string cmdline = read_small(proc.c_str());
  if (!cmdline.empty()) seen += " /proc/" + std::string(argv[0]) + " readable;";
  if (::ptrace(PTRACE_SEIZE, pid, nullptr, nullptr) == 0) seen += " PTRACE_SEIZE ok;";
  const int e = errno;
  if (!seen.empty()) SUCCEEDED("host pid %d:%s", pid, seen.c_str());
  BLOCKED("host pid %d: kill(pid, 0), /proc/%d and ptrace all fail (%s)", pid, pid, err_name(e));
}

// privileges: the capability sets, no_new_privs and seccomp mode, read with system calls
// (step 1 has no /proc). BLOCKED means no capability beyond docker's 14 (0xa80425fb) in any
// set, none inheritable or ambient, no_new_privs on, a seccomp filter loaded.
void privileges(int argc, char**) {
  if (argc != 0) usage("privileges");
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  ::syscall(SYS_capget, &header, data);
  const auto join = [](uint32_t lo, uint32_t hi) { return (uint64_t{hi} << 32) | lo; };
  const uint64_t eff = join(data[0].effective, data[1].effective);
  const uint64_t prm = join(data[0].permitted, data[1].permitted);
  const uint64_t inh = join(data[0].inheritable, data[1].inheritable);
  uint64_t bnd = 0, amb = 0;
  for (int cap = 0; cap < 64; ++cap) {
    if (::prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1) bnd |= uint64_t{1} << cap;
    if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, cap, 0, 0) == 1) amb |= uint64_t{1} << cap;
  }
  const int nnp = ::prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
  const int seccomp = ::prctl(PR_GET_SECCOMP, 0, 0, 0, 0);
  constexpr uint64_t kDocker = 0xa80425fb;
  const bool contained =
      ((eff | prm | bnd) & ~kDocker) == 0 && inh == 0 && amb == 0 && nnp == 1 && seccomp == 2;
  verdict(contained ? "BLOCKED" : "SUCCEEDED",
          "CapEff=%016llx CapPrm=%016llx CapBnd=%016llx CapInh=%016llx CapAmb=%016llx "
          "NoNewPrivs=%d Seccomp=%d",
          static_cast<unsigned long long>(eff), static_cast<unsigned long long>(prm),
          static_cast<unsigned long long>(bnd), static_cast<unsigned long long>(inh),
          static_cast<unsigned long long>(amb), nnp, seccomp);
}

// syscall NAME: a privileged call with arguments the kernel refuses after its permission
// check. EPERM: refused (seccomp or a missing capability). The "allowed" errno: the call
// got past the check. ENOSYS: this kernel lacks it.
void privileged_syscall(int argc, char** argv) {
  if (argc != 1)
    usage("syscall reboot|finit_module|keyctl|kexec_load|swapon|settimeofday|iopl|acct");
  const std::string name = argv[0];
  long rc = 0;
  errno = 0;
  if (name == "reboot") {
    // Wrong magic numbers: EINVAL, after the CAP_SYS_BOOT check (kernel/reboot.c).
    rc = ::syscall(SYS_reboot, 0, 0, 0, nullptr);
  } else if (name == "finit_module") {
    // No file: EBADF, after the CAP_SYS_MODULE check (kernel/module/main.c may_init_module).
    rc = ::syscall(SYS_finit_module, -1, "", 0);
  } else if (name == "keyctl") {
    // Not a capability: the keyring is simply not namespaced, seccomp is the only wall.
    // A serial number that does not exist: ENOKEY; nothing is created (create = 0).
    rc = ::syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, 0x7ffffff0, 0);
  } else if (name == "kexec_load") {
    // More segments than KEXEC_SEGMENT_MAX: EINVAL after the CAP_SYS_BOOT check. (Never 0
    // segments: that *unloads* a loaded crash kernel.)
    rc = ::syscall(SYS_kexec_load, 0, 100000, nullptr, 0);
  } else if (name == "swapon") {
    // A file that does not exist: ENOENT after the CAP_SYS_ADMIN check (mm/swapfile.c).
    rc = ::syscall(SYS_swapon, "/mct-no-such-swapfile", 0);
  } else if (name == "settimeofday") {
    // Only a time zone, 100 hours west: EINVAL after the CAP_SYS_TIME check
    // (kernel/time/time.c do_sys_settimeofday64); the clock is never touched.
    struct timezone tz {};
    tz.tz_minuteswest = 6000;
    rc = ::syscall(SYS_settimeofday, nullptr, &tz);
  } else if (name == "iopl") {
#ifdef SYS_iopl
    // iopl(4) is refused as EINVAL before any check: only seccomp answers EPERM to it.
    // Then iopl(3), the real thing (needs CAP_SYS_RAWIO), undone at once with iopl(0); no
    // port is ever touched.
    rc = ::syscall(SYS_iopl, 4);
    if (rc != 0 && errno == EPERM) BLOCKED("iopl(4): EPERM (seccomp)");
    if (rc != 0 && errno == ENOSYS) SKIPPED("iopl: ENOSYS (kernel without CONFIG_X86_IOPL_IOPERM)");
    rc = ::syscall(SYS_iopl, 3);
    if (rc == 0) {
      ::syscall(SYS_iopl, 0);
      SUCCEEDED("iopl(3) ok (I/O port access; reset with iopl(0), no port touched)");
    }
    if (errno == EPERM) BLOCKED("iopl(3): EPERM (no CAP_SYS_RAWIO)");
    SKIPPED("iopl(3): %s", err_name(errno));
#else
    SKIPPED("no iopl on this architecture");
#endif
  } else if (name == "acct") {
    // A file that does not exist: ENOENT after the CAP_SYS_PACCT check (kernel/acct.c).
    // (Never NULL: that would switch the host's accounting off.)
    rc = ::syscall(SYS_acct, "/mct-no-such-acct-file");
  } else {
    usage("syscall NAME: unknown call");
  }
  const int e = errno;
  if (rc == 0) SUCCEEDED("%s returned 0", name.c_str());
  if (e == EPERM) BLOCKED("%s: EPERM", name.c_str());
  if (e == ENOSYS) SKIPPED("%s: ENOSYS (not in this kernel)", name.c_str());
  SUCCEEDED("%s: %s (got past the permission check)", name.c_str(), err_name(e));
}

// leaked_fds: every descriptor >= 3 the container's command got from the runtime or from
// whoever started it (CVE-2024-21626: a leaked directory fd let the command reach the host).
// Checked with fcntl before we open anything ourselves.
void leaked_fds(int argc, char**) {
  if (argc != 0) usage("leaked_fds");
  std::vector<int> open_fds;
  for (int fd = 3; fd < 4096; ++fd) {
    if (::fcntl(fd, F_GETFD) != -1) open_fds.push_back(fd);
  }
  if (open_fds.empty()) BLOCKED("only 0, 1 and 2 are open");
  std::string list;
  for (int fd : open_fds) {
    char target[256] = {};
    const std::string link = "/proc/self/fd/" + std::to_string(fd);
    if (::readlink(link.c_str(), target, sizeof target - 1) < 0) std::strcpy(target, "?");
    list += " " + std::to_string(fd) + "->" + target;
  }
  SUCCEEDED("descriptors beyond stdio:%s", list.c_str());
}

// runtime_exe: CVE-2019-5736. Find an executable of the runtime's through /proc (PID 1 is
// mycontainer's own binary under --init; /proc/self/exe is ours) and try to reopen it for
// writing through an O_PATH descriptor, as the exploit did. Never written.
void runtime_exe(int argc, char**) {
  if (argc != 0) usage("runtime_exe");
  std::string detail;
  bool wrote = false;
  const std::string ppid = "/proc/" + std::to_string(::getppid()) + "/exe";
  for (const std::string& target :
       {std::string("/proc/1/exe"), ppid, std::string("/proc/self/exe")}) {
    const int path_fd = ::open(target.c_str(), O_PATH | O_CLOEXEC);
    if (path_fd < 0) {
      detail += " " + target + ": " + err_name(errno) + ";";
      continue;
    }
    const std::string via = "/proc/self/fd/" + std::to_string(path_fd);
    const int fd = ::open(via.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
      ::close(fd);
      wrote = true;
      detail += " " + target + ": opened for writing (nothing written);";
    } else {
      detail += " " + target + ": O_PATH ok, O_WRONLY " + err_name(errno) + ";";
    }
    ::close(path_fd);
  }
  if (wrote) SUCCEEDED("%s", detail.c_str());
  BLOCKED("%s", detail.c_str());
}

// net_ifaces NAME:INDEX...: the host's interfaces (the test lists them, lo left out). Seeing
// one with the same name and index means sharing the host's network namespace.
void net_ifaces(int argc, char** argv) {
  std::string seen, host_seen;
  if (struct if_nameindex* list = ::if_nameindex()) {
    for (struct if_nameindex* i = list; i->if_index != 0; ++i) {
      const std::string pair = std::string(i->if_name) + ":" + std::to_string(i->if_index);
      seen += " " + pair;
      for (int a = 0; a < argc; ++a) {
        if (pair == argv[a]) host_seen += " " + pair;
      }
    }
    ::if_freenameindex(list);
  }
  if (!host_seen.empty()) SUCCEEDED("sees the host's interfaces:%s", host_seen.c_str());
  BLOCKED("sees only its own interfaces:%s", seen.c_str());
}

// abstract_socket NAME: connect to the abstract unix socket "@NAME" the test listens on, on
// the host. Abstract names belong to a network namespace (unix(7)), not to the file system,
// so no mount namespace or chroot hides them.
void abstract_socket(int argc, char** argv) {
  if (argc != 1) usage("abstract_socket NAME");
  const int s = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const size_t len = std::min(std::strlen(argv[0]), sizeof addr.sun_path - 2);
  std::memcpy(addr.sun_path + 1, argv[0], len);
  const auto size = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + len);
  if (::connect(s, reinterpret_cast<sockaddr*>(&addr), size) == 0) {
    ::close(s);
    SUCCEEDED("connected to the host's @%s", argv[0]);
  }
  BLOCKED("connect(@%s): %s", argv[0], err_name(errno));
}

// --- issue #17 ------------------------------------------------------------------------------

// open_tree_attr(2) (Linux 6.15, 467 on every architecture): clones /proc as a detached mount,
// without the masks and the read-only /proc/sys a runtime put on top. A deny-list filter
// that predates the call lets it through. The clone is closed at once (a detached mount
// vanishes with its descriptor). Run with --cap-add SYS_ADMIN.
void open_tree_attr_proc(int, char**) {
  constexpr long kOpenTreeAttr = 467;
  constexpr unsigned kOpenTreeClone = 1;     // OPEN_TREE_CLONE
  constexpr unsigned kAtRecursive = 0x8000;  // AT_RECURSIVE
  const long fd =
      ::syscall(kOpenTreeAttr, AT_FDCWD, "/proc", kOpenTreeClone | kAtRecursive, nullptr, 0);
  if (fd >= 0) {
    ::close(static_cast<int>(fd));
    SUCCEEDED("open_tree_attr(/proc, OPEN_TREE_CLONE) gave a clone without the masks");
  }
  BLOCKED("open_tree_attr: %s", err_name(errno));
}

// An x32 system call (x86_64's numbers with bit 30 set, __X32_SYSCALL_BIT) from a 64-bit
// process: the kernel reports it under x86_64's audit architecture, so a filter that checks
// only the architecture and the plain number lets it through (seccomp(2) "Caveats"). The call
// is keyctl, which the filter refuses by name, in a child: a filter without the x32 ABI kills
// the child with SIGSYS (its bad-architecture action). Kernels built without x32, or booted
// with it off, answer ENOSYS themselves; that answer is the kernel's, not the filter's.
void x32_syscall(int, char**) {
#if defined(__x86_64__)
  constexpr long kX32SyscallBit = 0x40000000;
  const pid_t pid = ::fork();
  if (pid < 0) BLOCKED("fork: %s", err_name(errno));
  if (pid == 0) {
    const long rc =
        ::syscall(kX32SyscallBit | SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0);
    _exit(rc >= 0 ? 0 : (errno & 0x7f) + 1);
  }
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) BLOCKED("waitpid: %s", err_name(errno));
  if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS) BLOCKED("x32 keyctl: killed by SIGSYS");
  if (WIFSIGNALED(status)) BLOCKED("x32 keyctl: killed by signal %d", WTERMSIG(status));
  const int code = WEXITSTATUS(status);
  if (code == 0) SUCCEEDED("x32 keyctl returned a keyring");
  BLOCKED("x32 keyctl: %s", err_name(code - 1));
#else
  SKIPPED("x32 is an x86_64 ABI");
#endif
}

// A setuid-root file where the host can reach it: the container's /tmp is the shared rootfs's
// /tmp on the host. Made 0700 after the try either way, then removed: nothing stays.
void setuid_file(int argc, char** argv) {
  const std::string path = argc > 0 ? argv[0] : "/tmp/mc-suid-probe";
  const int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0700);
  if (fd < 0) BLOCKED("create %s: %s", path.c_str(), err_name(errno));
  const int chmod_rc = ::fchmod(fd, 04755);
  const int chmod_err = errno;
  struct stat st {};
  ::fstat(fd, &st);
  ::fchmod(fd, 0700);
  ::close(fd);
  ::unlink(path.c_str());
  if (chmod_rc == 0 && (st.st_mode & S_ISUID) != 0) SUCCEEDED("fchmod(04755) set S_ISUID");
  BLOCKED("fchmod(04755): %s", chmod_rc == 0 ? "bit not set" : err_name(chmod_err));
}

// ARP spoofing needs a packet socket (or a raw one): without CAP_NET_RAW neither opens.
void raw_sockets(int, char**) {
  const int packet = ::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
  const int packet_err = errno;
  const int raw = ::socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
  const int raw_err = errno;
  if (packet >= 0) ::close(packet);
  if (raw >= 0) ::close(raw);
  if (packet >= 0 || raw >= 0) {
    SUCCEEDED("packet socket %s, raw socket %s", packet >= 0 ? "opened" : err_name(packet_err),
              raw >= 0 ? "opened" : err_name(raw_err));
  }
  BLOCKED("packet socket: %s, raw socket: %s", err_name(packet_err), err_name(raw_err));
}

// ping without privileges: an ICMP datagram socket (icmp(7), net.ipv4.ping_group_range), one
// echo request to ADDR (the bridge's gateway), one reply awaited for 2 s.
void icmp_ping(int argc, char** argv) {
  if (argc < 1) usage("icmp_ping ADDR");
  const int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_ICMP);
  if (s < 0) BLOCKED("socket(SOCK_DGRAM, IPPROTO_ICMP): %s", err_name(errno));
  sockaddr_in to{};
  to.sin_family = AF_INET;
  ::inet_pton(AF_INET, argv[0], &to.sin_addr);
  unsigned char echo[16] = {8, 0};  // type 8 (echo request); the kernel fills id and checksum
  if (::sendto(s, echo, sizeof echo, 0, reinterpret_cast<sockaddr*>(&to), sizeof to) < 0) {
    BLOCKED("sendto(%s): %s", argv[0], err_name(errno));
  }
  timeval tv{2, 0};
  ::setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  unsigned char reply[64];
  const ssize_t n = ::recv(s, reply, sizeof reply, 0);
  if (n > 0 && reply[0] == 0) SUCCEEDED("echo reply from %s", argv[0]);
  BLOCKED("no echo reply from %s: %s", argv[0], n < 0 ? err_name(errno) : "not a reply");
}

// The working directory the runtime gave us: outside the container's root, getcwd(2) says
// "(unreachable)...". Read only.
void cwd_outside(int, char**) {
  char cwd[4096];
  if (::getcwd(cwd, sizeof cwd) == nullptr) SUCCEEDED("getcwd: %s", err_name(errno));
  if (cwd[0] != '/') SUCCEEDED("working directory outside the root: %s", cwd);
  BLOCKED("working directory %s", cwd);
}

// What pid 1 (--init: the runtime's binary) still holds beyond 0-2: with CAP_SYS_PTRACE its
// /proc/1/fd entries open as the files themselves. Only listed.
void init_fds(int, char**) {
  DIR* d = ::opendir("/proc/1/fd");
  if (d == nullptr) BLOCKED("opendir(/proc/1/fd): %s", err_name(errno));
  std::string extra;
  while (const dirent* e = ::readdir(d)) {
    const int fd = std::atoi(e->d_name);
    if (e->d_name[0] == '.' || fd <= 2) continue;
    char target[512] = {};
    const std::string link = std::string("/proc/1/fd/") + e->d_name;
    (void)::readlink(link.c_str(), target, sizeof target - 1);
    extra += std::string(" ") + e->d_name + "->" + target;
  }
  ::closedir(d);
  if (!extra.empty()) SUCCEEDED("pid 1 holds%s", extra.c_str());
  BLOCKED("pid 1 holds only 0-2");
}

struct Attack {
  const char* name;
  void (*run)(int, char**);
};

constexpr Attack kAttacks[] = {
    {"chroot_escape", chroot_escape},
    {"mknod_block", mknod_block},
    {"open_device", open_device},
    {"open_write", open_write},
    {"read_file", read_file},
    {"unshare_userns", unshare_userns},
    {"fresh_proc", fresh_proc},
    {"release_agent", release_agent},
    {"open_by_handle", open_by_handle},
    {"sethostname", set_hostname},
    {"host_process", host_process},
    {"privileges", privileges},
    {"syscall", privileged_syscall},
    {"leaked_fds", leaked_fds},
    {"runtime_exe", runtime_exe},
    {"net_ifaces", net_ifaces},
    {"abstract_socket", abstract_socket},
    {"open_tree_attr", open_tree_attr_proc},
    {"x32_syscall", x32_syscall},
    {"setuid_file", setuid_file},
    {"raw_sockets", raw_sockets},
    {"icmp_ping", icmp_ping},
    {"cwd_outside", cwd_outside},
    {"init_fds", init_fds},
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) usage("attack NAME [ARGS...]");
  for (const auto& a : kAttacks) {
    if (std::strcmp(argv[1], a.name) == 0) {
      a.run(argc - 2, argv + 2);
      return 0;
    }
  }
  usage("attack NAME [ARGS...]: unknown attack");
}
