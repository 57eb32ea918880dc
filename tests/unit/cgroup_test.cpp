// ctr::Cgroup: the parsers, the layout detection on other machines' /proc files, the v1 and v2
// file logic on a temporary directory that plays the kernel's part (no root needed), and, as
// root, real cgroups beneath the test's own cgroup on this machine.
#include "ctr/cgroup.hpp"

#include <fcntl.h>     // open(2)
#include <signal.h>    // kill(2), raise(3)
#include <sys/mman.h>  // mmap(2)
#include <sys/stat.h>  // fstat(2), stat(2)
#include <sys/wait.h>  // waitpid(2)
#include <unistd.h>    // fork(2), _exit(2)

#include <algorithm>   // std::sort
#include <cstdlib>     // mkdtemp(3)
#include <cstring>     // memset
#include <filesystem>  // temporary trees
#include <fstream>     // reading and writing fake interface files

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "ctr/error.hpp"
#include "ctr/narrate.hpp"
#include "support.hpp"

namespace {

using mc::test::expect_usage_error;
using mc::test::in_child;

namespace fs = std::filesystem;
using ctr::Cgroup;
using ctr::CgroupFsHooks;
using ctr::CgroupLayout;
using ctr::CgroupPlace;
using ctr::CgroupVersion;
using ctr::Limits;
using ctr::UsageError;

constexpr uint64_t kMiB = uint64_t{1} << 20;

// ============================== parsers ==============================

TEST(ParseSize, AcceptsNumbersWithBinarySuffixes) {
  EXPECT_EQ(ctr::parse_size("1048576"), 1048576u);
  EXPECT_EQ(ctr::parse_size("0"), 0u);
  EXPECT_EQ(ctr::parse_size("100b"), 100u);
  EXPECT_EQ(ctr::parse_size("512k"), 512u * 1024);
  EXPECT_EQ(ctr::parse_size("512K"), 512u * 1024);
  EXPECT_EQ(ctr::parse_size("64m"), 64 * kMiB);
  EXPECT_EQ(ctr::parse_size("64M"), 64 * kMiB);
  EXPECT_EQ(ctr::parse_size("64mb"), 64 * kMiB);
  EXPECT_EQ(ctr::parse_size("64MiB"), 64 * kMiB);
  EXPECT_EQ(ctr::parse_size("1g"), 1024 * kMiB);
  EXPECT_EQ(ctr::parse_size("1.5g"), 1536 * kMiB);
  EXPECT_EQ(ctr::parse_size("0.5k"), 512u);
  EXPECT_EQ(ctr::parse_size("2t"), 2ull << 40);
  EXPECT_EQ(ctr::parse_size("9223372036854775807"), 9223372036854775807ull);
}

TEST(ParseSize, RejectsGarbageNegativeAndOverflow) {
  for (const char* bad :
       {"", "-1", "-64m", "12x", "m", "1.m", ".5g", "1e3", " 64m", "64m ", "64 m", "0x10", "1,5g",
        "64mm", "64ib", "99999999999999999999", "9223372036854775808", "8388608t", "1.5.5g"}) {
    EXPECT_THROW(ctr::parse_size(bad), UsageError) << "'" << bad << "'";
  }
}

TEST(ParseSize, MessageSaysWhatToType) {
  expect_usage_error([] { ctr::parse_memory_limit("12x"); },
                     "invalid memory size '12x': use a number with an optional k, m or g "
                     "suffix, like 64m");
  expect_usage_error([] { ctr::parse_memory_limit("-5m"); }, "cannot be negative");
}

TEST(ParseMemoryLimit, RefusesLessThanSixMebibytes) {
  EXPECT_EQ(ctr::parse_memory_limit("6m"), 6 * kMiB);
  EXPECT_EQ(ctr::parse_memory_limit("1g"), 1024 * kMiB);
  expect_usage_error([] { ctr::parse_memory_limit("1m"); }, "too small");
  expect_usage_error([] { ctr::parse_memory_limit("0"); }, "too small");
}

TEST(ParseCpus, AcceptsFractionsUpToTheOnlineCpus) {
  EXPECT_DOUBLE_EQ(ctr::parse_cpus("0.5", 2), 0.5);
  EXPECT_DOUBLE_EQ(ctr::parse_cpus("2", 2), 2.0);
  EXPECT_DOUBLE_EQ(ctr::parse_cpus("0.01", 2), 0.01);
  EXPECT_DOUBLE_EQ(ctr::parse_cpus("1.25", 4), 1.25);
  EXPECT_DOUBLE_EQ(ctr::parse_cpus("1"), 1.0);  // every machine has one CPU online
}

TEST(ParseCpus, RejectsZeroTooManyAndGarbage) {
  for (const char* bad : {"", "0", "0.0", "0.001", "-1", "3", "2.01", "abc", "1e1", "inf", "nan",
                          "0x1", "1,5", ".", "1..2", " 1"}) {
    EXPECT_THROW(ctr::parse_cpus(bad, 2), UsageError) << "'" << bad << "'";
  }
  expect_usage_error([] { ctr::parse_cpus("3", 2); }, "from 0.01 to 2");
}

TEST(ParsePidsLimit, AcceptsPositiveWholeNumbers) {
  EXPECT_EQ(ctr::parse_pids_limit("1"), 1u);
  EXPECT_EQ(ctr::parse_pids_limit("100"), 100u);
  EXPECT_EQ(ctr::parse_pids_limit("4194304"), 4194304u);
  for (const char* bad :
       {"", "0", "-1", "+5", "abc", "1.5", "4194305", "10 ", "99999999999999999999999"}) {
    EXPECT_THROW(ctr::parse_pids_limit(bad), UsageError) << "'" << bad << "'";
  }
  expect_usage_error([] { ctr::parse_pids_limit("0"); }, "from 1 to 4194304");
}

// ============================== layout detection ==============================

// This very machine: Debian 12 with a hybrid layout, run inside a memory cgroup of its own.
const char* kHybridCgroup =
    "9:name=systemd:/\n8:pids:/\n7:blkio:/\n6:freezer:/\n5:devices:/\n"
    "4:memory:/process_api/c2db75d177462c0ac2ef33f0aeac2013\n3:cpuset:/\n2:cpuacct:/\n"
    "1:cpu:/\n0::/\n";
const char* kHybridMountinfo =
    "22 1 0:21 / / rw,relatime - overlay overlay rw\n"
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct\n"
    "34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset\n"
    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices\n"
    "37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer\n"
    "38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio\n"
    "39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
    "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";

// A systemd machine with only cgroup v2 (Debian 11+, Ubuntu 21.10+, Fedora 31+).
const char* kV2Cgroup = "0::/user.slice/user-1000.slice/session-2.scope\n";
const char* kV2Mountinfo =
    "22 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw,errors=remount-ro\n"
    "25 22 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:2 - sysfs sysfs rw\n"
    "28 25 0:25 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 "
    "rw,nsdelegate,memory_recursiveprot\n";

// Pure v1 as CentOS 7 / Debian 10 mount it: cpu and cpuacct share one tree.
const char* kV1Cgroup =
    "11:pids:/user.slice/user-1000.slice\n10:memory:/user.slice\n9:freezer:/\n"
    "4:cpu,cpuacct:/user.slice\n1:name=systemd:/user.slice/user-1000.slice/session-1.scope\n";
const char* kV1Mountinfo =
    "25 18 0:21 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:8 - tmpfs tmpfs ro,mode=755\n"
    "26 25 0:22 / /sys/fs/cgroup/systemd rw,nosuid shared:9 - cgroup cgroup "
    "rw,xattr,release_agent=/usr/lib/systemd/systemd-cgroups-agent,name=systemd\n"
    "29 25 0:25 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:12 - cgroup cgroup rw,cpuacct,cpu\n"
    "30 25 0:26 / /sys/fs/cgroup/memory rw,nosuid shared:13 - cgroup cgroup rw,memory\n"
    "31 25 0:27 / /sys/fs/cgroup/pids rw,nosuid shared:14 - cgroup cgroup rw,pids\n"
    "32 25 0:28 / /sys/fs/cgroup/freezer rw,nosuid shared:15 - cgroup cgroup rw,freezer\n"
    // The memory tree once more, bind-mounted elsewhere: listed once.
    "33 22 0:26 / /mnt/memory rw,nosuid shared:13 - cgroup cgroup rw,memory\n";

TEST(CgroupLayout, HybridLikeThisMachineIsV1) {
  const auto layout = CgroupLayout::detect(kHybridCgroup, kHybridMountinfo);
  ASSERT_EQ(layout.version, CgroupVersion::kV1);
  // memory, cpu, cpuacct, pids, freezer; not cpuset, devices, blkio, systemd or the cgroup2.
  EXPECT_EQ(layout.hierarchies.size(), 5u);
  ASSERT_NE(layout.find("memory"), nullptr);
  EXPECT_EQ(layout.find("memory")->mount_point, "/sys/fs/cgroup/memory");
  EXPECT_EQ(layout.find("memory")->own_path, "/process_api/c2db75d177462c0ac2ef33f0aeac2013");
  EXPECT_EQ(layout.find("memory")->own_dir,
            "/sys/fs/cgroup/memory/process_api/c2db75d177462c0ac2ef33f0aeac2013");
  ASSERT_NE(layout.find("cpu"), nullptr);
  EXPECT_EQ(layout.find("cpu")->own_dir, "/sys/fs/cgroup/cpu");
  EXPECT_EQ(layout.find("cpuacct")->own_dir, "/sys/fs/cgroup/cpuacct");
  EXPECT_EQ(layout.find("pids")->own_dir, "/sys/fs/cgroup/pids");
  EXPECT_EQ(layout.find("freezer")->own_dir, "/sys/fs/cgroup/freezer");
  EXPECT_EQ(layout.find("cpuset"), nullptr);
  EXPECT_EQ(layout.find("devices"), nullptr);
}

TEST(CgroupLayout, PureV2) {
  const auto layout = CgroupLayout::detect(kV2Cgroup, kV2Mountinfo);
  ASSERT_EQ(layout.version, CgroupVersion::kV2);
  ASSERT_EQ(layout.hierarchies.size(), 1u);
  EXPECT_EQ(layout.hierarchies[0].mount_point, "/sys/fs/cgroup");
  EXPECT_EQ(layout.hierarchies[0].own_dir,
            "/sys/fs/cgroup/user.slice/user-1000.slice/session-2.scope");
  EXPECT_EQ(layout.find("memory"), &layout.hierarchies[0]);
}

TEST(CgroupLayout, PureV1WithCpuAndCpuacctTogether) {
  const auto layout = CgroupLayout::detect(kV1Cgroup, kV1Mountinfo);
  ASSERT_EQ(layout.version, CgroupVersion::kV1);
  EXPECT_EQ(layout.hierarchies.size(), 4u);  // cpu+cpuacct, memory, pids, freezer
  ASSERT_NE(layout.find("cpu"), nullptr);
  EXPECT_EQ(layout.find("cpu"), layout.find("cpuacct"));
  EXPECT_EQ(layout.find("cpu")->own_dir, "/sys/fs/cgroup/cpu,cpuacct/user.slice");
  EXPECT_EQ(layout.find("memory")->own_dir, "/sys/fs/cgroup/memory/user.slice");
  EXPECT_EQ(layout.find("pids")->own_dir, "/sys/fs/cgroup/pids/user.slice/user-1000.slice");
  EXPECT_EQ(layout.find("freezer")->own_dir, "/sys/fs/cgroup/freezer");
}

TEST(CgroupLayout, HybridWithoutV1LimitControllersIsV2) {
  // cgroup_no_v1=memory,cpu,pids style: only freezer in v1, the rest in cgroup2.
  const auto layout =
      CgroupLayout::detect("6:freezer:/\n0::/init.scope\n",
                           "37 31 0:34 / /sys/fs/cgroup/freezer rw - cgroup cgroup rw,freezer\n"
                           "41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n");
  ASSERT_EQ(layout.version, CgroupVersion::kV2);
  EXPECT_EQ(layout.hierarchies[0].own_dir, "/sys/fs/cgroup/unified/init.scope");
}

TEST(CgroupLayout, MountOfASubtreeShowsOurCgroupRelativeToItsRoot) {
  // Inside a container without a cgroup namespace, the container's own cgroup is mounted.
  const auto layout = CgroupLayout::detect(
      "0::/docker/abc/inner\n", "50 40 0:25 /docker/abc /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n");
  ASSERT_EQ(layout.version, CgroupVersion::kV2);
  EXPECT_EQ(layout.hierarchies[0].own_dir, "/sys/fs/cgroup/inner");
  // A mount that does not contain our cgroup is useless to us.
  EXPECT_EQ(CgroupLayout::detect("0::/elsewhere\n",
                                 "50 40 0:25 /docker/abc /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n")
                .version,
            CgroupVersion::kNone);
}

TEST(CgroupLayout, EscapedMountPointsAndNothingMounted) {
  const auto layout =
      CgroupLayout::detect("0::/\n", "50 40 0:25 / /mnt/my\\040cgroups rw - cgroup2 cgroup2 rw\n");
  ASSERT_EQ(layout.version, CgroupVersion::kV2);
  EXPECT_EQ(layout.hierarchies[0].own_dir, "/mnt/my cgroups");
  EXPECT_EQ(CgroupLayout::detect("", "").version, CgroupVersion::kNone);
  EXPECT_EQ(CgroupLayout::detect(kV2Cgroup, "garbage\n\n1 2 3\n").version, CgroupVersion::kNone);
}

TEST(CgroupLayout, DetectsThisMachine) {
  const auto layout = CgroupLayout::detect();
  EXPECT_NE(layout.version, CgroupVersion::kNone) << "no cgroup filesystem mounted?";
  for (const auto& h : layout.hierarchies) EXPECT_TRUE(fs::is_directory(h.own_dir)) << h.own_dir;
}

// ============================== file logic on a fake tree ==============================

std::string slurp(const fs::path& path) {
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

void put(const fs::path& path, const std::string& content) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << content;
}

// What cgroupfs does by itself: a new cgroup gets the interface files its parent has (here
// with the parent's values, no processes and no controllers enabled); rmdir ignores them.
CgroupFsHooks fake_kernel(const std::set<std::string>& missing = {}) {
  CgroupFsHooks hooks;
  hooks.after_mkdir = [missing](const std::string& dir) {
    const fs::path parent = fs::path(dir).parent_path();
    for (const auto& e : fs::directory_iterator(parent)) {
      const std::string name = e.path().filename();
      if (!e.is_regular_file() || missing.count(name) != 0) continue;
      const bool starts_empty = name == "cgroup.procs" || name == "cgroup.subtree_control";
      put(fs::path(dir) / name, starts_empty ? "" : slurp(e.path()));
    }
    if (fs::exists(parent / "cgroup.controllers")) put(fs::path(dir) / "cgroup.type", "domain");
  };
  hooks.before_rmdir = [](const std::string& dir) {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
      if (e.is_regular_file()) fs::remove(e.path());
    }
  };
  return hooks;
}

