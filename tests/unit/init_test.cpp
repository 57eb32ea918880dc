// ctr::run_init, the small init behind --init: the command's exit status passes through,
// orphans are reaped, signals are forwarded. Each test runs twice: as PID 1 of a new PID
// namespace (root), where the kernel's special rules for PID 1 apply, and without one, where
// init makes itself a child subreaper (no root needed). The commands are the host's /bin/sh
// and sleep: no root filesystem, no mount namespace.
#include "runtime/init.hpp"

#include <dirent.h>  // opendir(3)
#include <fcntl.h>   // pipe2(2)
#include <poll.h>    // poll(2)
#include <sched.h>   // CLONE_NEWPID
#include <signal.h>  // kill(2)
#include <unistd.h>  // dup2(2), read(2)

#include <algorithm>  // std::replace
#include <atomic>
#include <chrono>
#include <memory>
#include <cstdio>  // std::sscanf
#include <sstream>
#include <fstream>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "ctr/error.hpp"
#include "ctr/fd.hpp"
#include "ctr/handshake.hpp"
#include "ctr/process.hpp"
#include "support.hpp"

namespace {

using ctr::UniqueFd;
using namespace std::chrono_literals;

const std::vector<std::string> kEnv{"PATH=/usr/bin:/bin"};

// Reads a descriptor on a thread until EOF or until destroyed (an orphan may hold the pipe
// open longer than the test lasts); wait_for() watches the output as it arrives.
class Collector {
 public:
  explicit Collector(UniqueFd fd)
      : fd_(std::move(fd)), thread_([this] {
          char buf[4096];
          while (!stop_) {
            pollfd p{fd_.get(), POLLIN, 0};
            if (::poll(&p, 1, 20) <= 0) continue;
            const ssize_t n = ::read(fd_.get(), buf, sizeof buf);
            if (n == 0 || (n < 0 && errno != EINTR)) {
              eof_ = true;
              break;
            }
            if (n < 0) continue;
            std::lock_guard lock(mutex_);
            text_.append(buf, static_cast<size_t>(n));
          }
        }) {}
  ~Collector() {
    stop_ = true;
    thread_.join();
  }
  bool wait_for(const std::string& needle, std::chrono::milliseconds timeout = 5000ms) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (text().find(needle) != std::string::npos) return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }
  std::string text() {
    std::lock_guard lock(mutex_);
    return text_;
  }
  // Everything, once every writer is gone (or after the timeout, if an orphan holds on).
  std::string finish(std::chrono::milliseconds timeout = 2000ms) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!eof_ && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(5ms);
    }
    return text();
  }

 private:
  UniqueFd fd_;
  std::atomic<bool> eof_{false};
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::string text_;
  std::thread thread_;
};

struct ProcInfo;
std::vector<ProcInfo> children_of(pid_t parent);

// An init running argv in a child cloned with the given flags; its stdout and stderr are
// collected. Whatever still runs at the end is killed: init, and (without a PID namespace,
// where the kernel would not do it) the process groups of its children.
struct Init {
  std::optional<ctr::ChildProcess> process;
  std::unique_ptr<Collector> output;
  Init() = default;
  Init(Init&&) = default;
  ~Init();
};

Init start_init(int flags, std::vector<std::string> argv) {
  int fds[2];
  ctr::check(::pipe2(fds, O_CLOEXEC), "pipe2");
  UniqueFd read_end(fds[0]), write_end(fds[1]);
  Init init;
  init.process.emplace(ctr::ChildProcess::clone(flags, [&]() -> int {
    ::dup2(write_end.get(), STDOUT_FILENO);
    ::dup2(write_end.get(), STDERR_FILENO);
    ctr::run_init(argv, kEnv);
  }));
  write_end.reset();
  init.output = std::make_unique<Collector>(std::move(read_end));
  return init;
}

// A process as /proc/PID/stat shows it to us (pids of our own namespace).
struct ProcInfo {
  pid_t pid = 0;
  char state = '?';
  pid_t ppid = 0;
  std::string comm;
};

std::optional<ProcInfo> proc_info(pid_t pid) {
  std::ifstream in(fmt::format("/proc/{}/stat", pid));
  std::string stat;
  if (!std::getline(in, stat)) return std::nullopt;
  // "42 (sleep) S 41 ...": comm may hold spaces and parentheses, so cut at the last ')'.
  const auto open = stat.find('('), close = stat.rfind(')');
  if (open == std::string::npos || close == std::string::npos) return std::nullopt;
  ProcInfo info;
  info.pid = pid;
  info.comm = stat.substr(open + 1, close - open - 1);
  std::istringstream rest(stat.substr(close + 2));
  rest >> info.state >> info.ppid;
  return info;
}

