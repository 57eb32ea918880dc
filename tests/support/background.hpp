// A program started in the background, for tests that act on a runtime while it runs: send it
// signals, look at the host from outside, then collect its exit status and output. Also a
// polling helper, so that tests wait for a condition instead of sleeping a fixed time.
//
// Header-only: tests/CMakeLists.txt builds support/support.cpp and support/steps.cpp into
// mc_test_support, and the suites that need this include it.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support.hpp"

namespace mc::test {

// Calls pred every `every` until it returns true or `timeout` has passed; returns its last
// answer. A noisy two-core machine is slow at times: give generous timeouts.
inline bool wait_until(const std::function<bool()>& pred,
                       std::chrono::milliseconds timeout = std::chrono::seconds(20),
                       std::chrono::milliseconds every = std::chrono::milliseconds(20)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (pred()) return true;
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(every);
  }
}

inline double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// One program running in the background, in its own process group. Its stdout and stderr are
// collected by a thread; stdin gets options.input and is then closed (or, with stdio_fd >= 0,
// all three are that descriptor: a terminal, say). The destructor kills what still runs.
class Background {
 public:
  explicit Background(const std::vector<std::string>& argv, const RunOptions& options = {},
                      int stdio_fd = -1) {
    int out[2], err[2], in[2];
    if (::pipe2(out, O_CLOEXEC) || ::pipe2(err, O_CLOEXEC) || ::pipe2(in, O_CLOEXEC)) {
      throw std::runtime_error("pipe2 failed");
    }
    std::vector<char*> args;
    args.reserve(argv.size() + 1);
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      if (stdio_fd >= 0) {
        ::setsid();  // so that the terminal can become the session's controlling terminal
        ::dup2(stdio_fd, 0);
        ::dup2(stdio_fd, 1);
        ::dup2(stdio_fd, 2);
      } else {
        ::setpgid(0, 0);
        ::dup2(in[0], 0);
        ::dup2(out[1], 1);
        ::dup2(err[1], 2);
      }
      for (const auto& kv : options.env) ::putenv(const_cast<char*>(kv.c_str()));
      ::execv(args[0], args.data());
      ::_exit(127);
    }
    ::close(out[1]);
    ::close(err[1]);
    ::close(in[0]);
    if (!options.input.empty()) {
      (void)!::write(in[1], options.input.data(), options.input.size());
    }
    ::close(in[1]);
    out_fd_ = out[0];
    err_fd_ = err[0];
    started_ = std::chrono::steady_clock::now();
    reader_ = std::thread([this] { read_loop(); });
  }

  ~Background() {
    if (!reaped_) {
      ::kill(-pid_, SIGKILL);
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
    stop_reading_ = true;
    if (reader_.joinable()) reader_.join();
    ::close(out_fd_);
    ::close(err_fd_);
  }
  Background(const Background&) = delete;
  Background& operator=(const Background&) = delete;

  pid_t pid() const { return pid_; }
  std::chrono::steady_clock::time_point started() const { return started_; }

  // kill(2) to the program itself (not its group).
  void signal(int sig) const { ::kill(pid_, sig); }

  // True while it has not ended.
  bool running() {
    if (reaped_) return false;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      reaped_ = true;
      status_ = status;
      ended_ = std::chrono::steady_clock::now();
      return false;
    }
    return true;
  }

  // What it has written so far.
  std::string out() {
    std::lock_guard lock(mutex_);
    return result_.out;
  }
  std::string err() {
    std::lock_guard lock(mutex_);
    return result_.err;
  }

  // Waits for it to end (SIGKILL to its group after `timeout`), then for its output.
  RunResult wait(std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
    const bool ended =
        wait_until([this] { return !running(); }, timeout, std::chrono::milliseconds(5));
    RunResult r;
    if (!ended) {
      r.timed_out = true;
      ::kill(-pid_, SIGKILL);
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
      reaped_ = true;
      status_ = status;
      ended_ = std::chrono::steady_clock::now();
    }
    // The output pipes close when the last process holding them ends; a grandchild that
    // outlived the program (a bug this suite looks for) must not hang the test.
    wait_until([this] { return reader_done_.load(); }, std::chrono::seconds(5),
               std::chrono::milliseconds(5));
    stop_reading_ = true;
    if (reader_.joinable()) reader_.join();
    std::lock_guard lock(mutex_);
    r.out = result_.out;
    r.err = result_.err;
    r.status = WIFEXITED(status_) ? WEXITSTATUS(status_) : 128 + WTERMSIG(status_);
    return r;
  }

  // When it ended (valid after wait()).
  std::chrono::steady_clock::time_point ended() const { return ended_; }

 private:
  void read_loop() {
    ::fcntl(out_fd_, F_SETFL, O_NONBLOCK);
    ::fcntl(err_fd_, F_SETFL, O_NONBLOCK);
    bool out_open = true, err_open = true;
    while ((out_open || err_open) && !stop_reading_) {
      pollfd fds[2] = {{out_open ? out_fd_ : -1, POLLIN, 0}, {err_open ? err_fd_ : -1, POLLIN, 0}};
      ::poll(fds, 2, 50);
      if (fds[0].revents && !drain(out_fd_, &RunResult::out)) out_open = false;
      if (fds[1].revents && !drain(err_fd_, &RunResult::err)) err_open = false;
    }
    reader_done_ = true;
  }
  // Reads what is there; false at end of file.
  bool drain(int fd, std::string RunResult::*field) {
    char buf[4096];
    while (true) {
      const ssize_t n = ::read(fd, buf, sizeof buf);
      if (n > 0) {
        std::lock_guard lock(mutex_);
        (result_.*field).append(buf, static_cast<size_t>(n));
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) return true;
      return false;  // 0: EOF; other errors: give up on this pipe
    }
  }

  pid_t pid_ = -1;
  int out_fd_ = -1, err_fd_ = -1;
  bool reaped_ = false;
  int status_ = 0;
  std::chrono::steady_clock::time_point started_, ended_;
  std::mutex mutex_;
  RunResult result_;
  std::thread reader_;
  std::atomic<bool> stop_reading_{false};
  std::atomic<bool> reader_done_{false};
};

}  // namespace mc::test
