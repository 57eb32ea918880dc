// podman drives the runtime under test: each case runs the same podman commands with runc
// (the reference) and with the runtime under test, and compares what they show (engines.hpp).
//
// podman is Debian's (4.3), configured entirely by files in a temporary directory: its own
// containers.conf (cgroupfs, file events, the two runtimes registered by name in
// [engine.runtimes], as README.md tells users to register mycontainer), storage.conf (vfs
// storage and run root in the directory) and an empty registries.conf. The image is the
// project's busybox rootfs, imported offline (`podman import`).
#include <pty.h>  // openpty(3)
#include <sys/ioctl.h>
#include <termios.h>

#include "engines.hpp"
#include "leftovers.hpp"

namespace mc::test::engines {
namespace {

constexpr const char* kImage = "localhost/mct-busybox";
constexpr const char* kInfraImage = "localhost/mct-infra";

class PodmanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    MC_REQUIRE_ROOT();
    if (auto m = missing_programs({"podman", "conmon", "runc", "tar"}); !m.empty()) {
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
    write_config();
    const std::string tar = box_->dir() + "/rootfs.tar";
    const auto packed = run({"/bin/tar", "-C", rootfs(), "-cf", tar, "."});
    ASSERT_EQ(0, packed.status) << packed.err;
    // Two images of the rootfs: one for the cases, one whose command keeps a pod's infra
    // container alive (podman would otherwise build its pause image).
    for (const auto& [name, change] : {std::pair{kImage, "CMD [\"/bin/sh\"]"},
                                       std::pair{kInfraImage, "CMD [\"sleep\", \"86413\"]"}}) {
      const std::vector<std::string> import{"import", "--change", change, tar, name};
      const auto imported = with_own_blob_cache(podman_argv(reference_, import));
      ASSERT_EQ(0, imported.status) << "podman import failed:\n"
                                    << record(podman_argv(reference_, import), imported);
    }
  }

  void TearDown() override {
    if (!box_) return;
    // What a case did not remove itself is a failure of the case (or of the runtime: podman
    // rm failed), and must not reach the next case.
    const auto left = podman(reference_, {"ps", "-a", "--format", "{{.Names}}"});
    EXPECT_EQ("", left.out) << "containers left in podman's storage after the case";
    podman(reference_, {"pod", "rm", "-a", "-f", "-t", "0"});
    podman(reference_, {"rm", "-a", "-f", "-t", "0"});
    const std::string parent = box_->cgroup_parent();
    box_.reset();
    EXPECT_EQ("", kill_stray_sleepers())
        << "container processes outlived their case";  // the janitor removes the directory, the
                                                       // cgroups, the /run directories
    EXPECT_EQ("", leftovers_->check()) << "left on the host by podman and the runtimes";
    EXPECT_FALSE(fs::exists("/sys/fs/cgroup/memory" + parent)) << parent;
    leftovers_->scrub(parent);
    EXPECT_EQ("", new_entries(states_before_, runtime_states()))
        << "runtime state left behind (a container podman removed, but the runtime did not)";
  }

  void write_config() {
    const std::string d = box_->dir();
    fs::create_directories(d + "/tmp");
    fs::create_directories(d + "/netconf");
    // The two runtimes by name, as a user registers mycontainer; podman --runtime NAME.
    std::ofstream(d + "/containers.conf") << fmt::format(
        "[containers]\n"
        "default_ulimits = [\"nofile=20000:20000\", \"nproc=32768:32768\"]\n"
        "[engine]\n"
        "cgroup_manager = \"cgroupfs\"\n"
        "events_logger = \"file\"\n"
        "events_logfile_path = \"{0}/events.log\"\n"
        "tmp_dir = \"{0}/tmp\"\n"
        "static_dir = \"{0}/root/libpod\"\n"
        "volume_path = \"{0}/root/volumes\"\n"
        "lock_type = \"file\"\n"
        "[engine.runtimes]\n"
        "{1} = [\"{2}\"]\n"
        "{3} = [\"{4}\"]\n"
        "[network]\n"
        "network_config_dir = \"{0}/netconf\"\n",
        d, reference_.name, reference_.wrapper, under_test_.name, under_test_.wrapper);
    std::ofstream(d + "/storage.conf") << fmt::format(
        "[storage]\ndriver = \"vfs\"\nrunroot = \"{0}/runroot\"\ngraphroot = \"{0}/root\"\n", d);
    std::ofstream(d + "/registries.conf") << "unqualified-search-registries = []\n";
  }

