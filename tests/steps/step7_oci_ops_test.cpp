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

// exec --preserve-fds N (runc's): the caller's 3..3+N-1 reach the process, nothing above.
TEST_F(OciOps, ExecPreserveFdsPassesTheCallersDescriptorsOn) {
  OciContainer c(kTag);
  ASSERT_RUNNING(c);
  HostDir dir;
  std::ofstream(dir.path() + "/in") << "from the caller\n";
  const std::string out = dir.path() + "/out";
  const auto with = [&](const std::string& preserve) {
    return run(
        {"/bin/sh", "-c",
         fmt::format("exec 3<{}/in 4>{} 5</dev/null; exec {} --root {} exec {} {} /bin/sh -c "
                     "'cat <&3; echo written >&4; test -e /proc/self/fd/5 && echo five; true'",
                     dir.path(), out, bin("mycontainer"), c.root(), preserve, c.id())});
  };
  const auto r = with("--preserve-fds 2");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "from the caller\n") << "fd 3 passed, fd 5 not";
  EXPECT_EQ(read_file(out), "written\n") << "fd 4 passed";
  const auto without = with("");
  EXPECT_EQ(without.out, "") << "nothing of the caller's without --preserve-fds";
  // A descriptor that is not open cannot be passed (one of ours would take its number).
  const auto closed = run({"/bin/sh", "-c",
                           fmt::format("exec 3</dev/null; exec 4<&-; exec {} --root {} exec "
                                       "--preserve-fds 2 {} /bin/true",
                                       bin("mycontainer"), c.root(), c.id())});
  EXPECT_EQ(closed.status, 125) << closed.err;
  EXPECT_TRUE(contains(closed.err, "--preserve-fds: fd 4")) << closed.err;
}

// exec --user NAME[:GROUP]: looked up in the container's /etc/passwd and /etc/group, as the
// container sees them (here bind-mounted over the rootfs's, so only visible inside), with the
// groups that list the user; -g adds more.
TEST_F(OciOps, ExecUserByNameReadsTheContainersPasswdAndGroup) {
  HostDir dir;
  std::ofstream(dir.path() + "/passwd") << "root:x:0:0:root:/root:/bin/sh\n"
                                           "alice:x:1234:1235::/:/bin/sh\n";
  std::ofstream(dir.path() + "/group") << "root:x:0:\nstaff:x:1235:\nwheel:x:1300:bob,alice\n"
                                          "other:x:1400:bob\n";
  OciContainer c(kTag, [&](json& j) {
    for (const char* f : {"passwd", "group"}) {
      j["mounts"].push_back({{"destination", std::string("/etc/") + f},
                             {"type", "bind"},
                             {"source", dir.path() + "/" + f},
                             {"options", {"bind", "ro"}}});
    }
  });
  ASSERT_RUNNING(c);
  const auto ids = [&](std::vector<std::string> user) {
    std::vector<std::string> args{"exec"};
    args.insert(args.end(), user.begin(), user.end());
    args.insert(args.end(),
                {c.id(), "/bin/sh", "-c",
                 "echo $(id -u) $(id -g) G $(grep Groups: /proc/self/status | cut -f2)"});
    return c.mc(args);
  };
  const auto alice = ids({"--user", "alice"});
  EXPECT_EQ(alice.status, 0) << alice.err;
  EXPECT_EQ(alice.out, "1234 1235 G 1300\n");
  const auto wheel = ids({"--user", "alice:wheel"});
  EXPECT_EQ(wheel.out, "1234 1300 G 1300\n") << wheel.err;
  const auto extra = ids({"--user", "1234:1235", "-g", "2000", "--additional-gids", "2001"});
  EXPECT_EQ(extra.out, "1234 1235 G 2000 2001\n") << extra.err;
  const auto unknown = ids({"--user", "mallory"});
  EXPECT_EQ(unknown.status, 125);
  EXPECT_TRUE(contains(unknown.err, "unknown user 'mallory'")) << unknown.err;
}

