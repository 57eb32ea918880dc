// What holds for every step: exit status passed through, bad input refused with one line and
// the documented exit code, and nothing left behind on the host.
#include <signal.h>

#include <chrono>
#include <thread>

#include "steps.hpp"

namespace mc::test {
namespace {

class EveryStep : public ::testing::TestWithParam<Step> {
 protected:
  void SetUp() override { MC_REQUIRE_ROOT(); }
};

TEST_P(EveryStep, PassesTheCommandsExitCodeThrough) {
  const auto r = run_step(GetParam(), {}, {"/bin/sh", "-c", "exit 7"});
  EXPECT_EQ(r.status, 7) << r.err;
}

TEST_P(EveryStep, RunsTheDefaultShellOnItsStdin) {
  // No command: /bin/sh, which reads the commands from stdin.
  RunOptions with_input;
  with_input.input = "echo from-the-shell; exit 4\n";
  const auto r = run_step(GetParam(), {}, {}, with_input);
  EXPECT_EQ(r.status, 4) << r.err;
  EXPECT_EQ(r.out, "from-the-shell\n");
}

TEST_P(EveryStep, ReportsDeathBySignalAs128PlusN) {
  // The host kills the command: the host sees it, under a host PID, in every step.
  const std::string seconds = unique_sleep_seconds();
  std::thread killer([&] {
    for (int i = 0; i < 200; ++i) {
      for (int pid : pids_matching("/bin/sleep " + seconds)) {
        ::kill(pid, SIGKILL);
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
  });
  const auto r = run_step(GetParam(), {}, {"/bin/sleep", seconds});
  killer.join();
  EXPECT_EQ(r.status, 128 + SIGKILL) << r.err;
}

TEST_P(EveryStep, MissingRootfsIsOneLineAndExit125) {
  const auto before = HostSnapshot::take();
  const auto r = run({bin(GetParam().binary), GetParam().number == 7 ? "run" : "--rootfs",
                      GetParam().number == 7 ? "--rootfs" : "/nonexistent-rootfs",
                      GetParam().number == 7 ? "/nonexistent-rootfs" : "--", "/bin/true"});
  EXPECT_EQ(r.status, 125);
  EXPECT_NE(r.err.find("rootfs '/nonexistent-rootfs' does not exist"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_EQ("", diff(before, HostSnapshot::take()));
}

TEST_P(EveryStep, MissingCommandIsExit127) {
  const auto before = HostSnapshot::take();
  const auto r = run_step(GetParam(), {}, {"/no/such/command"});
  EXPECT_EQ(r.status, 127);
  EXPECT_NE(r.err.find("execve('/no/such/command'): No such file or directory"), std::string::npos)
      << r.err;
  EXPECT_EQ("", diff(before, HostSnapshot::take()));
}

TEST_P(EveryStep, CommandThatCannotRunIsExit126) {
  const auto r = run_step(GetParam(), {}, {"/etc"});
  EXPECT_EQ(r.status, 126) << r.err;
}

TEST_P(EveryStep, UnknownOptionIsRefusedWith125) {
  const auto before = HostSnapshot::take();
  auto argv = std::vector<std::string>{bin(GetParam().binary)};
  if (GetParam().number == 7) argv.emplace_back("run");
  argv.emplace_back("--no-such-option");
  const auto r = run(argv);
  EXPECT_EQ(r.status, 125);
  EXPECT_NE(r.err.find("--no-such-option"), std::string::npos) << r.err;
  EXPECT_EQ("", diff(before, HostSnapshot::take()));
}

TEST_P(EveryStep, LeavesNothingBehind) {
  const auto before = HostSnapshot::take();
  const std::string seconds = unique_sleep_seconds();
  const auto r = run_step(GetParam(), {},
                          {"/bin/sh", "-c", "/bin/sleep " + seconds + " >/dev/null 2>&1 & exit 0"});
  EXPECT_EQ(r.status, 0) << r.err;
  // Steps with a PID namespace kill the background sleep with their PID 1; step 1 cannot
  // (it has none): that leak is the lesson of step 2's README, so step 1 is excused here.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const auto left = pids_matching("/bin/sleep " + seconds);
  if (GetParam().number >= 2) {
    EXPECT_TRUE(left.empty()) << "a container process survived";
  }
  for (int pid : left) ::kill(pid, SIGKILL);
  EXPECT_EQ("", diff(before, HostSnapshot::take()));
}

std::string step_name(const ::testing::TestParamInfo<Step>& info) {
  return "step" + std::to_string(info.param.number);
}

INSTANTIATE_TEST_SUITE_P(Steps, EveryStep, ::testing::ValuesIn(all_steps()), step_name);

}  // namespace
}  // namespace mc::test
