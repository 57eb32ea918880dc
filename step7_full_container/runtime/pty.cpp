#include "runtime/pty.hpp"

#include <fcntl.h>       // open(2), fcntl(2), O_*
#include <poll.h>        // poll(2)
#include <signal.h>      // sigaction(2), pthread_sigmask(3), sigtimedwait(2)
#include <stdlib.h>      // posix_openpt(3), grantpt(3), unlockpt(3), ptsname_r(3)
#include <sys/ioctl.h>   // ioctl(2): TIOCSCTTY, TIOCGWINSZ, TIOCSWINSZ, TIOCGPTPEER
#include <sys/socket.h>  // sendmsg(2), recvmsg(2), SCM_RIGHTS
#include <termios.h>     // tcgetattr(3), tcsetattr(3), cfmakeraw(3)
#include <unistd.h>      // setsid(2), dup2(2), read(2), write(2), isatty(3)

#include <array>
#include <atomic>
#include <cstdlib>  // std::atexit
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

#include "ctr/error.hpp"
#include "ctr/narrate.hpp"

namespace ctr {

// === Opening a pseudo-terminal =================================================================

Pty openpty() {
  Pty pty;
  // O_NOCTTY: opening a terminal must not make it our controlling terminal by accident; a
  // session leader without one would otherwise acquire it (credentials(7)).
  pty.master.reset(
      check(::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC), "posix_openpt", "/dev/ptmx"));
  // grantpt is a no-op with devpts (the slave is born with our uid and the tty group) but
  // POSIX requires it before unlockpt; unlockpt clears the lock that keeps the slave closed.
  check(::grantpt(pty.master.get()), "grantpt");
  check(::unlockpt(pty.master.get()), "unlockpt");
  std::array<char, 64> name{};
  check_neg_errno(-::ptsname_r(pty.master.get(), name.data(), name.size()), "ptsname_r");
  pty.slave_name = name.data();
  // TIOCGPTPEER opens the slave through the master itself, so it is the right slave even if
  // the path /dev/pts/N would resolve in another devpts instance (ioctl_tty(2), Linux 4.13).
  const int slave = ::ioctl(pty.master.get(), TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (slave >= 0) {
    pty.slave.reset(slave);
  } else if (errno == EINVAL || errno == ENOTTY) {  // an older kernel: open it by name
    pty.slave.reset(check(::open(name.data(), O_RDWR | O_NOCTTY | O_CLOEXEC), "open", name.data()));
  } else {
    throw SyscallError(errno, "ioctl(TIOCGPTPEER)", name.data());
  }
  narrate({.call = "posix_openpt(O_RDWR|O_NOCTTY); grantpt; unlockpt; ioctl(TIOCGPTPEER)",
           .result = fmt::format("master fd {}, slave fd {} ({})", pty.master.get(),
                                 pty.slave.get(), pty.slave_name),
           .shell = "(script(1) and ssh(1) do this for each session)",
           .man = "pty(7), posix_openpt(3), ioctl_tty(2)"});
  return pty;
}

// === The child's terminal =====================================================================

void make_controlling_terminal(int slave) {
  check(::setsid(), "setsid");
  // The argument 0: do not steal the terminal from another session (ioctl_tty(2)).
  check(::ioctl(slave, TIOCSCTTY, 0), "ioctl(TIOCSCTTY)");
  for (int target : {STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO}) {
    if (slave != target) check(::dup2(slave, target), "dup2", std::to_string(target));
  }
  narrate({.call = fmt::format("setsid(); ioctl({0}, TIOCSCTTY, 0); dup2({0}, 0/1/2)", slave),
           .result = "ok",
           .shell = "setsid --ctty (with the terminal as stdin)",
           .man = "setsid(2), ioctl_tty(2), credentials(7)"});
}

std::optional<WindowSize> get_window_size(int fd) {
  winsize ws{};
  if (::ioctl(fd, TIOCGWINSZ, &ws) != 0) return std::nullopt;
  return WindowSize{ws.ws_row, ws.ws_col};
}

void set_window_size(int fd, WindowSize size) {
  winsize ws{};
  ws.ws_row = size.rows;
  ws.ws_col = size.cols;
  check(::ioctl(fd, TIOCSWINSZ, &ws), "ioctl(TIOCSWINSZ)");
}

// === The relay ================================================================================

namespace {

// The terminal a relay switched to raw mode and how it was before. Globals, because a signal
// handler and an atexit(3) function must find them; g_raw_fd is set last and taken first.
std::atomic<int> g_raw_fd{-1};
termios g_saved_termios{};

// SIGWINCH: the handler writes one byte into a pipe that the relay's poll(2) watches (the
// "self-pipe trick"). A signalfd(2) would need SIGWINCH blocked, and a blocked mask is
// inherited by every process we start later.
std::atomic<int> g_winch_write_fd{-1};
struct sigaction g_previous_winch {};

void on_sigwinch(int) {
  const int saved = errno;  // write(2) is async-signal-safe, but it may change errno
  if (const int fd = g_winch_write_fd; fd >= 0) (void)!::write(fd, "w", 1);
  errno = saved;
}

constexpr int kQuietMs = 100;  // after the container's process ended: output still to come?
constexpr size_t kBufferSize = 16384;

// Writes everything, waiting when fd is non-blocking and full. False once it cannot (EPIPE).
bool write_all(int fd, const char* data, size_t len) {
  while (len > 0) {
    const ssize_t n = ::write(fd, data, len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      pollfd p{fd, POLLOUT, 0};
      ::poll(&p, 1, -1);
      continue;
    }
    if (n <= 0) return false;
    data += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

void TerminalRelay::restore_terminal() noexcept {
  const int fd = g_raw_fd.exchange(-1);
  if (fd >= 0) ::tcsetattr(fd, TCSANOW, &g_saved_termios);
}

TerminalRelay::TerminalRelay(UniqueFd master, int in, int out)
    : master_(std::move(master)), in_(in), out_(out) {
  // The master must never block the loop: the container may not read its input for a while.
  const int flags = check(::fcntl(master_.get(), F_GETFL), "fcntl(F_GETFL)");
  check(::fcntl(master_.get(), F_SETFL, flags | O_NONBLOCK), "fcntl(F_SETFL)", "O_NONBLOCK");
  if (in_ < 0 || ::isatty(in_) != 1) return;  // a pipe: no terminal to change or measure

  int fds[2];
  check(::pipe2(fds, O_CLOEXEC | O_NONBLOCK), "pipe2");
  winch_read_.reset(fds[0]);
  winch_write_.reset(fds[1]);
  termios saved{};
  check(::tcgetattr(in_, &saved), "tcgetattr");

  g_winch_write_fd = winch_write_.get();
  struct sigaction sa {};
  sa.sa_handler = on_sigwinch;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGWINCH, &sa, &g_previous_winch);
  winch_installed_ = true;

  termios raw = saved;
  ::cfmakeraw(&raw);  // no echo, no line editing, no ^C -> SIGINT, no \n -> \r\n on output
  g_saved_termios = saved;
  g_raw_fd = in_;
  static const bool registered = std::atexit([] { restore_terminal(); }) == 0;
  (void)registered;
  if (::tcsetattr(in_, TCSANOW, &raw) != 0) {
    const int err = errno;
    g_raw_fd = -1;
    ::sigaction(SIGWINCH, &g_previous_winch, nullptr);
    g_winch_write_fd = -1;
    throw SyscallError(err, "tcsetattr", "raw");
  }
  raw_ = true;
  narrate({.call = fmt::format("tcsetattr({}, TCSANOW, cfmakeraw)", in_),
           .result = "ok",
           .shell = "stty raw -echo",
           .man = "termios(3)"});
  copy_window_size();
}

TerminalRelay::~TerminalRelay() {
  if (raw_) restore_terminal();
  if (winch_installed_) {
    ::sigaction(SIGWINCH, &g_previous_winch, nullptr);
    g_winch_write_fd = -1;
  }
}

void TerminalRelay::copy_window_size() noexcept {
  if (in_ < 0) return;
  if (const auto size = get_window_size(in_)) {
    winsize ws{};
    ws.ws_row = size->rows;
    ws.ws_col = size->cols;
    ::ioctl(master_.get(), TIOCSWINSZ, &ws);
  }
}

void TerminalRelay::resize(WindowSize size) {
  set_window_size(master_.get(), size);
}

void TerminalRelay::run(int exited_fd, const std::function<void()>& tick) {
  // With SIGPIPE blocked, a write to a closed `out` fails with EPIPE instead of killing us
  // with the terminal still raw. Blocked only here: a mask is inherited by children.
  sigset_t pipe_set, old_mask;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  ::pthread_sigmask(SIG_BLOCK, &pipe_set, &old_mask);
  struct Unblock {
    sigset_t& set;
    sigset_t& old;
    ~Unblock() {
      if (sigismember(&old, SIGPIPE) == 0) {
        const timespec zero{};
        while (::sigtimedwait(&set, nullptr, &zero) > 0) {  // discard the SIGPIPE we caused
        }
      }
      ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
    }
  } unblock{pipe_set, old_mask};

  std::array<char, kBufferSize> buf{};
  std::string to_master;  // input read but not yet taken by the master
  bool in_open = in_ >= 0;
  bool out_open = true;
  bool exited = false;
  char last_input = '\n';
  int eof_resends = 0;  // see below: ^D again while the container stays quiet

  while (true) {
    enum { kIn, kMaster, kWinch, kExited, kCount };
    std::array<pollfd, kCount> fds{};
    fds[kIn] = {in_open && to_master.empty() ? in_ : -1, POLLIN, 0};
    fds[kMaster] = {master_.get(), static_cast<short>(POLLIN | (to_master.empty() ? 0 : POLLOUT)),
                    0};
    fds[kWinch] = {winch_read_ ? winch_read_.get() : -1, POLLIN, 0};
    fds[kExited] = {!exited ? exited_fd : -1, POLLIN, 0};
    const bool input_ended = !in_open && in_ >= 0 && !raw_;
    const int timeout = exited || input_ended ? kQuietMs
                        : tick                ? static_cast<int>(kTickInterval.count())
                                              : -1;
    const int ready = ::poll(fds.data(), fds.size(), timeout);
    if (ready < 0 && errno == EINTR) {  // a forwarded signal: poll(2) is never restarted
      if (tick) tick();
      continue;
    }
    check(ready, "poll");
    if (tick) tick();
    if (ready == 0 && exited) return;  // the process ended and the master stayed quiet
    if (ready == 0 && input_ended && eof_resends < 50) {
      // The piped input is over and the container is quiet: say EOF again. A ^D sent while
      // the program was still starting can be lost when it then switches the terminal's mode
      // (a shell's line editor does); one more at an empty prompt ends it the same way.
      ++eof_resends;
      termios t{};
      if (::tcgetattr(master_.get(), &t) == 0) to_master += static_cast<char>(t.c_cc[VEOF]);
      continue;
    }
    if (ready == 0) continue;

    // Output first: it is what the user waits for, and it tells us when the container ended.
    if (fds[kMaster].revents & (POLLIN | POLLHUP | POLLERR)) {
      const ssize_t n = ::read(master_.get(), buf.data(), buf.size());
      if (n > 0) {
        if (out_open) out_open = write_all(out_, buf.data(), static_cast<size_t>(n));
      } else if (n == 0 || (errno != EINTR && errno != EAGAIN) ||
                 (fds[kMaster].revents & POLLHUP)) {
        // EIO: no slave descriptor is left open anywhere, the container is gone; or it hung
        // up with nothing left to read.
        return;
      }
    }
    if ((fds[kMaster].revents & POLLOUT) && !to_master.empty()) {
      const ssize_t n = ::write(master_.get(), to_master.data(), to_master.size());
      if (n > 0) to_master.erase(0, static_cast<size_t>(n));
      if (n < 0 && errno != EINTR && errno != EAGAIN) to_master.clear();
    }
    if (fds[kIn].revents & (POLLIN | POLLHUP | POLLERR)) {
      const ssize_t n = ::read(in_, buf.data(), buf.size());
      if (n > 0) {
        to_master.append(buf.data(), static_cast<size_t>(n));
        last_input = buf[static_cast<size_t>(n) - 1];
      } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        in_open = false;
        // Input from a pipe ended: tell a reader inside with the terminal's EOF character
        // (^D), as if typed. In canonical mode a first ^D only ends a partial line, so a
        // second one follows it then (termios(3), VEOF). A raw terminal hung up: nothing to say.
        termios t{};
        if (!raw_ && ::tcgetattr(master_.get(), &t) == 0 && (t.c_lflag & ICANON)) {
          if (last_input != '\n') to_master += static_cast<char>(t.c_cc[VEOF]);
          to_master += static_cast<char>(t.c_cc[VEOF]);
        }
      }
    }
    if (fds[kWinch].revents & POLLIN) {
      while (::read(winch_read_.get(), buf.data(), buf.size()) > 0) {
      }
      copy_window_size();
    }
    if (fds[kExited].revents & (POLLIN | POLLHUP | POLLERR)) exited = true;
  }
}

}  // namespace ctr
