// The fault suite: mycontainer under signals, failures injected at each stage of setup, and
// containers that misbehave (OOM, fork bomb, orphans), alone and 50 at once. After each: the
// exit status the README documents (step7_full_container/README.md "Exit codes"), a clear one-line
// message where the runtime fails, and nothing left on the host: mounts, links, cgroups, processes,
// state and leases (Leftovers, tests/support/leftovers.hpp, checks it after every test).
//
// Faults are injected without disturbing the host: a lock the runtime must take is held by
// the test, a full state directory is a tiny tmpfs in a mount namespace of the runtime's own,
// a refused cgroup write comes from a cgroup parent of the test's own with a small CPU quota.
#include <fcntl.h>
#include <signal.h>
#include <string.h>  // sigabbrev_np(3)
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>  // std::getenv
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "background.hpp"
#include "ctr/cgroup.hpp"     // ctr::CgroupLayout
#include "ctr/dirlock.hpp"    // ctr::DirLock: the locks the runtime takes
#include "ctr/ipam.hpp"       // ctr::Ipam
#include "ctr/nat.hpp"        // ctr::kNetStateDir
#include "ctr/netlink.hpp"    // ctr::delete_link, ctr::link_exists
#include "runtime/state.hpp"  // ctr::read_state
#include "leftovers.hpp"
#include "mycontainer.hpp"
#include "steps.hpp"

namespace mc::test {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

constexpr const char* kTag = "mctf";
std::string new_name() {
  return unique_name(kTag);
}

std::vector<std::string> mc_argv(std::vector<std::string> options,
                                 const std::vector<std::string>& command) {
  return mycontainer_argv(kTag, std::move(options), command);
}

RunResult mc(std::vector<std::string> options, const std::vector<std::string>& command,
             const RunOptions& run_options = {}) {
  return run(mc_argv(std::move(options), command), run_options);
}

std::string state_dir_of(const std::string& name) {
  return "/run/mycontainer/containers/" + name;
}

// True when the process sleeps in the kernel waiting for a file lock (flock(2)).
bool blocked_on_lock(pid_t pid) {
  const std::string wchan = read_file(fmt::format("/proc/{}/wchan", pid));
  return contains(wchan, "lock");
}

std::string joined(const std::vector<std::string>& v) {
  return fmt::format("{}", fmt::join(v, "\n  "));
}

class Faults : public ::testing::Test {
 protected:
  void SetUp() override {
    MC_REQUIRE_ROOT();
    leftovers_.emplace(kTag);
  }
  void TearDown() override {
    if (!leftovers_) return;
    EXPECT_EQ("", leftovers_->check()) << "left on the host by this test's containers";
    leftovers_->scrub(scrub_cgroup_parent_);
  }
  // Starts `mycontainer run ... -- /bin/sleep <seconds>` in the background and waits until
  // the sleep runs.
  std::unique_ptr<Background> start_sleeper(const std::vector<std::string>& options,
                                            const std::string& seconds,
                                            const std::string& name = "") {
    auto opts = options;
    if (!name.empty()) {
      opts.insert(opts.begin(), name);
      opts.insert(opts.begin(), "--name");
    }
    auto bg = std::make_unique<Background>(mc_argv(opts, {"/bin/sleep", seconds}));
    EXPECT_TRUE(wait_until([&] { return !pids_matching("/bin/sleep " + seconds).empty(); }))
        << bg->err();
    return bg;
  }

  std::optional<Leftovers> leftovers_;
  std::string scrub_cgroup_parent_;
};

// ==========================================================================================
// Signals to the runtime while the container runs
// ==========================================================================================

TEST_F(Faults, TerminatingSignalsReachTheCommandThroughTheInit) {
  // The runtime forwards INT, TERM, HUP and QUIT to the container's PID 1, the init, which
  // forwards them to the command; the command (sleep, no handler) dies of it: 128+N.
  for (const int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) {
    SCOPED_TRACE(::sigabbrev_np(sig));
    const std::string seconds = unique_sleep_seconds();
    auto bg = start_sleeper({"--init"}, seconds);
    bg->signal(sig);
    const auto r = bg->wait();
    EXPECT_EQ(r.status, 128 + sig) << r.err;
    EXPECT_TRUE(pids_matching("/bin/sleep " + seconds).empty());
  }
}

TEST_F(Faults, Pid1IgnoringTheSignalIsKilledAfterTheGracePeriod) {
  // Without --init, sleep is PID 1: the kernel drops signals it has no handler for. After
  // --stop-timeout the runtime sends SIGKILL, says so, and exits 137.
  for (const int sig : {SIGINT, SIGTERM}) {
    SCOPED_TRACE(::sigabbrev_np(sig));
    const std::string seconds = unique_sleep_seconds();
    auto bg = start_sleeper({"--stop-timeout", "1"}, seconds);
    const auto sent = std::chrono::steady_clock::now();
    bg->signal(sig);
    const auto r = bg->wait();
    const double took = std::chrono::duration<double>(bg->ended() - sent).count();
    EXPECT_EQ(r.status, 128 + SIGKILL) << r.err;
    EXPECT_EQ(r.err,
              "mycontainer: the container did not stop within 1 s of the signal: killed it\n");
    EXPECT_GE(took, 0.9);
    EXPECT_LT(took, 10.0);
  }
}

TEST_F(Faults, ASecondInterruptKillsAtOnce) {
  // ^C twice: no waiting for the 60 s grace period.
  const std::string seconds = unique_sleep_seconds();
  auto bg = start_sleeper({"--stop-timeout", "60"}, seconds);
  bg->signal(SIGINT);
  EXPECT_FALSE(wait_until([&] { return !bg->running(); }, milliseconds(300)))
      << "ended on the first SIGINT, which PID 1 ignores";
  bg->signal(SIGINT);
  const auto r = bg->wait(std::chrono::seconds(30));
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.status, 128 + SIGKILL) << r.err;
  EXPECT_LT(std::chrono::duration<double>(bg->ended() - bg->started()).count(), 30.0);
}

