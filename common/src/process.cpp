#include "ctr/process.hpp"

#include <poll.h>         // poll(2)
#include <sys/syscall.h>  // SYS_pidfd_open: no glibc wrapper before 2.36
#include <sched.h>        // clone(2), CLONE_*
#include <signal.h>       // kill(2), sigaction(2)
#include <string.h>       // strsignal(3)
#include <sys/prctl.h>    // prctl(2), PR_SET_PDEATHSIG
#include <sys/wait.h>     // waitpid(2)
#include <unistd.h>       // getppid(2), _exit(2)

#include <array>
#include <atomic>
#include <cstdio>
#include <utility>

#include <fmt/format.h>

#include "ctr/error.hpp"
#include "ctr/fd.hpp"
#include "ctr/narrate.hpp"

namespace ctr {

ExitStatus ExitStatus::from_wait_status(int status) {
  ExitStatus s;
  if (WIFEXITED(status)) {
    s.exited = true;
    s.code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    s.signal = WTERMSIG(status);
    s.core_dumped = WCOREDUMP(status);
  }
  return s;
}

int ExitStatus::shell_code() const {
  return exited ? code : kExitSignalBase + signal;
}

std::string ExitStatus::describe() const {
  if (exited) return fmt::format("exited with code {}", code);
  return fmt::format("killed by signal {} ({}){}", signal, ::strsignal(signal),
                     core_dumped ? ", core dumped" : "");
}

std::string clone_flags_to_string(int flags) {
  static constexpr std::array<std::pair<int, const char*>, 10> kNames{{
      {CLONE_NEWUSER, "CLONE_NEWUSER"},
      {CLONE_NEWNS, "CLONE_NEWNS"},
      {CLONE_NEWPID, "CLONE_NEWPID"},
      {CLONE_NEWUTS, "CLONE_NEWUTS"},
      {CLONE_NEWIPC, "CLONE_NEWIPC"},
      {CLONE_NEWNET, "CLONE_NEWNET"},
      {CLONE_NEWCGROUP, "CLONE_NEWCGROUP"},
      {CLONE_NEWTIME, "CLONE_NEWTIME"},
      {CLONE_VM, "CLONE_VM"},
      {CLONE_VFORK, "CLONE_VFORK"},
  }};
  std::string out;
  for (const auto& [bit, name] : kNames) {
    if (flags & bit) out += fmt::format("{}|", name);
  }
  const int sig = flags & 0xff;  // the low byte is the signal sent to the parent at exit
  out += sig == SIGCHLD ? "SIGCHLD" : fmt::format("{}", sig);
  return out;
}

namespace {

// The unshare(1) command that makes the same namespaces, for --explain.
std::string unshare_equivalent(int flags) {
  static constexpr std::array<std::pair<int, const char*>, 8> kOptions{{
      {CLONE_NEWUSER, "--user"},
      {CLONE_NEWNS, "--mount"},
      {CLONE_NEWPID, "--pid"},
      {CLONE_NEWUTS, "--uts"},
      {CLONE_NEWIPC, "--ipc"},
      {CLONE_NEWNET, "--net"},
      {CLONE_NEWCGROUP, "--cgroup"},
      {CLONE_NEWTIME, "--time"},
  }};
  std::string out = "unshare --fork";
  for (const auto& [bit, option] : kOptions) {
    if (flags & bit) out += fmt::format(" {}", option);
  }
  return out == "unshare --fork" ? "(a plain fork: no new namespace)" : out;
}

constexpr size_t kStackSize = 1024 * 1024;  // the child's C++ code (fmt, libnl) needs room

struct Trampoline {
  ChildProcess::Entry* entry;
  pid_t parent;
};

// The first function the child runs. Whatever happens, it ends the child here: never by
// returning into the parent's frames (clone(2): "the child terminates when fn returns").
int child_trampoline(void* arg) {
  auto* t = static_cast<Trampoline*>(arg);
  // If the runtime dies, the kernel sends the child SIGKILL (prctl(2) PR_SET_PDEATHSIG).
  // The parent may already be gone by now: then getppid() differs and we leave at once.
  // (In a new PID namespace getppid() is 0, the parent being outside; there the handshake
  // notices a dead parent: its end of the socket closes.)
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (const pid_t ppid = ::getppid(); ppid != 0 && ppid != t->parent) ::_exit(kExitRuntimeFailed);
  int code = kExitRuntimeFailed;
  try {
    code = (*t->entry)();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "container: %s\n", e.what());
  } catch (...) {
  }
  std::fflush(nullptr);  // clone's child exits with _exit: flush stdio ourselves
  ::_exit(code);
}

}  // namespace

