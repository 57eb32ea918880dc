// Step 7, docker's lifecycle rootless (#14, docs/lifecycle.md "Rootless"): an ordinary user
// with a range in /etc/subuid runs `run -d` and every command on what it made: ps, logs
// (-f ending with the container), exec, stop, kill, start, restart, wait, inspect, rename,
// rm, rm -f, run --rm -d. The user's records go to $XDG_DATA_HOME/mycontainer and its state to
// $XDG_RUNTIME_DIR/mycontainer (directories of the test's own, the user's), or, without them,
// beneath /tmp/mycontainer-UID. Each test checks what the user sees and that nothing is left:
// no record, no name, no state, no monitor, no container process, nothing in root's places.
//
// Making the user needs root: the tests skip without it, and fail under MC_REQUIRE_ROOT=1.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>  // fmt::join
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "background.hpp"
#include "ctr/cgroup.hpp"  // ctr::CgroupLayout
#include "mycontainer.hpp"
#include "rootless_user.hpp"
#include "runtime/state.hpp"
#include "support.hpp"

namespace mc::test {
namespace {

namespace fs = std::filesystem;
constexpr const char* kTag = "mctrl";

uid_t owner_of(const fs::path& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 ? st.st_uid : static_cast<uid_t>(-1);
}

class RootlessLifecycle : public ::testing::Test {
 protected:
  void SetUp() override {
    MC_REQUIRE_ROOT();
    user_ = RootlessUserEnvironment::get();
    if (const auto why = subordinate_ids_missing(user_)) MC_SKIP_OR_FAIL(*why);
    home_.emplace(user_);
  }
  void TearDown() override {
    if (!home_) return;
    for (const auto& name : names_) mc({"rm", "-f", name});
    expect_nothing_left();
  }

  fs::path records() const { return home_->data_root(); }
  fs::path state_root() const { return home_->state_root(); }
  std::vector<std::string> env() const {
    return use_xdg_ ? home_->env() : std::vector<std::string>{};
  }

  // `mycontainer ARGS` as the user.
  RunResult mc(const std::vector<std::string>& args) {
    std::vector<std::string> command{bin("mycontainer")};
    command.insert(command.end(), args.begin(), args.end());
    return run(user_argv(user_, command, env()));
  }
  std::vector<std::string> mc_argv(const std::vector<std::string>& args) const {
    std::vector<std::string> command{bin("mycontainer")};
    command.insert(command.end(), args.begin(), args.end());
    return user_argv(user_, command, env());
  }
  // `run -d --rootfs ROOTFS --name NAME OPTIONS -- COMMAND` as the user: the id it printed.
  std::string detach(const std::string& name, const std::vector<std::string>& options,
                     const std::vector<std::string>& command) {
    names_.push_back(name);
    return detached_id(mc(run_detached_args(name, options, command)));
  }
  std::string status_of(const std::string& name) {
    return status_in_ps(mc({"ps", "-a", "--format", "{{.Names}}|{{.Status}}"}).out, name);
  }
  bool up(const std::string& name) { return status_of(name).rfind("Up ", 0) == 0; }
  nlohmann::json inspect(const std::string& name) {
    const auto r = mc({"inspect", name});
    EXPECT_EQ(r.status, 0) << r.err;
    try {
      return nlohmann::json::parse(r.out).at(0);
    } catch (const std::exception& e) {
      ADD_FAILURE() << e.what() << ": " << r.out;
      return {};
    }
  }

