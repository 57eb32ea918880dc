// Attacks planted in the image, against mycontainer: a rootfs is untrusted input. Symlinks at
// /proc, /dev, /sys or a volume's target that point outside (runc CVE-2019-19921,
// CVE-2021-30465), and the runtime's own binary reached through /proc (CVE-2019-5736).
//
// Each test makes its own copy of the test rootfs (2 MB) and plants the trap there; the real
// rootfs is never changed. Only mycontainer is tested: steps 1-6 trust their rootfs (they
// mount onto paths resolved on the host); SECURITY.md says so.
//
// What "blocked" means for a planted symlink: mycontainer either refuses to start (exit
// 125, one line), or mounts *inside* the rootfs, where the symlink points when "/" is the
// rootfs. Never onto the host directory it names, and the host is unchanged afterwards.
#include <fcntl.h>
#include <signal.h>  // kill(2)
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "background.hpp"
#include "ctr/uts.hpp"  // ctr::kernel_at_least
#include "host_check.hpp"
#include "steps.hpp"

namespace mc::test {
namespace {

namespace fs = std::filesystem;

// A copy of the test rootfs in a temporary directory, removed afterwards (remove_all does
// not follow the symlinks planted in it).
class RootfsCopy {
 public:
  RootfsCopy() : path_(fmt::format("/tmp/{}", unique_name("mct-rootfs"))) {
    const auto r = run({"/bin/cp", "-a", rootfs(), path_});
    if (r.status != 0) throw std::runtime_error("cp -a failed: " + r.err);
  }
  ~RootfsCopy() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  RootfsCopy(const RootfsCopy&) = delete;
  RootfsCopy& operator=(const RootfsCopy&) = delete;
  const std::string& path() const { return path_; }

  // Replaces ROOTFS/NAME (a directory) with a symlink to `target`.
  void plant_symlink(const std::string& name, const std::string& target) const {
    fs::remove_all(path_ + "/" + name);
    fs::create_symlink(target, path_ + "/" + name);
  }
  // Copies the dynamic loader and the libraries of build/bin/mycontainer (ldd(1)) to their
  // paths inside: with them, the runtime's own binary could run inside the container.
  void add_runtime_libraries() const {
    const auto r = run({"/usr/bin/ldd", bin("mycontainer")});
    std::istringstream lines(r.out);
    for (std::string word; lines >> word;) {
      if (word.empty() || word[0] != '/') continue;
      const fs::path inside = path_ + word;
      fs::create_directories(inside.parent_path());
      fs::copy_file(fs::canonical(word), inside, fs::copy_options::overwrite_existing);
    }
  }
  // Copies build/bin/probe_attack to ROOTFS/attack; returns its path inside.
  std::string install_attack_probe() const {
    fs::copy_file(bin("probe_attack"), path_ + "/attack", fs::copy_options::overwrite_existing);
    return "/attack";
  }

 private:
  std::string path_;
};

// A directory on the host, outside every rootfs, with one file in it; the test checks it is
// never changed and never becomes a mount point.
class HostDir {
 public:
  HostDir() : path_(fmt::format("/tmp/{}", unique_name("mct-outside"))) {
    fs::create_directory(path_);
    std::ofstream(path_ + "/host-file") << "host\n";
  }
  ~HostDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  HostDir(const HostDir&) = delete;
  HostDir& operator=(const HostDir&) = delete;
  const std::string& path() const { return path_; }
  // Everything below it, as relative paths, sorted: "host-file" and nothing else unless the
  // test adds more, before and after.
  std::vector<std::string> entries() const {
    std::vector<std::string> out;
    for (const auto& e : fs::recursive_directory_iterator(path_))
      out.push_back(fs::relative(e.path(), path_));
    std::sort(out.begin(), out.end());
    return out;
  }