// Records narration, to check what was written in which order.
class Recorder {
 public:
  Recorder() {
    ctr::set_narrator([this](const ctr::Event& e) { calls_.push_back(e.call); });
  }
  ~Recorder() { ctr::set_narrator({}); }
  bool saw(const std::string& call) const {
    return std::find(calls_.begin(), calls_.end(), call) != calls_.end();
  }
  size_t count_containing(const std::string& needle) const {
    return std::count_if(calls_.begin(), calls_.end(),
                         [&](const std::string& c) { return c.find(needle) != std::string::npos; });
  }
  const std::vector<std::string>& calls() const { return calls_; }

 private:
  std::vector<std::string> calls_;
};

class FakeTree : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/mc-cgroup-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    tmp_ = tmpl;
  }
  void TearDown() override { fs::remove_all(tmp_); }
  // The fixture text with /sys/fs/cgroup moved into our temporary directory.
  std::string rooted(std::string text) const {
    const std::string from = "/sys/fs/cgroup";
    for (size_t at = text.find(from); at != std::string::npos;
         at = text.find(from, at + tmp_.size() + from.size())) {
      text.replace(at, from.size(), tmp_ + from);
    }
    return text;
  }
  std::string sys(const std::string& rel) const { return tmp_ + "/sys/fs/cgroup" + rel; }
  std::string tmp_;
};

