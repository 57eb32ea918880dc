// ctr pseudo-terminals: opening a pair, passing a descriptor over a unix socket, and the relay
// that connects a command on a terminal to the caller, here with pipes on the caller's side
// as in CI (and once with a pty playing the caller's terminal, to see raw mode and SIGWINCH).
// No container needed, except for the last test, which mounts its own devpts instance like a
// container does (root).
#include "runtime/pty.hpp"

#include <fcntl.h>        // pipe2(2), O_CLOEXEC
#include <poll.h>         // poll(2)
#include <sched.h>        // CLONE_NEWNS
#include <signal.h>       // kill(2), SIGWINCH
#include <sys/socket.h>   // socketpair(2)
#include <sys/syscall.h>  // SYS_pidfd_open
#include <termios.h>      // tcgetattr(3)
#include <unistd.h>       // read(2), write(2), isatty(3), ttyname(3)

#include <atomic>
#include <chrono>
#include <cstdlib>  // std::atoi
#include <cstring>  // strerror
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "ctr/error.hpp"
#include "ctr/exec.hpp"
#include "ctr/fd.hpp"
#include "ctr/mount.hpp"
#include "ctr/process.hpp"
#include "support.hpp"

namespace {

using ctr::UniqueFd;
using ctr::WindowSize;
using namespace std::chrono_literals;

struct Pipe {
  UniqueFd read;
  UniqueFd write;
  Pipe() {
    int fds[2];
    ctr::check(::pipe2(fds, O_CLOEXEC), "pipe2");
    read.reset(fds[0]);
    write.reset(fds[1]);
  }
};

// Reads a descriptor to EOF on a thread, so that whoever writes into it never blocks on a
// full pipe. wait_for() lets a test react to output as it arrives; destroying the collector
// stops it even if EOF never came (a failed test must not hang).
class Collector {
 public:
  explicit Collector(int fd)
      : thread_([this, fd] {
          char buf[4096];
          while (!stop_) {
            pollfd p{fd, POLLIN, 0};
            if (::poll(&p, 1, 20) <= 0) continue;
            const ssize_t n = ::read(fd, buf, sizeof buf);
            if (n == 0 || (n < 0 && errno != EINTR)) break;  // EOF, or EIO from a master
            if (n < 0) continue;
            std::lock_guard lock(mutex_);
            text_.append(buf, static_cast<size_t>(n));
          }
        }) {}
  ~Collector() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  // All output, once the writing end is closed everywhere.
  std::string finish() {
    if (thread_.joinable()) thread_.join();
    return text();
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

 private:
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::string text_;
  std::thread thread_;
};

// The environment the commands get: a PATH and a TERM of our own, to see it arrive.
std::vector<std::string> command_env() {
  return {"PATH=/usr/bin:/bin", "TERM=xterm-mc-test"};
}

// Starts argv in a child whose controlling terminal and stdin/stdout/stderr are `slave`.
ctr::ChildProcess start_on_terminal(int slave, std::vector<std::string> argv) {
  return ctr::ChildProcess::clone(0, [slave, argv = std::move(argv)]() -> int {
    ctr::make_controlling_terminal(slave);
    ctr::execvpe(argv, command_env());
  });
}

struct RelayResult {
  int status = -1;
  std::string out;
};

// Runs `script` with sh on a new pty of size `size`, relays with pipes on our side, and
// returns the exit status and everything relayed out. `input` is written, then our input is
// closed; if `after` is given, only once the output shows it (the command is ready for it).
RelayResult relay_script(const std::string& script, const std::string& input = {},
                         WindowSize size = {24, 80}, const std::string& after = {}) {
  ctr::Pty pty = ctr::openpty();
  ctr::set_window_size(pty.master.get(), size);  // before the command can ask
  auto child = start_on_terminal(pty.slave.get(), {"/bin/sh", "-c", script});
  pty.slave.reset();  // else the master never reports EIO: we would hold the slave open

  Pipe in, out;
  Collector collected(out.read.get());
  std::thread typist([&] {
    if (!after.empty()) collected.wait_for(after);
    (void)!::write(in.write.get(), input.data(), input.size());
    in.write.reset();
  });
  {
    ctr::TerminalRelay relay(std::move(pty.master), in.read.get(), out.write.get());
    EXPECT_FALSE(relay.raw());  // a pipe is not a terminal: nothing to switch
    relay.run();
  }
  typist.join();
  out.write.reset();
  RelayResult r;
  r.status = child.wait().shell_code();
  r.out = collected.finish();
  return r;
}

// ============================== openpty ==============================

TEST(OpenPty, GivesAMasterAndItsSlaveTerminal) {
  const ctr::Pty pty = ctr::openpty();
  ASSERT_TRUE(pty.master);
  ASSERT_TRUE(pty.slave);
  EXPECT_EQ(::isatty(pty.slave.get()), 1);
  EXPECT_EQ(pty.slave_name.rfind("/dev/pts/", 0), 0u) << pty.slave_name;
  EXPECT_EQ(std::string(::ttyname(pty.slave.get())), pty.slave_name);
  // Both ends are close-on-exec: a command we start inherits neither by accident.
  EXPECT_TRUE(::fcntl(pty.master.get(), F_GETFD) & FD_CLOEXEC);
  EXPECT_TRUE(::fcntl(pty.slave.get(), F_GETFD) & FD_CLOEXEC);

  // What goes into the slave comes out of the master (with \n -> \r\n: the line discipline).
  ASSERT_EQ(::write(pty.slave.get(), "hi\n", 3), 3);
  char buf[16] = {};
  const ssize_t n = ::read(pty.master.get(), buf, sizeof buf);
  EXPECT_EQ(std::string(buf, n > 0 ? static_cast<size_t>(n) : 0), "hi\r\n");
}

TEST(OpenPty, WindowSizeSetOnTheMasterIsTheSlaves) {
  const ctr::Pty pty = ctr::openpty();
  ctr::set_window_size(pty.master.get(), {33, 101});
  EXPECT_EQ(ctr::get_window_size(pty.slave.get()), (WindowSize{33, 101}));
  Pipe not_a_tty;
  EXPECT_EQ(ctr::get_window_size(not_a_tty.read.get()), std::nullopt);
}

// ============================== passing descriptors ==============================

void expect_fd_passes(int type) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv), 0);
  UniqueFd a(sv[0]), b(sv[1]);
  Pipe pipe;
  ctr::send_fd(a.get(), pipe.write.get());
  pipe.write.reset();  // the only write end left is the one in flight
  UniqueFd received = ctr::recv_fd(b.get());
  ASSERT_TRUE(received);
  EXPECT_TRUE(::fcntl(received.get(), F_GETFD) & FD_CLOEXEC);
  ASSERT_EQ(::write(received.get(), "x", 1), 1);
  received.reset();
  char c = 0;
  EXPECT_EQ(::read(pipe.read.get(), &c, 1), 1);
  EXPECT_EQ(c, 'x');
  EXPECT_EQ(::read(pipe.read.get(), &c, 1), 0);  // received was the same open file: now EOF

  a.reset();  // the peer goes away without sending anything
  EXPECT_FALSE(ctr::recv_fd(b.get()));
}

