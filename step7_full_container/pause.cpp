// `mycontainer pause ID` and `resume ID` (runc pause/resume, `docker pause`, `podman pause`):
// the cgroup freezer stops every process of the container where it stands, and lets them go
// on (runtime/freezer.hpp). While frozen, `state ID` says "paused".
#include <fmt/format.h>

#include "ctr/error.hpp"  // ctr::UsageError
#include "ops.hpp"
#include "runtime/freezer.hpp"  // ctr::freeze, ctr::thaw
#include "runtime/state.hpp"    // the container's state, its lock and status

namespace mycontainer {

namespace {

// The container's cgroup directories, once its status is `wanted` (under the exclusive lock
// the caller holds: no delete or second pause meanwhile).
std::vector<std::string> cgroup_of(const std::string& id, const std::filesystem::path& dir,
                                   ctr::OciStatus wanted, const char* verb) {
  const auto state = ctr::read_state(dir);
  if (!state) throw ctr::UsageError(fmt::format("container {} does not exist", id));
  if (!state->oci) {
    throw ctr::UsageError(
        fmt::format("container {} was started by `mycontainer run`, not `create`", id));
  }
  const auto status = ctr::container_status(*state, dir);
  if (status != wanted) {
    throw ctr::UsageError(
        fmt::format("cannot {} container {}: it is {}", verb, id, ctr::to_string(status)));
  }
  if (state->cgroup_dirs.empty()) {
    throw ctr::UsageError(fmt::format(
        "cannot {} container {}: it has no cgroup (rootless), and the freezer is a cgroup's", verb,
        id));
  }
  return state->cgroup_dirs;
}

}  // namespace

int oci_pause(const std::string& id) {
  ctr::validate_container_id(id);
  const auto dir = ctr::container_dir(id);
  const ctr::ContainerLock lock(dir, ctr::ContainerLock::Mode::kExclusive);
  ctr::freeze(cgroup_of(id, dir, ctr::OciStatus::kRunning, "pause"));
  return 0;
}

int oci_resume(const std::string& id) {
  ctr::validate_container_id(id);
  const auto dir = ctr::container_dir(id);
  const ctr::ContainerLock lock(dir, ctr::ContainerLock::Mode::kExclusive);
  ctr::thaw(cgroup_of(id, dir, ctr::OciStatus::kPaused, "resume"));
  return 0;
}

}  // namespace mycontainer
