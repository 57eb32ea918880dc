// Step 1: chroot changes what "/" means, and nothing else; root can walk out of it.
#include "steps.hpp"

namespace mc::test {
namespace {

TEST(Step1, SlashIsTheRootfs) {
  MC_REQUIRE_ROOT();
  const auto r = run_step(step(1), {}, {"/bin/cat", "/etc/os-release"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, read_file(rootfs() + "/etc/os-release"));
}

TEST(Step1, SeesTheHostsProcessesBecauseThereIsNoPidNamespace) {
  MC_REQUIRE_ROOT();
  // The leak step 2 fixes: $$ is an ordinary host PID, not 1.
  const auto r = run_step(step(1), {}, {"/bin/sh", "-c", "echo $$"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out, "1\n");
}

TEST(Step1, ChrootCanBeEscapedByRoot) {
  MC_REQUIRE_ROOT();
  // The "break it" of step 1's README, shown by the same probe that fails in step 3.
  HostMarker marker;
  auto probe = install_probe("chroot_escape");
  const std::string dir = "/tmp/" + unique_name("escape-dir");
  const auto r = run_step(step(1), {},
                          {"/bin/sh", "-c",
                           "mkdir " + dir + " && " + probe.inside() + " " + dir + " " +
                               marker.path() + "; rmdir " + dir});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "ESCAPED\n") << r.err;
}

}  // namespace
}  // namespace mc::test