TEST(SendFd, PassesADescriptorOverAStreamSocket) {
  expect_fd_passes(SOCK_STREAM);
}

TEST(SendFd, PassesADescriptorOverASeqpacketSocket) {
  expect_fd_passes(SOCK_SEQPACKET);
}

TEST(SendFd, RefusesAMessageWithoutADescriptor) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  UniqueFd a(sv[0]), b(sv[1]);
  ASSERT_EQ(::write(a.get(), "F", 1), 1);
  EXPECT_THROW(ctr::recv_fd(b.get()), std::runtime_error);
}

// ============================== the relay ==============================

TEST(TerminalRelay, CommandSeesATerminalItsSizeAndTerm) {
  const auto r =
      relay_script("tty; stty size; echo \"TERM=$TERM\"; test -t 0 && echo stdin-is-a-tty; exit 3",
                   "", {33, 101});
  EXPECT_EQ(r.status, 3) << r.out;
  EXPECT_NE(r.out.find("/dev/pts/"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("33 101\r\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("TERM=xterm-mc-test\r\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("stdin-is-a-tty"), std::string::npos) << r.out;
}

TEST(TerminalRelay, CommandHasTheTerminalAsItsControllingTerminal) {
  // /dev/tty opens only for a process that has a controlling terminal; ps shows it as TT.
  const auto r = relay_script("echo ok > /dev/tty && echo ctty-works; exit 0");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("ctty-works"), std::string::npos) << r.out;
}

TEST(TerminalRelay, InputReachesTheCommand) {
  const auto r = relay_script("read line; echo \"got:$line\"", "hello\n");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("got:hello\r\n"), std::string::npos) << r.out;
}

