// Helpers for the suites that drive step 7's `mycontainer` (steps/step7_test.cpp and
// faults/faults_test.cpp): command lines with a name of the suite's own, output parsing, and
// the traces one container can leave on the host.
//
// Header-only, like background.hpp and leftovers.hpp.
#pragma once

#include <signal.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "leftovers.hpp"
#include "steps.hpp"

namespace mc::test {

inline std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();  // a terminal's "\r\n"
    out.push_back(line);
  }
  return out;
}

inline bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

inline size_t count_lines(const std::string& text) {
  return static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
}

inline std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// The value of a "Key:\tvalue" line of a /proc/PID/status text ("" if none).
inline std::string status_field(const std::string& status, const std::string& key) {
  for (const auto& line : lines_of(status)) {
    if (line.rfind(key + ":", 0) == 0) {
      std::string v = line.substr(key.size() + 1);
      v.erase(0, v.find_first_not_of(" \t"));
      v.erase(v.find_last_not_of(" \t") + 1);
      return v;
    }
  }
  return "";
}

inline bool has_option(const std::vector<std::string>& options, const std::string& name) {
  return std::find(options.begin(), options.end(), name) != options.end();
}

// `run -d --rootfs ROOTFS --name NAME OPTIONS -- COMMAND`: the arguments after `mycontainer`,
// for the suites that start detached containers (as root or as a user).
inline std::vector<std::string> run_detached_args(const std::string& name,
                                                  const std::vector<std::string>& options,
                                                  const std::vector<std::string>& command) {
  std::vector<std::string> args{"run", "-d", "--rootfs", rootfs(), "--name", name};
  args.insert(args.end(), options.begin(), options.end());
  args.emplace_back("--");
  args.insert(args.end(), command.begin(), command.end());
  return args;
}

// The id `run -d` printed, checked: it succeeded and printed 64 hex digits and a newline.
inline std::string detached_id(const RunResult& r) {
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(std::regex_match(r.out, std::regex("[0-9a-f]{64}\n"))) << r.out << r.err;
  return trimmed(r.out);
}

// NAME's status in the output of `mycontainer ps -a --format '{{.Names}}|{{.Status}}'`
// ("Up 3 seconds", "Exited (137) ..."), "" when it is not listed.
inline std::string status_in_ps(const std::string& ps_out, const std::string& name) {
  for (const auto& line : lines_of(ps_out)) {
    if (line.rfind(name + "|", 0) == 0) return line.substr(name.size() + 1);
  }
  return "";
}

// `mycontainer run --rootfs ROOTFS [--name TAG-<pid>-<n>] OPTIONS [-- COMMAND]` as argv: a
// name of the suite's own (unique_name(tag)) unless the options give one.
inline std::vector<std::string> mycontainer_argv(const std::string& tag,
                                                 std::vector<std::string> options,
                                                 const std::vector<std::string>& command) {
  std::vector<std::string> argv{bin("mycontainer"), "run", "--rootfs", rootfs()};
  if (!has_option(options, "--name")) {
    argv.emplace_back("--name");
    argv.push_back(unique_name(tag));
  }
  argv.insert(argv.end(), options.begin(), options.end());
  if (!command.empty()) {
    argv.emplace_back("--");
    argv.insert(argv.end(), command.begin(), command.end());
  }
  return argv;
}

// Kills the container processes running `/bin/sleep <seconds>`.
inline void kill_sleepers(const std::string& seconds) {
  for (int pid : pids_matching("/bin/sleep " + seconds)) ::kill(pid, SIGKILL);
}

// A directory on the host, removed with its contents at the end.
class HostDir {
 public:
  HostDir() {
    char tmpl[] = "/tmp/mct-dir-XXXXXX";
    if (::mkdtemp(tmpl) != nullptr) path_ = tmpl;
  }
  ~HostDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  HostDir(const HostDir&) = delete;
  HostDir& operator=(const HostDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// What container `name` (run by the runtime process runtime_pid) left on the host: its state
// directory, its cgroups in every tree, the processes in them, its address lease (lease files
// hold the runtime's pid). Empty when nothing.
inline std::vector<std::string> traces_of(const std::string& name, pid_t runtime_pid,
                                          const std::string& cgroup_parent = "") {
  namespace fs = std::filesystem;
  std::vector<std::string> out;
  const std::string state = "/run/mycontainer/containers/" + name;
  if (fs::exists(state)) out.push_back("state directory " + state);
  for (const auto& dir : cgroup_dirs_of(name, cgroup_parent)) {
    out.push_back("cgroup " + dir);
    std::istringstream procs(read_file(dir + "/cgroup.procs"));
    for (pid_t pid; procs >> pid;) out.push_back(fmt::format("process {} in {}", pid, dir));
  }
  std::error_code ec;
  for (fs::recursive_directory_iterator it("/run/mycontainer/ipam", ec), end; !ec && it != end;
       it.increment(ec)) {
    if (it->is_regular_file(ec) &&
        leftovers_detail::pid_in_file(it->path().string()) == runtime_pid) {
      out.push_back("lease " + it->path().string());
    }
  }
  return out;
}

}  // namespace mc::test
