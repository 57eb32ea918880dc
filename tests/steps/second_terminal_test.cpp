// "Open a second terminal and start another container": the READMEs invite it, so the step
// suites must pass while other containers run on the same host. This test starts two
// unrelated containers in the background (a step-7 `run -d` with its own name, veth and
// cgroup, and a step-6 container with its own cgroup and veth), runs the step suites with
// MC_REQUIRE_ROOT=1 meanwhile, expects every one of them to pass, and removes the containers.
//
// The suites run as separate processes: each marks what it starts with its own pid
// (support.hpp, kOwnerVariable), so the two containers here are strangers to them, as a
// learner's are.
#include <signal.h>

#include <chrono>
#include <thread>

#include "leftovers.hpp"
#include "mycontainer.hpp"
#include "steps.hpp"

namespace mc::test {
namespace {

constexpr const char* kTag = "mct2t";

// The suites to run, with the tests left out that measure CPU time (they need the machine's
// cores to themselves, other containers or not) or need a probe program that is not built.
struct Suite {
  std::string binary;
  std::string filter;
};

std::vector<Suite> suites() {
  return {{"steps_step2_test", "*"},       {"steps_step3_test", "*"},
          {"steps_step4_test", "*"},       {"steps_step5_test", "*"},
          {"steps_step6_test", "-*Cpus*"}, {"steps_all_steps_test", "*"}};
}

TEST(SecondTerminal, StepSuitesPassWhileOtherContainersRun) {
  MC_REQUIRE_ROOT();
  for (const auto& s : suites()) {
    if (!std::filesystem::exists(bin(s.binary))) {
      MC_SKIP_OR_FAIL(s.binary + " is not built: cmake --build build --target " + s.binary);
    }
  }
  Leftovers leftovers(kTag);

  // 1. A step-7 container in the background, as `mycontainer run -d` in a second terminal.
  const std::string name = unique_name(kTag);
  const std::string seconds = unique_sleep_seconds();
  const auto started = run({bin("mycontainer"), "run", "-d", "--rootfs", rootfs(), "--name", name,
                            "--", "/bin/sleep", seconds});
  ASSERT_EQ(started.status, 0) << started.err;

  // 2. A step-6 container in the foreground of its own thread, as `sudo ./container` would.
  const std::string seconds6 = unique_sleep_seconds();
  RunOptions long_enough;  // until killed below, after the suites
  long_enough.timeout = std::chrono::minutes(15);
  std::thread step6([&] {
    run_step(step(6), {"--memory", "64M"}, {"/bin/sleep", seconds6}, long_enough);
  });
  for (int i = 0; i < 200 && pids_matching("/bin/sleep " + seconds6).empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  EXPECT_FALSE(pids_matching("/bin/sleep " + seconds).empty()) << "the step-7 container runs";
  EXPECT_FALSE(pids_matching("/bin/sleep " + seconds6).empty()) << "the step-6 container runs";

  // 3. The suites, one after the other, each as its own process.
  RunOptions options;
  options.env = {"MC_REQUIRE_ROOT=1"};
  options.timeout = std::chrono::minutes(4);
  for (const auto& s : suites()) {
    const auto r = run({bin(s.binary), "--gtest_filter=" + s.filter, "--gtest_brief=1"}, options);
    EXPECT_EQ(r.status, 0) << s.binary << " failed while other containers ran:\n" << r.out;
  }

  // 4. Both containers still ran all along; then they go, and leave nothing.
  EXPECT_FALSE(pids_matching("/bin/sleep " + seconds).empty()) << "the step-7 container died";
  EXPECT_FALSE(pids_matching("/bin/sleep " + seconds6).empty()) << "the step-6 container died";
  kill_sleepers(seconds6);
  step6.join();
  const auto removed = run({bin("mycontainer"), "rm", "--force", name});
  EXPECT_EQ(removed.status, 0) << removed.err;
  EXPECT_EQ("", leftovers.check());
  leftovers.scrub();
}

}  // namespace
}  // namespace mc::test
