// The attack suite: each test runs one attack (tests/probes/attack.cpp) inside every step and
// inside mycontainer, and checks the outcome the steps are known to have. mycontainer, with
// its default options and with --userns, must block every one; the earlier steps show which
// step closes which hole; --privileged shows the holes it opens again on purpose.
//
// The expected outcomes are written as one string per attack, one letter per target, in
// the order of targets():
//
//     step 1 2 3 4 5 6 | mycontainer | --userns | --privileged | --seccomp unconfined
//     e.g. "S S B B B B    B             B          B"            (the last: syscalls only)
//
//   S  the attack SUCCEEDED there (a hole, known and documented)
//   B  it was BLOCKED
//   -  not run: meaningless or unsafe there (the test says why when it skips)
//
// step7_full_container/SECURITY.md has the same table, with the defence behind each B.
// A test that fails for mycontainer is a hole: SECURITY.md lists the open ones.
//
// Every attack is harmless even where it succeeds (the probe's header says how), and every
// test compares the host before and after: mounts, host name, network interfaces
// (host_check.hpp).
#include <fcntl.h>
#include <net/if.h>      // if_nameindex(3)
#include <signal.h>      // kill(2)
#include <sys/socket.h>  // socket(2), bind(2), listen(2)
#include <sys/stat.h>
#include <sys/sysmacros.h>  // major(3), minor(3)
#include <sys/un.h>         // sockaddr_un
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "host_check.hpp"
#include "steps.hpp"

namespace mc::test {
namespace {

namespace fs = std::filesystem;

struct Target {
  size_t index;  // its letter in an expectation string
  std::string name;
  int step;
  std::vector<std::string> options;
};

const std::vector<Target>& targets() {
  static const std::vector<Target> all = {
      {0, "step1", 1, {}},
      {1, "step2", 2, {}},
      {2, "step3", 3, {}},
      {3, "step4", 4, {}},
      {4, "step5", 5, {}},
      {5, "step6", 6, {}},
      {6, "mycontainer", 7, {}},
      {7, "userns", 7, {"--userns"}},
      {8, "privileged", 7, {"--privileged"}},
      {9, "seccomp_unconfined", 7, {"--seccomp", "unconfined"}},
  };
  return all;
}

std::vector<Target> first_targets(size_t n) {
  return {targets().begin(), targets().begin() + static_cast<std::ptrdiff_t>(n)};
}

std::string target_name(const ::testing::TestParamInfo<Target>& info) {
  return info.param.name;
}

// --privileged keeps every capability the runtime's own bounding set holds
// (ctr::all_capabilities), so it starts wherever the runtime does: nothing to skip.
std::optional<std::string> privileged_unavailable_here() {
  return std::nullopt;
}

// The probe's one line, split: "BLOCKED", "open(...): EROFS".
struct Verdict {
  std::string word;
  std::string detail;
  std::string raw;  // everything, for messages
};

Verdict parse_verdict(const RunResult& r) {
  Verdict v;
  v.raw = fmt::format("status {}\nstdout: {}\nstderr: {}", r.status, r.out, r.err);
  std::string line = r.out.substr(0, r.out.find('\n'));
  const auto space = line.find(' ');
  v.word = line.substr(0, space);
  v.detail = space == std::string::npos ? "" : line.substr(space + 1);
  return v;
}

// The probe run directly on the host, as real root: what the kernel itself allows. An
// attack the host's kernel lacks (SKIPPED) or refuses even to real root cannot be expected to
// succeed anywhere.
Verdict on_host(const std::vector<std::string>& args) {
  std::vector<std::string> argv{bin("probe_attack")};
  argv.insert(argv.end(), args.begin(), args.end());
  return parse_verdict(run(argv));
}

class Attack : public ::testing::TestWithParam<Target> {
 protected:
  void SetUp() override {
    MC_REQUIRE_ROOT();
    if (GetParam().name == "privileged") {
      if (auto why = privileged_unavailable_here()) GTEST_SKIP() << *why;
    }
    before_ = HostSnapshot::take();
  }
  void TearDown() override {
    if (!have_root() || IsSkipped()) return;
    // Blocked or not, the attack changed nothing on the host.
    EXPECT_EQ("", settled_host_diff(before_));
  }