  // No record, name, state or monitor of the user's, and none of ours in root's places.
  void expect_nothing_left() {
    const fs::path state =
        use_xdg_ ? state_root() : fs::path(fmt::format("/tmp/mycontainer-{}", user_.uid));
    const fs::path recs = use_xdg_ ? records() : state / "records";
    EXPECT_TRUE(wait_until([&] { return names_in(recs / "containers").empty(); }))
        << "records left: " << fmt::format("{}", fmt::join(names_in(recs / "containers"), " "));
    EXPECT_EQ(names_in(recs / "names"), std::vector<std::string>{}) << "names left";
    EXPECT_TRUE(wait_until([&] { return names_in(state / "containers").empty(); }))
        << "state left: " << fmt::format("{}", fmt::join(names_in(state / "containers"), " "));
    EXPECT_TRUE(wait_until([&] { return processes_mentioning(state.string()).empty(); }))
        << "a monitor or runtime of the user's still runs";
    for (const auto& id : ids_) {
      EXPECT_FALSE(fs::exists("/var/lib/mycontainer/containers/" + id)) << "root's record";
      EXPECT_FALSE(fs::exists("/run/mycontainer/containers/" + id)) << "root's state";
    }
    for (const auto& seconds : sleepers_) {
      EXPECT_TRUE(wait_until([&] { return pids_matching("/bin/sleep " + seconds).empty(); }))
          << "a container process (sleep " << seconds << ") still runs";
      kill_sleepers(seconds);
    }
  }
  std::string sleeper() {
    sleepers_.push_back(unique_sleep_seconds());
    return sleepers_.back();
  }

