// The engines suite's harness: podman and containerd, started by the test itself with
// temporary roots, driving a runtime through the OCI command line; each case runs once with
// the reference runtime (runc) and once with the runtime under test, and compares.
//
//   MC_ENGINE_RUNTIME=PATH     the runtime under test (default build/bin/mycontainer)
//   MC_REFERENCE_RUNTIME=PATH  what it is compared with (default runc from PATH)
//
// `MC_ENGINE_RUNTIME=$(command -v runc)` proves the harness itself: both sides are runc.
//
// Nothing of the host's engines is used or changed: podman gets its own containers.conf,
// storage.conf and registries.conf (CONTAINERS_CONF...), storage and run root in a temporary
// directory; containerd its own config, root, state and socket. Every cgroup they make is
// beneath a cgroup parent that the Sandbox makes beneath the test's own cgroup.
//
// Nothing is left behind even when a test fails or is killed: the Sandbox starts a janitor
// (cleanup.sh) at once, which waits for the test process to go away, however it goes, and then
// kills what names the temporary directory (podman, conmon, containerd, shims), kills what
// runs in the cgroup parent, unmounts, removes the cgroups, the directory and the /run
// directories the engines made.
//
// Header-only, like the support headers.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>  // std::strerror
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "background.hpp"  // wait_until
#include "support.hpp"

namespace mc::test::engines {

namespace fs = std::filesystem;

// How long the cases' long-running containers sleep: a number of their own, so that a
// container process that outlives its case (a runtime that lost track of it) is found by its
// command line, `sleep 86413`, and by nothing else's.
constexpr const char* kSleep = "86413";

// Container processes still running "sleep kSleep", killed; one line each ("" when none).
inline std::string kill_stray_sleepers() {
  std::string out;
  for (int pid : pids_matching(std::string("sleep ") + kSleep)) {
    out += fmt::format("process {} 'sleep {}' still running\n", pid, kSleep);
    ::kill(pid, SIGKILL);
  }
  return out;
}

// === The runtimes ============================================================================

// A runtime as the engines see it: a wrapper script in the sandbox that logs every call (its
// arguments and exit code) to `log`, then runs `path`. The log is what a failure message shows:
// which command the engine sent, and how the runtime answered.
struct Runtime {
  std::string label;    // "runc (reference)", "mycontainer (under test)"
  std::string name;     // its name in containers.conf [engine.runtimes]
  std::string path;     // the real binary
  std::string wrapper;  // what the engines call
  std::string log;      // the wrapper's log
};

inline std::string find_in_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path ? path : "/usr/sbin:/usr/bin:/sbin:/bin");
  for (std::string d; std::getline(dirs, d, ':');) {
    std::string candidate = d;
    candidate += '/';
    candidate += name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  for (const char* d : {"/usr/local/sbin", "/usr/sbin", "/sbin"}) {
    if (::access((std::string(d) + "/" + name).c_str(), X_OK) == 0)
      return std::string(d) + "/" + name;
  }
  return "";
}

inline std::string env_or(const char* var, const std::string& fallback) {
  const char* v = std::getenv(var);
  return v != nullptr && *v != '\0' ? std::string(v) : fallback;
}

inline std::string under_test_path() {
  return env_or("MC_ENGINE_RUNTIME", bin("mycontainer"));
}
inline std::string reference_path() {
  return env_or("MC_REFERENCE_RUNTIME", find_in_path("runc"));
}

// What a program needs that is missing ("" when nothing): for MC_SKIP_OR_FAIL.
inline std::string missing_programs(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) {
    if (find_in_path(n).empty()) out += (out.empty() ? "" : ", ") + n;
  }
  return out.empty() ? ""
                     : "not installed: " + out + " (scripts/setup.sh installs MC_APT_PACKAGES)";
}

// === Cgroups =================================================================================

// The mount points of every cgroup tree (v1 hierarchies and the v2 tree), from mountinfo.
inline std::vector<std::string> cgroup_mounts() {
  std::vector<std::string> out;
  std::ifstream in("/proc/self/mountinfo");
  for (std::string line; std::getline(in, line);) {
    std::istringstream f(line);
    std::string id, parent, dev, root, mount_point;
    f >> id >> parent >> dev >> root >> mount_point;
    const auto dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream rest(line.substr(dash + 3));
    std::string fstype;
    rest >> fstype;
    if ((fstype == "cgroup" || fstype == "cgroup2") && root == "/") out.push_back(mount_point);
  }
  return out;
}

