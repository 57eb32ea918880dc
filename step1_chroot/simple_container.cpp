// Step 1: chroot — the first wall.
//
// chroot(2) changes what "/" means for a process: after chroot("rootfs") a path like
// /bin/sh resolves inside rootfs/. That is all it does. The process still sees every other
// process, the host's mounts, its host name, its network, and it is still real root — and
// root can walk out of a chroot (see this step's README, "Break it"). Each later step closes
// one of these holes.
//
//   sudo ./container                       # a shell whose / is rootfs/
//   sudo ./container --explain -- ls /     # print every kernel operation as it happens
#include <CLI/CLI.hpp>   // CLI::App: the command line
#include <fmt/format.h>  // fmt::print

#include "ctr/cli.hpp"        // command line shared by every step
#include "ctr/exec.hpp"       // ctr::execvpe
#include "ctr/handshake.hpp"  // parent <-> child handshake over a socketpair
#include "ctr/mount.hpp"      // ctr::chroot
#include "ctr/process.hpp"    // ctr::ChildProcess (clone), ctr::SignalForwarder

namespace {

constexpr std::chrono::seconds kStopGrace{10};  // from a forwarded SIGTERM to SIGKILL
constexpr const char* kProgram = "simple_container";

struct Options {
  ctr::CommonOptions common;
};

// === 1. Command line ===
Options parse_command_line(int argc, char** argv) {
  Options options;
  CLI::App app{"Step 1: run a command chroot'ed into a root filesystem", kProgram};
  ctr::add_common_options(app, options.common);

  ctr::parse(app, argc, argv);
  ctr::finish_common_options(app, options.common, kProgram);
  return options;
}

// === 2. Inside the child: build the container's world, then run the command ===
int container_main(const Options& options, ctr::Handshake& handshake) {
  handshake.close_parent_end();
  handshake.wait_for_parent();
  return ctr::child_setup(handshake, [&]() -> int {
    // --- Change root --- NEW in step 1
    // chroot(2) then chdir("/"): from now on "/" is the rootfs. The kernel still lets root
    // leave it (chroot(2) DESCRIPTION: "This call does not change the current working directory"
    // and is "not intended to be used for any kind of security purpose").
    ctr::chroot(options.common.rootfs);

    // --- Run the command ---
    // execve(2) replaces this process; on success the handshake socket closes (CLOEXEC)
    // and the parent knows the command runs.
    ctr::execvpe(options.common.command, ctr::current_environment());
  });
}

}  // namespace

int main(int argc, char** argv) {
  return ctr::run_main(kProgram, [&] {
    const Options options = parse_command_line(argc, argv);

    // === 3. Prepare the host side ===
    // Nothing yet: later steps create a network and a cgroup here.

    // === 4. Create the child ===
    // Each step adds one CLONE_NEW* flag to this list. With none, clone(2) is fork(2).
    // clang-format off
    const int flags = 0
        ;
    // clang-format on
    ctr::Handshake handshake;
    ctr::ChildProcess child =
        ctr::ChildProcess::clone(flags, [&] { return container_main(options, handshake); });
    handshake.close_child_end();
    fmt::print(stderr, "{}: running {} in {} (pid {})\n", kProgram, options.common.command[0],
               options.common.rootfs, child.pid());

    // === 5. Let the child go, and wait for it ===
    ctr::SignalForwarder forward_signals(child.pid());  // Ctrl-C goes to the container

    handshake.release_child();
    if (auto error = handshake.wait_for_exec()) {
      child.wait();
      fmt::print(stderr, "{}: {}\n", kProgram, error->message);
      return error->exit_code;
    }
    // The command may ignore a forwarded SIGTERM (a PID 1 ignores every signal it has no
    // handler for: pid_namespaces(7)): 10 s later, or at a second ^C, it gets SIGKILL.
    const ctr::ExitStatus status = child.wait_with_grace(kStopGrace);
    fmt::print(stderr, "{}: {} {}\n", kProgram, options.common.command[0], status.describe());

    // === 6. Clean up ===
    // Nothing to undo: chroot only affected the child.

    return status.shell_code();
  });
}
