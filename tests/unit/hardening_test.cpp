// ctr hardening, devices and path resolution: the default lists and the --ulimit parser
// (no root), open_in_root against planted symlinks (no root), process attributes in forked
// children (no root), and, as root, setup_dev / mask_paths / make_paths_read_only on
// temporary trees, each in a forked child inside its own private mount namespace, with the
// host's mount table compared before and after.
#include "runtime/hardening.hpp"

#include <fcntl.h>           // open(2)
#include <linux/magic.h>     // TMPFS_MAGIC, DEVPTS_SUPER_MAGIC
#include <sched.h>           // unshare(2)
#include <sys/mount.h>       // mount(2)
#include <sys/prctl.h>       // prctl(2)
#include <sys/capability.h>  // cap_get_proc(3)
#include <sys/resource.h>    // getrlimit(2)
#include <sys/stat.h>        // stat(2)
#include <sys/statfs.h>      // statfs(2)
#include <sys/statvfs.h>     // statvfs(3)
#include <sys/sysmacros.h>   // major(3), minor(3)
#include <sys/wait.h>        // waitpid(2)
#include <unistd.h>          // fork(2), pipe2(2), _exit(2)

#include <cstdlib>     // mkdtemp(3)
#include <filesystem>  // temporary trees
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "runtime/devices.hpp"
#include "ctr/error.hpp"
#include "ctr/fd.hpp"
#include "ctr/mount.hpp"
#include "runtime/path.hpp"
#include "support.hpp"

namespace {

using mc::test::enter_user_namespace_as_root;
using mc::test::expect_usage_error;
using mc::test::in_child;

namespace fs = std::filesystem;
using ctr::UsageError;

// A temporary directory, removed with everything in it at the end of the scope.
struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "mc-hardening-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

void write_text(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  if (!in) return "<unreadable>";
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// In the forked child: a mount namespace of its own, nothing propagating back to the host.
void private_mount_namespace() {
  ctr::check(::unshare(CLONE_NEWNS), "unshare", "CLONE_NEWNS");
  ctr::check(::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr), "mount", "/");
}

// In the forked child: root of a new user namespace (uid/gid 0 mapped onto our own) with a
// mount namespace it owns, so mounts inherited from the host are now "locked".
void user_and_mount_namespace() {
  enter_user_namespace_as_root(CLONE_NEWNS);
  ctr::check(::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr), "mount", "/");
}

bool fd_open(int fd) {
  return ::fcntl(fd, F_GETFD) != -1;
}

std::set<std::string> entries(const fs::path& dir) {
  std::set<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.insert(e.path().filename().string());
  return out;
}

std::string write_error(const fs::path& p) {
  const int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd >= 0) {
    ::close(fd);
    return "writable";
  }
  return errno == EROFS ? "EROFS" : fmt::format("errno {}", errno);
}

// ============================== default lists ==============================

TEST(DefaultPaths, MaskedAreDockers) {
  EXPECT_EQ(ctr::default_masked_paths(),
            (std::vector<std::string>{"/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys",
                                      "/proc/latency_stats", "/proc/timer_list",
                                      "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
                                      "/sys/firmware", "/sys/devices/virtual/powercap"}));
}

TEST(DefaultPaths, ReadOnlyAreDockers) {
  EXPECT_EQ(ctr::default_read_only_paths(),
            (std::vector<std::string>{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                                      "/proc/sysrq-trigger"}));
}

TEST(DefaultDevices, AreTheSixOfTheOciSpec) {
  std::vector<std::string> got;
  for (const auto& d : ctr::default_devices())
    got.push_back(fmt::format("{}={}:{}", d.name, d.major, d.minor));
  EXPECT_EQ(got, (std::vector<std::string>{"null=1:3", "zero=1:5", "full=1:7", "random=1:8",
                                           "urandom=1:9", "tty=5:0"}));
}

// ============================== --ulimit ==============================

