// Step 4: a UTS namespace. The container has its own host name; the host keeps its own.
#include "steps.hpp"

namespace mc::test {
namespace {

TEST(Step4, HostnameInsideIsTheOptionsValue) {
  MC_REQUIRE_ROOT();
  const auto before = HostSnapshot::take();
  const auto r = run_step(step(4), {"--hostname", "learner-box"}, {"/bin/hostname"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "learner-box\n");
  EXPECT_EQ("", diff(before, HostSnapshot::take()));
}

TEST(Step4, DefaultHostnameIsContainer) {
  MC_REQUIRE_ROOT();
  const auto r = run_step(step(4), {}, {"/bin/hostname"});
  EXPECT_EQ(r.out, "container\n");
}

TEST(Step4, ChangingTheHostnameInsideLeavesTheHostAlone) {
  MC_REQUIRE_ROOT();
  const auto before = HostSnapshot::take();
  const auto r = run_step(step(4), {}, {"/bin/sh", "-c", "hostname changed-inside && hostname"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "changed-inside\n");
  EXPECT_EQ(before.hostname, HostSnapshot::take().hostname);
}

TEST(Step4, InvalidHostnameIsRefusedBeforeAnythingStarts) {
  MC_REQUIRE_ROOT();
  const auto before = HostSnapshot::take();
  const auto r = run_step(step(4), {"--hostname", "bad name!"}, {"/bin/true"});
  EXPECT_EQ(r.status, 125);
  EXPECT_NE(r.err.find("invalid hostname 'bad name!'"), std::string::npos) << r.err;
  EXPECT_EQ("", diff(before, HostSnapshot::take()));
}

}  // namespace
}  // namespace mc::test
