// `mycontainer update` (runc update): new limits for a container that runs. podman calls
// `update --resources=FILE ID` with a linux.resources object; a person types
// `update --memory 128m --pids-limit 100 ID`. The flags override the file's fields. What
// cannot be applied is refused by field before anything is written
// (runtime/resources.hpp).
#include <fstream>   // std::ifstream
#include <iostream>  // std::cin

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "ctr/error.hpp"   // ctr::UsageError
#include "ctr/limits.hpp"  // ctr::parse_size: docker's units
#include "oci.hpp"         // mycontainer::container_config
#include "ops.hpp"
#include "runtime/resources.hpp"  // ctr::plan_resource_update, ctr::apply_resource_update
#include "runtime/spec.hpp"       // mycontainer::resources_from_json
#include "runtime/state.hpp"      // the container's state, its lock and status

namespace mycontainer {

void add_update_options(CLI::App& cmd, UpdateOptions& o) {
  cmd.add_option("-r,--resources", o.resources,
                 "a JSON file of linux.resources (\"-\": read it from stdin)");
  cmd.add_option("--memory", o.memory, "memory limit: bytes, or 64m, 1g (-1: none)");
  cmd.add_option("--memory-swap", o.memory_swap, "memory + swap limit (-1: none)");
  cmd.add_option("--memory-reservation", o.memory_reservation, "soft memory limit");
  cmd.add_option("--cpu-quota", o.cpu_quota, "CPU time per period, microseconds (-1: none)");
  cmd.add_option("--cpu-period", o.cpu_period, "the CFS period, microseconds");
  cmd.add_option("--cpu-shares", o.cpu_shares, "relative CPU weight (v1 shares)");
  cmd.add_option("--cpuset-cpus", o.cpuset_cpus, "CPUs it may use (0-3,8)");
  cmd.add_option("--cpuset-mems", o.cpuset_mems, "memory nodes it may use");
  cmd.add_option("--pids-limit", o.pids_limit, "most processes at once (-1: none)");
  cmd.add_option("id", o.id, "the container's id")->required();
}

namespace {

// A size flag: "-1" for no limit, else docker's units (ctr::parse_size).
int64_t size_flag(const std::string& flag, const std::string& text) {
  if (text == "-1") return -1;
  return static_cast<int64_t>(ctr::parse_size(text, flag));
}

Resources read_resources_file(const std::string& path) {
  nlohmann::json json;
  try {
    if (path == "-") {
      json = nlohmann::json::parse(std::cin);
    } else {
      std::ifstream in(path);
      if (!in) throw ctr::SyscallError(errno, "open", path);
      json = nlohmann::json::parse(in);
    }
  } catch (const nlohmann::json::exception& e) {
    throw SpecError(fmt::format("--resources {}: not JSON: {}", path, e.what()));
  }
  return resources_from_json(json);
}

Resources resources_of(const UpdateOptions& o) {
  Resources r = o.resources.empty() ? Resources{} : read_resources_file(o.resources);
  const auto memory = [&]() -> MemoryResources& {
    if (!r.memory) r.memory = MemoryResources{};
    return *r.memory;
  };
  const auto cpu = [&]() -> CpuResources& {
    if (!r.cpu) r.cpu = CpuResources{};
    return *r.cpu;
  };
  if (o.memory) memory().limit = size_flag("--memory", *o.memory);
  if (o.memory_swap) memory().swap = size_flag("--memory-swap", *o.memory_swap);
  if (o.memory_reservation) {
    memory().reservation = size_flag("--memory-reservation", *o.memory_reservation);
  }
  if (o.cpu_quota) cpu().quota = *o.cpu_quota;
  if (o.cpu_period) cpu().period = *o.cpu_period;
  if (o.cpu_shares) cpu().shares = *o.cpu_shares;
  if (o.cpuset_cpus) cpu().cpus = *o.cpuset_cpus;
  if (o.cpuset_mems) cpu().mems = *o.cpuset_mems;
  if (o.pids_limit) r.pids = PidsResources{.limit = *o.pids_limit};
  return r;
}

// The container's limits after this update: what it had (its config copy, with every earlier
// update in it), with the fields given now replacing theirs.
Resources merge(const std::optional<Resources>& had, const Resources& change) {
  Resources r = had.value_or(Resources{});
  if (const auto& m = change.memory) {
    MemoryResources& to = r.memory ? *r.memory : r.memory.emplace();
    if (m->limit) to.limit = m->limit;
    if (m->swap) to.swap = m->swap;
    if (m->reservation) to.reservation = m->reservation;
  }
  if (const auto& c = change.cpu) {
    CpuResources& to = r.cpu ? *r.cpu : r.cpu.emplace();
    if (c->shares) to.shares = c->shares;
    if (c->quota) to.quota = c->quota;
    if (c->period) to.period = c->period;
    if (c->cpus) to.cpus = c->cpus;
    if (c->mems) to.mems = c->mems;
  }
  if (change.pids) r.pids = change.pids;
  return r;
}

// What to write: the fields given, plus those whose file depends on them. On cgroup v2 the
// swap limit is written as swap - memory (memory.swap.max), so a new memory limit rewrites
// it; cpu.max holds quota and period together, so either one writes both. A later
// `update --memory-swap` alone is computed against the memory limit in force, not the
// config's original one.
Resources to_write(const Resources& all, const Resources& change) {
  Resources w;
  if (const auto& m = change.memory) {
    MemoryResources& to = w.memory.emplace();
    if (m->limit || m->swap) {
      to.limit = all.memory->limit;
      to.swap = all.memory->swap;
    }
    to.reservation = m->reservation;
  }
  if (const auto& c = change.cpu) {
    CpuResources& to = w.cpu.emplace();
    if (c->quota || c->period) {
      to.quota = all.cpu->quota;
      to.period = all.cpu->period;
    }
    to.shares = c->shares;
    to.cpus = c->cpus;
    to.mems = c->mems;
  }
  w.pids = change.pids;
  return w;
}

}  // namespace

int oci_update(const UpdateOptions& o) {
  ctr::validate_container_id(o.id);
  const Resources resources = resources_of(o);
  const auto dir = ctr::container_dir(o.id);
  const ctr::ContainerLock lock(dir, ctr::ContainerLock::Mode::kExclusive);
  const auto state = ctr::read_state(dir);
  if (!state) throw ctr::UsageError(fmt::format("container {} does not exist", o.id));
  if (!state->oci) {
    throw ctr::UsageError(
        fmt::format("container {} was started by `mycontainer run`, not `create`", o.id));
  }
  const auto status = ctr::container_status(*state, dir);
  if (status == ctr::OciStatus::kStopped || status == ctr::OciStatus::kCreating) {
    throw ctr::UsageError(
        fmt::format("cannot update container {}: it is {}", o.id, ctr::to_string(status)));
  }
  // The limits in force are the container's own config copy's (create's, and every update's
  // since), recorded again below: a later update, exec or state starts from these (runc keeps
  // them in its state.json the same way).
  Spec spec = container_config(state->bundle, dir.string());
  const Resources all = merge(spec.linux.resources, resources);
  ctr::apply_resource_update(
      ctr::plan_resource_update(state->cgroup_dirs, to_write(all, resources)));
  spec.linux.resources = all;
  save_spec(dir / ctr::kConfigCopy, spec);
  return 0;
}

}  // namespace mycontainer