// --- v2 ---

class FakeV2 : public FakeTree {
 protected:
  void SetUp() override {
    FakeTree::SetUp();
    make_v2_cgroup(sys(""));
    make_v2_cgroup(own());
    put(sys("/user.slice/cgroup.type"), "domain");
  }
  std::string own() const { return sys("/user.slice/user-1000.slice/session-2.scope"); }
  void make_v2_cgroup(const std::string& dir,
                      const std::string& controllers = "cpu io memory pids") {
    put(dir + "/cgroup.controllers", controllers);
    for (const char* f :
         {"cgroup.subtree_control", "cgroup.procs", "cgroup.kill", "cgroup.freeze"}) {
      put(dir + "/" + f, "");
    }
    put(dir + "/cgroup.events", "populated 0\nfrozen 0");
    if (dir != sys("")) put(dir + "/cgroup.type", "domain");  // every cgroup but the root
    put(dir + "/memory.max", "max");
    put(dir + "/memory.swap.max", "max");
    put(dir + "/memory.events", "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0");
    put(dir + "/cpu.max", "max 100000");
    put(dir + "/cpu.stat", "usage_usec 0\nuser_usec 0\nsystem_usec 0");
    put(dir + "/pids.max", "max");
    put(dir + "/pids.current", "0");
  }
  CgroupPlace place(std::optional<std::string> parent = {},
                    const std::string& proc_self_cgroup = kV2Cgroup,
                    const std::set<std::string>& missing = {}) const {
    return {.layout = CgroupLayout::detect(proc_self_cgroup, rooted(kV2Mountinfo)),
            .parent = std::move(parent),
            .hooks = fake_kernel(missing)};
  }
};

TEST_F(FakeV2, CreateWritesLimitsBeneathOwnCgroupAndDestructorRemovesIt) {
  Recorder rec;
  const Limits limits{.memory_bytes = 64 * kMiB, .cpus = 0.5, .pids = 100};
  std::string dir;
  {
    Cgroup cg = Cgroup::create_at(place(), "mct-1", limits);
    dir = own() + "/mct-1";
    EXPECT_EQ(cg.version(), CgroupVersion::kV2);
    EXPECT_EQ(cg.dirs(), std::vector<std::string>{dir});
    EXPECT_EQ(cg.dir_for("memory"), dir);
    EXPECT_EQ(slurp(dir + "/memory.max"), "67108864");
    EXPECT_EQ(slurp(dir + "/memory.swap.max"), "0");
    EXPECT_EQ(slurp(dir + "/cpu.max"), "50000 100000");
    EXPECT_EQ(slurp(dir + "/pids.max"), "100");
    // Controllers were enabled in our own cgroup for its children, before the mkdir.
    for (const char* c : {"+cpu", "+memory", "+pids"}) {
      EXPECT_TRUE(rec.saw(fmt::format("write {}/cgroup.subtree_control = {}", own(), c))) << c;
    }
    EXPECT_EQ(rec.count_containing("subtree_control = +io"), 0u);  // not ours to enable
    EXPECT_TRUE(rec.saw("mkdir " + dir));
    EXPECT_TRUE(rec.saw(fmt::format("write {}/memory.max = 67108864", dir)));
  }
  EXPECT_FALSE(fs::exists(dir));
  EXPECT_TRUE(rec.saw("rmdir " + dir));
  EXPECT_TRUE(fs::exists(own()));
}

TEST_F(FakeV2, AddSelfWritesZeroToCgroupProcsAndTheDirectoryOpensForClone3) {
  Cgroup cg = Cgroup::create_at(place(), "mct-self", {});
  cg.add_self();
  EXPECT_EQ(slurp(own() + "/mct-self/cgroup.procs"), "0");
  const ctr::UniqueFd dir = cg.open_v2_dir();
  ASSERT_TRUE(dir);
  struct stat st {};
  ASSERT_EQ(::fstat(dir.get(), &st), 0);
  struct stat expected {};
  ASSERT_EQ(::stat((own() + "/mct-self").c_str(), &expected), 0);
  EXPECT_EQ(st.st_ino, expected.st_ino) << "the container's own directory";
}

TEST_F(FakeV2, NoLimitsStillMakesACgroup) {
  Cgroup cg = Cgroup::create_at(place(), "mct-nolimits", {});
  EXPECT_EQ(slurp(own() + "/mct-nolimits/memory.max"), "max");  // untouched
  // v2 decides its place while enabling controllers: nothing to plan ahead, and the v1 trees
  // to choose from do not exist (one tree holds every controller).
  EXPECT_FALSE(Cgroup::planned_dirs(place(), "mct-other", {}).has_value());
  EXPECT_EQ(Cgroup::create_at(place(), "mct-few", {}, {"pids"}).dirs().size(), 1u);
}

TEST_F(FakeV2, ControllersAlreadyEnabledAreNotWrittenAgain) {
  put(own() + "/cgroup.subtree_control", "cpu memory pids");
  Recorder rec;
  Cgroup cg = Cgroup::create_at(place(), "mct-2", {.memory_bytes = 64 * kMiB});
  EXPECT_EQ(rec.count_containing("cgroup.subtree_control"), 0u);
}