TEST(ParseUlimit, AcceptsDockersSyntax) {
  auto u = ctr::parse_ulimit("nofile=1024:4096");
  EXPECT_EQ(u.resource, RLIMIT_NOFILE);
  EXPECT_EQ(u.soft, 1024u);
  EXPECT_EQ(u.hard, 4096u);

  u = ctr::parse_ulimit("nproc=100");  // hard = soft, as docker does
  EXPECT_EQ(u.resource, RLIMIT_NPROC);
  EXPECT_EQ(u.soft, 100u);
  EXPECT_EQ(u.hard, 100u);

  u = ctr::parse_ulimit("core=0");
  EXPECT_EQ(u.resource, RLIMIT_CORE);
  EXPECT_EQ(u.hard, 0u);

  u = ctr::parse_ulimit("memlock=-1:-1");
  EXPECT_EQ(u.soft, RLIM_INFINITY);
  EXPECT_EQ(u.hard, RLIM_INFINITY);

  u = ctr::parse_ulimit("stack=8388608:unlimited");
  EXPECT_EQ(u.soft, 8388608u);
  EXPECT_EQ(u.hard, RLIM_INFINITY);
}

TEST(ParseUlimit, KnowsEveryDockerName) {
  for (const char* name : {"core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice",
                           "nofile", "nproc", "rss", "rtprio", "rttime", "sigpending", "stack"}) {
    const int r = ctr::rlimit_from_name(name);
    EXPECT_EQ(ctr::rlimit_name(r), name);
    EXPECT_EQ(ctr::parse_ulimit(fmt::format("{}=1", name)).resource, r);
  }
}

TEST(ParseUlimit, RejectsBadInputClearly) {
  expect_usage_error([] { ctr::parse_ulimit("nofile"); }, "expected NAME=SOFT[:HARD]");
  expect_usage_error([] { ctr::parse_ulimit("=1"); }, "expected NAME=SOFT[:HARD]");
  expect_usage_error([] { ctr::parse_ulimit("bogus=1"); }, "unknown ulimit 'bogus'");
  expect_usage_error([] { ctr::parse_ulimit("NOFILE=1"); }, "unknown ulimit 'NOFILE'");
  expect_usage_error([] { ctr::parse_ulimit("nofile=abc"); }, "soft limit 'abc' is not a number");
  expect_usage_error([] { ctr::parse_ulimit("nofile="); }, "soft limit '' is not a number");
  expect_usage_error([] { ctr::parse_ulimit("nofile=1:"); }, "hard limit '' is not a number");
  expect_usage_error([] { ctr::parse_ulimit("nofile=-2"); }, "not a number");
  expect_usage_error([] { ctr::parse_ulimit("nofile=1.5"); }, "not a number");
  expect_usage_error([] { ctr::parse_ulimit("nofile=99999999999999999999999"); }, "not a number");
  expect_usage_error([] { ctr::parse_ulimit("nofile=1:2:3"); }, "expected NAME=SOFT[:HARD]");
  expect_usage_error([] { ctr::parse_ulimit("nofile=4096:1024"); },
                     "soft limit 4096 is above the hard limit 1024");
  expect_usage_error([] { ctr::parse_ulimit("nofile=unlimited:1024"); },
                     "soft limit unlimited is above the hard limit 1024");
}

TEST(SetRlimit, LowersTheLimitsInAChild) {
  const std::string got = in_child([] {
    rlimit before{};
    ::getrlimit(RLIMIT_NOFILE, &before);
    const rlim_t hard = std::min<rlim_t>(before.rlim_max, 2048);
    ctr::apply_ulimits({{.resource = RLIMIT_NOFILE, .soft = 512, .hard = hard}});
    rlimit after{};
    ::getrlimit(RLIMIT_NOFILE, &after);
    return fmt::format("{} {}", after.rlim_cur, after.rlim_max == hard ? "hard-ok" : "hard-bad");
  });
  EXPECT_EQ(got, "512 hard-ok");
}

TEST(SetRlimit, DefaultNofileIs1024WithTheHardLimitUnchanged) {
  const std::string got = in_child([] {
    rlimit before{};
    ::getrlimit(RLIMIT_NOFILE, &before);
    ctr::set_default_nofile();
    rlimit after{};
    ::getrlimit(RLIMIT_NOFILE, &after);
    return fmt::format("soft={} hard-unchanged={}", after.rlim_cur,
                       after.rlim_max == before.rlim_max);
  });
  rlimit mine{};
  ::getrlimit(RLIMIT_NOFILE, &mine);
  EXPECT_EQ(got, fmt::format("soft={} hard-unchanged=true", std::min<rlim_t>(1024, mine.rlim_max)));
}