// A bundle asking for mycontainer's own bridge (io.mycontainer.network=bridge) is refused at
// create, with one line naming the annotation and what to do: under an engine the network is
// the engine's. Nothing is made (no state, no link, no lease).
TEST_F(OciOps, ABundleAskingForTheBridgeIsRefusedWithOneLine) {
  OciContainer c(kTag, [](json& j) { j["annotations"]["io.mycontainer.network"] = "bridge"; });
  const auto r = c.create();
  EXPECT_EQ(r.status, 125);
  EXPECT_EQ(lines_of(r.err).size(), 1u) << r.err;
  EXPECT_TRUE(contains(r.err, "io.mycontainer.network: bridge networking is `mycontainer run`'s"))
      << r.err;
  EXPECT_FALSE(fs::exists(fs::path(c.root()) / "containers" / c.id()));
}

// So is a bundle naming image layers (io.mycontainer.root.layers) for its root: under an engine
// the engine mounts the image (root.path); only mycontainer's own monitor (`run -d IMAGE`)
// passes layers to create.
TEST_F(OciOps, ABundleNamingImageLayersIsRefusedWithOneLine) {
  OciContainer c(kTag, [](json& j) {
    j["annotations"]["io.mycontainer.root.layers"] = json(std::vector<std::string>{"/"}).dump();
  });
  const auto r = c.create();
  EXPECT_EQ(r.status, 125);
  EXPECT_EQ(lines_of(r.err).size(), 1u) << r.err;
  EXPECT_TRUE(contains(r.err, "io.mycontainer.root.layers: not with create")) << r.err;
  EXPECT_FALSE(fs::exists(fs::path(c.root()) / "containers" / c.id()));
}

// ============================================================================================
// pause, resume
// ============================================================================================

// The container's v2 cgroup.events ("" on v1, which has none).
std::string cgroup_events_of(const OciContainer& c) {
  for (const auto& dir : c.cgroup_dirs()) {
    const fs::path file = fs::path(dir) / "cgroup.events";
    if (fs::exists(file)) return read_file(file.string());
  }
  return "";
}