TEST_F(FakeV2, MissingControllerIsAUsageErrorAndLeavesNothing) {
  put(own() + "/cgroup.controllers", "cpu pids");
  expect_usage_error([&] { Cgroup::create_at(place(), "mct-3", {.memory_bytes = 64 * kMiB}); },
                     "the memory limit needs the memory controller");
  EXPECT_FALSE(fs::exists(own() + "/mct-3"));
  // Without a memory limit the same cgroup is fine.
  EXPECT_NO_THROW(Cgroup::create_at(place(), "mct-3", {.cpus = 1}));
}

TEST_F(FakeV2, AFailedWriteRemovesTheHalfBuiltCgroup) {
  // The kernel would not show pids.max without the pids controller: the write fails.
  try {
    Cgroup::create_at(place({}, kV2Cgroup, {"pids.max"}), "mct-4",
                      {.memory_bytes = 64 * kMiB, .pids = 10});
    ADD_FAILURE() << "no error";
  } catch (const ctr::SyscallError& e) {
    EXPECT_EQ(e.err(), ENOENT);
    EXPECT_EQ(e.arg(), own() + "/mct-4/pids.max");
  }
  EXPECT_FALSE(fs::exists(own() + "/mct-4"));
}

TEST_F(FakeV2, ExistingNameIsAUsageErrorAndTheFirstSurvives) {
  Cgroup first = Cgroup::create_at(place(), "mct-5", {});
  expect_usage_error([&] { Cgroup::create_at(place(), "mct-5", {}); }, "already exists");
  EXPECT_TRUE(fs::exists(own() + "/mct-5"));
}

TEST_F(FakeV2, BadNamesAreRefused) {
  for (const char* bad : {"", ".", "..", "a/b", "/abs", "mycontainer-runtime"}) {
    EXPECT_THROW(Cgroup::create_at(place(), bad, {}), UsageError) << "'" << bad << "'";
  }
}

TEST_F(FakeV2, ARuntimeInItsLeafPutsContainersBesideIt) {
  const std::string delegated = sys("/system.slice/mc.scope");
  make_v2_cgroup(delegated);
  make_v2_cgroup(delegated + "/mycontainer-runtime");
  put(delegated + "/cgroup.subtree_control", "cpu memory pids");
  Cgroup cg = Cgroup::create_at(place({}, "0::/system.slice/mc.scope/mycontainer-runtime\n"),
                                "mct-6", {.pids = 5});
  EXPECT_EQ(cg.dirs(), std::vector<std::string>{delegated + "/mct-6"});
  EXPECT_EQ(slurp(delegated + "/mct-6/pids.max"), "5");
}

// cgroup-v2.rst "No Internal Process Constraint": our cgroup holds another process (a login
// shell's session scope holds the shell and sudo). Containers go beneath the top-level
// cgroup "mycontainer" instead, as docker's go beneath /sys/fs/cgroup/docker.
TEST_F(FakeV2, OwnCgroupSharedWithOthersPutsContainersAtTheTop) {
  put(own() + "/cgroup.procs", "1\n4242\n");
  Recorder rec;
  const std::string top = sys("/mycontainer");
  {
    Cgroup cg = Cgroup::create_at(place(), "mct-shared", {.memory_bytes = 64 * kMiB, .pids = 9});
    EXPECT_EQ(cg.dirs(), std::vector<std::string>{top + "/mct-shared"});
    EXPECT_EQ(slurp(top + "/mct-shared/memory.max"), "67108864");
    EXPECT_EQ(slurp(top + "/mct-shared/pids.max"), "9");
    // The controllers on the way down: the root's, then mycontainer's.
    for (const auto& level : {sys(""), top}) {
      for (const char* c : {"+memory", "+pids", "+cpu"}) {
        EXPECT_TRUE(rec.saw(fmt::format("write {}/cgroup.subtree_control = {}", level, c)))
            << level << " " << c;
      }
    }
    // --explain says where, and why.
    EXPECT_EQ(rec.count_containing("container cgroups go beneath " + top), 1u);
    // cleanup finds it there.
    EXPECT_EQ(Cgroup::list_children(place(), "mct-"), std::vector<std::string>{"mct-shared"});
  }
  EXPECT_FALSE(fs::exists(top + "/mct-shared"));
  EXPECT_TRUE(fs::exists(top));  // kept, like docker's
  // Writing +cpu or +pids in our own cgroup would work, and make it a thread root
  // (cgroup-v2.rst "Threads") where no process could join a container's cgroup: nothing is
  // written there, and nobody is moved.
  EXPECT_EQ(rec.count_containing(own() + "/cgroup.subtree_control"), 0u);
  EXPECT_EQ(rec.count_containing("cgroup.procs"), 0u);
  EXPECT_FALSE(fs::exists(own() + "/mycontainer-runtime"));
}

TEST_F(FakeV2, OwnCgroupSharedWithOthersWithoutLimitsGoesToTheTopToo) {
  // Where a container goes depends on the runtime's cgroup, not on its limits: `cleanup` and
  // the container's cgroup view must not depend on the flags.
  put(own() + "/cgroup.procs", "1\n4242\n");
  Cgroup cg = Cgroup::create_at(place(), "mct-shared-nolimit", {});
  EXPECT_EQ(cg.dirs(), std::vector<std::string>{sys("/mycontainer/mct-shared-nolimit")});
  // A crashed run's leftover there is adopted by name.
  cg.release();
  Cgroup adopted = Cgroup::adopt(place(), "mct-shared-nolimit");
  EXPECT_EQ(adopted.dirs(), std::vector<std::string>{sys("/mycontainer/mct-shared-nolimit")});
}

TEST_F(FakeV2, ParentThroughAnInterfaceFileIsExplained) {
  // mkdir would fail with EEXIST, which make_dir reports as a name another container uses.
  expect_usage_error(
      [&] { Cgroup::create_at(place("/cgroup.procs/x"), "mct-f", {}); },
      "cgroup parent '/cgroup.procs/x': '" + sys("/cgroup.procs") + "' is not a directory");
}

TEST_F(FakeV2, ExplicitParentWinsOverTheTopLevelCgroup) {
  put(own() + "/cgroup.procs", "1\n4242\n");
  Cgroup cg = Cgroup::create_at(place("/elsewhere"), "mct-p", {.pids = 3});
  EXPECT_EQ(cg.dirs(), std::vector<std::string>{sys("/elsewhere/mct-p")});
  EXPECT_FALSE(fs::exists(sys("/mycontainer")));
}

