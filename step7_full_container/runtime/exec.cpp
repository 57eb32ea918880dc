// `mycontainer exec`: entering a running container. Read exec.hpp first.
#include "runtime/exec.hpp"

#include <fcntl.h>           // open(2)
#include <sched.h>           // setns(2), clone(2), CLONE_*
#include <signal.h>          // SIGCHLD
#include <sys/capability.h>  // cap_init(3), cap_set_proc(3) (libcap)
#include <sys/prctl.h>       // prctl(2): PR_SET_KEEPCAPS, PR_CAP_AMBIENT
#include <sys/stat.h>        // stat(2)
#include <sys/wait.h>        // waitpid(2)
#include <unistd.h>          // pipe2(2), read(2), write(2), umask(2)

#include <memory>  // std::unique_ptr
#include <utility>

#include <fmt/format.h>

#include "ctr/error.hpp"      // ctr::check, SyscallError, UsageError
#include "ctr/exec.hpp"       // ctr::execvpe, ctr::find_command
#include "ctr/fd.hpp"         // ctr::UniqueFd
#include "ctr/handshake.hpp"  // ctr::Handshake, ctr::child_setup
#include "ctr/narrate.hpp"    // ctr::narrate
#include "ctr/process.hpp"    // ctr::ChildProcess, ctr::CloneStack, ctr::pidfd_open

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>  // __sanitizer_*_switch_fiber
#endif
#include "runtime/capabilities.hpp"  // ctr::drop_bounding_set, ctr::capabilities_to_string
#include "runtime/exec_chain.hpp"    // ctr::check_exec_chain
#include "runtime/hardening.hpp"     // ctr::enter_workdir, set_no_new_privs, rlimits, fds
#include "runtime/pty.hpp"           // ctr::openpty, ctr::TerminalRelay
#include "runtime/state.hpp"         // ctr::process_start_time
#include "runtime/user.hpp"          // ctr::setgroups, ctr::setresgid, ctr::setresuid

