#include "runtime/seccomp.hpp"

#include "runtime/spec.hpp"  // mycontainer::Seccomp

#include <fcntl.h>          // openat(2), O_* flags
#include <linux/audit.h>    // AUDIT_ARCH_*
#include <linux/seccomp.h>  // SECCOMP_SET_MODE_FILTER, SECCOMP_RET_*, struct seccomp_data
#include <sched.h>          // CLONE_NEW*
#include <stddef.h>         // offsetof
#include <sys/mman.h>       // memfd_create(2)
#include <sys/socket.h>     // AF_VSOCK
#include <sys/stat.h>       // fstat(2), S_ISUID, S_ISGID
#include <sys/syscall.h>    // SYS_seccomp
#include <unistd.h>         // syscall(2)

#include <seccomp.h>  // libseccomp

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <utility>

#include <fmt/format.h>

#include "ctr/error.hpp"
#include "ctr/fd.hpp"
#include "ctr/narrate.hpp"
#include "ctr/uts.hpp"  // ctr::kernel_at_least

namespace ctr {

using mycontainer::Seccomp;
using mycontainer::SeccompAction;
using mycontainer::SeccompArg;
using mycontainer::SeccompOperator;
using mycontainer::SeccompSyscall;

namespace {

// ============================== architectures ==============================

// seccomp(2) "Caveats": a filter must check the architecture of each call, because the same
// number means different calls in different ABIs. On x86_64 a 64-bit process can still make
// 32-bit calls (int 0x80, i386 numbering) and x32 calls (x86_64 numbers | 0x40000000). A
// filter written for x86_64 numbers alone is bypassed that way: the classic case is
// CVE-2009-0835. libseccomp checks the architecture first; calls from an ABI not in the
// filter get SCMP_FLTATR_ACT_BADARCH (kill). So the default profile lists the 32-bit sibling
// ABI, with the same rules under its own numbers (32-bit programs keep working, as with
// docker).
// Not x32 (docker lists it): each ABI adds its whole allow list to the program, and the
// kernel verifies and compiles every instruction at each container start (x32's 372 of 1279
// took ~0.09 ms a start here), for an ABI that Debian's and Ubuntu's kernels boot with off
// (syscall.x32=n) and almost no program uses. Left out, an x32 call is not let through: in
// a filter with x86_64 and without x32, libseccomp puts `nr >= __X32_SYSCALL_BIT` in front of
// the x86_64 rules and sends it to the bad-architecture action (gen_bpf.c, _gen_bpf_arch),
// so the process is killed (tests/security: AnX32SystemCallIsKilledByTheFilter). A config.json
// that wants x32 lists SCMP_ARCH_X32 in its architectures.
std::vector<uint32_t> sibling_arches(uint32_t native) {
  switch (native) {
    case SCMP_ARCH_X86_64:
      return {SCMP_ARCH_X86};
    case SCMP_ARCH_AARCH64:
      return {SCMP_ARCH_ARM};
    case SCMP_ARCH_S390X:
      return {SCMP_ARCH_S390};
    default:
      return {};
  }
}

// libseccomp's names ("x86_64") <-> the OCI ones ("SCMP_ARCH_X86_64").
std::string oci_arch_name(uint32_t arch) {
  static const std::map<uint32_t, const char*> names = {
      {SCMP_ARCH_X86_64, "SCMP_ARCH_X86_64"},   {SCMP_ARCH_X86, "SCMP_ARCH_X86"},
      {SCMP_ARCH_X32, "SCMP_ARCH_X32"},         {SCMP_ARCH_AARCH64, "SCMP_ARCH_AARCH64"},
      {SCMP_ARCH_ARM, "SCMP_ARCH_ARM"},         {SCMP_ARCH_S390X, "SCMP_ARCH_S390X"},
      {SCMP_ARCH_S390, "SCMP_ARCH_S390"},       {SCMP_ARCH_PPC64LE, "SCMP_ARCH_PPC64LE"},
      {SCMP_ARCH_RISCV64, "SCMP_ARCH_RISCV64"},
  };
  const auto it = names.find(arch);
  return it != names.end() ? it->second : fmt::format("0x{:x}", arch);
}

uint32_t arch_from_oci_name(const std::string& name) {
  std::string lower = name.rfind("SCMP_ARCH_", 0) == 0 ? name.substr(10) : name;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  const uint32_t arch = ::seccomp_arch_resolve_name(lower.c_str());
  if (arch == 0) throw SeccompError(fmt::format("seccomp: unknown architecture '{}'", name));
  return arch;
}

std::vector<uint32_t> profile_arches(const Seccomp& profile) {
  std::vector<uint32_t> arches;
  if (profile.architectures.empty()) {
    arches.push_back(::seccomp_arch_native());
    for (uint32_t a : sibling_arches(arches.front())) arches.push_back(a);
  } else {
    for (const auto& name : profile.architectures) arches.push_back(arch_from_oci_name(name));
  }
  return arches;
}

// ============================== the default profile ==============================

SeccompSyscall allow(std::vector<std::string> names, std::vector<SeccompArg> args = {}) {
  return {.names = std::move(names),
          .action = SeccompAction::kAllow,
          .errno_ret = std::nullopt,
          .args = std::move(args)};
}

SeccompArg arg_equal(unsigned index, uint64_t value) {
  return {.index = index, .value = value, .op = SeccompOperator::kEqualTo};
}
// (argument & mask) == value
SeccompArg arg_masked(unsigned index, uint64_t mask, uint64_t value) {
  return {.index = index, .value = mask, .value_two = value, .op = SeccompOperator::kMaskedEqual};
}

// The calls every container may make: docker's unconditional list, less what is handled
// below (io_uring, and the calls that take a file mode). Sorted by name, as docker's.
const std::vector<std::string>& always_allowed() {
  static const std::vector<std::string> names = {"accept",
                                                 "accept4",
                                                 "access",
                                                 "adjtimex",
                                                 "alarm",
                                                 "bind",
                                                 "brk",
                                                 "capget",
                                                 "capset",
                                                 "chdir",
                                                 "chown",
                                                 "chown32",
                                                 "clock_adjtime",
                                                 "clock_adjtime64",
                                                 "clock_getres",
                                                 "clock_getres_time64",
                                                 "clock_gettime",
                                                 "clock_gettime64",
                                                 "clock_nanosleep",
                                                 "clock_nanosleep_time64",
                                                 "close",
                                                 "close_range",
                                                 "connect",
                                                 "copy_file_range",
                                                 "dup",
                                                 "dup2",
                                                 "dup3",
                                                 "epoll_create",
                                                 "epoll_create1",
                                                 "epoll_ctl",
                                                 "epoll_ctl_old",
                                                 "epoll_pwait",
                                                 "epoll_pwait2",
                                                 "epoll_wait",
                                                 "epoll_wait_old",
                                                 "eventfd",
                                                 "eventfd2",
                                                 "execve",
                                                 "execveat",
                                                 "exit",
                                                 "exit_group",
                                                 "faccessat",
                                                 "faccessat2",
                                                 "fadvise64",
                                                 "fadvise64_64",
                                                 "fallocate",
                                                 "fanotify_mark",
                                                 "fchdir",
                                                 "fchown",
                                                 "fchown32",
                                                 "fchownat",
                                                 "fcntl",
                                                 "fcntl64",
                                                 "fdatasync",
                                                 "fgetxattr",
                                                 "flistxattr",
                                                 "flock",
                                                 "fork",
                                                 "fremovexattr",
                                                 "fsetxattr",
                                                 "fstat",
                                                 "fstat64",
                                                 "fstatat64",
                                                 "fstatfs",
                                                 "fstatfs64",
                                                 "fsync",
                                                 "ftruncate",
                                                 "ftruncate64",
                                                 "futex",
                                                 "futex_time64",
                                                 "futex_waitv",
                                                 "futimesat",
                                                 "getcpu",
                                                 "getcwd",
                                                 "getdents",
                                                 "getdents64",
                                                 "getegid",
                                                 "getegid32",
                                                 "geteuid",
                                                 "geteuid32",
                                                 "getgid",
                                                 "getgid32",
                                                 "getgroups",
                                                 "getgroups32",
                                                 "getitimer",
                                                 "getpeername",
                                                 "getpgid",
                                                 "getpgrp",
                                                 "getpid",
                                                 "getppid",
                                                 "getpriority",
                                                 "getrandom",
                                                 "getresgid",
                                                 "getresgid32",
                                                 "getresuid",
                                                 "getresuid32",
                                                 "getrlimit",
                                                 "get_robust_list",
                                                 "getrusage",
                                                 "getsid",
                                                 "getsockname",
                                                 "getsockopt",
                                                 "get_thread_area",
                                                 "gettid",
                                                 "gettimeofday",
                                                 "getuid",
                                                 "getuid32",
                                                 "getxattr",
                                                 "inotify_add_watch",
                                                 "inotify_init",
                                                 "inotify_init1",
                                                 "inotify_rm_watch",
                                                 "io_cancel",
                                                 "ioctl",
                                                 "io_destroy",
                                                 "io_getevents",
                                                 "io_pgetevents",
                                                 "io_pgetevents_time64",
                                                 "ioprio_get",
                                                 "ioprio_set",
                                                 "io_setup",
                                                 "io_submit",
                                                 "ipc",
                                                 "kill",
                                                 "landlock_add_rule",
                                                 "landlock_create_ruleset",
                                                 "landlock_restrict_self",
                                                 "lchown",
                                                 "lchown32",
                                                 "lgetxattr",
                                                 "link",
                                                 "linkat",
                                                 "listen",
                                                 "listxattr",
                                                 "llistxattr",
                                                 "_llseek",
                                                 "lremovexattr",
                                                 "lseek",
                                                 "lsetxattr",
                                                 "lstat",
                                                 "lstat64",
                                                 "madvise",
                                                 "membarrier",
                                                 "memfd_create",
                                                 "memfd_secret",
                                                 "mincore",
                                                 "mkdir",
                                                 "mkdirat",
                                                 "mlock",
                                                 "mlock2",
                                                 "mlockall",
                                                 "mmap",
                                                 "mmap2",
                                                 "mprotect",
                                                 "mq_getsetattr",
                                                 "mq_notify",
                                                 "mq_open",
                                                 "mq_timedreceive",
                                                 "mq_timedreceive_time64",
                                                 "mq_timedsend",
                                                 "mq_timedsend_time64",
                                                 "mq_unlink",
                                                 "mremap",
                                                 "msgctl",
                                                 "msgget",
                                                 "msgrcv",
                                                 "msgsnd",
                                                 "msync",
                                                 "munlock",
                                                 "munlockall",
                                                 "munmap",
                                                 "name_to_handle_at",
                                                 "nanosleep",
                                                 "newfstatat",
                                                 "_newselect",
                                                 "pause",
                                                 "pidfd_open",
                                                 "pidfd_send_signal",
                                                 "pipe",
                                                 "pipe2",
                                                 "pkey_alloc",
                                                 "pkey_free",
                                                 "pkey_mprotect",
                                                 "poll",
                                                 "ppoll",
                                                 "ppoll_time64",
                                                 "prctl",
                                                 "pread64",
                                                 "preadv",
                                                 "preadv2",
                                                 "prlimit64",
                                                 "process_mrelease",
                                                 "pselect6",
                                                 "pselect6_time64",
                                                 "pwrite64",
                                                 "pwritev",
                                                 "pwritev2",
                                                 "read",
                                                 "readahead",
                                                 "readlink",
                                                 "readlinkat",
                                                 "readv",
                                                 "recv",
                                                 "recvfrom",
                                                 "recvmmsg",
                                                 "recvmmsg_time64",
                                                 "recvmsg",
                                                 "remap_file_pages",
                                                 "removexattr",
                                                 "rename",
                                                 "renameat",
                                                 "renameat2",
                                                 "restart_syscall",
                                                 "rmdir",
                                                 "rseq",
                                                 "rt_sigaction",
                                                 "rt_sigpending",
                                                 "rt_sigprocmask",
                                                 "rt_sigqueueinfo",
                                                 "rt_sigreturn",
                                                 "rt_sigsuspend",
                                                 "rt_sigtimedwait",
                                                 "rt_sigtimedwait_time64",
                                                 "rt_tgsigqueueinfo",
                                                 "sched_getaffinity",
                                                 "sched_getattr",
                                                 "sched_getparam",
                                                 "sched_get_priority_max",
                                                 "sched_get_priority_min",
                                                 "sched_getscheduler",
                                                 "sched_rr_get_interval",
                                                 "sched_rr_get_interval_time64",
                                                 "sched_setaffinity",
                                                 "sched_setattr",
                                                 "sched_setparam",
                                                 "sched_setscheduler",
                                                 "sched_yield",
                                                 "seccomp",
                                                 "select",
                                                 "semctl",
                                                 "semget",
                                                 "semop",
                                                 "semtimedop",
                                                 "semtimedop_time64",
                                                 "send",
                                                 "sendfile",
                                                 "sendfile64",
                                                 "sendmmsg",
                                                 "sendmsg",
                                                 "sendto",
                                                 "setfsgid",
                                                 "setfsgid32",
                                                 "setfsuid",
                                                 "setfsuid32",
                                                 "setgid",
                                                 "setgid32",
                                                 "setgroups",
                                                 "setgroups32",
                                                 "setitimer",
                                                 "setpgid",
                                                 "setpriority",
                                                 "setregid",
                                                 "setregid32",
                                                 "setresgid",
                                                 "setresgid32",
                                                 "setresuid",
                                                 "setresuid32",
                                                 "setreuid",
                                                 "setreuid32",
                                                 "setrlimit",
                                                 "set_robust_list",
                                                 "setsid",
                                                 "setsockopt",
                                                 "set_thread_area",
                                                 "set_tid_address",
                                                 "setuid",
                                                 "setuid32",
                                                 "setxattr",
                                                 "shmat",
                                                 "shmctl",
                                                 "shmdt",
                                                 "shmget",
                                                 "shutdown",
                                                 "sigaltstack",
                                                 "signalfd",
                                                 "signalfd4",
                                                 "sigprocmask",
                                                 "sigreturn",
                                                 "socketcall",
                                                 "socketpair",
                                                 "splice",
                                                 "stat",
                                                 "stat64",
                                                 "statfs",
                                                 "statfs64",
                                                 "statx",
                                                 "symlink",
                                                 "symlinkat",
                                                 "sync",
                                                 "sync_file_range",
                                                 "syncfs",
                                                 "sysinfo",
                                                 "tee",
                                                 "tgkill",
                                                 "time",
                                                 "timer_create",
                                                 "timer_delete",
                                                 "timer_getoverrun",
                                                 "timer_gettime",
                                                 "timer_gettime64",
                                                 "timer_settime",
                                                 "timer_settime64",
                                                 "timerfd_create",
                                                 "timerfd_gettime",
                                                 "timerfd_gettime64",
                                                 "timerfd_settime",
                                                 "timerfd_settime64",
                                                 "times",
                                                 "tkill",
                                                 "truncate",
                                                 "truncate64",
                                                 "ugetrlimit",
                                                 "umask",
                                                 "uname",
                                                 "unlink",
                                                 "unlinkat",
                                                 "utime",
                                                 "utimensat",
                                                 "utimensat_time64",
                                                 "utimes",
                                                 "vfork",
                                                 "vmsplice",
                                                 "wait4",
                                                 "waitid",
                                                 "waitpid",
                                                 "write",
                                                 "writev"};
  return names;
}

// The calls that create a file or change its mode, allowed only without S_ISUID or S_ISGID in
// the mode. A container's root (without a user namespace, the host's root) writes into the
// shared rootfs and into volumes, which are the host's own file systems: a setuid-root file
// there runs as root for any host user who can reach it (issue #17, item 5). What flatpak's
// seccomp filter does. The mode argument's index for each call (open(2), chmod(2), mknod(2)):
void add_mode_checked_calls(Seccomp& p) {
  constexpr uint64_t kSetId = S_ISUID | S_ISGID;
  for (const auto& [name, mode_arg] :
       std::vector<std::pair<const char*, unsigned>>{{"chmod", 1},
                                                     {"fchmod", 1},
                                                     {"fchmodat", 2},
                                                     {"creat", 1},
                                                     {"mknod", 1},
                                                     {"mknodat", 2}}) {
    p.syscalls.push_back(allow({name}, {arg_masked(mode_arg, kSetId, 0)}));
  }
  // open and openat read their mode only with O_CREAT or O_TMPFILE (open(2)); otherwise it is
  // whatever was in the register. So: allowed without those flags, whatever the mode, or
  // with them and a mode without the set-id bits (two rules: either suffices).
  // (O_TMPFILE includes O_DIRECTORY, which an ordinary open of a directory has too: only its
  // own bit counts.)
  constexpr uint64_t kCreating = O_CREAT | (O_TMPFILE & ~O_DIRECTORY);
  for (const auto& [name, flags_arg] :
       std::vector<std::pair<const char*, unsigned>>{{"open", 1}, {"openat", 2}}) {
    p.syscalls.push_back(allow({name}, {arg_masked(flags_arg, kCreating, 0)}));
    p.syscalls.push_back(allow({name}, {arg_masked(flags_arg + 1, kSetId, 0)}));
  }
  // openat2(2) keeps its flags and mode in a struct in memory, which seccomp cannot read
  // (it sees registers only). ENOSYS: libcs do not use it for open(3), and programs that do
  // fall back to openat when the kernel "does not have it".
  p.syscalls.push_back({.names = {"openat2"},
                        .action = SeccompAction::kErrno,
                        .errno_ret = static_cast<unsigned>(ENOSYS),
                        .args = {}});
}

void add_argument_checked_calls(Seccomp& p) {
  // socket(2): every family but AF_VSOCK, which talks to the hypervisor, not the network
  // namespace.
  p.syscalls.push_back(
      allow({"socket"}, {{.index = 0, .value = AF_VSOCK, .op = SeccompOperator::kNotEqual}}));
  // personality(2): only the harmless personas (Linux, 32-bit Linux, UNAME26, both, and the
  // query 0xffffffff). Refused: ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC, MMAP_PAGE_ZERO...,
  // which weaken the container's own memory protections.
  for (uint64_t persona : {0x0ULL, 0x8ULL, 0x20000ULL, 0x20008ULL, 0xffffffffULL}) {
    p.syscalls.push_back(allow({"personality"}, {arg_equal(0, persona)}));
  }
  // clone(2) takes its flags in a register: allowed without any namespace flag. (CLONE_NEWTIME
  // is not among them: clone(2) cannot take it, 0x80 is in its exit-signal byte.) On s390
  // the flags are the second argument.
  const uint32_t native = ::seccomp_arch_native();
  const unsigned flags_arg = (native == SCMP_ARCH_S390X || native == SCMP_ARCH_S390) ? 1 : 0;
  constexpr uint64_t kNamespaces = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER |
                                   CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP;
  p.syscalls.push_back(allow({"clone"}, {arg_masked(flags_arg, kNamespaces, 0)}));
  // clone3(2) passes its flags in a struct in memory. ENOSYS makes glibc (2.34+) fall back to
  // clone(2), whose flags the rule above checks: what docker does too.
  p.syscalls.push_back({.names = {"clone3"},
                        .action = SeccompAction::kErrno,
                        .errno_ret = static_cast<unsigned>(ENOSYS),
                        .args = {}});
}

// Calls the architecture needs (docker's "arches" entries). libseccomp adds a name only to
// the architectures that have it, so listing them for the whole family is enough.
void add_architecture_calls(Seccomp& p) {
  switch (::seccomp_arch_native()) {
    case SCMP_ARCH_X86_64:
    case SCMP_ARCH_X86:
      p.syscalls.push_back(allow({"arch_prctl", "modify_ldt"}));
      break;
    case SCMP_ARCH_AARCH64:
    case SCMP_ARCH_ARM:
      p.syscalls.push_back(allow({"arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2",
                                  "breakpoint", "cacheflush", "set_tls"}));
      break;
    case SCMP_ARCH_S390X:
    case SCMP_ARCH_S390:
      p.syscalls.push_back(
          allow({"s390_pci_mmio_read", "s390_pci_mmio_write", "s390_runtime_instr"}));
      break;
    case SCMP_ARCH_PPC64LE:
      p.syscalls.push_back(allow({"sync_file_range2", "swapcontext"}));
      break;
    case SCMP_ARCH_RISCV64:
      p.syscalls.push_back(allow({"riscv_flush_icache"}));
      break;
    default:
      break;
  }
}

// Calls a capability makes useful (docker's "caps" entries): without the capability the
// kernel would refuse them anyway, so the filter refuses them first (less attack surface);
// a container given the capability gets the calls that go with it.
void add_capability_calls(Seccomp& p, const CapabilitySet& caps) {
  const auto has = [&caps](cap_value_t cap) { return caps.count(cap) != 0; };
  const auto allow_with = [&](cap_value_t cap, std::vector<std::string> names) {
    if (has(cap)) p.syscalls.push_back(allow(std::move(names)));
  };
  allow_with(CAP_DAC_READ_SEARCH, {"open_by_handle_at"});
  // CAP_SYS_ADMIN: docker's list less mount, umount, umount2, fsopen, fsconfig, fsmount,
  // fspick, move_mount, open_tree, mount_setattr, unshare, setns, clone with namespace flags
  // and clone3 (see seccomp.hpp: we have no AppArmor to stop `mount -t proc`).
  allow_with(CAP_SYS_ADMIN, {"bpf", "fanotify_init", "lookup_dcookie", "perf_event_open",
                             "quotactl", "quotactl_fd", "setdomainname", "sethostname", "syslog"});
  allow_with(CAP_SYS_BOOT, {"reboot"});
  allow_with(CAP_SYS_CHROOT, {"chroot"});
  allow_with(CAP_SYS_MODULE, {"delete_module", "init_module", "finit_module"});
  allow_with(CAP_SYS_PACCT, {"acct"});
  allow_with(CAP_SYS_PTRACE, {"kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv",
                              "process_vm_writev", "ptrace"});
  allow_with(CAP_SYS_RAWIO, {"iopl", "ioperm"});
  allow_with(CAP_SYS_TIME, {"settimeofday", "stime", "clock_settime", "clock_settime64"});
  allow_with(CAP_SYS_TTY_CONFIG, {"vhangup"});
  allow_with(CAP_SYS_NICE, {"get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"});
  allow_with(CAP_SYSLOG, {"syslog"});
#ifdef CAP_BPF
  allow_with(CAP_BPF, {"bpf"});
#endif
#ifdef CAP_PERFMON
  allow_with(CAP_PERFMON, {"perf_event_open"});
#endif
}

// ============================== compiling ==============================

uint32_t scmp_action(SeccompAction action, std::optional<unsigned> errno_ret) {
  switch (action) {
    case SeccompAction::kKill:
    case SeccompAction::kKillThread:
      return SCMP_ACT_KILL_THREAD;
    case SeccompAction::kKillProcess:
      return SCMP_ACT_KILL_PROCESS;
    case SeccompAction::kTrap:
      return SCMP_ACT_TRAP;
    case SeccompAction::kErrno:
      return SCMP_ACT_ERRNO(errno_ret.value_or(EPERM));
    case SeccompAction::kTrace:
      return SCMP_ACT_TRACE(errno_ret.value_or(0));
    case SeccompAction::kAllow:
      return SCMP_ACT_ALLOW;
    case SeccompAction::kLog:
      return SCMP_ACT_LOG;
    case SeccompAction::kNotify:
      break;
  }
  throw SeccompError(
      "seccomp: action SCMP_ACT_NOTIFY needs a listener, which this runtime "
      "does not have");
}

bool lets_through(uint32_t action) {
  return action == SCMP_ACT_ALLOW || action == SCMP_ACT_LOG;
}

scmp_compare scmp_operator(SeccompOperator op) {
  switch (op) {
    case SeccompOperator::kNotEqual:
      return SCMP_CMP_NE;
    case SeccompOperator::kLessThan:
      return SCMP_CMP_LT;
    case SeccompOperator::kLessEqual:
      return SCMP_CMP_LE;
    case SeccompOperator::kEqualTo:
      return SCMP_CMP_EQ;
    case SeccompOperator::kGreaterEqual:
      return SCMP_CMP_GE;
    case SeccompOperator::kGreaterThan:
      return SCMP_CMP_GT;
    case SeccompOperator::kMaskedEqual:
      return SCMP_CMP_MASKED_EQ;
  }
  return SCMP_CMP_EQ;
}

// Owns a libseccomp filter context (seccomp_release(3) in the destructor).
class FilterContext {
 public:
  explicit FilterContext(uint32_t default_action) : ctx_(::seccomp_init(default_action)) {
    if (ctx_ == nullptr) throw SyscallError(EINVAL, "seccomp_init");
  }
  FilterContext(const FilterContext&) = delete;
  FilterContext& operator=(const FilterContext&) = delete;
  ~FilterContext() { ::seccomp_release(ctx_); }
  scmp_filter_ctx get() const { return ctx_; }

