// `mycontainer update` (runc update): new limits for a container that runs. podman calls
// `update --resources=FILE ID` with a linux.resources object; a person types
// `update --memory 128m --pids-limit 100 ID`. The flags override the file's fields. What
// cannot be applied is refused by field before anything is written
// (runtime/resources.hpp).
#include <fstream>   // std::ifstream
#include <iostream>  // std::cin

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "ctr/error.hpp"   // ctr::UsageError
#include "ctr/limits.hpp"  // ctr::parse_size: docker's units
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
  ctr::apply_resource_update(ctr::plan_resource_update(state->cgroup_dirs, resources));
  return 0;
}

}  // namespace mycontainer