TEST_F(Faults, SigkillOfTheRuntimeKillsTheContainerAndCleanupRemovesTheRest) {
  const std::string name = new_name(), seconds = unique_sleep_seconds();
  auto bg = start_sleeper({}, seconds, name);
  ASSERT_TRUE(wait_until([&] { return ctr::read_state(state_dir_of(name)).has_value(); }));
  const pid_t runtime = bg->pid();
  bg->signal(SIGKILL);
  EXPECT_EQ(bg->wait().status, 128 + SIGKILL);
  EXPECT_TRUE(wait_until([&] { return pids_matching("/bin/sleep " + seconds).empty(); }))
      << "the container outlived its runtime";
  EXPECT_FALSE(traces_of(name, runtime).empty()) << "state and cgroup stay for cleanup";
  const auto c = run({bin("mycontainer"), "cleanup"});
  EXPECT_EQ(c.status, 0) << c.err;
  EXPECT_TRUE(contains(c.out, "removed " + name)) << c.out;
  EXPECT_EQ(joined(traces_of(name, runtime)), "");
}

TEST_F(Faults, SigkillOfPid1FromTheHostEndsTheRunWith137) {
  const std::string name = new_name(), seconds = unique_sleep_seconds();
  auto bg = start_sleeper({"--pids-limit", "20", "-m", "64m"}, seconds, name);
  const pid_t runtime = bg->pid();
  kill_sleepers(seconds);
  const auto r = bg->wait();
  EXPECT_EQ(r.status, 128 + SIGKILL);
  EXPECT_EQ(r.err, "") << "killed by the host is not an OOM kill nor a runtime failure";
  EXPECT_EQ(joined(traces_of(name, runtime)), "");
}

// ==========================================================================================
// Signals while the runtime sets the container up
// ==========================================================================================

// The runtime holds its state directory before it allocates an address: holding the address
// allocator's lock (a subnet and bridge of the test's own, so nobody else waits) stops it
// right there, deterministically. A SIGINT or SIGTERM then must not leave the state behind.
TEST_F(Faults, SignalDuringSetupLeavesNothing) {
  const int third = ::getpid() % 250;
  const std::string subnet = fmt::format("10.213.{}.0/24", third);
  const std::string bridge = fmt::format("mctfb{}", ::getpid() % 10000000);
  for (const int sig : {SIGINT, SIGTERM}) {
    SCOPED_TRACE(::sigabbrev_np(sig));
    const std::string name = new_name();
    std::optional<ctr::DirLock> lock;
    lock.emplace(ctr::Ipam(ctr::parse_subnet(subnet)).dir());
    Background bg(mc_argv({"--name", name, "--subnet", subnet, "--bridge", bridge}, {"/bin/true"}));
    ASSERT_TRUE(wait_until([&] {
      return fs::exists(state_dir_of(name)) && blocked_on_lock(bg.pid());
    })) << "the runtime did not reach the address allocator: "
        << bg.err();
    bg.signal(sig);
    // A runtime that defers the signal finishes setup once the lock is free: let it.
    wait_until([&] { return !bg.running(); }, std::chrono::seconds(2));
    lock.reset();
    const auto r = bg.wait();
    EXPECT_NE(r.status, 0) << "a container interrupted before it started cannot succeed";
    EXPECT_EQ(joined(traces_of(name, bg.pid())), "")
        << "interrupted during setup (exit " << r.status << "): " << r.err;
  }
  if (ctr::link_exists(bridge)) ctr::delete_link(bridge);
  std::error_code ec;
  fs::remove(ctr::Ipam(ctr::parse_subnet(subnet)).dir(), ec);  // the test's own, empty
}

