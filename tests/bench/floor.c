// The floor of scripts/bench.sh: what the kernel alone costs for a container's start, built
// static (no dynamic loader, no libc start-up beyond the minimum) so that "x floor" in the
// table compares a runtime with clone + chroot + exec and nothing else.
//
//   floor ROOTFS   clones a child in new PID, mount, UTS, IPC, network and cgroup namespaces
//                  (as the runtimes do), which makes its mounts private, chroots into ROOTFS
//                  and execs its /bin/true; waits for it and exits with its status.
//
// No /proc, no cgroup, no pivot_root, no hardening: a lower bound, not a container.
// C, not C++: the bench builds it with `cc -static -O2` and nothing from the project.
#define _GNU_SOURCE
#include <sched.h>      // clone(2), CLONE_*
#include <signal.h>     // SIGCHLD
#include <stdio.h>      // perror(3)
#include <stdlib.h>     // exit(3)
#include <sys/mount.h>  // mount(2)
#include <sys/wait.h>   // waitpid(2)
#include <unistd.h>     // chroot(2), chdir(2), execv(3), _exit(2)

static char stack[64 * 1024] __attribute__((aligned(16)));

static int child(void* root) {
  // The host's mounts must not see ours (unshare --mount --propagation private does this).
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) return perror("mount"), 125;
  if (chroot((const char*)root) < 0 || chdir("/") < 0) return perror("chroot"), 125;
  char* argv[] = {"/bin/true", NULL};
  execv(argv[0], argv);
  perror("execv");
  return 127;
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s ROOTFS\n", argv[0]);
    return 2;
  }
  const int flags = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET |
                    CLONE_NEWCGROUP | SIGCHLD;
  const pid_t pid = clone(child, stack + sizeof stack, flags, argv[1]);
  if (pid < 0) return perror("clone"), 125;
  int status = 0;
  if (waitpid(pid, &status, 0) < 0) return perror("waitpid"), 125;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
