// mycontainer-monitor: the small process that keeps one detached container (`run -d`), as
// conmon keeps a podman container and containerd-shim a containerd one.
//
// Why a runtime needs one: the container's first process needs a parent. The parent reaps it
// (wait(2)) and is the only one that learns its exit status; its stdout and stderr are
// pipes, and somebody must read them, or the container blocks once a pipe is full (64 KiB,
// pipe(7)). `run` in the foreground is that parent; `run -d` returns at once, so it leaves
// one small process behind to be it: this one. It
//
//   1. becomes a session leader (setsid(2)), so the caller's terminal and its ^C are not its,
//      and a subreaper (prctl(2) PR_SET_CHILD_SUBREAPER), so what the container leaves behind
//      is reparented to it, not to the host's init;
//   2. runs `mycontainer create --bundle DIR ID` with stdout and stderr on two pipes it reads:
//      create clones the container's first process with CLONE_PARENT, so that process is the
//      monitor's child, as under conmon. It tells the caller (`run -d`) through --sync-fd:
//      "0 PID" once the container waits for `start`, or create's exit code;
//   3. copies what comes down the pipes into DIR/container.log, in the CRI log format that
//      conmon writes for Kubernetes: "2026-12-07T04:05:06.123456789Z stdout F the line";
//   4. reaps every child; when the container's first process ends, it reads what is left in
//      the pipes and becomes (execv(2)) `mycontainer monitor-exit ID CODE`, which records the
//      exit code and time and removes what the container had. The exec keeps this process
//      small while the container runs: the big program is only loaded for the teardown.
//
// It is a program of its own, not a mode of `mycontainer`: that one is a static PIE with the
// whole runtime (CLI11, JSON, fmt, libstdc++) and costs a few MiB of RSS per copy, this one
// uses libc only (no iostreams, no allocation but libc's own) and stays under 1 MiB per
// container. Measure it: grep VmRSS /proc/$(pgrep -f mycontainer-monitor)/status.
//
// While it lives it holds a lock on one byte of a lock file (--lock FILE BYTE: one of
// RECORDS/monitors.lock.0 to .15, the one the byte chooses): `ps` asks the kernel whether that
// byte is locked to know the monitor is alive, one system call instead of reading
// /proc/PID/stat (runtime/monitor_lock.hpp says why that is safe, and why 16 files).
//
//   mycontainer-monitor --sync-fd N --lock FILE BYTE MYCONTAINER STATE_ROOT DIR ID
#include <errno.h>
#include <fcntl.h>         // open(2)
#include <poll.h>          // poll(2)
#include <signal.h>        // sigprocmask(2)
#include <stdlib.h>        // strtol(3)
#include <string.h>        // strlen(3), memchr(3)
#include <sys/prctl.h>     // prctl(2) PR_SET_CHILD_SUBREAPER
#include <sys/signalfd.h>  // signalfd(2)
#include <sys/wait.h>      // waitpid(2)
#include <time.h>          // clock_gettime(2)
#include <unistd.h>        // fork(2), execv(2), pipe2(2)

namespace {

constexpr size_t kLineMax = 16384;  // a longer line is written in pieces, tagged P (partial)

int g_log = -1;  // DIR/container.log, O_APPEND

// No printf(3) and no gmtime(3) in here: with them, static glibc brings its whole stdio and
// locale machinery (about 500 KiB of code) into the program, and into every monitor's RSS.
// Appends n in decimal, at least `width` digits (zero-padded).
char* put_number(char* out, unsigned long long n, int width) {
  char digits[24];
  int i = 0;
  do {
    digits[i++] = static_cast<char>('0' + n % 10);
    n /= 10;
  } while (n > 0);
  while (i < width) digits[i++] = '0';
  while (i > 0) *out++ = digits[--i];
  return out;
}
char* put_text(char* out, const char* text) {
  while (*text != '\0') *out++ = *text++;
  return out;
}
// "2026-12-07T04:05:06.123456789Z": days since 1970 to a civil date (Howard Hinnant's
// days_from_civil, inverted: http://howardhinnant.github.io/date_algorithms.html).
char* put_time(char* out, const timespec& ts) {
  const long long secs = ts.tv_sec;
  long long z = secs / 86400 + 719468;
  const long long era = z / 146097;
  const long long doe = z - era * 146097;
  const long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const long long mp = (5 * doy + 2) / 153;
  const long long day = doy - (153 * mp + 2) / 5 + 1;
  const long long month = mp < 10 ? mp + 3 : mp - 9;
  const long long year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  const long long sod = secs % 86400;
  out = put_number(out, static_cast<unsigned long long>(year), 4);
  *out++ = '-';
  out = put_number(out, static_cast<unsigned long long>(month), 2);
  *out++ = '-';
  out = put_number(out, static_cast<unsigned long long>(day), 2);
  *out++ = 'T';
  out = put_number(out, static_cast<unsigned long long>(sod / 3600), 2);
  *out++ = ':';
  out = put_number(out, static_cast<unsigned long long>(sod / 60 % 60), 2);
  *out++ = ':';
  out = put_number(out, static_cast<unsigned long long>(sod % 60), 2);
  *out++ = '.';
  out = put_number(out, static_cast<unsigned long long>(ts.tv_nsec), 9);
  *out++ = 'Z';
  return out;
}

void write_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;  // a full disk: the line is lost, the container goes on
    p += w;
    n -= static_cast<size_t>(w);
  }
}