// An ordinary user (setresuid in a child; needs root to become one): the top of the subtree
// delegated to them (chown'ed, as systemd does for user@UID.service) takes the containers;
// without a delegation, a limit is refused in one line that says why.
TEST_F(FakeV2, UserWithADelegatedSubtreeUsesItsTopAndWithoutOneIsRefused) {
  MC_REQUIRE_ROOT();
  const std::string service = sys("/user.slice/user-1000.slice/user@1000.service");
  const std::string term = service + "/app.slice/vte-spawn-1.scope";
  make_v2_cgroup(sys("/user.slice/user-1000.slice"));
  make_v2_cgroup(service);
  make_v2_cgroup(service + "/app.slice");
  make_v2_cgroup(term);
  put(term + "/cgroup.procs", "1\n4242\n");
  put(own() + "/cgroup.procs", "1\n4242\n");
  fs::permissions(tmp_, fs::perms(0755));  // mkdtemp's 0700 would keep the user out
  for (const auto& e : fs::recursive_directory_iterator(service)) {
    ASSERT_EQ(::chown(e.path().c_str(), 65534, 65534), 0);
  }
  ASSERT_EQ(::chown(service.c_str(), 65534, 65534), 0);
  const std::string delegated = mc::test::in_child([&] {
    if (::setresgid(65534, 65534, 65534) != 0 || ::setresuid(65534, 65534, 65534) != 0) {
      return std::string("setresuid failed");
    }
    const std::string cgroup =
        "0::/user.slice/user-1000.slice/user@1000.service/app.slice/"
        "vte-spawn-1.scope\n";
    Cgroup cg = Cgroup::create_at(place({}, cgroup), "mct-user", {.pids = 4});
    const auto dirs = cg.dirs();
    cg.release();
    return dirs.size() == 1 ? dirs.front() : std::string("no directory");
  });
  EXPECT_EQ(delegated, service + "/mycontainer/mct-user");
  const std::string refused = mc::test::in_child([&] {
    if (::setresgid(65534, 65534, 65534) != 0 || ::setresuid(65534, 65534, 65534) != 0) {
      return std::string("setresuid failed");
    }
    try {
      Cgroup cg = Cgroup::create_at(place(), "mct-user2", {.pids = 4});
      return std::string("made ") + cg.dirs().front();
    } catch (const UsageError& e) {
      return std::string(e.what());
    }
  });
  EXPECT_NE(
      refused.find("cgroup limits need root, or a cgroup delegated to you: the runtime's cgroup '" +
                   own() + "' belongs to uid 0, not to uid 65534"),
      std::string::npos)
      << refused;
  EXPECT_EQ(refused.find('\n'), std::string::npos) << "one line: " << refused;
  EXPECT_FALSE(fs::exists(own() + "/mct-user2"));
}

TEST_F(FakeV2, RuntimeAloneInItsCgroupMovesItselfIntoALeaf) {
  put(own() + "/cgroup.procs", std::to_string(::getpid()) + "\n");
  Recorder rec;
  Cgroup cg = Cgroup::create_at(place(), "mct-alone", {.memory_bytes = 64 * kMiB});
  const std::string leaf = own() + "/mycontainer-runtime";
  EXPECT_TRUE(rec.saw("mkdir " + leaf));
  EXPECT_TRUE(rec.saw(fmt::format("write {}/cgroup.procs = {}", leaf, ::getpid())));
  EXPECT_TRUE(rec.saw(fmt::format("write {}/cgroup.subtree_control = +memory", own())));
  EXPECT_EQ(cg.dirs(), std::vector<std::string>{own() + "/mct-alone"});
  // The move comes before the controllers, the controllers before the container's cgroup.
  const auto& calls = rec.calls();
  const auto at = [&](const std::string& needle) {
    return std::find_if(calls.begin(), calls.end(),
                        [&](const std::string& c) { return c.find(needle) != std::string::npos; });
  };
  EXPECT_LT(at("mycontainer-runtime/cgroup.procs"), at("subtree_control = +memory"));
  EXPECT_LT(at("subtree_control = +memory"), at("mkdir " + own() + "/mct-alone"));
  EXPECT_EQ(Cgroup::list_children(place(), "m"), std::vector<std::string>{"mct-alone"});
}

TEST_F(FakeV2, ExplicitParentIsMadeWithControllersOnTheWayAndKept) {
  Recorder rec;
  {
    Cgroup cg = Cgroup::create_at(place("mycontainer/sub"), "mct-7", {.memory_bytes = 64 * kMiB});
    EXPECT_EQ(cg.dirs(), std::vector<std::string>{sys("/mycontainer/sub/mct-7")});
    EXPECT_EQ(slurp(sys("/mycontainer/sub/mct-7/memory.max")), "67108864");
    for (const auto& level : {sys(""), sys("/mycontainer"), sys("/mycontainer/sub")}) {
      EXPECT_TRUE(rec.saw(fmt::format("write {}/cgroup.subtree_control = +memory", level)))
          << level;
    }
  }
  EXPECT_FALSE(fs::exists(sys("/mycontainer/sub/mct-7")));
  EXPECT_TRUE(fs::exists(sys("/mycontainer/sub")));  // like docker's --cgroup-parent
  EXPECT_THROW(Cgroup::create_at(place("../escape"), "mct-8", {}), UsageError);
}

TEST_F(FakeV2, AddAndReaders) {
  Cgroup cg = Cgroup::create_at(place(), "mct-9", {.memory_bytes = 64 * kMiB});
  const std::string dir = cg.dirs().front();
  // Our own pid: kill_all never signals its caller, whatever a file says.
  cg.add(::getpid());
  EXPECT_EQ(slurp(dir + "/cgroup.procs"), std::to_string(::getpid()));
  put(dir + "/cgroup.procs", "");  // a plain file does not empty itself like the kernel's

  put(dir + "/cpu.stat", "usage_usec 1234\nuser_usec 1000\nsystem_usec 234\n");
  put(dir + "/memory.events", "low 0\nhigh 0\nmax 7\noom 1\noom_kill 1\noom_group_kill 0\n");
  put(dir + "/pids.current", "3\n");
  put(dir + "/cgroup.procs", "");
  put(dir + "/sub/cgroup.procs", "");  // a cgroup the container made itself
  EXPECT_EQ(cg.cpu_usage_usec(), 1234u);
  EXPECT_EQ(cg.oom_kill_count(), 1u);
  EXPECT_TRUE(cg.oom_killed());
  EXPECT_EQ(cg.pids_current(), 3u);
  EXPECT_TRUE(cg.procs().empty());
}

TEST_F(FakeV2, MoveTransfersOwnershipAndReleaseKeepsTheDirectory) {
  std::string dir;
  {
    Cgroup a = Cgroup::create_at(place(), "mct-10", {});
    dir = a.dirs().front();
    Cgroup b = std::move(a);
    // NOLINTNEXTLINE(bugprone-use-after-move,clang-analyzer-cplusplus.Move): the test's point
    EXPECT_TRUE(a.dirs().empty());
    EXPECT_EQ(b.dirs(), std::vector<std::string>{dir});
    Cgroup c = Cgroup::create_at(place(), "mct-11", {});
    c = std::move(b);  // mct-11 is removed here
    EXPECT_FALSE(fs::exists(own() + "/mct-11"));
    EXPECT_TRUE(fs::exists(dir));
    c.release();
  }
  EXPECT_TRUE(fs::exists(dir));  // released: a detached container's cgroup stays
  // ... until cleanup finds and adopts it.
  EXPECT_EQ(Cgroup::list_children(place(), "mct-"), std::vector<std::string>{"mct-10"});
  EXPECT_TRUE(Cgroup::list_children(place(), "other-").empty());
  { Cgroup adopted = Cgroup::adopt(place(), "mct-10"); }
  EXPECT_FALSE(fs::exists(dir));
  EXPECT_THROW(Cgroup::adopt(place(), "mct-10"), UsageError);
}

