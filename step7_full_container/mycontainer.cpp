// Step 7: mycontainer — steps 1-6 combined into one small container runtime.
//
//   mycontainer run [OPTIONS] [ROOTFS-OPTIONS] [--] [COMMAND [ARG...]]   start a container
//   mycontainer ps                                                    list running containers
//   mycontainer cleanup                                               remove what a killed runtime
//   left
//
// The life of one container is in run.cpp, which reads like the guide's chapter 7; its
// command line is in options.cpp. This file only dispatches, and holds `ps` and `cleanup`,
// which work on the state directory (ctr/state.hpp).
#include <unistd.h>  // geteuid(2)

#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "ctr/cgroup.hpp"  // ctr::Cgroup::adopt, for cleanup
#include "ctr/cli.hpp"     // ctr::run_main, ctr::parse
#include "ctr/ipam.hpp"    // ctr::DirLock, for cleanup
#include "ctr/net.hpp"     // ctr::delete_link, for cleanup
#include "runtime/state.hpp"   // ctr::list_containers, ctr::is_stale
#include "options.hpp"
#include "run.hpp"

namespace {

// `mycontainer ps`: one line per container, like docker ps.
int ps() {
  const auto containers = ctr::list_containers();
  fmt::print("{:<20} {:>8}  {:<8} {:<20}  {}\n", "NAME", "PID", "STATUS", "STARTED", "COMMAND");
  for (const auto& c : containers) {
    const std::string status = c.runtime_pid == 0 ? "unknown"
                               : ctr::is_stale(c) ? "stale"
                               : c.pid == 0       ? "starting"
                                                  : "running";
    fmt::print("{:<20} {:>8}  {:<8} {:<20}  {}\n", c.name, c.pid, status, c.started,
               fmt::join(c.command, " "));
  }
  return 0;
}

// `mycontainer cleanup`: for each container whose runtime is gone (killed with SIGKILL before
// its destructors could run), remove what it left: its cgroup (killing what still runs in
// it), its host-side veth, its address lease, its state. A container whose runtime still
// runs is never touched.
int cleanup() {
  int removed = 0;
  for (const auto& c : ctr::list_containers()) {
    // Never a container whose runtime is alive (running or starting); a directory with no
    // readable state is left alone too, unless it is old (a runtime killed in the
    // microseconds between mkdir and its first write).
    if (c.runtime_pid != 0 && !ctr::is_stale(c)) continue;
    const auto dir = ctr::state_root() / "containers" / c.name;
    if (c.runtime_pid == 0) {
      std::error_code ec;
      const auto age =
          std::filesystem::file_time_type::clock::now() - std::filesystem::last_write_time(dir, ec);
      if (ec || age < std::chrono::seconds(60)) continue;
    }
    bool complete = true;
    // Its cgroup, by the directories it recorded (whatever cgroup we run in), else by name.
    try {
      std::optional<ctr::Cgroup> cgroup;
      if (!c.cgroup_dirs.empty()) {
        cgroup = ctr::Cgroup::adopt_dirs(c.cgroup_dirs);
      } else if (!c.rootless) {
        const auto place = ctr::CgroupPlace::here(
            c.cgroup_parent.empty() ? std::nullopt : std::optional<std::string>(c.cgroup_parent));
        if (!ctr::Cgroup::list_children(place, "mycontainer-" + c.name).empty()) {
          cgroup = ctr::Cgroup::adopt(place, "mycontainer-" + c.name);
        }
      }
      const auto dirs = cgroup ? cgroup->dirs() : std::vector<std::string>{};
      cgroup.reset();  // kills what is left inside, removes the directories
      for (const auto& d : dirs) {
        if (std::filesystem::exists(d)) {
          fmt::print(stderr, "mycontainer: cannot remove cgroup '{}' of {}\n", d, c.name);
          complete = false;
        }
      }
    } catch (const std::exception& e) {
      fmt::print(stderr, "mycontainer: cgroup of {}: {}\n", c.name, e.what());
      complete = false;
    }
    if (!c.veth.empty()) ctr::delete_link(c.veth);
    // Its addresses: only lease files that still name its dead runtime, under the lock, so
    // an address a new container has taken over since is never freed under it.
    std::error_code ec;
    for (std::filesystem::directory_iterator subnet("/run/mycontainer/ipam", ec), end;
         !ec && subnet != end; subnet.increment(ec)) {
      if (!subnet->is_directory()) continue;
      const ctr::DirLock lock(subnet->path());
      for (const auto& lease : std::filesystem::directory_iterator(subnet->path())) {
        std::ifstream in(lease.path());
        pid_t owner = 0;
        if (in >> owner && owner == c.runtime_pid) std::filesystem::remove(lease.path(), ec);
      }
    }
    if (!complete) continue;  // keep the state: it is the map to what is left
    std::filesystem::remove_all(dir, ec);
    fmt::print("removed {}\n", c.name);
    ++removed;
  }
  fmt::print("{} stale container{} removed\n", removed, removed == 1 ? "" : "s");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return ctr::run_main("mycontainer", [&] {
    CLI::App app{"mycontainer: a small container runtime, built in seven steps", "mycontainer"};
    app.require_subcommand(1);
    app.set_version_flag("--version", "mycontainer " MC_VERSION);

    mycontainer::RunOptions options;
    CLI::App* run = app.add_subcommand("run", "run a command in a new container");
    mycontainer::add_run_options(*run, options);
    CLI::App* ps_cmd = app.add_subcommand("ps", "list containers");
    CLI::App* cleanup_cmd =
        app.add_subcommand("cleanup", "remove what killed runtimes left behind");
    // Everything after the first "--" is the container's command: split it off before CLI11
    // sees it, so that no level of subcommands can mistake it for its own arguments.
    int ours = argc;
    for (int i = 1; i < argc; ++i) {
      if (std::string_view(argv[i]) == "--") {
        ours = i;
        break;
      }
    }
    // `mycontainer` alone is `mycontainer run`: a shell in a container, as the guide's
    // `sudo ./container` promises for every step.
    std::vector<char*> args(argv, argv + ours);
    char run_word[] = "run";
    if (args.size() == 1) args.push_back(run_word);
    ctr::parse(app, static_cast<int>(args.size()), args.data());
    if (ours + 1 < argc) options.common.command.assign(argv + ours + 1, argv + argc);

    if (ps_cmd->parsed()) return ps();
    if (cleanup_cmd->parsed()) return cleanup();
    mycontainer::finish_run_options(*run, options);
    return mycontainer::run(options);
  });
}
