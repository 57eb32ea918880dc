#include "runtime/init.hpp"

#include "runtime/hardening.hpp"  // close_fds_from

#include <signal.h>     // sigprocmask(2), sigwaitinfo(2), kill(2)
#include <string.h>     // sigabbrev_np(3)
#include <sys/prctl.h>  // prctl(2), PR_SET_CHILD_SUBREAPER
#include <sys/wait.h>   // waitpid(2)
#include <termios.h>    // tcgetsid(3), tcsetpgrp(3)
#include <unistd.h>     // fork(2), setpgid(2), getsid(2), _exit(2)

#include <array>
#include <cstdio>

#include <fmt/format.h>

#include "ctr/error.hpp"
#include "ctr/exec.hpp"
#include "ctr/handshake.hpp"
#include "ctr/narrate.hpp"
#include "ctr/process.hpp"

namespace ctr {

namespace {

// Signals raised by our own faults stay unblocked: "If SIGBUS, SIGFPE, SIGILL, or SIGSEGV are
// generated while they are blocked, the result is undefined" (sigprocmask(2)). A bug in init
// should end it, not hang the container.
constexpr std::array kSynchronous{SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS, SIGABRT};

std::string signal_name(int sig) {
  const char* abbrev = ::sigabbrev_np(sig);
  return abbrev != nullptr ? fmt::format("SIG{}", abbrev) : std::to_string(sig);
}

[[noreturn]] void leave(int code) {
  std::fflush(nullptr);  // narration and messages are buffered stdio; _exit does not flush
  ::_exit(code);
}

// The command's side of the fork: ends in execve or _exit, never returns.
[[noreturn]] void start_command(const std::vector<std::string>& argv,
                                const std::vector<std::string>& env, bool take_terminal,
                                const sigset_t& original_mask, Handshake* handshake) {
  ::setpgid(0, 0);
  // tcsetpgrp from a background group raises SIGTTOU unless it is blocked; it still is.
  if (take_terminal) ::tcsetpgrp(STDIN_FILENO, ::getpid());
  ::sigprocmask(SIG_SETMASK, &original_mask, nullptr);
  int code = kExitRuntimeFailed;
  std::string message;
  try {
    execvpe(argv, env);  // returns only by throwing
  } catch (const SyscallError& e) {
    code = e.call() == "execve" ? exec_error_code(e.err()) : kExitRuntimeFailed;
    message = error_line(e);
  } catch (const std::exception& e) {
    message = error_line(e);
  }
  if (handshake != nullptr) {
    handshake->report_error({code, message});
  } else {
    std::fprintf(stderr, "init: %s\n", message.c_str());
  }
  leave(code);
}

}  // namespace

void run_init(const std::vector<std::string>& argv, const std::vector<std::string>& env,
              Handshake* handshake) {
  // Block everything first, before there is a child that could end or a signal to forward:
  // from here on, signals wait in the queue until sigwaitinfo takes them.
  sigset_t waited, original_mask;
  sigfillset(&waited);
  for (int sig : kSynchronous) sigdelset(&waited, sig);
  ::sigprocmask(SIG_BLOCK, &waited, &original_mask);

  if (::getpid() != 1) ::prctl(PR_SET_CHILD_SUBREAPER, 1);

  // Give the terminal to the command only if it is ours to give: we lead the session that
  // stdin is the controlling terminal of. (Otherwise it may be the terminal of the shell that
  // started the tests, and taking it would leave that shell in the background.)
  const pid_t self = ::getpid();
  const bool take_terminal =
      ::isatty(STDIN_FILENO) == 1 && ::getsid(0) == self && ::tcgetsid(STDIN_FILENO) == self;

  std::fflush(nullptr);  // else the child would flush our buffered output a second time
  // A plain fork(2), not ChildProcess::clone: the child ends in execve or _exit in
  // start_command, and init itself never returns, so nobody unwinds through these frames.
  const pid_t command = ::fork();
  if (command < 0) {
    const SyscallError e(errno, "fork");
    if (handshake != nullptr) {
      handshake->report_error({kExitRuntimeFailed, error_line(e)});
    } else {
      std::fprintf(stderr, "init: %s\n", e.what());
    }
    leave(kExitRuntimeFailed);
  }
  if (command == 0) start_command(argv, env, take_terminal, original_mask, handshake);

  // Both sides call setpgid, whichever runs first wins the race (the job-control idiom, see
  // setpgid(2) and the glibc manual's "Launching Jobs").
  ::setpgid(command, command);
  if (handshake != nullptr) handshake->close_child_end();
  // init is the runtime's binary and never execs, so close-on-exec never fires here: every
  // descriptor it still holds (the caller's, leaked to us; our own) would stay readable through
  // /proc/1/fd for a container with CAP_SYS_PTRACE. Only 0-2 stay (issue #17, item 4).
  close_fds_from(3);
  narrate({.call = fmt::format("fork() in init (pid {})", self),
           .result = fmt::format("command pid {}, process group {}", command, command),
           .shell = "tini -- COMMAND   (what docker run --init uses)",
           .man = "pid_namespaces(7), sigwaitinfo(2)"});

  while (true) {
    siginfo_t info{};
    const int sig = ::sigwaitinfo(&waited, &info);
    if (sig < 0) continue;  // EINTR: a signal outside the set, say SIGSTOP then SIGCONT of init

    if (sig != SIGCHLD) {
      // ESRCH is fine: the command has just ended, and its SIGCHLD is next in the queue.
      ::kill(command, sig);
      narrate({.call = fmt::format("kill({}, {})", command, signal_name(sig)),
               .result = fmt::format("forwarded from pid {}", info.si_pid),
               .shell = fmt::format("kill -{} {}", signal_name(sig).substr(3), command),
               .man = "kill(2)"});
      continue;
    }

    // SIGCHLD: one pending SIGCHLD may stand for many ended children (standard signals do not
    // queue: signal(7)), so reap until there is none left.
    int status = 0;
    pid_t pid;
    while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0) {
      if (pid == command) {
        const ExitStatus st = ExitStatus::from_wait_status(status);
        narrate({.call = fmt::format("waitpid(-1) in init -> pid {} (the command)", pid),
                 .result = fmt::format("{}; init exits {}", st.describe(), st.shell_code()),
                 .shell = "",
                 .man = "waitpid(2), pid_namespaces(7)"});
        // Reap what else has ended meanwhile; the kernel kills the rest when we exit.
        while (::waitpid(-1, &status, WNOHANG) > 0) {
        }
        leave(st.shell_code());
      }
      narrate({.call = fmt::format("waitpid(-1) in init -> pid {} (an orphan)", pid),
               .result = "reaped",
               .shell = "",
               .man = "waitpid(2), pid_namespaces(7)"});
    }
  }
}

}  // namespace ctr
