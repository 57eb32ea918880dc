// A minimal init for `--init`: PID 1 of the container runs this, and the command runs as its
// child. It does the two jobs a PID 1 has, which an ordinary command does not expect to do
// (the same design as tini, which `docker run --init` uses):
//
//   1. Reap zombies. A process whose parent dies is re-parented to PID 1 of its PID namespace
//      (pid_namespaces(7)); when it ends it stays a zombie until PID 1 calls wait. A shell or
//      a server as PID 1 rarely waits for children it never started, and zombies pile up.
//   2. Forward signals. The kernel delivers to PID 1 of a namespace only the signals it has a
//      handler for (pid_namespaces(7)): without one, `docker stop`'s SIGTERM does nothing
//      and the runtime has to SIGKILL after its timeout. This init takes every signal and
//      passes it on to the command.
//
// How: all signals are blocked and fetched with sigwaitinfo(2), so no handler ever runs
// (a blocked signal is queued even for PID 1). SIGCHLD -> waitpid(-1, WNOHANG) until nothing
// is left; any other signal -> kill(command, sig). Only the command's process gets it, not its
// process group: tini's default (without -g). A shell that runs a pipeline should forward
// itself; ^C on a terminal already reaches the whole foreground group through the kernel.
//
// When the command ends, init exits with the command's status: its exit code, or 128+N if a
// signal N killed it, as a shell reports it. (Init cannot die of the same signal to pass it on
// exactly: the kernel ignores a signal sent by PID 1 to itself when it has no handler.) The
// other processes of the namespace need no care: when PID 1 of a PID namespace exits, the
// kernel sends SIGKILL to all of them (pid_namespaces(7)).
#pragma once

#include <string>  // std::string
#include <vector>  // std::vector

namespace ctr {

class Handshake;

// Runs the init loop in this process with argv as the command (PATH searched in env, like
// ctr::execvpe) and never returns: it exits with the command's status.
//
// The command runs in its own process group (setpgid(2)); when this process leads a session
// whose controlling terminal is stdin (-t: make_controlling_terminal() ran here), that group
// becomes the terminal's foreground group (tcsetpgrp(3)), so ^C and ^Z reach the command.
// The command starts with the signal mask this process had before run_init.
//
// If the command cannot be executed, the command's process exits 127 (not found) or 126
// (cannot execute), so init does too, and says why: through `handshake` if given
// (Handshake::report_error; init closes its own copy of the child's end right after the fork,
// so the parent's wait_for_exec() sees EOF exactly when the command's execve succeeded), else
// on stderr.
//
// Outside a new PID namespace (getpid() != 1) it makes itself a child subreaper
// (PR_SET_CHILD_SUBREAPER, prctl(2)), so orphans still come to it; but then the processes
// left when the command exits are not killed by the kernel: they go to the next reaper up.
[[noreturn]] void run_init(const std::vector<std::string>& argv,
                           const std::vector<std::string>& env, Handshake* handshake = nullptr);

}  // namespace ctr
