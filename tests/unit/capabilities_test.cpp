// ctr capabilities: name parsing and docker's --cap-add/--cap-drop rules (no root needed),
// then, as root, apply_capabilities in forked children, in the initial user namespace and in
// a new one, checked through /proc/self/status before and after an execve.
#include "runtime/capabilities.hpp"

#include <fcntl.h>     // open(2)
#include <sched.h>     // unshare(2)
#include <sys/wait.h>  // waitpid(2)
#include <unistd.h>    // fork(2), pipe2(2), _exit(2)

#include <functional>
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "ctr/error.hpp"
#include "support.hpp"

namespace {

using mc::test::enter_user_namespace_as_root;
using mc::test::expect_usage_error;
using mc::test::in_child;

using ctr::CapabilitySet;
using ctr::UsageError;

constexpr uint64_t kDockerMask = 0xa80405fb;  // docker's 14 less CAP_NET_RAW (issue #17)

std::string masks_to_string(const ctr::CapabilityMasks& m) {
  return fmt::format("bnd={:x} prm={:x} eff={:x} inh={:x} amb={:x}", m.bounding, m.permitted,
                     m.effective, m.inheritable, m.ambient);
}

// What docker shows for root in a container: bounding = permitted = effective = the kept set,
// inheritable and ambient empty.
std::string expected_masks(uint64_t mask) {
  return masks_to_string(
      {.inheritable = 0, .permitted = mask, .effective = mask, .bounding = mask, .ambient = 0});
}

// ============================== names ==============================

TEST(CapabilityNames, AcceptsDockerSpellings) {
  EXPECT_EQ(ctr::capability_from_name("NET_ADMIN"), CAP_NET_ADMIN);
  EXPECT_EQ(ctr::capability_from_name("CAP_NET_ADMIN"), CAP_NET_ADMIN);
  EXPECT_EQ(ctr::capability_from_name("cap_net_admin"), CAP_NET_ADMIN);
  EXPECT_EQ(ctr::capability_from_name("Cap_Net_Admin"), CAP_NET_ADMIN);
  EXPECT_EQ(ctr::capability_from_name("net_admin"), CAP_NET_ADMIN);
  EXPECT_EQ(ctr::capability_from_name("chown"), CAP_CHOWN);
  EXPECT_EQ(ctr::capability_from_name("SYS_ADMIN"), CAP_SYS_ADMIN);
}

TEST(CapabilityNames, RejectsUnknownNamesWithTheManPage) {
  expect_usage_error([] { ctr::capability_from_name("FOO"); },
                     "unknown capability 'FOO': see capabilities(7)");
  expect_usage_error([] { ctr::capability_from_name("CAP_FOO"); }, "unknown capability 'CAP_FOO'");
  expect_usage_error([] { ctr::capability_from_name(""); }, "unknown capability ''");
  expect_usage_error([] { ctr::capability_from_name("CAP_"); }, "unknown capability");
  // libcap's own parser would take a number, or stop at the comma.
  expect_usage_error([] { ctr::capability_from_name("12"); }, "unknown capability '12'");
  expect_usage_error([] { ctr::capability_from_name("chown,kill"); }, "unknown capability");
  expect_usage_error([] { ctr::capability_from_name(" chown"); }, "unknown capability");
  expect_usage_error([] { ctr::capability_from_name("ALL"); }, "--cap-add");
}

TEST(CapabilityNames, NamesRoundTrip) {
  EXPECT_EQ(ctr::capability_name(CAP_NET_ADMIN), "CAP_NET_ADMIN");
  EXPECT_EQ(ctr::capability_name(CAP_CHOWN), "CAP_CHOWN");
  for (cap_value_t c : ctr::all_capabilities()) {
    EXPECT_EQ(ctr::capability_from_name(ctr::capability_name(c)), c) << c;
  }
  EXPECT_EQ(ctr::capabilities_to_string({CAP_KILL, CAP_CHOWN}), "CAP_CHOWN,CAP_KILL");
  EXPECT_EQ(ctr::capabilities_to_string({}), "(none)");
}

// ============================== sets ==============================

TEST(CapabilitySets, DefaultIsDockersFourteenLessNetRaw) {
  const CapabilitySet d = ctr::default_capabilities();
  EXPECT_EQ(d.size(), 13u);
  EXPECT_EQ(d.count(CAP_NET_RAW), 0u);  // ARP spoofing on the bridge (issue #17, item 8)
  EXPECT_EQ(ctr::capability_mask(d), kDockerMask);
  EXPECT_EQ(d.count(CAP_SYS_ADMIN), 0u);
  EXPECT_EQ(d.count(CAP_NET_ADMIN), 0u);
  EXPECT_EQ(d.count(CAP_SYS_PTRACE), 0u);
  EXPECT_EQ(d.count(CAP_SYS_MODULE), 0u);
  EXPECT_EQ(d.count(CAP_DAC_READ_SEARCH), 0u);  // open_by_handle_at: the 'shocker' escape
}

TEST(CapabilitySets, AllIsWhatTheKernelKnowsAndWeStillHold) {
  const CapabilitySet all = ctr::all_capabilities();
  const uint64_t bounding = ctr::read_capability_masks().bounding;
  for (cap_value_t c = 0; c < static_cast<cap_value_t>(::cap_max_bits()); ++c) {
    EXPECT_EQ(all.count(c) == 1, ((bounding >> c) & 1) == 1) << ctr::capability_name(c);
  }
}

TEST(CapabilitySets, ResolveFollowsDockersRules) {
  const CapabilitySet d = ctr::default_capabilities();
  EXPECT_EQ(ctr::resolve_capabilities(d, {}, {}), d);

  CapabilitySet expected = d;
  expected.insert(CAP_NET_ADMIN);
  expected.erase(CAP_CHOWN);
  EXPECT_EQ(ctr::resolve_capabilities(d, {"NET_ADMIN"}, {"cap_chown"}), expected);

  // ALL in cap_add: everything but the drops.
  CapabilitySet all_but_module = ctr::all_capabilities();
  all_but_module.erase(CAP_SYS_MODULE);
  EXPECT_EQ(ctr::resolve_capabilities(d, {"all"}, {"SYS_MODULE"}), all_but_module);
  // ALL in cap_drop: only the adds.
  EXPECT_EQ(ctr::resolve_capabilities(d, {"NET_BIND_SERVICE"}, {"ALL"}),
            (CapabilitySet{CAP_NET_BIND_SERVICE}));
  EXPECT_EQ(ctr::resolve_capabilities(d, {}, {"ALL"}), CapabilitySet{});
  // Both: docker lets cap_add ALL win.
  EXPECT_EQ(ctr::resolve_capabilities(d, {"ALL"}, {"ALL"}), ctr::all_capabilities());
  // Adding a default or dropping a missing one is harmless.
  EXPECT_EQ(ctr::resolve_capabilities(d, {"CHOWN"}, {"SYS_ADMIN"}), d);
}

TEST(CapabilitySets, ResolveReportsTyposInEitherList) {
  const CapabilitySet d = ctr::default_capabilities();
  expect_usage_error([&] { ctr::resolve_capabilities(d, {"NET_ADMN"}, {}); },
                     "unknown capability 'NET_ADMN'");
  expect_usage_error([&] { ctr::resolve_capabilities(d, {"ALL"}, {"BOGUS"}); },
                     "unknown capability 'BOGUS'");
}

// ============================== /proc/self/status ==============================

TEST(CapabilityMasks, ParsesProcStatus) {
  const auto m = ctr::parse_capability_masks(
      "Name:\tsh\nUid:\t0\t0\t0\t0\n"
      "CapInh:\t0000000000000000\nCapPrm:\t00000000a80405fb\nCapEff:\t00000000a80405fb\n"
      "CapBnd:\t000001ffffffffff\nCapAmb:\t0000000000000001\nNoNewPrivs:\t1\n");
  EXPECT_EQ(m.inheritable, 0u);
  EXPECT_EQ(m.permitted, kDockerMask);
  EXPECT_EQ(m.effective, kDockerMask);
  EXPECT_EQ(m.bounding, 0x1ffffffffffu);
  EXPECT_EQ(m.ambient, 1u);
}

TEST(CapabilityMasks, ReadsThisProcess) {
  const auto m = ctr::read_capability_masks();
  // Effective is always a subset of permitted (capabilities(7)).
  EXPECT_EQ(m.effective & ~m.permitted, 0u);
  EXPECT_THROW(ctr::read_capability_masks("/nonexistent/status"), ctr::SyscallError);
}

// ============================== apply (root) ==============================

TEST(ApplyCapabilities, LeavesExactlyDockersFourteen) {
  MC_REQUIRE_ROOT();
  const std::string got = in_child([] {
    ctr::apply_capabilities(ctr::default_capabilities());
    return masks_to_string(ctr::read_capability_masks());
  });
  EXPECT_EQ(got, expected_masks(kDockerMask));
}

TEST(ApplyCapabilities, RootKeepsThemAcrossExecveAndGetsNoMore) {
  MC_REQUIRE_ROOT();
  // After execve, root's new permitted set is inheritable | bounding (capabilities(7)): the
  // bounding set is what holds. Check it in a program we exec: cat its own status.
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    try {
      ctr::apply_capabilities(ctr::default_capabilities());
      ::dup2(fds[1], STDOUT_FILENO);
      ::execl("/bin/cat", "cat", "/proc/self/status", static_cast<char*>(nullptr));
    } catch (...) {
    }
    ::_exit(127);
  }
  ::close(fds[1]);
  std::string status;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0) status.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  int wstatus = 0;
  ::waitpid(pid, &wstatus, 0);
  ASSERT_TRUE(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) << status;
  EXPECT_EQ(masks_to_string(ctr::parse_capability_masks(status)), expected_masks(kDockerMask));
}