ChildProcess ChildProcess::clone(int flags, Entry entry) {
  // Not make_unique<char[]>: that zero-fills the megabyte, and every page touched is a page
  // the kernel then copies (copy-on-write) into the child at clone. Untouched, it costs
  // nothing until the child's stack grows into it.
  std::unique_ptr<char[]> stack(new char[kStackSize]);
  Trampoline t{&entry, ::getpid()};
  std::fflush(nullptr);  // else the child would print our buffered output a second time
  // The stack grows down on every architecture Linux containers run on: pass its top.
  const pid_t pid = check(::clone(child_trampoline, stack.get() + kStackSize, flags | SIGCHLD, &t),
                          "clone", clone_flags_to_string(flags | SIGCHLD));
  narrate({.call = fmt::format("clone({})", clone_flags_to_string(flags | SIGCHLD)),
           .result = (flags & CLONE_VFORK)
                         ? fmt::format("pid {}, back after its execve (its lines come first)", pid)
                         : fmt::format("pid {}", pid),
           .shell = unshare_equivalent(flags),
           .man = "clone(2), namespaces(7)"});
  return ChildProcess(pid, std::move(stack));
}

ChildProcess::ChildProcess(pid_t pid, std::unique_ptr<char[]> stack) noexcept
    : pid_(pid), stack_(std::move(stack)) {}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)), stack_(std::move(other.stack_)) {}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  if (this != &other) {
    // The child we owned is killed and reaped by `old`'s destructor, at the end of this block;
    // calling ~ChildProcess() on *this and then assigning to it would use a dead object.
    ChildProcess old(std::move(*this));
    pid_ = std::exchange(other.pid_, -1);
    stack_ = std::move(other.stack_);
  }
  return *this;
}

ChildProcess::~ChildProcess() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  while (::waitpid(pid_, &status, __WALL) < 0 && errno == EINTR) {
  }
}

ExitStatus ChildProcess::wait() {
  int status = 0;
  pid_t r;
  while ((r = ::waitpid(pid_, &status, __WALL)) < 0 && errno == EINTR) {
  }
  check(r, "waitpid", std::to_string(pid_));
  pid_ = -1;
  return ExitStatus::from_wait_status(status);
}

ExitStatus ChildProcess::wait_with_grace(std::chrono::milliseconds grace, bool* escalated) {
  if (escalated != nullptr) *escalated = false;
  // A pidfd becomes readable when the process ends (pidfd_open(2)); poll(2) on it sleeps
  // until then, or until a signal handler runs (EINTR), or until the grace period is over.
  const UniqueFd pidfd = pidfd_open(pid_);
  if (!pidfd) return wait();  // kernels before 5.3: no escalation, plain wait
  StopDeadline deadline(grace);
  while (true) {
    if (auto status = try_wait()) return *status;
    if (deadline.expired()) {
      narrate({.call = fmt::format("kill({}, SIGKILL)", pid_),
               .result = fmt::format("it did not stop within {} ms", grace.count()),
               .shell = fmt::format("kill -KILL {}", pid_),
               .man = "kill(2)"});
      ::kill(pid_, SIGKILL);
      if (escalated != nullptr) *escalated = true;
      return wait();
    }
    pollfd p{pidfd.get(), POLLIN, 0};
    ::poll(&p, 1, deadline.timeout_ms());  // EINTR: a signal came; the loop looks again
  }
}

