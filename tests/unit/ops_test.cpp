// The library of the operations on a running container (#12): OCI hooks (run_hook: the state
// on stdin, args and env, exit status, timeout, no descriptor leaked), the resource update
// plan (v1 and v2 file names, conversions, refusals naming the field) against fake cgroup
// directories, the freezer's file logic against fake directories, and the process.json and
// resources readers. No root needed: real cgroups and real containers are in
// steps/step7_ops_test.cpp.
#include <fcntl.h>      // open(2)
#include <sys/prctl.h>  // prctl(2) PR_SET_NAME
#include <sys/wait.h>   // waitpid(2)
#include <unistd.h>     // close(2), fork(2)

#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "ctr/error.hpp"
#include "runtime/freezer.hpp"
#include "runtime/hooks.hpp"
#include "runtime/resources.hpp"
#include "runtime/spec.hpp"
#include "runtime/state.hpp"  // ctr::process_running, process_start_time
#include "support.hpp"

namespace {

namespace fs = std::filesystem;
using mc::test::expect_usage_error;
using mycontainer::Hook;

// A temporary directory, removed with its contents.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/mct-ops-XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  // A file with text (directories made as needed); returns its path.
  std::string put(const std::string& name, const std::string& text, bool executable = false) const {
    const fs::path p = file(name);
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
    if (executable) fs::permissions(p, fs::perms::owner_all, fs::perm_options::add);
    return p.string();
  }

 private:
  std::string path_;
};

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), {}};
}

Hook make_hook(std::string path, std::vector<std::string> args = {},
               std::vector<std::string> env = {}, std::optional<int> timeout = {}) {
  Hook hook;
  hook.path = std::move(path);
  hook.args = std::move(args);
  hook.env = std::move(env);
  hook.timeout = timeout;
  return hook;
}

// The HookError message run_hook throws ("" when it succeeds).
std::string hook_error(const Hook& hook, const std::string& state = "{}") {
  try {
    ctr::run_hook(hook, state, "hooks.createRuntime[0]");
  } catch (const ctr::HookError& e) {
    return e.what();
  }
  return "";
}

// ============================================================================================
// Hooks
// ============================================================================================

TEST(Hooks, TheStateArrivesOnStdinWithArgsAndEnvAsGiven) {
  TempDir dir;
  const std::string out = dir.file("out");
  const std::string script =
      dir.put("hook.sh",
              fmt::format("#!/bin/sh\n{{ cat; echo; echo \"argv0=$0 args=$*\"; echo \"X=$X\"; "
                          "env | grep -c . ; }} > {}\n",
                          out),
              true);
  const Hook hook = make_hook(script, {"my-hook", "one", "two"}, {"X=42"});
  EXPECT_EQ("", hook_error(hook, R"({"ociVersion":"1.2.0","id":"c1","status":"creating"})"));
  const std::string seen = slurp(out);
  EXPECT_NE(seen.find(R"({"ociVersion":"1.2.0","id":"c1","status":"creating"})"), std::string::npos)
      << seen;
  // args[0] is the hook's argv[0]; the shell shows its script path as $0 and the rest as $*.
  EXPECT_NE(seen.find("args=one two"), std::string::npos) << seen;
  EXPECT_NE(seen.find("X=42"), std::string::npos) << seen;
  // env is the whole environment: X, and what sh adds itself (PWD, SHLVL...), not ours.
  EXPECT_EQ(seen.find("GTEST"), std::string::npos) << seen;
}

TEST(Hooks, ANonZeroExitFailsWithTheCodeAndWhatItSaid) {
  TempDir dir;
  const std::string script =
      dir.put("fail.sh", "#!/bin/sh\necho 'no network for you' >&2\nexit 3\n", true);
  const std::string error = hook_error(make_hook(script));
  EXPECT_NE(error.find("hooks.createRuntime[0]"), std::string::npos) << error;
  EXPECT_NE(error.find(script), std::string::npos) << error;
  EXPECT_NE(error.find("exited with code 3"), std::string::npos) << error;
  EXPECT_NE(error.find("no network for you"), std::string::npos) << error;
}

TEST(Hooks, AHookKilledByASignalFails) {
  const std::string error = hook_error(make_hook("/bin/sh", {"sh", "-c", "kill -9 $$"}));
  EXPECT_NE(error.find("signal 9"), std::string::npos) << error;
}

TEST(Hooks, ATimeoutKillsTheHookAndFailsInTime) {
  const auto start = std::chrono::steady_clock::now();
  const std::string error = hook_error(make_hook("/bin/sleep", {"sleep", "30"}, {}, 1));
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_NE(error.find("did not finish within its timeout of 1 s"), std::string::npos) << error;
  EXPECT_LT(took, std::chrono::seconds(10)) << "the hook must be killed at its timeout";
}