  char expected(const std::string& row) const {
    const size_t i = GetParam().index;
    return i < row.size() ? row[i] : '-';
  }

  // Runs `attack ARGS...` in the target and returns its verdict.
  Verdict attack(const std::vector<std::string>& args,
                 const std::vector<std::string>& extra_options = {}) {
    auto probe = install_probe("attack");
    std::vector<std::string> command{probe.inside()};
    command.insert(command.end(), args.begin(), args.end());
    std::vector<std::string> options = GetParam().options;
    options.insert(options.end(), extra_options.begin(), extra_options.end());
    const RunResult r = run_step(step(GetParam().step), options, command);
    Verdict v = parse_verdict(r);
    EXPECT_EQ(r.status, 0) << v.raw;
    return v;
  }

  // The whole check: skip where the row says "-" or the host cannot show the attack, else
  // run it and compare. Returns the verdict (word empty when skipped).
  Verdict check(const std::string& row, const std::vector<std::string>& args,
                const std::string& why_not_run, bool baseline_on_host = false) {
    const char want = expected(row);
    if (want == '-') {
      skipped_ = why_not_run;
      return {};
    }
    if (baseline_on_host) {
      const Verdict host = on_host(args);
      if (host.word == "SKIPPED") {
        skipped_ = "this kernel cannot show it: " + host.detail;
        return {};
      }
      if (want == 'S' && host.word != "SUCCEEDED") {
        skipped_ = "even real root on this host is refused: " + host.detail;
        return {};
      }
    }
    Verdict v = attack(args);
    RecordProperty("verdict", v.word + " " + v.detail);  // in --gtest_output=xml
    const std::string word = want == 'S' ? "SUCCEEDED" : "BLOCKED";
    EXPECT_EQ(v.word, word) << "in " << GetParam().name << ": " << v.raw;
    return v;
  }