  // Runs a podman command that copies an image: containers/image keeps a cache of blob
  // digests in /var/lib/containers/cache whatever --root says (podman 4.3). The command runs
  // in a private mount namespace where that directory is our own (unshare(1), mount(8)
  // --bind): the host's cache is never written.
  RunResult with_own_blob_cache(const std::vector<std::string>& argv) {
    const std::string cache = box_->dir() + "/blob-cache";
    fs::create_directories(cache);
    box_->make_host_dir("/var/lib/containers/cache");
    std::vector<std::string> wrapped{find_in_path("unshare"),
                                     "--mount",
                                     "--propagation",
                                     "private",
                                     "--",
                                     "/bin/sh",
                                     "-c",
                                     "mount --bind \"$0\" /var/lib/containers/cache && exec \"$@\"",
                                     cache};
    wrapped.insert(wrapped.end(), argv.begin(), argv.end());
    return run(wrapped, podman_options());
  }

  std::vector<std::string> podman_argv(const Runtime& rt, const std::vector<std::string>& args) {
    const std::string d = box_->dir();
    std::vector<std::string> argv{find_in_path("podman"),
                                  "--root",
                                  d + "/root",
                                  "--runroot",
                                  d + "/runroot",
                                  "--runtime",
                                  rt.name,
                                  "--cgroup-manager",
                                  "cgroupfs",
                                  "--events-backend",
                                  "file"};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }
  RunOptions podman_options(RunOptions options = {}) {
    const std::string d = box_->dir();
    options.env.push_back("CONTAINERS_CONF=" + d + "/containers.conf");
    options.env.push_back("CONTAINERS_STORAGE_CONF=" + d + "/storage.conf");
    options.env.push_back("CONTAINERS_REGISTRIES_CONF=" + d + "/registries.conf");
    options.env.push_back("TMPDIR=" + d + "/tmp");  // podman update's resources file
    return options;
  }
  RunResult podman(const Runtime& rt, const std::vector<std::string>& args,
                   const RunOptions& options = {}) {
    return run(podman_argv(rt, args), podman_options(options));
  }
  // Runs podman and records the command in t.details.
  RunResult podman(Transcript& t, const Runtime& rt, const std::vector<std::string>& args,
                   const RunOptions& options = {}) {
    auto r = podman(rt, args, options);
    t.details += record(podman_argv(rt, args), r);
    return r;
  }

  // What `podman run` and `podman create` need on this machine: the cgroup parent beneath
  // our cgroup, the ulimits the machine allows, no network (no CNI/netavark, no bridge).
  std::vector<std::string> container_flags() {
    return {"--cgroup-parent", box_->cgroup_parent(), "--ulimit",  "nofile=20000:20000",
            "--ulimit",        "nproc=32768:32768",   "--network", "none"};
  }
  std::vector<std::string> run_args(std::vector<std::string> flags,
                                    const std::vector<std::string>& command,
                                    const std::string& verb = "run") {
    std::vector<std::string> args{verb};
    for (const auto& f : container_flags()) args.push_back(f);
    args.insert(args.end(), flags.begin(), flags.end());
    args.emplace_back(kImage);
    args.insert(args.end(), command.begin(), command.end());
    return args;
  }

  // Runs scenario with the reference, checks it shows `expected` (else the test itself or the
  // machine is wrong), then with the runtime under test, which must show the same.
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
    Transcript t = scenario(rt);
    t.details += "--- the runtime's calls (" + rt.log + "):\n" + read_from(rt.log, offset);
    return t;
  }