TEST_F(OciOps, PauseFreezesResumeThawsAndStateSaysPaused) {
  OciContainer c(kTag);
  ASSERT_RUNNING(c);
  ASSERT_EQ(c.mc({"pause", c.id()}).status, 0);
  EXPECT_EQ(c.state().value("status", ""), "paused");
  const std::string stat = read_file(fmt::format("/proc/{}/stat", c.pid()));
  // A frozen task is shown as D by the v1 freezer; the v2 freezer (Linux 6.1 at least) leaves
  // it in S, and its cgroup says "frozen 1" in cgroup.events (cgroup-v2.rst, cgroup.freeze).
  const std::string events = cgroup_events_of(c);
  EXPECT_TRUE(stat.find(") D") != std::string::npos || contains(events, "frozen 1"))
      << stat << events;
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

// update is recorded (the container's config copy in its state directory, as runc keeps it
// in state.json): a later update starts from it. A memory limit above the recorded
// memory+swap is refused; one below it is applied (on v2 the swap limit, swap - memory, is
// rewritten with it).
TEST_F(OciOps, UpdateIsRecordedAndALaterUpdateStartsFromIt) {
  OciContainer c(kTag);
  ASSERT_RUNNING(c);
  const auto config = [&] {
    return json::parse(read_file(fs::path(c.root()) / "containers" / c.id() /
                                 "config.json"))["linux"]["resources"];
  };
  const auto first = c.mc({"update", "--memory", "64m", "--memory-swap", "128m", c.id()});
  if (first.status != 0 && contains(first.err, "accounts no swap")) {
    GTEST_SKIP() << "no swap accounting here: " << first.err;
  }
  ASSERT_EQ(first.status, 0) << first.err;
  ASSERT_EQ(c.mc({"update", "--pids-limit", "40", c.id()}).status, 0);
  json r = config();
  EXPECT_EQ(r["memory"]["limit"], 64 << 20) << r.dump();
  EXPECT_EQ(r["memory"]["swap"], 128 << 20) << r.dump();
  EXPECT_EQ(r["pids"]["limit"], 40) << r.dump();
  const auto above = c.mc({"update", "--memory", "256m", c.id()});
  EXPECT_NE(above.status, 0) << "256m of memory above the recorded 128m of memory + swap";
  EXPECT_EQ(config()["memory"]["limit"], 64 << 20) << "a refused update is not recorded";
  const auto below = c.mc({"update", "--memory", "100m", c.id()});
  ASSERT_EQ(below.status, 0) << below.err;
  EXPECT_EQ(config()["memory"]["limit"], 100 << 20);
  if (const std::string swap = cgroup_file(c, "memory.swap.max"); !swap.empty()) {
    EXPECT_EQ(trimmed(read_file(swap)), std::to_string(28 << 20)) << "v2: swap - memory";
  }
  if (const std::string memsw = cgroup_file(c, "memory.memsw.limit_in_bytes"); !memsw.empty()) {
    EXPECT_EQ(trimmed(read_file(memsw)), std::to_string(128 << 20)) << "v1: memory + swap";
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

// One line a hook wrote: "NAME ROOT MNT [procmounted] {state json}".
struct HookLine {  // NOLINT(bugprone-exception-escape): nlohmann::json members
  std::string name, root, mnt, extra;
  json state;
};
std::optional<HookLine> hook_line(const std::vector<std::string>& lines, const std::string& name) {
  for (const auto& line : lines) {
    if (line.rfind(name + " ", 0) != 0) continue;
    const auto brace = line.find('{');
    if (brace == std::string::npos) return std::nullopt;
    std::istringstream words(line.substr(0, brace));
    HookLine h;
    words >> h.name >> h.root >> h.mnt >> h.extra;
    h.state = json::parse(line.substr(brace));
    return h;
  }
  return std::nullopt;
}

// config.md "POSIX-platform Hooks" and runtime.md "Lifecycle": each hook at its point, in
// its namespaces, with the status of that moment on stdin. createRuntime: in the runtime's
// mount namespace, the container's root not changed yet. createContainer: in the container's
// mount namespace (its /proc mounted on the rootfs), still before pivot_root (its root is "/"),
// the program found on the host. startContainer: inside the container (its host name), at
// start, status "created". poststart "running", poststop "stopped".
TEST_F(OciOps, HooksRunAtTheirPointsWithTheStateOnStdin) {
  HostDir dir;
  const std::string log = dir.path() + "/hooks.log";
  // The first process's root as the hook sees it, our mount namespace, whether the
  // container's /proc is mounted on the rootfs at its host path as the first process sees it
  // (only between the mounts and pivot_root), and the state.
  const auto outside = [&](const std::string& name) {
    const std::string script = fmt::format(
        R"(s=$(cat); pid=$(echo "$s" | sed 's/.*"pid":\([0-9]*\).*/\1/'); )"
        R"(p=-; test -e /proc/$pid/root{}/proc/1/status && p=procmounted; )"
        R"(echo "{} $(readlink /proc/$pid/root) $(readlink /proc/self/ns/mnt) $p $s" >> {})",
        rootfs(), name, log);
    return json{{"path", "/bin/sh"}, {"args", {"sh", "-c", script}}};
  };
  // Inside the container: /bin/sh is the rootfs's busybox, the log is on a bind mount.
  const json inside = {
      {"path", "/bin/sh"},
      {"args",
       {"sh", "-c", R"sh(echo "startContainer $(hostname) - - $(cat)" >> /hooks/hooks.log)sh"}}};
  OciContainer c(kTag, [&](json& j) {
    j["mounts"].push_back({{"destination", "/hooks"},
                           {"type", "bind"},
                           {"source", dir.path()},
                           {"options", {"rbind", "rw"}}});
    j["hooks"] = {{"createRuntime", {outside("createRuntime")}},
                  {"createContainer", {outside("createContainer")}},
                  {"startContainer", {inside}},
                  {"poststart", {outside("poststart")}},
                  {"poststop", {outside("poststop")}}};
  });
  const auto created = c.create();
  ASSERT_EQ(created.status, 0) << created.err;
  const pid_t pid = c.pid();
  const std::string container_mnt = ns_link(pid, "mnt");
  EXPECT_EQ(lines_of(read_file(log)).size(), 2u) << "only the create hooks so far\n"
                                                 << read_file(log);
  ASSERT_EQ(c.start().status, 0);
  ASSERT_EQ(c.mc({"delete", "--force", c.id()}).status, 0);
  const auto lines = lines_of(read_file(log));
  ASSERT_EQ(lines.size(), 5u) << read_file(log);
  const std::string our_mnt = fs::read_symlink("/proc/self/ns/mnt").string();

  const auto runtime = hook_line(lines, "createRuntime");
  ASSERT_TRUE(runtime) << read_file(log);
  EXPECT_EQ(runtime->state.value("status", ""), "creating");
  EXPECT_EQ(runtime->state.value("id", ""), c.id());
  EXPECT_EQ(runtime->state.value("pid", 0), pid);
  EXPECT_EQ(runtime->root, "/") << "before pivot_root";
  EXPECT_EQ(runtime->mnt, our_mnt) << "in the runtime's mount namespace";
  // Through the first process's root: its /proc is mounted on the rootfs, which still lies at
  // its host path (the root has not changed).
  EXPECT_EQ(runtime->extra, "procmounted") << "after the mounts, before pivot_root";

  const auto container = hook_line(lines, "createContainer");
  ASSERT_TRUE(container) << read_file(log);
  EXPECT_EQ(container->state.value("status", ""), "creating");
  EXPECT_EQ(container->root, "/") << "before pivot_root";
  EXPECT_EQ(container->mnt, container_mnt) << "in the container's mount namespace";
  EXPECT_EQ(container->extra, "procmounted") << "after the container's mounts";

  const auto start = hook_line(lines, "startContainer");
  ASSERT_TRUE(start) << read_file(log);
  EXPECT_EQ(start->root, "opsbox") << "inside the container (its host name)";
  EXPECT_EQ(start->state.value("status", ""), "created");
  EXPECT_EQ(start->state.value("pid", 0), pid);

  const auto poststart = hook_line(lines, "poststart");
  ASSERT_TRUE(poststart) << read_file(log);
  EXPECT_EQ(poststart->state.value("status", ""), "running");
  EXPECT_EQ(poststart->mnt, our_mnt);
  EXPECT_EQ(poststart->extra, "-") << "the root has changed by now";
  const auto poststop = hook_line(lines, "poststop");
  ASSERT_TRUE(poststop) << read_file(log);
  EXPECT_EQ(poststop->state.value("status", ""), "stopped");
  EXPECT_EQ(lines[0].rfind("createRuntime ", 0), 0u);
  EXPECT_EQ(lines[1].rfind("createContainer ", 0), 0u);
  EXPECT_EQ(lines[2].rfind("startContainer ", 0), 0u);
  EXPECT_EQ(lines[3].rfind("poststart ", 0), 0u);
  EXPECT_EQ(lines[4].rfind("poststop ", 0), 0u);
}

// A failing createContainer or startContainer hook tears the container down: nothing left.
TEST_F(OciOps, AFailingCreateContainerOrStartContainerHookLeavesNothing) {
  OciContainer created(kTag, [](json& j) {
    j["hooks"] = {{"createContainer", {{{"path", "/bin/false"}}}}};
  });
  const auto r = created.create();
  EXPECT_NE(r.status, 0);
  EXPECT_TRUE(contains(r.err, "hooks.createContainer[0]")) << r.err;
  EXPECT_FALSE(fs::exists(fs::path(created.root()) / "containers" / created.id()));

  OciContainer started(kTag, [](json& j) {
    j["hooks"] = {{"startContainer", {{{"path", "/bin/false"}}}}};
  });
  ASSERT_EQ(started.create().status, 0);
  const auto s = started.start();
  EXPECT_NE(s.status, 0);
  EXPECT_TRUE(contains(s.err, "hooks.startContainer[0]")) << s.err;
  EXPECT_FALSE(fs::exists(fs::path(started.root()) / "containers" / started.id()));
}

// The hooks that `start` and `delete` run are the config's as create read it: a bundle
// changed afterwards (by whoever may write it) changes nothing (runc keeps its config in its
// state the same way).
TEST_F(OciOps, HooksAreTheConfigsAsCreateReadItNotTheBundlesLater) {
  HostDir dir;
  const std::string mark = dir.path() + "/ran";
  OciContainer c(kTag);
  ASSERT_EQ(c.create().status, 0);
  json j = json::parse(read_file(c.bundle() + "/config.json"));
  j["hooks"] = {{"poststart", {{{"path", "/bin/sh"}, {"args", {"sh", "-c", "touch " + mark}}}}},
                {"poststop", {{{"path", "/bin/sh"}, {"args", {"sh", "-c", "touch " + mark}}}}}};
  std::ofstream(c.bundle() + "/config.json") << j.dump(2);
  ASSERT_EQ(c.start().status, 0);
  ASSERT_EQ(c.mc({"delete", "--force", c.id()}).status, 0);
  EXPECT_FALSE(fs::exists(mark)) << "a hook added to the bundle after create ran";
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
