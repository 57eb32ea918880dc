// The test support's "belongs to the test" rule (support.hpp, owned_by_test): what other
// containers on the host do is not the test's business, and every leak of the test's own
// containers still is. The scope is filled by hand: pid 4242 is the test, 5000 a runtime it
// started, 6000 a stranger's live runtime, 7000 a runtime that is gone.
#include <signal.h>    // kill(2)
#include <sys/wait.h>  // waitpid(2)
#include <unistd.h>    // fork(2), execl(3)

#include <chrono>
#include <thread>

#include <fmt/format.h>

#include "support.hpp"

namespace mc::test {
namespace {

TestScope fake_scope() {
  TestScope scope;
  scope.pid = 4242;
  scope.rootfs = "/work/rootfs";
  scope.started_by_test = [](int pid) { return pid == 5000; };
  scope.alive = [](int pid) { return pid == 5000 || pid == 6000; };
  scope.link_on_host = [](const std::string& name) {
    return name == "vethdead0001" || name == "cethdead0001" || name == "vethlive0001";
  };
  return scope;
}

TEST(HostScope, TheTestsOwnContainersAreReported) {
  const TestScope s = fake_scope();
  // cgroups: a step-6 runtime the test started, a step-7 container named by unique_name().
  EXPECT_TRUE(owned_by_test("+cgroup /sys/fs/cgroup/pids/container_with_cgroups-5000", s));
  EXPECT_TRUE(owned_by_test("+cgroup /sys/fs/cgroup/memory/a/mycontainer-mct7-4242-3", s));
  EXPECT_TRUE(owned_by_test("+cgroup /sys/fs/cgroup/pids/mct-parent-4242-0/x", s));
  // mounts in the test's rootfs or its temporary directories, or on the host's own top level.
  EXPECT_TRUE(owned_by_test("+mount /work/rootfs/proc", s));
  EXPECT_TRUE(owned_by_test("+mount /tmp/mct-tmp-4242-1/merged", s));
  EXPECT_TRUE(owned_by_test("+mount /proc", s));
  EXPECT_TRUE(owned_by_test("-mount /sys", s));
  // an orphaned veth pair (both ends still on the host), a link named by the test.
  EXPECT_TRUE(owned_by_test("+link vethdead0001", s));
  EXPECT_TRUE(owned_by_test("+link mct5-4242-0", s));
  // the host lost one of its own interfaces.
  EXPECT_TRUE(owned_by_test("-link eth0", s));
  // state: the test's container, a lease of its runtime, a lease of a dead runtime.
  EXPECT_TRUE(owned_by_test("+state /run/mycontainer/containers/mct7-4242-3/state.json", s));
  EXPECT_TRUE(owned_by_test("+state /run/mycontainer/nat/user.5000.1", s));
  EXPECT_TRUE(owned_by_test("+state /run/mycontainer/nat/user.7000.1", s));
  // processes and the host name are always the test's business.
  EXPECT_TRUE(owned_by_test("+process 5001 /bin/sleep 100", s));
  EXPECT_TRUE(owned_by_test("hostname box -> learner-box", s));
}

TEST(HostScope, WhatADeadRuntimeLeftIsReportedByWhoeverLooks) {
  // A step-6 cgroup whose runtime is gone: runtimes remove their cgroup before they exit.
  EXPECT_TRUE(
      owned_by_test("+cgroup /sys/fs/cgroup/pids/container_with_cgroups-7000", fake_scope()));
}

TEST(HostScope, OtherContainersAreNotTheTestsBusiness) {
  const TestScope s = fake_scope();
  // A stranger's step 6 and step 7 containers, a system service's cgroup.
  EXPECT_FALSE(owned_by_test("+cgroup /sys/fs/cgroup/pids/container_with_cgroups-6000", s));
  EXPECT_FALSE(owned_by_test("+cgroup /sys/fs/cgroup/pids/mycontainer-web", s));
  EXPECT_FALSE(owned_by_test("+cgroup /sys/fs/cgroup/pids/mycontainer-mct7-9999-0", s));
  EXPECT_FALSE(owned_by_test("+cgroup /sys/fs/cgroup/systemd/system.slice/x.service", s));
  EXPECT_FALSE(owned_by_test("-cgroup /sys/fs/cgroup/pids/mycontainer-web", s));
  // A running container's veth (its other end is in the container's namespace), ending.
  EXPECT_FALSE(owned_by_test("+link vethlive0001", s));
  EXPECT_FALSE(owned_by_test("-link vethgone0001", s));
  EXPECT_FALSE(owned_by_test("+link cni-podman0", s));
  // Mounts of another rootfs, of another test's temporary directory.
  EXPECT_FALSE(owned_by_test("+mount /home/learner/rootfs/proc", s));
  EXPECT_FALSE(owned_by_test("+mount /tmp/mct-tmp-9999-1/merged", s));
  // Another container's state and lease.
  EXPECT_FALSE(owned_by_test("+state /run/mycontainer/containers/web/state.json", s));
  EXPECT_FALSE(owned_by_test("+state /run/mycontainer/nat/user.6000.1", s));
  EXPECT_FALSE(owned_by_test("-state /run/mycontainer/nat/user.6000.1", s));
  EXPECT_FALSE(owned_by_test("-process 5001 /bin/sleep 100", s));
}

// The real scope, end to end: a process this test starts carries its mark and shows up in the
// next snapshot as the test's; a cgroup named by unique_name() is the test's.
TEST(HostScope, TheRealScopeSeesTheTestsOwnProcess) {
  const HostSnapshot before = HostSnapshot::take();
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::execl("/bin/sleep", "sleep", "30", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  for (int i = 0; i < 100 && read_file(fmt::format("/proc/{}/cmdline", pid)).rfind("sleep", 0);
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // until the exec is done
  }
  // (diff looks again for up to 3 s before it calls a process left behind.)
  const std::string during = diff(before, HostSnapshot::take());
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  EXPECT_NE(during.find(fmt::format("+process {} sleep 30", pid)), std::string::npos) << during;
  EXPECT_EQ("", diff(before, HostSnapshot::take(), CompareProcesses::kYes));
  EXPECT_TRUE(
      owned_by_test("+cgroup /sys/fs/cgroup/x/" + unique_name("mct"), TestScope::current()));
}

}  // namespace
}  // namespace mc::test