TEST(TerminalRelay, EndOfInputReachesAReaderAsEof) {
  // cat ends only when it reads EOF from the terminal: the ^D the relay sends at the end of a
  // piped input, twice here since the input does not end in a newline.
  const auto r = relay_script("cat; echo cat-done", "abc");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("cat-done"), std::string::npos) << r.out;
}

TEST(TerminalRelay, CtrlCOnTheTerminalInterruptsTheCommand) {
  // ^C (0x03) is not a signal on our side: it goes in as a byte, and the container's line
  // discipline turns it into SIGINT for its foreground process group.
  const auto r = relay_script("trap 'echo got-sigint; exit 7' INT; echo ready; read x; exit 1",
                              "\x03", {24, 80}, "ready");
  EXPECT_EQ(r.status, 7) << r.out;
  EXPECT_NE(r.out.find("got-sigint"), std::string::npos) << r.out;
}

TEST(TerminalRelay, ReturnsWhenTheProcessEndsEvenIfSomethingHoldsTheSlave) {
  ctr::Pty pty = ctr::openpty();
  // The background sleep keeps the slave open after sh is gone: no EIO for a while.
  auto child =
      start_on_terminal(pty.slave.get(), {"/bin/sh", "-c", "sleep 3 & echo bg=$!; exit 4"});
  pty.slave.reset();
  UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, child.pid(), 0)));
  ASSERT_TRUE(pidfd) << "pidfd_open: " << ::strerror(errno);
  Pipe in, out;
  in.write.reset();
  Collector collected(out.read.get());
  const auto start = std::chrono::steady_clock::now();
  {
    ctr::TerminalRelay relay(std::move(pty.master), in.read.get(), out.write.get());
    relay.run(pidfd.get());
  }
  const auto took = std::chrono::steady_clock::now() - start;
  out.write.reset();
  EXPECT_EQ(child.wait().shell_code(), 4);
  const std::string text = collected.finish();
  EXPECT_LT(took, 2500ms) << "the relay waited for the background process";
  const auto at = text.find("bg=");
  ASSERT_NE(at, std::string::npos) << text;
  const int bg = std::atoi(text.c_str() + at + 3);
  if (bg > 0) ::kill(bg, SIGKILL);
}

TEST(TerminalRelay, TicksWhileItWaitsSoTheRuntimeCanEscalate) {
  ctr::Pty pty = ctr::openpty();
  // A command that ignores SIGTERM and would run for 10 s: the tick kills it after a while,
  // as the runtime does after a forwarded SIGTERM's grace period.
  auto child = start_on_terminal(pty.slave.get(),
                                 {"/bin/sh", "-c", "trap '' TERM; echo ready; exec sleep 10"});
  pty.slave.reset();
  Pipe out;
  Collector collected(out.read.get());
  int ticks = 0;
  const auto start = std::chrono::steady_clock::now();
  {
    ctr::TerminalRelay relay(std::move(pty.master), -1, out.write.get());
    relay.run(-1, [&] {
      ++ticks;
      if (std::chrono::steady_clock::now() - start > 300ms) child.kill(SIGKILL);
    });
  }
  out.write.reset();
  EXPECT_EQ(child.wait().shell_code(), 128 + SIGKILL);
  EXPECT_GE(ticks, 2);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  EXPECT_NE(collected.finish().find("ready"), std::string::npos);
}

