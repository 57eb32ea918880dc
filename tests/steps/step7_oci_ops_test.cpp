// The operations on an OCI container through the command line (#12): a bundle made with
// `mycontainer spec` and the test rootfs, `create` + `start` under a --root of the test's own,
// then exec (a command line and exit code; --process with --detach and --pid-file, the way
// podman calls it), pause/resume and `state` saying "paused", update (files written, bad
// input refused by field), ps (--format json), hooks (state on stdin; a failing or slow hook
// leaves nothing), and `delete`. Bad cases: exec into an unknown or stopped container, pause
// of a paused one. Nothing may be left behind (Leftovers, and the --root directory).
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "background.hpp"
#include "leftovers.hpp"
#include "mycontainer.hpp"
#include "oci_container.hpp"
#include "runtime/state.hpp"
#include "support.hpp"

namespace mc::test {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
constexpr const char* kTag = "mctoo";

class OciOps : public ::testing::Test {
 protected:
  void SetUp() override {
    MC_REQUIRE_ROOT();
    leftovers_.emplace(kTag);
  }
  void TearDown() override {
    if (!leftovers_) return;
    EXPECT_EQ("", leftovers_->check()) << "left on the host by this test";
    leftovers_->scrub();
  }
  std::optional<Leftovers> leftovers_;
};

// A running container (create + start succeeded).
#define ASSERT_RUNNING(c)                                  \
  do {                                                     \
    const auto created_ = (c).create();                    \
    ASSERT_EQ(created_.status, 0) << created_.err;         \
    const auto started_ = (c).start();                     \
    ASSERT_EQ(started_.status, 0) << started_.err;         \
    ASSERT_EQ((c).state().value("status", ""), "running"); \
  } while (0)

std::string ns_link(pid_t pid, const std::string& ns) {
  return fs::read_symlink(fmt::format("/proc/{}/ns/{}", pid, ns)).string();
}

// ============================================================================================
// exec
// ============================================================================================

TEST_F(OciOps, ExecRunsACommandInTheContainerAndReturnsItsExitCode) {
  OciContainer c(kTag);
  ASSERT_RUNNING(c);
  const auto r = c.mc({"exec", c.id(), "/bin/sh", "-c",
                       "hostname; readlink /proc/self/ns/pid; readlink /proc/self/ns/mnt; exit 3"});
  EXPECT_EQ(r.status, 3) << r.err;
  const auto lines = lines_of(r.out);
  ASSERT_EQ(lines.size(), 3u) << r.out << r.err;
  EXPECT_EQ(lines[0], "opsbox");
  EXPECT_EQ(lines[1], ns_link(c.pid(), "pid"));
  EXPECT_EQ(lines[2], ns_link(c.pid(), "mnt"));
  const auto killed = c.mc({"exec", c.id(), "/bin/sh", "-c", "kill -9 $$"});
  EXPECT_EQ(killed.status, 128 + SIGKILL);
}

TEST_F(OciOps, ExecWithOptionsOverridesTheContainersProcess) {
  OciContainer c(kTag);
  ASSERT_RUNNING(c);
  const auto r = c.mc({"exec", "--cwd", "/etc", "--env", "FOO=bar", "--user", "1000:1001", c.id(),
                       "/bin/sh", "-c", "pwd; echo $FOO; id -u; id -g"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "/etc\nbar\n1000\n1001\n");
}

TEST_F(OciOps, ExecDetachedWithAProcessJsonAsPodmanCallsIt) {
  OciContainer c(kTag);
  ASSERT_RUNNING(c);
  HostDir dir;
  const std::string seconds = unique_sleep_seconds();
  json process = json::parse(read_file(c.bundle() + "/config.json"))["process"];
  process["args"] = {"/bin/sleep", seconds};
  process["cwd"] = "/tmp";
  const std::string process_file = dir.path() + "/process.json";
  std::ofstream(process_file) << process.dump();
  const std::string pid_file = dir.path() + "/exec.pid";
  const auto r = c.mc_detached(
      {"exec", "--pid-file", pid_file, "--process", process_file, "--detach", c.id()});
  ASSERT_EQ(r.status, 0) << r.err;
  const pid_t pid = std::stoi(read_file(pid_file));
  ASSERT_GT(pid, 0);
  const std::string status = read_file(fmt::format("/proc/{}/status", pid));
  EXPECT_EQ(status_field(status, "Seccomp"), "2") << "the container's filter";
  EXPECT_EQ(status_field(status, "CapBnd"),
            status_field(read_file(fmt::format("/proc/{}/status", c.pid())), "CapBnd"));
  EXPECT_EQ(ns_link(pid, "pid"), ns_link(c.pid(), "pid"));
  // In the container's cgroup: ps lists it.
  const auto ps = c.mc({"ps", "--format", "json", c.id()});
  ASSERT_EQ(ps.status, 0) << ps.err;
  const json pids = json::parse(ps.out);
  EXPECT_NE(std::find(pids.begin(), pids.end(), pid), pids.end()) << ps.out;
  EXPECT_NE(std::find(pids.begin(), pids.end(), c.pid()), pids.end()) << ps.out;
  EXPECT_NE(leftovers_detail::parent_of(pid), ::getpid()) << "not the test's child";
}

TEST_F(OciOps, ExecIntoAStoppedOrUnknownContainerIsRefused) {
  OciContainer c(kTag, {}, {"/bin/true"});
  ASSERT_EQ(c.create().status, 0);
  ASSERT_EQ(c.start().status, 0);
  ASSERT_TRUE(wait_until([&] { return c.state().value("status", "") == "stopped"; }));
  const auto stopped = c.mc({"exec", c.id(), "/bin/true"});
  EXPECT_EQ(stopped.status, 125);
  EXPECT_TRUE(contains(stopped.err, "stopped")) << stopped.err;
  const auto unknown = c.mc({"exec", "no-such-" + c.id(), "/bin/true"});
  EXPECT_EQ(unknown.status, 125);
  EXPECT_TRUE(contains(unknown.err, "does not exist")) << unknown.err;
  const auto missing = c.mc({"exec", c.id(), "/no/such/command"});
  EXPECT_EQ(missing.status, 125) << "the container is stopped: refused before the lookup";
}

TEST_F(OciOps, ExecOfACommandThatIsNotThereIs127) {
  OciContainer c(kTag);
  ASSERT_RUNNING(c);
  const auto r = c.mc({"exec", c.id(), "/no/such/command"});
  EXPECT_EQ(r.status, 127);
  EXPECT_TRUE(contains(r.err, "/no/such/command")) << r.err;
}

// ============================================================================================
// pause, resume
// ============================================================================================

TEST_F(OciOps, PauseFreezesResumeThawsAndStateSaysPaused) {
  OciContainer c(kTag);
  ASSERT_RUNNING(c);
  ASSERT_EQ(c.mc({"pause", c.id()}).status, 0);
  EXPECT_EQ(c.state().value("status", ""), "paused");
  const std::string stat = read_file(fmt::format("/proc/{}/stat", c.pid()));
  // A frozen task is shown as D (v1 freezer, and v2 on recent kernels) or S.
  EXPECT_NE(stat.find(") D"), std::string::npos) << stat;
  const auto again = c.mc({"pause", c.id()});
  EXPECT_EQ(again.status, 125) << "pause of a paused container";
  EXPECT_TRUE(contains(again.err, "paused")) << again.err;
  const auto exec = c.mc({"exec", c.id(), "/bin/true"});
  EXPECT_EQ(exec.status, 125) << "exec into a paused container";
  ASSERT_EQ(c.mc({"resume", c.id()}).status, 0);
  EXPECT_EQ(c.state().value("status", ""), "running");
  const auto twice = c.mc({"resume", c.id()});
  EXPECT_EQ(twice.status, 125);
  EXPECT_TRUE(contains(twice.err, "running")) << twice.err;
}

// ============================================================================================
// update
// ============================================================================================

// The file of the container's cgroup that holds `name` ("" if none).
std::string cgroup_file(const OciContainer& c, const std::string& name) {
  for (const auto& dir : c.cgroup_dirs()) {
    const fs::path file = fs::path(dir) / name;
    if (fs::exists(file)) return file.string();
  }
  return "";
}

TEST_F(OciOps, UpdateWritesTheLimitsFromFlagsAndFromAResourcesFile) {
  OciContainer c(kTag);
  ASSERT_RUNNING(c);
  const auto r = c.mc({"update", "--memory", "128m", "--pids-limit", "50", c.id()});
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string pids_max = cgroup_file(c, "pids.max");
  ASSERT_NE(pids_max, "");
  EXPECT_EQ(trimmed(read_file(pids_max)), "50");
  const std::string mem = cgroup_file(c, "memory.limit_in_bytes").empty()
                              ? cgroup_file(c, "memory.max")
                              : cgroup_file(c, "memory.limit_in_bytes");
  EXPECT_EQ(trimmed(read_file(mem)), std::to_string(128 << 20));
  HostDir dir;
  std::ofstream(dir.path() + "/r.json") << R"({"pids": {"limit": 60}, "cpu": {"quota": 50000,
                                                "period": 100000}})";
  const auto file = c.mc({"update", "--resources=" + dir.path() + "/r.json", c.id()});
  ASSERT_EQ(file.status, 0) << file.err;
  EXPECT_EQ(trimmed(read_file(pids_max)), "60");
  const std::string quota = cgroup_file(c, "cpu.cfs_quota_us");
  if (!quota.empty()) {
    EXPECT_EQ(trimmed(read_file(quota)), "50000");
  }
}