 private:
  scmp_filter_ctx ctx_;
};

void set_attributes(const FilterContext& f) {
  // Report the kernel's own errno, not libseccomp's generic ECANCELED (libseccomp 2.5+).
  (void)::seccomp_attr_set(f.get(), SCMP_FLTATR_API_SYSRAWRC, 1);
  // Sort the rules into a binary tree on the syscall number (libseccomp 2.5+; older ones keep
  // a list, compared one by one on every call the container makes).
  (void)::seccomp_attr_set(f.get(), SCMP_FLTATR_CTL_OPTIMIZE, 2);
  // We set no_new_privs ourselves, as a visible step (hardening.hpp).
  check_neg_errno(::seccomp_attr_set(f.get(), SCMP_FLTATR_CTL_NNP, 0), "seccomp_attr_set",
                  "SCMP_FLTATR_CTL_NNP");
  // A call from an ABI not in the filter: kill the whole process (kernel 4.14+), not just the
  // thread; older kernels: the thread.
  if (::seccomp_attr_set(f.get(), SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS) != 0) {
    check_neg_errno(::seccomp_attr_set(f.get(), SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL),
                    "seccomp_attr_set", "SCMP_FLTATR_ACT_BADARCH");
  }
}

void add_rule(const FilterContext& f, const std::vector<uint32_t>& arches, uint32_t default_action,
              const std::string& name, uint32_t action, const std::vector<scmp_arg_cmp>& cmps) {
  const bool known = std::any_of(arches.begin(), arches.end(), [&](uint32_t arch) {
    return ::seccomp_syscall_resolve_name_arch(arch, name.c_str()) >= 0;
  });
  if (!known) {
    // Not a call libseccomp can name on any of our architectures. Allowing it is impossible,
    // and harmless to skip: the default action then applies, and in an allow list that is a
    // refusal. Refusing it (a default that lets calls through) cannot be skipped silently:
    // that would weaken the filter.
    if (lets_through(default_action) && !lets_through(action)) {
      throw SeccompError(fmt::format(
          "seccomp: this libseccomp ({}.{}.{}) does not know the system call '{}', which the "
          "profile refuses",
          ::seccomp_version()->major, ::seccomp_version()->minor, ::seccomp_version()->micro,
          name));
    }
    return;
  }
  if (action == default_action) return;  // nothing to do (libseccomp refuses such a rule)
  // For a name one architecture lacks ("stime" on x86_64) resolve_name gives a negative
  // pseudo number; libseccomp adds the rule to the architectures that have the call.
  const int nr = ::seccomp_syscall_resolve_name(name.c_str());
  check_neg_errno(::seccomp_rule_add_array(f.get(), action, nr, static_cast<unsigned>(cmps.size()),
                                           cmps.data()),
                  "seccomp_rule_add", name);
}

// The highest number the profile names, per audit architecture ("x86_64 and x32" share
// AUDIT_ARCH_X86_64; x32 numbers carry bit 30).
constexpr uint32_t kX32SyscallBit = 0x40000000;

struct ArchLimit {
  uint32_t audit_arch = 0;
  int64_t max_nr = -1;      // -1: the profile names nothing there
  int64_t max_x32_nr = -1;  // AUDIT_ARCH_X86_64 only: the highest x32 number (bit 30 set)
};

std::vector<ArchLimit> arch_limits(const Seccomp& profile, const std::vector<uint32_t>& arches) {
  std::map<uint32_t, ArchLimit> limits;
  for (uint32_t arch : arches) {
    // SCMP_ARCH_* are AUDIT_ARCH_* values, except x32, whose calls the kernel reports as
    // AUDIT_ARCH_X86_64.
    const bool x32 = arch == SCMP_ARCH_X32;
    const uint32_t audit = x32 ? AUDIT_ARCH_X86_64 : arch;
    ArchLimit& limit = limits[audit];
    limit.audit_arch = audit;
    for (const auto& rule : profile.syscalls) {
      for (const auto& name : rule.names) {
        const int nr = ::seccomp_syscall_resolve_name_arch(arch, name.c_str());
        if (nr < 0) continue;
        if (x32) {
          limit.max_x32_nr = std::max<int64_t>(limit.max_x32_nr, nr | kX32SyscallBit);
        } else {
          limit.max_nr = std::max<int64_t>(limit.max_nr, nr);
        }
      }
    }
  }
  std::vector<ArchLimit> out;
  out.reserve(limits.size());
  for (const auto& [audit, limit] : limits) out.push_back(limit);
  return out;
}

// The stub in front of libseccomp's program (runc's patchbpf has the same idea; this is our
// own): for each architecture, a number above the highest the profile names returns ENOSYS.
// Such a number is a call newer than the profile (or than libseccomp): the default action
// would refuse it with EPERM, and a libc reads EPERM as "you may not", not "try the old
// call". Everything else goes on to libseccomp's program, which loads what it needs itself.
//
//        ld  [arch]
//        jeq AUDIT_ARCH_A, 0, skip_A    ; for each architecture A
//        ld  [nr]
//        (x86_64: jset 0x40000000 -> x32 check below)
//        jgt max_A -> enosys
//        ja  main
//        ...
//        ja  main                        ; an architecture not listed: libseccomp kills
// enosys: ret ERRNO(ENOSYS)
// main:   libseccomp's program
BpfProgram enosys_stub(const std::vector<ArchLimit>& limits) {
  BpfProgram stub;
  std::vector<size_t> to_enosys, to_main;  // jumps to fix once the stub's length is known
  const auto ins = [&stub](uint16_t code, uint32_t k, uint8_t jt = 0, uint8_t jf = 0) {
    stub.push_back(sock_filter{code, jt, jf, k});
    return stub.size() - 1;
  };
  ins(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch));
  for (const ArchLimit& l : limits) {
    if (l.max_nr < 0 && l.max_x32_nr < 0) continue;
    const size_t test = ins(BPF_JMP | BPF_JEQ | BPF_K, l.audit_arch);
    ins(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr));
    if (l.audit_arch == AUDIT_ARCH_X86_64) {
      // bit 30 set: an x32 call, compared with x32's highest; else with x86_64's. Without
      // x32 in the profile, an x32 call goes on to libseccomp's program, which kills it (bad
      // architecture): ENOSYS would invite a retry that the filter refuses anyway.
      const size_t jset = ins(BPF_JMP | BPF_JSET | BPF_K, kX32SyscallBit);
      to_enosys.push_back(
          ins(BPF_JMP | BPF_JGT | BPF_K, static_cast<uint32_t>(std::max<int64_t>(l.max_nr, 0))));
      to_main.push_back(ins(BPF_JMP | BPF_JA | BPF_K, 0));
      stub[jset].jt = static_cast<uint8_t>(stub.size() - jset - 1);
      if (l.max_x32_nr >= 0) {
        to_enosys.push_back(ins(BPF_JMP | BPF_JGT | BPF_K, static_cast<uint32_t>(l.max_x32_nr)));
      } else {
        // Except -1 (0xffffffff also has bit 30), "no call", as on every other path.
        to_enosys.push_back(ins(BPF_JMP | BPF_JEQ | BPF_K, 0xffffffffU));
      }
    } else {
      to_enosys.push_back(ins(BPF_JMP | BPF_JGT | BPF_K, static_cast<uint32_t>(l.max_nr)));
    }
    to_main.push_back(ins(BPF_JMP | BPF_JA | BPF_K, 0));
    // Not this architecture: go on with the next test (the accumulator still holds arch).
    stub[test].jf = static_cast<uint8_t>(stub.size() - test - 1);
  }
  to_main.push_back(ins(BPF_JMP | BPF_JA | BPF_K, 0));
  const size_t enosys = ins(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA));
  const size_t main = stub.size();
  for (size_t i : to_enosys) stub[i].jt = static_cast<uint8_t>(enosys - i - 1);
  for (size_t i : to_main) stub[i].k = static_cast<uint32_t>(main - i - 1);
  return stub;
}

