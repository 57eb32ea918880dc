// "Nothing left behind", on a host that other people use at the same time.
//
// HostSnapshot::take() and diff() (support.hpp) compare the whole host. While a test runs,
// other suites and other people's containers come and go on the same machine: their state
// directories, cgroups, leases and veth pairs show up in that diff too. Leftovers keeps the
// diff honest without weakening it:
//
//   - every container of the test is named with the test's own prefix ("mct7-<pid>-<n>");
//   - a difference is someone else's when it belongs to a container whose state.json names
//     another container (its state directory, its cgroup "mycontainer-NAME", its veth, its
//     lease), or to a live runtime that is not our child (lease and NAT files record the pid);
//   - whatever else differs must go away within the patience (another suite's step-5 or
//     step-6 container ending) or it is reported;
//   - a process still running in a cgroup of ours is reported too.
//
// scrub() then removes what one of our containers left (a runtime bug), so that a failing
// test does not poison the tests after it.
//
// Header-only, like background.hpp.
#pragma once

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "ctr/cgroup.hpp"     // ctr::CgroupLayout: where our containers' cgroups live
#include "ctr/netlink.hpp"    // ctr::delete_link
#include "runtime/state.hpp"  // ctr::list_containers, ctr::read_state
#include "support.hpp"

namespace mc::test {

namespace leftovers_detail {

namespace fs = std::filesystem;

inline bool pid_alive(pid_t pid) {
  return pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM);
}

// The parent of pid, from /proc/PID/stat (0 if gone).
inline pid_t parent_of(pid_t pid) {
  std::ifstream in(fmt::format("/proc/{}/stat", pid));
  std::string stat;
  if (!std::getline(in, stat)) return 0;
  const auto close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(stat.substr(close + 2));
  std::string state;
  pid_t ppid = 0;
  rest >> state >> ppid;
  return ppid;
}

// True when pid is this process or one of its descendants.
inline bool descends_from_us(pid_t pid) {
  for (int depth = 0; pid > 1 && depth < 64; ++depth) {
    if (pid == ::getpid()) return true;
    pid = parent_of(pid);
  }
  return false;
}

// The first number in a small file ("4242\n" in a lease), 0 if none.
inline pid_t pid_in_file(const std::string& path) {
  std::ifstream in(path);
  long v = 0;
  in >> v;
  return static_cast<pid_t>(v);
}

inline std::string basename_of(const std::string& path) {
  return fs::path(path).filename().string();
}

}  // namespace leftovers_detail