TEST_F(OciOps, UpdateWithAWrongTypeIsRefusedByFieldAndChangesNothing) {
  OciContainer c(kTag);
  ASSERT_RUNNING(c);
  const std::string pids_max = cgroup_file(c, "pids.max");
  ASSERT_NE(pids_max, "");
  const std::string before = read_file(pids_max);
  RunOptions stdin_json;
  stdin_json.input = R"({"pids": {"limit": "many"}})";
  const auto r = c.mc({"update", "--resources", "-", c.id()}, stdin_json);
  EXPECT_EQ(r.status, 125);
  EXPECT_TRUE(contains(r.err, "linux.resources.pids.limit")) << r.err;
  EXPECT_EQ(read_file(pids_max), before);
  const auto bad = c.mc({"update", "--memory", "lots", c.id()});
  EXPECT_EQ(bad.status, 125);
}

// ============================================================================================
// hooks
// ============================================================================================

TEST_F(OciOps, HooksRunAtTheirPointsWithTheStateOnStdin) {
  HostDir dir;
  const std::string log = dir.path() + "/hooks.log";
  const auto hook = [&](const std::string& name) {
    return json{{"path", "/bin/sh"},
                {"args", {"sh", "-c", fmt::format("echo {} $(cat) >> {}", name, log)}}};
  };
  OciContainer c(kTag, [&](json& j) {
    j["hooks"] = {{"createRuntime", {hook("createRuntime")}},
                  {"poststart", {hook("poststart")}},
                  {"poststop", {hook("poststop")}}};
  });
  ASSERT_RUNNING(c);
  ASSERT_EQ(c.mc({"delete", "--force", c.id()}).status, 0);
  const auto lines = lines_of(read_file(log));
  ASSERT_EQ(lines.size(), 3u) << read_file(log);
  EXPECT_EQ(lines[0].rfind("createRuntime {", 0), 0u) << lines[0];
  EXPECT_TRUE(contains(lines[0], "\"id\":\"" + c.id() + "\"")) << lines[0];
  EXPECT_EQ(lines[1].rfind("poststart {", 0), 0u) << lines[1];
  EXPECT_EQ(lines[2].rfind("poststop {", 0), 0u) << lines[2];
}

TEST_F(OciOps, AFailingHookLeavesNothing) {
  OciContainer c(kTag, [](json& j) {
    j["hooks"] = {{"createRuntime", {{{"path", "/bin/false"}}}}};
  });
  const auto r = c.create();
  EXPECT_NE(r.status, 0);
  EXPECT_TRUE(contains(r.err, "hooks.createRuntime[0]")) << r.err;
  EXPECT_FALSE(fs::exists(fs::path(c.root()) / "containers" / c.id())) << "no state left";
}

TEST_F(OciOps, AHookThatTimesOutIsKilledAndLeavesNothing) {
  OciContainer c(kTag, [](json& j) {
    j["hooks"] = {
        {"createRuntime", {{{"path", "/bin/sleep"}, {"args", {"sleep", "60"}}, {"timeout", 1}}}}};
  });
  const auto start = std::chrono::steady_clock::now();
  const auto r = c.create();
  EXPECT_NE(r.status, 0);
  EXPECT_LT(seconds_since(start), 30);
  EXPECT_TRUE(contains(r.err, "timeout")) << r.err;
  EXPECT_FALSE(fs::exists(fs::path(c.root()) / "containers" / c.id())) << "no state left";
}

}  // namespace
}  // namespace mc::test