TEST(Hooks, AMissingProgramFailsNamingIt) {
  const std::string error = hook_error(make_hook("/nonexistent/hook"));
  EXPECT_NE(error.find("/nonexistent/hook"), std::string::npos) << error;
  EXPECT_NE(error.find("No such file"), std::string::npos) << error;
}

TEST(Hooks, NoDescriptorOfTheRuntimeReachesTheHook) {
  // A descriptor we hold (not close-on-exec, as a careless engine might pass one: here the
  // host's "/") must not be open in the hook: the hook's shell lists where its own
  // descriptors lead.
  TempDir dir;
  const int leaked = ::open("/", O_RDONLY | O_DIRECTORY);  // deliberately not O_CLOEXEC
  ASSERT_GE(leaked, 3);
  const std::string out = dir.file("fds");
  const std::string error = hook_error(make_hook(
      "/bin/sh", {"sh", "-c", "for f in /proc/$$/fd/*; do readlink $f; done > " + out + "; true"}));
  ::close(leaked);
  EXPECT_EQ("", error);
  const std::string targets = slurp(out);
  EXPECT_NE(targets.find("pipe:"), std::string::npos) << targets;  // stdin: the state
  EXPECT_EQ(("\n" + targets).find("\n/\n"), std::string::npos)
      << "the runtime's descriptor of / reached the hook:\n"
      << targets;
}