  RootlessUser user_;
  std::optional<RootlessHome> home_;
  bool use_xdg_ = true;
  std::vector<std::string> names_, ids_, sleepers_;
};

// ==========================================================================================
// run -d, ps, logs, exec, inspect, stop, start, rm: where each thing goes, and that it goes
// ==========================================================================================

TEST_F(RootlessLifecycle, RunDetachedPsLogsExecStopStartAndRm) {
  const std::string name = unique_name(kTag), seconds = sleeper();
  const std::string id =
      detach(name, {"--net", "none"},
             {"/bin/sh", "-c", "echo hello; echo oops >&2; exec sleep " + seconds});
  ASSERT_EQ(id.size(), 64u);
  ids_.push_back(id);
  ASSERT_TRUE(wait_until([&] { return up(name); })) << status_of(name);

  // Where things are: the record under XDG_DATA_HOME, the state under XDG_RUNTIME_DIR, both
  // the user's; nothing in root's /var/lib/mycontainer or /run/mycontainer.
  EXPECT_TRUE(fs::exists(records() / "containers" / id / "record.json"));
  EXPECT_EQ(owner_of(records() / "containers" / id), user_.uid);
  EXPECT_EQ(fs::read_symlink(records() / "names" / name), id);
  const auto state = ctr::read_state(state_root() / "containers" / id);
  ASSERT_TRUE(state.has_value()) << "no state in " << state_root();
  EXPECT_TRUE(state->rootless);
  EXPECT_EQ(state->cgroup, "") << "a rootless container on cgroup v1 has no cgroup";
  EXPECT_FALSE(fs::exists("/var/lib/mycontainer/containers/" + id));
  EXPECT_FALSE(fs::exists("/run/mycontainer/containers/" + id));
  // The monitor and the container run as the user, the container its monitor's child.
  const auto j = inspect(name);
  const pid_t monitor = j["State"]["MonitorPid"].get<pid_t>();
  const pid_t pid = j["State"]["Pid"].get<pid_t>();
  ASSERT_GT(monitor, 0) << j.dump();
  ASSERT_GT(pid, 0) << j.dump();
  EXPECT_EQ(owner_of(fmt::format("/proc/{}", monitor)), user_.uid);
  EXPECT_EQ(owner_of(fmt::format("/proc/{}", pid)), user_.uid);
  EXPECT_TRUE(contains(read_file(fmt::format("/proc/{}/status", pid)),
                       fmt::format("PPid:\t{}\n", monitor)));
  EXPECT_EQ(j["State"]["Status"], "running");
  EXPECT_EQ(j["NetworkSettings"]["IPAddress"], "") << "--net none has no address";

  // ps, ps -q, ps -a.
  const auto ps = mc({"ps"});
  EXPECT_EQ(ps.status, 0) << ps.err;
  EXPECT_TRUE(contains(ps.out, id.substr(0, 12))) << ps.out;
  EXPECT_TRUE(contains(ps.out, name)) << ps.out;
  EXPECT_TRUE(contains(mc({"ps", "-q"}).out, id.substr(0, 12) + "\n"));
  EXPECT_TRUE(contains(mc({"ps", "-a"}).out, name));
  // Root's ps does not list the user's container: each user has its own.
  EXPECT_FALSE(contains(run({bin("mycontainer"), "ps", "-a"}).out, name));

  // logs: each stream where it was written.
  ASSERT_TRUE(wait_until([&] { return contains(mc({"logs", name}).err, "oops"); }));
  const auto logs = mc({"logs", name});
  EXPECT_EQ(logs.out, "hello\n");
  EXPECT_EQ(logs.err, "oops\n");

  // exec, by name and id prefix: root of the user's namespace, the user on the host.
  const auto hostname = mc({"exec", name, "hostname"});
  EXPECT_EQ(hostname.status, 0) << hostname.err;
  EXPECT_EQ(hostname.out, name + "\n");
  const auto ids = mc({"exec", id.substr(0, 12), "/bin/sh", "-c", "id -u; cat /proc/self/uid_map"});
  EXPECT_EQ(ids.status, 0) << ids.err;
  const auto lines = lines_of(ids.out);
  ASSERT_GE(lines.size(), 2u) << ids.out;
  EXPECT_EQ(lines[0], "0");
  EXPECT_TRUE(std::regex_search(lines[1], std::regex(fmt::format(R"(^\s*0\s+{}\s+1$)", user_.uid))))
      << ids.out;
  EXPECT_GE(lines.size(), 3u) << "no /etc/subuid range mapped: " << ids.out;
  EXPECT_EQ(mc({"exec", "-e", "X=42", "-w", "/tmp", name, "/bin/sh", "-c", "echo $X $(pwd)"}).out,
            "42 /tmp\n");
  EXPECT_EQ(mc({"exec", name, "/bin/sh", "-c", "exit 7"}).status, 7);

  // stop: PID 1 ignores SIGTERM without a handler; SIGKILL after 1 s, 137.
  const auto stop = mc({"stop", "-t", "1", name});
  EXPECT_EQ(stop.status, 0) << stop.err;
  EXPECT_EQ(stop.out, name + "\n");
  EXPECT_TRUE(status_of(name).rfind("Exited (137) ", 0) == 0) << status_of(name);
  EXPECT_FALSE(contains(mc({"ps"}).out, name));
  EXPECT_TRUE(wait_until([&] { return names_in(state_root() / "containers").empty(); }))
      << "stop left the state";
  EXPECT_TRUE(wait_until([&] { return ::kill(monitor, 0) != 0; })) << "the monitor outlived it";
  EXPECT_TRUE(pids_matching("/bin/sleep " + seconds).empty());

  // start: the same id and name, the log goes on.
  const auto start = mc({"start", name});
  EXPECT_EQ(start.status, 0) << start.err;
  EXPECT_EQ(start.out, name + "\n");
  EXPECT_TRUE(up(name)) << status_of(name);
  ASSERT_TRUE(wait_until([&] {
    return count_lines(mc({"logs", name}).out) == 2;
  })) << mc({"logs", name}).out;

  // rm of a running one: refused; rm -f removes it, record and all.
  const auto refused = mc({"rm", name});
  EXPECT_EQ(refused.status, 1);
  EXPECT_TRUE(contains(refused.err, "You cannot remove a running container " + id)) << refused.err;
  const auto rm = mc({"rm", "-f", name});
  EXPECT_EQ(rm.status, 0) << rm.err;
  EXPECT_EQ(rm.out, name + "\n");
  EXPECT_EQ(status_of(name), "");
  const auto gone = mc({"inspect", name});
  EXPECT_EQ(gone.status, 1);
  EXPECT_EQ(gone.err, "mycontainer: Error: No such container: " + name + "\n");
}

TEST_F(RootlessLifecycle, WaitKillRestartRenameRmAndAutoRemove) {
  const std::string name = unique_name(kTag);
  ids_.push_back(detach(name, {"--net", "none"}, {"/bin/sh", "-c", "exit 3"}));
  const auto wait = mc({"wait", name});
  EXPECT_EQ(wait.status, 0) << wait.err;
  EXPECT_EQ(wait.out, "3\n");
  EXPECT_TRUE(status_of(name).rfind("Exited (3) ", 0) == 0) << status_of(name);

  // kill -s to a shell that handles it, restart, rename, kill (SIGKILL).
  const std::string other = unique_name(kTag), seconds = sleeper();
  const std::string id =
      detach(other, {"--net", "none"},
             {"/bin/sh", "-c", "trap 'exit 42' USR1; while :; do sleep 1; done; : " + seconds});
  ids_.push_back(id);
  ASSERT_TRUE(wait_until([&] { return up(other); })) << status_of(other);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the trap is set
  const auto killed = mc({"kill", "-s", "USR1", other});
  EXPECT_EQ(killed.status, 0) << killed.err;
  EXPECT_EQ(killed.out, other + "\n");
  EXPECT_EQ(trimmed(mc({"wait", other}).out), "42");
  const auto restart = mc({"restart", "-t", "1", other});
  EXPECT_EQ(restart.status, 0) << restart.err;
  EXPECT_TRUE(up(other)) << status_of(other);
  EXPECT_EQ(inspect(other)["RestartCount"], 0);  // docker counts a restart policy's restarts only
  const std::string renamed = unique_name(kTag);
  names_.push_back(renamed);
  const auto rename = mc({"rename", other, renamed});
  EXPECT_EQ(rename.status, 0) << rename.err;
  EXPECT_EQ(inspect(renamed)["Id"], id);
  EXPECT_EQ(mc({"inspect", other}).status, 1) << "the old name still answers";
  EXPECT_FALSE(fs::exists(records() / "names" / other));
  EXPECT_EQ(fs::read_symlink(records() / "names" / renamed), id);
  EXPECT_EQ(mc({"kill", renamed}).status, 0);
  EXPECT_EQ(trimmed(mc({"wait", renamed}).out), "137");
  const auto rm = mc({"rm", name, renamed});
  EXPECT_EQ(rm.status, 0) << rm.err;
  EXPECT_EQ(rm.out, name + "\n" + renamed + "\n");

  // run --rm -d: gone once it ended, record and name too.
  const std::string once = unique_name(kTag);
  const std::string once_id = detach(once, {"--rm", "--net", "none"}, {"/bin/true"});
  ids_.push_back(once_id);
  EXPECT_TRUE(wait_until([&] { return mc({"inspect", once}).status == 1; })) << "--rm kept it";
  EXPECT_FALSE(fs::exists(records() / "containers" / once_id));
  EXPECT_FALSE(fs::exists(records() / "names" / once));
}

// logs -f follows until the container ends, then returns.
TEST_F(RootlessLifecycle, LogsFollowEndsWhenTheContainerEnds) {
  const std::string name = unique_name(kTag);
  ids_.push_back(
      detach(name, {"--net", "none"}, {"/bin/sh", "-c", "echo one; sleep 2; echo two; exit 5"}));
  Background follow(mc_argv({"logs", "-f", name}));
  const auto r = follow.wait();
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "one\ntwo\n");
  EXPECT_TRUE(status_of(name).rfind("Exited (5) ", 0) == 0) << status_of(name);
  EXPECT_EQ(mc({"rm", name}).status, 0);
}

// Rootless, the default network is none (an unprivileged user cannot make links on the host:
// bridge needs root); --net host shares the host's. Both detached.
TEST_F(RootlessLifecycle, DefaultNetworkIsNoneAndHostWorksDetached) {
  const std::string plain = unique_name(kTag), seconds = sleeper();
  ids_.push_back(detach(plain, {}, {"/bin/sleep", seconds}));
  ASSERT_TRUE(wait_until([&] { return up(plain); })) << status_of(plain);
  const auto links = mc({"exec", plain, "ls", "/sys/class/net"});
  EXPECT_EQ(links.status, 0) << links.err;
  EXPECT_EQ(links.out, "lo\n");
  const std::string host = unique_name(kTag);
  ids_.push_back(detach(host, {"--net", "host"}, {"/bin/sleep", seconds}));
  ASSERT_TRUE(wait_until([&] { return up(host); })) << status_of(host);
  const auto ns = mc({"exec", host, "readlink", "/proc/self/ns/net"});
  EXPECT_EQ(ns.status, 0) << ns.err;
  EXPECT_EQ(trimmed(ns.out), fs::read_symlink("/proc/self/ns/net").string());
  const auto rm = mc({"rm", "-f", plain, host});
  EXPECT_EQ(rm.status, 0) << rm.err;
}

// What rootless cannot do detached either: the bridge, and cgroup limits on cgroup v1 (no
// delegation). One line, 125, and nothing made: no record, no name, no state.
TEST_F(RootlessLifecycle, BridgeAndLimitsAreRefusedWithOneLineAndNothingKept) {
  std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--net", "bridge"}, "--net bridge needs root"}};
  if (ctr::CgroupLayout::detect().version != ctr::CgroupVersion::kV2) {
    cases.push_back({{"-m", "64m"}, "cgroup limits need root on cgroup v1"});
    cases.push_back({{"--pids-limit", "10"}, "cgroup limits need root on cgroup v1"});
  }
  for (const auto& [options, why] : cases) {
    const std::string name = unique_name(kTag);
    std::vector<std::string> args{"run", "-d", "--rootfs", rootfs(), "--name", name};
    args.insert(args.end(), options.begin(), options.end());
    args.insert(args.end(), {"--", "/bin/true"});
    const auto r = mc(args);
    EXPECT_EQ(r.status, 125) << options[0] << ": " << r.err;
    EXPECT_TRUE(contains(r.err, why)) << r.err;
    EXPECT_EQ(count_lines(r.err), 1u) << r.err;
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(mc({"inspect", name}).status, 1) << options[0] << " kept a record";
  }
}

// Without XDG_RUNTIME_DIR and XDG_DATA_HOME (and a HOME that is not the user's), the state is
// /tmp/mycontainer-UID and the records are beneath it (not kept over a reboot).
TEST_F(RootlessLifecycle, WithoutXdgDirectoriesEverythingIsBeneathTmp) {
  use_xdg_ = false;
  const fs::path base = fmt::format("/tmp/mycontainer-{}", user_.uid);
  const std::string name = unique_name(kTag), seconds = sleeper();
  const std::string id = detach(name, {"--net", "none"}, {"/bin/sleep", seconds});
  ids_.push_back(id);
  ASSERT_TRUE(wait_until([&] { return up(name); })) << status_of(name);
  EXPECT_TRUE(fs::exists(base / "records/containers" / id / "record.json"));
  EXPECT_TRUE(fs::exists(base / "containers" / id / "state.json"));
  EXPECT_EQ(owner_of(base), user_.uid);
  EXPECT_EQ(names_in(records()), std::vector<std::string>{}) << "XDG_DATA_HOME used without it";
  const auto rm = mc({"rm", "-f", name});
  EXPECT_EQ(rm.status, 0) << rm.err;
}

// A killed monitor: the container goes on, unmanaged; the user's `cleanup` ends it and
// records how (Exited (137)), as root's does.
TEST_F(RootlessLifecycle, AKilledMonitorLeavesTheContainerToTheUsersCleanup) {
  const std::string name = unique_name(kTag), seconds = sleeper();
  ids_.push_back(detach(name, {"--net", "none"}, {"/bin/sleep", seconds}));
  ASSERT_TRUE(wait_until([&] { return up(name); })) << status_of(name);
  const pid_t monitor = inspect(name)["State"]["MonitorPid"].get<pid_t>();
  ASSERT_GT(monitor, 0);
  ASSERT_EQ(::kill(monitor, SIGKILL), 0);
  ASSERT_TRUE(wait_until([&] { return contains(status_of(name), "(monitor gone)"); }))
      << status_of(name);
  EXPECT_FALSE(pids_matching("/bin/sleep " + seconds).empty()) << "the container died with it";
  const auto cleanup = mc({"cleanup"});
  EXPECT_EQ(cleanup.status, 0) << cleanup.err;
  EXPECT_TRUE(contains(cleanup.out, "finished " + name)) << cleanup.out;
  EXPECT_TRUE(status_of(name).rfind("Exited (137) ", 0) == 0) << status_of(name);
  EXPECT_EQ(mc({"rm", name}).status, 0);
}

}  // namespace
}  // namespace mc::test
