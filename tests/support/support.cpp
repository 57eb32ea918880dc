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
#include <cctype>
#include <mutex>
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

// Appended, not `std::string(MACRO) + "/" + name`: GCC 12 warns (-Warray-bounds, a false
// positive of its inlined operator+) when the directory's name is short.
std::string bin(const std::string& name) {
  std::string path = MC_BIN_DIR;
  path.append("/").append(name);
  return path;
}

std::string rootfs() {
  if (const char* r = std::getenv("MC_ROOTFS"); r != nullptr && *r != '\0') return r;
  std::string path = MC_SOURCE_DIR;
  return path.append("/rootfs");
}

std::string source_dir() {
  return MC_SOURCE_DIR;
}

namespace {
// The pids run() started: a step binary names its cgroup and its address lease after its own
// pid, and those names tell the test's from a stranger's (owned_by_test).
std::mutex g_started_mutex;
std::set<int> g_started;

void remember_started(int pid) {
  const std::lock_guard lock(g_started_mutex);
  g_started.insert(pid);
}

bool was_started(int pid) {
  const std::lock_guard lock(g_started_mutex);
  return g_started.count(pid) > 0;
}

// Marks this test process, once, before any test runs: every process it starts inherits the
// mark (support.hpp, kOwnerVariable). A test binary started by another test replaces its
// parent's mark with its own: what it starts is its own.
const bool g_marked = [] {
  ::setenv(kOwnerVariable, std::to_string(::getpid()).c_str(), 1);
  return true;
}();

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
  if (pid > 0) remember_started(pid);
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

// True when pid carries this test's mark in its environment (as it was at its last execve).
bool carries_our_mark(int pid) {
  const std::string mark = fmt::format("{}={}", kOwnerVariable, ::getpid());
  const std::string environ = read_file(fmt::format("/proc/{}/environ", pid));
  for (size_t at = 0; at < environ.size();) {
    const size_t end = environ.find('\0', at);
    if (environ.compare(at, end - at, mark) == 0) return true;
    if (end == std::string::npos) break;
    at = end + 1;
  }
  return false;
}

// This test's live processes (zombies are dead: their parent just has not reaped them yet).
std::map<int, std::string> our_processes() {
  std::map<int, std::string> out;
  const int self = ::getpid();
  std::error_code ec;
  for (fs::directory_iterator it("/proc", ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const int pid = std::stoi(name);
    if (pid == self || !carries_our_mark(pid)) continue;
    const std::string stat = read_file(it->path().string() + "/stat");
    const auto close = stat.rfind(')');
    if (close == std::string::npos || stat.compare(close + 2, 1, "Z") == 0) continue;
    std::string cmdline = read_file(it->path().string() + "/cmdline");
    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
    out[pid] = cmdline;
  }
  return out;
}

std::set<std::string> host_links() {
  std::set<std::string> out;
  for (const auto& entry : fs::directory_iterator("/sys/class/net")) {
    // The project's bridge is shared infrastructure that stays on purpose (step 5).
    if (entry.path().filename() == "ctr0") continue;
    out.insert(entry.path().filename().string());
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
  s.links = host_links();
  s.cgroups = cgroup_dirs();
  s.mycontainer_state = list_files("/run/mycontainer");
  // The compiled seccomp filter is a cache that stays on purpose (ctr::cached_seccomp).
  std::erase_if(s.mycontainer_state,
                [](const std::string& f) { return f.rfind("/run/mycontainer/seccomp/", 0) == 0; });
  // So is each subnet's allocation hint (ctr::Ipam: ipam/SUBNET/.next).
  std::erase_if(s.mycontainer_state, [](const std::string& f) {
    return f.rfind("/run/mycontainer/ipam/", 0) == 0 && f.ends_with("/.next");
  });
  s.processes = our_processes();
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  s.hostname = host;
  return s;
}

// --- What belongs to the test ------------------------------------------------------------

namespace {
// True when one component of path is a name unique_name() made in process pid:
// "<prefix>-<pid>-<n>", alone or inside a longer name ("mycontainer-mct7-4242-3").
bool carries_tag(const std::string& path, int pid) {
  const std::string tag = fmt::format("-{}-", pid);
  for (const auto& part : fs::path(path)) {
    const std::string s = part.string();
    if (s.find(tag) != std::string::npos) return true;
  }
  return false;
}

bool is_number(const std::string& s) {
  return !s.empty() && s.size() < 10 && s.find_first_not_of("0123456789") == std::string::npos;
}

// The pid a runtime wrote into a file it owns: an address lease holds it ("4242\n"), a NAT
// user file is named after it (nat/user.PID.N). 0 when the file names none.
int owner_in_file(const std::string& path) {
  const std::string base = fs::path(path).filename().string();
  if (base.rfind("user.", 0) == 0) {
    const std::string pid = base.substr(5, base.find('.', 5) - 5);
    return is_number(pid) ? std::stoi(pid) : 0;
  }
  if (path.rfind("/run/mycontainer/ipam/", 0) != 0) return 0;
  std::string text = read_file(path);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
  return is_number(text) ? std::stoi(text) : 0;
}

// A pid-named resource (a step-6 cgroup, a lease) is the test's when the test started its
// owner, or when its owner is gone: runtimes remove what they made before they exit, so
// what a dead one left is a leak, and the test that is looking reports it.
bool owner_is_ours(int owner, const TestScope& scope) {
  return owner > 0 && (scope.started_by_test(owner) || !scope.alive(owner));
}

bool cgroup_is_ours(const std::string& path, const TestScope& scope) {
  if (carries_tag(path, scope.pid)) return true;  // "mycontainer-<ours>", a test-made parent
  for (const auto& part : fs::path(path)) {
    const std::string s = part.string();
    // Steps 6's cgroup: "container_with_cgroups-<pid of the step binary>".
    const auto dash = s.rfind('-');
    if (s.rfind("container_with_", 0) == 0 && dash != std::string::npos &&
        is_number(s.substr(dash + 1)) && owner_is_ours(std::stoi(s.substr(dash + 1)), scope)) {
      return true;
    }
  }
  return false;  // another container's ("mycontainer-<theirs>"), a system service's
}

bool link_is_ours(char sign, const std::string& name, const TestScope& scope) {
  if (carries_tag(name, scope.pid)) return true;
  const bool pair_end = name.rfind("veth", 0) == 0 || name.rfind("ceth", 0) == 0;
  if (sign == '-') {
    // A container's pair goes away with its container; anything else the host had is the
    // host's own (an interface moved into a namespace is gone from here).
    return !pair_end && name.rfind("mc", 0) != 0;
  }
  if (!pair_end) return false;  // another program's bridge or test link
  // The project's pairs are veth<hex> (host end) and ceth<hex> (container end). A pair whose
  // container end is in a namespace belongs to a running container; if that container is
  // ours, its processes are still alive and reported as "+process". A pair with both ends
  // still here is orphaned: no container will ever take it.
  const std::string other = (name[0] == 'v' ? "c" : "v") + name.substr(1);
  return scope.link_on_host(other);
}

bool mount_is_ours(const std::string& mount_point, const TestScope& scope) {
  if (mount_point == scope.rootfs || mount_point.rfind(scope.rootfs + "/", 0) == 0) return true;
  if (carries_tag(mount_point, scope.pid)) return true;  // a TempDir, a container's state
  // The host's own top-level directories ("/", "/proc", "/tmp"): no container may mount on
  // them, whoever's it is.
  return std::count(mount_point.begin(), mount_point.end(), '/') <= 1;
}

bool state_is_ours(char sign, const std::string& file, const TestScope& scope) {
  if (carries_tag(file, scope.pid)) return true;  // containers/<ours>/..., a draft of ours
  if (file.rfind("/run/mycontainer/containers/", 0) == 0) return false;  // another's
  if (sign == '-') return false;  // someone else's container ended
  const int owner = owner_in_file(file);
  return owner == 0 || owner_is_ours(owner, scope);
}
}  // namespace

TestScope TestScope::current() {
  TestScope scope;
  scope.pid = ::getpid();
  scope.rootfs = mc::test::rootfs();
  scope.started_by_test = [](int pid) { return was_started(pid) || carries_our_mark(pid); };
  scope.alive = [](int pid) { return ::kill(pid, 0) == 0 || errno == EPERM; };
  scope.link_on_host = [](const std::string& name) {
    std::error_code ec;
    return fs::exists("/sys/class/net/" + name, ec);
  };
  return scope;
}

bool owned_by_test(const std::string& line, const TestScope& scope) {
  if (line.empty()) return false;
  const char sign = line[0];
  if (sign != '+' && sign != '-') return true;  // the host name changed
  const auto space = line.find(' ');
  const std::string what = line.substr(1, space - 1);
  const std::string item = space == std::string::npos ? "" : line.substr(space + 1);
  if (what == "mount") return mount_is_ours(item, scope);
  if (what == "link") return link_is_ours(sign, item, scope);
  if (what == "cgroup")
    return sign == '+' ? cgroup_is_ours(item, scope) : carries_tag(item, scope.pid);
  if (what == "state") return state_is_ours(sign, item, scope);
  if (what == "process") return sign == '+';  // only the test's own processes are listed
  return true;
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

std::string ours_only(const std::string& lines, const TestScope& scope) {
  std::istringstream in(lines);
  std::string out;
  for (std::string line; std::getline(in, line);) {
    if (owned_by_test(line, scope)) out += line + "\n";
  }
  return out;
}

std::string process_diff(const std::map<int, std::string>& before,
                         const std::map<int, std::string>& after) {
  std::string out;
  for (const auto& [pid, cmdline] : after) {
    if (before.count(pid) == 0) out += fmt::format("+process {} {}\n", pid, cmdline);
  }
  return out;
}
}  // namespace

std::string diff(const HostSnapshot& before, const HostSnapshot& after,
                 CompareProcesses processes) {
  const TestScope scope = TestScope::current();
  std::string out;
  std::string mounts;
  set_diff("mount", before.mounts, after.mounts, mounts);
  out += ours_only(mounts, scope);
  // A container's veth pair goes with its network namespace, which the kernel tears down in
  // the background (cleanup_net) a few milliseconds after the last process, and a process
  // killed a moment ago may still be exiting: look again for up to 3 s before calling a
  // link or a process left behind.
  std::string links, procs;
  for (int i = 0; i < 300; ++i) {
    links.clear();
    set_diff("link", before.links, i == 0 ? after.links : host_links(), links);
    links = ours_only(links, scope);
    procs.clear();
    if (processes == CompareProcesses::kYes) {
      procs = process_diff(before.processes, i == 0 ? after.processes : our_processes());
    }
    if (links.empty() && procs.empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  out += links + procs;
  std::string cgroups;
  set_diff("cgroup", before.cgroups, after.cgroups, cgroups);
  out += ours_only(cgroups, scope);
  std::string state;
  set_diff("state", before.mycontainer_state, after.mycontainer_state, state);
  out += ours_only(state, scope);
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
