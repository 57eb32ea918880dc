// Step 3: a mount namespace and pivot_root. The container mounts its own /proc and /sys,
// the host's mount table never changes, and the chroot escape of step 1 no longer works.
#include <chrono>
#include <thread>

#include "steps.hpp"

namespace mc::test {
namespace {

class MountNamespace : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override { MC_REQUIRE_ROOT(); }
};

TEST_P(MountNamespace, SeesOnlyItsOwnMounts) {
  const auto r =
      run_step(step(GetParam()), {}, {"/bin/sh", "-c", "cut -d' ' -f5 /proc/self/mountinfo"});
  ASSERT_EQ(r.status, 0) << r.err;
  // The root, its /proc and /sys: none of the host's other mount points.
  EXPECT_NE(r.out.find("/proc\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("/sys\n"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find(rootfs()), std::string::npos) << "the host's path is visible: " << r.out;
}

TEST_P(MountNamespace, HostMountTableIsUnchangedDuringAndAfter) {
  const auto before = HostSnapshot::take();
  const std::string seconds = unique_sleep_seconds();
  std::string during;
  std::thread watcher([&] {
    for (int i = 0; i < 200; ++i) {
      const auto pids = pids_matching("/bin/sleep " + seconds);
      if (!pids.empty()) {
        // The container itself still runs: its processes are expected, its mounts are not.
        during = diff(before, HostSnapshot::take(), CompareProcesses::kNo);
        for (int pid : pids) ::kill(pid, SIGKILL);
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    during = "the container never started";
  });
  // Mount a tmpfs inside, then wait: none of it may reach the host.
  const auto r =
      run_step(step(GetParam()), {},
               {"/bin/sh", "-c", "mount -t tmpfs none /tmp && exec /bin/sleep " + seconds});
  watcher.join();
  EXPECT_EQ(during, "");
  EXPECT_EQ("", diff(before, HostSnapshot::take()));
}

TEST_P(MountNamespace, ChrootEscapeFindsNoWayOut) {
  HostMarker marker;
  auto probe = install_probe("chroot_escape");
  const std::string dir = "/tmp/" + unique_name("escape-dir");
  const auto r = run_step(step(GetParam()), {},
                          {"/bin/sh", "-c",
                           "mkdir " + dir + " && " + probe.inside() + " " + dir + " " +
                               marker.path() + "; rmdir " + dir});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "CONTAINED\n") << r.err;
}

TEST_P(MountNamespace, OldRootIsDetached) {
  // After pivot_root the old root was unmounted: the host's files are unreachable.
  HostMarker marker;
  const auto r = run_step(step(GetParam()), {},
                          {"/bin/sh", "-c", "cat " + marker.path() + " || echo unreachable"});
  EXPECT_EQ(r.out, "unreachable\n") << r.out;
}

INSTANTIATE_TEST_SUITE_P(Steps, MountNamespace, ::testing::Values(3, 4),
                         [](const auto& info) { return "step" + std::to_string(info.param); });

}  // namespace
}  // namespace mc::test