// --- v1 ---

class FakeV1 : public FakeTree {
 protected:
  void make_memory(const std::string& dir, bool memsw = true, bool oom_kill_line = true) {
    put(dir + "/memory.limit_in_bytes", "9223372036854771712");
    put(dir + "/memory.failcnt", "0");
    put(dir + "/cgroup.procs", "");
    if (memsw) put(dir + "/memory.memsw.limit_in_bytes", "");
    put(dir + "/memory.oom_control",
        oom_kill_line ? "oom_kill_disable 0\nunder_oom 0\noom_kill 0" : "oom_kill_disable 0");
  }
  void make_cpu(const std::string& dir) {
    for (const char* f : {"cpu.cfs_period_us", "cpu.cfs_quota_us", "cgroup.procs"}) {
      put(dir + "/" + f, "");
    }
  }
  void make_simple(const std::string& dir, std::initializer_list<const char*> files) {
    put(dir + "/cgroup.procs", "");
    for (const char* f : files) put(dir + "/" + f, "");
  }
  // The five trees of this development machine (kHybridCgroup, kHybridMountinfo): memory
  // beneath our own cgroup, the others at their roots. Returns our memory directory.
  std::string make_hybrid_trees() {
    const std::string mem_own = sys("/memory/process_api/c2db75d177462c0ac2ef33f0aeac2013");
    make_memory(mem_own);
    make_cpu(sys("/cpu"));
    make_simple(sys("/cpuacct"), {"cpuacct.usage"});
    make_simple(sys("/pids"), {"pids.max", "pids.current"});
    make_simple(sys("/freezer"), {"freezer.state"});
    return mem_own;
  }
  CgroupPlace place(const char* proc_self_cgroup, const char* mountinfo,
                    std::optional<std::string> parent = {}) const {
    return {.layout = CgroupLayout::detect(proc_self_cgroup, rooted(mountinfo)),
            .parent = std::move(parent),
            .hooks = fake_kernel()};
  }
};

TEST_F(FakeV1, HybridWritesEachLimitInItsOwnTree) {
  const std::string mem_own = make_hybrid_trees();
  Recorder rec;
  std::vector<std::string> dirs;
  {
    Cgroup cg = Cgroup::create_at(place(kHybridCgroup, kHybridMountinfo), "mct-v1",
                                  {.memory_bytes = 64 * kMiB, .cpus = 1.5, .pids = 20});
    dirs = cg.dirs();
    EXPECT_EQ(cg.version(), CgroupVersion::kV1);
    EXPECT_EQ(dirs.size(), 5u);
    EXPECT_EQ(cg.dir_for("memory"), mem_own + "/mct-v1");  // beneath our own memory cgroup
    EXPECT_EQ(cg.dir_for("cpu"), sys("/cpu/mct-v1"));
    EXPECT_EQ(cg.dir_for("cpuacct"), sys("/cpuacct/mct-v1"));
    EXPECT_EQ(cg.dir_for("freezer"), sys("/freezer/mct-v1"));
    EXPECT_EQ(cg.dir_for("devices"), "");
    EXPECT_EQ(slurp(mem_own + "/mct-v1/memory.limit_in_bytes"), "67108864");
    EXPECT_EQ(slurp(mem_own + "/mct-v1/memory.memsw.limit_in_bytes"), "67108864");
    EXPECT_EQ(slurp(sys("/cpu/mct-v1/cpu.cfs_period_us")), "100000");
    EXPECT_EQ(slurp(sys("/cpu/mct-v1/cpu.cfs_quota_us")), "150000");
    EXPECT_EQ(slurp(sys("/pids/mct-v1/pids.max")), "20");
    // RAM limit before RAM+swap limit: memsw may never be below it.
    const auto& calls = rec.calls();
    const auto ram = std::find_if(calls.begin(), calls.end(), [](const std::string& c) {
      return c.find("memory.limit_in_bytes") != std::string::npos;
    });
    const auto memsw = std::find_if(calls.begin(), calls.end(), [](const std::string& c) {
      return c.find("memory.memsw.limit_in_bytes") != std::string::npos;
    });
    EXPECT_LT(ram, memsw);

    cg.add(::getpid());
    for (const auto& d : dirs) EXPECT_EQ(slurp(d + "/cgroup.procs"), std::to_string(::getpid()));
    for (const auto& d : dirs) put(d + "/cgroup.procs", "");

    put(sys("/cpuacct/mct-v1/cpuacct.usage"), "5000000\n");  // nanoseconds
    put(mem_own + "/mct-v1/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n");
    put(sys("/pids/mct-v1/pids.current"), "4\n");
    EXPECT_EQ(cg.cpu_usage_usec(), 5000u);
    EXPECT_EQ(cg.oom_kill_count(), 2u);
    EXPECT_EQ(cg.pids_current(), 4u);
  }
  for (const auto& d : dirs) EXPECT_FALSE(fs::exists(d)) << d;
  EXPECT_TRUE(fs::exists(mem_own));
}

// The warm start (issue 16): `run` asks for the trees that keeping track of a container needs
// (pids, freezer, memory) and gets cpu only with a CPU limit; cpuacct, a tree of its own here,
// never. planned_dirs names the same directories before they exist (the state's first write);
// the empty set is every tree, as before.
TEST_F(FakeV1, OnlyTheTreesAskedForOrNeededByALimitAndPlannedAhead) {
  const std::string mem_own = make_hybrid_trees();
  const CgroupPlace where = place(kHybridCgroup, kHybridMountinfo);
  const std::set<std::string> tracking = {"pids", "freezer", "memory"};
  const auto sorted = [](std::vector<std::string> v) {
    std::sort(v.begin(), v.end());
    return v;
  };
  {
    const auto planned = Cgroup::planned_dirs(where, "mct-few", {}, tracking);
    Cgroup cg = Cgroup::create_at(where, "mct-few", {}, tracking);
    EXPECT_EQ(sorted(cg.dirs()),
              sorted({mem_own + "/mct-few", sys("/pids/mct-few"), sys("/freezer/mct-few")}));
    ASSERT_TRUE(planned.has_value());
    EXPECT_EQ(*planned, cg.dirs());
    EXPECT_EQ(cg.dir_for("cpu"), "");
    EXPECT_FALSE(fs::exists(sys("/cpuacct/mct-few")));
  }
  {
    Cgroup cg = Cgroup::create_at(where, "mct-cpu", {.cpus = 0.5}, tracking);
    EXPECT_EQ(cg.dirs().size(), 4u);  // the limit's tree too
    EXPECT_EQ(slurp(sys("/cpu/mct-cpu/cpu.cfs_quota_us")), "50000");
    EXPECT_EQ(Cgroup::planned_dirs(where, "mct-cpu", {.cpus = 0.5}, tracking), cg.dirs());
  }
  {
    Cgroup cg = Cgroup::create_at(where, "mct-all", {});
    EXPECT_EQ(cg.dirs().size(), 5u);
    EXPECT_EQ(Cgroup::planned_dirs(where, "mct-all", {}), cg.dirs());
  }
}