  std::string skipped_;  // set by check(): the test then skips with this reason
  HostSnapshot before_;
};

// Skips the current test when check() decided not to run it.
#define MC_CHECK_ATTACK(...)                         \
  do {                                               \
    check(__VA_ARGS__);                              \
    if (!skipped_.empty()) GTEST_SKIP() << skipped_; \
  } while (0)

const char* const kNoProcInStep1 =
    "step 1 mounts no /proc (and its root could mount one, or walk out of the chroot)";

// --- File system ------------------------------------------------------------------------------

TEST_P(Attack, ChrootEscape) {
  // chroot(2) NOTES: root makes a chroot below its working directory and climbs out. Closed
  // by pivot_root + detaching the old root (step 3): above the new root there is nothing.
  HostMarker marker;
  MC_CHECK_ATTACK("SSBBBBBBB", {"chroot_escape", marker.path()}, "");
}

// A block device real root can open on this host, as "MAJOR", "MINOR": the disk that holds
// the rootfs, or else a loop device (some hosts refuse even root the disk itself). Opened
// read-only here to make sure; nothing is read.
std::optional<std::pair<std::string, std::string>> openable_block_device() {
  std::vector<dev_t> candidates;
  struct stat st {};
  if (::stat(rootfs().c_str(), &st) == 0 && major(st.st_dev) != 0) candidates.push_back(st.st_dev);
  for (unsigned i = 0; i < 8; ++i) candidates.push_back(makedev(7, i));
  for (dev_t dev : candidates) {
    const std::string sys = fmt::format("/sys/dev/block/{}:{}", major(dev), minor(dev));
    if (!fs::exists(sys)) continue;
    const std::string node = fmt::format("/tmp/{}", unique_name("mct-blk"));
    if (::mknod(node.c_str(), S_IFBLK | 0600, dev) != 0) continue;
    const int fd = ::open(node.c_str(), O_RDONLY | O_CLOEXEC);
    ::unlink(node.c_str());
    if (fd < 0) continue;
    ::close(fd);
    return std::make_pair(std::to_string(major(dev)), std::to_string(minor(dev)));
  }
  return std::nullopt;
}

TEST_P(Attack, MknodOfABlockDeviceAndMountingIt) {
  // CAP_MKNOD (one of docker's 14) lets root make a node for any device; opening the host's
  // disk through it bypasses every file permission and the container's root. docker closes
  // it with the devices cgroup (v1 devices.deny "a", v2 a BPF device program) allowing only
  // its default devices. A user namespace closes it too: mknod of a device needs CAP_MKNOD
  // in the initial user namespace. Mounting it needs CAP_SYS_ADMIN and mount(2) (seccomp).
  const auto dev = openable_block_device();
  if (!dev) GTEST_SKIP() << "no block device that root may open on this host";
  // --privileged too: its node cannot be opened, every writable mount being nodev.
  MC_CHECK_ATTACK("SSSSSSBBB", {"mknod_block", dev->first, dev->second}, "");
}

// Skips the test unless the host has PATH (kernels differ: no sysrq, no kcore...).
#define MC_REQUIRE_ON_HOST(path)                                         \
  do {                                                                   \
    if (::access(path, F_OK) != 0) {                                     \
      GTEST_SKIP() << (path) << " does not exist on this host's kernel"; \
    }                                                                    \
  } while (0)

TEST_P(Attack, OpenSysrqTriggerForWriting) {
  // One byte to /proc/sysrq-trigger reboots or crashes the host. Closed by the read-only
  // bind mount over it (make_paths_read_only): EROFS.
  MC_REQUIRE_ON_HOST("/proc/sysrq-trigger");
  MC_CHECK_ATTACK("-SSSSSBBS", {"open_write", "/proc/sysrq-trigger"}, kNoProcInStep1);
}

TEST_P(Attack, OpenCorePatternForWriting) {
  // "|/path" in core_pattern makes the *host's* kernel run /path as root at the next crash
  // of any process. Closed by /proc/sys read-only.
  MC_REQUIRE_ON_HOST("/proc/sys/kernel/core_pattern");
  MC_CHECK_ATTACK("-SSSSSBBS", {"open_write", "/proc/sys/kernel/core_pattern"}, kNoProcInStep1);
}

// A file under /sys/kernel that root may write on this host.
std::string writable_sys_kernel_file() {
  for (const char* path :
       {"/sys/kernel/uevent_helper", "/sys/kernel/profiling", "/sys/kernel/rcu_expedited",
        "/sys/kernel/mm/transparent_hugepage/enabled"}) {
    struct stat st {};
    if (::stat(path, &st) == 0 && (st.st_mode & S_IWUSR) != 0) return path;
  }
  return "";
}

TEST_P(Attack, OpenSysKernelForWriting) {
  // /sys/kernel holds host-wide knobs (uevent_helper: a program the host runs as root on
  // every device event). Steps 3-6 mount sysfs read-write; step 7 read-only, --privileged
  // included.
  const std::string path = writable_sys_kernel_file();
  if (path.empty()) GTEST_SKIP() << "no writable file under /sys/kernel on this host";
  MC_CHECK_ATTACK("--SSSSBBB", {"open_write", path},
                  "steps 1 and 2 mount no /sys (their root could mount one)");
}

TEST_P(Attack, ReadProcKcore) {
  // /proc/kcore: the host's memory as an ELF core file. Closed by masking (/dev/null bound
  // over it); without the mask, also by lacking CAP_SYS_RAWIO.
  MC_REQUIRE_ON_HOST("/proc/kcore");
  MC_CHECK_ATTACK("-SSSSSBBS", {"read_file", "/proc/kcore"}, kNoProcInStep1);
}

TEST_P(Attack, ReadProcKeys) {
  // /proc/keys: the kernel keyring, which is not namespaced. Closed by masking.
  MC_REQUIRE_ON_HOST("/proc/keys");
  MC_CHECK_ATTACK("-SSSSSBBS", {"read_file", "/proc/keys"}, kNoProcInStep1);
}

// --- Namespaces inside the container -------------------------------------------------------------

TEST_P(Attack, NestedUnshareOfAUserNamespace) {
  // `unshare -Urm`: full capabilities over new namespaces; the first step of many kernel
  // exploits. Closed by seccomp (unshare, setns, clone with CLONE_NEW*). Steps 1 and 2 are
  // "blocked" by accident: the kernel refuses a new user namespace to a chrooted process
  // (unshare(2) EPERM); being real root with every capability there, it needs none.
  MC_CHECK_ATTACK("BBSSSSBBS", {"unshare_userns"}, "", /*baseline_on_host=*/true);
}

TEST_P(Attack, NestedUnshareAndAFreshProc) {
  // A fresh procfs has none of the masks. Closed by seccomp; also by the masks themselves:
  // the kernel refuses a new proc where the existing one is partly covered
  // (mount_too_revealing), which is why --privileged (no masks) lets it through.
  MC_CHECK_ATTACK("BBSSSSBBS", {"fresh_proc"}, "", /*baseline_on_host=*/true);
}

TEST_P(Attack, NestedUnshareAndACgroupV1ReleaseAgent) {
  // CVE-2022-0492: mount a cgroup v1 hierarchy in a new user+cgroup namespace and set
  // release_agent, a program the host runs as root. Closed by seccomp. (Steps 1-6 are real
  // root: they could mount a hierarchy without any user namespace.)
  MC_CHECK_ATTACK("BBSSSSBBS", {"release_agent"}, "", /*baseline_on_host=*/true);
}

// --- Escapes by handle, host processes, host name ------------------------------------------------

// The highest directory on the same file system as `path`: its root (or the mount's).
fs::path file_system_root(const fs::path& path) {
  struct stat here {};
  ::stat(path.c_str(), &here);
  fs::path p = fs::canonical(path);
  while (p.has_parent_path() && p != p.root_path()) {
    struct stat up {};
    if (::stat(p.parent_path().c_str(), &up) != 0 || up.st_dev != here.st_dev) break;
    p = p.parent_path();
  }
  return p;
}

TEST_P(Attack, OpenByHandleOfTheHostsRoot) {
  // "Shocker" (docker 0.11, 2014): open_by_handle_at(2) opens any inode of a mounted file
  // system, whatever the container's root. Closed by seccomp and by dropping
  // CAP_DAC_READ_SEARCH, each on its own.
  HostMarker marker;
  const fs::path root = file_system_root(rootfs());
  struct stat a {
  }, b{};
  ::stat(root.c_str(), &a);
  ::stat(marker.path().c_str(), &b);
  if (a.st_dev != b.st_dev) GTEST_SKIP() << "the rootfs and /tmp are on different file systems";
  // The handle of the host's root inode, as the exploit would have guessed it.
  std::vector<unsigned char> storage(sizeof(file_handle) + MAX_HANDLE_SZ);
  auto* handle = reinterpret_cast<file_handle*>(storage.data());
  handle->handle_bytes = MAX_HANDLE_SZ;
  int mount_id = 0;
  ASSERT_EQ(::name_to_handle_at(AT_FDCWD, root.c_str(), handle, &mount_id, 0), 0)
      << "this file system has no file handles";
  std::string hex;
  for (unsigned i = 0; i < handle->handle_bytes; ++i) {
    hex += fmt::format("{:02x}", storage[sizeof(file_handle) + i]);
  }
  const std::string relative = fs::relative(marker.path(), root).string();
  MC_CHECK_ATTACK("SSSSSSBBS",
                  {"open_by_handle", std::to_string(handle->handle_type), hex, relative}, "");
}

std::string host_uts_namespace() {
  char ns[64] = {};
  (void)!::readlink("/proc/self/ns/uts", ns, sizeof ns - 1);
  return ns;
}

TEST_P(Attack, SethostnameLeaksToTheHost) {
  // Steps 1-3 share the host's UTS namespace: sethostname there renames the host. The probe
  // proves the sharing and does NOT call it; from step 4 on it calls it in the container's
  // own namespace (or is refused: no CAP_SYS_ADMIN in mycontainer), and the host's name
  // must not change.
  char before[256] = {};
  ::gethostname(before, sizeof before - 1);
  MC_CHECK_ATTACK("-SSBBBBBB", {"sethostname", host_uts_namespace()},
                  "step 1 has no /proc to prove its UTS namespace is the host's, so the probe "
                  "cannot make sure sethostname would not rename the host: not run");
  char after[256] = {};
  ::gethostname(after, sizeof after - 1);
  EXPECT_STREQ(before, after);
}

// A process of the host's that the probe may look at: `sleep`, killed afterwards.
class HostSleep {
 public:
  HostSleep() {
    pid_ = ::fork();
    if (pid_ == 0) {
      ::execl("/bin/sleep", "sleep", "120", static_cast<char*>(nullptr));
      ::_exit(127);
    }
  }
  ~HostSleep() {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  HostSleep(const HostSleep&) = delete;
  HostSleep& operator=(const HostSleep&) = delete;
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_;
};

TEST_P(Attack, SeeSignalOrPtraceAHostProcess) {
  // kill(pid, 0), /proc/PID and PTRACE_SEIZE on a host process. Closed by the PID namespace
  // (step 2): the host's PIDs do not exist inside.
  HostSleep sleeper;
  MC_CHECK_ATTACK("SBBBBBBBB", {"host_process", std::to_string(sleeper.pid())}, "");
  // Whatever the probe did, the process is still there, not stopped.
  const std::string stat = read_file(fmt::format("/proc/{}/stat", sleeper.pid()));
  EXPECT_NE(stat.find(") S "), std::string::npos) << stat;
}

// --- Privileges --------------------------------------------------------------------------------

TEST_P(Attack, CapabilitiesNoNewPrivsAndSeccomp) {
  // Every step before 7 runs the command as real root with every capability, no
  // no_new_privs, no seccomp filter. Step 7: docker's 14 capabilities, no_new_privs, filter.
  const Verdict v = check("SSSSSSBBS", {"privileges"}, "");
  if (!skipped_.empty()) GTEST_SKIP() << skipped_;
  if (GetParam().name == "mycontainer" || GetParam().name == "userns") {
    EXPECT_EQ(v.detail,
              "CapEff=00000000a80405fb CapPrm=00000000a80405fb CapBnd=00000000a80405fb "
              "CapInh=0000000000000000 CapAmb=0000000000000000 NoNewPrivs=1 Seccomp=2");
  }
  if (GetParam().step < 7 || GetParam().name == "privileged") {
    EXPECT_NE(v.detail.find("NoNewPrivs=0 Seccomp=0"), std::string::npos) << v.detail;
  }
}

// --- Leaks of the host's resources ---------------------------------------------------------------

TEST_P(Attack, LeakedDescriptors) {
  // CVE-2024-21626 ("Leaky Vessels"): a descriptor of a host directory that reaches the
  // container is a way out (openat(fd, "..")). Here whoever starts the container leaks one,
  // /tmp of the host, without O_CLOEXEC. Closed in step 7 by marking every descriptor >= 3
  // close-on-exec before the command runs (set_cloexec_from).
  const int leaked = ::open("/tmp", O_RDONLY | O_DIRECTORY);  // no O_CLOEXEC, on purpose
  ASSERT_GE(leaked, 3);
  check("SSSSSSBBB", {"leaked_fds"}, "");
  ::close(leaked);
  if (!skipped_.empty()) GTEST_SKIP() << skipped_;
}

// "eth0:2 ctr0:3 ...": the host's interfaces and their indexes, lo left out (every network
// namespace has an lo with index 1).
std::vector<std::string> host_interfaces() {
  std::vector<std::string> out;
  if (struct if_nameindex* list = ::if_nameindex()) {
    for (struct if_nameindex* i = list; i->if_index != 0; ++i) {
      if (std::string(i->if_name) != "lo")
        out.push_back(fmt::format("{}:{}", i->if_name, i->if_index));
    }
    ::if_freenameindex(list);
  }
  return out;
}

TEST_P(Attack, ListHostInterfaces) {
  // Closed by the network namespace (step 5): only lo and the container's own eth0.
  std::vector<std::string> args{"net_ifaces"};
  for (const auto& i : host_interfaces()) args.push_back(i);
  if (args.size() == 1) GTEST_SKIP() << "the host has no interface but lo";
  MC_CHECK_ATTACK("SSSSBBBBB", args, "");
}

// A listening abstract unix socket on the host ("@mct-abstract-PID-N").
class HostAbstractSocket {
 public:
  HostAbstractSocket() : name_(unique_name("mct-abstract")) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path + 1, name_.data(), name_.size());
    const auto size = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name_.size());
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), size) != 0 || ::listen(fd_, 8) != 0) {
      throw std::runtime_error("cannot listen on @" + name_);
    }
  }
  ~HostAbstractSocket() { ::close(fd_); }
  HostAbstractSocket(const HostAbstractSocket&) = delete;
  HostAbstractSocket& operator=(const HostAbstractSocket&) = delete;
  const std::string& name() const { return name_; }

 private:
  std::string name_;
  int fd_ = -1;
};

