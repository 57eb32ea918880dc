// One function per `mycontainer` command, each in its own file (runc's layout: one file per
// command over one library). mycontainer.cpp parses the command line and calls one of them.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "options.hpp"
#include "runtime/state.hpp"  // ctr::ContainerState

namespace mycontainer {

int run(const CLI::App& run, RunOptions& options);                               // run.cpp
int spec(const CLI::App& spec, RunOptions& options, const std::string& output);  // spec_command.cpp
int cleanup();                                                                   // cleanup.cpp

// What one container left on the host, removed: its first process (OCI), its cgroup (and what
// runs in it), its veth, its address leases, and its state directory `dir` last, once the rest
// is gone (false: something is left, the state stays as the map to it). cleanup.cpp; `cleanup`
// and the OCI `delete` both use it. What names its runtime (lease, NAT user, port claims) is
// given back when that runtime is gone or is us; `owner_gone`: the caller knows it is gone
// (a dead monitor not reaped yet still answers kill(2)).
bool remove_container(const ctr::ContainerState& state, const std::filesystem::path& dir,
                      bool owner_gone = false);

}  // namespace mycontainer

// --- Images (images.cpp; the store is image/store.hpp, docs/images.md) ---
namespace mycontainer {
int images();                                                // `images`
int rmi(const std::vector<std::string>& names, bool force);  // `rmi [-f] NAME...`
int image_inspect(const std::vector<std::string>& names);    // `image inspect NAME...`
// `load`, `import`, `pull`: execs mycontainer-image (found beside /proc/self/exe) with
// --store and these words. Returns only by throwing.
[[noreturn]] void run_image_tool(const std::string& command, const std::vector<std::string>& args);
// `run IMAGE` when the store has no IMAGE: pulls it as docker run does ("Unable to find image
// 'NAME' locally", then the pull's lines, all on stderr), by running `mycontainer-image pull
// NAME` and waiting for it. Returns its exit code: 0 when the image is now in the store.
int pull_missing_image(const std::string& name);
}  // namespace mycontainer