 private:
  std::string path_;
};

RunResult mycontainer(const std::string& rootfs, const std::vector<std::string>& options,
                      const std::vector<std::string>& command) {
  std::vector<std::string> argv{bin("mycontainer"), "run", "--rootfs", rootfs};
  argv.insert(argv.end(), options.begin(), options.end());
  argv.emplace_back("--");
  argv.insert(argv.end(), command.begin(), command.end());
  return run(argv);
}

std::string first_line(const std::string& s) {
  return s.substr(0, s.find('\n'));
}

class PlantedSymlink : public ::testing::TestWithParam<std::vector<std::string>> {
 protected:
  void SetUp() override {
    MC_REQUIRE_ROOT();
    before_ = HostSnapshot::take();
  }
  void TearDown() override {
    if (!have_root()) return;
    EXPECT_EQ(outside_.entries(), outside_expected_)
        << "the host directory the symlink names was changed";
    EXPECT_EQ("", settled_host_diff(before_));
  }
  // Refused or contained: exit 125 with one line, or exit 0 with the check inside passing.
  void expect_refused_or_inside(const RunResult& r, const std::string& what) {
    if (r.status == 125) {
      EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
      return;
    }
    EXPECT_EQ(r.status, 0) << what << "\nstdout: " << r.out << "\nstderr: " << r.err;
  }
  std::vector<std::string> options() const { return GetParam(); }