TEST_P(Attack, ReachAHostAbstractSocket) {
  // Abstract unix sockets live in the network namespace, not in the file system: chroot and
  // a mount namespace do not hide them (X11's @/tmp/.X11-unix/X0, containerd-shim's socket
  // in CVE-2020-15257). Closed by the network namespace (step 5).
  HostAbstractSocket listener;
  MC_CHECK_ATTACK("SSSSBBBBB", {"abstract_socket", listener.name()}, "");
}

INSTANTIATE_TEST_SUITE_P(Targets, Attack, ::testing::ValuesIn(first_targets(9)), target_name);

// --- Privileged system calls -------------------------------------------------------------------

// Calls that need a capability none of docker's 14 gives (keyctl: none at all; only seccomp
// stands in its way). Each is made with arguments the kernel refuses *after* its permission
// check, so EPERM means refused and anything else means allowed, and nothing happens either
// way. The 10th target, mycontainer --seccomp unconfined, shows that the missing
// capabilities alone still refuse all of them but keyctl.
class CapGatedSyscall : public ::testing::TestWithParam<std::tuple<Target, std::string>> {};

TEST_P(CapGatedSyscall, FailsWithEperm) {
  MC_REQUIRE_ROOT();
  const auto& [target, call] = GetParam();
  const std::string row = call == "keyctl" ? "SSSSSSBBSS" : "SSSSSSBBSB";
  const char want = row[target.index];
  if (target.name == "privileged") {
    if (auto why = privileged_unavailable_here()) GTEST_SKIP() << *why;
  }
  // A call this kernel lacks (ENOSYS) cannot succeed anywhere; where the filter refuses it,
  // it still answers EPERM, since seccomp runs before the kernel looks the call up.
  const Verdict host = on_host({"syscall", call});
  if (want == 'S' && host.word == "SKIPPED") GTEST_SKIP() << host.detail;
  if (want == 'S' && host.word != "SUCCEEDED") {
    GTEST_SKIP() << "even real root on this host is refused: " << host.detail;
  }
  const auto before = HostSnapshot::take();
  auto probe = install_probe("attack");
  const RunResult r =
      run_step(step(target.step), target.options, {probe.inside(), "syscall", call});
  const Verdict v = parse_verdict(r);
  RecordProperty("verdict", v.word + " " + v.detail);
  EXPECT_EQ(r.status, 0) << v.raw;
  EXPECT_EQ("", settled_host_diff(before));
  if (want == 'B' && host.word == "SKIPPED" && v.word == "SKIPPED") {
    GTEST_SKIP() << "the filter lets it through and this kernel lacks it: " << v.detail;
  }
  EXPECT_EQ(v.word, want == 'S' ? "SUCCEEDED" : "BLOCKED") << "in " << target.name << ": " << v.raw;
  if (want == 'B' && call != "iopl") {
    EXPECT_EQ(v.detail, call + ": EPERM");
  }
}

