// Step 7 as an OCI runtime: `mycontainer create/start/state/kill/delete/run/list/features/spec`
// driven the way podman (through conmon) and containerd's shim drive runc, end to end with a
// bundle made in a temporary directory (config.json from `mycontainer spec`, the test rootfs).
//
// The test plays the engine's monitor: it starts `mycontainer create` itself, so the
// container's first process becomes *its* child (CLONE_PARENT) and it reaps it, as conmon
// does. The container's stdio is a file, never a pipe the test waits on (the container keeps
// it after create has returned). Every case checks the host afterwards: no cgroup, mount,
// link or state left.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "ctr/handshake.hpp"  // ctr::recv_fd
#include "leftovers.hpp"
#include "mycontainer.hpp"
#include "support.hpp"

namespace mc::test {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr const char* kTag = "mct-oci";

// What one call of the runtime did. Its stdout and stderr went to files.
struct Called {
  int status = -1;
  std::string out, err;
};

class Oci : public ::testing::Test {
 protected:
  void SetUp() override {
    MC_REQUIRE_ROOT();
    leftovers_.emplace(kTag);
    dir_ = fs::temp_directory_path() / unique_name(kTag);
    fs::create_directories(dir_ / "root");
    fs::permissions(dir_ / "root", fs::perms::owner_all);
    fs::create_directories(dir_ / "bundle");
    bundle_ = dir_ / "bundle";
  }

  void TearDown() override {
    if (!leftovers_) return;
    // Every container of ours: force-deleted, then reaped (we are their parent).
    std::error_code ec;
    for (fs::directory_iterator it(dir_ / "root" / "containers", ec), end; !ec && it != end;
         it.increment(ec)) {
      call({"delete", "--force", it->path().filename().string()});
    }
    reap_all();
    EXPECT_TRUE(fs::is_empty(dir_ / "root" / "containers", ec) || ec) << "state left under --root";
    EXPECT_EQ("", leftovers_->check());
    leftovers_->scrub();
    fs::remove_all(dir_, ec);
  }

