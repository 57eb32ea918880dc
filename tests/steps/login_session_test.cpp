// Limits from a login shell, on cgroup v2 (steps 6 and 7). `sudo ./container -m 64m` typed in
// a terminal runs in the login session's scope, which also holds the shell and sudo; cgroup v2
// lets a cgroup hand controllers to its children only when it holds no process itself
// (cgroup-v2.rst "No Internal Process Constraint"), and the runtime never moves a process it
// did not start. So, like docker, podman and runc with the cgroupfs driver, it makes the
// container's cgroup beneath a top-level cgroup of its own, /sys/fs/cgroup/mycontainer/NAME
// (ctr::Cgroup, cgroup_v2.cpp), and says so in --explain.
//
// Each test makes such a "session": a cgroup beside the test's own that holds a stand-in for
// the shell (a sleep this test started) and the runtime (started through `sh -c 'echo $$ >
// SESSION/cgroup.procs; exec RUNTIME ...'`, so only processes of this test ever move). It then
// checks that -m, --cpus and --pids-limit are enforced, where the container's cgroup was made,
// that nobody else was moved and that nothing is left behind. cgroup v2 only: on a v1 machine
// (or a hybrid one, like the development machine) the tests skip, and scripts/vm-test.sh runs
// them in a v2 VM.
#include <linux/magic.h>  // CGROUP2_SUPER_MAGIC
#include <signal.h>       // kill(2)
#include <sys/statfs.h>   // statfs(2)
#include <sys/wait.h>     // waitpid(2)
#include <unistd.h>       // fork(2), rmdir(2)

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>  // fmt::join

#include "background.hpp"  // Background, wait_until
#include "ctr/cgroup.hpp"  // ctr::kTopLevelCgroup, ctr::kRuntimeLeafCgroup
#include "steps.hpp"

namespace mc::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const std::string kRoot = "/sys/fs/cgroup";
const std::string kTop = kRoot + "/" + std::string(ctr::kTopLevelCgroup);

bool cgroup_v2_only() {
  struct statfs st {};
  return ::statfs(kRoot.c_str(), &st) == 0 && st.f_type == CGROUP2_SUPER_MAGIC;
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// The cgroup `pid` is in, from the "0::" line of /proc/PID/cgroup: "/mycontainer/x" ("" gone).
std::string cgroup_of(int pid) {
  std::ifstream in(fmt::format("/proc/{}/cgroup", pid));
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("0::", 0) == 0) return line.substr(3);
  }
  return {};
}

// The children of the top-level cgroup ("" names when it does not exist).
std::vector<std::string> top_children() {
  std::vector<std::string> out;
  std::error_code ec;
  for (fs::directory_iterator it(kTop, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_directory(ec)) out.push_back(it->path().filename().string());
  }
  return out;
}

uint64_t key_of(const std::string& file, const std::string& key) {
  std::istringstream in(read_file(file));
  std::string k;
  uint64_t v = 0;
  while (in >> k >> v) {
    if (k == key) return v;
  }
  return 0;
}

// A login session's scope: a cgroup beside the test's own (beneath it where ours is not a
// runtime's leaf), holding a process that stands for the shell. Removed at the end.
class Session {
 public:
  Session() {
    std::string own = kRoot + cgroup_of(::getpid());
    if (fs::path(own).filename() == std::string(ctr::kRuntimeLeafCgroup)) {
      own = fs::path(own).parent_path();
    }
    dir_ = own + "/" + unique_name("mct-session");
    fs::create_directory(dir_);
    shell_ = ::fork();
    if (shell_ == 0) {
      ::execl("/bin/sleep", "sleep", "1000", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    std::ofstream(dir_ + "/cgroup.procs") << shell_ << std::flush;
  }
  ~Session() {
    if (shell_ > 0) {
      ::kill(shell_, SIGKILL);
      ::waitpid(shell_, nullptr, 0);
    }
    wait_until([&] { return ::rmdir(dir_.c_str()) == 0 || errno == ENOENT; }, 5s);
  }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  const std::string& dir() const { return dir_; }
  pid_t shell() const { return shell_; }
  // The runtime's command line, started from inside the session.
  std::vector<std::string> argv(int step_number, const std::vector<std::string>& options,
                                const std::vector<std::string>& command) const {
    const Step& s = step(step_number);
    std::vector<std::string> argv = {"/bin/sh", "-c",
                                     fmt::format("echo $$ > {}/cgroup.procs && exec \"$@\"", dir_),
                                     "sh", bin(s.binary)};
    for (const auto& p : s.prefix()) argv.push_back(p);
    argv.insert(argv.end(), options.begin(), options.end());
    argv.emplace_back("--");
    argv.insert(argv.end(), command.begin(), command.end());
    return argv;
  }

 private:
  std::string dir_;
  pid_t shell_ = -1;
};

class LoginSession : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    MC_REQUIRE_ROOT();
    if (!cgroup_v2_only()) GTEST_SKIP() << "cgroup v2 only (scripts/vm-test.sh runs it)";
    session_.emplace();  // only now: on a v1 host its cgroup would be a plain directory
    shell_cgroup_before_ = cgroup_of(session_->shell());
    top_before_ = top_children();
  }
  void TearDown() override {
    if (IsSkipped()) return;
    EXPECT_EQ(cgroup_of(session_->shell()), shell_cgroup_before_) << "the shell was moved";
    EXPECT_EQ(cgroup_of(::getpid()), own_before_) << "the test process was moved";
    // The container's cgroup is gone; the top-level cgroup may stay, as docker's does.
    EXPECT_TRUE(wait_until([&] { return top_children() == top_before_; }, 10s))
        << "left in " << kTop << ": " << fmt::format("{}", fmt::join(top_children(), " "));
    EXPECT_FALSE(fs::exists(session_->dir() + "/" + std::string(ctr::kRuntimeLeafCgroup)))
        << "the runtime made a leaf in a cgroup it shares";
  }
  RunResult run_in_session(std::vector<std::string> options,
                           const std::vector<std::string>& command) {
    options.insert(options.end(), {"--net", "none"});
    return run(session_->argv(GetParam(), options, command));
  }