INSTANTIATE_TEST_SUITE_P(
    Targets, CapGatedSyscall,
    ::testing::Combine(::testing::ValuesIn(targets()),
                       ::testing::Values("reboot", "finit_module", "keyctl", "kexec_load", "swapon",
                                         "settimeofday", "iopl", "acct")),
    [](const auto& info) { return std::get<0>(info.param).name + "_" + std::get<1>(info.param); });

// --- mycontainer's options that reopen holes on purpose
// -------------------------------------------

class MycontainerOptions : public ::testing::Test {
 protected:
  void SetUp() override {
    MC_REQUIRE_ROOT();
    before_ = HostSnapshot::take();
  }
  void TearDown() override {
    if (have_root()) {
      EXPECT_EQ("", settled_host_diff(before_));
    }
  }
  Verdict attack(const std::vector<std::string>& options, const std::vector<std::string>& args) {
    auto probe = install_probe("attack");
    std::vector<std::string> command{probe.inside()};
    command.insert(command.end(), args.begin(), args.end());
    const RunResult r = run_step(step(7), options, command);
    Verdict v = parse_verdict(r);
    EXPECT_EQ(r.status, 0) << v.raw;
    return v;
  }
  HostSnapshot before_;
};

TEST_F(MycontainerOptions, NetHostSharesInterfacesAndAbstractSockets) {
  // --net host: the host's network namespace, as docker's: its interfaces and its abstract
  // sockets are the container's.
  std::vector<std::string> args{"net_ifaces"};
  for (const auto& i : host_interfaces()) args.push_back(i);
  if (args.size() > 1) {
    EXPECT_EQ(attack({"--net", "host"}, args).word, "SUCCEEDED");
  }
  HostAbstractSocket listener;
  EXPECT_EQ(attack({"--net", "host"}, {"abstract_socket", listener.name()}).word, "SUCCEEDED");
}