namespace mycontainer {

namespace {

// The namespaces of /proc/PID/ns, by file name (namespaces(7)).
struct NamespaceFile {
  const char* name;
  int flag;
};
constexpr NamespaceFile kNamespaceFiles[] = {
    {"user", CLONE_NEWUSER}, {"mnt", CLONE_NEWNS},    {"net", CLONE_NEWNET},
    {"ipc", CLONE_NEWIPC},   {"uts", CLONE_NEWUTS},   {"cgroup", CLONE_NEWCGROUP},
    {"pid", CLONE_NEWPID},   {"time", CLONE_NEWTIME},
};

constexpr size_t kStackSize = size_t{256} * 1024;

// What the intermediate and the new process share (their copies of our memory).
struct Entering {
  const ExecTarget& target;
  const ExecRequest& request;
  ctr::Handshake& handshake;
  int pidfd;
  int flags;                               // the namespaces to join
  std::vector<ctr::UniqueFd> procs;        // cgroup.procs of each tree, opened on the host
  int pid_pipe;                            // C writes G's pid here
  const ctr::CloneStack* stack = nullptr;  // G's stack, for the sanitizer
};

// --- The new process (G): in the container's namespaces and cgroup, before exec ---

// Its terminal: a pty of the container's own devpts (/dev/ptmx inside), the master sent to
// the console socket (the engine's end) or, without one, to us for relaying.
void set_up_terminal(Entering& e) {
  if (!e.request.process.terminal) {
    // A new session all the same: no controlling terminal of our caller's to push
    // keystrokes into with TIOCSTI (hardening.hpp setsid).
    ctr::setsid();
    return;
  }
  ctr::Pty pty = ctr::openpty();
  if (const auto& size = e.request.process.console_size) {
    ctr::set_window_size(pty.master.get(), {static_cast<unsigned short>(size->height),
                                            static_cast<unsigned short>(size->width)});
  }
  if (e.request.console_socket >= 0) {
    ctr::send_fd(e.request.console_socket, pty.master.get());
  } else {
    e.handshake.send_fd(pty.master.get());
  }
  pty.master.reset();
  ctr::make_controlling_terminal(pty.slave.get());
}

// The container's hardening, in the engine's order (engine.cpp drop_privileges): limits,
// no_new_privs, seccomp (while we still may load it), then the user and the capabilities.
void drop_privileges(const Entering& e, bool setgroups_allowed) {
  const Process& p = e.request.process;
  if (p.oom_score_adj) ctr::set_oom_score_adj(*p.oom_score_adj);
  if (p.user.umask) ::umask(*p.user.umask);  // umask(2) cannot fail
  ctr::set_default_nofile();
  for (const Rlimit& r : p.rlimits) ctr::apply_ulimits({{r.resource, r.soft, r.hard}});
  if (p.no_new_privileges) ctr::set_no_new_privs();
  if (!e.request.seccomp.empty()) ctr::load_bpf(e.request.seccomp);
  apply_process_credentials(p, setgroups_allowed);
}

int new_process_main(Entering& e) {
  return ctr::child_setup(e.handshake, [&]() -> int {
    // Before anything is resolved: no descriptor of ours but the handshake and the console
    // socket (CVE-2024-21626: a host directory left open is a way out). The pidfd and the
    // cgroup files are our parent's business, not the container's.
    // Those the caller passes on (--preserve-fds: 3..3+N-1) stay.
    const int first_ours = 3 + e.request.preserve_fds;
    std::vector<int> keep{e.handshake.child_fd()};
    if (e.request.console_socket >= 0) keep.push_back(e.request.console_socket);
    ctr::close_fds_from(first_ours, keep);
    ctr::set_dumpable(false);  // again, for clarity: the flag came with the fork
    set_up_terminal(e);
    if (e.request.console_socket >= 0) ::close(e.request.console_socket);
    // setns(CLONE_NEWNS) put our root and working directory at the container's root; the
    // working directory is resolved inside it, magic links refused (hardening.hpp).
    ctr::enter_workdir(e.request.process.cwd);
    const auto& args = e.request.process.args;
    const auto& env = e.request.process.env;
    ctr::check_exec_chain(ctr::find_command(args[0], env));  // CVE-2019-5736, as in run
    const auto setgroups = ctr::read_file("/proc/self/setgroups");
    drop_privileges(e, !setgroups || setgroups->rfind("deny", 0) != 0);
    ctr::set_cloexec_from(first_ours);  // the handshake closes with the exec: we ran
    for (int fd = 3; fd < first_ours; ++fd) {
      ctr::check(::fcntl(fd, F_SETFD, 0), "fcntl", fmt::format("--preserve-fds: fd {}", fd));
    }
    ctr::execvpe(args, env);
  });
}

// The new process runs on our CloneStack, which AddressSanitizer (the asan preset) does not
// know as a stack: tell it, as ChildProcess::clone does (common/src/process.cpp explains why),
// or an exception in it reads as stack-use-after-scope.
int new_process_entry(void* arg) {
  auto& e = *static_cast<Entering*>(arg);
#if defined(__SANITIZE_ADDRESS__)
  void* fake_stack = nullptr;
  __sanitizer_start_switch_fiber(&fake_stack, e.stack->bottom(), e.stack->size());
  __sanitizer_finish_switch_fiber(nullptr, nullptr, nullptr);
#endif
  return new_process_main(e);
}

// --- The intermediate (C): joins, forks G, reports its pid, exits ---
int intermediate_main(Entering& e) {
  return ctr::child_setup(e.handshake, [&]() -> int {
    // Not dumpable: from the moment we join, a process of the container could otherwise
    // ptrace us, or read /proc/PID/mem and our descriptors, while we hold the host's
    // (runc CVE-2016-9962). G inherits it; execve(2) of the command resets it.
    ctr::set_dumpable(false);
    // The cgroup first, while its files are the host's (after setns into the container's
    // cgroup namespace a move is checked against that namespace): "0" means the writer.
    for (const auto& fd : e.procs) {
      ctr::check(::write(fd.get(), "0", 1), "write", "cgroup.procs");
    }
    if (e.flags != 0) {
      ctr::check(::setns(e.pidfd, e.flags), "setns",
                 fmt::format("pid {}: {}", e.target.pid, ctr::clone_flags_to_string(e.flags)));
    }
    // Our child is the first process of ours in the container's pid namespace. CLONE_PARENT:
    // it is our parent's child, not ours.
    ctr::CloneStack stack(kStackSize);
    e.stack = &stack;
    const pid_t pid = ctr::check(::clone(new_process_entry, stack.top(), CLONE_PARENT, &e), "clone",
                                 "CLONE_PARENT");
    ctr::check(::write(e.pid_pipe, &pid, sizeof pid), "write", "pid");
    return 0;
  });
}

// Waits for our child pid (G is ours through CLONE_PARENT), retrying on EINTR.
ctr::ExitStatus wait_for(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) throw ctr::SyscallError(errno, "waitpid", std::to_string(pid));
  }
  return ctr::ExitStatus::from_wait_status(status);
}