// The cold start (cgroup.cpp, Cgroup::add_self): a child moves itself as one thread, 0 into
// each tree's `tasks` (the kernel then skips the lock whose writer waits for an RCU grace
// period), never into cgroup.procs; v1 has no cgroup2 directory for clone3.
TEST_F(FakeV1, AddSelfWritesZeroToTasksInEachTreeAndNothingToCgroupProcs) {
  const std::string mem_own = make_hybrid_trees();
  for (const char* tree : {"/cpu", "/cpuacct", "/pids", "/freezer"}) put(sys(tree) + "/tasks", "");
  put(mem_own + "/tasks", "");
  Cgroup cg = Cgroup::create_at(place(kHybridCgroup, kHybridMountinfo), "mct-self", {.pids = 20});
  ASSERT_EQ(cg.dirs().size(), 5u);
  cg.add_self();
  for (const auto& d : cg.dirs()) {
    EXPECT_EQ(slurp(d + "/tasks"), "0") << d;
    EXPECT_EQ(slurp(d + "/cgroup.procs"), "") << d;
  }
  EXPECT_FALSE(cg.open_v2_dir()) << "clone3 CLONE_INTO_CGROUP is for cgroup2 directories only";
}

TEST_F(FakeV1, CoMountedCpuAndCpuacctShareOneDirectory) {
  make_memory(sys("/memory/user.slice"), /*memsw=*/false, /*oom_kill_line=*/false);
  make_cpu(sys("/cpu,cpuacct/user.slice"));
  put(sys("/cpu,cpuacct/user.slice/cpuacct.usage"), "");
  make_simple(sys("/pids/user.slice/user-1000.slice"), {"pids.max", "pids.current"});
  make_simple(sys("/freezer"), {"freezer.state"});
  Recorder rec;
  Cgroup cg = Cgroup::create_at(place(kV1Cgroup, kV1Mountinfo), "mct-co",
                                {.memory_bytes = 16 * kMiB, .cpus = 0.25});
  EXPECT_EQ(cg.dirs().size(), 4u);
  EXPECT_EQ(cg.dir_for("cpu"), sys("/cpu,cpuacct/user.slice/mct-co"));
  EXPECT_EQ(cg.dir_for("cpuacct"), cg.dir_for("cpu"));
  EXPECT_EQ(cg.dir_for("pids"), sys("/pids/user.slice/user-1000.slice/mct-co"));
  EXPECT_EQ(slurp(cg.dir_for("cpu") + "/cpu.cfs_quota_us"), "25000");
  EXPECT_EQ(rec.count_containing("memsw"), 0u);  // no swap accounting here: not written
  // An old kernel without oom_kill in memory.oom_control: failcnt is the hint.
  EXPECT_EQ(cg.oom_kill_count(), 0u);
  put(cg.dir_for("memory") + "/memory.failcnt", "3");
  EXPECT_EQ(cg.oom_kill_count(), 1u);
}

TEST_F(FakeV1, MissingTreeForALimitIsAUsageErrorAndLeavesNothing) {
  const char* mountinfo = "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n";
  make_memory(sys("/memory"));
  const auto p = place("4:memory:/\n", mountinfo);
  expect_usage_error([&] { Cgroup::create_at(p, "mct-np", {.pids = 10}); },
                     "the pids limit needs the pids controller");
  EXPECT_FALSE(fs::exists(sys("/memory/mct-np")));
  Cgroup cg = Cgroup::create_at(p, "mct-np", {.memory_bytes = 8 * kMiB});
  EXPECT_FALSE(cg.cpu_usage_usec());  // no cpuacct tree
  EXPECT_FALSE(cg.pids_current());
}

TEST_F(FakeV1, NoCgroupFilesystemAtAll) {
  expect_usage_error([&] { Cgroup::create_at(place("", ""), "mct-none", {}); },
                     "no cgroup filesystem is mounted");
}

// ============================== real cgroups (root) ==============================

// Where containers' cgroups must appear on this machine: beneath our own cgroup in each tree
// (on v2, beside the runtime's leaf if the test runs in one).
std::set<std::string> expected_bases(const CgroupLayout& layout) {
  std::set<std::string> bases;
  for (const auto& h : layout.hierarchies) {
    std::string base = h.own_dir;
    if (layout.version == CgroupVersion::kV2 &&
        fs::path(base).filename() == std::string(ctr::kRuntimeLeafCgroup)) {
      base = fs::path(base).parent_path();
    }
    bases.insert(base);
  }
  return bases;
}