TEST_F(MycontainerOptions, NoNewPrivilegesFalseOnlyClearsNoNewPrivs) {
  const Verdict v = attack({"--security-opt", "no-new-privileges=false"}, {"privileges"});
  EXPECT_EQ(v.word, "SUCCEEDED");
  EXPECT_NE(v.detail.find("CapBnd=00000000a80405fb"), std::string::npos) << v.detail;
  EXPECT_NE(v.detail.find("NoNewPrivs=0 Seccomp=2"), std::string::npos) << v.detail;
}

TEST_F(MycontainerOptions, CapDropAllLeavesNoCapability) {
  const Verdict v = attack({"--cap-drop", "ALL"}, {"privileges"});
  EXPECT_EQ(v.word, "BLOCKED");
  EXPECT_NE(v.detail.find("CapEff=0000000000000000 CapPrm=0000000000000000 "
                          "CapBnd=0000000000000000"),
            std::string::npos)
      << v.detail;
}

TEST_F(MycontainerOptions, CapAddSysAdminStillCannotMountOrUnshare) {
  // Unlike docker, the filter refuses mount and unshare even with CAP_SYS_ADMIN (seccomp.hpp).
  EXPECT_EQ(attack({"--cap-add", "SYS_ADMIN"}, {"unshare_userns"}).word, "BLOCKED");
  EXPECT_EQ(attack({"--cap-add", "SYS_ADMIN"}, {"release_agent"}).word, "BLOCKED");
}