// Our own cgroup, as one path valid in every tree: the deepest of the paths that
// /proc/self/cgroup lists, if every other one lies above it ("/" in cpu, "/a/b" in memory:
// "/a/b" is beneath our cgroup in both). An engine takes one cgroup parent for all trees, so
// it must be beneath ours in each. Empty when no such path exists.
inline std::optional<std::string> own_cgroup_everywhere() {
  std::ifstream in("/proc/self/cgroup");
  std::vector<std::string> paths;
  for (std::string line; std::getline(in, line);) {
    const auto c2 = line.find(':', line.find(':') + 1);
    if (c2 != std::string::npos) paths.push_back(line.substr(c2 + 1));
  }
  if (paths.empty()) return std::nullopt;
  const std::string deepest = *std::max_element(
      paths.begin(), paths.end(), [](const auto& a, const auto& b) { return a.size() < b.size(); });
  for (const auto& p : paths) {
    const bool above = p == "/" || deepest == p || deepest.rfind(p + "/", 0) == 0;
    if (!above) return std::nullopt;
  }
  return deepest == "/" ? "" : deepest;
}

// The file `file` of `controller` for the cgroup of process `pid`, on the host: v1
// /sys/fs/cgroup/CONTROLLER/PATH/FILE, v2 /sys/fs/cgroup/PATH/FILE.
inline std::string cgroup_file_of(pid_t pid, const std::string& controller,
                                  const std::string& file) {
  std::ifstream in(fmt::format("/proc/{}/cgroup", pid));
  std::string v2_path;
  for (std::string line; std::getline(in, line);) {
    const auto c1 = line.find(':');
    const auto c2 = line.find(':', c1 + 1);
    const std::string controllers = "," + line.substr(c1 + 1, c2 - c1 - 1) + ",";
    const std::string path = line.substr(c2 + 1);
    if (controllers.find("," + controller + ",") != std::string::npos) {
      return fmt::format("/sys/fs/cgroup/{}{}/{}", controller, path, file);
    }
    if (controllers == ",,") v2_path = path;
  }
  return fmt::format("/sys/fs/cgroup{}/{}", v2_path, file);
}

// === The sandbox =============================================================================

// A temporary directory, a cgroup parent beneath our own cgroup, and the janitor that removes
// both (and all the engines made in them) when this process ends, however it ends.
class Sandbox {
 public:
  // `name`: the cgroup parent's name (unique_name(tag): Leftovers then knows it as ours).
  explicit Sandbox(const std::string& name) {
    char tmpl[] = "/tmp/mct-engines-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) {
      error_ = "mkdtemp failed";
      return;
    }
    dir_ = tmpl;
    ::chmod(dir_.c_str(), 0755);  // container processes running as uid 1000 read the volumes
    start_janitor();
    // /run directories the engines make by default even with every path of theirs moved:
    // podman's network run directory, containerd's shim sockets and ctr's fifos. Those that
    // do not exist now are removed again (if empty) at the end.
    for (const char* d : {"/run/containers", "/run/containers/networks", "/run/containerd",
                          "/run/containerd/s", "/run/containerd/fifo", "/run/runc", "/run/crun"}) {
      if (!fs::exists(d)) append(dir_ + "/run-dirs", d);
    }
    make_cgroup_parent(name);
  }
  ~Sandbox() {
    if (janitor_fd_ >= 0) ::close(janitor_fd_);  // end of file: the janitor cleans now
    if (janitor_ > 0) {
      int status = 0;
      ::waitpid(janitor_, &status, 0);
    }
  }
  Sandbox(const Sandbox&) = delete;
  Sandbox& operator=(const Sandbox&) = delete;

  // Why the sandbox cannot be used ("" when it can).
  const std::string& error() const { return error_; }
  const std::string& dir() const { return dir_; }
  // The cgroup parent, a path from each tree's root ("/our/own/cgroup/NAME").
  const std::string& cgroup_parent() const { return cgroup_parent_; }

  // A wrapper script DIR/bin/NAME that logs each call to DIR/NAME.log and runs `path`.
  Runtime runtime(const std::string& label, const std::string& name,
                  const std::string& path) const {
    Runtime rt{label, name, path, dir_ + "/bin/" + name, dir_ + "/" + name + ".log"};
    fs::create_directories(dir_ + "/bin");
    std::ofstream(rt.wrapper) << fmt::format(
        "#!/bin/sh\n"
        "# The engines call this instead of {0}: one line per call, with its exit code.\n"
        "echo \"+ {0} $*\" >>{1}\n"
        "{0} \"$@\"\n"
        "rc=$?\n"
        "echo \"  exit $rc\" >>{1}\n"
        "exit $rc\n",
        path, rt.log);
    ::chmod(rt.wrapper.c_str(), 0755);
    return rt;
  }

  // Makes `path` and its missing parents on the host, each noted for the janitor, which
  // removes them again (if empty) at the end.
  void make_host_dir(const std::string& path) const {
    fs::path dir = "/";
    for (const auto& part : fs::path(path).relative_path()) {
      dir /= part;
      if (fs::exists(dir)) continue;
      if (::mkdir(dir.c_str(), 0700) != 0) return;
      append(dir_ + "/run-dirs", dir.string());
    }
  }

  static void append(const std::string& file, const std::string& line) {
    std::ofstream(file, std::ios::app) << line << "\n";
  }

 private:
  void start_janitor() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
      error_ = "pipe2 failed";
      return;
    }
    const std::string script = source_dir() + "/tests/engines/cleanup.sh";
    janitor_ = ::fork();
    if (janitor_ == 0) {
      // Its own session: a Ctrl-C to the test's process group does not reach it.
      ::setsid();
      ::dup2(fds[0], 0);
      ::execl("/bin/bash", "bash", script.c_str(), "--wait", dir_.c_str(), nullptr);
      ::_exit(127);
    }
    ::close(fds[0]);
    janitor_fd_ = fds[1];
  }

  // Makes DIR beneath our own cgroup in every tree, noting in DIR/cgroups each directory made
  // (the parents too, where a tree lacked them) so that the janitor removes exactly those.
  void make_cgroup_parent(const std::string& name) {
    const auto own = own_cgroup_everywhere();
    if (!own) {
      error_ =
          "no cgroup path lies beneath this process's cgroup in every tree "
          "(/proc/self/cgroup): cannot give the engines a cgroup parent";
      return;
    }
    cgroup_parent_ = *own + "/" + name;
    for (const auto& mount : cgroup_mounts()) {
      fs::path dir = mount;
      for (const auto& part : fs::path(cgroup_parent_).relative_path()) {
        const fs::path parent = dir;
        dir /= part;
        if (fs::exists(dir)) continue;
        if (::mkdir(dir.c_str(), 0755) != 0) {
          error_ = fmt::format("mkdir('{}'): {}", dir.string(), std::strerror(errno));
          return;
        }
        append(dir_ + "/cgroups", dir.string());
        // cpuset (v1): a new cgroup starts with no CPUs and no memory nodes; give it its
        // parent's, as runc does for the cgroups it makes (cpuset(7)).
        for (const char* f : {"cpuset.cpus", "cpuset.mems"}) {
          if (fs::exists(dir / f)) std::ofstream(dir / f) << read_file(parent / f);
        }
      }
    }
  }

  std::string error_;
  std::string dir_;
  std::string cgroup_parent_;
  pid_t janitor_ = -1;
  int janitor_fd_ = -1;
};

