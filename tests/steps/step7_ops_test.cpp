// Step 7, the operations on a running container (#12), through the library, on real
// containers started by the foreground `mycontainer run`: exec (the new process shares the
// container's namespaces and cgroup and gets its hardening; its exit code; a stopped
// container; a working directory through a leaked descriptor refused) and the freezer (a
// busy process stops using CPU while frozen and goes on after the thaw). The commands
// themselves (mycontainer exec, pause, update...) are tested through the CLI in
// step7_oci_ops_test.cpp. Nothing may be left behind (Leftovers).
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "background.hpp"
#include "ctr/cgroup.hpp"
#include "ctr/error.hpp"
#include "ctr/fd.hpp"
#include "leftovers.hpp"
#include "mycontainer.hpp"
#include "runtime/capabilities.hpp"
#include "runtime/exec.hpp"
#include "runtime/freezer.hpp"
#include "runtime/seccomp.hpp"
#include "runtime/spec.hpp"
#include "runtime/state.hpp"
#include "support.hpp"

namespace mc::test {
namespace {

namespace fs = std::filesystem;
constexpr const char* kTag = "mcto";

class Step7Ops : public ::testing::Test {
 protected:
  void SetUp() override {
    MC_REQUIRE_ROOT();
    leftovers_.emplace(kTag);
  }
  void TearDown() override {
    if (!leftovers_) return;
    EXPECT_EQ("", leftovers_->check()) << "left on the host by this test";
    leftovers_->scrub();
  }
  std::optional<Leftovers> leftovers_;
};

// A container running `sleep SECONDS` in the background, and its state once it has a pid.
struct Sleeper {
  std::string name = unique_name(kTag);
  std::string seconds = unique_sleep_seconds();
  Background bg{mycontainer_argv(kTag, {"--name", name}, {"/bin/sleep", seconds})};
  std::optional<ctr::ContainerState> state;

