// Step 3: a mount namespace — the container gets its own mount table, and a real new root.
//
// clone(2) with CLONE_NEWNS gives the child a copy of the host's mount table
// (mount_namespaces(7)). Made private, nothing it mounts or unmounts reaches the host. The
// child then mounts /proc and /sys inside the rootfs, and switches root with pivot_root(2)
// instead of chroot(2): the old root is detached, so unlike a chroot there is no path back
// to the host's files, even for root (the escape of step 1 fails here).
//
// What still leaks: the host name (step 4), the network (step 5), unlimited resources
// (step 6), and the container runs as real root with every capability (step 7).
//
//   sudo ./container -- mount         # only the container's mounts
//   sudo ./container --explain        # watch the mounts and pivot_root happen
#include <sched.h>  // CLONE_NEWPID, CLONE_NEWNS

#include <CLI/CLI.hpp>   // CLI::App: the command line
#include <fmt/format.h>  // fmt::print

#include "ctr/cli.hpp"        // command line shared by every step
#include "ctr/exec.hpp"       // ctr::execvpe
#include "ctr/handshake.hpp"  // parent <-> child handshake over a socketpair
#include "ctr/mount.hpp"      // ctr::mount_proc, ctr::pivot_root, ...
#include "ctr/process.hpp"    // ctr::ChildProcess (clone), ctr::SignalForwarder

namespace {

constexpr std::chrono::seconds kStopGrace{10};  // from a forwarded SIGTERM to SIGKILL
constexpr const char* kProgram = "container_with_mount";

struct Options {
  ctr::CommonOptions common;
};

// === 1. Command line ===
Options parse_command_line(int argc, char** argv) {
  Options options;
  CLI::App app{"Step 3: run a command with its own mount table and root", kProgram};
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
    // --- Make our mounts private --- NEW in step 3
    // The copy of the host's mount table we start with shares mount events with the host
    // (systemd makes / "shared"). MS_REC|MS_PRIVATE cuts that link before we mount anything
    // (mount_namespaces(7), "Shared subtrees").
    ctr::make_mounts_private();

    // --- Mount /proc and /sys --- (sysfs NEW in step 3)
    // Mounted before the root changes, so the paths are the rootfs's. A procfs lists the
    // PIDs of the namespace it was mounted from; now the mount is ours alone.
    const std::string& rootfs = options.common.rootfs;
    ctr::bind_mount(rootfs, rootfs);  // pivot_root(2) needs new_root to be a mount point
    ctr::mount_proc(rootfs + "/proc");
    ctr::mount_sysfs(rootfs + "/sys");

    // --- Change root --- (pivot_root instead of chroot: NEW in step 3)
    // pivot_root(2) moves the whole mount namespace onto the rootfs, and we detach the old
    // root: the host's files are no longer reachable by any path, `..` included.
    ctr::pivot_root(rootfs);

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
        | CLONE_NEWPID  // NEW in step 2: own PID numbers, the command is PID 1
        | CLONE_NEWNS   // NEW in step 3: own mount table
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
    // NEW in step 3: nothing to unmount. The child's mounts lived in its own mount
    // namespace, and the kernel dropped them with the namespace when its last process ended.

    return status.shell_code();
  });
}