  // `podman run --rm FLAGS IMAGE COMMAND`: exit code and stdout.
  auto run_rm(const std::vector<std::string>& flags, const std::vector<std::string>& command) {
    return [this, flags, command](const Runtime& rt) {
      Transcript t;
      std::vector<std::string> f{"--rm"};
      f.insert(f.end(), flags.begin(), flags.end());
      const auto r = podman(t, rt, run_args(f, command));
      t.step("exit", std::to_string(r.status));
      t.text += r.out;
      return t;
    };
  }

  std::string inspect(Transcript& t, const Runtime& rt, const std::string& name,
                      const std::string& format) {
    return trim(podman(t, rt, {"inspect", "--format", format, name}).out);
  }
  pid_t pid_of(Transcript& t, const Runtime& rt, const std::string& name) {
    return static_cast<pid_t>(std::atol(inspect(t, rt, name, "{{.State.Pid}}").c_str()));
  }
  bool logs_contain(const Runtime& rt, const std::string& name, const std::string& needle) {
    return wait_until(
        [&] {
          return podman(rt, {"logs", name}).out.find(needle) != std::string::npos;
        },
        std::chrono::seconds(20), std::chrono::milliseconds(200));
  }

  std::unique_ptr<Leftovers> leftovers_;
  std::unique_ptr<Sandbox> box_;
  Runtime reference_, under_test_;
  std::set<std::string> states_before_;
};

// === podman run --rm: output and exit codes ==================================================

TEST_F(PodmanTest, RunRmPrintsTheOutput) {
  compare("exit: 0\nhello from the container\n", run_rm({}, {"echo", "hello from the container"}));
}

TEST_F(PodmanTest, RunRmPassesExitCode3Through) {
  compare("exit: 3\n", run_rm({}, {"sh", "-c", "exit 3"}));
}

TEST_F(PodmanTest, RunRmPassesSigkillThroughAs137) {
  // SIGKILL from outside (the container's PID 1 cannot kill itself: signals from inside its
  // namespace that it has no handler for are ignored, pid_namespaces(7)).
  compare("kill -s KILL: 0\nexit: 137\n", [&](const Runtime& rt) {
    Transcript t;
    const std::string name = unique_name("mcte");
    const auto argv = podman_argv(rt, run_args({"--rm", "--name", name}, {"sleep", kSleep}));
    Background run_rm(argv, podman_options());
    wait_until(
        [&] {
          return !run_rm.running() ||
                 podman(rt, {"inspect", "--format", "{{.State.Status}}", name}).out == "running\n";
        },
        std::chrono::seconds(30), std::chrono::milliseconds(200));
    const auto k = podman(t, rt, {"kill", "-s", "KILL", name});
    t.step("kill -s KILL", std::to_string(k.status));
    const auto r = run_rm.wait(std::chrono::seconds(60));
    t.details += record(argv, r);
    t.step("exit", std::to_string(r.status));
    return t;
  });
}

TEST_F(PodmanTest, CommandNotFoundIs127) {
  // podman's own convention: the runtime cannot exec the command at create/start.
  compare("exit: 127\n", run_rm({}, {"/no/such/command"}));
}

// === The process: environment, hostname, working directory, user =============================

TEST_F(PodmanTest, EnvironmentVariable) {
  compare("exit: 0\nbar baz\n", run_rm({"-e", "FOO=bar baz"}, {"sh", "-c", "echo $FOO"}));
}

TEST_F(PodmanTest, Hostname) {
  compare("exit: 0\nmct-host\n", run_rm({"--hostname", "mct-host"}, {"hostname"}));
}

TEST_F(PodmanTest, WorkingDirectory) {
  compare("exit: 0\n/tmp\n", run_rm({"-w", "/tmp"}, {"pwd"}));
}

TEST_F(PodmanTest, User1000) {
  compare("exit: 0\n1000\n0\n", run_rm({"-u", "1000"}, {"sh", "-c", "id -u; id -g"}));
}

// === The filesystem: read-only root, a volume ================================================

