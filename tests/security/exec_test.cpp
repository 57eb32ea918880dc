// Attacks through `mycontainer exec` (SECURITY.md, "Entering a running container"): the
// exec'd process must be confined exactly like the container's first process, and nothing
// of the caller's may lead it out. Each test runs a real OCI container (create + start) and
// checks the exec'd process from the host's side.
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>  // mkfifo(3)
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>
#include <algorithm>
#include <chrono>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

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

// A container's later commands use the config as create read it (its copy in the state
// directory), never the bundle's file again: a bundle rewritten after create, without the
// seccomp filter and with every capability, gives an exec'd process nothing more.
TEST_F(ExecAttack, ABundleRewrittenAfterCreateDoesNotWeakenExec) {
  using nlohmann::json;
  json j = json::parse(read_file(c().bundle() + "/config.json"));
  ASSERT_TRUE(j["linux"].contains("seccomp"));
  j["linux"].erase("seccomp");
  j["process"]["noNewPrivileges"] = false;
  const std::string all_caps = read_file("/proc/self/status");
  std::ofstream(c().bundle() + "/config.json") << j.dump(2);
  const auto r =
      c().mc({"exec", c().id(), "/bin/sh", "-c", "grep -E '^Seccomp:' /proc/self/status"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(status_field(r.out, "Seccomp"), "2") << "exec took the rewritten bundle's config";
}

// kill and delete reach the container's first process by its pid *and* start time, through a
// pidfd: a process of the host that got the number since (here: the state made to name one,
// as a reused pid would) is never signalled.
TEST_F(ExecAttack, KillAndDeleteNeverSignalAProcessThatTookTheContainersPid) {
  Background host_process({"/bin/sleep", unique_sleep_seconds()});
  const fs::path state_file = fs::path(c().root()) / "containers" / c().id() / "state.json";
  auto state = nlohmann::json::parse(read_file(state_file));
  state["pid"] = host_process.pid();  // its pid_start_time stays the container's process's
  std::ofstream(state_file) << state.dump();
  const auto killed = c().mc({"kill", c().id(), "KILL"});
  EXPECT_NE(killed.status, 0) << "the recorded process is gone: nothing to signal";
  EXPECT_TRUE(host_process.running()) << "kill signalled the process that has the number now";
  c().mc({"delete", "--force", c().id()});
  EXPECT_TRUE(host_process.running()) << "delete killed the process that has the number now";
}

// A startContainer hook's program is found inside the container: the image's. It runs as a
// process of the container (its pid namespace, cgroup, bounding set, effective capabilities,
// seccomp filter), never with the runtime's own privileges, which an image could turn into
// the host's root by putting its own program at the hook's path.
TEST(HookAttack, AStartContainerHookRunsConfinedLikeTheContainersProcess) {
  MC_REQUIRE_ROOT();
  Leftovers leftovers(kTag);
  HostDir dir;
  {
    const std::string script =
        "grep -E '^(Seccomp|CapBnd|CapEff|NoNewPrivs):' /proc/self/status > /hooks/out; "
        "readlink /proc/self/ns/pid > /hooks/pidns; cat /proc/self/cgroup > /hooks/cgroup; "
        "cat /proc/1/cgroup > /hooks/cgroup1";
    OciContainer c(kTag, [&](nlohmann::json& j) {
      j["mounts"].push_back({{"destination", "/hooks"},
                             {"type", "bind"},
                             {"source", dir.path()},
                             {"options", {"rbind", "rw"}}});
      j["hooks"] = {{"startContainer", {{{"path", "/bin/sh"}, {"args", {"sh", "-c", script}}}}}};
    });
    ASSERT_EQ(c.create().status, 0);
    const auto started = c.start();
    ASSERT_EQ(started.status, 0) << started.err;
    const std::string first = read_file(fmt::format("/proc/{}/status", c.pid()));
    const std::string hook = read_file(dir.path() + "/out");
    EXPECT_EQ(status_field(hook, "Seccomp"), "2") << "the hook ran without the filter";
    for (const char* set : {"CapBnd", "CapEff", "NoNewPrivs"}) {
      EXPECT_EQ(status_field(hook, set), status_field(first, set)) << set;
    }
    EXPECT_EQ(trimmed(read_file(dir.path() + "/pidns")),
              fs::read_symlink(fmt::format("/proc/{}/ns/pid", c.pid())).string())
        << "the hook is not in the container's pid namespace";
    // Both read inside (the same cgroup namespace): the hook's cgroup and the first process's.
    EXPECT_NE(read_file(dir.path() + "/cgroup1"), "");
    EXPECT_EQ(read_file(dir.path() + "/cgroup"), read_file(dir.path() + "/cgroup1"))
        << "the hook is not in the container's cgroup";
  }
  EXPECT_EQ("", leftovers.check());
  leftovers.scrub();
}

// exec --user NAME reads the container's /etc/passwd and /etc/group through its root, every
// component resolved inside it: an /etc/passwd that is a symlink to a host path (absolute or
// with ..) finds nothing of the host's, and a fifo or an oversized file there cannot make
// exec hang or read without end.
class ExecUserLookup : public ::testing::Test {
 protected:
  void SetUp() override {
    MC_REQUIRE_ROOT();
    leftovers_.emplace(kTag);
    fs::create_directory(dir_.path() + "/etc");
    std::ofstream(host_.path() + "/passwd")
        << "root:x:0:0::/:/bin/sh\nhostonly:x:4242:4242::/:/bin/sh\n";
    container_.emplace(kTag, [&](nlohmann::json& j) {
      j["mounts"].push_back({{"destination", "/etc"},
                             {"type", "bind"},
                             {"source", dir_.path() + "/etc"},
                             {"options", {"rbind", "rw"}}});
    });
    ASSERT_EQ(container_->create().status, 0);
    ASSERT_EQ(container_->start().status, 0);
  }
  void TearDown() override {
    container_.reset();
    if (!leftovers_) return;
    EXPECT_EQ("", leftovers_->check()) << "left on the host by this test";
    leftovers_->scrub();
  }
  RunResult exec_as(const std::string& user) {
    RunOptions o;
    o.timeout = std::chrono::milliseconds(20000);
    return container_->mc({"exec", "--user", user, container_->id(), "/bin/true"}, o);
  }
  HostDir dir_, host_;
  std::optional<Leftovers> leftovers_;
  std::optional<OciContainer> container_;
};

TEST_F(ExecUserLookup, APasswdSymlinkToTheHostFindsNothingOfTheHosts) {
  const fs::path passwd = dir_.path() + "/etc/passwd";
  fs::create_symlink(host_.path() + "/passwd", passwd);
  const auto absolute = exec_as("hostonly");
  EXPECT_EQ(absolute.status, 125) << absolute.out;
  EXPECT_TRUE(contains(absolute.err, "unknown user 'hostonly'")) << absolute.err;
  fs::remove(passwd);
  fs::create_symlink("../../../../../../../.." + host_.path() + "/passwd", passwd);
  const auto dotdot = exec_as("hostonly");
  EXPECT_EQ(dotdot.status, 125);
  EXPECT_TRUE(contains(dotdot.err, "unknown user 'hostonly'")) << dotdot.err;
}

TEST_F(ExecUserLookup, AFifoOrAHugeFileAsPasswdIsRefusedNotWaitedOn) {
  const std::string passwd = dir_.path() + "/etc/passwd";
  ASSERT_EQ(::mkfifo(passwd.c_str(), 0644), 0);
  const auto start = std::chrono::steady_clock::now();
  const auto fifo = exec_as("alice");
  EXPECT_EQ(fifo.status, 125) << fifo.err;
  EXPECT_TRUE(contains(fifo.err, "not a regular file")) << fifo.err;
  EXPECT_LT(seconds_since(start), 15);
  fs::remove(passwd);
  ASSERT_EQ(::truncate((std::ofstream(passwd), passwd.c_str()), off_t{64} << 20), 0);
  const auto huge = exec_as("alice");
  EXPECT_EQ(huge.status, 125) << huge.err;
  EXPECT_TRUE(contains(huge.err, "not a regular file of at most 1 MiB")) << huge.err;
}

// exec holds the container's lock (shared) until its process runs: a delete that comes
// meanwhile waits, then finds the new process in the cgroup and kills it with the rest.
// Nothing of the container may survive the race, whichever side wins it.
TEST_F(ExecAttack, ExecRacingDeleteLeavesNothingBehind) {
  HostDir dir;
  Background exec({"/bin/sh", "-c",
                   fmt::format("for i in 1 2 3 4 5 6 7 8; do {} --root {} exec --detach {} "
                               "/bin/sleep {} </dev/null >/dev/null 2>&1; done",
                               bin("mycontainer"), c().root(), c().id(), unique_sleep_seconds())});
  ::usleep(50 * 1000);
  const auto del = c().mc({"delete", "--force", c().id()});
  EXPECT_EQ(del.status, 0) << del.err;
  exec.wait();
  EXPECT_FALSE(fs::exists(fs::path(c().root()) / "containers" / c().id()));
}

}  // namespace
}  // namespace mc::test