  HostDir outside_;
  std::vector<std::string> outside_expected_{"host-file"};  // what outside_ holds throughout
  RootfsCopy copy_;
  HostSnapshot before_;
};

// The symlink's target written two ways: absolute, and with enough ".." to climb out of any
// rootfs if it were resolved on the host.
std::vector<std::string> spellings(const std::string& host_dir) {
  return {host_dir, "../../../../../../../../.." + host_dir};
}

TEST_P(PlantedSymlink, ProcPointingOutsideIsMountedInside) {
  // The symlink's target also exists inside the rootfs: resolved with the rootfs as "/",
  // that is where proc belongs, and the masks and read-only paths must land on it too.
  for (const auto& target : spellings(outside_.path())) {
    SCOPED_TRACE(target);
    copy_.plant_symlink("proc", target);
    fs::create_directories(copy_.path() + outside_.path());
    const std::string probe = copy_.install_attack_probe();
    const auto r = mycontainer(
        copy_.path(), options(),
        {"/bin/sh", "-c",
         fmt::format("test -r /proc/self/status || {{ echo 'no proc at /proc'; exit 3; }}; "
                     "{0} open_write /proc/sys/kernel/core_pattern; {0} read_file /proc/keys",
                     probe)});
    expect_refused_or_inside(r, "proc must be mounted where /proc points inside");
    if (r.status == 0) {
      EXPECT_EQ(r.out.find("SUCCEEDED"), std::string::npos)
          << "a mask or read-only path missed the proc mount:\n"
          << r.out;
      EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 2) << r.out;
    }
    fs::remove_all(copy_.path() + outside_.path());
  }
}

TEST_P(PlantedSymlink, ProcPointingNowhereInsideIsRefused) {
  // The target exists only on the host: inside the rootfs the symlink dangles.
  for (const auto& target : spellings(outside_.path())) {
    SCOPED_TRACE(target);
    copy_.plant_symlink("proc", target);
    const auto r = mycontainer(copy_.path(), options(), {"/bin/true"});
    EXPECT_EQ(r.status, 125) << r.err;
    EXPECT_NE(r.err.find("/proc"), std::string::npos) << r.err;
  }
}

TEST_P(PlantedSymlink, DevPointingOutsideIsBuiltInside) {
  for (const auto& target : spellings(outside_.path())) {
    SCOPED_TRACE(target);
    copy_.plant_symlink("dev", target);
    fs::create_directories(copy_.path() + outside_.path());
    const auto r =
        mycontainer(copy_.path(), options(),
                    {"/bin/sh", "-c", "test -c /dev/null && test -d /dev/pts && echo ok"});
    expect_refused_or_inside(r, "/dev must be built where /dev points inside");
    if (r.status == 0) {
      EXPECT_EQ(r.out, "ok\n");
    }
    fs::remove_all(copy_.path() + outside_.path());
  }
}

TEST_P(PlantedSymlink, DevPointingNowhereInsideIsRefused) {
  for (const auto& target : spellings(outside_.path())) {
    SCOPED_TRACE(target);
    copy_.plant_symlink("dev", target);
    const auto r = mycontainer(copy_.path(), options(), {"/bin/true"});
    EXPECT_EQ(r.status, 125) << r.err;
  }
}

TEST_P(PlantedSymlink, SysPointingOutsideIsMountedInside) {
  for (const auto& target : spellings(outside_.path())) {
    SCOPED_TRACE(target);
    copy_.plant_symlink("sys", target);
    fs::create_directories(copy_.path() + outside_.path());
    const auto r =
        mycontainer(copy_.path(), options(), {"/bin/sh", "-c", "test -d /sys/kernel && echo ok"});
    expect_refused_or_inside(r, "sysfs must be mounted where /sys points inside");
    if (r.status == 0) {
      EXPECT_EQ(r.out, "ok\n");
    }
    fs::remove_all(copy_.path() + outside_.path());
  }
}

TEST_P(PlantedSymlink, SysPointingAtAHostTreeCreatesNothingThere) {
  // Issue #17 item 6. The host directory /sys points to has the shape of sysfs, fs/cgroup
  // included. The runtime mounts sysfs where the link points inside, then builds the cgroup
  // view at /sys/fs/cgroup, making a directory per hierarchy (cgroup v1). Made through a path
  // resolved on the host, those directories appeared in the host's fs/cgroup.
  fs::create_directories(outside_.path() + "/fs/cgroup");
  outside_expected_ = {"fs", "fs/cgroup", "host-file"};
  for (const auto& target : spellings(outside_.path())) {
    SCOPED_TRACE(target);
    copy_.plant_symlink("sys", target);
    fs::create_directories(copy_.path() + outside_.path());
    const auto r = mycontainer(copy_.path(), options(),
                               {"/bin/sh", "-c", "test -d /sys/fs/cgroup && echo ok"});
    expect_refused_or_inside(r, "the cgroup view must be built where /sys points inside");
    if (r.status == 0) {
      EXPECT_EQ(r.out, "ok\n");
    }
    EXPECT_EQ(outside_.entries(), outside_expected_) << "the runtime created this on the host";
    fs::remove_all(copy_.path() + outside_.path());
  }
}

TEST_P(PlantedSymlink, WorkdirThroughALeakedDescriptorLinkIsRefused) {
  // Issue #17 item 1, the image's variant: /wd -> /proc/self/fd/N, `-w /wd`, and descriptor N
  // a host directory the caller leaked (no O_CLOEXEC). Followed, the magic link leaves the
  // root whatever the root is (runc CVE-2024-21626).
  const int leaked = ::open(outside_.path().c_str(), O_RDONLY | O_DIRECTORY);  // inherited
  ASSERT_GE(leaked, 3);
  copy_.plant_symlink("wd", fmt::format("/proc/self/fd/{}", leaked));
  const std::string probe = copy_.install_attack_probe();
  std::vector<std::string> opts = options();
  opts.insert(opts.end(), {"-w", "/wd"});
  const auto r = mycontainer(copy_.path(), opts, {probe, "cwd_outside"});
  ::close(leaked);
  EXPECT_EQ(r.out.find("SUCCEEDED"), std::string::npos) << r.out << r.err;
  expect_refused_or_inside(r, "the working directory must be inside the root");
}

TEST_P(PlantedSymlink, VolumeTargetPointingOutsideIsMountedInside) {
  // -v SRC:/data where the image's /data is a symlink out of the rootfs.
  HostDir source;
  for (const auto& target : spellings(outside_.path())) {
    SCOPED_TRACE(target);
    fs::remove_all(copy_.path() + "/data");
    fs::create_symlink(target, copy_.path() + "/data");
    fs::create_directories(copy_.path() + outside_.path());
    std::vector<std::string> opts = options();
    opts.insert(opts.end(), {"-v", source.path() + ":/data"});
    const auto r = mycontainer(copy_.path(), opts, {"/bin/cat", "/data/host-file"});
    expect_refused_or_inside(r, "the volume must be mounted where /data points inside");
    if (r.status == 0) {
      EXPECT_EQ(r.out, "host\n");
    }
    fs::remove_all(copy_.path() + outside_.path());
  }
}

TEST_P(PlantedSymlink, VolumeTargetPointingNowhereInsideIsRefusedOrInside) {
  HostDir source;
  for (const auto& target : spellings(outside_.path())) {
    SCOPED_TRACE(target);
    fs::remove_all(copy_.path() + "/data");
    fs::create_symlink(target, copy_.path() + "/data");
    std::vector<std::string> opts = options();
    opts.insert(opts.end(), {"-v", source.path() + ":/data"});
    const auto r = mycontainer(copy_.path(), opts, {"/bin/cat", "/data/host-file"});
    expect_refused_or_inside(r, "refused, or the volume inside");
    if (r.status == 0) {
      EXPECT_EQ(r.out, "host\n");
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Mycontainer, PlantedSymlink,
                         ::testing::Values(std::vector<std::string>{},
                                           std::vector<std::string>{"--userns"}),
                         [](const auto& info) {
                           return info.param.empty() ? std::string("default")
                                                     : std::string("userns");
                         });

// --- A device node shipped in the image ---------------------------------------------------------

// A block device real root can open on this host: a loop device (the disk itself is refused
// to root on some hosts). Empty when there is none.
std::string openable_loop_device() {
  for (unsigned i = 0; i < 8; ++i) {
    std::string dev = fmt::format("/dev/loop{}", i);
    const int fd = ::open(dev.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      ::close(fd);
      return dev;
    }
  }
  return "";
}

class DeviceNodeInTheImage : public ::testing::TestWithParam<std::vector<std::string>> {};

TEST_P(DeviceNodeInTheImage, CannotBeOpened) {
  // An image is a tar file the runtime's owner extracted as root: it can hold device nodes,
  // world-readable and writable, anywhere (not only in /dev, which mycontainer covers with a
  // tmpfs). No capability is needed to open one (dropping CAP_MKNOD does not help): only a
  // devices cgroup, or a nodev mount of the rootfs, stops it. Shown with a loop device; on a
  // host whose disk root may open, the same node for the disk reads and writes every file.
  MC_REQUIRE_ROOT();
  const std::string loop = openable_loop_device();
  if (loop.empty()) GTEST_SKIP() << "no loop device that root may open on this host";
  struct stat st {};
  ASSERT_EQ(::stat(loop.c_str(), &st), 0);
  RootfsCopy copy;
  const std::string node = copy.path() + "/tmp/image-disk";
  ASSERT_EQ(::mknod(node.c_str(), S_IFBLK | 0666, st.st_rdev), 0);
  ASSERT_EQ(::chmod(node.c_str(), 0666), 0);  // past the umask
  const std::string probe = copy.install_attack_probe();
  const auto before = HostSnapshot::take();
  const auto r = mycontainer(copy.path(), GetParam(), {probe, "open_device", "/tmp/image-disk"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(first_line(r.out).rfind("BLOCKED", 0), 0u) << r.out << r.err;
  EXPECT_EQ("", settled_host_diff(before));
}

INSTANTIATE_TEST_SUITE_P(Mycontainer, DeviceNodeInTheImage,
                         ::testing::Values(std::vector<std::string>{},
                                           std::vector<std::string>{"--userns"},
                                           std::vector<std::string>{"--cap-drop", "MKNOD"}),
                         [](const auto& info) {
                           if (info.param.empty()) return std::string("default");
                           return info.param[0] == "--userns" ? std::string("userns")
                                                              : std::string("cap_drop_mknod");
                         });

// --- The runtime's binary (CVE-2019-5736)
// ---------------------------------------------------------

// What identifies build/bin/mycontainer's content: size, mtime and the bytes.
std::string fingerprint(const std::string& path) {
  struct stat st {};
  ::stat(path.c_str(), &st);
  return fmt::format("{} {}.{} {}", st.st_size, st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
                     std::hash<std::string>{}(read_file(path)));
}

class RuntimeBinary : public ::testing::TestWithParam<std::vector<std::string>> {
 protected:
  void SetUp() override {
    MC_REQUIRE_ROOT();
    before_ = HostSnapshot::take();
    binary_before_ = fingerprint(bin("mycontainer"));
  }
  void TearDown() override {
    if (!have_root()) return;
    EXPECT_EQ(binary_before_, fingerprint(bin("mycontainer")));
    EXPECT_EQ("", settled_host_diff(before_));
  }
  HostSnapshot before_;
  std::string binary_before_;
};

// The first lines `mycontainer --help` prints: the proof that the runtime's code ran.
constexpr const char* kRuntimeUsage = "Usage: mycontainer";

TEST_P(RuntimeBinary, ProcSelfExeAsTheCommandIsRefused) {
  // The container's command is "/proc/self/exe": the child is still a copy of the runtime
  // when it execs, so this names mycontainer's own binary on the host. The rootfs copy holds
  // the runtime's libraries, so only mycontainer's check stands in the way: it resolves the
  // command inside the container refusing /proc magic links (RESOLVE_NO_MAGICLINKS): 126.
  RootfsCopy copy;
  copy.add_runtime_libraries();
  const auto r = mycontainer(copy.path(), GetParam(), {"/proc/self/exe", "--help"});
  EXPECT_EQ(r.status, 126) << r.out << r.err;
  EXPECT_EQ(r.out.find(kRuntimeUsage), std::string::npos) << "the runtime ran inside:\n" << r.out;
}

TEST_P(RuntimeBinary, ScriptWithProcSelfExeInterpreterDoesNotRunTheRuntime) {
  // The form CVE-2019-5736's exploit actually used: the command is an ordinary script whose
  // "#!" line names /proc/self/exe. Checking the command's own path does not see it: the
  // kernel resolves the interpreter during execve(2), while the process is still the
  // runtime, so the runtime's binary from the host starts inside the container.
  RootfsCopy copy;
  copy.add_runtime_libraries();
  std::ofstream(copy.path() + "/entrypoint") << "#!/proc/self/exe --help\n";
  fs::permissions(copy.path() + "/entrypoint", fs::perms(0755));
  const auto r = mycontainer(copy.path(), GetParam(), {"/entrypoint"});
  EXPECT_EQ(r.out.find(kRuntimeUsage), std::string::npos)
      << "the runtime's binary from the host ran inside the container (exit " << r.status << "):\n"
      << r.out.substr(0, 200);
  EXPECT_NE(r.status, 0) << r.err;
}

TEST_P(RuntimeBinary, InitIsTheRuntimeButItsBinaryCannotBeReopened) {
  // With --init, PID 1 in the container *is* the runtime's binary (ctr::run_init, no exec).
  // The exploit's way in: open /proc/1/exe with O_PATH, reopen /proc/self/fd/N for writing.
  // PID 1 is not dumpable (set_dumpable(false) before anything else), so /proc/1/exe needs
  // CAP_SYS_PTRACE, which the container lacks: EACCES.
  auto probe = install_probe("attack");
  std::vector<std::string> options = GetParam();
  options.emplace_back("--init");
  const auto r = run_step(step(7), options, {probe.inside(), "runtime_exe"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(first_line(r.out).rfind("BLOCKED", 0), 0u) << r.out << r.err;
  EXPECT_NE(r.out.find("/proc/1/exe: EACCES"), std::string::npos) << r.out;
}

TEST_P(RuntimeBinary, WithSysPtraceTheBinaryIsStillBusy) {
  // The next wall, shown with --cap-add SYS_PTRACE: /proc/1/exe opens, but the runtime's
  // binary is running (the parent waits for the container, and PID 1 is it), so the kernel
  // refuses to open it for writing: ETXTBSY. The strongest defence, a user namespace,
  // comes on top with --userns: the container's root is not the owner of the binary.
  auto probe = install_probe("attack");
  std::vector<std::string> options = GetParam();
  options.insert(options.end(), {"--init", "--cap-add", "SYS_PTRACE"});
  const auto r = run_step(step(7), options, {probe.inside(), "runtime_exe"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(first_line(r.out).rfind("BLOCKED", 0), 0u) << r.out << r.err;
}

INSTANTIATE_TEST_SUITE_P(Mycontainer, RuntimeBinary,
                         ::testing::Values(std::vector<std::string>{},
                                           std::vector<std::string>{"--userns"}),
                         [](const auto& info) {
                           return info.param.empty() ? std::string("default")
                                                     : std::string("userns");
                         });

}  // namespace
// --userns as root with an image's layers: the runtime, still host root, mounts the overlay
// (runtime/overlay.hpp, make_overlay_for_user_namespace) and so resolves the state
// directory's overlay/upper and overlay/work itself. Those two belong to the container's root
// (host uid 1000000); the directory that holds them must not, or any process of that uid on the
// host could put a symbolic link to a host directory in their place between their making and
// the mount, and the container's writes would land there as host root's. As uid 1000000 on
// the host, the swap is refused, and the container still writes into its own upper directory.
TEST(UsernsImageRoot, TheContainersRootCannotSwapItsUpperDirectory) {
  MC_REQUIRE_ROOT();
  const HostDir dir;
  const std::string name = unique_name("sec-userns-upper"), seconds = unique_sleep_seconds();
  const RunResult spec = run({bin("mycontainer"), "spec", "--rootfs", rootfs(), "--userns", "--net",
                              "none", "--", "/bin/sleep", seconds});
  ASSERT_EQ(spec.status, 0) << spec.err;
  nlohmann::json config = nlohmann::json::parse(spec.out);
  config["annotations"]["io.mycontainer.root.layers"] =
      nlohmann::json(std::vector<std::string>{rootfs()}).dump();
  const std::string file = dir.path() + "/config.json";
  std::ofstream(file) << config.dump(2);
  if (!ctr::kernel_at_least(6, 15)) {
    // Before Linux 6.15 overlayfs takes no detached layers (the VM's kernel): the runtime
    // refuses before it makes anything, so there is no upper directory to swap.
    const RunResult r = run({bin("mycontainer"), "run", "--config", file, "--name", name});
    EXPECT_EQ(r.status, 125) << r.err;
    EXPECT_NE(r.err.find("needs Linux 6.15 or later"), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists("/run/mycontainer/containers/" + name));
    return;
  }
  Background runtime({bin("mycontainer"), "run", "--config", file, "--name", name});
  ASSERT_TRUE(wait_until([&] { return !pids_matching("/bin/sleep " + seconds).empty(); }))
      << runtime.wait().err;
  const std::string overlay = "/run/mycontainer/containers/" + name + "/overlay";
  const RunResult swap =
      run({"/usr/bin/setpriv", "--reuid", "1000000", "--regid", "1000000", "--clear-groups",
           "/bin/sh", "-c", fmt::format("mv {0}/upper {0}/gone && ln -s /etc {0}/upper", overlay)});
  EXPECT_NE(swap.status, 0) << "uid 1000000 replaced the upper directory";
  EXPECT_TRUE(fs::is_directory(fs::symlink_status(overlay + "/upper")));
  for (const int pid : pids_matching("/bin/sleep " + seconds)) ::kill(pid, SIGKILL);
  runtime.wait();
  EXPECT_FALSE(fs::exists("/run/mycontainer/containers/" + name));
}

}  // namespace mc::test
