// The last steps before execve(2) in the container's child: hide the parts of /proc and /sys
// that leak the host, make the kernel's knobs read-only, forbid gaining privileges, set
// resource limits, close stray descriptors, and leave the caller's terminal session.
//
// The order in the child (engine.cpp: container_main, then drop_privileges; the step 7
// README, "The order of operations, and why"):
//   populate_dev (devices.hpp)                before pivot_root: binds the host's devices
//   pivot_root, then mask_paths and make_paths_read_only (they mount: CAP_SYS_ADMIN)
//   setsid, or a terminal (pty.hpp)           a new session: no controlling terminal of the
//                                             caller's to push keystrokes into
//   enter_workdir                             resolved inside the root, no magic link
//   check_exec_chain (exec_chain.hpp)         still root, and before seccomp (which answers
//                                             the openat2 it needs with ENOSYS)
//   set_default_nofile, apply_ulimits         raising a hard limit needs CAP_SYS_RESOURCE
//   set_no_new_privs                          if asked (process.noNewPrivileges; docker:
//                                             --security-opt no-new-privileges)
//   load the seccomp filter (seccomp.hpp)     needs no_new_privs or CAP_SYS_ADMIN, so before
//                                             the capabilities go; capset, setresuid and
//                                             execve pass it
//   a user other than root:
//     drop_bounding_set (capabilities.hpp)    needs CAP_SETPCAP
//     setgroups, setresgid, setresuid         (user.hpp) while we still hold CAP_SETGID and
//                                             CAP_SETUID; the new uid clears the permitted
//                                             and effective sets (capabilities(7))
//   root: setgroups({}) outside a user namespace, then apply_capabilities
//   set_cloexec_from(3)                       nothing of ours leaks past execve
//   execve (through run_init with --init)
#pragma once

#include <sys/resource.h>  // RLIMIT_*, rlim_t
#include <sys/types.h>     // pid_t

#include <string>       // std::string
#include <string_view>  // std::string_view
#include <vector>       // std::vector

