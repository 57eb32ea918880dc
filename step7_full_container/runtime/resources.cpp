// Updating a live container's cgroup. Read resources.hpp first.
//
// Sources: Documentation/admin-guide/cgroup-v2.rst ("Memory", "CPU", "PID", "Cpuset"
// Interface Files); cgroup-v1/memory.rst, cgroup-v1/cpusets.rst, cgroup-v1/pids.rst,
// scheduler/sched-bwc.rst; runc libcontainer/cgroups/fs and fs2.
#include "runtime/resources.hpp"

#include <fcntl.h>   // open(2)
#include <unistd.h>  // write(2), access(2)

#include <algorithm>  // std::clamp
#include <cerrno>     // EINVAL

#include <fmt/format.h>

#include "ctr/error.hpp"    // ctr::check, SyscallError, UsageError
#include "ctr/fd.hpp"       // ctr::UniqueFd, ctr::read_file
#include "ctr/narrate.hpp"  // ctr::narrate

namespace ctr {

namespace {

using mycontainer::Resources;

bool exists(const std::string& path) {
  return ::access(path.c_str(), F_OK) == 0;
}

// Where a cgroup's files are: v2 has one directory with every controller's files; v1 one
// per hierarchy. The directory that has `file`, or "".
std::string dir_with(const std::vector<std::string>& dirs, const std::string& file) {
  for (const auto& dir : dirs) {
    std::string path = dir;
    path += '/';
    path += file;
    if (exists(path)) return dir;
  }
  return "";
}

bool is_v2(const std::vector<std::string>& dirs) {
  return !dir_with(dirs, "cgroup.controllers").empty();
}

// -1 means "no limit": v1 takes -1 itself, v2 the word "max".
std::string limit_value(int64_t value, bool v2) {
  if (value == -1) return v2 ? "max" : "-1";
  return std::to_string(value);
}

class Planner {
 public:
  explicit Planner(const std::vector<std::string>& dirs) : dirs_(dirs), v2_(is_v2(dirs)) {}

  // A write of `value` to `file`, wherever that file is; refused naming `field` otherwise.
  void add(const std::string& field, const std::string& file, const std::string& value,
           const std::string& why_missing) {
    const std::string dir = dir_with(dirs_, file);
    if (dir.empty()) {
      throw UsageError(fmt::format("{}: cannot be applied: the container's cgroup has no {} ({})",
                                   field, file, why_missing));
    }
    writes_.push_back({field, dir + "/" + file, value});
  }

  bool v2() const { return v2_; }
  std::vector<ResourceWrite> take() { return std::move(writes_); }