TEST(SetRlimit, RaisingAboveTheHardLimitFailsWithTheName) {
  const std::string got = in_child([] {
    // Raising a hard limit needs CAP_SYS_RESOURCE (setrlimit(2)): make sure we lack it, by
    // clearing it from our effective set (allowed to anyone).
    cap_t caps = ::cap_get_proc();
    const cap_value_t resource = CAP_SYS_RESOURCE;
    ::cap_set_flag(caps, CAP_EFFECTIVE, 1, &resource, CAP_CLEAR);
    const int dropped = ::cap_set_proc(caps);
    ::cap_free(caps);
    if (dropped != 0) return std::string("cap_set_proc failed");
    ctr::set_rlimit(RLIMIT_NOFILE, 16, 16);
    try {
      ctr::set_rlimit(RLIMIT_NOFILE, 32, 32);
      return std::string("raised");
    } catch (const ctr::SyscallError& e) {
      return std::string(e.what());
    }
  });
  EXPECT_EQ(got, "setrlimit('nofile'): Operation not permitted");
}

// ============================== descriptors ==============================

TEST(CloseFds, ClosesEverythingFromFirstButTheKeptOnes) {
  const std::string got = in_child([] {
    const int a = ::open("/dev/null", O_RDONLY);
    const int b = ::open("/dev/null", O_RDONLY);
    const int c = ::open("/dev/null", O_RDONLY);  // no O_CLOEXEC, like a leaked descriptor
    ctr::close_fds_from(3, {mc::test::in_child_report_fd(), b});
    return fmt::format("a={} b={} c={} stdio={}", fd_open(a), fd_open(b), fd_open(c),
                       fd_open(0) && fd_open(1) && fd_open(2));
  });
  EXPECT_EQ(got, "a=false b=true c=false stdio=true");
}

TEST(CloseFds, CloexecMarksWithoutClosing) {
  const std::string got = in_child([] {
    const int a = ::open("/dev/null", O_RDONLY);
    ctr::set_cloexec_from(3, {mc::test::in_child_report_fd()});
    const int flags = ::fcntl(a, F_GETFD);
    return fmt::format("open={} cloexec={}", flags != -1, (flags & FD_CLOEXEC) != 0);
  });
  EXPECT_EQ(got, "open=true cloexec=true");
}

// ============================== process attributes ==============================

TEST(Privileges, NoNewPrivsSticks) {
  const std::string got = in_child([] {
    const bool before = ctr::no_new_privs();
    ctr::set_no_new_privs();
    return fmt::format(
        "{} {} {}", before, ctr::no_new_privs(),
        mc::test::read_file("/proc/self/status").find("NoNewPrivs:\t1") != std::string::npos);
  });
  EXPECT_EQ(got, "false true true");
}

TEST(Privileges, DumpableCanBeTurnedOff) {
  const std::string got = in_child([] {
    ctr::set_dumpable(false);
    const bool off = !ctr::dumpable();
    ctr::set_dumpable(true);
    return fmt::format("{} {}", off, ctr::dumpable());
  });
  EXPECT_EQ(got, "true true");
}

TEST(Privileges, SetsidStartsANewSessionWithoutATerminal) {
  const std::string got = in_child([] {
    const pid_t sid = ctr::setsid();
    const int tty = ::open("/dev/tty", O_RDWR | O_CLOEXEC);  // ENXIO: no controlling terminal
    return fmt::format("sid-is-pid={} getsid={} tty={}", sid == ::getpid(),
                       ::getsid(0) == ::getpid(), tty >= 0 ? "open" : "none");
  });
  EXPECT_EQ(got, "sid-is-pid=true getsid=true tty=none");
}

// ============================== open_in_root ==============================

// root/etc/marker holds "inside"; outside/etc/marker (beside root) holds "outside".
struct Tree {
  TempDir tmp;
  fs::path root = tmp.path / "root";
  fs::path outside = tmp.path / "outside";
  Tree() {
    write_text(root / "etc/marker", "inside");
    write_text(outside / "etc/marker", "outside");
  }
};