// G, owned until it is waited for or handed over: killed and reaped on an error path.
class NewProcess {
 public:
  explicit NewProcess(pid_t pid) : pid_(pid) {}
  ~NewProcess() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
  NewProcess(const NewProcess&) = delete;
  NewProcess& operator=(const NewProcess&) = delete;
  pid_t pid() const { return pid_; }
  ctr::ExitStatus wait() { return wait_for(std::exchange(pid_, 0)); }
  void release() { pid_ = 0; }

 private:
  pid_t pid_;
};

}  // namespace

int namespaces_to_join(pid_t pid) {
  int flags = 0;
  for (const auto& ns : kNamespaceFiles) {
    struct stat theirs {
    }, ours{};
    const std::string path = fmt::format("/proc/{}/ns/{}", pid, ns.name);
    if (::stat(path.c_str(), &theirs) != 0) {
      if (errno == ENOENT && ::access(fmt::format("/proc/{}", pid).c_str(), F_OK) == 0) {
        continue;  // a namespace type this kernel does not have (time before 5.6)
      }
      throw ctr::SyscallError(errno, "stat", path);
    }
    const std::string self = fmt::format("/proc/self/ns/{}", ns.name);
    ctr::check(::stat(self.c_str(), &ours), "stat", self);
    if (theirs.st_ino != ours.st_ino || theirs.st_dev != ours.st_dev) flags |= ns.flag;
  }
  return flags;
}

void apply_process_credentials(const Process& process, bool setgroups_allowed) {
  const Capabilities caps = process.capabilities.value_or(Capabilities{});
  const User& user = process.user;
  // 1. The bounding set, while we hold CAP_SETPCAP.
  ctr::drop_bounding_set(caps.bounding);
  // 2. The user, keeping the permitted set across the uid change (prctl(2) PR_SET_KEEPCAPS;
  // without it a non-zero uid clears permitted and effective: capabilities(7)).
  ctr::check(::prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0), "prctl(PR_SET_KEEPCAPS)");
  std::vector<gid_t> groups = user.additional_gids;
  if (groups.empty() && (user.gid != 0 || user.uid != 0)) groups.push_back(user.gid);
  if (setgroups_allowed) ctr::setgroups(groups);  // none of the runtime's own groups
  ctr::setresgid(user.gid);
  ctr::setresuid(user.uid);
  // 3. Permitted, effective and inheritable, exactly as asked (capset(2)).
  std::unique_ptr<std::remove_pointer_t<cap_t>, int (*)(void*)> state(::cap_init(), ::cap_free);
  if (!state) throw ctr::SyscallError(errno, "cap_init");
  const auto set = [&](cap_flag_t flag, const ctr::CapabilitySet& which) {
    const std::vector<cap_value_t> values(which.begin(), which.end());
    if (values.empty()) return;  // cap_init() starts all clear; libcap refuses 0 values
    ctr::check(
        ::cap_set_flag(state.get(), flag, static_cast<int>(values.size()), values.data(), CAP_SET),
        "cap_set_flag");
  };
  set(CAP_PERMITTED, caps.permitted);
  set(CAP_EFFECTIVE, caps.effective);
  set(CAP_INHERITABLE, caps.inheritable);
  ctr::check(::cap_set_proc(state.get()), "capset", ctr::capabilities_to_string(caps.permitted));
  // 4. Ambient: cleared, then raised one by one (each must be permitted and inheritable).
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) {
    throw ctr::SyscallError(errno, "prctl(PR_CAP_AMBIENT_CLEAR_ALL)");
  }
  for (const cap_value_t c : caps.ambient) {
    ctr::check(::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0),
               "prctl(PR_CAP_AMBIENT_RAISE)", ctr::capability_name(c));
  }
  ctr::check(::prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0), "prctl(PR_SET_KEEPCAPS)");
  ctr::narrate({.call = fmt::format("setresuid({0}); capset(permitted = {1}, effective = {2})",
                                    user.uid, ctr::capabilities_to_string(caps.permitted),
                                    ctr::capabilities_to_string(caps.effective)),
                .result = "ok",
                .shell = fmt::format("setpriv --reuid={} --regid={} ...", user.uid, user.gid),
                .man = "capabilities(7), capset(2)"});
}

