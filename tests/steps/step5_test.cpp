// Step 5: a network namespace with a veth pair on the bridge. Traffic goes only between the
// host and the test's own containers, on the project's bridge and subnet.
#include <chrono>
#include <thread>

#include "ctr/ipv4.hpp"
#include "ctr/nat.hpp"
#include "steps.hpp"

namespace mc::test {
namespace {

// The host's ping: busybox's applet (busybox-static is one of the project's packages).
RunResult host_ping(const std::string& address) {
  return run({"/bin/busybox", "ping", "-c", "1", "-W", "2", address});
}

class Step5 : public ::testing::Test {
 protected:
  void SetUp() override {
    MC_REQUIRE_ROOT();
    // The bridge is shared infrastructure left in place on purpose: make sure it exists
    // before a test takes its "before" snapshot.
    ASSERT_EQ(run_step(step(5), {}, {"/bin/true"}).status, 0);
  }

  // Runs a container in the background that sleeps until the returned guard goes.
  struct Background {
    std::thread thread;
    RunResult result;
    std::string seconds = unique_sleep_seconds();
    ~Background() {
      for (int i = 0; i < 100; ++i) {
        auto pids = pids_matching("/bin/sleep " + seconds);
        for (int pid : pids) ::kill(pid, SIGKILL);
        if (!pids.empty()) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      if (thread.joinable()) thread.join();
    }
  };
  static void start(Background& bg, const std::vector<std::string>& options) {
    bg.thread = std::thread([&bg, options] {
      bg.result = run_step(step(5), options, {"/bin/sleep", bg.seconds});
    });
    for (int i = 0; i < 200 && pids_matching("/bin/sleep " + bg.seconds).empty(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
};

TEST_F(Step5, SeesExactlyLoAndEth0WithItsAddress) {
  const auto r = run_step(step(5), {"--ip", "10.47.0.201/24"},
                          {"/bin/sh", "-c", "ls /sys/class/net; ip -o -4 addr show eth0"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out.substr(0, r.out.find('\n', r.out.find('\n') + 1) + 1), "eth0\nlo\n") << r.out;
  EXPECT_NE(r.out.find("inet 10.47.0.201/24"), std::string::npos) << r.out;
}

TEST_F(Step5, DefaultRouteIsTheBridge) {
  const auto r = run_step(step(5), {}, {"/bin/ip", "route"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("default via 10.47.0.1 dev eth0"), std::string::npos) << r.out;
}

TEST_F(Step5, ContainerReachesTheHost) {
  const auto r = run_step(step(5), {}, {"/bin/ping", "-c", "1", "-W", "2", "10.47.0.1"});
  EXPECT_EQ(r.status, 0) << r.out << r.err;
}

TEST_F(Step5, HostReachesTheContainer) {
  Background bg;
  start(bg, {"--ip", "10.47.0.202/24"});
  const auto r = host_ping("10.47.0.202");
  EXPECT_EQ(r.status, 0) << r.out << r.err;
}

TEST_F(Step5, TwoContainersGetDistinctAddressesAndReachEachOther) {
  Background first;
  start(first, {"--ip", "10.47.0.203/24"});
  const auto second =
      run_step(step(5), {}, {"/bin/sh", "-c", "ip -o -4 addr show eth0; ping -c1 -W2 10.47.0.203"});
  EXPECT_EQ(second.status, 0) << second.out << second.err;
  EXPECT_EQ(second.out.find("10.47.0.203/"), std::string::npos) << "the same address twice";
}

TEST_F(Step5, AddressInUseIsRefusedBeforeAnythingIsCreated) {
  Background first;
  start(first, {"--ip", "10.47.0.204/24"});
  const auto before = HostSnapshot::take();
  const auto r = run_step(step(5), {"--ip", "10.47.0.204/24"}, {"/bin/true"});
  EXPECT_EQ(r.status, 125);
  EXPECT_NE(r.err.find("address 10.47.0.204 is already used"), std::string::npos) << r.err;
  EXPECT_EQ("", diff(before, HostSnapshot::take()));
}

TEST_F(Step5, NetNoneHasOnlyLoopbackAndNoWayToTheBridge) {
  const auto r =
      run_step(step(5), {"--net", "none"},
               {"/bin/sh", "-c",
                "ls /sys/class/net; ping -c1 -W1 10.47.0.1 >/dev/null 2>&1 || echo unreachable"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "lo\nunreachable\n");
}

TEST_F(Step5, NoVethIsLeftAfterExitKillOrFailure) {
  const auto before = HostSnapshot::take();
  EXPECT_EQ(run_step(step(5), {}, {"/bin/true"}).status, 0);
  EXPECT_EQ(run_step(step(5), {}, {"/no/such/command"}).status, 127);
  {
    Background killed;  // its destructor SIGKILLs the container's PID 1 from the host
    start(killed, {});
  }
  EXPECT_EQ("", diff(before, HostSnapshot::take()));
}

TEST_F(Step5, BadInputIsRefusedWith125) {
  const auto before = HostSnapshot::take();
  struct Case {
    std::vector<std::string> options;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"--ip", "10.48.0.5/24"}, "outside the subnet"},
      {{"--subnet", "10.0.0.300/24"}, "invalid subnet '10.0.0.300/24'"},
      {{"--ip", "banana"}, "banana"},
      {{"--bridge", "a-bridge-name-too-long"}, "at most 15 characters"},
      {{"--net", "carrier-pigeon"}, "carrier-pigeon"},
  };
  for (const auto& c : cases) {
    const auto r = run_step(step(5), c.options, {"/bin/true"});
    EXPECT_EQ(r.status, 125) << c.options[0];
    EXPECT_NE(r.err.find(c.message), std::string::npos) << r.err;
  }
  EXPECT_EQ("", diff(before, HostSnapshot::take()));
}

TEST_F(Step5, NatRuleIsInstalledWhileRunningAndRemovedAfter) {
  // Only the rule is checked: no test sends traffic beyond the host.
  ASSERT_FALSE(ctr::Nat::rule_installed(ctr::kDefaultSubnet, "ctr0"));
  {
    Background bg;
    start(bg, {"--nat"});
    EXPECT_TRUE(ctr::Nat::rule_installed(ctr::kDefaultSubnet, "ctr0"));
  }
  EXPECT_FALSE(ctr::Nat::rule_installed(ctr::kDefaultSubnet, "ctr0"));
}

}  // namespace
}  // namespace mc::test