TEST(TerminalRelay, OnARealTerminalGoesRawFollowsTheWindowAndRestores) {
  // A second pty plays the user's terminal: its slave is the relay's stdin and stdout.
  ctr::Pty user = ctr::openpty();
  ctr::set_window_size(user.master.get(), {40, 120});
  termios before{};
  ASSERT_EQ(::tcgetattr(user.slave.get(), &before), 0);
  ASSERT_TRUE(before.c_lflag & ICANON);

  // The relay first, so that the pty has the user's window size before the command starts.
  ctr::Pty pty = ctr::openpty();
  std::optional<ctr::TerminalRelay> relay;
  relay.emplace(std::move(pty.master), user.slave.get(), user.slave.get());
  EXPECT_TRUE(relay->raw());
  auto child = start_on_terminal(
      pty.slave.get(), {"/bin/sh", "-c",
                        "trap 'stty size; exit 0' WINCH; stty size; echo ready; "
                        "i=0; while [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done; exit 9"});
  pty.slave.reset();

  Collector seen(user.master.get());  // what the user would see on the screen
  bool raw_while_running = false;
  std::thread user_side([&] {
    if (!seen.wait_for("ready")) return;
    termios during{};
    ::tcgetattr(user.slave.get(), &during);
    raw_while_running = (during.c_lflag & (ICANON | ECHO | ISIG)) == 0;
    // The user resizes the window: the terminal emulator sets the size and we get SIGWINCH.
    ctr::set_window_size(user.master.get(), {50, 132});
    ::kill(::getpid(), SIGWINCH);
  });
  relay->run();
  relay.reset();  // restores the user's terminal
  user_side.join();
  EXPECT_EQ(child.wait().shell_code(), 0);
  termios after{};
  ASSERT_EQ(::tcgetattr(user.slave.get(), &after), 0);
  EXPECT_EQ(after.c_lflag, before.c_lflag);
  EXPECT_EQ(after.c_iflag, before.c_iflag);
  EXPECT_EQ(after.c_oflag, before.c_oflag);
  EXPECT_TRUE(raw_while_running);
  ASSERT_TRUE(seen.wait_for("50 132"));
  user.slave.reset();  // now the collector sees EOF/EIO
  const std::string screen = seen.finish();
  EXPECT_NE(screen.find("40 120"), std::string::npos) << screen;  // the initial size
}

// ============================== the container's way ==============================

// The child opens the pty itself and sends the master over a socket (runc's console socket).
void console_socket_flow(bool own_devpts) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  UniqueFd parent_end(sv[0]), child_end(sv[1]);
  auto child = ctr::ChildProcess::clone(own_devpts ? CLONE_NEWNS : 0, [&]() -> int {
    parent_end.reset();
    if (own_devpts) {
      // What a container's /dev setup does: a devpts instance of its own, and /dev/ptmx
      // pointing into it (devpts.rst "multiple instances"; here a bind mount, in a private
      // mount namespace so the host's /dev is untouched).
      ctr::make_mounts_private();
      ctr::mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
                 "newinstance,ptmxmode=0666,mode=0620");
      ctr::bind_mount("/dev/pts/ptmx", "/dev/ptmx");
    }
    ctr::Pty pty = ctr::openpty();
    ctr::send_fd(child_end.get(), pty.master.get());
    pty.master.reset();  // the parent has it now
    child_end.reset();
    ctr::make_controlling_terminal(pty.slave.get());
    ctr::execvpe({"/bin/sh", "-c", "tty; ls -1 /dev/pts"}, command_env());
  });
  child_end.reset();
  UniqueFd master = ctr::recv_fd(parent_end.get());
  ASSERT_TRUE(master);
  Pipe in, out;
  in.write.reset();
  Collector collected(out.read.get());
  {
    ctr::TerminalRelay relay(std::move(master), in.read.get(), out.write.get());
    relay.run();
  }
  out.write.reset();
  EXPECT_EQ(child.wait().shell_code(), 0);
  const std::string text = collected.finish();
  EXPECT_NE(text.find("/dev/pts/"), std::string::npos) << text;
  if (own_devpts) {
    // A new instance numbers from 0 and holds nothing of the host's terminals.
    EXPECT_NE(text.find("/dev/pts/0\r\n"), std::string::npos) << text;
    EXPECT_NE(text.find("0\r\nptmx\r\n"), std::string::npos) << text;
  }
}

TEST(ConsoleSocket, ChildOpensThePtyAndSendsTheMaster) {
  console_socket_flow(false);
}

TEST(ConsoleSocket, ChildOpensThePtyInItsOwnDevptsInstance) {
  MC_REQUIRE_ROOT();
  // Our mounts of /dev/pts and /dev/ptmx; the child's happen in its own mount namespace.
  const auto pts_mounts = [] {
    std::vector<std::string> out;
    for (const auto& m : mc::test::HostSnapshot::take().mounts) {
      if (m == "/dev/pts" || m == "/dev/ptmx") out.push_back(m);
    }
    return out;
  };
  const auto before = pts_mounts();
  console_socket_flow(true);
  EXPECT_EQ(pts_mounts(), before);
}

}  // namespace