TEST_F(PodmanTest, ReadOnlyRoot) {
  // podman --read-only still mounts tmpfs on /tmp, /var/tmp and /run (read_only_tmpfs).
  compare("exit: 0\nroot=1\ntmp=0\n",
          run_rm({"--read-only"},
                 {"sh", "-c", "touch /x 2>/dev/null; echo root=$?; touch /tmp/x; echo tmp=$?"}));
}

TEST_F(PodmanTest, VolumeBothWays) {
  compare("exit: 0\nfrom the host\nhost reads: from the container\n", [&](const Runtime& rt) {
    const std::string vol = box_->dir() + "/volume-" + rt.name;
    fs::create_directories(vol);
    std::ofstream(vol + "/in") << "from the host\n";
    Transcript t;
    const auto r =
        podman(t, rt,
               run_args({"--rm", "-v", vol + ":/data"},
                        {"sh", "-c", "cat /data/in; echo from the container >/data/out"}));
    t.step("exit", std::to_string(r.status));
    t.text += r.out;
    t.step("host reads", trim(read_file(vol + "/out")));
    return t;
  });
}

// === Resources: memory, pids, in the container's cgroup ======================================

TEST_F(PodmanTest, MemoryLimitIsWritten) {
  // Inside: the container's own cgroup (a cgroup namespace) shows the limit; v1 or v2.
  compare(
      "exit: 0\n67108864\n",
      run_rm({"--memory", "64m"}, {"sh", "-c",
                                   "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || "
                                   "cat /sys/fs/cgroup/memory.max"}));
}

TEST_F(PodmanTest, PidsLimitIsWritten) {
  compare("exit: 0\n50\n",
          run_rm({"--pids-limit", "50"}, {"sh", "-c",
                                          "cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || "
                                          "cat /sys/fs/cgroup/pids.max"}));
}

// === Detached: ps, logs, exec, pause/unpause, update, stop, rm ================================

TEST_F(PodmanTest, DetachedLifecycle) {
  const bool v1 = fs::exists("/sys/fs/cgroup/memory/memory.limit_in_bytes");
  const std::string memory_file = v1 ? "memory.limit_in_bytes" : "memory.max";
  compare(
      "run -d: 0\n"
      "ps: Up\n"
      "logs: started\n"
      "host cgroup memory: 67108864\n"
      "host cgroup pids: 50\n"
      "exec echo: 0 exec works\n"
      "exec exit 4: 4\n"
      "pause: 0 paused\n"
      "unpause: 0 running\n"
      "exec after unpause: 0 still here\n"
      "update --memory 96m: 0\n"
      "host cgroup memory after update: 100663296\n"
      "stop -t 1: 0 exited 137\n"
      "rm: 0\n"
      "ps -a after rm: \n",
      [&](const Runtime& rt) {
        Transcript t;
        const std::string name = unique_name("mcte");
        auto r = podman(t, rt,
                        run_args({"-d", "--name", name, "--memory", "64m", "--pids-limit", "50"},
                                 {"sh", "-c", "echo started; exec sleep " + std::string(kSleep)}));
        t.step("run -d", std::to_string(r.status));
        const std::string ps =
            trim(podman(t, rt, {"ps", "--filter", "name=^" + name + "$", "--format", "{{.Status}}"})
                     .out);
        t.step("ps", ps.rfind("Up ", 0) == 0 ? "Up" : ps);  // "Up 2 seconds ago"
        logs_contain(rt, name, "started");
        t.step("logs", trim(podman(t, rt, {"logs", name}).out));
        const pid_t pid = pid_of(t, rt, name);
        t.step("host cgroup memory", trim(read_file(cgroup_file_of(pid, "memory", memory_file))));
        t.step("host cgroup pids", trim(read_file(cgroup_file_of(pid, "pids", "pids.max"))));
        r = podman(t, rt, {"exec", name, "echo", "exec works"});
        t.step("exec echo", std::to_string(r.status) + " " + trim(r.out));
        r = podman(t, rt, {"exec", name, "sh", "-c", "exit 4"});
        t.step("exec exit 4", std::to_string(r.status));
        r = podman(t, rt, {"pause", name});
        t.step("pause", std::to_string(r.status) + " " + inspect(t, rt, name, "{{.State.Status}}"));
        r = podman(t, rt, {"unpause", name});
        t.step("unpause",
               std::to_string(r.status) + " " + inspect(t, rt, name, "{{.State.Status}}"));
        r = podman(t, rt, {"exec", name, "echo", "still here"});
        t.step("exec after unpause", std::to_string(r.status) + " " + trim(r.out));
        r = podman(t, rt, {"update", "--memory", "96m", name});
        t.step("update --memory 96m", std::to_string(r.status));
        t.step("host cgroup memory after update",
               trim(read_file(cgroup_file_of(pid, "memory", memory_file))));
        // sleep is PID 1 with no handler for SIGTERM: the kernel ignores it, podman sends
        // SIGKILL after the timeout.
        r = podman(t, rt, {"stop", "-t", "1", name});
        t.step("stop -t 1", std::to_string(r.status) + " " +
                                inspect(t, rt, name, "{{.State.Status}} {{.State.ExitCode}}"));
        r = podman(t, rt, {"rm", name});
        t.step("rm", std::to_string(r.status));
        t.step(
            "ps -a after rm",
            trim(podman(t, rt,
                        {"ps", "-a", "--filter", "name=^" + name + "$", "--format", "{{.Names}}"})
                     .out));
        podman(rt, {"rm", "-f", "-t", "0", name});  // if a step above failed
        return t;
      });
}