BpfProgram export_program(const FilterContext& f) {
  const UniqueFd mem(check(::memfd_create("seccomp-bpf", MFD_CLOEXEC), "memfd_create"));
  check_neg_errno(::seccomp_export_bpf(f.get(), mem.get()), "seccomp_export_bpf");
  const off_t size = check(static_cast<int>(::lseek(mem.get(), 0, SEEK_END)), "lseek");
  BpfProgram program(static_cast<size_t>(size) / sizeof(sock_filter));
  const ssize_t n = ::pread(mem.get(), program.data(), program.size() * sizeof(sock_filter), 0);
  if (n != static_cast<ssize_t>(program.size() * sizeof(sock_filter))) {
    throw SyscallError(EIO, "pread", "the exported seccomp program");
  }
  return program;
}

// ============================== the cache ==============================

// FNV-1a, 64 bits: names the file. A collision is harmless (the file holds the full text and
// is used only when that text is equal).
uint64_t fnv1a(const std::string& text) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : text) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

constexpr char kCacheMagic[] = "mycontainer-bpf 1\n";
constexpr size_t kMaxInstructions = 4096;  // BPF_MAXINSNS

// "<magic><text length>\n<text><program>"
std::string cache_bytes(const std::string& text, const BpfProgram& program) {
  std::string out = fmt::format("{}{}\n{}", kCacheMagic, text.size(), text);
  out.append(reinterpret_cast<const char*>(program.data()), program.size() * sizeof(sock_filter));
  return out;
}