// Later in setup the runtime has taken an address lease and holds its state directory; the
// NAT lock (--nat) stops it there (held for well under a second). SIGKILL, which nothing can
// catch: `mycontainer cleanup` must then remove both.
TEST_F(Faults, SigkillDuringSetupThenCleanupLeavesNothing) {
  const std::string name = new_name();
  std::optional<ctr::DirLock> lock;
  lock.emplace(std::filesystem::path(ctr::kNetStateDir) / "nat");
  Background bg(mc_argv({"--name", name, "--nat"}, {"/bin/true"}));
  const bool blocked =
      wait_until([&] { return fs::exists(state_dir_of(name)) && blocked_on_lock(bg.pid()); });
  const pid_t runtime = bg.pid();
  bg.signal(SIGKILL);
  const auto r = bg.wait();
  lock.reset();
  ASSERT_TRUE(blocked) << "the runtime did not reach the NAT lock: " << r.err;
  EXPECT_EQ(r.status, 128 + SIGKILL);
  EXPECT_FALSE(traces_of(name, runtime).empty());
  const auto c = run({bin("mycontainer"), "cleanup"});
  EXPECT_EQ(c.status, 0) << c.err;
  EXPECT_EQ(joined(traces_of(name, runtime)), "") << "after cleanup";
}

// Issue #17 item 7. --nat is shared by reference: each runtime records itself as a user, the
// last one leaving removes the MASQUERADE rule and puts ip_forward back. A runtime killed with
// SIGKILL cannot leave: `cleanup` must drop its record, and finish the job when it was the
// last. Run in a network and mount namespace of the test's own (unshare), so the rule, the
// forwarding switch and /run/mycontainer are private: the host's are never touched.
TEST_F(Faults, CleanupRestoresTheNatOfKilledRuntimes) {
  fs::create_directories("/run/mycontainer");
  const std::string seconds = unique_sleep_seconds();
  const std::string a = new_name(), b = new_name(), c = new_name(), d = new_name();
  const std::string mc_run =
      fmt::format("{} run --rootfs {} --subnet 10.218.0.0/24 --bridge mctfnat --nat",
                  bin("mycontainer"), rootfs());
  const std::string script = fmt::format(
      R"sh(mount -t tmpfs -o mode=0755 mct-run /run/mycontainer || exit 1
echo 0 > /proc/sys/net/ipv4/ip_forward
start() {{ {0} --name "$1" -- /bin/sleep {1} >/dev/null 2>&1 & }}
state() {{ cat /run/mycontainer/containers/$1/state.json 2>/dev/null; }}
wait_running() {{
  i=0
  until state $1 | grep -q '"pid": [1-9]'; do
    i=$((i+1)); [ $i -lt 200 ] || {{ echo "$1 did not start"; exit 1; }}; sleep 0.05
  done
}}
report() {{
  echo "$1: rules=$(iptables -w -t nat -S POSTROUTING | grep -c MASQUERADE)" \
       "forward=$(cat /proc/sys/net/ipv4/ip_forward)"
}}
start {2}; a=$!; start {3}; b=$!
wait_running {2}; wait_running {3}
report "two running"
kill -9 $a $b; wait $a $b
{4} cleanup >/dev/null
report "both runtimes killed, cleanup"
start {5}; c=$!; start {6}; d=$!
wait_running {5}; wait_running {6}
kill -9 $c; wait $c
{4} cleanup >/dev/null
report "one killed, cleanup"
kill -9 $(state {6} | sed -n 's/.*"pid": \([0-9]*\).*/\1/p')
wait $d
report "the last one ended"
)sh",
      mc_run, seconds, a, b, bin("mycontainer"), c, d);
  const auto r = run({"/usr/bin/unshare", "--net", "--mount", "--propagation", "private", "/bin/sh",
                      "-c", script});
  kill_sleepers(seconds);
  EXPECT_EQ(r.out,
            "two running: rules=1 forward=1\n"
            "both runtimes killed, cleanup: rules=0 forward=0\n"
            "one killed, cleanup: rules=1 forward=1\n"
            "the last one ended: rules=0 forward=0\n")
      << r.err;
}

// LeakSanitizer (the asan preset, scripts/check.sh --asan) cannot work under ptrace(2): at exit
// it says "LeakSanitizer has encountered a fatal error" and turns the run's exit 0 into 1, so
// a run under strace(1) would never get through. For the traced run alone (strace -E sets
// the variable for the traced command only) leaks are not checked; the run of the same name
// after it is checked as every other. A build without the sanitizer ignores the variable.
std::string without_leak_check_under_ptrace() {
  const char* options = std::getenv("ASAN_OPTIONS");
  const std::string before =
      options != nullptr && *options != '\0' ? std::string(options) + ":" : "";
  return "ASAN_OPTIONS=" + before + "detect_leaks=0";
}