  Sleeper() {
    wait_until([&] {
      state = ctr::read_state("/run/mycontainer/containers/" + name);
      return state && state->pid != 0;
    });
  }
  ~Sleeper() {
    kill_sleepers(seconds);
    bg.wait();
  }
  mycontainer::ExecTarget target() const {
    return {.pid = state->pid,
            .start_time = ctr::process_start_time(state->pid),
            .cgroup_dirs = state->cgroup_dirs};
  }
};

// The process the container's default hardening gives, for `args`: docker's capabilities,
// no_new_privs, in /tmp.
mycontainer::Process process(std::vector<std::string> args) {
  mycontainer::Process p;
  p.args = std::move(args);
  p.env = {"PATH=/bin:/usr/bin", "HOME=/root"};
  p.cwd = "/tmp";
  const auto caps = ctr::default_capabilities();
  p.capabilities = mycontainer::Capabilities{
      .bounding = caps, .effective = caps, .inheritable = {}, .permitted = caps, .ambient = {}};
  p.no_new_privileges = true;
  return p;
}

struct Captured {
  std::string out;
  int code = -1;
  std::string error;  // the ExecError, if any
};

// exec_in_container in a child of ours (the new process is that child's child through
// CLONE_PARENT, and its signal handlers are the child's), stdout captured.
Captured exec_captured(const mycontainer::ExecTarget& target, const mycontainer::ExecRequest& r) {
  const std::string result = in_child([&]() -> std::string {
    int p[2];
    if (::pipe(p) != 0) return "pipe failed";
    ::dup2(p[1], 1);
    ::close(p[1]);
    std::string head;
    try {
      const auto res = mycontainer::exec_in_container(target, r);
      head = fmt::format("code {}\n", res.exit_code.value_or(-1));
    } catch (const mycontainer::ExecError& e) {
      head = fmt::format("error {} {}\n", e.exit_code(), e.what());
    } catch (const std::exception& e) {
      head = fmt::format("error 0 {}\n", e.what());
    }
    ::close(1);
    return head + ctr::read_all(p[0]);
  });
  Captured c;
  std::istringstream in(result);
  std::string word;
  in >> word;
  if (word == "code") {
    in >> c.code;
  } else {
    in >> c.code;
    std::getline(in, c.error);
    c.error += result;
  }
  std::string rest;
  std::getline(in, rest);  // the end of the first line
  c.out.assign(std::istreambuf_iterator<char>(in), {});
  return c;
}

std::string ns_link(pid_t pid, const std::string& ns) {
  return fs::read_symlink(fmt::format("/proc/{}/ns/{}", pid, ns)).string();
}

TEST_F(Step7Ops, ExecRunsInEveryNamespaceOfTheContainerWithItsHardening) {
  Sleeper c;
  ASSERT_TRUE(c.state && c.state->pid) << c.bg.wait().err;
  mycontainer::ExecRequest r;
  r.process = process({"/bin/sh", "-c",
                       "for n in mnt pid net uts ipc cgroup; do readlink /proc/self/ns/$n; done; "
                       "echo pid=$$; pwd; grep -E '^(NoNewPrivs|Seccomp|CapBnd|CapEff):' "
                       "/proc/self/status; exit 7"});
  r.seccomp = ctr::compile_seccomp(ctr::default_seccomp_profile(ctr::default_capabilities()));
  const Captured got = exec_captured(c.target(), r);
  ASSERT_EQ(got.error, "");
  EXPECT_EQ(got.code, 7) << "the command's own exit code";
  const auto lines = lines_of(got.out);
  ASSERT_GE(lines.size(), 12u) << got.out;
  const char* names[] = {"mnt", "pid", "net", "uts", "ipc", "cgroup"};
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(lines[i], ns_link(c.state->pid, names[i])) << "the container's " << names[i];
    EXPECT_NE(lines[i], ns_link(::getpid(), names[i]));
  }
  // In the container's pid namespace: a small number, not the host's.
  const int pid_inside = std::stoi(lines[6].substr(4));
  EXPECT_GT(pid_inside, 1);
  EXPECT_LT(pid_inside, 100);
  EXPECT_EQ(lines[7], "/tmp");
  EXPECT_EQ(status_field(got.out, "NoNewPrivs"), "1");
  EXPECT_EQ(status_field(got.out, "Seccomp"), "2") << "the container's filter, not none";
  EXPECT_EQ(status_field(got.out, "CapBnd"), "00000000a80405fb");
  EXPECT_EQ(status_field(got.out, "CapEff"), "00000000a80405fb");
}

TEST_F(Step7Ops, ADetachedExecJoinsTheCgroupAndIsNotTheRuntimesChild) {
  Sleeper c;
  ASSERT_TRUE(c.state && c.state->pid);
  const std::string seconds = unique_sleep_seconds();
  mycontainer::ExecRequest r;
  r.process = process({"/bin/sleep", seconds});
  r.detach = true;
  // The runtime (in_child's child) returns at once; the process outlives it.
  const std::string pid_text =
      in_child([&] { return std::to_string(mycontainer::exec_in_container(c.target(), r).pid); });
  const pid_t pid = std::stoi(pid_text);
  ASSERT_GT(pid, 0) << pid_text;
  EXPECT_TRUE(ctr::process_alive(pid, ctr::process_start_time(pid)));
  for (const auto& dir : c.state->cgroup_dirs) {
    EXPECT_TRUE(contains(" " + read_file(dir + "/cgroup.procs"), fmt::format("\n{}\n", pid)) ||
                read_file(dir + "/cgroup.procs").rfind(fmt::format("{}\n", pid), 0) == 0)
        << dir << " has the exec'd process";
  }
  EXPECT_NE(leftovers_detail::parent_of(pid), ::getpid());
  ::kill(pid, SIGKILL);
}

TEST_F(Step7Ops, ACommandThatIsNotThereIs127AndAStoppedContainerIsRefused) {
  std::optional<mycontainer::ExecTarget> target;
  {
    Sleeper c;
    ASSERT_TRUE(c.state && c.state->pid);
    target = c.target();
    mycontainer::ExecRequest r;
    r.process = process({"/no/such/command"});
    const Captured got = exec_captured(*target, r);
    EXPECT_EQ(got.code, 127) << got.error;
    EXPECT_TRUE(contains(got.error, "/no/such/command")) << got.error;
  }
  // The container has ended (Sleeper's destructor): its pid is gone or another process's.
  mycontainer::ExecRequest r;
  r.process = process({"/bin/true"});
  const Captured got = exec_captured(*target, r);
  EXPECT_TRUE(contains(got.error, "not running")) << got.error;
}

TEST_F(Step7Ops, AWorkdirThroughALeakedHostDescriptorIsRefused) {
  // CVE-2024-21626's shape: a descriptor of a host directory open in the runtime, and a
  // process.cwd of /proc/self/fd/N. The new process closes what it inherited before
  // resolving anything, and resolves the directory inside the container's root.
  Sleeper c;
  ASSERT_TRUE(c.state && c.state->pid);
  const int leaked = ::open("/", O_RDONLY | O_DIRECTORY);  // not O_CLOEXEC, on purpose
  ASSERT_GE(leaked, 3);
  mycontainer::ExecRequest r;
  r.process = process({"/bin/ls", "-a"});
  r.process.cwd = fmt::format("/proc/self/fd/{}", leaked);
  const Captured got = exec_captured(c.target(), r);
  ::close(leaked);
  EXPECT_EQ(got.code, 125) << got.error << got.out;
  EXPECT_TRUE(contains(got.error, r.process.cwd)) << got.error;
  EXPECT_FALSE(contains(got.out, "..")) << "ls ran, in: " << got.out;
}

// A process using CPU all the time, and its CPU time so far (proc(5) fields 14 + 15).
uint64_t cpu_ticks(pid_t pid) {
  std::string stat = read_file(fmt::format("/proc/{}/stat", pid));
  std::istringstream rest(stat.substr(stat.rfind(')') + 2));
  std::string field;
  uint64_t utime = 0, stime = 0;
  for (int i = 3; i <= 15; ++i) {
    rest >> field;
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return utime + stime;
}

TEST_F(Step7Ops, AFrozenCgroupStopsItsProcessesUntilThawed) {
  const std::string name = unique_name(kTag);
  ctr::Cgroup cg = ctr::Cgroup::create(ctr::cgroup_name(name), {});
  Background busy({"/bin/sh", "-c", "while :; do :; done"});
  cg.add(busy.pid());
  const auto dirs = cg.dirs();
  ASSERT_FALSE(ctr::frozen(dirs));
  ctr::freeze(dirs);
  EXPECT_TRUE(ctr::frozen(dirs));
  const uint64_t before = cpu_ticks(busy.pid());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(cpu_ticks(busy.pid()), before) << "a frozen process uses no CPU";
  ctr::thaw(dirs);
  EXPECT_FALSE(ctr::frozen(dirs));
  EXPECT_TRUE(wait_until([&] { return cpu_ticks(busy.pid()) > before; }))
      << "it runs again after the thaw";
}

TEST_F(Step7Ops, FreezingTwiceIsHarmlessAndThawingWorksOnce) {
  const std::string name = unique_name(kTag);
  ctr::Cgroup cg = ctr::Cgroup::create(ctr::cgroup_name(name), {});
  Background idle({"/bin/sleep", unique_sleep_seconds()});
  cg.add(idle.pid());
  ctr::freeze(cg.dirs());
  EXPECT_NO_THROW(ctr::freeze(cg.dirs()));
  ctr::thaw(cg.dirs());
  EXPECT_FALSE(ctr::frozen(cg.dirs()));
}

}  // namespace
}  // namespace mc::test