ExecResult exec_in_container(const ExecTarget& target, const ExecRequest& request) {
  if (request.process.args.empty()) throw ctr::UsageError("exec: no command to run");
  // The container's first process, held by a pidfd: from here on a reused pid cannot send
  // us into another process's namespaces. Checked against its start time after opening.
  const auto not_running = [&] {
    return ctr::UsageError(
        fmt::format("the container is not running (pid {} is gone)", target.pid));
  };
  if (target.pid <= 0) throw not_running();
  ctr::UniqueFd pidfd = ctr::pidfd_open(target.pid);
  if (!pidfd) throw not_running();
  if (target.start_time != 0 && ctr::process_start_time(target.pid) != target.start_time) {
    throw not_running();
  }
  const int flags = namespaces_to_join(target.pid);
  // The intermediate moves itself in, writing 0. On v1 into `tasks`: it is a single thread,
  // and a thread moving itself alone skips the lock a whole process's move takes, with its
  // wait for an RCU grace period (ctr::Cgroup::add_self explains). v2 has no `tasks`.
  std::vector<ctr::UniqueFd> procs;
  for (const auto& dir : target.cgroup_dirs) {
    std::string file = dir + "/tasks";
    if (::access(file.c_str(), F_OK) != 0) file = dir + "/cgroup.procs";
    procs.emplace_back(ctr::check(::open(file.c_str(), O_WRONLY | O_CLOEXEC), "open", file));
  }
  int pipe_fds[2];
  ctr::check(::pipe2(pipe_fds, O_CLOEXEC), "pipe2");
  ctr::UniqueFd pid_read(pipe_fds[0]), pid_write(pipe_fds[1]);

  ctr::Handshake handshake;
  Entering e{target, request, handshake, pidfd.get(), flags, std::move(procs), pid_write.get()};
  ctr::ChildProcess intermediate =
      ctr::ChildProcess::clone(0, [&] { return intermediate_main(e); });
  handshake.close_child_end();
  pid_write.reset();
  pid_t pid = 0;
  const ssize_t got = ::read(pid_read.get(), &pid, sizeof pid);
  const ctr::ExitStatus c_status = intermediate.wait();
  if (got != sizeof pid) {
    // The intermediate failed before it could fork: the handshake says why.
    auto error = handshake.wait_for_exec();
    throw ExecError(
        error ? error->exit_code : ctr::kExitRuntimeFailed,
        error ? error->message : fmt::format("exec: the joining process {}", c_status.describe()));
  }
  NewProcess process(pid);
  ctr::narrate({.call = fmt::format("setns(pidfd of {}, {}); clone(CLONE_PARENT)", target.pid,
                                    ctr::clone_flags_to_string(flags)),
                .result = fmt::format("pid {}", pid),
                .shell = fmt::format("nsenter --all --target {} --", target.pid),
                .man = "setns(2), pid_namespaces(7)"});

  std::optional<ctr::TerminalRelay> relay;
  if (request.process.terminal && request.console_socket < 0) {
    if (ctr::UniqueFd master = handshake.receive_fd()) relay.emplace(std::move(master));
  }
  if (auto error = handshake.wait_for_exec()) {
    relay.reset();
    process.wait();
    throw ExecError(error->exit_code, error->message);
  }
  if (request.on_start) request.on_start(pid);
  if (request.detach) {
    process.release();  // our caller's from now on (or its subreaper's once we exit)
    return {.pid = pid, .exit_code = std::nullopt};
  }
  ctr::SignalForwarder forward(pid);
  if (relay) {
    const ctr::UniqueFd exited = ctr::pidfd_open(pid);
    relay->run(exited.get());
  }
  const ctr::ExitStatus status = process.wait();
  return {.pid = pid, .exit_code = status.shell_code()};
}

}  // namespace mycontainer
