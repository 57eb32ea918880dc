// ctr::SeccompFilter: the default deny list as data (no root needed), the compiled program,
// and the filter loaded in forked children: refused calls answer EPERM (or ENOSYS for clone3),
// ordinary ones, fork and threads still work, and neither a 32-bit int 0x80 call nor an x32
// call slips past. Loading needs only no_new_privs, so these run without root too; as root
// the refused calls would otherwise succeed, which makes the checks sharper.
#include "runtime/seccomp.hpp"

#include <fcntl.h>            // open(2)
#include <linux/keyctl.h>     // KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING
#include <sched.h>            // unshare(2), CLONE_*
#include <signal.h>           // SIGCHLD, SIGSYS
#include <sys/mman.h>         // memfd_create(2)
#include <sys/personality.h>  // personality(2)
#include <sys/stat.h>         // fstat(2)
#include <sys/syscall.h>      // SYS_*
#include <sys/wait.h>         // waitpid(2)
#include <unistd.h>           // fork(2), pipe2(2), syscall(2)

#include <algorithm>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "runtime/capabilities.hpp"
#include "ctr/error.hpp"
#include "ctr/fd.hpp"
#include "runtime/hardening.hpp"
#include "support.hpp"

namespace {

using mc::test::expect_usage_error;
using mc::test::in_child;

using ctr::SeccompFilter;

// "rc/ERRNO" of a raw call: "-1/EPERM", "0/0".
std::string outcome(long rc) {
  const int err = errno;
  if (rc != -1) return rc == 0 ? "0" : "ok";
  switch (err) {
    case EPERM:
      return "EPERM";
    case ENOSYS:
      return "ENOSYS";
    case EINVAL:
      return "EINVAL";
    case EFAULT:
      return "EFAULT";
    default:
      return fmt::format("errno {}", err);
  }
}

// Parses "name=value\n" lines.
std::map<std::string, std::string> parse_lines(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    const auto eq = line.find('=');
    if (eq != std::string::npos) out[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return out;
}

void load_default_in_this_child() {
  ctr::set_no_new_privs();
  ctr::load_default_seccomp();
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// ============================== the list ==============================

TEST(SeccompDefault, DeniesTheDangerousCalls) {
  const auto denied = SeccompFilter::docker_like_default().denied_syscalls();
  for (const char* name : {"add_key",
                           "request_key",
                           "keyctl",
                           "kexec_load",
                           "kexec_file_load",
                           "init_module",
                           "finit_module",
                           "delete_module",
                           "reboot",
                           "swapon",
                           "swapoff",
                           "open_by_handle_at",
                           "name_to_handle_at",
                           "userfaultfd",
                           "bpf",
                           "perf_event_open",
                           "acct",
                           "settimeofday",
                           "clock_settime",
                           "clock_adjtime",
                           "adjtimex",
                           "iopl",
                           "ioperm",
                           "lookup_dcookie",
                           "mount",
                           "umount2",
                           "pivot_root",
                           "unshare",
                           "setns",
                           "clone",
                           "clone3",
                           "vhangup",
                           "quotactl",
                           "nfsservctl",
                           "syslog",
                           "create_module",
                           "get_kernel_syms",
                           "query_module",
                           "uselib",
                           "ustat",
                           "sysfs",
                           "_sysctl",
                           "fsopen",
                           "fsconfig",
                           "fsmount",
                           "move_mount",
                           "open_tree",
                           "fspick",
                           "mount_setattr",
                           "kcmp",
                           "io_uring_setup",
                           "personality"}) {
    EXPECT_TRUE(contains(denied, name)) << name;
  }
}

TEST(SeccompDefault, AllowsWhatDockerAllows) {
  const auto denied = SeccompFilter::docker_like_default().denied_syscalls();
  // ptrace and process_vm_* are safe under seccomp since Linux 4.8, as docker says.
  for (const char* name : {"read", "write", "openat", "execve", "fork", "chroot", "ptrace",
                           "process_vm_readv", "process_vm_writev", "sethostname", "setuid",
                           "capset", "prctl", "seccomp", "close_range", "openat2"}) {
    EXPECT_FALSE(contains(denied, name)) << name;
  }
}

TEST(SeccompDefault, CloneIsRefusedOnlyWithNamespaceFlags) {
  const SeccompFilter f = SeccompFilter::docker_like_default();
  int clone_rules = 0;
  for (const auto& r : f.rules()) {
    if (r.syscall == "clone") {
      ++clone_rules;
      EXPECT_EQ(r.err, EPERM);
      EXPECT_EQ(r.when.rfind("flags & CLONE_NEW", 0), 0u) << r.when;
    }
    if (r.syscall == "clone3") {
      EXPECT_EQ(r.err, ENOSYS);
    }
    if (r.syscall == "keyctl") {
      EXPECT_EQ(r.when, "");
    }
    EXPECT_FALSE(r.why.empty()) << r.syscall;
  }
  EXPECT_EQ(clone_rules, 7);  // NS, UTS, IPC, USER, PID, NET, CGROUP
}

TEST(SeccompDefault, CoversThe32BitABIs) {
#if defined(__x86_64__)
  EXPECT_EQ(SeccompFilter::docker_like_default().architectures(),
            (std::vector<std::string>{"x86_64", "x86", "x32"}));
#else
  EXPECT_FALSE(SeccompFilter::docker_like_default().architectures().empty());
#endif
}

TEST(SeccompFilter, UnknownCallsAreNotAdded) {
  SeccompFilter f;
  EXPECT_FALSE(f.deny("no_such_call", EPERM));
  EXPECT_TRUE(f.deny("keyctl", EPERM));
  EXPECT_EQ(f.denied_syscalls(), std::vector<std::string>{"keyctl"});
}

TEST(SeccompFilter, ExportsABpfProgram) {
  const SeccompFilter f = SeccompFilter::docker_like_default();
  ctr::UniqueFd memfd(::memfd_create("bpf", MFD_CLOEXEC));
  ASSERT_TRUE(memfd);
  f.export_bpf(memfd.get());
  struct stat st {};
  ASSERT_EQ(::fstat(memfd.get(), &st), 0);
  EXPECT_GT(st.st_size, 0);
  EXPECT_EQ(st.st_size % 8, 0);     // struct sock_filter is 8 bytes
  EXPECT_LE(st.st_size / 8, 4096);  // BPF_MAXINSNS
}

TEST(SeccompFilter, MovesOwnership) {
  SeccompFilter a;
  a.deny("keyctl", EPERM);
  SeccompFilter b(std::move(a));
  // NOLINTNEXTLINE(bugprone-use-after-move,clang-analyzer-cplusplus.Move): the test's point
  EXPECT_EQ(a.get(), nullptr);
  EXPECT_NE(b.get(), nullptr);
  EXPECT_EQ(b.denied_syscalls().size(), 1u);
  a = std::move(b);
  EXPECT_NE(a.get(), nullptr);
}

// ============================== loaded ==============================

TEST(SeccompLoaded, NeedsNoNewPrivsWithoutCapSysAdmin) {
  const std::string got = in_child([] {
    // Root gives up CAP_SYS_ADMIN first (docker's 14 do not include it).
    if (::geteuid() == 0) ctr::apply_capabilities(ctr::default_capabilities());
    try {
      SeccompFilter::docker_like_default().load();
      return std::string("loaded");
    } catch (const ctr::SyscallError& e) {
      return std::string(e.what());
    }
  });
  EXPECT_NE(got.find("seccomp_load"), std::string::npos) << got;
  EXPECT_NE(got.find("no_new_privs"), std::string::npos) << got;
}

TEST(SeccompLoaded, RefusesTheDangerousCalls) {
  const std::string got = in_child([] {
    load_default_in_this_child();
    std::string out;
    // Harmless even if a call got through: reboot with a wrong magic number is EINVAL.
    out += "reboot=" + outcome(::syscall(SYS_reboot, 0, 0, 0, 0)) + "\n";
    out += "keyctl=" +
           outcome(::syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0)) +
           "\n";
    out += "add_key=" + outcome(::syscall(SYS_add_key, "user", "x", "y", 1, 0)) + "\n";
    out += "unshare=" + outcome(::unshare(CLONE_NEWNS)) + "\n";
    out += "setns=" + outcome(::setns(0, CLONE_NEWNET)) + "\n";
    out += "mount=" + outcome(::syscall(SYS_mount, "none", "/nonexistent", "tmpfs", 0, 0)) + "\n";
    out += "bpf=" + outcome(::syscall(SYS_bpf, 0, nullptr, 0)) + "\n";
    out += "userfaultfd=" + outcome(::syscall(SYS_userfaultfd, 0)) + "\n";
    out += "open_by_handle_at=" + outcome(::syscall(SYS_open_by_handle_at, -1, nullptr, 0)) + "\n";
    // clone with a namespace flag: refused. If it got through, the copy leaves at once.
    const long pid = ::syscall(SYS_clone, CLONE_NEWUTS | SIGCHLD, 0, 0, 0, 0);
    if (pid == 0) ::_exit(0);
    if (pid > 0) ::waitpid(static_cast<pid_t>(pid), nullptr, 0);
    out += "clone_newuts=" + outcome(pid) + "\n";
    // clone3: ENOSYS whatever the arguments (an invalid size, in case it got through).
    out += "clone3=" + outcome(::syscall(SYS_clone3, nullptr, 0)) + "\n";
    out += "personality_no_aslr=" + outcome(::personality(ADDR_NO_RANDOMIZE)) + "\n";
    return out;
  });
  const auto r = parse_lines(got);
  for (const char* call :
       {"reboot", "keyctl", "add_key", "unshare", "setns", "mount", "bpf", "userfaultfd",
        "open_by_handle_at", "clone_newuts", "personality_no_aslr"}) {
    EXPECT_EQ(r.count(call) ? r.at(call) : "missing", "EPERM") << call << "\n" << got;
  }
  EXPECT_EQ(r.count("clone3") ? r.at("clone3") : "missing", "ENOSYS") << got;
}

TEST(SeccompLoaded, OrdinaryCallsForkAndThreadsStillWork) {
  const std::string got = in_child([] {
    load_default_in_this_child();
    std::string out;
    out += "getpid=" + std::string(::syscall(SYS_getpid) == ::getpid() ? "same" : "differs") + "\n";
    const int fd = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    out += "open=" + std::string(fd >= 0 ? "ok" : "failed") + "\n";
    if (fd >= 0) ::close(fd);
    // fork: clone(SIGCHLD) without namespace flags.
    const pid_t pid = ::fork();
    if (pid == 0) ::_exit(7);
    int status = 0;
    ::waitpid(pid, &status, 0);
    out += fmt::format("fork={}\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    // A thread: glibc tries clone3, gets ENOSYS, falls back to clone(CLONE_VM|...).
    int from_thread = 0;
    std::thread t([&from_thread] { from_thread = 42; });
    t.join();
    out += fmt::format("thread={}\n", from_thread);
    // The personality query (0xffffffff) and the default persona stay allowed.
    out += "personality_query=" + std::string(::personality(0xffffffff) >= 0 ? "ok" : "refused") +
           "\n";
    out += "seccomp_mode=" +
           std::string(mc::test::read_file("/proc/self/status").find("Seccomp:\t2") !=
                               std::string::npos
                           ? "2"
                           : "?") +
           "\n";
    return out;
  });
  auto r = parse_lines(got);
  EXPECT_EQ(r["getpid"], "same") << got;
  EXPECT_EQ(r["open"], "ok") << got;
  EXPECT_EQ(r["fork"], "7") << got;
  EXPECT_EQ(r["thread"], "42") << got;
  EXPECT_EQ(r["personality_query"], "ok") << got;
  EXPECT_EQ(r["seccomp_mode"], "2") << got;
}

#if defined(__x86_64__)
// A 32-bit system call from a 64-bit process: `int $0x80` uses i386 numbers and i386's
// register convention, whatever the process is (the CVE-2009-0835 trick).
long int80(long nr, long a, long b, long c) {
  long ret;
  asm volatile("int $0x80"
               : "=a"(ret)
               : "a"(nr), "b"(a), "c"(b), "d"(c)
               : "memory", "r8", "r9", "r10", "r11");
  return ret;
}
constexpr long kI386Getpid = 20;
constexpr long kI386Keyctl = 288;
constexpr long kX32Bit = 0x40000000;  // __X32_SYSCALL_BIT

TEST(SeccompLoaded, A32BitCallCannotBypassTheFilter) {
  // Without a filter: does this kernel run int 0x80 at all (CONFIG_IA32_EMULATION)?
  const std::string control =
      in_child([] { return int80(kI386Getpid, 0, 0, 0) == ::getpid() ? "works" : "no ia32"; });
  if (control != "works") GTEST_SKIP() << "int 0x80 unavailable here: " << control;
  const std::string got = in_child([] {
    load_default_in_this_child();
    const long rc = int80(kI386Keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0);
    const long pid = int80(kI386Getpid, 0, 0, 0);
    return fmt::format("keyctl={} getpid={}", rc == -EPERM ? "EPERM" : std::to_string(rc),
                       pid == ::getpid() ? "works" : std::to_string(pid));
  });
  EXPECT_EQ(got, "keyctl=EPERM getpid=works");
}

TEST(SeccompLoaded, AnX32CallCannotBypassTheFilter) {
  // x32 shares x86_64's audit architecture; only bit 30 of the number tells them apart. Most
  // kernels have x32 off (ENOSYS), but the filter must refuse first either way.
  const std::string got = in_child([] {
    load_default_in_this_child();
    const long rc =
        ::syscall(kX32Bit | SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0);
    return outcome(rc);
  });
  EXPECT_EQ(got, "EPERM");
}
#endif

}  // namespace
