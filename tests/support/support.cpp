#include "support.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <fmt/format.h>

namespace mc::test {

namespace fs = std::filesystem;

bool have_root() {
  return ::geteuid() == 0;
}

bool root_required() {
  const char* v = std::getenv("MC_REQUIRE_ROOT");
  return v != nullptr && std::string(v) == "1";
}

std::optional<std::string> privileged_unavailable() {
  if (!have_root()) return "needs root: run the tests with sudo (scripts/test.sh)";
  if (!fs::exists(rootfs() + "/bin/sh")) {
    return fmt::format("no test rootfs at '{}': run scripts/make-rootfs.sh", rootfs());
  }
  return std::nullopt;
}

std::string bin(const std::string& name) {
  return std::string(MC_BIN_DIR) + "/" + name;
}

std::string rootfs() {
  if (const char* r = std::getenv("MC_ROOTFS"); r != nullptr && *r != '\0') return r;
  return std::string(MC_SOURCE_DIR) + "/rootfs";
}

std::string source_dir() {
  return MC_SOURCE_DIR;
}

namespace {
void drain(int fd, std::string& into) {
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) into.append(buf, static_cast<size_t>(n));
}
}  // namespace

RunResult run(const std::vector<std::string>& argv, const RunOptions& options) {
  int out[2], err[2], in[2];
  if (::pipe2(out, O_CLOEXEC) || ::pipe2(err, O_CLOEXEC) || ::pipe2(in, O_CLOEXEC)) {
    throw std::runtime_error("pipe2 failed");
  }
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    ::dup2(in[0], 0);
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    ::setpgid(0, 0);  // its own process group: a timeout kills all of it
    for (const auto& kv : options.env) ::putenv(const_cast<char*>(kv.c_str()));
    std::vector<char*> args;
    args.reserve(argv.size() + 1);
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
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
  ::fcntl(out[0], F_SETFL, O_NONBLOCK);
  ::fcntl(err[0], F_SETFL, O_NONBLOCK);

  RunResult result;
  const auto deadline = std::chrono::steady_clock::now() + options.timeout;
  bool out_open = true, err_open = true;
  int status = 0;
  bool reaped = false;
  while (true) {
    pollfd fds[2] = {{out_open ? out[0] : -1, POLLIN, 0}, {err_open ? err[0] : -1, POLLIN, 0}};
    ::poll(fds, 2, 50);
    if (fds[0].revents) {
      drain(out[0], result.out);
      if (fds[0].revents & POLLHUP) out_open = false;
    }
    if (fds[1].revents) {
      drain(err[0], result.err);
      if (fds[1].revents & POLLHUP) err_open = false;
    }
    if (!reaped && ::waitpid(pid, &status, WNOHANG) == pid) reaped = true;
    if (reaped && !out_open && !err_open) break;
    if (reaped && std::chrono::steady_clock::now() > deadline)
      break;  // a grandchild holds the pipe
    if (!reaped && std::chrono::steady_clock::now() > deadline) {
      result.timed_out = true;
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      break;
    }
  }
  drain(out[0], result.out);
  drain(err[0], result.err);
  ::close(out[0]);
  ::close(err[0]);
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

RunResult sh(const std::string& command, const RunOptions& options) {
  return run({"/bin/sh", "-c", command}, options);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

namespace {
void list_dirs(const fs::path& dir, int depth, std::set<std::string>& out) {
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_directory(ec) && !it->is_symlink(ec)) {
      out.insert(it->path().string());
      if (depth > 1) list_dirs(it->path(), depth - 1, out);
    }
  }
}

// The cgroup directories where this process's containers would appear: our own cgroup in
// every hierarchy, and everything a few levels below it.
std::set<std::string> cgroup_dirs() {
  std::set<std::string> out;
  std::ifstream in("/proc/self/cgroup");
  std::string line;
  while (std::getline(in, line)) {
    // "4:memory:/process_api/abc" or "0::/user.slice/..."
    const auto c1 = line.find(':');
    const auto c2 = line.find(':', c1 + 1);
    std::string controllers = line.substr(c1 + 1, c2 - c1 - 1);
    const std::string path = line.substr(c2 + 1);
    if (controllers.rfind("name=", 0) == 0) controllers = controllers.substr(5);
    fs::path base = controllers.empty() ? fs::path("/sys/fs/cgroup/unified")
                                        : fs::path("/sys/fs/cgroup") / controllers;
    if (controllers.empty() && !fs::exists(base)) base = "/sys/fs/cgroup";
    fs::path own = base / fs::path(path).relative_path();
    if (controllers.empty() && base == "/sys/fs/cgroup") {
      // Pure v2: containers go beside our cgroup when it is a runtime's leaf (as in the VM),
      // and beneath the top-level cgroup when the runtime shares its cgroup (a login shell).
      if (own.filename() == "mycontainer-runtime") own = own.parent_path();
      list_dirs(base / "mycontainer", 2, out);
    }
    list_dirs(own, 3, out);
  }
  return out;
}

// Files only: the directories that hold leases and locks stay once made, by design.
std::set<std::string> list_files(const fs::path& dir) {
  std::set<std::string> out;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (!it->is_directory(ec)) out.insert(it->path().string());
  }
  return out;
}
}  // namespace