 private:
  const std::vector<std::string>& dirs_;
  bool v2_;
  std::vector<ResourceWrite> writes_;
};

constexpr const char* kField = "linux.resources";

void plan_memory(Planner& p, const mycontainer::MemoryResources& m) {
  const std::string field = fmt::format("{}.memory", kField);
  const char* no_memory = "is the memory controller enabled for it?";
  if (p.v2()) {
    if (m.limit) p.add(field + ".limit", "memory.max", limit_value(*m.limit, true), no_memory);
    if (m.swap) {
      // OCI's swap is memory + swap (v1's memsw); v2 limits the swap alone.
      std::string swap = "max";
      if (*m.swap != -1) {
        if (!m.limit || *m.limit == -1) {
          throw UsageError(fmt::format(
              "{}.swap: on cgroup v2 a swap limit needs memory.limit too (swap is memory + swap)",
              field));
        }
        if (*m.swap < *m.limit) {
          throw UsageError(
              fmt::format("{}.swap: {} is below memory.limit {} (it counts memory + "
                          "swap)",
                          field, *m.swap, *m.limit));
        }
        swap = std::to_string(*m.swap - *m.limit);
      }
      p.add(field + ".swap", "memory.swap.max", swap, "the kernel accounts no swap");
    }
    if (m.reservation) {
      p.add(field + ".reservation", "memory.low", limit_value(*m.reservation, true), no_memory);
    }
    return;
  }
  if (m.limit) {
    p.add(field + ".limit", "memory.limit_in_bytes", limit_value(*m.limit, false), no_memory);
  }
  if (m.swap) {
    p.add(field + ".swap", "memory.memsw.limit_in_bytes", limit_value(*m.swap, false),
          "the kernel accounts no swap: boot with swapaccount=1");
  }
  if (m.reservation) {
    p.add(field + ".reservation", "memory.soft_limit_in_bytes", limit_value(*m.reservation, false),
          no_memory);
  }
}

void plan_cpu(Planner& p, const mycontainer::CpuResources& c) {
  const std::string field = fmt::format("{}.cpu", kField);
  // On cgroup v1 a foreground `run` makes a cpu cgroup only for a CPU limit (engine.cpp,
  // cgroup_trees): one started without has none to update.
  const char* no_cpu =
      "is the cpu controller enabled for it? On cgroup v1, start it with --cpus to get one";
  const char* no_cpuset = "is the cpuset controller enabled for it?";
  if (c.shares) {
    if (p.v2()) {
      p.add(field + ".shares", "cpu.weight", std::to_string(cpu_weight_from_shares(*c.shares)),
            no_cpu);
    } else {
      p.add(field + ".shares", "cpu.shares", std::to_string(*c.shares), no_cpu);
    }
  }
  if (c.quota || c.period) {
    if (c.period && (*c.period < 1000 || *c.period > 1000000)) {
      throw UsageError(
          fmt::format("{}.period: {} is not between 1000 and 1000000 microseconds "
                      "(sched-bwc.rst)",
                      field, *c.period));
    }
    if (c.quota && *c.quota != -1 && *c.quota < 1000) {
      throw UsageError(fmt::format(
          "{}.quota: {} is below the kernel's minimum of 1000 microseconds", field, *c.quota));
    }
    if (p.v2()) {
      // cpu.max "$MAX $PERIOD"; "max" for no quota. A period alone keeps the quota: runc
      // writes "max PERIOD" then, we refuse to guess and ask for both.
      if (!c.quota) {
        throw UsageError(fmt::format(
            "{}.period: on cgroup v2 give the quota with it (cpu.max holds both)", field));
      }
      p.add(field + ".quota", "cpu.max",
            fmt::format("{} {}", limit_value(*c.quota, true), c.period.value_or(100000)), no_cpu);
    } else {
      if (c.period)
        p.add(field + ".period", "cpu.cfs_period_us", std::to_string(*c.period), no_cpu);
      if (c.quota)
        p.add(field + ".quota", "cpu.cfs_quota_us", limit_value(*c.quota, false), no_cpu);
    }
  }
  if (c.cpus && !c.cpus->empty()) p.add(field + ".cpus", "cpuset.cpus", *c.cpus, no_cpuset);
  if (c.mems && !c.mems->empty()) p.add(field + ".mems", "cpuset.mems", *c.mems, no_cpuset);
}

void write_value(const ResourceWrite& w) {
  const UniqueFd fd(check(::open(w.file.c_str(), O_WRONLY | O_CLOEXEC), "open", w.file));
  check(::write(fd.get(), w.value.data(), w.value.size()), "write", w.file);
  narrate({.call = fmt::format("write(\"{}\", \"{}\")", w.file, w.value),
           .result = "ok",
           .shell = fmt::format("echo {} > {}", w.value, w.file),
           .man = "cgroups(7), cgroup-v2.rst"});
}

bool is_memory_pair(const ResourceWrite& w) {
  return w.field == "linux.resources.memory.limit" || w.field == "linux.resources.memory.swap";
}

}  // namespace

uint64_t cpu_weight_from_shares(uint64_t shares) {
  if (shares == 0) return 100;  // unset: the default weight
  shares = std::clamp<uint64_t>(shares, 2, 262144);
  return 1 + ((shares - 2) * 9999) / 262142;
}

std::vector<ResourceWrite> plan_resource_update(const std::vector<std::string>& dirs,
                                                const Resources& resources) {
  if (dirs.empty()) {
    throw UsageError("the container has no cgroup (a rootless container): nothing to update");
  }
  Planner p(dirs);
  if (resources.memory) plan_memory(p, *resources.memory);
  if (resources.cpu) plan_cpu(p, *resources.cpu);
  if (resources.pids) {
    const int64_t limit = resources.pids->limit;
    p.add(fmt::format("{}.pids.limit", kField), "pids.max",
          limit <= 0 ? "max" : std::to_string(limit), "is the pids controller enabled for it?");
  }
  return p.take();
}

void apply_resource_update(const std::vector<ResourceWrite>& writes) {
  for (size_t i = 0; i < writes.size(); ++i) {
    const ResourceWrite& w = writes[i];
    // v1: memory.memsw.limit_in_bytes may never be below memory.limit_in_bytes, so raising
    // both means memsw first, lowering both means the memory limit first (memory.rst 2.5).
    const bool pair = i + 1 < writes.size() && is_memory_pair(w) && is_memory_pair(writes[i + 1]) &&
                      w.file.ends_with("memory.limit_in_bytes");
    if (!pair) {
      write_value(w);
      continue;
    }
    try {
      write_value(w);
      write_value(writes[i + 1]);
    } catch (const SyscallError& e) {
      if (e.err() != EINVAL) throw;
      write_value(writes[i + 1]);
      write_value(w);
    }
    ++i;
  }
}

}  // namespace ctr
