// Pseudo-terminals for `-t`: the container gets a terminal of its own (pty(7)).
//
// A pseudo-terminal is a pair of character devices. Whatever a program writes to the slave
// (/dev/pts/N) the other side reads from the master, and the other way round; in between the
// kernel's line discipline does what a terminal does: echo, line editing, ^C -> SIGINT to the
// foreground process group, window size -> SIGWINCH.
//
// Where the pair comes from matters. A container mounts its own devpts instance on /dev/pts
// (mount -t devpts -o newinstance,ptmxmode=0666; /dev/ptmx a symlink to pts/ptmx), so that
// it sees only its own terminals. A slave made from the host's /dev/ptmx would live in the
// host's instance and not exist inside. So, like runc's --console-socket:
//
//   container child (after its /dev is set up)          runtime (parent)
//   ------------------------------------------          ----------------
//   Pty pty = openpty();   // its own /dev/ptmx
//   handshake.send_fd(pty.master) -------------------> UniqueFd master = handshake.receive_fd();
//   make_controlling_terminal(pty.slave.get());         TerminalRelay relay(std::move(master));
//   wait_for_parent()  <------------------------------- release_child()  (size is set now)
//   exec the command (stdin/out/err are the slave)      relay.run(pidfd);  // until it ends
//
// The relay copies our window size onto the master when it is made, so releasing the child
// only after that lets the command start with the right size (`stty size`, full-screen apps).
//
// `-i` without `-t` needs none of this: the container inherits our stdin.
#pragma once

#include "ctr/handshake.hpp"  // ctr::send_fd, ctr::recv_fd

#include <chrono>      // std::chrono::milliseconds
#include <functional>  // std::function
#include <optional>    // std::optional
#include <string>      // std::string

#include "ctr/fd.hpp"

namespace ctr {

// A master and its slave, both close-on-exec.
struct Pty {
  UniqueFd master;
  UniqueFd slave;
  std::string slave_name;  // "/dev/pts/3", as this mount namespace's devpts numbers it
};

// Opens a new pseudo-terminal through this mount namespace's /dev/ptmx: posix_openpt(3),
// grantpt(3), unlockpt(3), ptsname_r(3), then the slave by ioctl(TIOCGPTPEER), which opens
// the very slave of this master even when /dev/pts is some other instance (ioctl_tty(2),
// Linux 4.13; falls back to open(ptsname) before). Neither end becomes our controlling tty.
Pty openpty();

// send_fd and recv_fd, which pass the master, are the handshake's (ctr/handshake.hpp).

// In the child: setsid(2) (a new session, no controlling terminal), ioctl(slave, TIOCSCTTY)
// (the slave becomes the session's controlling terminal, so ^C and job control reach the
// foreground group: credentials(7), ioctl_tty(2)), then dup2(2) it onto 0, 1 and 2. The
// caller still owns `slave` and may close it. Fails with EPERM if this process already leads
// a process group (setsid(2)): call it in a freshly cloned child.
void make_controlling_terminal(int slave);

struct WindowSize {
  unsigned short rows = 0;
  unsigned short cols = 0;
  bool operator==(const WindowSize&) const = default;
};
// ioctl(TIOCGWINSZ): the size of the terminal on fd, nullopt if fd is not a terminal.
std::optional<WindowSize> get_window_size(int fd);
// ioctl(TIOCSWINSZ): on a master this sets the slave's size, and the kernel sends SIGWINCH
// to the slave's foreground process group (ioctl_tty(2)). Throws SyscallError.
void set_window_size(int fd, WindowSize size);

// The runtime's side of `-t`: relays between the caller's terminal (in, out) and the master.
//
// When `in` is a terminal, the constructor puts it into raw mode (cfmakeraw(3)): keys go to
// the container unprocessed, so ^C becomes SIGINT inside, not for us; the container's own line
// discipline does the echo. The terminal is restored by the destructor, at exit(3), and by
// restore_terminal(), which a fatal-signal handler may call. The window size follows the
// caller's terminal: initially and on every SIGWINCH (a self-pipe wakes the loop).
//
// When `in` is not a terminal (a pipe, as in tests and CI), nothing is switched to raw mode;
// input is copied until EOF, then an end-of-file character (^D) is sent so that a program
// reading the terminal sees EOF, and output keeps being copied.
//
// One relay at a time per process (there is one terminal to restore).
class TerminalRelay {
 public:
  explicit TerminalRelay(UniqueFd master, int in = 0, int out = 1);
  ~TerminalRelay();
  TerminalRelay(const TerminalRelay&) = delete;
  TerminalRelay& operator=(const TerminalRelay&) = delete;

  // Copies in -> master and master -> out with poll(2) until the master reports EOF/EIO
  // (every slave descriptor closed: the container has ended). If exited_fd is given (a
  // pidfd_open(2) of the container's first process), it also returns once that process has
  // ended and the master has stayed quiet for a moment, in case something else keeps the
  // slave open. SIGPIPE is blocked while it runs: a closed `out` stops output, not us.
  // `tick`, if given, is called at least every kTickInterval and after every signal that
  // interrupts the wait: where the runtime escalates a forwarded SIGTERM to SIGKILL after
  // its grace period while the relay holds the loop.
  void run(int exited_fd = -1, const std::function<void()>& tick = {});
  static constexpr std::chrono::milliseconds kTickInterval{100};
  // Sets the container's window size explicitly (when `in` is not a terminal).
  void resize(WindowSize size);
  // True if the constructor switched `in` to raw mode.
  bool raw() const noexcept { return raw_; }
  int master() const noexcept { return master_.get(); }

  // Puts the terminal back as it was, if a relay changed it. Async-signal-safe: only
  // tcsetattr(3) (signal-safety(7)).
  static void restore_terminal() noexcept;

 private:
  void copy_window_size() noexcept;
  UniqueFd master_;
  int in_;
  int out_;
  bool raw_ = false;
  bool winch_installed_ = false;
  UniqueFd winch_read_;
  UniqueFd winch_write_;
};

}  // namespace ctr