TEST_F(MycontainerOptions, ReadOnlyRootStillHasNoBlockDevice) {
  // With --read-only the probe cannot make a node in /tmp; /dev (a tmpfs) is still writable.
  const auto dev = openable_block_device();
  if (!dev) GTEST_SKIP() << "no block device that root may open on this host";
  EXPECT_EQ(attack({"--read-only"}, {"mknod_block", dev->first, dev->second}).word, "BLOCKED");
}

// --- Issue #17: the holes an outside attack found -----------------------------------------------
// Each fails on the code before the fix (checked by hand against the old binary).

// Item 1, the shape of runc CVE-2024-21626: a directory descriptor the caller leaked, named as
// the working directory through /proc/self/fd/N. Refused before the command runs.
TEST_F(MycontainerOptions, WorkdirThroughALeakedDescriptorIsRefused) {
  const int leaked = ::open("/var/tmp", O_RDONLY | O_DIRECTORY);  // no O_CLOEXEC, on purpose
  ASSERT_GE(leaked, 3);
  auto probe = install_probe("attack");
  const RunResult r =
      run_step(step(7), {"--net", "none", "-w", fmt::format("/proc/self/fd/{}", leaked)},
               {probe.inside(), "cwd_outside"});
  ::close(leaked);
  EXPECT_EQ(r.out.find("SUCCEEDED"), std::string::npos) << r.out << r.err;
  EXPECT_EQ(r.status, 125) << r.out << r.err;
  EXPECT_NE(r.err.find("/proc/self/fd/"), std::string::npos) << r.err;
}

// Item 2: a call newer than libseccomp (open_tree_attr, Linux 6.15) is refused by the allow
// list even with CAP_SYS_ADMIN; a deny list let it clone /proc without its masks.
TEST_F(MycontainerOptions, OpenTreeAttrIsRefusedEvenWithSysAdmin) {
  const Verdict v = attack({"--net", "none", "--cap-add", "SYS_ADMIN"}, {"open_tree_attr"});
  EXPECT_EQ(v.word, "BLOCKED") << v.raw;
  EXPECT_TRUE(v.detail == "open_tree_attr: ENOSYS" || v.detail == "open_tree_attr: EPERM")
      << v.detail;
}

