// Attacks through `mycontainer exec` (SECURITY.md, "Entering a running container"): the
// exec'd process must be confined exactly like the container's first process, and nothing
// of the caller's may lead it out. Each test runs a real OCI container (create + start) and
// checks the exec'd process from the host's side.
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>
#include <algorithm>
#include <chrono>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "background.hpp"
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
  const std::string script =
      "grep -E '^(Seccomp|CapBnd|CapEff|CapPrm|CapInh|CapAmb|NoNewPrivs):' /proc/self/status; "
      "cat /proc/self/cgroup";
  const auto r = c().mc({"exec", c().id(), "/bin/sh", "-c", script});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(status_field(r.out, "Seccomp"), "2") << "no exec without the container's filter";
  for (const char* set : {"CapBnd", "CapEff", "CapPrm", "CapInh", "CapAmb", "NoNewPrivs"}) {
    EXPECT_EQ(status_field(r.out, set), status_field(theirs, set)) << set;
  }
  // Its cgroup is the container's in every hierarchy, as the host sees it: the limits and
  // `kill --all` reach it.
  HostDir dir;
  const std::string pid_file = dir.path() + "/pid";
  const auto d = c().mc_detached(
      {"exec", "--detach", "--pid-file", pid_file, c().id(), "/bin/sleep", unique_sleep_seconds()});
  ASSERT_EQ(d.status, 0) << d.err;
  const pid_t pid = std::stoi(read_file(pid_file));
  EXPECT_EQ(read_file(fmt::format("/proc/{}/cgroup", pid)),
            read_file(fmt::format("/proc/{}/cgroup", first)));
}

// Runs argv with a new pseudo-terminal as its controlling terminal and stdio (setsid -c),
// and returns what it printed there.
std::string on_a_terminal(std::vector<std::string> argv) {
  const int master = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0 || ::grantpt(master) != 0 || ::unlockpt(master) != 0) return "no pty";
  const int slave = ::open(::ptsname(master), O_RDWR | O_NOCTTY | O_CLOEXEC);
  argv.insert(argv.begin(), {"/usr/bin/setsid", "--ctty", "--wait"});
  std::string out;
  {
    Background bg(argv, {}, slave);
    ::close(slave);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{master, POLLIN, 0};
      if (::poll(&p, 1, 50) > 0) {
        char buf[512];
        const ssize_t n = ::read(master, buf, sizeof buf);
        if (n > 0) {
          out.append(buf, static_cast<size_t>(n));
          continue;
        }
        if (!bg.running()) break;
      } else if (!bg.running()) {
        break;
      }
    }
    bg.wait();
  }
  ::close(master);
  out.erase(std::remove(out.begin(), out.end(), '\r'), out.end());  // the terminal's "\r\n"
  return out;
}

TEST_F(ExecAttack, TheExecdProcessHasNoControllingTerminalOfTheCallers) {
  // TIOCSTI pushes keystrokes into one's *controlling* terminal only: the exec'd process must
  // not have the caller's (field 7 of /proc/self/stat, tty_nr, is 0 without one).
  const std::string tty_nr = "cut -d' ' -f7 /proc/self/stat";
  // The control: the same command run directly on that terminal has it.
  const std::string direct = trimmed(on_a_terminal({"/bin/sh", "-c", tty_nr}));
  ASSERT_NE(direct, "");
  ASSERT_NE(direct, "0") << "the test's terminal is not a controlling terminal";
  const std::string inside = on_a_terminal(
      {bin("mycontainer"), "--root", c().root(), "exec", c().id(), "/bin/sh", "-c", tty_nr});
  EXPECT_EQ(trimmed(inside), "0") << "the exec'd process has the caller's terminal";
}

}  // namespace
}  // namespace mc::test