std::vector<ProcInfo> children_of(pid_t parent) {
  std::vector<ProcInfo> out;
  DIR* dir = ::opendir("/proc");
  if (dir == nullptr) return out;
  while (dirent* e = ::readdir(dir)) {
    const pid_t pid = std::atoi(e->d_name);
    if (pid <= 0) continue;
    if (auto info = proc_info(pid); info && info->ppid == parent) out.push_back(*info);
  }
  ::closedir(dir);
  return out;
}

Init::~Init() {
  if (process && process->pid() > 0 && !process->try_wait()) {
    for (const auto& child : children_of(process->pid())) {
      ::kill(-child.pid, SIGKILL);
      ::kill(child.pid, SIGKILL);
    }
  }
  process.reset();
  output.reset();
}

// Each test runs once without a PID namespace and once with one (root only).
class InitTest : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    if (GetParam() & CLONE_NEWPID) MC_REQUIRE_ROOT();
  }
  int flags() const { return GetParam(); }
};

INSTANTIATE_TEST_SUITE_P(Namespaces, InitTest, ::testing::Values(0, CLONE_NEWPID),
                         [](const auto& info) {
                           return info.param == 0 ? std::string("Subreaper")
                                                  : std::string("Pid1OfNewPidNamespace");
                         });

TEST_P(InitTest, PassesTheCommandsExitCodeThrough) {
  auto init = start_init(flags(), {"/bin/sh", "-c", "exit 5"});
  EXPECT_EQ(init.process->wait().shell_code(), 5);
}

TEST_P(InitTest, ReportsACommandKilledBySignalNAs128PlusN) {
  auto init = start_init(flags(), {"/bin/sh", "-c", "kill -TERM $$; sleep 5"});
  const auto status = init.process->wait();
  EXPECT_TRUE(status.exited) << status.describe();  // init exits; it is not killed itself
  EXPECT_EQ(status.shell_code(), 128 + SIGTERM);
}

TEST_P(InitTest, CommandIsAChildOfInitInItsOwnProcessGroup) {
  // cut reads its own /proc/self/stat: field 4 is its parent (the command's sh), field 5 its
  // process group, which it shares with sh. Host pids both, as /proc is the host's here.
  auto init =
      start_init(flags(), {"/bin/sh", "-c",
                           "echo \"ppid=$PPID\"; echo \"pids $(cut -d' ' -f4,5 /proc/self/stat)\"; "
                           "echo \"pid=$$\""});
  const pid_t init_pid = init.process->pid();
  EXPECT_EQ(init.process->wait().shell_code(), 0);
  const std::string out = init.output->finish();
  if (flags() & CLONE_NEWPID) {
    EXPECT_NE(out.find("ppid=1\n"), std::string::npos) << out;  // init is PID 1...
    EXPECT_NE(out.find("pid=2\n"), std::string::npos) << out;   // ...and the command PID 2
  } else {
    EXPECT_NE(out.find(fmt::format("ppid={}\n", init_pid)), std::string::npos) << out;
  }
  const auto at = out.find("pids ");
  ASSERT_NE(at, std::string::npos) << out;
  int parent = 0, group = 0;
  ASSERT_EQ(std::sscanf(out.c_str() + at, "pids %d %d", &parent, &group), 2) << out;
  EXPECT_EQ(parent, group) << "the command leads its own process group: " << out;
}

