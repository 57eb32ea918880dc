// `mycontainer ps ID` (runc ps): the processes of one OCI container, found by its cgroup, so
// that every process counts, whatever namespace or session it made for itself.
//   --format json   a JSON array of host pids: what containerd's shim reads (`ctr task ps`)
//   --format table  (default) PID and command line, one process a line
//   ps ID -- ARGS   runs ps(1) ARGS on the host and keeps its header and the container's lines
#include <algorithm>  // std::sort
#include <filesystem>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>  // fmt::join

#include "ctr/error.hpp"  // ctr::UsageError
#include "ctr/exec.hpp"   // ctr::run_program
#include "ctr/fd.hpp"     // ctr::read_file
#include "oci.hpp"
#include "runtime/state.hpp"  // the container's state and its lock

namespace mycontainer {

namespace {

namespace fs = std::filesystem;

// cgroup.procs of dir and of every cgroup beneath it (a container may make its own).
void collect(const fs::path& dir, std::set<pid_t>& pids) {
  std::istringstream in(ctr::read_file((dir / "cgroup.procs").string()).value_or(""));
  for (pid_t pid; in >> pid;) pids.insert(pid);
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.is_directory(ec) && !entry.is_symlink(ec)) collect(entry.path(), pids);
  }
}

std::string command_line(pid_t pid) {
  std::string cmd = ctr::read_file(fmt::format("/proc/{}/cmdline", pid)).value_or("");
  std::replace(cmd.begin(), cmd.end(), '\0', ' ');
  while (!cmd.empty() && cmd.back() == ' ') cmd.pop_back();
  return cmd;
}

}  // namespace

int oci_ps(const std::string& id, const std::string& format, const std::vector<std::string>& args) {
  ctr::validate_container_id(id);
  const auto dir = ctr::container_dir(id);
  std::set<pid_t> pids;
  {
    const ctr::ContainerLock lock(dir, ctr::ContainerLock::Mode::kShared);
    const auto state = ctr::read_state(dir);
    if (!state) throw ctr::UsageError(fmt::format("container {} does not exist", id));
    if (!state->oci) {
      throw ctr::UsageError(
          fmt::format("container {} was started by `mycontainer run`, not `create`", id));
    }
    // Every process is in every tree: one directory is enough.
    if (!state->cgroup_dirs.empty()) collect(state->cgroup_dirs.front(), pids);
    // Rootless: no cgroup; the first process at least.
    else if (ctr::process_running(state->pid, state->pid_start_time))
      pids.insert(state->pid);
  }
  if (format == "json") {
    fmt::print("[{}]\n", fmt::join(pids, ","));
    return 0;
  }
  if (args.empty()) {
    fmt::print("{:>8}  {}\n", "PID", "CMD");
    for (const pid_t pid : pids) fmt::print("{:>8}  {}\n", pid, command_line(pid));
    return 0;
  }
  // ps(1) with the caller's options: its header, then the lines whose PID column is ours.
  std::vector<std::string> argv{"ps"};
  argv.insert(argv.end(), args.begin(), args.end());
  const ctr::ProgramResult ps = ctr::run_program(argv);
  if (ps.status != 0) throw ctr::UsageError(fmt::format("ps failed: {}", ps.output));
  std::istringstream lines(ps.output);
  std::string line;
  std::getline(lines, line);
  std::istringstream header(line);
  int pid_column = -1;
  int i = 0;
  for (std::string word; header >> word; ++i) {
    if (word == "PID") pid_column = i;
  }
  if (pid_column < 0) throw ctr::UsageError("ps: its output has no PID column (try -ef)");
  fmt::print("{}\n", line);
  while (std::getline(lines, line)) {
    std::istringstream words(line);
    std::string word;
    for (int c = 0; c <= pid_column && words >> word; ++c) {
    }
    if (word.find_first_not_of("0123456789") == std::string::npos && !word.empty() &&
        pids.count(std::stoi(word))) {
      fmt::print("{}\n", line);
    }
  }
  return 0;
}

}  // namespace mycontainer