HostSnapshot HostSnapshot::take() {
  HostSnapshot s;
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string id, parent, devno, root, mount_point;
    fields >> id >> parent >> devno >> root >> mount_point;
    s.mounts.push_back(mount_point);
  }
  for (const auto& entry : fs::directory_iterator("/sys/class/net")) {
    // The project's bridge is shared infrastructure that stays on purpose (step 5).
    if (entry.path().filename() == "ctr0") continue;
    s.links.insert(entry.path().filename().string());
  }
  s.cgroups = cgroup_dirs();
  s.mycontainer_state = list_files("/run/mycontainer");
  // The compiled seccomp filter is a cache that stays on purpose (ctr::cached_seccomp).
  std::erase_if(s.mycontainer_state,
                [](const std::string& f) { return f.rfind("/run/mycontainer/seccomp/", 0) == 0; });
  // So is each subnet's allocation hint (ctr::Ipam: ipam/SUBNET/.next).
  std::erase_if(s.mycontainer_state, [](const std::string& f) {
    return f.rfind("/run/mycontainer/ipam/", 0) == 0 && f.ends_with("/.next");
  });
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  s.hostname = host;
  return s;
}

namespace {
template <typename Set>
void set_diff(const char* what, const Set& before, const Set& after, std::string& out) {
  for (const auto& x : after) {
    if (std::find(before.begin(), before.end(), x) == before.end())
      out += fmt::format("+{} {}\n", what, x);
  }
  for (const auto& x : before) {
    if (std::find(after.begin(), after.end(), x) == after.end())
      out += fmt::format("-{} {}\n", what, x);
  }
}
}  // namespace

std::string diff(const HostSnapshot& before, const HostSnapshot& after) {
  std::string out;
  set_diff("mount", before.mounts, after.mounts, out);
  // A container's veth pair goes with its network namespace, which the kernel tears down in
  // the background (cleanup_net) a few milliseconds after the last process: look again for
  // up to 3 s before calling a link left behind. For the same reason a veth of an earlier
  // run may still be there in `before` and gone now: that is not this run's doing.
  const auto settled = [&before](std::set<std::string> links) {
    for (const auto& l : before.links) {
      if (l.rfind("veth", 0) == 0 && links.count(l) == 0) links.insert(l);
    }
    return links;
  };
  std::set<std::string> links = settled(after.links);
  for (int i = 0; i < 300 && links != before.links; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    links = settled(HostSnapshot::take().links);
  }
  set_diff("link", before.links, links, out);
  set_diff("cgroup", before.cgroups, after.cgroups, out);
  set_diff("state", before.mycontainer_state, after.mycontainer_state, out);
  if (before.hostname != after.hostname) {
    out += fmt::format("hostname {} -> {}\n", before.hostname, after.hostname);
  }
  return out;
}

std::vector<int> pids_matching(const std::string& prefix) {
  std::vector<int> out;
  const int self = ::getpid();
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const int pid = std::stoi(name);
    if (pid == self) continue;
    std::string cmdline = read_file(entry.path().string() + "/cmdline");
    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
    if (cmdline.rfind(prefix, 0) == 0) out.push_back(pid);
  }
  return out;
}

namespace {
int g_report_fd = -1;
}  // namespace

int in_child_report_fd() {
  return g_report_fd;
}

std::string in_child(const std::function<std::string()>& f) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return "pipe2 failed";
  const pid_t pid = ::fork();
  if (pid < 0) return "fork failed";
  if (pid == 0) {
    ::close(fds[0]);
    g_report_fd = fds[1];
    std::string out;
    try {
      out = f();
    } catch (const std::exception& e) {
      out = std::string("exception: ") + e.what();
    }
    for (size_t done = 0; done < out.size();) {
      const ssize_t n = ::write(fds[1], out.data() + done, out.size() - done);
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (WIFSIGNALED(status)) out += fmt::format(" [signal {}]", WTERMSIG(status));
  return out;
}

void enter_user_namespace_as_root(int extra_flags) {
  ctr::check(::unshare(CLONE_NEWUSER | extra_flags), "unshare", "CLONE_NEWUSER");
  const auto write_file = [](const char* path, const std::string& text) {
    const int fd = ctr::check(::open(path, O_WRONLY | O_CLOEXEC), "open", path);
    const ssize_t n = ::write(fd, text.data(), text.size());
    const int err = errno;
    ::close(fd);
    if (n != static_cast<ssize_t>(text.size())) throw ctr::SyscallError(err, "write", path);
  };
  write_file("/proc/self/uid_map", "0 0 1\n");
  write_file("/proc/self/setgroups", "deny\n");  // before gid_map, for a writer without CAP_SETGID
  write_file("/proc/self/gid_map", "0 0 1\n");
}

std::string unique_name(const std::string& prefix) {
  static std::atomic<int> counter{0};
  return fmt::format("{}-{}-{}", prefix, ::getpid(), counter++);
}

}  // namespace mc::test