namespace ctr {

// --- Masked and read-only paths ------------------------------------------------------------

// Docker's defaults (moby oci/defaults.go). Masked: files that leak host state (kcore is the
// host's memory as an ELF core file, keys its keyrings, timer_list and sched_debug its tasks)
// or that drive hardware (acpi, scsi, firmware, powercap, whose energy counters leaked host
// activity: CVE-2020-8694, "Platypus").
const std::vector<std::string>& default_masked_paths();
// Read-only: the kernel's knobs that are not namespaced. /proc/sys/kernel/core_pattern, for
// one, runs a program *on the host* at every core dump; /proc/sysrq-trigger reboots it.
const std::vector<std::string>& default_read_only_paths();

// Hides each path: /dev/null bind-mounted over a file, an empty read-only tmpfs over a
// directory (what runc does). Paths are as seen inside `root` ("/" after pivot_root, where
// /dev/null is the container's own) and are resolved there with open_in_root (path.hpp), so
// a symlink cannot move the mount. Missing paths are skipped. Narrated; throws SyscallError.
void mask_paths(const std::vector<std::string>& paths, const std::string& root = "/");

// Makes each path read-only: bind-mounted onto itself, then remounted with
// MS_RDONLY|MS_NOSUID|MS_NODEV|MS_NOEXEC plus whatever flags the mount already had (in a
// user namespace, clearing a locked flag fails: remount_bind_read_only in path.hpp).
// Same resolution and skipping as mask_paths.
void make_paths_read_only(const std::vector<std::string>& paths, const std::string& root = "/");

// --- Privileges ----------------------------------------------------------------------------

// prctl(PR_SET_NO_NEW_PRIVS, 1): from now on execve(2) never grants privileges: setuid bits
// and file capabilities are ignored, for this process and all its descendants, for good.
// A `sudo` or a setuid binary planted in the image cannot turn a user back into root. It
// also lets an unprivileged process install a seccomp filter (seccomp(2)).
void set_no_new_privs();
// prctl(PR_GET_NO_NEW_PRIVS): the "NoNewPrivs:" line of /proc/self/status.
bool no_new_privs();

// prctl(PR_SET_DUMPABLE). A non-dumpable process cannot be ptrace'd, and its /proc/PID files
// (mem, environ, fd/, exe) belong to root, so no process already in the container can reach
// into the runtime while it still holds host resources (runc CVE-2016-9962: the container's
// init ptrace'd a `runc exec` process joining the container and took the host descriptors
// it still held). execve(2) of an
// ordinary program makes the process dumpable again, so this lasts exactly until the
// container's command starts.
//
// CVE-2019-5736 is the sharper variant: a container made runc execute itself (entrypoint
// "/proc/self/exe", or a #! line naming it) *inside* the container; the now dumpable process
// held /proc/self/exe, a magic link to the runtime binary on the host, and, root in the
// initial user namespace, reopened it for writing once runc exited: every later `docker run`
// on that host ran the attacker's code as root. Non-dumpable does not help there (execve
// resets it). This runtime's child is likewise a copy of the runtime until it execs the
// command, so a command of "/proc/self/exe" starts mycontainer's own binary inside the
// container. The defences, strongest first: a user namespace (container root is not host
// root, cannot write the binary); re-executing from a sealed memfd copy of the binary (runc's
// fix: memfd_create(2) + F_SEAL_* in fcntl(2)); a read-only binary on a read-only mount.
void set_dumpable(bool dumpable);
bool dumpable();

// setsid(2): a new session without a controlling terminal. The container then cannot use
// ioctl(TIOCSTI) on the terminal it inherited to type commands into the caller's shell, which
// runs them after the container exits (CVE-2017-5226 in bubblewrap, CVE-2016-7545 in
// SELinux's sandbox): TIOCSTI works only on one's controlling terminal (tty_ioctl(4)).
// Returns the new session id. Fails with EPERM for a process group leader.
pid_t setsid();

// --- Resource limits -----------------------------------------------------------------------

// setrlimit(2), narrated. Lowering is always allowed; raising a hard limit needs
// CAP_SYS_RESOURCE. RLIM_INFINITY means unlimited.
void set_rlimit(int resource, rlim_t soft, rlim_t hard);

// docker run --ulimit NAME=SOFT[:HARD].
struct Ulimit {
  int resource = 0;  // RLIMIT_*
  rlim_t soft = 0;
  rlim_t hard = 0;
};
// Parses "nofile=1024:4096" (hard = soft when omitted, as docker does). Values are decimal,
// or -1 / "unlimited" for RLIM_INFINITY. Names: core, cpu, data, fsize, locks, memlock,
// msgqueue, nice, nofile, nproc, rss, rtprio, rttime, sigpending, stack. Note that nproc
// counts processes per *user* across the whole host, not per container (setrlimit(2)).
// Throws UsageError naming the problem.
Ulimit parse_ulimit(std::string_view spec);
// "nofile" -> RLIMIT_NOFILE; throws UsageError for other names.
int rlimit_from_name(std::string_view name);
// RLIMIT_NOFILE -> "nofile".
std::string rlimit_name(int resource);
// Applies each, in order.
void apply_ulimits(const std::vector<Ulimit>& limits);

// The default soft limit on open files: many programs loop over every possible descriptor at
// start (close all up to the limit), which is slow when the limit is a million, and select(2)
// breaks above 1024 (FD_SETSIZE). systemd gives services the same soft limit for the same
// reasons (systemd.exec(5), LimitNOFILE=).
inline constexpr rlim_t kDefaultNofileSoft = 1024;
// Sets RLIMIT_NOFILE's soft limit to min(kDefaultNofileSoft, hard); hard unchanged.
void set_default_nofile();

// --- Descriptors ---------------------------------------------------------------------------

// Closes every descriptor >= first except those in keep: close_range(2), or, before Linux
// 5.9, each entry of /proc/self/fd. Keeps 0, 1 and 2 when first is 3.
void close_fds_from(int first, const std::vector<int>& keep = {});
// Marks them close-on-exec instead (CLOSE_RANGE_CLOEXEC, 5.11; else fcntl(2) FD_CLOEXEC on
// each): they stay usable until execve(2), the handshake's end included, then vanish. What
// runc does since CVE-2024-21626 ("Leaky Vessels"), where a leaked descriptor of the host's
// cgroup directory let `WORKDIR /proc/self/fd/7` put a container's working directory on the
// host.
void set_cloexec_from(int first, const std::vector<int>& keep = {});

// Enters the working directory `workdir` of a process whose root is already the container's
// (after pivot_root): resolved inside the root with openat2 RESOLVE_IN_ROOT and
// RESOLVE_NO_MAGICLINKS, so that neither `-w /proc/self/fd/N` nor an image symlink to it can
// lead out through a descriptor (the shape of runc CVE-2024-21626), then fchdir(2), then
// checked: getcwd(3) of a directory outside the root answers "(unreachable)/..."
// (getcwd(2)), which is refused. Throws SyscallError("workdir", workdir). Narrated.
void enter_workdir(const std::string& workdir);

// Writes /proc/self/oom_score_adj (proc(5)): -1000 (never chosen by the OOM killer) to 1000
// (chosen first). Lowering it needs CAP_SYS_RESOURCE; the process's children inherit it.
// Throws SyscallError. Narrated.
void set_oom_score_adj(int score);

}  // namespace ctr
