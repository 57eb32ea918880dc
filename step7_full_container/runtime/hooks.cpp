// OCI hooks: one program, its state on stdin, a timeout. Read hooks.hpp first.
#include "runtime/hooks.hpp"

#include <fcntl.h>   // open(2), O_PATH
#include <poll.h>    // poll(2)
#include <sched.h>   // setns(2), CLONE_NEWPID
#include <signal.h>  // sigprocmask(2), SIGPIPE, SIGKILL
#include <unistd.h>  // pipe2(2), dup2(2), execve(2), write(2)

#include <chrono>
#include <optional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "ctr/error.hpp"          // ctr::check, SyscallError
#include "ctr/fd.hpp"             // ctr::UniqueFd
#include "ctr/narrate.hpp"        // ctr::narrate
#include "ctr/process.hpp"        // ctr::ChildProcess, ctr::pidfd_open
#include "runtime/hardening.hpp"  // ctr::close_fds_from

extern char** environ;  // environ(7): the runtime's environment, for a hook without env

namespace ctr {

namespace {

constexpr size_t kKeptOutput = 4096;

std::vector<char*> c_strings(const std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (const auto& s : strings) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

// The hook's process: its namespaces, its stdio, nothing else of ours, then exec. Any
// failure is written to its stdout (which we collect) and ends it with 127.
[[noreturn]] void hook_child(const mycontainer::Hook& hook, const HookNamespaces& ns, int in,
                             int out) {
  try {
    check(::dup2(in, 0), "dup2", "stdin");
    check(::dup2(out, 1), "dup2", "stdout");
    check(::dup2(out, 2), "dup2", "stderr");
    // No descriptor of the runtime reaches the hook (it may be the engine's, not ours to
    // trust; and a leaked directory is a way out of any later chroot: CVE-2024-21626).
    // But the pidfd we join the container through (closed once joined).
    close_fds_from(3, ns.pidfd >= 0 ? std::vector<int>{ns.pidfd} : std::vector<int>{});
    const auto argv_strings = hook.args.empty() ? std::vector<std::string>{hook.path} : hook.args;
    auto argv = c_strings(argv_strings);
    auto envp = c_strings(hook.env);
    char** env = hook.env.empty() ? environ : envp.data();
    if (ns.pidfd < 0) {
      ::execve(hook.path.c_str(), argv.data(), env);
      throw SyscallError(errno, "execve", hook.path);
    }
    // createContainer: "path MUST resolve in the runtime namespace" (config.md): open it
    // before joining, run the open file after (execveat(2) AT_EMPTY_PATH). Not close-on-exec:
    // a script's interpreter reads it through /proc/self/fd/N.
    UniqueFd program;
    if (!ns.path_inside) {
      program.reset(check(::open(hook.path.c_str(), O_PATH), "open", hook.path));
    }
    check(::setns(ns.pidfd, ns.ns_flags & ~CLONE_NEWPID), "setns", "the container's namespaces");
    ::close(ns.pidfd);
    if (ns.path_inside) {
      ::execve(hook.path.c_str(), argv.data(), env);
    } else {
      ::execveat(program.get(), "", argv.data(), env, AT_EMPTY_PATH);
    }
    throw SyscallError(errno, "execve", hook.path);
  } catch (const std::exception& e) {
    const std::string line = fmt::format("{}\n", e.what());
    (void)!::write(1, line.data(), line.size());
  }
  ::_exit(127);
}

// Writes all of text to fd, a pipe the hook may never read or may close early: SIGPIPE is
// held back meanwhile (and the pending one discarded), EPIPE just ends the writing.
void feed(int fd, const std::string& text) {
  sigset_t pipe_only, old;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  ::pthread_sigmask(SIG_BLOCK, &pipe_only, &old);
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  const timespec zero{};
  while (::sigtimedwait(&pipe_only, nullptr, &zero) == SIGPIPE) {
  }
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

}  // namespace

HookOutcome supervise_hook(int output, pid_t pid, std::optional<int> timeout) {
  const UniqueFd exited = pidfd_open(pid);
  using Clock = std::chrono::steady_clock;
  const std::optional<Clock::time_point> deadline =
      timeout ? std::optional(Clock::now() + std::chrono::seconds(*timeout)) : std::nullopt;
  HookOutcome outcome;
  std::string& kept = outcome.output;
  bool output_open = true;
  const auto trim = [&] {
    if (kept.size() > kKeptOutput) kept.erase(0, kept.size() - kKeptOutput);
  };
  while (true) {
    if (!output_open && !exited) break;  // no pidfd (before 5.3): the caller's wait() does
    pollfd fds[2] = {{output, POLLIN, 0}, {exited.get(), POLLIN, 0}};
    int timeout_ms = -1;
    if (deadline) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - Clock::now());
      timeout_ms = static_cast<int>(std::max<long long>(0, left.count()));
    }
    // Once the output is closed (the hook ended, or closed it), only the pidfd matters.
    if (!output_open) fds[0].fd = -1;
    const int n = ::poll(fds, 2, timeout_ms);
    if (n < 0 && errno == EINTR) continue;
    check(n, "poll", "hook output");
    if (n == 0) {
      outcome.timed_out = true;
      ::kill(pid, SIGKILL);  // our child, not reaped yet: the pid cannot be anyone else's
      break;
    }
    if (fds[0].revents != 0) {
      char buffer[4096];
      const ssize_t got = ::read(output, buffer, sizeof buffer);
      if (got <= 0) {
        output_open = false;
      } else {
        kept.append(buffer, static_cast<size_t>(got));
        trim();
      }
    }
    if (fds[1].revents != 0 && !output_open) break;
    if (fds[1].revents != 0) {
      // Ended: what it wrote last is still in the pipe (unless a child of its own keeps the
      // pipe open: then do not wait for that).
      fcntl(output, F_SETFL, O_NONBLOCK);
      char buffer[4096];
      for (ssize_t got; (got = ::read(output, buffer, sizeof buffer)) > 0;) {
        kept.append(buffer, static_cast<size_t>(got));
      }
      trim();
      break;
    }
  }
  while (!kept.empty() && (kept.back() == '\n' || kept.back() == ' ')) kept.pop_back();
  return outcome;
}

void check_hook_outcome(const std::string& name, const HookOutcome& outcome,
                        const ExitStatus& status, std::optional<int> timeout) {
  const std::string said = outcome.output.empty() ? "" : ": " + printable(outcome.output);
  if (outcome.timed_out) {
    throw HookError(fmt::format("{}: did not finish within its timeout of {} s: killed{}", name,
                                timeout.value_or(0), said));
  }
  if (!status.exited || status.code != 0) {
    throw HookError(fmt::format("{}: {}{}", name, status.describe(), said));
  }
  narrate({.call = fmt::format("hook {}", name),
           .result = "exited with code 0",
           .shell = "",
           .man = "runtime-spec config.md (Hooks)"});
}

void feed_state(int fd, const std::string& state_json) {
  feed(fd, state_json);
}

void run_hook(const mycontainer::Hook& hook, const std::string& state_json,
              const std::string& where, const HookNamespaces& ns) {
  const std::string name = fmt::format("{} '{}'", where, hook.path);
  int in[2], out[2];
  check(::pipe2(in, O_CLOEXEC), "pipe2");
  UniqueFd in_read(in[0]), in_write(in[1]);
  check(::pipe2(out, O_CLOEXEC), "pipe2");
  UniqueFd out_read(out[0]), out_write(out[1]);

  ChildProcess child = ChildProcess::clone(
      0, [&]() -> int { hook_child(hook, ns, in_read.get(), out_write.get()); });
  in_read.reset();
  out_write.reset();
  narrate({.call = fmt::format("run hook {} (pid {})", name, child.pid()),
           .result = "started, the state on its stdin",
           .shell = fmt::format("echo \"$STATE\" | {}", hook.path),
           .man = "runtime-spec config.md (Hooks)"});
  // The state is a few hundred bytes: the pipe takes it all before the hook reads anything.
  feed(in_write.get(), state_json);
  in_write.reset();
  // Collect its output until it ends or its time is up.
  const HookOutcome outcome = supervise_hook(out_read.get(), child.pid(), hook.timeout);
  const ExitStatus status = child.wait();
  check_hook_outcome(name, outcome, status, hook.timeout);
}

std::string hook_state_json(const std::string& id, const std::string& status, pid_t pid,
                            const std::string& bundle,
                            const std::map<std::string, std::string>& annotations) {
  nlohmann::json state = {{"ociVersion", mycontainer::kOciVersion},
                          {"id", id},
                          {"status", status},
                          {"bundle", bundle},
                          {"annotations", annotations}};
  if (pid > 0) state["pid"] = pid;  // "REQUIRED when status is created or running"
  return state.dump();
}

void run_hooks(const std::vector<mycontainer::Hook>& hooks, const std::string& state_json,
               const std::string& kind, const HookNamespaces& ns) {
  for (size_t i = 0; i < hooks.size(); ++i) {
    run_hook(hooks[i], state_json, fmt::format("hooks.{}[{}]", kind, i), ns);
  }
}

}  // namespace ctr