// Directories where a container's cgroup "mycontainer-NAME" may be, one per tree: beneath our
// own cgroup (the default; on v2 beside our cgroup when it is a runtime's leaf, and beneath
// the top-level cgroup, where a runtime that shares its cgroup puts containers) and beneath
// `parent` (a --cgroup-parent, from each tree's root).
inline std::vector<std::string> cgroup_search_dirs(const std::string& parent = "") {
  std::vector<std::string> out;
  const auto layout = ctr::CgroupLayout::detect();
  for (const auto& h : layout.hierarchies) {
    if (!parent.empty()) {
      out.push_back(h.mount_point + parent);
      continue;
    }
    out.push_back(h.own_dir);
    if (layout.version == ctr::CgroupVersion::kV2) {
      if (leftovers_detail::basename_of(h.own_dir) == ctr::kRuntimeLeafCgroup) {
        out.push_back(std::filesystem::path(h.own_dir).parent_path().string());
      }
      out.push_back(h.mount_point + "/" + std::string(ctr::kTopLevelCgroup));
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

// The cgroup directories of container `name` that exist now (in every tree).
inline std::vector<std::string> cgroup_dirs_of(const std::string& name,
                                               const std::string& parent = "") {
  std::vector<std::string> out;
  for (const auto& dir : cgroup_search_dirs(parent)) {
    const std::string d = fmt::format("{}/mycontainer-{}", dir, name);
    struct stat st {};
    if (::stat(d.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) out.push_back(d);
  }
  return out;
}

// Kills what runs in a cgroup directory (and beneath it) and removes it, children first.
inline void remove_cgroup_tree(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_directory(ec) && !it->is_symlink(ec)) remove_cgroup_tree(it->path().string());
  }
  for (int attempt = 0; attempt < 100; ++attempt) {
    std::ifstream procs(dir + "/cgroup.procs");
    bool any = false;
    for (pid_t pid; procs >> pid;) {
      ::kill(pid, SIGKILL);
      any = true;
    }
    if (::rmdir(dir.c_str()) == 0 || errno == ENOENT) return;
    if (!any && errno != EBUSY) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

class Leftovers {
 public:
  // `tag` starts every container name of the test: names are "<tag>-<pid>-<n>", as
  // unique_name(tag) makes them.
  explicit Leftovers(const std::string& tag)
      : prefix_(fmt::format("{}-{}-", tag, ::getpid())), before_(HostSnapshot::take()) {
    note_foreign();
  }

  const std::string& prefix() const { return prefix_; }
  // A container name of ours, or the draft of its state directory (".new.PID.NAME", state.hpp).
  bool ours(const std::string& name) const {
    if (name.rfind(ctr::kDraftPrefix, 0) == 0) {
      const auto dot = name.find('.', ctr::kDraftPrefix.size());
      return dot != std::string::npos && ours(name.substr(dot + 1));
    }
    return name.rfind(prefix_, 0) == 0;
  }
  const HostSnapshot& before() const { return before_; }

  // What our containers left on the host since construction, one line each; "" when
  // nothing. Differences not explained as someone else's get up to `patience` to go away.
  std::string check(std::chrono::milliseconds patience = std::chrono::seconds(10)) {
    const auto deadline = std::chrono::steady_clock::now() + patience;
    std::string lines;
    while (true) {
      note_foreign();
      lines = unexplained(diff(before_, HostSnapshot::take())) + our_processes();
      if (lines.empty() || std::chrono::steady_clock::now() > deadline) return lines;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }

  // Removes what our containers left: their processes and cgroups (beneath our own cgroup,
  // and beneath `cgroup_parent` if given), their state directories whose runtime is gone,
  // lease and NAT files that appeared since construction and whose owner is dead, and veth
  // pairs that appeared since construction with both ends still on the host.
  void scrub(const std::string& cgroup_parent = "") {
    namespace fs = std::filesystem;
    using namespace leftovers_detail;
    std::vector<std::string> dirs = cgroup_search_dirs();
    if (!cgroup_parent.empty()) {
      for (const auto& d : cgroup_search_dirs(cgroup_parent)) dirs.push_back(d);
    }
    std::error_code ec;
    for (const auto& dir : dirs) {
      for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        const std::string base = it->path().filename().string();
        if (base.rfind("mycontainer-" + prefix_, 0) == 0) remove_cgroup_tree(it->path().string());
      }
    }
    for (fs::directory_iterator it("/run/mycontainer/containers", ec), end; !ec && it != end;
         it.increment(ec)) {
      const std::string name = it->path().filename().string();
      if (!ours(name)) continue;
      const auto state = ctr::read_state(it->path());
      if (state && ctr::process_alive(state->runtime_pid, state->runtime_start_time)) continue;
      if (state && !state->lease.empty()) fs::remove(state->lease, ec);
      fs::remove_all(it->path(), ec);
    }
    const HostSnapshot now = HostSnapshot::take();
    for (const auto& file : now.mycontainer_state) {
      if (before_.mycontainer_state.count(file)) continue;
      const bool lease = file.rfind("/run/mycontainer/ipam/", 0) == 0;
      const bool nat = file.find("/nat/user.") != std::string::npos;
      if (!lease && !nat) continue;
      const pid_t owner =
          lease ? pid_in_file(file) : static_cast<pid_t>(std::atol(basename_of(file).c_str() + 5));
      if (!pid_alive(owner)) fs::remove(file, ec);
    }
    for (const auto& link : orphaned_veths()) ctr::delete_link(link);
  }

  // veth pairs that appeared since construction and whose container end is still on the host
  // after a second (a runtime killed between making the pair and moving its end).
  std::vector<std::string> orphaned_veths() const {
    std::vector<std::string> out;
    auto candidates = [&] {
      std::vector<std::string> found;
      for (const auto& link : HostSnapshot::take().links) {
        if (before_.links.count(link) || link.rfind("veth", 0) != 0) continue;
        if (std::filesystem::exists("/sys/class/net/c" + link.substr(1))) found.push_back(link);
      }
      return found;
    };
    const auto first = candidates();
    if (first.empty()) return out;
    std::this_thread::sleep_for(std::chrono::seconds(1));
    for (const auto& link : candidates()) {
      if (std::find(first.begin(), first.end(), link) != first.end()) out.push_back(link);
    }
    return out;
  }

 private:
  // Remembers the resources of every container that is not ours, as its state.json says.
  void note_foreign() {
    for (const auto& c : ctr::list_containers()) {
      if (ours(c.name)) continue;
      foreign_names_.insert(c.name);
      if (!c.veth.empty()) {
        foreign_links_.insert(c.veth);
        foreign_links_.insert("c" + c.veth.substr(1));
      }
      if (!c.lease.empty()) foreign_files_.insert(c.lease);
    }
  }

  bool explained(const std::string& line) const {
    using namespace leftovers_detail;
    if (line.empty()) return true;
    if (line[0] == '-') return line.rfind("-mount ", 0) != 0;  // others' things that ended
    if (line[0] != '+') return false;                          // hostname changed
    const auto space = line.find(' ');
    const std::string what = line.substr(1, space - 1);
    const std::string item = line.substr(space + 1);
    if (what == "cgroup") {
      // Ours: a container's cgroup "mycontainer-<prefix>..." or a cgroup parent the test made
      // ("<prefix>..."), or anything beneath them. Where our own cgroup is a tree's root,
      // every other cgroup of the machine is in view too: those are someone else's.
      for (const auto& part : std::filesystem::path(item)) {
        const std::string s = part.string();
        if (s.rfind("mycontainer-" + prefix_, 0) == 0 || s.rfind(prefix_, 0) == 0) return false;
      }
      return true;
    }
    if (what == "link") return foreign_links_.count(item) > 0;
    if (what == "state") {
      const std::string containers = "/run/mycontainer/containers/";
      if (item.rfind(containers, 0) == 0) {
        const std::string rest = item.substr(containers.size());
        return !ours(rest.substr(0, rest.find('/')));
      }
      if (foreign_files_.count(item)) return true;
      // A lease ("4242\n") or a NAT user file (user.PID.N) of a live runtime not ours.
      pid_t owner = 0;
      if (item.rfind("/run/mycontainer/ipam/", 0) == 0) owner = pid_in_file(item);
      if (basename_of(item).rfind("user.", 0) == 0) {
        owner = static_cast<pid_t>(std::atol(basename_of(item).c_str() + 5));
      }
      return owner > 0 && pid_alive(owner) && !descends_from_us(owner);
    }
    return false;  // mounts
  }

  std::string unexplained(const std::string& full_diff) const {
    std::istringstream in(full_diff);
    std::string out;
    for (std::string line; std::getline(in, line);) {
      if (!explained(line)) out += line + "\n";
    }
    return out;
  }

  // Processes in a cgroup of one of our containers ("/mycontainer-<prefix>...").
  std::string our_processes() const {
    namespace fs = std::filesystem;
    std::string out;
    const std::string needle = "/mycontainer-" + prefix_;
    std::error_code ec;
    for (fs::directory_iterator it("/proc", ec), end; !ec && it != end; it.increment(ec)) {
      const std::string pid = it->path().filename().string();
      if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
      const std::string cgroups = read_file(it->path().string() + "/cgroup");
      if (cgroups.find(needle) == std::string::npos) continue;
      std::string cmdline = read_file(it->path().string() + "/cmdline");
      std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
      out += fmt::format("+process {} {}\n", pid, cmdline);
    }
    return out;
  }

  std::string prefix_;
  HostSnapshot before_;
  std::set<std::string> foreign_names_, foreign_links_, foreign_files_;
};

}  // namespace mc::test