// Issue #17 item 7, the state directory: a runtime killed at any moment while it makes its
// state directory must not block the name. `cleanup` frees it at once (a directory that
// waited for its first state was left alone for 60 s). strace(1) delivers the SIGKILL at the
// k-th call of one syscall (its counter is per syscall), for every k until the run gets
// through: the mkdirs, and the renames that write the state.
TEST_F(Faults, RuntimeKilledWhileMakingItsStateFreesTheNameAtOnce) {
  if (::access("/usr/bin/strace", X_OK) != 0) MC_SKIP_OR_FAIL("needs strace (apt install strace)");
  for (const std::string syscall : {"mkdir", "renameat2", "rename"}) {
    bool completed = false;
    for (int k = 1; k <= 15 && !completed; ++k) {
      SCOPED_TRACE(fmt::format("SIGKILL at {} number {}", syscall, k));
      const std::string name = new_name();
      std::vector<std::string> argv{"/usr/bin/strace",
                                    "-f",
                                    "-qq",
                                    "-o",
                                    "/dev/null",
                                    "-e",
                                    "trace=" + syscall,
                                    "-e",
                                    fmt::format("inject={}:signal=KILL:when={}", syscall, k),
                                    "-E",
                                    without_leak_check_under_ptrace()};
      const auto run_argv = mc_argv({"--name", name, "--net", "none"}, {"/bin/true"});
      argv.insert(argv.end(), run_argv.begin(), run_argv.end());
      const auto r = run(argv);
      completed = r.status == 0;
      const auto c = run({bin("mycontainer"), "cleanup"});
      EXPECT_EQ(c.status, 0) << c.err;
      std::string left;
      std::error_code ec;
      for (const auto& e : fs::directory_iterator("/run/mycontainer/containers", ec)) {
        if (contains(e.path().filename().string(), name)) left += e.path().string() + "\n";
      }
      EXPECT_EQ(left, "") << "after cleanup (the run: exit " << r.status << ")";
      const auto again = mc({"--name", name, "--net", "none"}, {"/bin/true"});
      EXPECT_EQ(again.status, 0) << "the name is still blocked: " << again.err;
      EXPECT_EQ(joined(traces_of(name, 0)), "");
    }
    EXPECT_TRUE(completed) << "the run never got past 15 calls of " << syscall;
  }
}

// SIGTERM at every moment of a start, from before main() to the running command: whatever
// the moment, nothing may stay behind. (Which moments hit the runtime's setup depends on the
// machine's speed: a sweep of delays covers them.)
TEST_F(Faults, SigtermAtEveryMomentOfStartupLeavesNothing) {
  std::map<int, std::vector<std::string>> leaks;  // delay in 0.1 ms -> traces
  for (int tenths = 0; tenths <= 300; tenths += 5) {
    const std::string name = new_name();
    Background bg(mc_argv({"--name", name, "--stop-timeout", "0"}, {"/bin/sleep", "30"}));
    std::this_thread::sleep_for(std::chrono::microseconds(tenths * 100));
    bg.signal(SIGTERM);
    const auto r = bg.wait(std::chrono::seconds(30));
    EXPECT_FALSE(r.timed_out);
    auto traces = traces_of(name, bg.pid());
    if (!traces.empty()) {
      traces.insert(traces.begin(), fmt::format("exit {}", r.status));
      leaks[tenths] = traces;
      leftovers_->scrub();
    }
  }
  std::string report;
  for (const auto& [tenths, traces] : leaks) {
    report += fmt::format("SIGTERM after {:.1f} ms: {}\n", tenths / 10.0, joined(traces));
  }
  EXPECT_EQ(report, "");
}

// ==========================================================================================
// Failures at each stage of setup
// ==========================================================================================

TEST_F(Faults, RootfsThatIsAFileIsRefusedAsNotADirectory) {
  const std::string file = fmt::format("/tmp/{}-rootfs-file", unique_name(kTag));
  std::ofstream(file) << "not a directory\n";
  const auto r =
      run({bin("mycontainer"), "run", "--rootfs", file, "--name", new_name(), "--", "/bin/true"});
  fs::remove(file);
  EXPECT_EQ(r.status, 125);
  EXPECT_EQ(count_lines(r.err), 1u) << r.err;
  EXPECT_TRUE(contains(r.err, "'" + file + "'")) << r.err;
  EXPECT_TRUE(contains(r.err, "not a directory")) << "it exists; it is not a directory: " << r.err;
}

TEST_F(Faults, EmptyRootfsFailsWithOneLineNamingIt) {
  HostDir empty;
  const auto r = run({bin("mycontainer"), "run", "--rootfs", empty.path(), "--name", new_name(),
                      "--", "/bin/true"});
  EXPECT_EQ(r.status, 125);
  EXPECT_EQ(count_lines(r.err), 1u) << r.err;
  EXPECT_TRUE(contains(r.err, empty.path())) << r.err;
  EXPECT_TRUE(fs::is_empty(empty.path())) << "the runtime wrote into the rootfs";
}

TEST_F(Faults, RootfsWithoutTheCommandIs127) {
  HostDir bare;
  for (const char* d : {"proc", "sys", "dev", "tmp"}) fs::create_directory(bare.path() + "/" + d);
  const auto r = run({bin("mycontainer"), "run", "--rootfs", bare.path(), "--name", new_name(),
                      "--net", "none", "--", "/bin/true"});
  EXPECT_EQ(r.status, 127);
  EXPECT_EQ(r.err, "mycontainer: execve('/bin/true'): No such file or directory\n");
}

