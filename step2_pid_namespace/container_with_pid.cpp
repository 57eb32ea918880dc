// Step 2: a PID namespace — the container's command becomes PID 1.
//
// clone(2) with CLONE_NEWPID starts the child in a new PID namespace (pid_namespaces(7)):
// inside, it is PID 1 and sees only its own descendants; the host still sees it, under an
// ordinary host PID. `ps` reads /proc, and a procfs shows the PID namespace of whoever
// mounted it (proc(5)), so the child mounts a fresh /proc inside the rootfs.
//
// What still leaks: there is no mount namespace yet, so that /proc mount appears in the
// host's mount table while the container runs (the parent removes it afterwards), and root
// can still leave the chroot. Step 3 fixes both.
//
//   sudo ./container -- ps aux        # PID 1 is ps's shell; no host process is listed
#include <sched.h>  // CLONE_NEWPID

#include <CLI/CLI.hpp>   // CLI::App: the command line
#include <fmt/format.h>  // fmt::print

#include "ctr/cli.hpp"        // command line shared by every step
#include "ctr/exec.hpp"       // ctr::execvpe
#include "ctr/handshake.hpp"  // parent <-> child handshake over a socketpair
#include "ctr/mount.hpp"      // ctr::chroot, ctr::mount_proc, ctr::umount2
#include "ctr/process.hpp"    // ctr::ChildProcess (clone), ctr::SignalForwarder

namespace {

constexpr std::chrono::seconds kStopGrace{10};  // from a forwarded SIGTERM to SIGKILL
constexpr const char* kProgram = "container_with_pid";

struct Options {
  ctr::CommonOptions common;
};

// === 1. Command line ===
Options parse_command_line(int argc, char** argv) {
  Options options;
  CLI::App app{"Step 2: run a command as PID 1 of a new PID namespace", kProgram};
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
    // --- Change root ---
    // chroot(2) then chdir("/"): from now on "/" is the rootfs. The kernel still lets root
    // leave it (chroot(2) DESCRIPTION: "This call does not change the current working directory"
    // and is "not intended to be used for any kind of security purpose").
    ctr::chroot(options.common.rootfs);

    // --- Mount /proc --- NEW in step 2
    // A procfs lists the PIDs of the namespace it was mounted from, so `ps` inside shows
    // only the container. Without a mount namespace this mount is the host's too.
    ctr::mount_proc("/proc");

    // --- Run the command ---
    // execve(2) replaces this process; on success the handshake socket closes (CLOEXEC)
    // and the parent knows the command runs.
    ctr::execvpe(options.common.command, ctr::current_environment());
  });
}

// Unmounts ROOTFS/proc if the child left it mounted; says so, never throws.
void unmount_proc(const std::string& rootfs) noexcept {
  const std::string proc = rootfs + "/proc";
  if (!ctr::is_mount_point(proc)) return;
  try {
    ctr::umount2(proc, MNT_DETACH);
  } catch (const std::exception& e) {
    fmt::print(stderr, "{}: warning: {}\n", kProgram, e.what());
  }
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
      unmount_proc(options.common.rootfs);
      fmt::print(stderr, "{}: {}\n", kProgram, error->message);
      return error->exit_code;
    }
    // The command may ignore a forwarded SIGTERM (a PID 1 ignores every signal it has no
    // handler for: pid_namespaces(7)): 10 s later, or at a second ^C, it gets SIGKILL.
    const ctr::ExitStatus status = child.wait_with_grace(kStopGrace);
    fmt::print(stderr, "{}: {} {}\n", kProgram, options.common.command[0], status.describe());

    // === 6. Clean up ===
    // NEW in step 2: the child's /proc mount lives in the host's mount table (there is no
    // mount namespace yet). Remove it, or every run would stack one more. (If this program
    // is killed with SIGKILL it stays: `sudo umount ROOTFS/proc`. Step 3 fixes this.)
    unmount_proc(options.common.rootfs);

    return status.shell_code();
  });
}