// One log record: "TIME STREAM TAG TEXT\n", TAG F (full line) or P (partial: continues).
void log_record(const char* stream, const char* text, size_t n, bool full) {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  // One write(2) per record, so that `logs -f` never reads half a header.
  static char buf[96 + kLineMax + 1];
  char* p = put_time(buf, ts);
  *p++ = ' ';
  p = put_text(p, stream);
  *p++ = ' ';
  *p++ = full ? 'F' : 'P';
  *p++ = ' ';
  ::memcpy(p, text, n);
  p += n;
  *p++ = '\n';
  write_all(g_log, buf, static_cast<size_t>(p - buf));
}

// One of the container's output pipes, with the part of a line not yet ended.
struct Stream {
  const char* name;
  int fd;
  char pending[kLineMax];
  size_t used;
};

// Reads what the pipe has; writes each complete line. false at end of file.
bool pump(Stream& s) {
  const ssize_t n = ::read(s.fd, s.pending + s.used, kLineMax - s.used);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return true;
  if (n <= 0) {
    if (s.used > 0) log_record(s.name, s.pending, s.used, true);  // the last, unended line
    s.used = 0;
    return false;
  }
  s.used += static_cast<size_t>(n);
  size_t start = 0;
  for (;;) {
    const char* nl = static_cast<const char*>(::memchr(s.pending + start, '\n', s.used - start));
    if (nl == nullptr) break;
    const size_t len = static_cast<size_t>(nl - (s.pending + start));
    log_record(s.name, s.pending + start, len, true);
    start += len + 1;
  }
  ::memmove(s.pending, s.pending + start, s.used - start);
  s.used -= start;
  if (s.used == kLineMax) {  // no newline in 16 KiB: write it as a partial line
    log_record(s.name, s.pending, s.used, false);
    s.used = 0;
  }
  return true;
}

Stream g_out{"stdout", -1, {}, 0};
Stream g_err{"stderr", -1, {}, 0};

// Exit status as a shell reports it: the code, or 128+N for signal N.
int shell_code(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 255;
}

void say(int fd, const char* text) {
  write_all(fd, text, ::strlen(text));
}

}  // namespace

