// containerd drives the runtime under test through its runc shim (containerd-shim-runc-v2,
// `ctr run --runc-binary`): each case runs with runc (the reference) and with the runtime under
// test, and compares (engines.hpp).
//
// containerd is Debian's (1.6), started by the test as a daemon with its own config, root,
// state and socket in a temporary directory (the CRI plugin off: no CNI, no Kubernetes), and
// stopped at the end. The image is an OCI archive made offline from the project's rootfs
// (make-oci-archive.sh), loaded with `ctr image import`.
#include "engines.hpp"
#include "leftovers.hpp"

namespace mc::test::engines {
namespace {

constexpr const char* kImage = "docker.io/library/mct-busybox:latest";

class ContainerdTest : public ::testing::Test {
 protected:
  void SetUp() override {
    MC_REQUIRE_ROOT();
    if (auto m = missing_programs(
            {"containerd", "ctr", "containerd-shim-runc-v2", "runc", "tar", "sha256sum"});
        !m.empty()) {
      MC_SKIP_OR_FAIL(m);
    }
    if (reference_path().empty()) MC_SKIP_OR_FAIL("no reference runtime (runc) found");
    leftovers_ = std::make_unique<Leftovers>("mcte");
    states_before_ = runtime_states();
    box_ = std::make_unique<Sandbox>(unique_name("mcte"));
    ASSERT_EQ("", box_->error());
    reference_ = box_->runtime("runc (reference)", "mct-reference", reference_path());
    under_test_ = box_->runtime(
        fmt::format("{} (under test)", fs::path(under_test_path()).filename().string()),
        "mct-under-test", under_test_path());
    ASSERT_NO_FATAL_FAILURE(start_daemon());
    const std::string archive = box_->dir() + "/image.tar";
    const auto made = run({source_dir() + "/tests/engines/make-oci-archive.sh", rootfs(), archive});
    ASSERT_EQ(0, made.status) << made.err;
    const auto imported = ctr({"image", "import", archive});
    ASSERT_EQ(0, imported.status) << record({"ctr", "image", "import", archive}, imported)
                                  << "containerd's log:\n"
                                  << read_file(state_ + "/log");
  }

  void TearDown() override {
    if (!box_) return;
    const auto left = ctr({"containers", "list", "-q"});
    EXPECT_EQ("", left.out) << "containers left in containerd after the case";
    stop_daemon();
    const std::string parent = box_->cgroup_parent();
    box_.reset();
    EXPECT_EQ("", kill_stray_sleepers())
        << "container processes outlived their case";  // the janitor: shims, mounts, cgroups, the
                                                       // directory, /run/containerd
    EXPECT_EQ("", leftovers_->check()) << "left on the host by containerd and the runtimes";
    leftovers_->scrub(parent);
    EXPECT_EQ("", new_entries(states_before_, runtime_states()))
        << "runtime state left behind in a default root";
  }

  void start_daemon() {
    state_ = box_->dir() + "/containerd";
    fs::create_directories(state_);
    std::ofstream(state_ + "/config.toml") << fmt::format(
        "version = 2\n"
        "root = \"{0}/root\"\n"
        "state = \"{0}/state\"\n"
        "disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n"
        "[grpc]\n  address = \"{0}/containerd.sock\"\n"
        "[ttrpc]\n  address = \"{0}/containerd.sock.ttrpc\"\n"
        "[debug]\n  address = \"{0}/debug.sock\"\n",
        state_);
    const std::string daemon = find_in_path("containerd");
    const std::string config = state_ + "/config.toml";
    const std::string log = state_ + "/log";
    daemon_ = ::fork();
    if (daemon_ == 0) {
      const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::execl(daemon.c_str(), "containerd", "--config", config.c_str(), nullptr);
      ::_exit(127);
    }
    ASSERT_GT(daemon_, 0);
    std::ofstream(state_ + "/pid") << daemon_;
    const bool up = wait_until([&] { return ctr({"version"}).status == 0; },
                               std::chrono::seconds(30), std::chrono::milliseconds(100));
    ASSERT_TRUE(up) << "containerd did not answer on its socket; its log:\n" << read_file(log);
  }
  void stop_daemon() {
    if (daemon_ <= 0) return;
    ::kill(daemon_, SIGTERM);
    int status = 0;
    if (!wait_until([&] { return ::waitpid(daemon_, &status, WNOHANG) == daemon_; },
                    std::chrono::seconds(10))) {
      ::kill(daemon_, SIGKILL);
      ::waitpid(daemon_, &status, 0);
    }
    daemon_ = -1;
  }

  std::vector<std::string> ctr_argv(const std::vector<std::string>& args) {
    std::vector<std::string> argv{find_in_path("ctr"), "--address", state_ + "/containerd.sock"};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }
  RunResult ctr(const std::vector<std::string>& args) { return run(ctr_argv(args)); }
  RunResult ctr(Transcript& t, const std::vector<std::string>& args) {
    auto r = ctr(args);
    t.details += record(ctr_argv(args), r);
    return r;
  }

  // `ctr run FLAGS --runc-binary RUNTIME IMAGE ID COMMAND`, with a runc root and a cgroup of
  // the case's own (beneath the sandbox's cgroup parent).
  std::vector<std::string> run_args(const Runtime& rt, const std::string& id,
                                    std::vector<std::string> flags,
                                    const std::vector<std::string>& command) {
    std::vector<std::string> args{"run",
                                  "--runc-binary",
                                  rt.wrapper,
                                  "--runc-root",
                                  state_ + "/runc-root-" + rt.name,
                                  "--cgroup",
                                  box_->cgroup_parent() + "/" + id};
    args.insert(args.end(), flags.begin(), flags.end());
    args.emplace_back(kImage);
    args.push_back(id);
    args.insert(args.end(), command.begin(), command.end());
    return args;
  }