TEST(Hooks, TheFirstFailureStopsTheList) {
  TempDir dir;
  const std::string marker = dir.file("second-ran");
  const std::vector<Hook> hooks = {make_hook("/bin/false"),
                                   make_hook("/bin/touch", {"touch", marker})};
  try {
    ctr::run_hooks(hooks, "{}", "poststart");
    ADD_FAILURE() << "no HookError";
  } catch (const ctr::HookError& e) {
    EXPECT_NE(std::string(e.what()).find("hooks.poststart[0]"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(marker));
}

TEST(Hooks, TheStateIsTheOciStateJson) {
  const auto state = nlohmann::json::parse(
      ctr::hook_state_json("c1", "creating", 4242, "/b", {{"org.example", "yes"}}));
  EXPECT_EQ(state["id"], "c1");
  EXPECT_EQ(state["status"], "creating");
  EXPECT_EQ(state["pid"], 4242);
  EXPECT_EQ(state["bundle"], "/b");
  EXPECT_EQ(state["annotations"]["org.example"], "yes");
  EXPECT_FALSE(
      nlohmann::json::parse(ctr::hook_state_json("c1", "stopped", 0, "/b", {})).contains("pid"));
}

// ============================================================================================
// Resource update: the plan against fake cgroup directories
// ============================================================================================

// A v1 container: one directory per tree, with the files the tree's controllers have.
struct FakeV1 {
  TempDir root;
  std::vector<std::string> dirs;
  FakeV1(bool memsw = true) {
    const std::vector<std::pair<std::string, std::vector<std::string>>> trees = {
        {"memory", {"memory.limit_in_bytes", "memory.soft_limit_in_bytes"}},
        {"cpu", {"cpu.shares", "cpu.cfs_quota_us", "cpu.cfs_period_us"}},
        {"pids", {"pids.max"}},
        {"freezer", {"freezer.state"}},
    };
    for (const auto& [tree, files] : trees) {
      const std::string dir = root.file(tree + "/c1");
      for (const auto& f : files) root.put(fmt::format("{}/c1/{}", tree, f), "0\n");
      dirs.push_back(dir);
    }
    if (memsw) root.put("memory/c1/memory.memsw.limit_in_bytes", "0\n");
    root.put("freezer/c1/freezer.state", "THAWED");  // cgroupfs: the whole value
  }
};

struct FakeV2 {
  TempDir root;
  std::vector<std::string> dirs;
  FakeV2() {
    for (const char* f : {"cgroup.controllers", "memory.max", "memory.swap.max", "memory.low",
                          "cpu.weight", "cpu.max", "pids.max", "cpuset.cpus", "cgroup.freeze"}) {
      root.put(std::string("c1/") + f, "0\n");
    }
    root.put("c1/cgroup.events", "populated 1\nfrozen 0\n");
    root.put("c1/cgroup.freeze", "0");
    dirs.push_back(root.file("c1"));
  }
};

mycontainer::Resources resources(const std::string& json) {
  return mycontainer::resources_from_json(nlohmann::json::parse(json));
}

TEST(ResourceUpdate, V1WritesEachFieldToItsTreesFile) {
  FakeV1 cg;
  const auto plan = ctr::plan_resource_update(
      cg.dirs, resources(R"({"memory": {"limit": 67108864, "swap": 134217728},
                             "cpu": {"shares": 512, "quota": 50000, "period": 100000},
                             "pids": {"limit": 42}})"));
  const std::string mem = cg.dirs[0], cpu = cg.dirs[1], pids = cg.dirs[2];
  const std::vector<ctr::ResourceWrite> expected = {
      {"linux.resources.memory.limit", mem + "/memory.limit_in_bytes", "67108864"},
      {"linux.resources.memory.swap", mem + "/memory.memsw.limit_in_bytes", "134217728"},
      {"linux.resources.cpu.shares", cpu + "/cpu.shares", "512"},
      {"linux.resources.cpu.period", cpu + "/cpu.cfs_period_us", "100000"},
      {"linux.resources.cpu.quota", cpu + "/cpu.cfs_quota_us", "50000"},
      {"linux.resources.pids.limit", pids + "/pids.max", "42"},
  };
  EXPECT_EQ(plan, expected);
  ctr::apply_resource_update(plan);
  EXPECT_EQ(slurp(mem + "/memory.limit_in_bytes"), "67108864");
  EXPECT_EQ(slurp(pids + "/pids.max"), "42");
}

TEST(ResourceUpdate, V2ConvertsSwapSharesAndUnlimited) {
  FakeV2 cg;
  const auto plan =
      ctr::plan_resource_update(cg.dirs, resources(R"({"memory": {"limit": 100, "swap": 300},
                             "cpu": {"shares": 1024, "quota": -1}, "pids": {"limit": -1}})"));
  const std::string d = cg.dirs[0];
  const std::vector<ctr::ResourceWrite> expected = {
      {"linux.resources.memory.limit", d + "/memory.max", "100"},
      {"linux.resources.memory.swap", d + "/memory.swap.max", "200"},  // swap alone
      {"linux.resources.cpu.shares", d + "/cpu.weight", "39"},
      {"linux.resources.cpu.quota", d + "/cpu.max", "max 100000"},
      {"linux.resources.pids.limit", d + "/pids.max", "max"},
  };
  EXPECT_EQ(plan, expected);
}

TEST(ResourceUpdate, CpuWeightFollowsRuncsConversion) {
  EXPECT_EQ(ctr::cpu_weight_from_shares(2), 1u);
  EXPECT_EQ(ctr::cpu_weight_from_shares(1024), 39u);
  EXPECT_EQ(ctr::cpu_weight_from_shares(262144), 10000u);
}

TEST(ResourceUpdate, AFieldWhoseFileIsMissingIsRefusedByNameBeforeAnyWrite) {
  FakeV1 cg(/*memsw=*/false);
  expect_usage_error(
      [&] {
        ctr::plan_resource_update(cg.dirs, resources(R"({"memory": {"limit": 67108864,
                                                          "swap": 134217728}})"));
      },
      "linux.resources.memory.swap: cannot be applied");
  EXPECT_EQ(slurp(cg.dirs[0] + "/memory.limit_in_bytes"), "0\n") << "nothing was written";
  expect_usage_error(
      [&] { ctr::plan_resource_update(cg.dirs, resources(R"({"cpu": {"cpus": "0-1"}})")); },
      "linux.resources.cpu.cpus");
}

TEST(ResourceUpdate, ImpossibleValuesAreRefusedByName) {
  FakeV2 cg;
  expect_usage_error(
      [&] {
        ctr::plan_resource_update(cg.dirs, resources(R"({"memory": {"limit": 300, "swap": 100}})"));
      },
      "linux.resources.memory.swap");
  expect_usage_error(
      [&] { ctr::plan_resource_update(cg.dirs, resources(R"({"cpu": {"quota": 10}})")); },
      "linux.resources.cpu.quota");
  expect_usage_error([&] { ctr::plan_resource_update({}, resources(R"({})")); }, "no cgroup");
}

TEST(ResourceUpdate, AWrongTypeIsASpecErrorNamingTheField) {
  try {
    resources(R"({"memory": {"limit": "64m"}})");
    ADD_FAILURE() << "no SpecError";
  } catch (const mycontainer::SpecError& e) {
    EXPECT_NE(std::string(e.what()).find("linux.resources.memory.limit"), std::string::npos)
        << e.what();
  }
}

// ============================================================================================
// Freezer: which file, and what it says
// ============================================================================================

TEST(Freezer, V1FreezerStateIsWrittenAndRead) {
  FakeV1 cg;
  EXPECT_EQ(ctr::freezer_file(cg.dirs), cg.dirs[3] + "/freezer.state");
  EXPECT_FALSE(ctr::frozen(cg.dirs));
  ctr::freeze(cg.dirs);  // a regular file reads back FROZEN at once
  EXPECT_TRUE(ctr::frozen(cg.dirs));
  ctr::thaw(cg.dirs);
  EXPECT_EQ(slurp(cg.dirs[3] + "/freezer.state"), "THAWED");
}

TEST(Freezer, AFreezeThatNeverCompletesIsUndoneAndFails) {
  FakeV2 cg;  // cgroup.events keeps saying "frozen 0", as if a task never stopped
  EXPECT_EQ(ctr::freezer_file(cg.dirs), cg.dirs[0] + "/cgroup.freeze");
  try {
    ctr::freeze(cg.dirs, std::chrono::milliseconds(50));
    ADD_FAILURE() << "no error";
  } catch (const ctr::SyscallError& e) {
    EXPECT_EQ(e.err(), EBUSY);
  }
  EXPECT_EQ(slurp(cg.dirs[0] + "/cgroup.freeze"), "0") << "thawed again";
}

TEST(Freezer, NoFreezerIsAUsageError) {
  TempDir dir;
  expect_usage_error([&] { ctr::freeze({dir.path()}); }, "no freezer");
}

// ============================================================================================
// process.json
// ============================================================================================

TEST(ProcessJson, ReadsWhatPodmanSends) {
  const auto p = mycontainer::process_from_json(nlohmann::json::parse(R"({
    "terminal": true, "consoleSize": {"height": 24, "width": 80},
    "user": {"uid": 1000, "gid": 1000, "additionalGids": [1000, 10]},
    "args": ["/bin/sh", "-c", "id"], "env": ["PATH=/bin", "TERM=xterm"], "cwd": "/tmp",
    "capabilities": {"bounding": ["CAP_CHOWN"], "effective": ["CAP_CHOWN"],
                     "permitted": ["CAP_CHOWN"]},
    "noNewPrivileges": true, "apparmorProfile": "containers-default-0.50.0",
    "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1048576, "soft": 1048576}]})"));
  EXPECT_TRUE(p.terminal);
  EXPECT_EQ(p.user.uid, 1000u);
  EXPECT_EQ(p.args.size(), 3u);
  EXPECT_EQ(p.cwd, "/tmp");
  EXPECT_TRUE(p.no_new_privileges);
  ASSERT_TRUE(p.capabilities.has_value());
  EXPECT_EQ(p.capabilities->bounding.size(), 1u);
  ASSERT_EQ(p.rlimits.size(), 1u);
}

TEST(ProcessJson, NoArgsIsRefusedByName) {
  try {
    mycontainer::process_from_json(nlohmann::json::parse(R"({"args": [], "cwd": "/"})"));
    ADD_FAILURE() << "no SpecError";
  } catch (const mycontainer::SpecError& e) {
    EXPECT_NE(std::string(e.what()).find("process.args"), std::string::npos) << e.what();
  }
}

// ps asks every monitor whether it still runs: /proc/PID/stat's state and start time, read in
// one read(2) and parsed after the last ')' (a command name may hold spaces and ')').
TEST(ProcessStat, RunningStartTimeAZombieAndANameWithParentheses) {
  std::ifstream in(fmt::format("/proc/{}/stat", ::getpid()));
  const std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::istringstream rest(stat.substr(stat.rfind(')') + 2));
  std::string field;
  for (int i = 3; i < 22; ++i) rest >> field;
  unsigned long long start = 0;
  rest >> start;
  ASSERT_GT(start, 0u);
  EXPECT_EQ(ctr::process_start_time(::getpid()), start);
  EXPECT_TRUE(ctr::process_running(::getpid(), start));
  EXPECT_FALSE(ctr::process_running(::getpid(), start + 1)) << "another process with our pid";

  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::prctl(PR_SET_NAME, "a) b (c", 0, 0, 0);
    (void)!::write(ready[1], "x", 1);
    ::_exit(0);
  }
  ::close(ready[1]);
  char byte = 0;
  ASSERT_EQ(::read(ready[0], &byte, 1), 1);
  ::close(ready[0]);
  // Not reaped yet: a zombie, which has ended for ps; its stat is still there.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (ctr::process_running(child, 0) && std::chrono::steady_clock::now() < deadline) {
  }
  EXPECT_FALSE(ctr::process_running(child, 0));
  EXPECT_GT(ctr::process_start_time(child), 0u);
  ::waitpid(child, nullptr, 0);
  EXPECT_FALSE(ctr::process_running(child, 0));
  EXPECT_EQ(ctr::process_start_time(child), 0u);
}

}  // namespace