TEST_P(InitTest, ReapsOrphansWhileTheCommandRuns) {
  // The inner sh starts a sleep in the background and exits at once: the sleep is orphaned
  // and re-parented to init. When it ends, only init can reap it.
  auto init = start_init(flags(), {"/bin/sh", "-c", "sh -c 'sleep 0.3 &'; echo started; sleep 5"});
  const pid_t init_pid = init.process->pid();
  ASSERT_TRUE(init.output->wait_for("started"));

  std::optional<pid_t> orphan;
  const auto deadline = std::chrono::steady_clock::now() + 3s;
  while (!orphan && std::chrono::steady_clock::now() < deadline) {
    for (const auto& child : children_of(init_pid)) {
      // By its command line: the command itself may be a `sleep 5` too, if sh execs its
      // last command.
      std::string cmdline = mc::test::read_file(fmt::format("/proc/{}/cmdline", child.pid));
      std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');  // NUL-separated arguments
      if (cmdline == "sleep 0.3 " && child.state != 'Z') orphan = child.pid;
    }
    if (!orphan) std::this_thread::sleep_for(5ms);
  }
  ASSERT_TRUE(orphan.has_value()) << "the orphaned sleep never became init's child";

  // Reaped: it vanishes from /proc (a zombie would stay, in state Z, a child of init).
  bool reaped = false;
  while (std::chrono::steady_clock::now() < deadline + 2s) {
    if (!proc_info(*orphan)) {
      reaped = true;
      break;
    }
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_TRUE(reaped) << "orphan " << *orphan << " is still there: "
                      << (proc_info(*orphan) ? std::string(1, proc_info(*orphan)->state) : "");
  for (const auto& child : children_of(init_pid)) {
    EXPECT_NE(child.state, 'Z') << "zombie " << child.pid << " (" << child.comm << ")";
  }
  EXPECT_EQ(init.process->try_wait(), std::nullopt) << "init ended with the orphan";
}

TEST_P(InitTest, ForwardsSigtermToTheCommand) {
  auto init = start_init(
      flags(), {"/bin/sh", "-c", "trap 'exit 42' TERM; echo ready; while :; do sleep 0.05; done"});
  ASSERT_TRUE(init.output->wait_for("ready"));
  // From the parent namespace, as `docker stop` would: to init, which has no handler.
  ASSERT_TRUE(init.process->kill(SIGTERM));
  EXPECT_EQ(init.process->wait().shell_code(), 42);
}

TEST_P(InitTest, ACommandThatIgnoresSigtermKeepsRunning) {
  // Escalating to SIGKILL after a grace period is the runtime's job, not init's.
  auto init = start_init(
      flags(), {"/bin/sh", "-c", "trap '' TERM; echo ready; sleep 0.5; echo still-here; exit 7"});
  ASSERT_TRUE(init.output->wait_for("ready"));
  ASSERT_TRUE(init.process->kill(SIGTERM));
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(init.process->try_wait(), std::nullopt);  // neither init nor the command ended
  EXPECT_EQ(init.process->wait().shell_code(), 7);
  EXPECT_TRUE(init.output->wait_for("still-here", 1000ms)) << init.output->text();
}

TEST_P(InitTest, CommandNotFoundExits127WithAMessage) {
  auto init = start_init(flags(), {"/nonexistent/command"});
  EXPECT_EQ(init.process->wait().shell_code(), ctr::kExitNotFound);
  EXPECT_TRUE(init.output->wait_for(
      "init: execve('/nonexistent/command'): No such file or directory", 1000ms))
      << init.output->text();
}

TEST_P(InitTest, CommandNotExecutableExits126) {
  auto init = start_init(flags(), {"/etc/hostname"});
  EXPECT_EQ(init.process->wait().shell_code(), ctr::kExitCannotExecute);
}

// With a handshake, as in the runtime: the parent hears of an exec error, or sees EOF once
// the command has been exec'd (init closes its own copy of the child's end).
TEST_P(InitTest, ReportsExecOutcomeThroughTheHandshake) {
  for (const bool found : {false, true}) {
    ctr::Handshake handshake;
    const std::vector<std::string> argv =
        found ? std::vector<std::string>{"/bin/sh", "-c", "sleep 0.2"}
              : std::vector<std::string>{"no-such-command-here"};
    auto child = ctr::ChildProcess::clone(flags(), [&]() -> int {
      handshake.close_parent_end();
      handshake.wait_for_parent();
      ctr::run_init(argv, kEnv, &handshake);
    });
    handshake.close_child_end();
    handshake.release_child();
    const auto error = handshake.wait_for_exec();
    if (found) {
      EXPECT_EQ(error, std::nullopt) << error->message;
      EXPECT_EQ(child.try_wait(), std::nullopt);  // EOF came while the command still runs
      EXPECT_EQ(child.wait().shell_code(), 0);
    } else {
      ASSERT_TRUE(error.has_value());
      EXPECT_EQ(error->exit_code, ctr::kExitNotFound);
      EXPECT_NE(error->message.find("no-such-command-here"), std::string::npos) << error->message;
      EXPECT_EQ(child.wait().shell_code(), ctr::kExitNotFound);
    }
  }
}

}  // namespace