TEST_F(Faults, CommandThatCannotRunWithAndWithoutInit) {
  struct Case {
    std::vector<std::string> command;
    int status;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"/no/such/command"}, 127, "execve('/no/such/command'): No such file or directory"},
      {{"no-such-command-in-path"},
       127,
       "execve('no-such-command-in-path'): No such file or directory"},
      {{"/etc/passwd"}, 126, "execve('/etc/passwd'): Permission denied"},
      {{"/etc"}, 126, "execve('/etc')"},
  };
  for (const bool init : {false, true}) {
    for (const auto& c : cases) {
      SCOPED_TRACE(fmt::format("{}{}", init ? "--init " : "", c.command[0]));
      std::vector<std::string> options;
      if (init) options.emplace_back("--init");
      const auto r = mc(options, c.command);
      EXPECT_EQ(r.status, c.status) << r.err;
      EXPECT_TRUE(contains(r.err, c.message)) << r.err;
      EXPECT_EQ(count_lines(r.err), 1u) << r.err;
    }
  }
}

// A cgroup parent of the test's own, in every tree; removed by the destructor (the runtime
// makes a missing parent and leaves it, like docker's --cgroup-parent).
class CgroupParent {
 public:
  explicit CgroupParent(std::string path) : path_(std::move(path)) {
    for (const auto& dir : cgroup_search_dirs(path_)) ::mkdir(dir.c_str(), 0755);
  }
  ~CgroupParent() {
    for (const auto& dir : cgroup_search_dirs(path_)) remove_cgroup_tree(dir);
  }
  const std::string& path() const { return path_; }
  std::string dir(const std::string& controller) const {
    const auto layout = ctr::CgroupLayout::detect();
    const auto* h = layout.find(controller);
    return h == nullptr ? "" : h->mount_point + path_;
  }

 private:
  std::string path_;
};

TEST_F(Faults, RefusedCgroupWriteFailsCleanly) {
  // The kernel refuses a CPU quota above the parent's (EINVAL): a parent of the test's own,
  // allowed a tenth of a CPU, and a container asking for one CPU.
  const auto layout = ctr::CgroupLayout::detect();
  if (layout.version != ctr::CgroupVersion::kV1 || layout.find("cpu") == nullptr) {
    // cgroup v2 refuses no such write: a child's cpu.max may exceed its parent's, whose limit
    // applies on top (cgroup-v2.rst "CPU"). The v1 kernel checks the hierarchy at write time.
    GTEST_SKIP() << "cgroup v1 only: v2 accepts a child's cpu.max above its parent's";
  }
  const CgroupParent parent("/" + unique_name(kTag) + "-parent");
  scrub_cgroup_parent_ = parent.path();
  {
    std::ofstream quota(parent.dir("cpu") + "/cpu.cfs_quota_us");
    quota << "10000";
  }
  ASSERT_EQ(trimmed(read_file(parent.dir("cpu") + "/cpu.cfs_quota_us")), "10000");
  const std::string name = new_name();
  const auto r =
      mc({"--name", name, "--cgroup-parent", parent.path(), "--cpus", "1"}, {"/bin/true"});
  EXPECT_EQ(r.status, 125);
  EXPECT_EQ(r.err, fmt::format("mycontainer: write('{}/mycontainer-{}/cpu.cfs_quota_us'): "
                               "Invalid argument\n",
                               parent.dir("cpu"), name));
  EXPECT_EQ(joined(traces_of(name, 0, parent.path())), "");
  // Within the parent's quota it works.
  const auto ok = mc({"--cgroup-parent", parent.path(), "--cpus", "0.05"},
                     {"/bin/cat", "/sys/fs/cgroup/cpu/cpu.cfs_quota_us"});
  EXPECT_EQ(ok.status, 0) << ok.err;
  EXPECT_EQ(ok.out, "5000\n");
}

TEST_F(Faults, CgroupParentThroughAFileIsExplained) {
  // "cgroup.procs" is a file in every cgroup directory: a parent beneath it cannot be made.
  // The message must say what is wrong with the parent, not blame another container.
  const auto r = mc({"--cgroup-parent", "/cgroup.procs/x"}, {"/bin/true"});
  EXPECT_EQ(r.status, 125);
  EXPECT_EQ(count_lines(r.err), 1u) << r.err;
  EXPECT_TRUE(contains(r.err, "cgroup.procs")) << r.err;
  EXPECT_FALSE(contains(r.err, "another container uses that name")) << r.err;
}