// The default filter lists x86_64 and x86, not x32 (seccomp.hpp): a call with x32's number bit
// must meet libseccomp's bad-architecture action (the process dies of SIGSYS), not the
// x86_64 rules, and not an ENOSYS that only says this kernel has x32 off.
TEST_F(MycontainerOptions, AnX32SystemCallIsKilledByTheFilter) {
#if !defined(__x86_64__)
  GTEST_SKIP() << "x32 is an x86_64 ABI";
#endif
  const Verdict v = attack({"--net", "none"}, {"x32_syscall"});
  EXPECT_EQ(v.word + " " + v.detail, "BLOCKED x32 keyctl: killed by SIGSYS") << v.raw;
}

// Item 3: `#!/proc/self/exe` in a script run by a relative path from the working directory
// (the check resolved it from "/"), and the same script execute-only for another user.
TEST_F(MycontainerOptions, RelativeScriptNamingProcSelfExeIsRefused) {
  char tmpl[] = "/tmp/mc-entry.XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  { std::ofstream(dir + "/entry.sh") << "#!/proc/self/exe\n"; }
  ::chmod((dir + "/entry.sh").c_str(), 0711);
  ::chmod(dir.c_str(), 0755);
  for (const auto& user : std::vector<std::vector<std::string>>{{}, {"-u", "1000"}}) {
    std::vector<std::string> options{"--net", "none", "-v", dir + ":/app", "-w", "/app"};
    options.insert(options.end(), user.begin(), user.end());
    const RunResult r = run_step(step(7), options, {"./entry.sh"});
    EXPECT_EQ(r.status, 126) << r.out << r.err;
    EXPECT_NE(r.err.find("execve"), std::string::npos) << r.err;
  }
  fs::remove_all(dir);
}

// Item 4: --init is the runtime's binary and never execs: it must close what the caller
// leaked (close-on-exec never fires there), or /proc/1/fd/N opens it with CAP_SYS_PTRACE.
TEST_F(MycontainerOptions, InitHoldsNoLeakedDescriptor) {
  const int leaked = ::open("/var/tmp", O_RDONLY | O_DIRECTORY);  // no O_CLOEXEC, on purpose
  ASSERT_GE(leaked, 3);
  const Verdict v = attack({"--net", "none", "--init", "--cap-add", "SYS_PTRACE"}, {"init_fds"});
  ::close(leaked);
  EXPECT_EQ(v.word, "BLOCKED") << v.raw;
}

// Item 5: root in the container made a setuid-root file in the shared rootfs, which host
// users could run. The filter refuses the set-id bits (SECURITY.md says why this way).
TEST_F(MycontainerOptions, NoSetuidFileInTheSharedRootfs) {
  const std::string name = fmt::format("/tmp/mc-suid-{}", ::getpid());
  EXPECT_EQ(attack({"--net", "none"}, {"setuid_file", name}).word, "BLOCKED");
  EXPECT_EQ(attack({"--net", "none", "--userns"}, {"setuid_file", name}).word, "BLOCKED");
  EXPECT_FALSE(fs::exists(rootfs() + name));
}

// Item 8: ARP spoofing on the bridge needs a packet (or raw) socket: without CAP_NET_RAW none
// opens. ping still works, through an ICMP datagram socket (ping_group_range of the
// container's own network namespace), to the gateway of the project's bridge.
TEST_F(MycontainerOptions, NoRawSocketsButPingWorks) {
  EXPECT_EQ(attack({}, {"raw_sockets"}).word, "BLOCKED");
  EXPECT_EQ(attack({}, {"icmp_ping", "10.47.0.1"}).word, "SUCCEEDED");
  EXPECT_EQ(attack({"--userns"}, {"icmp_ping", "10.47.0.1"}).word, "SUCCEEDED");
  EXPECT_EQ(attack({"-u", "1000"}, {"icmp_ping", "10.47.0.1"}).word, "SUCCEEDED");
  // The host's own range is untouched.
  EXPECT_EQ(read_file("/proc/sys/net/ipv4/ping_group_range").find("2147483647"), std::string::npos);
}

}  // namespace
}  // namespace mc::test