std::string read_all(int fd) {
  std::string bytes;
  char buf[16384];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    bytes.append(buf, static_cast<size_t>(n));
    if (bytes.size() > (1u << 20)) return {};  // no cache file of ours is this big
  }
  return bytes;
}

// Ours and no one else's: owned by our effective uid, writable by nobody else.
bool trusted(const struct stat& st, bool directory) {
  if (directory ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)) return false;
  return st.st_uid == ::geteuid() && (st.st_mode & (S_IWGRP | S_IWOTH)) == 0;
}

// The program in a cache file, or {} for anything that is not exactly what we would write.
BpfProgram read_cached(int dir_fd, const std::string& file, const std::string& text) {
  const UniqueFd fd(::openat(dir_fd, file.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  struct stat st {};
  if (!fd || ::fstat(fd.get(), &st) != 0 || !trusted(st, false)) return {};
  const std::string bytes = read_all(fd.get());
  const std::string head = fmt::format("{}{}\n", kCacheMagic, text.size());
  if (bytes.size() <= head.size() + text.size()) return {};
  if (bytes.compare(0, head.size(), head) != 0) return {};
  if (bytes.compare(head.size(), text.size(), text) != 0) return {};
  const size_t size = bytes.size() - head.size() - text.size();
  if (size % sizeof(sock_filter) != 0 || size / sizeof(sock_filter) > kMaxInstructions) return {};
  BpfProgram program(size / sizeof(sock_filter));
  std::memcpy(program.data(), bytes.data() + head.size() + text.size(), size);
  return program;
}

// Writes a temporary file of our own (O_EXCL: never someone else's) and renames it into
// place: a reader sees the old file or the new one, never half of one.
void write_cached(int dir_fd, const std::string& file, const std::string& bytes) {
  const std::string tmp = fmt::format(".{}.{}.tmp", file, ::getpid());
  const UniqueFd fd(
      ::openat(dir_fd, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd) return;
  const bool written =
      ::write(fd.get(), bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size());
  if (!written || ::renameat(dir_fd, tmp.c_str(), dir_fd, file.c_str()) != 0) {
    ::unlinkat(dir_fd, tmp.c_str(), 0);
  }
}

// The cache directory, created 0700 if missing, opened without following a symlink, and
// only if it is ours alone.
UniqueFd open_cache_dir(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir.parent_path(), ec);
  (void)::mkdir(dir.c_str(), 0700);
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  struct stat st {};
  if (!fd || ::fstat(fd.get(), &st) != 0 || !trusted(st, true)) return UniqueFd();
  return fd;
}

}  // namespace

// ============================== the public functions ==============================

Seccomp default_seccomp_profile(const CapabilitySet& caps) {
  Seccomp p;
  p.default_action = SeccompAction::kErrno;
  p.default_errno_ret = EPERM;
  const uint32_t native = ::seccomp_arch_native();
  p.architectures.push_back(oci_arch_name(native));
  for (uint32_t arch : sibling_arches(native)) p.architectures.push_back(oci_arch_name(arch));
  p.syscalls.push_back(allow(always_allowed()));
  // ptrace(2) and process_vm_*: before Linux 4.8 seccomp ran before the ptrace hook, so a
  // tracer could rewrite a checked call into a refused one. Docker allows them from 4.8 on.
  if (kernel_at_least(4, 8)) {
    p.syscalls.push_back(allow({"process_vm_readv", "process_vm_writev", "ptrace"}));
  }
  add_mode_checked_calls(p);
  add_argument_checked_calls(p);
  add_architecture_calls(p);
  add_capability_calls(p, caps);
  // Refused because unnamed, among others: keyctl/add_key/request_key (the keyring is not
  // namespaced), kexec_*, swapon, userfaultfd, io_uring_* (a second syscall interface
  // seccomp never sees), mount and the new mount API, unshare, setns, pivot_root, every call
  // newer than this list (open_tree_attr...).
  return p;
}

std::string seccomp_profile_text(const Seccomp& p) {
  const auto v = ::seccomp_version();
  std::string text = fmt::format("libseccomp {}.{}.{}\ndefault {} {}\n", v->major, v->minor,
                                 v->micro, static_cast<int>(p.default_action),
                                 p.default_errno_ret ? std::to_string(*p.default_errno_ret) : "-");
  for (const auto& a : p.architectures) text += "arch " + a + "\n";
  for (const auto& f : p.flags) text += "flag " + f + "\n";
  for (const auto& rule : p.syscalls) {
    text += fmt::format("rule {} {}", static_cast<int>(rule.action),
                        rule.errno_ret ? std::to_string(*rule.errno_ret) : "-");
    for (const auto& a : rule.args) {
      text += fmt::format(" arg{}:{}:{}:{}", a.index, static_cast<int>(a.op), a.value, a.value_two);
    }
    for (const auto& name : rule.names) text += " " + name;
    text += "\n";
  }
  return text;
}

BpfProgram compile_seccomp(const Seccomp& profile) {
  const uint32_t default_action = scmp_action(profile.default_action, profile.default_errno_ret);
  const FilterContext f(default_action);
  const std::vector<uint32_t> arches = profile_arches(profile);
  // seccomp_init made a filter for the native architecture; drop it if the profile does not
  // list it (seccomp_arch_add(3)).
  const uint32_t native = ::seccomp_arch_native();
  for (uint32_t arch : arches) {
    const int rc = ::seccomp_arch_add(f.get(), arch);
    if (rc != 0 && rc != -EEXIST) check_neg_errno(rc, "seccomp_arch_add", oci_arch_name(arch));
  }
  if (std::find(arches.begin(), arches.end(), native) == arches.end()) {
    check_neg_errno(::seccomp_arch_remove(f.get(), native), "seccomp_arch_remove");
  }
  set_attributes(f);
  for (const auto& rule : profile.syscalls) {
    const uint32_t action = scmp_action(rule.action, rule.errno_ret);
    std::vector<scmp_arg_cmp> cmps;
    for (const SeccompArg& a : rule.args) {
      for (const auto& c : cmps) {
        if (c.arg == a.index) {
          // libseccomp takes one condition per argument in a rule.
          throw SeccompError(fmt::format("seccomp: two conditions on argument {} of '{}'", a.index,
                                         rule.names.empty() ? "" : rule.names[0]));
        }
      }
      cmps.push_back({a.index, scmp_operator(a.op), a.value, a.value_two});
    }
    for (const auto& name : rule.names) add_rule(f, arches, default_action, name, action, cmps);
  }
  BpfProgram program = export_program(f);
  if (!lets_through(default_action)) {
    BpfProgram stub = enosys_stub(arch_limits(profile, arches));
    program.insert(program.begin(), stub.begin(), stub.end());
  }
  if (program.empty() || program.size() > kMaxInstructions) {
    throw SeccompError(fmt::format("seccomp: the compiled filter has {} instructions (at most {})",
                                   program.size(), kMaxInstructions));
  }
  return program;
}

BpfProgram cached_seccomp(const Seccomp& profile, const std::filesystem::path& dir) {
  const std::string text = seccomp_profile_text(profile);
  const std::string file = fmt::format("{:016x}.bpf", fnv1a(text));
  const UniqueFd dir_fd = open_cache_dir(dir);
  if (dir_fd) {
    if (BpfProgram cached = read_cached(dir_fd.get(), file, text); !cached.empty()) return cached;
  }
  BpfProgram program = compile_seccomp(profile);
  if (dir_fd) write_cached(dir_fd.get(), file, cache_bytes(text, program));
  return program;
}

void load_bpf(const BpfProgram& program) {
  sock_fprog prog{};
  prog.len = static_cast<unsigned short>(program.size());
  prog.filter = const_cast<sock_filter*>(program.data());
  const long rc = ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
  if (rc != 0 && errno == EACCES) {
    throw SyscallError(EACCES, "seccomp", "set no_new_privs first, or hold CAP_SYS_ADMIN");
  }
  check(static_cast<int>(rc), "seccomp", "SECCOMP_SET_MODE_FILTER");
  narrate(
      {.call = fmt::format("seccomp(SECCOMP_SET_MODE_FILTER, {} BPF instructions)", program.size()),
       .result = "ok",
       .shell = "grep Seccomp /proc/self/status   # 2 = filter",
       .man = "seccomp(2)"});
}

}  // namespace ctr