// The containers that runtimes keep state for in their default roots (podman calls the runtime
// without --root): runc's /run/runc, crun's /run/crun, mycontainer's /run/mycontainer; and the
// named network namespaces in /run/netns. Those that
// appear during a case and stay are its leftovers (the engines name containers by 64-digit ids,
// which Leftovers cannot tell from someone else's; the suite runs under the lock).
inline std::set<std::string> runtime_states() {
  std::set<std::string> out;
  // /run/netns: network namespaces kept by name (ip netns, podman's netavark/CNI).
  for (const char* root : {"/run/runc", "/run/crun", "/run/mycontainer/containers", "/run/netns"}) {
    std::error_code ec;
    for (fs::directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
      out.insert(it->path().string());
    }
  }
  return out;
}
inline std::string new_entries(const std::set<std::string>& before,
                               const std::set<std::string>& after) {
  std::string out;
  for (const auto& e : after) {
    if (!before.count(e)) out += e + "\n";
  }
  return out;
}

// === Transcripts =============================================================================

// What one scenario showed, step by step: `text` is compared between the runtimes (and with
// what the test expects); `details` is everything else (each command, its output, the
// runtime's calls), printed when they differ.
struct Transcript {
  std::string text;
  std::string details;
  void step(const std::string& what, const std::string& value) {
    text += what + ": " + value + "\n";
  }
};

inline std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

inline std::string quote_argv(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) {
    const bool plain = !a.empty() && a.find_first_of(" '\"$;&|<>()*?\\\t\n") == std::string::npos;
    out += (out.empty() ? "" : " ") + (plain ? a : "'" + a + "'");
  }
  return out;
}

// One command's record for Transcript::details.
inline std::string record(const std::vector<std::string>& argv, const RunResult& r) {
  std::string out = "$ " + quote_argv(argv) + "\n";
  if (!r.out.empty()) out += r.out + (r.out.back() == '\n' ? "" : "\n");
  if (!r.err.empty()) out += "[stderr] " + r.err + (r.err.back() == '\n' ? "" : "\n");
  out += fmt::format("-> exit {}{}\n", r.status, r.timed_out ? " (timed out, killed)" : "");
  return out;
}

// The part of a file written since `offset` (the runtime calls of one scenario).
inline std::string read_from(const std::string& file, size_t offset) {
  const std::string all = read_file(file);
  return offset < all.size() ? all.substr(offset) : "";
}

}  // namespace mc::test::engines