TEST(ApplyCapabilities, WorksInsideAUserNamespace) {
  MC_REQUIRE_ROOT();
  const std::string got = in_child([] {
    try {
      enter_user_namespace_as_root();
    } catch (const std::exception& e) {
      return std::string("skip: ") + e.what();
    }
    ctr::apply_capabilities(ctr::default_capabilities());
    return masks_to_string(ctr::read_capability_masks());
  });
  if (got.rfind("skip: ", 0) == 0) MC_SKIP_OR_FAIL("no user namespaces here: " + got);
  EXPECT_EQ(got, expected_masks(kDockerMask));
}

TEST(ApplyCapabilities, DropBoundingSetAloneKeepsPermitted) {
  MC_REQUIRE_ROOT();
  const std::string got = in_child([] {
    const auto before = ctr::read_capability_masks();
    ctr::drop_bounding_set(ctr::default_capabilities());
    const auto after = ctr::read_capability_masks();
    return fmt::format("bnd={:x} prm-unchanged={}", after.bounding,
                       after.permitted == before.permitted);
  });
  EXPECT_EQ(got, fmt::format("bnd={:x} prm-unchanged=true", kDockerMask));
}

TEST(ApplyCapabilities, ANonRootUserEndsWithOnlyTheBoundingSet) {
  MC_REQUIRE_ROOT();
  // The runtime's order for `-u 1000`: capabilities, then setresuid; a non-zero uid clears
  // permitted and effective (capabilities(7), "Effect of user ID changes on capabilities").
  const std::string got = in_child([] {
    ctr::apply_capabilities(ctr::default_capabilities());
    ctr::check(::setresgid(1000, 1000, 1000), "setresgid");
    ctr::check(::setresuid(1000, 1000, 1000), "setresuid");
    return masks_to_string(ctr::read_capability_masks());
  });
  EXPECT_EQ(got, masks_to_string({.bounding = kDockerMask}));
}

TEST(ApplyCapabilities, EmptySetLeavesNothing) {
  MC_REQUIRE_ROOT();
  const std::string got = in_child([] {
    ctr::apply_capabilities({});
    return masks_to_string(ctr::read_capability_masks());
  });
  EXPECT_EQ(got, expected_masks(0));
}

TEST(ApplyCapabilities, CannotGiveBackWhatWasDropped) {
  MC_REQUIRE_ROOT();
  const std::string got = in_child([] {
    ctr::apply_capabilities({CAP_CHOWN, CAP_SETPCAP});
    try {
      ctr::apply_capabilities({CAP_CHOWN, CAP_SETPCAP, CAP_SYS_ADMIN});
      return std::string("no error");
    } catch (const ctr::SyscallError& e) {
      return fmt::format("{} | {}", e.err() == EPERM ? "EPERM" : "other", e.what());
    }
  });
  EXPECT_EQ(got.rfind("EPERM | ", 0), 0u) << got;
  EXPECT_NE(got.find("CAP_SYS_ADMIN"), std::string::npos) << got;
}

}  // namespace