// Takes the lock that says "this monitor is alive" (runtime/monitor_lock.hpp): an open file
// description lock (fcntl(2) F_OFD_SETLK), which the kernel drops when this process ends,
// however it ends. The descriptor is close-on-exec: the container's processes, which we fork,
// never hold it. Without it (an old file system, no such file) ps takes the long way.
void hold_monitor_lock(const char* file, const char* byte) {
  const int fd = ::open(file, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  struct flock lock {};
  lock.l_type = F_RDLCK;
  lock.l_whence = SEEK_SET;
  lock.l_start = static_cast<off_t>(::strtoll(byte, nullptr, 10));
  lock.l_len = 1;
  if (::fcntl(fd, F_OFD_SETLK, &lock) != 0) ::close(fd);
  // Kept open (never closed by us) until we end.
}

int main(int argc, char** argv) {
  if (argc != 10 || ::strcmp(argv[1], "--sync-fd") != 0 || ::strcmp(argv[3], "--lock") != 0) {
    say(2,
        "usage: mycontainer-monitor --sync-fd N --lock FILE BYTE MYCONTAINER STATE_ROOT DIR "
        "ID\n");
    return 2;
  }
  const int sync_fd = static_cast<int>(::strtol(argv[2], nullptr, 10));
  const char* mycontainer = argv[6];
  const char* state_root = argv[7];
  const char* dir = argv[8];
  const char* id = argv[9];
  hold_monitor_lock(argv[4], argv[5]);

  // 1. Our own session; every orphan of the container ours to reap.
  ::setsid();
  ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
  // SIGCHLD arrives as a readable descriptor, in the same poll(2) as the pipes; the signals
  // a terminal or a careless `kill` would send do not end us (only SIGKILL does).
  sigset_t mask;
  ::sigemptyset(&mask);
  ::sigaddset(&mask, SIGCHLD);
  ::sigprocmask(SIG_BLOCK, &mask, nullptr);
  const int sigfd = ::signalfd(-1, &mask, SFD_CLOEXEC);
  ::signal(SIGINT, SIG_IGN);
  ::signal(SIGHUP, SIG_IGN);
  ::signal(SIGTERM, SIG_IGN);
  ::signal(SIGPIPE, SIG_IGN);

  char path[4096], log_path[4096], pid_path[4096];
  if (::strlen(dir) > 4000) return 2;
  *put_text(put_text(path, dir), "/container.log") = '\0';
  *put_text(put_text(log_path, dir), "/runtime.log") = '\0';
  *put_text(put_text(pid_path, dir), "/pid") = '\0';
  g_log = ::open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  int out[2], err[2];
  if (g_log < 0 || sigfd < 0 || ::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) {
    say(sync_fd, "125 the monitor could not open its log or pipes\n");
    return 125;
  }

  // 2. `mycontainer --root STATE_ROOT --log DIR/runtime.log create --bundle DIR --pid-file
  // DIR/pid ID`, its output (and so the container's) on our pipes.
  const pid_t create = ::fork();
  if (create == 0) {
    const int null = ::open("/dev/null", O_RDONLY);
    ::dup2(null, 0);
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    ::sigprocmask(SIG_UNBLOCK, &mask, nullptr);
    // run -d --explain: create narrates into its log (--debug), which run -d shows.
    const char* debug = ::getenv("MC_MONITOR_DEBUG") != nullptr ? "--debug" : "--log-format=text";
    const char* args[] = {mycontainer, "--root", state_root,   "--log",  log_path, debug,  "create",
                          "--bundle",  dir,      "--pid-file", pid_path, id,       nullptr};
    ::execv(mycontainer, const_cast<char* const*>(args));
    ::_exit(127);
  }
  ::close(out[1]);
  ::close(err[1]);
  g_out.fd = out[0];
  g_err.fd = err[0];
  int status = 0;
  while (::waitpid(create, &status, 0) < 0 && errno == EINTR) {
  }
  pid_t container = 0;
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
    char buf[32] = {};
    const int fd = ::open(pid_path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      (void)::read(fd, buf, sizeof buf - 1);
      ::close(fd);
    }
    container = static_cast<pid_t>(::strtol(buf, nullptr, 10));
  }
  char line[64];
  char* end = put_number(line, static_cast<unsigned>(container > 0 ? 0 : shell_code(status)), 1);
  *end++ = ' ';
  end = put_number(end, static_cast<unsigned>(container > 0 ? container : 0), 1);
  *end++ = '\n';
  *end = '\0';
  say(sync_fd, line);
  ::close(sync_fd);
  if (container <= 0) {
    while (pump(g_err)) {
    }
    return 0;  // create failed and removed what it made; `run -d` reports it
  }

  // 3. and 4. Copy the output until the container's first process has ended.
  int code = -1;
  bool out_open = true, err_open = true;
  for (;;) {
    pollfd p[3] = {{sigfd, POLLIN, 0},
                   {out_open ? g_out.fd : -1, POLLIN, 0},
                   {err_open ? g_err.fd : -1, POLLIN, 0}};
    // Once the container ended, what is still in the pipes is read until EOF or a quiet
    // second (a process it left could hold them open).
    const int n = ::poll(p, 3, code >= 0 ? 1000 : -1);
    if (n < 0 && errno != EINTR) break;
    if (n == 0) break;
    if ((p[1].revents & (POLLIN | POLLHUP)) != 0) out_open = pump(g_out);
    if ((p[2].revents & (POLLIN | POLLHUP)) != 0) err_open = pump(g_err);
    if ((p[0].revents & POLLIN) != 0) {
      signalfd_siginfo info;
      (void)::read(sigfd, &info, sizeof info);
      pid_t pid;
      while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0) {
        if (pid == container) code = shell_code(status);
      }
    }
    if (code >= 0 && !out_open && !err_open) break;
  }
  if (code < 0) code = 255;
  // The teardown, by the whole runtime, in this same process (same pid: the state keeps
  // naming its owner until the state is gone).
  char code_text[16];
  *put_number(code_text, static_cast<unsigned>(code), 1) = '\0';
  ::close(g_log);
  const char* args[] = {mycontainer, "--root", state_root, "monitor-exit", id, code_text, nullptr};
  ::sigprocmask(SIG_UNBLOCK, &mask, nullptr);
  ::execv(mycontainer, const_cast<char* const*>(args));
  return 127;
}
