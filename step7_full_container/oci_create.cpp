// `mycontainer create` and `mycontainer run ID`: a container from an OCI bundle (a directory
// with config.json and, usually, the root filesystem beside it), as podman and containerd ask
// for one. The bundle becomes a Spec (runtime/spec.hpp) and the engine makes the container,
// stopping where the command would run: its first process waits for `start` (engine.cpp,
// "Wait for `start`").
#include <sys/wait.h>  // waitpid(2)

#include <cstdlib>  // std::getenv
#include <filesystem>
#include <string>

#include <fmt/format.h>

#include "commands.hpp"     // remove_container
#include "ctr/error.hpp"    // ctr::UsageError
#include "ctr/process.hpp"  // ctr::SignalForwarder, ctr::ExitStatus
#include "engine.hpp"
#include "oci.hpp"
#include "runtime/hardening.hpp"  // ctr::close_fds_from
#include "runtime/state.hpp"      // ctr::validate_container_id

namespace mycontainer {

namespace fs = std::filesystem;

namespace {

// Socket activation (sd_listen_fds(3)): a caller started by systemd passes its sockets as
// fds 3.. with LISTEN_FDS=N; they go on to the container, before --preserve-fds's, and the
// container's process is told with LISTEN_FDS=N and LISTEN_PID=1 (runc does the same).
int listen_fds() {
  const char* n = std::getenv("LISTEN_FDS");
  if (n == nullptr || *n == '\0') return 0;
  char* end = nullptr;
  const long v = std::strtol(n, &end, 10);
  return (*end == '\0' && v > 0 && v < 1024) ? static_cast<int>(v) : 0;
}

// bundle/config.json, read and validated (SpecError names the field); root.path made absolute.
Spec read_bundle(const fs::path& bundle, std::string& rootfs) {
  const fs::path config = bundle / "config.json";
  std::error_code ec;
  if (!fs::is_regular_file(config, ec)) {
    throw ctr::UsageError(
        fmt::format("bundle '{}' has no config.json (make one with `mycontainer spec --bundle {}`)",
                    bundle.string(), bundle.string()));
  }
  Spec spec = read_spec(config);
  // root.path is relative to the bundle, or absolute (config.md "Root").
  const fs::path root = spec.root.path.is_absolute() ? spec.root.path : bundle / spec.root.path;
  rootfs = root.lexically_normal().string();
  // With an image's layers (`run -d IMAGE`) the root is an overlay create makes: no root.path.
  if (spec.root_layers.empty() && !fs::is_directory(rootfs, ec)) {
    throw ctr::UsageError(
        fmt::format("root.path: '{}' is not a directory (the bundle's root filesystem)", rootfs));
  }
  return spec;
}

int create_in(const CreateOptions& o, bool caller_is_parent) {
  ctr::validate_container_id(o.id);
  const int listening = listen_fds();
  // Nothing our caller leaked may take part in resolving a path (CVE-2024-21626); what it
  // passes on on purpose stays.
  ctr::close_fds_from(3 + listening + o.preserve_fds);
  const fs::path bundle = fs::absolute(o.bundle).lexically_normal();
  std::string rootfs;
  Spec spec = read_bundle(bundle, rootfs);
  if (listening > 0) {
    spec.process.env.push_back(fmt::format("LISTEN_FDS={}", listening));
    spec.process.env.emplace_back("LISTEN_PID=1");
  }
  const RunRequest request{.name = o.id,
                           .rootfs = rootfs,
                           .timings = false,
                           .create = CreateRequest{.bundle = bundle.string(),
                                                   .pid_file = o.pid_file,
                                                   .console_socket = o.console_socket,
                                                   .preserve_fds = listening + o.preserve_fds,
                                                   .no_pivot = o.no_pivot,
                                                   .caller_is_parent = caller_is_parent}};
  return run_container(spec, request);
}

}  // namespace

int oci_create(const CreateOptions& o) {
  return create_in(o, /*caller_is_parent=*/true);
}

// runc's `run`: create and start; without --detach, wait for the container and delete it
// (unless --keep), returning its exit status. With --detach the container is the caller's,
// as after create.
int oci_run(const CreateOptions& o) {
  if (o.detach) {
    if (const int rc = create_in(o, /*caller_is_parent=*/true); rc != 0) return rc;
    return oci_start(o.id);
  }
  if (const int rc = create_in(o, /*caller_is_parent=*/false); rc != 0) return rc;
  const auto state = ctr::read_state(ctr::container_dir(o.id));
  if (!state) throw ctr::UsageError(fmt::format("container {} vanished", o.id));
  // We are its parent: signals for us are for it (docker run's default), and we reap it.
  ctr::SignalForwarder forward(state->pid);
  int rc = oci_start(o.id);
  int status = 0;
  pid_t r;
  while ((r = ::waitpid(state->pid, &status, 0)) < 0 && errno == EINTR) {
  }
  if (rc == 0 && r == state->pid) rc = ctr::ExitStatus::from_wait_status(status).shell_code();
  if (!o.keep) oci_delete(o.id, /*force=*/true);
  return rc;
}

}  // namespace mycontainer