TEST_F(Faults, LinkCreationRefusedFailsCleanly) {
  // The bridge's name is taken by a link that is not a bridge: refused before anything of
  // the container exists, the address lease released.
  for (const std::string link : {"lo", "eth0"}) {
    if (!ctr::link_exists(link)) continue;
    SCOPED_TRACE(link);
    const std::string name = new_name();
    Background bg(mc_argv({"--name", name, "--bridge", link}, {"/bin/true"}));
    const auto r = bg.wait();
    EXPECT_EQ(r.status, 125);
    EXPECT_TRUE(contains(r.err, fmt::format("link '{}' exists but is not a bridge", link)))
        << r.err;
    EXPECT_EQ(count_lines(r.err), 1u) << r.err;
    EXPECT_EQ(joined(traces_of(name, bg.pid())), "");
  }
}

// Runs `script` (which runs mycontainer as $MC) in a mount namespace of its own, where the
// runtime's state directory can be replaced without the host seeing it.
RunResult in_own_mount_namespace(const std::string& script, const std::string& mycontainer_args) {
  return run({"/usr/bin/unshare", "--mount", "--propagation", "private", "/bin/sh", "-c",
              "MC='" + bin("mycontainer") + " run --rootfs " + rootfs() + " " + mycontainer_args +
                  "'; " + script});
}

TEST_F(Faults, FullStateDirectoryFailsCleanly) {
  fs::create_directories("/run/mycontainer/containers");
  struct Case {
    std::string label, mount_options, fill, message;
  };
  const std::vector<Case> cases = {
      // No inode left: mkdir of the container's directory fails.
      {"no inode", "size=64k,nr_inodes=1", "", "mkdir('/run/mycontainer/containers/"},
      // No block left: the directory is made, and writing its first state.json (in place, in
      // the draft: runtime/state.cpp) fails before anything else is made.
      {"no space", "size=4k", "head -c 4096 /dev/zero > /run/mycontainer/containers/fill; ",
       "/state.json'): No space left on device"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.label);
    const std::string name = new_name();
    const auto r = in_own_mount_namespace("mount -t tmpfs -o " + c.mount_options +
                                              " mct-full /run/mycontainer/containers && " + c.fill +
                                              "$MC; echo \"exit $?\" >&2",
                                          "--name " + name + " -- /bin/true");
    EXPECT_TRUE(contains(r.err, "exit 125\n")) << r.err;
    EXPECT_TRUE(contains(r.err, c.message)) << r.err;
    EXPECT_TRUE(contains(r.err, "No space left on device")) << r.err;
    EXPECT_EQ(count_lines(r.err), 2u) << "one line from mycontainer, one from the script:\n"
                                      << r.err;
    EXPECT_EQ(joined(traces_of(name, 0)), "");
  }
}

TEST_F(Faults, NameTakenByALiveContainerOrAKilledRuntime) {
  const std::string name = new_name(), seconds = unique_sleep_seconds();
  auto bg = start_sleeper({}, seconds, name);
  ASSERT_TRUE(wait_until([&] { return ctr::read_state(state_dir_of(name)).has_value(); }));
  auto r = mc({"--name", name}, {"/bin/true"});
  EXPECT_EQ(r.status, 125);
  EXPECT_TRUE(contains(r.err, "container name '" + name + "' is already in use by pid")) << r.err;
  EXPECT_EQ(count_lines(r.err), 1u);

  bg->signal(SIGKILL);  // the runtime dies; its state stays
  bg->wait();
  ASSERT_TRUE(wait_until([&] { return pids_matching("/bin/sleep " + seconds).empty(); }));
  r = mc({"--name", name}, {"/bin/true"});
  EXPECT_EQ(r.status, 125);
  EXPECT_TRUE(
      contains(r.err, "is left over from a runtime that was killed: run `mycontainer cleanup`"))
      << r.err;
  EXPECT_EQ(count_lines(r.err), 1u);

  EXPECT_EQ(run({bin("mycontainer"), "cleanup"}).status, 0);
  r = mc({"--name", name}, {"/bin/true"});
  EXPECT_EQ(r.status, 0) << "the name is free after cleanup: " << r.err;
}

// ==========================================================================================
// Containers that misbehave
// ==========================================================================================

TEST_F(Faults, OomKillOfPid1IsReportedAs137) {
  const std::string name = new_name();
  const auto r = mc({"--name", name, "-m", "16m"},
                    {"/bin/dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"});
  EXPECT_EQ(r.status, 128 + SIGKILL);
  EXPECT_EQ(r.err, "mycontainer: the command was killed by the OOM killer (memory limit 16 MiB)\n");
}