  // mycontainer --root DIR ARGS..., stdout/stderr to files, stdin /dev/null.
  Called call(const std::vector<std::string>& args, const std::vector<std::string>& global = {}) {
    const std::string out = (dir_ / fmt::format("out.{}", calls_)).string();
    const std::string err = (dir_ / fmt::format("err.{}", calls_++)).string();
    std::vector<std::string> argv{bin("mycontainer"), "--root", (dir_ / "root").string()};
    argv.insert(argv.end(), global.begin(), global.end());
    argv.insert(argv.end(), args.begin(), args.end());
    const pid_t pid = ::fork();
    if (pid == 0) {
      const int in = ::open("/dev/null", O_RDONLY);
      const int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      const int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(in, 0);
      ::dup2(o, 1);
      ::dup2(e, 2);
      std::vector<char*> v;
      v.reserve(argv.size() + 1);
      for (const auto& a : argv) v.push_back(const_cast<char*>(a.c_str()));
      v.push_back(nullptr);
      ::execv(v[0], v.data());
      ::_exit(127);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    Called c;
    c.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    c.out = read_file(out);
    c.err = read_file(err);
    return c;
  }

  // A config.json for the bundle: `mycontainer spec` with these run flags and command.
  void write_config(const std::vector<std::string>& flags, const std::vector<std::string>& cmd) {
    std::vector<std::string> argv{bin("mycontainer"), "spec",  "--rootfs",
                                  rootfs(),           "--net", "none"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    argv.emplace_back("--");
    argv.insert(argv.end(), cmd.begin(), cmd.end());
    const RunResult r = run(argv);
    ASSERT_EQ(r.status, 0) << r.err;
    std::ofstream(bundle_ / "config.json") << r.out;
  }

  json config() { return json::parse(read_file((bundle_ / "config.json").string())); }
  void set_config(const json& j) {
    std::ofstream(bundle_ / "config.json", std::ios::trunc) << j.dump(2);
  }

  std::string create(const std::vector<std::string>& extra = {}) {
    std::string id = unique_name(kTag);
    std::vector<std::string> args{"create", "--bundle", bundle_.string(), "--pid-file",
                                  (dir_ / (id + ".pid")).string()};
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back(id);
    last_ = call(args);
    return id;
  }

  json state(const std::string& id) {
    const Called c = call({"state", id});
    EXPECT_EQ(c.status, 0) << c.err;
    return c.status == 0 ? json::parse(c.out) : json{};
  }

  // Waits for the container's first process (our child) to end; its shell status.
  int wait_exit(pid_t pid) {
    int status = 0;
    if (::waitpid(pid, &status, 0) != pid) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

  void reap_all() {
    while (::waitpid(-1, nullptr, WNOHANG) > 0) {
    }
  }

  std::optional<Leftovers> leftovers_;
  fs::path dir_, bundle_;
  Called last_;
  int calls_ = 0;
};

// === The whole life: create, state created, start, output, state stopped, delete ===
TEST_F(Oci, CreateStartStateDeleteRunTheCommandOnceStarted) {
  write_config({}, {"/bin/sh", "-c", "echo started; exit 3"});
  const std::string id = create();
  ASSERT_EQ(last_.status, 0) << last_.err;
  // The pid file: written before create returned, whole.
  const pid_t pid = std::stoi(read_file((dir_ / (id + ".pid")).string()));
  json s = state(id);
  EXPECT_EQ(s["status"], "created");
  EXPECT_EQ(s["pid"], pid);
  EXPECT_EQ(s["id"], id);
  EXPECT_EQ(s["bundle"], bundle_.string());
  EXPECT_TRUE(s.contains("ociVersion") && s.contains("annotations"));
  // Not started: the command has not run (its output would be in create's stdout file).
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(read_file((dir_ / "out.0").string()), "");
  // The container's process is our child, not the runtime's (the runtime has exited).
  EXPECT_EQ(leftovers_detail::parent_of(pid), ::getpid());
  // Its cgroup exists while it waits.
  EXPECT_FALSE(cgroup_dirs_of(id).empty());

  const Called started = call({"start", id});
  ASSERT_EQ(started.status, 0) << started.err;
  EXPECT_EQ(wait_exit(pid), 3);
  EXPECT_EQ(read_file((dir_ / "out.0").string()), "started\n");
  s = state(id);
  EXPECT_EQ(s["status"], "stopped");
  const Called deleted = call({"delete", id});
  EXPECT_EQ(deleted.status, 0) << deleted.err;
  EXPECT_TRUE(cgroup_dirs_of(id).empty());
  EXPECT_FALSE(fs::exists(dir_ / "root" / "containers" / id));
}

// === The bad cases: each one line, exit code 125 ===
TEST_F(Oci, UnknownIdIsOneClearLine) {
  for (const auto& cmd : {"start", "state", "kill", "delete"}) {
    const Called c = call({cmd, "mct-oci-nosuch"});
    EXPECT_EQ(c.status, 125) << cmd;
    EXPECT_EQ(c.err, "mycontainer: container mct-oci-nosuch does not exist\n") << cmd;
  }
  // delete --force has nothing to do there, and succeeds as runc's does (engines tidy up
  // with it after a create that failed).
  const Called forced = call({"delete", "--force", "mct-oci-nosuch"});
  EXPECT_EQ(forced.status, 0) << forced.err;
  EXPECT_EQ(forced.err, "");
}

TEST_F(Oci, InvalidIdsAreRefused) {
  write_config({}, {"/bin/true"});
  for (const std::string id : {"..", ".", "a/b", "../x", ""}) {
    const Called c = call({"create", "--bundle", bundle_.string(), id});
    EXPECT_EQ(c.status, 125) << id;
    EXPECT_TRUE(contains(c.err, "invalid container id") || id.empty()) << c.err;
  }
  EXPECT_TRUE(fs::is_empty(dir_ / "root") || fs::is_empty(dir_ / "root" / "containers"));
}

TEST_F(Oci, DuplicateIdIsRefusedAndTheFirstStaysIntact) {
  write_config({}, {"/bin/true"});
  const std::string id = create();
  ASSERT_EQ(last_.status, 0) << last_.err;
  const Called again = call({"create", "--bundle", bundle_.string(), id});
  EXPECT_EQ(again.status, 125);
  EXPECT_TRUE(contains(again.err, "exists already")) << again.err;
  EXPECT_EQ(state(id)["status"], "created");
  EXPECT_EQ(call({"delete", id}).status, 0);
}

TEST_F(Oci, StartTwiceIsRefused) {
  write_config({}, {"/bin/sleep", "10"});
  const std::string id = create();
  ASSERT_EQ(last_.status, 0) << last_.err;
  ASSERT_EQ(call({"start", id}).status, 0);
  EXPECT_EQ(state(id)["status"], "running");
  const Called twice = call({"start", id});
  EXPECT_EQ(twice.status, 125);
  EXPECT_TRUE(contains(twice.err, "it is running, not created")) << twice.err;
  // delete of a running container: refused without --force, done with it.
  const Called refused = call({"delete", id});
  EXPECT_EQ(refused.status, 125);
  EXPECT_TRUE(contains(refused.err, "is running")) << refused.err;
  EXPECT_EQ(call({"delete", "--force", id}).status, 0);
  EXPECT_TRUE(cgroup_dirs_of(id).empty());
}

TEST_F(Oci, KillSendsSignalsByNumberAndNameAndRefusesAStoppedContainer) {
  write_config({}, {"/bin/sh", "-c", "trap 'echo usr1' USR1; while :; do sleep 0.05; done"});
  const std::string id = create();
  ASSERT_EQ(last_.status, 0) << last_.err;
  const pid_t pid = state(id)["pid"];
  ASSERT_EQ(call({"start", id}).status, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  // One at a time: a signal that is already pending is not queued twice (signal(7)).
  for (const std::string& sig :
       std::vector<std::string>{"USR1", "SIGUSR1", std::to_string(SIGUSR1)}) {
    EXPECT_EQ(call({"kill", id, sig}).status, 0) << sig;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  EXPECT_EQ(read_file((dir_ / "out.0").string()), "usr1\nusr1\nusr1\n");
  const Called bad = call({"kill", id, "NOSUCHSIG"});
  EXPECT_EQ(bad.status, 125);
  EXPECT_TRUE(contains(bad.err, "is not a signal")) << bad.err;
  EXPECT_EQ(call({"kill", id, "9"}).status, 0);
  EXPECT_EQ(wait_exit(pid), 137);
  EXPECT_EQ(state(id)["status"], "stopped");
  const Called stopped = call({"kill", id});
  EXPECT_EQ(stopped.status, 125);
  EXPECT_TRUE(contains(stopped.err, "is not running")) << stopped.err;
}

TEST_F(Oci, KillAllReachesEveryProcessOfTheCgroup) {
  write_config({}, {"/bin/sh", "-c", "sleep 30 & sleep 30 & wait"});
  const std::string id = create();
  ASSERT_EQ(last_.status, 0) << last_.err;
  const pid_t pid = state(id)["pid"];
  ASSERT_EQ(call({"start", id}).status, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  ASSERT_EQ(call({"kill", "--all", id, "KILL"}).status, 0);
  EXPECT_EQ(wait_exit(pid), 137);
  // The two sleeps were killed too: the cgroup is empty (rmdir would fail otherwise).
  EXPECT_EQ(call({"delete", id}).status, 0);
}

TEST_F(Oci, DefaultSignalIsTerm) {
  // PID 1 of a pid namespace gets only the signals it has a handler for, even from the host
  // (pid_namespaces(7)): the shell sets one.
  write_config({},
               {"/bin/sh", "-c", "trap 'echo term; exit 0' TERM; while :; do sleep 0.05; done"});
  const std::string id = create();
  ASSERT_EQ(last_.status, 0) << last_.err;
  const pid_t pid = state(id)["pid"];
  ASSERT_EQ(call({"start", id}).status, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(call({"kill", id}).status, 0);
  EXPECT_EQ(wait_exit(pid), 0);
  EXPECT_EQ(read_file((dir_ / "out.0").string()), "term\n");
}

TEST_F(Oci, BundleWithoutConfigJsonIsRefused) {
  const Called c = call({"create", "--bundle", bundle_.string(), unique_name(kTag)});
  EXPECT_EQ(c.status, 125);
  EXPECT_TRUE(contains(c.err, "has no config.json")) << c.err;
}

TEST_F(Oci, ConfigJsonWithAWrongTypeNamesTheField) {
  write_config({}, {"/bin/true"});
  json j = config();
  j["process"]["args"] = "not a list";
  set_config(j);
  const Called c = call({"create", "--bundle", bundle_.string(), unique_name(kTag)});
  EXPECT_EQ(c.status, 125);
  EXPECT_TRUE(contains(c.err, "process.args")) << c.err;
}

TEST_F(Oci, MissingRootfsIsRefused) {
  write_config({}, {"/bin/true"});
  json j = config();
  j["root"]["path"] = "nosuchdir";
  set_config(j);
  const Called c = call({"create", "--bundle", bundle_.string(), unique_name(kTag)});
  EXPECT_EQ(c.status, 125);
  EXPECT_TRUE(contains(c.err, "root.path")) << c.err;
}

TEST_F(Oci, MissingCommandFailsCreateWith127AndLeavesNothing) {
  write_config({}, {"/bin/nosuchcommand"});
  const std::string id = create();
  EXPECT_EQ(last_.status, 127) << last_.err;
  EXPECT_TRUE(contains(last_.err, "nosuchcommand")) << last_.err;
  reap_all();
  EXPECT_FALSE(fs::exists(dir_ / "root" / "containers" / id));
  EXPECT_TRUE(cgroup_dirs_of(id).empty());
}

TEST_F(Oci, ErrorsGoToTheLogAsJsonLines) {
  const std::string log = (dir_ / "log.json").string();
  const Called c = call({"state", "mct-oci-nosuch"}, {"--log", log, "--log-format", "json"});
  EXPECT_EQ(c.status, 125);
  const auto lines = lines_of(read_file(log));
  ASSERT_EQ(lines.size(), 1u) << read_file(log);
  const json j = json::parse(lines[0]);
  EXPECT_EQ(j["level"], "error");
  EXPECT_EQ(j["msg"], "container mct-oci-nosuch does not exist");
  EXPECT_TRUE(j.contains("time"));
  // text: runc's logfmt line
  const std::string text = (dir_ / "log.txt").string();
  call({"state", "mct-oci-nosuch"}, {"--log", text});
  EXPECT_TRUE(
      contains(read_file(text), "level=error msg=\"container mct-oci-nosuch does not exist\""))
      << read_file(text);
}

TEST_F(Oci, SystemdCgroupIsRefusedWithOneLine) {
  const Called c = call({"list"}, {"--systemd-cgroup"});
  EXPECT_EQ(c.status, 125);
  EXPECT_TRUE(contains(c.err, "cgroupfs only")) << c.err;
  EXPECT_EQ(count_lines(c.err), 1u);
}

// === SIGKILL of the runtime in the middle of create: delete still removes everything ===
TEST_F(Oci, RuntimeKilledDuringCreateLeavesWhatDeleteRemoves) {
  write_config({}, {"/bin/true"});
  // Kill create at several moments; whatever it had made by then, delete removes.
  for (int delay_ms : {2, 5, 10, 20}) {
    const std::string id = unique_name(kTag);
    const pid_t pid = ::fork();
    if (pid == 0) {
      const int null = ::open("/dev/null", O_RDWR);
      ::dup2(null, 1);
      ::dup2(null, 2);
      ::execl(bin("mycontainer").c_str(), "mycontainer", "--root", (dir_ / "root").c_str(),
              "create", "--bundle", bundle_.c_str(), id.c_str(), nullptr);
      ::_exit(127);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    const Called d = call({"delete", "--force", id});
    EXPECT_TRUE(d.status == 0 || contains(d.err, "does not exist")) << d.err;
    reap_all();
    EXPECT_FALSE(fs::exists(dir_ / "root" / "containers" / id)) << delay_ms;
    EXPECT_TRUE(cgroup_dirs_of(id).empty()) << delay_ms;
  }
  // Drafts of a runtime killed before its directory had a name: cleanup's.
  run({bin("mycontainer"), "--root", (dir_ / "root").string(), "cleanup"});
}

// The waiting process killed between create and start: stopped, and delete cleans up.
TEST_F(Oci, ProcessKilledBeforeStartIsStoppedAndDeleted) {
  write_config({}, {"/bin/true"});
  const std::string id = create();
  ASSERT_EQ(last_.status, 0) << last_.err;
  const pid_t pid = state(id)["pid"];
  ::kill(pid, SIGKILL);
  EXPECT_EQ(wait_exit(pid), 137);
  EXPECT_EQ(state(id)["status"], "stopped");
  const Called s = call({"start", id});
  EXPECT_EQ(s.status, 125);
  EXPECT_EQ(call({"delete", id}).status, 0);
  EXPECT_TRUE(cgroup_dirs_of(id).empty());
}

// A created container can be deleted without --force (it never ran: runc's rule).
TEST_F(Oci, DeleteOfACreatedContainerKillsItsWaitingProcess) {
  write_config({}, {"/bin/true"});
  const std::string id = create();
  ASSERT_EQ(last_.status, 0) << last_.err;
  const pid_t pid = state(id)["pid"];
  EXPECT_EQ(call({"delete", id}).status, 0);
  EXPECT_EQ(wait_exit(pid), 137);
}

// === run ID: create + start + wait (foreground) or return (--detach) ===
TEST_F(Oci, RunIdWaitsAndReturnsTheExitStatusThenDeletes) {
  write_config({}, {"/bin/sh", "-c", "echo ran; exit 7"});
  const std::string id = unique_name(kTag);
  const Called c = call({"run", "--bundle", bundle_.string(), id});
  EXPECT_EQ(c.status, 7) << c.err;
  EXPECT_EQ(c.out, "ran\n");
  EXPECT_FALSE(fs::exists(dir_ / "root" / "containers" / id));
}

TEST_F(Oci, RunDetachReturnsOnceRunning) {
  write_config({}, {"/bin/sleep", "30"});
  const std::string id = unique_name(kTag);
  const Called c = call({"run", "-d", "--bundle", bundle_.string(), id});
  ASSERT_EQ(c.status, 0) << c.err;
  EXPECT_EQ(state(id)["status"], "running");
  EXPECT_EQ(call({"delete", "--force", id}).status, 0);
}

// The docker-like run is untouched: `mycontainer run ID` without OCI flags runs ID as a command.
TEST_F(Oci, DockerLikeRunIsToldApartFromOciRun) {
  const RunResult r = run({bin("mycontainer"), "run", "--rootfs", rootfs(), "--net", "none",
                           "--name", unique_name(kTag), "echo", "docker-like"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "docker-like\n");
}

// === list, features, spec ===
TEST_F(Oci, ListShowsTheTableAndJson) {
  write_config({}, {"/bin/true"});
  const std::string id = create();
  ASSERT_EQ(last_.status, 0) << last_.err;
  const Called table = call({"list"});
  EXPECT_EQ(table.status, 0);
  EXPECT_TRUE(contains(table.out, "ID") && contains(table.out, "STATUS")) << table.out;
  EXPECT_TRUE(contains(table.out, id) && contains(table.out, "created")) << table.out;
  const Called j = call({"list", "--format", "json"});
  const json all = json::parse(j.out);
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0]["id"], id);
  EXPECT_EQ(all[0]["status"], "created");
  const Called quiet = call({"list", "-q"});
  EXPECT_EQ(quiet.out, id + "\n");
}

TEST_F(Oci, FeaturesSaysWhatIsSupported) {
  const Called c = call({"features"});
  ASSERT_EQ(c.status, 0) << c.err;
  const json f = json::parse(c.out);
  EXPECT_EQ(f["ociVersionMin"], "1.0.0");
  // Every hook of config.md is run (runtime/hooks.hpp).
  EXPECT_EQ(f["hooks"], json({"prestart", "createRuntime", "createContainer", "startContainer",
                              "poststart", "poststop"}));
  EXPECT_FALSE(f["linux"]["cgroup"]["systemd"].get<bool>());
  const auto& opts = f["mountOptions"];
  EXPECT_NE(std::find(opts.begin(), opts.end(), "rbind"), opts.end());
  EXPECT_NE(std::find(opts.begin(), opts.end(), "tmpcopyup"), opts.end());
}

TEST_F(Oci, SpecBundleWritesRuncsDefaultAndRefusesToOverwrite) {
  const Called c = call({"spec", "--bundle", bundle_.string()});
  ASSERT_EQ(c.status, 0) << c.err;
  const json j = config();
  EXPECT_EQ(j["process"]["args"], json::array({"sh"}));
  EXPECT_EQ(j["root"]["path"], "rootfs");
  EXPECT_TRUE(j["process"]["terminal"].get<bool>());
  const Called again = call({"spec", "--bundle", bundle_.string()});
  EXPECT_EQ(again.status, 125);
  fs::remove(bundle_ / "config.json");
  ASSERT_EQ(call({"spec", "--bundle", bundle_.string(), "--rootless"}).status, 0);
  bool user = false;
  const json rootless = config();
  for (const auto& ns : rootless["linux"]["namespaces"]) user = user || ns["type"] == "user";
  EXPECT_TRUE(user);
  // The docker-like spec still prints to stdout.
  const RunResult printed =
      run({bin("mycontainer"), "spec", "--rootfs", rootfs(), "--net", "none"});
  EXPECT_EQ(printed.status, 0) << printed.err;
  EXPECT_TRUE(contains(printed.out, "\"ociVersion\""));
}

// runc's default config.json, with our rootfs beside it, runs (terminal off: no socket here).
TEST_F(Oci, RuncsDefaultSpecRuns) {
  ASSERT_EQ(call({"spec", "--bundle", bundle_.string()}).status, 0);
  json j = config();
  j["root"]["path"] = rootfs();
  j["process"]["terminal"] = false;
  j["process"]["args"] = {"/bin/sh", "-c", "hostname"};
  set_config(j);
  const std::string id = unique_name(kTag);
  const Called c = call({"run", "--bundle", bundle_.string(), id});
  EXPECT_EQ(c.status, 0) << c.err;
  EXPECT_EQ(c.out, "mycontainer\n");
}

// === console socket: the master arrives over SCM_RIGHTS ===
TEST_F(Oci, TerminalMasterIsSentToTheConsoleSocket) {
  write_config({"-t"}, {"/bin/sh", "-c", "tty; echo on-the-terminal"});
  const std::string sock_path = (dir_ / "console.sock").string();
  const int sock = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", sock_path.c_str());
  ASSERT_EQ(::bind(sock, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(sock, 1), 0);
  // create connects while we wait in accept: run it in a thread.
  std::string id;
  std::thread creating([&] { id = create({"--console-socket", sock_path}); });
  const int conn = ::accept4(sock, nullptr, nullptr, SOCK_CLOEXEC);
  ASSERT_GE(conn, 0);
  const ctr::UniqueFd master = ctr::recv_fd(conn);
  creating.join();
  ::close(conn);
  ::close(sock);
  ASSERT_EQ(last_.status, 0) << last_.err;
  ASSERT_TRUE(master);
  const pid_t pid = state(id)["pid"];
  ASSERT_EQ(call({"start", id}).status, 0);
  std::string got;
  char buf[256];
  for (int i = 0; i < 50 && !contains(got, "on-the-terminal"); ++i) {
    const ssize_t n = ::read(master.get(), buf, sizeof buf);
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  EXPECT_TRUE(contains(got, "/dev/pts/0")) << got;
  EXPECT_TRUE(contains(got, "on-the-terminal")) << got;
  EXPECT_EQ(wait_exit(pid), 0);
}

TEST_F(Oci, TerminalWithoutConsoleSocketIsRefused) {
  write_config({"-t"}, {"/bin/true"});
  const std::string id = create();
  EXPECT_EQ(last_.status, 125);
  EXPECT_TRUE(contains(last_.err, "--console-socket")) << last_.err;
}

// === --preserve-fds: fd 3 reaches the container, fd 4 does not ===
TEST_F(Oci, PreserveFdsPassesExactlyThoseDescriptors) {
  write_config({}, {"/bin/sh", "-c",
                    "echo via-fd3 >&3; [ -e /proc/self/fd/4 ] && echo fd4-leaked || echo no-fd4"});
  const std::string pipe_out = (dir_ / "fd3").string();
  const std::string id = unique_name(kTag);
  // sh opens 3 and 4 for the runtime, as conmon passes its extra descriptors.
  const RunResult r =
      sh(fmt::format("exec 3>{} 4>/dev/null; {} --root {} run --preserve-fds 1 --bundle {} {}",
                     pipe_out, bin("mycontainer"), (dir_ / "root").string(), bundle_.string(), id));
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(read_file(pipe_out), "via-fd3\n");
  EXPECT_EQ(r.out, "no-fd4\n");
}

// === linux.resources as podman sends them: memory + swap, cpu shares; cgroupsPath ===
TEST_F(Oci, MemorySwapAndCpuSharesAsPodmanSendsThem) {
  write_config({"-m", "64m"}, {"/bin/sh", "-c",
                               "cat /sys/fs/cgroup/memory/memory.limit_in_bytes "
                               "/sys/fs/cgroup/cpu/cpu.shares 2>/dev/null || "
                               "cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/cpu.weight"});
  json j = config();
  j["linux"]["resources"]["memory"]["swap"] = 2 * 64 * 1024 * 1024;  // podman: twice --memory
  j["linux"]["resources"]["cpu"]["shares"] = 512;
  set_config(j);
  const std::string id = unique_name(kTag);
  const Called c = call({"run", "--bundle", bundle_.string(), id});
  EXPECT_EQ(c.status, 0) << c.err;
  const auto lines = lines_of(c.out);
  ASSERT_EQ(lines.size(), 2u) << c.out;
  EXPECT_EQ(lines[0], "67108864");
  EXPECT_TRUE(lines[1] == "512" || lines[1] == "20") << lines[1];  // v2: cpu.weight
  // swap == -1 and swap == limit are accepted; below the limit is refused, named.
  for (const int64_t swap : {int64_t{-1}, int64_t{64} * 1024 * 1024}) {
    j["linux"]["resources"]["memory"]["swap"] = swap;
    set_config(j);
    EXPECT_EQ(call({"run", "--bundle", bundle_.string(), unique_name(kTag)}).status, 0) << swap;
  }
  j["linux"]["resources"]["memory"]["swap"] = 1024 * 1024;
  set_config(j);
  const Called bad = call({"run", "--bundle", bundle_.string(), unique_name(kTag)});
  EXPECT_EQ(bad.status, 125);
  EXPECT_TRUE(contains(bad.err, "linux.resources.memory.swap")) << bad.err;
}

TEST_F(Oci, CgroupsPathBeneathOurOwnCgroupIsUsed) {
  // podman's form, /PARENT/libpod-ID, beneath the cgroup this test runs in (the memory tree's
  // own directory: on a v1 host the trees differ, and a parent path is taken from each root).
  const auto layout = ctr::CgroupLayout::detect();
  std::string own;
  for (const auto& h : layout.hierarchies) {
    const std::string rel = h.own_dir.substr(h.mount_point.size());
    if (rel.size() > own.size()) own = rel;
  }
  const std::string parent = own + "/" + unique_name(kTag) + "-parent";
  const std::string id = unique_name(kTag);
  write_config({}, {"/bin/sh", "-c", "cat /proc/self/cgroup"});
  json j = config();
  j["linux"]["cgroupsPath"] = parent + "/libpod-" + id;
  set_config(j);
  const Called c = call({"create", "--bundle", bundle_.string(), id});
  ASSERT_EQ(c.status, 0) << c.err;
  const json s = state(id);
  const pid_t pid = s["pid"];
  const std::string cg = read_file(fmt::format("/proc/{}/cgroup", pid));
  EXPECT_TRUE(contains(cg, parent + "/libpod-" + id)) << cg;
  ASSERT_EQ(call({"start", id}).status, 0);
  wait_exit(pid);
  EXPECT_EQ(call({"delete", id}).status, 0);
  EXPECT_FALSE(contains(sh("cat /proc/self/mountinfo").out, id));
  for (const auto& h : layout.hierarchies) {
    EXPECT_FALSE(fs::exists(fs::path(h.mount_point + parent) / ("libpod-" + id))) << h.mount_point;
    std::error_code ec;
    fs::remove(h.mount_point + parent, ec);  // the parent is left, like docker's --cgroup-parent
  }
}

// === Two commands on one id at once: the lock makes them take turns ===
TEST_F(Oci, ConcurrentCommandsOnOneIdAreSafe) {
  write_config({}, {"/bin/sleep", "30"});
  const std::string id = create();
  ASSERT_EQ(last_.status, 0) << last_.err;
  const pid_t pid = state(id)["pid"];
  // Eight starts at once: exactly one succeeds.
  std::vector<pid_t> starters;
  for (int i = 0; i < 8; ++i) {
    const pid_t p = ::fork();
    if (p == 0) {
      const int null = ::open("/dev/null", O_RDWR);
      ::dup2(null, 1);
      ::dup2(null, 2);
      ::execl(bin("mycontainer").c_str(), "mycontainer", "--root", (dir_ / "root").c_str(), "start",
              id.c_str(), nullptr);
      ::_exit(127);
    }
    starters.push_back(p);
  }
  int ok = 0;
  for (const pid_t p : starters) {
    int status = 0;
    ::waitpid(p, &status, 0);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) ++ok;
  }
  EXPECT_EQ(ok, 1);
  EXPECT_EQ(call({"delete", "--force", id}).status, 0);
  EXPECT_EQ(wait_exit(pid), 137);
}

// === linux.namespaces[].path: join another container's network and uts namespaces ===
TEST_F(Oci, JoinsNamespacesByPathAsAPodDoes) {
  write_config({"--hostname", "infra"}, {"/bin/sleep", "30"});
  const std::string infra = create();
  ASSERT_EQ(last_.status, 0) << last_.err;
  const pid_t infra_pid = state(infra)["pid"];
  ASSERT_EQ(call({"start", infra}).status, 0);
  write_config({"--hostname", "ignored"},
               {"/bin/sh", "-c", "hostname; readlink /proc/self/ns/net"});
  json j = config();
  for (auto& ns : j["linux"]["namespaces"]) {
    const std::string type = ns["type"];
    const std::string file = type == "network" ? "net" : type;
    if (type == "network" || type == "uts" || type == "ipc" || type == "cgroup") {
      ns["path"] = fmt::format("/proc/{}/ns/{}", infra_pid, file);
    }
  }
  j.erase("hostname");
  set_config(j);
  const std::string member = unique_name(kTag);
  const Called c = call({"run", "--bundle", bundle_.string(), member});
  EXPECT_EQ(c.status, 0) << c.err;
  char link[128] = {};
  ASSERT_GT(::readlink(fmt::format("/proc/{}/ns/net", infra_pid).c_str(), link, sizeof link - 1),
            0);
  EXPECT_EQ(c.out, fmt::format("infra\n{}\n", link));
  EXPECT_EQ(call({"delete", "--force", infra}).status, 0);
  wait_exit(infra_pid);
}

// --no-pivot (MS_MOVE + chroot) still runs the container in its root; --no-new-keyring is
// accepted; --debug narrates every kernel operation into the log.
TEST_F(Oci, NoPivotNoNewKeyringAndDebug) {
  write_config({}, {"/bin/sh", "-c", "ls /"});
  const std::string log = (dir_ / "debug.log").string();
  const Called c = call(
      {"run", "--no-pivot", "--no-new-keyring", "--bundle", bundle_.string(), unique_name(kTag)},
      {"--log", log, "--log-format", "json", "--debug"});
  EXPECT_EQ(c.status, 0) << c.err;
  EXPECT_TRUE(contains(c.out, "bin\n") && contains(c.out, "proc\n")) << c.out;
  EXPECT_FALSE(contains(c.out, "wt-oci")) << "the host's tree is not the container's root";
  const std::string text = read_file(log);
  EXPECT_TRUE(contains(text, "\"level\":\"debug\"") && contains(text, "clone(")) << text;
  // (The child's lines end where its root changes: the log is a host path.)
  EXPECT_TRUE(contains(text, "chdir(\\\"" + rootfs())) << text;
}

}  // namespace
}  // namespace mc::test
