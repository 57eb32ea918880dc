// Step 2: a PID namespace. The command is PID 1 and sees only its own processes, while the
// host sees it under an ordinary host PID.
#include <chrono>
#include <sstream>
#include <thread>

#include "steps.hpp"

namespace mc::test {
namespace {

class PidNamespace : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override { MC_REQUIRE_ROOT(); }
};

TEST_P(PidNamespace, CommandIsPid1) {
  const auto r = run_step(step(GetParam()), {}, {"/bin/sh", "-c", "echo $$"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "1\n");
}

TEST_P(PidNamespace, PsListsOnlyTheContainersProcesses) {
  // ps reads /proc: the container's own, so it lists PID 1 (the shell) and ps itself.
  const auto r = run_step(step(GetParam()), {}, {"/bin/sh", "-c", "ps -o pid,comm; true"});
  ASSERT_EQ(r.status, 0) << r.err;
  std::istringstream lines(r.out);
  std::string header, line;
  std::getline(lines, header);
  std::vector<std::string> processes;
  while (std::getline(lines, line)) processes.push_back(line);
  EXPECT_EQ(processes.size(), 2u) << r.out;
  EXPECT_NE(r.out.find("    1 sh"), std::string::npos) << r.out;
}

TEST_P(PidNamespace, HostSeesTheContainerUnderAHostPid) {
  const std::string seconds = unique_sleep_seconds();
  std::string nspid;
  std::thread watcher([&] {
    for (int i = 0; i < 200 && nspid.empty(); ++i) {
      for (int pid : pids_matching("/bin/sleep " + seconds)) {
        // "NSpid: 4242 1": the host's number, then the container's (proc(5)).
        const std::string status = read_file("/proc/" + std::to_string(pid) + "/status");
        const auto at = status.find("NSpid:");
        nspid = status.substr(at, status.find('\n', at) - at);
        ::kill(pid, SIGKILL);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
  });
  const auto r = run_step(step(GetParam()), {}, {"/bin/sleep", seconds});
  watcher.join();
  ASSERT_FALSE(nspid.empty()) << "the host never saw the container's process";
  std::istringstream fields(nspid);
  std::string label;
  int host_pid = 0, container_pid = 0;
  fields >> label >> host_pid >> container_pid;
  EXPECT_GT(host_pid, 1) << nspid;
  EXPECT_EQ(container_pid, 1) << nspid;
}

INSTANTIATE_TEST_SUITE_P(Steps, PidNamespace, ::testing::Values(2, 3, 4),
                         [](const auto& info) { return "step" + std::to_string(info.param); });

TEST(Step2, ProcMountIsRemovedFromTheHostAfterTheRun) {
  MC_REQUIRE_ROOT();
  // Without a mount namespace the child's /proc mount is in the host's table while it runs
  // (the leak step 3 closes); the runtime must take it away afterwards.
  const auto before = HostSnapshot::take();
  const auto r = run_step(step(2), {}, {"/bin/sh", "-c", "grep -c ' /proc ' /proc/self/mountinfo"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ("", diff(before, HostSnapshot::take()));
}

}  // namespace
}  // namespace mc::test