std::string read_fd(const ctr::UniqueFd& fd) {
  std::string out;
  char buf[256];
  ssize_t n;
  while ((n = ::read(fd.get(), buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

int open_errno(const std::function<void()>& f) {
  try {
    f();
    return 0;
  } catch (const ctr::SyscallError& e) {
    return e.err();
  }
}

TEST(OpenInRoot, SymlinksResolveInsideTheRoot) {
  Tree t;
  fs::create_symlink("/etc", t.root / "abs");                 // absolute
  fs::create_symlink("../../../../../../..", t.root / "up");  // climbs far
  fs::create_symlink(t.outside, t.root / "escape");           // the host path
  EXPECT_EQ(read_fd(ctr::open_in_root(t.root, "etc/marker", O_RDONLY)), "inside");
  EXPECT_EQ(read_fd(ctr::open_in_root(t.root, "/etc/marker", O_RDONLY)), "inside");
  EXPECT_EQ(read_fd(ctr::open_in_root(t.root, "abs/marker", O_RDONLY)), "inside");
  EXPECT_EQ(read_fd(ctr::open_in_root(t.root, "up/etc/marker", O_RDONLY)), "inside");
  EXPECT_EQ(read_fd(ctr::open_in_root(t.root, "../../../etc/marker", O_RDONLY)), "inside");
  // The host path, read inside the root, does not exist there: never the outside file.
  EXPECT_EQ(open_errno([&] { ctr::open_in_root(t.root, "escape/etc/marker", O_RDONLY); }), ENOENT);
}

TEST(OpenInRoot, RefusesMagicLinks) {
  // /proc/self/root ignores every root: RESOLVE_NO_MAGICLINKS stops it.
  EXPECT_EQ(open_errno([] { ctr::open_in_root("/", "/proc/self/root/etc", O_PATH); }), ELOOP);
}

TEST(OpenInRoot, ErrorsNameThePath) {
  Tree t;
  try {
    ctr::open_in_root(t.root, "missing/file");
    ADD_FAILURE() << "no error";
  } catch (const ctr::SyscallError& e) {
    EXPECT_EQ(e.err(), ENOENT);
    EXPECT_NE(std::string(e.what()).find((t.root / "missing/file").string()), std::string::npos)
        << e.what();
  }
}

TEST(OpenInRootNoSymlinks, RefusesEverySymlinkAndClampsDotDot) {
  Tree t;
  fs::create_symlink("/etc", t.root / "abs");
  fs::create_symlink("etc", t.root / "rel");
  fs::create_symlink("marker", t.root / "etc/link");
  EXPECT_EQ(read_fd(ctr::open_in_root_no_symlinks(t.root, "etc/marker", O_RDONLY)), "inside");
  EXPECT_EQ(read_fd(ctr::open_in_root_no_symlinks(t.root, "../../etc/./marker", O_RDONLY)),
            "inside");
  EXPECT_EQ(read_fd(ctr::open_in_root_no_symlinks(t.root, "etc/../etc/marker", O_RDONLY)),
            "inside");
  EXPECT_EQ(open_errno([&] { ctr::open_in_root_no_symlinks(t.root, "abs/marker"); }), ELOOP);
  EXPECT_EQ(open_errno([&] { ctr::open_in_root_no_symlinks(t.root, "rel/marker"); }), ELOOP);
  EXPECT_EQ(open_errno([&] { ctr::open_in_root_no_symlinks(t.root, "etc/link"); }), ELOOP);
  EXPECT_EQ(open_errno([&] { ctr::open_in_root_no_symlinks(t.root, "etc/link", O_RDONLY); }),
            ELOOP);
  EXPECT_EQ(open_errno([&] { ctr::open_in_root_no_symlinks(t.root, "etc/marker/x"); }), ENOTDIR);
}

// ============================== mounts (root) ==============================

class MountTest : public ::testing::Test {
 protected:
  void SetUp() override { before_ = mc::test::HostSnapshot::take(); }
  void TearDown() override {
    EXPECT_EQ("", mc::test::diff(before_, mc::test::HostSnapshot::take()))
        << "the host's mount table changed";
  }
  mc::test::HostSnapshot before_;
};

TEST_F(MountTest, MaskPathsHidesFilesAndDirectoriesAndSkipsTheMissing) {
  MC_REQUIRE_ROOT();
  Tree t;
  write_text(t.root / "proc/kcore", "host memory");
  write_text(t.root / "proc/asound/card0/id", "sound");
  write_text(t.outside / "victim", "victim");
  // Planted by the "image": an absolute link to a host file. Inside the root it leads to
  // root/<tmp>/outside/victim, which does not exist: skipped, and the host file untouched.
  fs::create_symlink(t.outside / "victim", t.root / "proc/keys");
  const std::string got = in_child([&] {
    private_mount_namespace();
    ctr::mask_paths(ctr::default_masked_paths(), t.root);
    return fmt::format("kcore='{}' asound={} asound-write={} victim='{}' keys-mounted={}",
                       read_text(t.root / "proc/kcore"), entries(t.root / "proc/asound").size(),
                       write_error(t.root / "proc/asound/new"), read_text(t.outside / "victim"),
                       ctr::is_mount_point(t.outside / "victim"));
  });
  EXPECT_EQ(got, "kcore='' asound=0 asound-write=EROFS victim='victim' keys-mounted=false");
  EXPECT_EQ(read_text(t.root / "proc/kcore"), "host memory");  // only the child saw the mask
}

TEST_F(MountTest, MakePathsReadOnlyRemountsJustThosePaths) {
  MC_REQUIRE_ROOT();
  Tree t;
  write_text(t.root / "proc/sys/kernel/core_pattern", "core");
  write_text(t.root / "proc/other", "rw");
  write_text(t.root / "proc/sysrq-trigger", "");  // a file, bind-mounted onto itself
  const std::string got = in_child([&] {
    private_mount_namespace();
    ctr::make_paths_read_only({"/proc/sys", "/proc/missing", "/proc/sysrq-trigger"}, t.root);
    struct statvfs sv {};
    ::statvfs((t.root / "proc/sys").c_str(), &sv);
    const unsigned long want = ST_RDONLY | ST_NOSUID | ST_NODEV | ST_NOEXEC;
    return fmt::format("sys={} sysrq={} other={} flags={} core='{}'",
                       write_error(t.root / "proc/sys/kernel/core_pattern"),
                       write_error(t.root / "proc/sysrq-trigger"),
                       write_error(t.root / "proc/other"), (sv.f_flag & want) == want,
                       read_text(t.root / "proc/sys/kernel/core_pattern"));
  });
  EXPECT_EQ(got, "sys=EROFS sysrq=EROFS other=writable flags=true core='core'");
}

TEST_F(MountTest, MakePathsReadOnlyKeepsLockedFlagsInAUserNamespace) {
  MC_REQUIRE_ROOT();
  Tree t;
  fs::create_directories(t.root / "locked");
  const std::string got = in_child([&] {
    private_mount_namespace();
    // A mount with nosuid,nodev,noexec,noatime made outside the user namespace: inside it,
    // these flags are locked (mount_namespaces(7)).
    ctr::check(::mount("tmpfs", (t.root / "locked").c_str(), "tmpfs",
                       MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME, "size=64k"),
               "mount", "locked");
    write_text(t.root / "locked/file", "x");
    try {
      user_and_mount_namespace();
    } catch (const std::exception& e) {
      return std::string("skip: ") + e.what();
    }
    // The naive remount, which would clear noatime, is refused...
    const std::string dir = (t.root / "locked").string();
    ctr::check(::mount(dir.c_str(), dir.c_str(), nullptr, MS_BIND, nullptr), "mount", "bind");
    const int naive = ::mount(
        nullptr, dir.c_str(), nullptr,
        MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_STRICTATIME,
        nullptr);
    const std::string naive_result = naive == 0 ? "accepted" : (errno == EPERM ? "EPERM" : "?");
    // ...ours keeps what is there.
    ctr::make_paths_read_only({"/locked"}, t.root);
    struct statvfs sv {};
    ::statvfs(dir.c_str(), &sv);
    return fmt::format("naive={} write={} rdonly={} noatime={}", naive_result,
                       write_error(t.root / "locked/file"), (sv.f_flag & ST_RDONLY) != 0,
                       (sv.f_flag & ST_NOATIME) != 0);
  });
  if (got.rfind("skip: ", 0) == 0) MC_SKIP_OR_FAIL(got);
  EXPECT_EQ(got, "naive=EPERM write=EROFS rdonly=true noatime=true");
}

std::string describe_dev(const fs::path& dev) {
  std::string out = "entries=";
  for (const auto& e : entries(dev)) out += e + ",";
  struct stat st {};
  ::stat((dev / "null").c_str(), &st);
  out += fmt::format(" null={}:{}:{}:{:o}", S_ISCHR(st.st_mode) ? "chr" : "not-chr",
                     major(st.st_rdev), minor(st.st_rdev), st.st_mode & 07777);
  {
    std::ofstream null(dev / "null");
    null << "discarded";
    out += fmt::format(" null-write={}", null.good() ? "ok" : "failed");
  }
  out += fmt::format(" null-read='{}'", read_text(dev / "null"));
  char zeros[4] = {1, 1, 1, 1};
  std::ifstream(dev / "zero").read(zeros, 4);
  out += fmt::format(" zero={}", zeros[0] == 0 && zeros[3] == 0 ? "zeros" : "not-zeros");
  struct statfs fs {};
  ::statfs(dev.c_str(), &fs);
  out += fmt::format(" dev={}", fs.f_type == TMPFS_MAGIC ? "tmpfs" : "other");
  ::statfs((dev / "pts").c_str(), &fs);
  out += fmt::format(" pts={}", fs.f_type == DEVPTS_SUPER_MAGIC ? "devpts" : "other");
  ::statfs((dev / "shm").c_str(), &fs);
  ::stat((dev / "shm").c_str(), &st);
  out +=
      fmt::format(" shm={}:{:o}", fs.f_type == TMPFS_MAGIC ? "tmpfs" : "other", st.st_mode & 07777);
  out += fmt::format(" ptmx->{}", fs::read_symlink(dev / "ptmx").string());
  out += fmt::format(" fd->{}", fs::read_symlink(dev / "fd").string());
  // Opening ptmx allocates a terminal in *this* devpts instance: pts/0 appears there.
  const int master = ::open((dev / "ptmx").c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC);
  out += fmt::format(" pts0={}", master >= 0 && fs::exists(dev / "pts/0"));
  if (master >= 0) ::close(master);
  return out;
}

constexpr const char* kExpectedDev =
    "entries=fd,full,null,ptmx,pts,random,shm,stderr,stdin,stdout,tty,urandom,zero,"
    " null=chr:1:3:666 null-write=ok null-read='' zero=zeros dev=tmpfs pts=devpts "
    "shm=tmpfs:1777 ptmx->pts/ptmx fd->/proc/self/fd pts0=true";

TEST_F(MountTest, SetupDevMakesExactlyTheListedEntries) {
  MC_REQUIRE_ROOT();
  Tree t;
  write_text(t.root / "dev/sda", "a disk from the image");  // hidden under the tmpfs
  const std::string got = in_child([&] {
    private_mount_namespace();
    ctr::setup_dev(t.root, /*in_user_namespace=*/false);
    return describe_dev(t.root / "dev");
  });
  EXPECT_EQ(got, kExpectedDev);
}

TEST_F(MountTest, SetupDevCreatesAMissingDevDirectory) {
  MC_REQUIRE_ROOT();
  Tree t;
  const std::string got = in_child([&] {
    private_mount_namespace();
    ctr::setup_dev(t.root, false, /*mqueue=*/true);
    return std::string(fs::exists(t.root / "dev/null") ? "null " : "") +
           (ctr::is_mount_point(t.root / "dev/mqueue") ? "mqueue" : "");
  });
  EXPECT_EQ(got, "null mqueue");
}

TEST_F(MountTest, SetupDevInAUserNamespaceBindsTheHostsDevices) {
  MC_REQUIRE_ROOT();
  Tree t;
  fs::create_directories(t.root / "dev");
  const std::string got = in_child([&] {
    private_mount_namespace();
    try {
      user_and_mount_namespace();
    } catch (const std::exception& e) {
      return std::string("skip: ") + e.what();
    }
    ctr::setup_dev(t.root, /*in_user_namespace=*/true);
    return describe_dev(t.root / "dev");
  });
  if (got.rfind("skip: ", 0) == 0) MC_SKIP_OR_FAIL(got);
  EXPECT_EQ(got, kExpectedDev);
}

TEST_F(MountTest, SetupDevDoesNotFollowAPlantedSymlinkOutOfTheRoot) {
  MC_REQUIRE_ROOT();
  Tree t;
  fs::create_directories(t.outside / "dev");
  fs::create_symlink(t.outside / "dev", t.root / "dev");  // the image's /dev -> host path
  const std::string got = in_child([&] {
    private_mount_namespace();
    std::string result;
    try {
      ctr::setup_dev(t.root, false);
      result = "set up";
    } catch (const ctr::SyscallError& e) {
      result = e.err() == ENOENT ? "ENOENT" : e.what();
    }
    return fmt::format("{} outside-mounted={}", result, ctr::is_mount_point(t.outside / "dev"));
  });
  EXPECT_EQ(got, "ENOENT outside-mounted=false");
}

}  // namespace