std::optional<ExitStatus> ChildProcess::try_wait() {
  int status = 0;
  const pid_t r =
      check(::waitpid(pid_, &status, WNOHANG | __WALL), "waitpid", std::to_string(pid_));
  if (r == 0) return std::nullopt;
  pid_ = -1;
  return ExitStatus::from_wait_status(status);
}

bool ChildProcess::kill(int sig) noexcept {
  return pid_ > 0 && ::kill(pid_, sig) == 0;
}

void set_parent_death_signal(int sig, int watch_fd) {
  check(::prctl(PR_SET_PDEATHSIG, sig), "prctl", "PR_SET_PDEATHSIG");
  if (watch_fd >= 0) {
    pollfd p{watch_fd, POLLIN, 0};
    if (::poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR))) ::_exit(kExitRuntimeFailed);
  }
}

UniqueFd pidfd_open(pid_t pid) {
  return UniqueFd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
}

bool StopDeadline::expired() {
  return timeout_ms() == 0;
}

int StopDeadline::timeout_ms() {
  const int signals = SignalForwarder::terminating_count();
  const auto now = std::chrono::steady_clock::now();
  if (signals == 0) return -1;
  if (!deadline_) deadline_ = now + grace_;
  if (signals > 1) deadline_ = now;  // asked twice: now
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*deadline_ - now);
  return left.count() > 0 ? static_cast<int>(left.count()) : 0;
}

namespace {
sigset_t terminating_set() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) sigaddset(&set, sig);
  return set;
}
}  // namespace

DeferTerminatingSignals::DeferTerminatingSignals() {
  const sigset_t set = terminating_set();
  ::sigprocmask(SIG_BLOCK, &set, nullptr);
}

void DeferTerminatingSignals::release() noexcept {
  if (!active_) return;
  active_ = false;
  unblock_in_child();
}

int DeferTerminatingSignals::take_pending() noexcept {
  const sigset_t set = terminating_set();
  const timespec now{};
  const int sig = ::sigtimedwait(&set, nullptr, &now);
  return sig > 0 ? sig : 0;
}

void DeferTerminatingSignals::unblock_in_child() noexcept {
  const sigset_t set = terminating_set();
  ::sigprocmask(SIG_UNBLOCK, &set, nullptr);
}

// --- SignalForwarder ---------------------------------------------------------------------

namespace {
constexpr std::array kForwarded{SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
std::atomic<pid_t> g_forward_to{-1};
std::atomic<int> g_last_signal{0};
std::atomic<int> g_terminating{0};
std::array<struct sigaction, kForwarded.size()> g_previous{};

void forward(int sig) {
  // Only async-signal-safe calls here (signal-safety(7)): kill(2) is one.
  const int saved = errno;
  g_last_signal = sig;
  if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP || sig == SIGQUIT) ++g_terminating;
  if (const pid_t pid = g_forward_to; pid > 0) ::kill(pid, sig);
  errno = saved;
}
}  // namespace

SignalForwarder::SignalForwarder(pid_t pid) {
  g_forward_to = pid;
  g_last_signal = 0;
  g_terminating = 0;
  struct sigaction sa {};
  sa.sa_handler = forward;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  for (size_t i = 0; i < kForwarded.size(); ++i) ::sigaction(kForwarded[i], &sa, &g_previous[i]);
}

SignalForwarder::~SignalForwarder() {
  for (size_t i = 0; i < kForwarded.size(); ++i)
    ::sigaction(kForwarded[i], &g_previous[i], nullptr);
  g_forward_to = -1;
}

int SignalForwarder::last_signal() noexcept {
  return g_last_signal;
}

int SignalForwarder::terminating_count() noexcept {
  return g_terminating;
}

}  // namespace ctr
