// Killing what is inside a container's cgroup, and removing its directories: how a Cgroup
// ends (kill_all, ~Cgroup). Read cgroup.hpp first.
//
// Sources: Documentation/admin-guide/cgroup-v2.rst "Core Interface Files" (cgroup.kill,
// cgroup.freeze, cgroup.events); cgroup-v1/freezer-subsystem.rst; cgroup-v1/pids.rst.
#include <signal.h>  // kill(2), SIGKILL
#include <unistd.h>  // getpid(2)

#include <algorithm>  // std::min
#include <cerrno>     // EBUSY
#include <chrono>     // deadlines for waiting on the kernel
#include <thread>     // std::this_thread::sleep_for

#include <fmt/format.h>  // fmt::format
#include <fmt/ranges.h>  // fmt::join

#include "cgroup_internal.hpp"  // CgroupFs, file helpers
#include "ctr/cgroup.hpp"
#include "ctr/fd.hpp"       // read_file
#include "ctr/narrate.hpp"  // narrate

namespace ctr {

using namespace std::chrono_literals;
using detail::CgroupFs;
using detail::exists;
using detail::read_key;
using detail::subdirs;

void Cgroup::kill_all() const {
  if (dirs_.empty()) return;
  const CgroupFs fs(version_, hooks_);
  const auto deadline = std::chrono::steady_clock::now() + 2s;
  const auto wait_empty = [&](std::chrono::steady_clock::time_point until) {
    while (!procs().empty() && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(5ms);
    }
    return procs().empty();
  };
  // Usually nothing is left: the container's PID namespace died with its first process,
  // taking every other process with it (pid_namespaces(7)). One read says so, for the whole
  // tree beneath: v2's "populated" (cgroup.events), or v1's pids.current, which counts the
  // processes of every cgroup below too (cgroup-v1/pids.rst).
  const std::string first_dir = dirs_.front().path;
  if (version_ == CgroupVersion::kV2) {
    if (read_key(first_dir + "/cgroup.events", "populated") == 0) return;
  } else if (pids_current() == 0) {
    return;
  }
  if (procs().empty()) return;

  // v2, Linux >= 5.14: cgroup.kill SIGKILLs everything inside and beneath, in one write, with
  // no race against fork (cgroup-v2.rst "Core Interface Files").
  const std::string& first = first_dir;
  if (version_ == CgroupVersion::kV2 && exists(first + "/cgroup.kill")) {
    fs.write(first + "/cgroup.kill", "1");
    if (wait_empty(deadline)) return;
  }

  // Otherwise: freeze, so nothing inside can fork while we read the list and kill it
  // (a fork bomb would outrun a plain loop), SIGKILL each, thaw so the kills take effect (v1
  // frozen tasks cannot act on a signal: cgroup-v1/freezer-subsystem.rst), repeat.
  std::string freeze_file, frozen, thawed;
  if (version_ == CgroupVersion::kV2 && exists(first + "/cgroup.freeze")) {
    freeze_file = first + "/cgroup.freeze", frozen = "1", thawed = "0";  // Linux >= 5.2
  } else if (const std::string dir = dir_for("freezer"); !dir.empty()) {
    freeze_file = dir + "/freezer.state", frozen = "FROZEN", thawed = "THAWED";
  }
  const pid_t self = ::getpid();
  while (true) {
    if (!freeze_file.empty()) {
      fs.write(freeze_file, frozen);
      // v1 reports FREEZING until every task has stopped; wait for it, briefly.
      for (int i = 0; i < 100 && version_ == CgroupVersion::kV1; ++i) {
        if (read_file(freeze_file).value_or("").rfind("FROZEN", 0) == 0) break;
        std::this_thread::sleep_for(1ms);
      }
    }
    const auto pids = procs();
    for (const pid_t pid : pids) {
      if (pid > 1 && pid != self) ::kill(pid, SIGKILL);
    }
    narrate({.call = fmt::format("kill(pid, SIGKILL) for each pid in cgroup.procs ({})",
                                 fmt::join(pids, " ")),
             .result = fmt::format("{} killed", pids.size()),
             .shell = fmt::format("kill -KILL $(cat {}/cgroup.procs)", first),
             .man = "kill(2)"});
    if (!freeze_file.empty()) fs.write(freeze_file, thawed);
    if (wait_empty(std::min(deadline, std::chrono::steady_clock::now() + 50ms))) return;
    if (std::chrono::steady_clock::now() >= deadline) return;
  }
}

namespace {
// rmdir dir, and before it every cgroup the container made beneath it, deepest first.
// Killed processes leave their cgroup a moment after the signal; EBUSY until then.
// rmdir(2) of a cgroup fails with EBUSY while it has either: so try it first, and look for
// cgroups beneath only when it is refused (the usual container made none).
void remove_tree(const CgroupFs& fs, const std::string& dir) noexcept {
  for (int attempt = 0; attempt < 100; ++attempt) {  // ~1 s at most
    if (fs.remove_dir(dir) != EBUSY) return;         // removed, already gone, or not ours to retry
    try {
      for (const auto& sub : subdirs(dir)) remove_tree(fs, fmt::format("{}/{}", dir, sub));
    } catch (...) {
    }
    if (fs.remove_dir(dir) != EBUSY) return;
    std::this_thread::sleep_for(10ms);
  }
}
}  // namespace

void Cgroup::destroy() noexcept {
  const CgroupFs fs(version_, hooks_);
  // rmdir(2) of a cgroup succeeds once nothing is left in it and fails with EBUSY otherwise
  // (cgroups(7)), and a process is in our cgroup in every tree at once. Usually nothing is
  // left: the container's pid namespace died with its first process, and took every other
  // process with it (pid_namespaces(7)). So the rmdirs come first, the last made first, and
  // the kill (which reads the cgroup to learn whether anything is left) only once one is
  // refused: that read costs more than the rmdir that answers the same question.
  while (!dirs_.empty() && fs.remove_dir(dirs_.back().path) != EBUSY) dirs_.pop_back();
  if (dirs_.empty()) return;
  try {
    kill_all();
  } catch (...) {
    // Removal below fails with EBUSY for a cgroup that still holds processes; nothing else
    // can be done in a destructor.
  }
  for (auto it = dirs_.rbegin(); it != dirs_.rend(); ++it) remove_tree(fs, it->path);
  dirs_.clear();
}

}  // namespace ctr