pid_t spawn_sleep() {
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::execl("/bin/sleep", "sleep", "1000", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  return pid;
}

TEST(RealCgroup, LimitsChildKillAllAndCleanup) {
  MC_REQUIRE_ROOT();
  const std::string before = mc::test::read_file("/proc/self/cgroup");
  const auto layout = CgroupLayout::detect();
  ASSERT_NE(layout.version, CgroupVersion::kNone);
  const std::string name = mc::test::unique_name("mct-real");
  std::vector<std::string> dirs;
  {
    Cgroup cg = Cgroup::create(name, {.memory_bytes = 64 * kMiB, .cpus = 0.5, .pids = 20});
    dirs = cg.dirs();
    ASSERT_FALSE(dirs.empty());
    const auto bases = expected_bases(CgroupLayout::detect());
    for (const auto& d : dirs) {
      EXPECT_TRUE(fs::is_directory(d)) << d;
      EXPECT_EQ(bases.count(fs::path(d).parent_path()), 1u) << d << " is not beneath our cgroup";
    }
    if (cg.version() == CgroupVersion::kV2) {
      EXPECT_EQ(mc::test::read_file(cg.dir_for("memory") + "/memory.max"), "67108864\n");
      EXPECT_EQ(mc::test::read_file(cg.dir_for("cpu") + "/cpu.max"), "50000 100000\n");
      if (fs::exists(cg.dir_for("memory") + "/memory.swap.max")) {
        EXPECT_EQ(mc::test::read_file(cg.dir_for("memory") + "/memory.swap.max"), "0\n");
      }
    } else {
      const std::string mem = cg.dir_for("memory");
      EXPECT_EQ(mc::test::read_file(mem + "/memory.limit_in_bytes"), "67108864\n");
      if (fs::exists(mem + "/memory.memsw.limit_in_bytes")) {
        EXPECT_EQ(mc::test::read_file(mem + "/memory.memsw.limit_in_bytes"), "67108864\n");
      }
      EXPECT_EQ(mc::test::read_file(cg.dir_for("cpu") + "/cpu.cfs_period_us"), "100000\n");
      EXPECT_EQ(mc::test::read_file(cg.dir_for("cpu") + "/cpu.cfs_quota_us"), "50000\n");
    }
    EXPECT_EQ(mc::test::read_file(cg.dir_for("pids") + "/pids.max"), "20\n");

    const pid_t child = spawn_sleep();
    ASSERT_GT(child, 0);
    cg.add(child);
    EXPECT_EQ(cg.procs(), std::vector<pid_t>{child});
    EXPECT_NE(mc::test::read_file(fmt::format("/proc/{}/cgroup", child)).find(name),
              std::string::npos);
    EXPECT_GE(cg.pids_current().value_or(0), 1u);
    EXPECT_TRUE(cg.cpu_usage_usec().has_value());
    EXPECT_EQ(cg.oom_kill_count(), 0u);

    cg.kill_all();
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
    EXPECT_TRUE(cg.procs().empty());
  }
  for (const auto& d : dirs) EXPECT_FALSE(fs::exists(d)) << d << " left behind";
  EXPECT_EQ(mc::test::read_file("/proc/self/cgroup"), before) << "the test process was moved";
}

TEST(RealCgroup, DestructorKillsWhatIsLeftInside) {
  MC_REQUIRE_ROOT();
  std::vector<std::string> dirs;
  pid_t child = -1;
  {
    Cgroup cg = Cgroup::create(mc::test::unique_name("mct-dtor"), {});
    dirs = cg.dirs();
    child = spawn_sleep();
    ASSERT_GT(child, 0);
    cg.add(child);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  // The child was a zombie (not yet reaped) while the destructor ran: zombies have left their
  // cgroup already, so the rmdir did not have to wait for us.
  for (const auto& d : dirs) EXPECT_FALSE(fs::exists(d)) << d;
}

// The child stops itself, is put into the cgroup, then touches memory until the limit is hit.
TEST(RealCgroup, OomKillIsCounted) {
  MC_REQUIRE_ROOT();
  Cgroup cg = Cgroup::create(mc::test::unique_name("mct-oom"), {.memory_bytes = 16 * kMiB});
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::raise(SIGSTOP);
    for (int i = 0; i < 512; ++i) {  // 512 MiB at most, should the limit not work
      void* p = ::mmap(nullptr, kMiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (p == MAP_FAILED) ::_exit(2);
      std::memset(p, 1, kMiB);
    }
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, WUNTRACED), child);
  ASSERT_TRUE(WIFSTOPPED(status));
  cg.add(child);
  ::kill(child, SIGCONT);
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "status " << status;
  EXPECT_GE(cg.oom_kill_count().value_or(0), 1u);
  EXPECT_TRUE(cg.oom_killed());
}

TEST(RealCgroup, ReleasedCgroupIsListedAndAdopted) {
  MC_REQUIRE_ROOT();
  const std::string prefix = mc::test::unique_name("mct-stale") + "-";
  std::vector<std::string> dirs;
  {
    Cgroup cg = Cgroup::create(prefix + "a", {.pids = 5});
    dirs = cg.dirs();
    cg.release();
  }
  for (const auto& d : dirs) EXPECT_TRUE(fs::exists(d)) << d;
  EXPECT_EQ(Cgroup::list_children(CgroupPlace::here(), prefix),
            std::vector<std::string>{prefix + "a"});
  { Cgroup adopted = Cgroup::adopt(CgroupPlace::here(), prefix + "a"); }
  for (const auto& d : dirs) EXPECT_FALSE(fs::exists(d)) << d;
  EXPECT_TRUE(Cgroup::list_children(CgroupPlace::here(), prefix).empty());
}

// cgroup v2 only: a runtime alone in its cgroup moves itself into a leaf to hand controllers
// to its containers; one sharing its cgroup with a process it did not start refuses.
// Run in forked children that first move themselves into a scratch cgroup (processes we
// started), so the test process itself stays where it is.
int child_alone_moves_into_leaf(const std::string& scratch) {
  try {
    std::ofstream(scratch + "/cgroup.procs") << ::getpid() << std::flush;
    Cgroup cg = Cgroup::create("inner", {.memory_bytes = 32 * kMiB});
    const std::string self = mc::test::read_file("/proc/self/cgroup");
    if (self.find(std::string("/") + std::string(ctr::kRuntimeLeafCgroup)) == std::string::npos) {
      return 10;
    }
    if (cg.dirs() != std::vector<std::string>{scratch + "/inner"}) return 11;
    if (mc::test::read_file(scratch + "/inner/memory.max") != "33554432\n") return 12;
    return 0;
  } catch (const std::exception& e) {
    fmt::print(stderr, "child: {}\n", e.what());
    return 20;
  }
}

int child_not_alone_goes_to_the_top(const std::string& scratch) {
  try {
    std::ofstream(scratch + "/cgroup.procs") << ::getpid() << std::flush;
    const std::string before = mc::test::read_file("/proc/self/cgroup");
    const std::string name = fs::path(scratch).filename().string() + "-inner";
    Cgroup cg = Cgroup::create(name, {.memory_bytes = 32 * kMiB, .pids = 7});
    const std::string top = std::string("/sys/fs/cgroup/") + std::string(ctr::kTopLevelCgroup);
    if (cg.dirs() != std::vector<std::string>{top + "/" + name}) return 10;
    if (mc::test::read_file(top + "/" + name + "/memory.max") != "33554432\n") return 11;
    if (mc::test::read_file(top + "/" + name + "/pids.max") != "7\n") return 12;
    if (mc::test::read_file("/proc/self/cgroup") != before) return 13;  // we stayed put
    if (fs::exists(scratch + "/" + std::string(ctr::kRuntimeLeafCgroup))) return 14;
    return 0;
  } catch (const std::exception& e) {
    fmt::print(stderr, "child: {}\n", e.what());
    return 20;
  }
}

int run_in_child(int (*f)(const std::string&), const std::string& arg) {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(f(arg));
  int status = 0;
  if (pid < 0 || ::waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

TEST(RealCgroup, V2RuntimeAloneMovesItselfIntoALeaf) {
  MC_REQUIRE_ROOT();
  if (CgroupLayout::detect().version != CgroupVersion::kV2) GTEST_SKIP() << "cgroup v2 only";
  // The scratch cgroup is a container cgroup of ours: memory is enabled above it.
  Cgroup scratch =
      Cgroup::create(mc::test::unique_name("mct-scratch"), {.memory_bytes = kMiB * 256});
  EXPECT_EQ(run_in_child(child_alone_moves_into_leaf, scratch.dirs().front()), 0);
  // ~scratch removes scratch/inner's leftovers: the leaf, then scratch itself.
}

TEST(RealCgroup, V2RuntimeSharingItsCgroupGoesToTheTopAndMovesNobody) {
  MC_REQUIRE_ROOT();
  if (CgroupLayout::detect().version != CgroupVersion::kV2) GTEST_SKIP() << "cgroup v2 only";
  Cgroup scratch =
      Cgroup::create(mc::test::unique_name("mct-scratch"), {.memory_bytes = kMiB * 256});
  const pid_t other = spawn_sleep();  // "the shell that started the runtime"
  ASSERT_GT(other, 0);
  scratch.add(other);
  const std::string other_before = mc::test::read_file(fmt::format("/proc/{}/cgroup", other));
  EXPECT_EQ(run_in_child(child_not_alone_goes_to_the_top, scratch.dirs().front()), 0);
  EXPECT_EQ(mc::test::read_file(fmt::format("/proc/{}/cgroup", other)), other_before)
      << "a process the runtime did not start was moved";
  // The child's Cgroup removed its directory when it returned; the top-level cgroup stays.
  const std::string top = std::string("/sys/fs/cgroup/") + std::string(ctr::kTopLevelCgroup);
  EXPECT_FALSE(
      fs::exists(top + "/" + fs::path(scratch.dirs().front()).filename().string() + "-inner"));
  scratch.kill_all();
  ::waitpid(other, nullptr, 0);
}

}  // namespace