  template <typename Scenario>
  void compare(const std::string& expected, Scenario scenario) {
    const Transcript ref = with_calls(reference_, scenario);
    ASSERT_EQ(expected, ref.text)
        << "runc (the reference) does not show what this test expects: the harness or the "
           "machine is at fault, not the runtime under test\n"
        << ref.details;
    const Transcript got = with_calls(under_test_, scenario);
    EXPECT_EQ(ref.text, got.text) << under_test_.label << ", " << under_test_.path
                                  << ", differs from runc; what happened:\n"
                                  << got.details;
  }
  template <typename Scenario>
  Transcript with_calls(const Runtime& rt, Scenario scenario) {
    const size_t offset = read_file(rt.log).size();
    const size_t log_offset = read_file(state_ + "/log").size();
    Transcript t = scenario(rt);
    t.details += "--- the runtime's calls (" + rt.log + "):\n" + read_from(rt.log, offset);
    // The shim reports the runtime's errors (its --log file) to containerd, which logs them.
    t.details += "--- containerd's log:\n" + read_from(state_ + "/log", log_offset);
    return t;
  }

  // The task's status in `ctr task ls` (RUNNING, STOPPED...), "(none)" if it has none.
  std::string task_status(const std::string& id) {
    std::istringstream ls(ctr({"task", "ls"}).out);
    for (std::string line; std::getline(ls, line);) {
      std::istringstream f(line);
      std::string task, pid, st;
      f >> task >> pid >> st;
      if (task == id) return st;
    }
    return "(none)";
  }

  auto run_rm(const std::vector<std::string>& command) {
    return [this, command](const Runtime& rt) {
      Transcript t;
      const auto r = ctr(t, run_args(rt, unique_name("mcte"), {"--rm"}, command));
      t.step("exit", std::to_string(r.status));
      t.text += r.out;
      return t;
    };
  }

  std::unique_ptr<Leftovers> leftovers_;
  std::unique_ptr<Sandbox> box_;
  Runtime reference_, under_test_;
  std::string state_;
  pid_t daemon_ = -1;
  std::set<std::string> states_before_;
};

TEST_F(ContainerdTest, RunRmOutputAndExitCode) {
  compare("exit: 5\nhello from containerd\n",
          run_rm({"sh", "-c", "echo hello from containerd; exit 5"}));
}

TEST_F(ContainerdTest, RunRmSigkillIs137) {
  // SIGKILL from outside: the container's PID 1 cannot kill itself (pid_namespaces(7)).
  compare("kill -s SIGKILL: 0\nexit: 137\n", [&](const Runtime& rt) {
    Transcript t;
    const std::string id = unique_name("mcte");
    const auto argv = ctr_argv(run_args(rt, id, {"--rm"}, {"sleep", kSleep}));
    Background run_rm(argv);
    wait_until([&] { return !run_rm.running() || task_status(id) == "RUNNING"; },
               std::chrono::seconds(30), std::chrono::milliseconds(100));
    const auto k = ctr(t, {"task", "kill", "-s", "SIGKILL", id});
    t.step("kill -s SIGKILL", std::to_string(k.status));
    const auto r = run_rm.wait(std::chrono::seconds(60));
    t.details += record(argv, r);
    t.step("exit", std::to_string(r.status));
    return t;
  });
}

TEST_F(ContainerdTest, TaskExec) {
  compare(
      "run -d: 0\n"
      "task status: RUNNING\n"
      "exec: 6 exec output\n"
      "exec sees the container's pid 1: sleep\n"
      "kill -s SIGKILL: 0\n"
      "task status after kill: STOPPED\n"
      "task rm: 0\n"
      "container rm: 0\n",
      [&](const Runtime& rt) {
        Transcript t;
        const std::string id = unique_name("mcte");
        auto r = ctr(t, run_args(rt, id, {"-d"}, {"sleep", kSleep}));
        t.step("run -d", std::to_string(r.status));
        auto status = [&] { return task_status(id); };
        t.step("task status", status());
        r = ctr(t, {"task", "exec", "--exec-id", "e1", id, "sh", "-c", "echo exec output; exit 6"});
        t.step("exec", std::to_string(r.status) + " " + trim(r.out));
        r = ctr(t, {"task", "exec", "--exec-id", "e2", id, "cat", "/proc/1/comm"});
        t.step("exec sees the container's pid 1", trim(r.out));
        r = ctr(t, {"task", "kill", "-s", "SIGKILL", id});
        t.step("kill -s SIGKILL", std::to_string(r.status));
        wait_until([&] { return status() == "STOPPED"; }, std::chrono::seconds(20),
                   std::chrono::milliseconds(100));
        t.step("task status after kill", status());
        r = ctr(t, {"task", "rm", id});
        t.step("task rm", std::to_string(r.status));
        r = ctr(t, {"container", "rm", id});
        t.step("container rm", std::to_string(r.status));
        ctr({"task", "rm", "-f", id});  // if a step above failed
        ctr({"container", "rm", id});
        return t;
      });
}

}  // namespace
}  // namespace mc::test::engines
