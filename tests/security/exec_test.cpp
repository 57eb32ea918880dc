// Attacks through `mycontainer exec` (SECURITY.md, "Entering a running container"): the
// exec'd process must be confined exactly like the container's first process, and nothing
// of the caller's may lead it out. Each test runs a real OCI container (create + start) and
// checks the exec'd process from the host's side.
#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <optional>
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "leftovers.hpp"
#include "mycontainer.hpp"
#include "oci_container.hpp"
#include "steps.hpp"
#include "support.hpp"

namespace mc::test {
namespace {

namespace fs = std::filesystem;
constexpr const char* kTag = "mctox";

class ExecAttack : public ::testing::Test {
 protected:
  void SetUp() override {
    MC_REQUIRE_ROOT();
    leftovers_.emplace(kTag);
    container_.emplace(kTag);
    const auto created = container_->create();
    ASSERT_EQ(created.status, 0) << created.err;
    const auto started = container_->start();
    ASSERT_EQ(started.status, 0) << started.err;
  }
  void TearDown() override {
    container_.reset();
    if (!leftovers_) return;
    EXPECT_EQ("", leftovers_->check()) << "left on the host by this test";
    leftovers_->scrub();
  }
  OciContainer& c() { return *container_; }
  std::optional<Leftovers> leftovers_;
  std::optional<OciContainer> container_;
};

TEST_F(ExecAttack, WorkdirThroughALeakedDescriptorIsRefused) {
  // The caller (an engine, a careless script) holds a descriptor of the host's "/" without
  // close-on-exec; the attacker asks for the working directory /proc/self/fd/N
  // (CVE-2024-21626). runc's fix closes descriptors and checks the directory; so do we.
  const int leaked = ::open("/", O_RDONLY | O_DIRECTORY);
  ASSERT_GE(leaked, 3);
  const auto r = c().mc({"exec", "--cwd", fmt::format("/proc/self/fd/{}", leaked), c().id(),
                         "/bin/sh", "-c", "ls ..; cat ../etc/hostname"});
  ::close(leaked);
  EXPECT_EQ(r.status, 125) << r.out << r.err;
  EXPECT_EQ(r.out, "") << "the command ran, outside the root";
  EXPECT_TRUE(contains(r.err, fmt::format("/proc/self/fd/{}", leaked))) << r.err;
}

TEST_F(ExecAttack, TheExecdProcessHasTheContainersFilterBoundingSetAndCgroup) {
  const pid_t first = c().pid();
  const std::string theirs = read_file(fmt::format("/proc/{}/status", first));
  const auto r = c().mc({"exec", c().id(), "/bin/sh", "-c",
                         "grep -E '^(Seccomp|CapBnd|CapEff|CapPrm|CapInh|CapAmb|NoNewPrivs):' "
                         "/proc/self/status; cat /proc/self/cgroup"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(status_field(r.out, "Seccomp"), "2") << "no exec without the container's filter";
  for (const char* set : {"CapBnd", "CapEff", "CapPrm", "CapInh", "CapAmb", "NoNewPrivs"}) {
    EXPECT_EQ(status_field(r.out, set), status_field(theirs, set)) << set;
  }
  // Its cgroup is the container's in every hierarchy, as the host sees it: the limits and
  // `kill --all` reach it.
  HostDir dir;
  const std::string pid_file = dir.path() + "/pid";
  const auto d = c().mc(
      {"exec", "--detach", "--pid-file", pid_file, c().id(), "/bin/sleep", unique_sleep_seconds()});
  ASSERT_EQ(d.status, 0) << d.err;
  const pid_t pid = std::stoi(read_file(pid_file));
  EXPECT_EQ(read_file(fmt::format("/proc/{}/cgroup", pid)),
            read_file(fmt::format("/proc/{}/cgroup", first)));
}

TEST_F(ExecAttack, TheExecdProcessHasNoControllingTerminalOfTheCallers) {
  // Without --tty: a session of its own, no terminal (TIOCSTI into the caller's shell needs
  // the caller's terminal as its controlling terminal).
  const auto r = c().mc({"exec", c().id(), "/bin/sh", "-c",
                         "cat /proc/self/stat | cut -d' ' -f6,7; ls -l /proc/self/fd/0"});
  ASSERT_EQ(r.status, 0) << r.err;
  const auto lines = lines_of(r.out);
  ASSERT_GE(lines.size(), 1u);
  EXPECT_TRUE(contains(lines[0], " 0")) << "tty_nr is 0: " << lines[0];
}

}  // namespace
}  // namespace mc::test