  std::string own_before_ = cgroup_of(::getpid());
  std::optional<Session> session_;  // made in SetUp, on a cgroup v2 host only
  std::string shell_cgroup_before_;
  std::vector<std::string> top_before_;
};

TEST_P(LoginSession, MemoryLimitKillsAHogAndExplainSaysWhere) {
  const auto r = run_in_session({"--explain", "-m", "32m"}, {"/bin/tail", "/dev/zero"});
  EXPECT_EQ(r.status, 137) << r.err;
  EXPECT_NE(r.err.find("killed by the OOM killer (memory limit 32 MiB)"), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("container cgroups go beneath " + kTop + " -> the runtime's cgroup '" +
                       session_->dir() + "' holds other processes"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("mkdir " + kTop + "/"), std::string::npos) << r.err;
}

TEST_P(LoginSession, PidsLimitStopsAForkLoop) {
  const std::string seconds = unique_sleep_seconds();
  const std::string loop = fmt::format(
      "i=0; while [ $i -lt 100 ]; do sleep {} & i=$((i+1)); echo started $i; done", seconds);
  const auto r = run_in_session({"--pids-limit", "20"}, {"/bin/sh", "-c", loop});
  EXPECT_NE(r.status, 0) << r.out << r.err;
  EXPECT_NE(r.err.find("can't fork"), std::string::npos) << r.err;
  EXPECT_EQ(r.out.find("started 20\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("started 10\n"), std::string::npos) << r.out;
  EXPECT_TRUE(wait_until([&] { return pids_matching("sleep " + seconds + " ").empty(); }));
}

// The container's cgroup is /sys/fs/cgroup/mycontainer/NAME, with cpu.max written, and a busy
// loop in it is throttled to about a quarter of a CPU.
TEST_P(LoginSession, CpusThrottlesABusyLoopInTheTopLevelCgroup) {
  const std::string marker = unique_name("mc-busy");
  Background bg(session_->argv(GetParam(), {"--net", "none", "--cpus", "0.25"},
                               {"/bin/sh", "-c", "while :; do :; done", marker}));
  int pid1 = 0;
  ASSERT_TRUE(wait_until([&] {
    const auto pids = pids_matching("/bin/sh -c while :; do :; done " + marker);
    pid1 = pids.empty() ? 0 : pids.front();
    return pid1 > 0 && cgroup_of(pid1).rfind("/" + std::string(ctr::kTopLevelCgroup) + "/", 0) == 0;
  })) << "the container is not beneath "
      << kTop << ": " << (pid1 ? cgroup_of(pid1) : "") << bg.err();
  const std::string dir = kRoot + cgroup_of(pid1);
  EXPECT_EQ(fs::path(dir).parent_path(), kTop);
  EXPECT_EQ(trim(read_file(dir + "/cpu.max")), "25000 100000");
  const uint64_t usage0 = key_of(dir + "/cpu.stat", "usage_usec");
  const auto t0 = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(2s);
  const uint64_t usage1 = key_of(dir + "/cpu.stat", "usage_usec");
  const double wall =
      std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
  const double ratio = static_cast<double>(usage1 - usage0) / wall;
  EXPECT_LE(ratio, 0.40) << "CPUs used with --cpus 0.25";
  EXPECT_GT(key_of(dir + "/cpu.stat", "nr_throttled"), 0u);
  ::kill(pid1, SIGKILL);
  EXPECT_EQ(bg.wait().status, 137) << bg.err();
  EXPECT_TRUE(wait_until([&] { return !fs::exists(dir); }, 10s)) << dir << " left behind";
}

// --cgroup-parent still wins over the top-level cgroup.
TEST_P(LoginSession, CgroupParentStillWins) {
  const std::string parent = unique_name("mct-parent");
  const auto r =
      run_in_session({"--explain", "--cgroup-parent", parent, "--pids-limit", "7"}, {"/bin/true"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("mkdir " + kRoot + "/" + parent + "/"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("container cgroups go beneath"), std::string::npos) << r.err;
  ::rmdir((kRoot + "/" + parent).c_str());  // kept by the runtime, like docker's
  EXPECT_FALSE(fs::exists(kRoot + "/" + parent));
}

INSTANTIATE_TEST_SUITE_P(Steps6And7, LoginSession, ::testing::Values(6, 7),
                         [](const auto& info) { return fmt::format("Step{}", info.param); });

}  // namespace
}  // namespace mc::test