TEST_F(PodmanTest, KillSendsUsr1) {
  compare("run -d: 0\nkill -s USR1: 0\nlogs: ready got-USR1\n", [&](const Runtime& rt) {
    Transcript t;
    const std::string name = unique_name("mcte");
    // busybox sh runs the trap once the current `sleep` returns.
    auto r = podman(
        t, rt,
        run_args(
            {"-d", "--name", name},
            {"sh", "-c", "trap 'echo got-USR1' USR1; echo ready; while :; do sleep 0.1; done"}));
    t.step("run -d", std::to_string(r.status));
    logs_contain(rt, name, "ready");
    r = podman(t, rt, {"kill", "-s", "USR1", name});
    t.step("kill -s USR1", std::to_string(r.status));
    logs_contain(rt, name, "got-USR1");
    std::string logs = trim(podman(t, rt, {"logs", name}).out);
    std::replace(logs.begin(), logs.end(), '\n', ' ');
    t.step("logs", logs);
    podman(t, rt, {"rm", "-f", "-t", "0", name});
    return t;
  });
}

// === A terminal ==============================================================================

TEST_F(PodmanTest, TtyWithATerminal) {
  compare("exit: 0\nis-a-terminal\n/dev/pts/0\n", [&](const Runtime& rt) {
    Transcript t;
    int master = -1, slave = -1;
    winsize size{24, 80, 0, 0};
    if (::openpty(&master, &slave, nullptr, nullptr, &size) != 0) {
      t.step("openpty", std::strerror(errno));
      return t;
    }
    ::fcntl(master, F_SETFD, FD_CLOEXEC);  // podman gets the other side only
    const auto argv = podman_argv(
        rt, run_args({"--rm", "-t"},
                     {"sh", "-c", "test -t 0 && test -t 1 && echo is-a-terminal; tty"}));
    Background p(argv, podman_options(), slave);
    ::close(slave);
    std::string out;
    char buf[4096];
    // Until podman ends and the terminal has nothing more (read fails with EIO once no
    // process holds the other side).
    ::fcntl(master, F_SETFL, O_NONBLOCK);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < deadline) {
      const ssize_t n = ::read(master, buf, sizeof buf);
      if (n > 0) {
        out.append(buf, static_cast<size_t>(n));
        continue;
      }
      if (n < 0 && errno != EAGAIN) break;
      if (!p.running()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        if (::read(master, buf, sizeof buf) <= 0) break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ::close(master);
    const auto r = p.wait(std::chrono::seconds(5));
    out.erase(std::remove(out.begin(), out.end(), '\r'), out.end());
    t.details +=
        "$ " + quote_argv(argv) + "\n[terminal] " + out + fmt::format("-> exit {}\n", r.status);
    t.step("exit", std::to_string(r.status));
    t.text += out;
    return t;
  });
}

// === Network: none ===========================================================================

TEST_F(PodmanTest, NetworkNoneHasOnlyLoopback) {
  compare("exit: 0\nlo\n", run_rm({}, {"ls", "/sys/class/net"}));
}

// === A pod: the second container joins the first's namespaces by path ========================

TEST_F(PodmanTest, PodSharesNamespacesByPath) {
  compare(
      "pod create: 0\n"
      "run -d a: 0\n"
      "run -d b: 0\n"
      "a joins the infra's net, uts, ipc: yes\n"
      "b shares a's net, uts, ipc: yes\n"
      "b has its own pid namespace: yes\n"
      "b's config.json joins the infra's net by path: yes\n"
      "b's hostname is the pod's name: yes\n"
      "pod rm: 0\n",
      [&](const Runtime& rt) {
        Transcript t;
        const std::string pod = unique_name("mcte");
        auto r = podman(t, rt,
                        {"pod", "create", "--name", pod, "--network", "none", "--cgroup-parent",
                         box_->cgroup_parent(), "--infra-image", kInfraImage});
        t.step("pod create", std::to_string(r.status));
        const std::vector<std::string> ulimits{"--ulimit", "nofile=20000:20000", "--ulimit",
                                               "nproc=32768:32768"};
        for (const char* c : {"a", "b"}) {
          std::vector<std::string> args{"run", "-d", "--pod", pod, "--name", pod + "-" + c};
          args.insert(args.end(), ulimits.begin(), ulimits.end());
          args.insert(args.end(), {kImage, "sleep", kSleep});
          r = podman(t, rt, args);
          t.step(std::string("run -d ") + c, std::to_string(r.status));
        }
        const std::string infra =
            trim(podman(t, rt, {"pod", "inspect", "--format", "{{.InfraContainerID}}", pod}).out);
        const pid_t pi = pid_of(t, rt, infra), pa = pid_of(t, rt, pod + "-a"),
                    pb = pid_of(t, rt, pod + "-b");
        auto ns = [](pid_t pid, const char* kind) {
          std::error_code ec;
          const auto target = fs::read_symlink(fmt::format("/proc/{}/ns/{}", pid, kind), ec);
          return ec || pid <= 0 ? fmt::format("none({})", pid) : target.string();
        };
        auto same = [&](pid_t x, pid_t y) {
          bool all = true;
          for (const char* k : {"net", "uts", "ipc"}) all = all && ns(x, k) == ns(y, k);
          return all ? "yes"
                     : fmt::format("no (net {} vs {}, uts {} vs {})", ns(x, "net"), ns(y, "net"),
                                   ns(x, "uts"), ns(y, "uts"));
        };
        t.step("a joins the infra's net, uts, ipc", same(pa, pi));
        t.step("b shares a's net, uts, ipc", same(pb, pa));
        t.step("b has its own pid namespace", ns(pb, "pid") != ns(pa, "pid") ? "yes" : "no");
        const std::string config = read_file(inspect(t, rt, pod + "-b", "{{.OCIConfigPath}}"));
        t.step("b's config.json joins the infra's net by path",
               config.find(fmt::format("/proc/{}/ns/net", pi)) != std::string::npos ? "yes" : "no");
        r = podman(t, rt, {"exec", pod + "-b", "hostname"});
        t.step("b's hostname is the pod's name", trim(r.out) == pod ? "yes" : "no: " + r.out);
        r = podman(t, rt, {"pod", "rm", "-f", "-t", "0", pod});
        t.step("pod rm", std::to_string(r.status));
        return t;
      });
}

}  // namespace
}  // namespace mc::test::engines
