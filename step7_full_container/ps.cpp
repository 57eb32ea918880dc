// `mycontainer ps`: the containers of the state directory (runtime/state.hpp), one line each.
#include "commands.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "runtime/state.hpp"  // ctr::list_containers, ctr::is_stale

namespace mycontainer {

// `mycontainer ps`: one line per container, like docker ps.
int ps() {
  const auto containers = ctr::list_containers();
  fmt::print("{:<20} {:>8}  {:<8} {:<20}  {}\n", "NAME", "PID", "STATUS", "STARTED", "COMMAND");
  for (const auto& c : containers) {
    // An OCI container (create) has no runtime process: its status is its own (state.hpp).
    const std::string status =
        c.oci                ? ctr::to_string(ctr::container_status(c, ctr::container_dir(c.name)))
        : c.runtime_pid == 0 ? "unknown"
        : ctr::is_stale(c)   ? "stale"
        : c.pid == 0         ? "starting"
                             : "running";
    fmt::print("{:<20} {:>8}  {:<8} {:<20}  {}\n", c.name, c.pid, status, c.started,
               fmt::join(c.command, " "));
  }
  return 0;
}

}  // namespace mycontainer