TEST_F(Faults, OomKillOfAChildIsReportedToo) {
  // PID 1 survives the kill of a child and exits normally: its code, and the report.
  const auto r = mc({"-m", "16m"}, {"/bin/sh", "-c",
                                    "dd if=/dev/zero of=/dev/null bs=64M count=1 2>/dev/null; "
                                    "echo child=$?"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "child=137\n");
  EXPECT_TRUE(contains(r.err, "killed by the OOM killer")) << r.err;
}

TEST_F(Faults, ForkBombIsHeldByThePidsLimit) {
  const std::string name = new_name();
  if (ctr::CgroupLayout::detect().find("pids") == nullptr) GTEST_SKIP() << "no pids controller";
  Background bg(mc_argv({"--name", name, "--pids-limit", "30"},
                        {"/bin/sh", "-c", "b() { b | b & }; b; /bin/sleep 2; exit 3"}));
  uint64_t most = 0;
  std::string pids_dir;  // wherever the runtime made it (v1: the pids tree; v2: the one dir)
  while (bg.running()) {
    for (const auto& dir : cgroup_dirs_of(name)) {
      if (pids_dir.empty() && fs::exists(dir + "/pids.current")) pids_dir = dir;
    }
    const std::string current =
        pids_dir.empty() ? "" : trimmed(read_file(pids_dir + "/pids.current"));
    if (!current.empty()) most = std::max<uint64_t>(most, std::stoull(current));
    std::this_thread::sleep_for(milliseconds(10));
  }
  const auto r = bg.wait();
  EXPECT_EQ(r.status, 3) << "PID 1 keeps control and exits with its own code";
  EXPECT_TRUE(contains(r.err, "can't fork")) << "the bomb hit the limit: " << r.err.substr(0, 500);
  // A fork over the limit is charged first and given back when the count is over
  // (kernel/cgroup/pids.c, pids_try_charge: atomic64_add_return, then revert): while one is
  // refused, pids.current reads 31. One such fork at a time per CPU, at most.
  EXPECT_LE(most, 30u + std::thread::hardware_concurrency());
  EXPECT_GT(most, 1u) << "the bomb never ran";
  EXPECT_EQ(joined(traces_of(name, bg.pid())), "");
}

TEST_F(Faults, OrphansDieWithTheContainer) {
  // Background processes, a double fork, a new session: all end with PID 1.
  for (const bool init : {false, true}) {
    SCOPED_TRACE(init ? "--init" : "no init");
    const std::string seconds = unique_sleep_seconds();
    std::vector<std::string> options;
    if (init) options.emplace_back("--init");
    const auto r = mc(options, {"/bin/sh", "-c",
                                fmt::format("/bin/sleep {0} & (/bin/sleep {0} &); "
                                            "/bin/setsid /bin/sleep {0} & exit 5",
                                            seconds)});
    EXPECT_EQ(r.status, 5) << r.err;
    EXPECT_TRUE(wait_until([&] { return pids_matching("/bin/sleep " + seconds).empty(); },
                           std::chrono::seconds(5)))
        << "an orphan survived its container";
    kill_sleepers(seconds);
  }
}

TEST_F(Faults, CleanupFromAnotherCgroupRemovesTheWholeCgroup) {
  // `mycontainer cleanup` run by a process in another cgroup than the runtime's (another
  // shell, a systemd unit) must still find and remove the container's cgroup in every tree.
  const std::string name = new_name(), seconds = unique_sleep_seconds();
  auto bg = start_sleeper({"--net", "none"}, seconds, name);
  ASSERT_TRUE(wait_until([&] { return ctr::read_state(state_dir_of(name)).has_value(); }));
  const auto dirs = cgroup_dirs_of(name);
  ASSERT_FALSE(dirs.empty());
  bg->signal(SIGKILL);
  bg->wait();
  ASSERT_TRUE(wait_until([&] { return pids_matching("/bin/sleep " + seconds).empty(); }));

  // A cgroup beside our own in every tree, for the cleaner.
  const std::string elsewhere = unique_name(kTag) + "-cleaner";
  std::vector<std::string> made;
  for (const auto& dir : cgroup_search_dirs()) {
    const std::string d = fmt::format("{}/{}", dir, elsewhere);
    if (::mkdir(d.c_str(), 0755) == 0) made.push_back(d);
  }
  std::string move;
  for (const auto& d : made) move += "echo $$ > " + d + "/cgroup.procs; ";
  const auto c = run({"/bin/sh", "-c", move + "exec " + bin("mycontainer") + " cleanup"});
  for (const auto& d : made) remove_cgroup_tree(d);
  EXPECT_EQ(c.status, 0) << c.err;
  EXPECT_TRUE(contains(c.out, "removed " + name)) << c.out;
  std::string left;
  for (const auto& d : dirs) {
    if (fs::exists(d)) left += d + "\n";
  }
  EXPECT_EQ(left, "") << "cleanup reported the container removed, but its cgroup stays";
}

TEST_F(Faults, CleanupLeavesAStartingContainerAlone) {
  // A runtime that has made its state directory but not yet written state.json (it waits for
  // the address allocator's lock, held here) is alive: `cleanup` must not take its state.
  const int third = ::getpid() % 250;
  const std::string subnet = fmt::format("10.216.{}.0/24", third);
  const std::string bridge = fmt::format("mctfc{}", ::getpid() % 10000000);
  const std::string name = new_name();
  std::optional<ctr::DirLock> lock;
  lock.emplace(ctr::Ipam(ctr::parse_subnet(subnet)).dir());
  Background bg(mc_argv({"--name", name, "--subnet", subnet, "--bridge", bridge}, {"/bin/true"}));
  const bool blocked =
      wait_until([&] { return fs::exists(state_dir_of(name)) && blocked_on_lock(bg.pid()); });
  const auto c = run({bin("mycontainer"), "cleanup"});
  const bool state_kept = fs::exists(state_dir_of(name));
  lock.reset();
  const auto r = bg.wait();
  if (ctr::link_exists(bridge)) ctr::delete_link(bridge);
  std::error_code ec;
  fs::remove(ctr::Ipam(ctr::parse_subnet(subnet)).dir(), ec);
  ASSERT_TRUE(blocked) << r.err;
  EXPECT_TRUE(state_kept) << "cleanup removed the state of a live runtime: " << c.out;
  EXPECT_FALSE(contains(c.out, "removed " + name)) << c.out;
  EXPECT_EQ(r.status, 0) << "the container, once let go, runs: " << r.err;
}

TEST_F(Faults, CleanupNeverFreesAnAddressALiveContainerTookOver) {
  // A killed runtime leaves its lease, stale. A new container takes that address over (the
  // allocator reuses stale leases). `cleanup` of the killed one must then not delete the
  // lease file, which is now the live container's: a third container would get the same
  // address.
  const std::string ip = fmt::format("10.47.0.{}", 190 + ::getpid() % 10);
  const std::string killed = new_name(), seconds = unique_sleep_seconds();
  {
    auto bg = start_sleeper({"--ip", ip + "/24"}, seconds, killed);
    ASSERT_TRUE(wait_until([&] { return ctr::read_state(state_dir_of(killed)).has_value(); }));
    bg->signal(SIGKILL);
    bg->wait();
    ASSERT_TRUE(wait_until([&] { return pids_matching("/bin/sleep " + seconds).empty(); }));
  }
  const std::string lease = ctr::read_state(state_dir_of(killed))->lease;
  ASSERT_FALSE(lease.empty());

  const std::string live = new_name(), live_seconds = unique_sleep_seconds();
  auto bg = start_sleeper({"--ip", ip + "/24"}, live_seconds, live);
  ASSERT_TRUE(wait_until([&] { return ctr::read_state(state_dir_of(live)).has_value(); }));
  EXPECT_EQ(trimmed(read_file(lease)), std::to_string(bg->pid())) << "the live one holds it";

  const auto c = run({bin("mycontainer"), "cleanup"});
  EXPECT_TRUE(contains(c.out, "removed " + killed)) << c.out;
  EXPECT_EQ(trimmed(read_file(lease)), std::to_string(bg->pid()))
      << "cleanup of " << killed << " deleted the lease of the live " << live;
  const auto third = mc({"--ip", ip + "/24"}, {"/bin/true"});
  EXPECT_EQ(third.status, 125) << "the address of a running container was given again";
  EXPECT_TRUE(contains(third.err, "address " + ip + " is already used")) << third.err;
  kill_sleepers(live_seconds);
  bg->wait();
}

// ==========================================================================================
// 50 at once, every way of ending
// ==========================================================================================

TEST_F(Faults, FiftyParallelRunsEndingEveryWayLeaveNothing) {
  constexpr int kCount = 50;
  struct Job {
    std::string name;
    std::vector<std::string> options, command;
    int expected;
    RunResult result;
  };
  std::vector<Job> jobs(kCount);
  for (int i = 0; i < kCount; ++i) {
    Job& j = jobs[i];
    j.name = new_name();
    switch (i % 5) {
      case 0:  // its own exit code
        j.command = {"/bin/sh", "-c", fmt::format("exit {}", i)};
        j.expected = i;
        break;
      case 1:  // not found
        j.command = {"/no/such/command"};
        j.expected = 127;
        break;
      case 2:  // OOM
        j.options = {"-m", "16m"};
        j.command = {"/bin/dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"};
        j.expected = 137;
        break;
      case 3:  // refused: a cgroup limit the kernel would not take never gets that far
        j.options = {"--cpus", "0"};
        j.command = {"/bin/true"};
        j.expected = 125;
        break;
      default:  // killed by a signal, through the init
        j.options = {"--init"};
        j.command = {"/bin/sh", "-c", "kill -TERM $$; /bin/sleep 5"};
        j.expected = 143;
        break;
    }
  }
  std::vector<std::thread> threads;
  RunOptions ro;
  ro.timeout = std::chrono::seconds(180);
  threads.reserve(jobs.size());
  for (auto& j : jobs) {
    threads.emplace_back([&j, &ro] {
      auto options = j.options;
      options.insert(options.begin(), {"--name", j.name});
      j.result = mc(options, j.command, ro);
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& j : jobs) {
    EXPECT_EQ(j.result.status, j.expected) << j.name << ": " << j.result.err;
    EXPECT_FALSE(j.result.timed_out) << j.name;
    if (j.expected >= 125 && j.expected != 143) {
      EXPECT_EQ(count_lines(j.result.err), 1u) << j.name << ": " << j.result.err;
    }
  }
}

}  // namespace
}  // namespace mc::test
