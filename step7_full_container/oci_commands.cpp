// The OCI commands that act on a container `create` made: start, state, kill, delete, and
// list and features (runtime.md "Operations", and runc's command line). Each takes the
// container's lock first (runtime/state.hpp), so two commands on one id never interleave:
// start, kill and delete exclusively, state and list shared.
#include <fcntl.h>        // open(2)
#include <poll.h>         // poll(2)
#include <signal.h>       // kill(2), sigabbrev_np(3)
#include <string.h>       // sigabbrev_np(3)
#include <sys/syscall.h>  // SYS_pidfd_send_signal
#include <sys/wait.h>     // waitpid(2)
#include <unistd.h>       // read(2), unlink(2), syscall(2)

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>  // std::pair
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "commands.hpp"    // remove_container
#include "ctr/cgroup.hpp"  // ctr::Cgroup::adopt_dirs
#include "ctr/error.hpp"   // ctr::UsageError
#include "lifecycle.hpp"   // docker_container: delete --force of a `run -d` name
#include "oci.hpp"
#include "runtime/capabilities.hpp"  // ctr::all_capabilities, ctr::capability_name
#include "ctr/process.hpp"           // ctr::pidfd_open
#include "runtime/exec.hpp"          // exec_in_container (startContainer hooks)
#include "runtime/seccomp.hpp"       // ctr::cached_seccomp
#include "runtime/hooks.hpp"         // ctr::run_hooks
#include "runtime/spec.hpp"          // kOciVersion
#include "runtime/state.hpp"

namespace mycontainer {

namespace fs = std::filesystem;

namespace {

// One container, found by id and locked.
struct Opened {
  fs::path dir;
  ctr::ContainerLock lock;
  ctr::ContainerState state;
  ctr::OciStatus status = ctr::OciStatus::kStopped;
};

Opened open_container(const std::string& id, ctr::ContainerLock::Mode mode) {
  ctr::validate_container_id(id);
  Opened c;
  c.dir = ctr::container_dir(id);
  c.lock = ctr::ContainerLock(c.dir, mode);  // "container ID does not exist"
  auto state = ctr::read_state(c.dir);
  if (!state) throw ctr::UsageError(fmt::format("container {} has no readable state", id));
  if (!state->oci) {
    throw ctr::UsageError(fmt::format(
        "container {} was started by `mycontainer run`, not `create`: see `mycontainer ps`", id));
  }
  c.state = std::move(*state);
  c.status = ctr::container_status(c.state, c.dir);
  return c;
}

nlohmann::json state_json(const Opened& c) {
  const bool alive = c.status == ctr::OciStatus::kCreated || c.status == ctr::OciStatus::kRunning ||
                     c.status == ctr::OciStatus::kPaused;
  return {
      {"ociVersion", kOciVersion},
      {"id", c.state.name},
      {"status", ctr::to_string(c.status)},
      {"pid", alive ? c.state.pid : 0},  // runtime.md: "REQUIRED when status is created or running"
      {"bundle", c.state.bundle},
      {"rootfs", c.state.rootfs},
      {"created", c.state.started},
      {"annotations", c.state.annotations}};
}

// The exec fifo, opened for reading: the first process's open for writing returns, it execs,
// and the fifo's close-on-exec write end closes: EOF. O_NONBLOCK, so that a process that died
// before it got there (killed meanwhile) cannot make us wait forever: we poll, and look.
// Returns "" once it exec'd, else what it wrote ("CODE message").
std::string release_and_wait(const Opened& c) {
  const fs::path fifo = c.dir / ctr::kExecFifo;
  const ctr::UniqueFd fd(
      ctr::check(::open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC), "open", fifo.string()));
  std::string got;
  bool connected = false;  // a fifo reads EOF before its writer came too (fifo(7))
  for (;;) {
    pollfd p{fd.get(), POLLIN, 0};
    const int n = ::poll(&p, 1, 100);
    if (n < 0 && errno != EINTR) throw ctr::SyscallError(errno, "poll", fifo.string());
    if (n > 0 && (p.revents & (POLLIN | POLLHUP)) != 0) {
      char buf[512];
      const ssize_t r = ::read(fd.get(), buf, sizeof buf);
      if (r > 0) {
        got.append(buf, static_cast<size_t>(r));
        connected = true;
        continue;
      }
      if (r == 0 && (connected || (p.revents & POLLHUP) != 0)) return got;  // it exec'd
      if (r < 0 && errno != EAGAIN && errno != EINTR) {
        throw ctr::SyscallError(errno, "read", fifo.string());
      }
    }
    if (!ctr::process_running(c.state.pid, c.state.pid_start_time)) {
      if (!got.empty()) return got;
      throw ctr::UsageError(
          fmt::format("container {}: its process ended before it could start", c.state.name));
    }
  }
}

// --- Hooks at start and delete (runtime/hooks.hpp) ---

std::string hook_state(const Opened& c, const char* status) {
  return ctr::hook_state_json(c.state.name, status, c.state.pid, c.state.bundle,
                              c.state.annotations);
}

// Our stdin, stdout and stderr, pointed at other descriptors for as long as this lives: a
// process that exec_in_container starts inherits them (it keeps 0, 1 and 2 only).
class StdioSwap {
 public:
  StdioSwap(int in, int out) {
    for (int fd = 0; fd < 3; ++fd) saved_[fd] = ctr::UniqueFd(::fcntl(fd, F_DUPFD_CLOEXEC, 3));
    ctr::check(::dup2(in, 0), "dup2", "stdin");
    ctr::check(::dup2(out, 1), "dup2", "stdout");
    ctr::check(::dup2(out, 2), "dup2", "stderr");
  }
  ~StdioSwap() {
    for (int fd = 0; fd < 3; ++fd) {
      if (saved_[fd]) {
        ::dup2(saved_[fd].get(), fd);
      } else {
        ::close(fd);
      }
    }
  }
  StdioSwap(const StdioSwap&) = delete;
  StdioSwap& operator=(const StdioSwap&) = delete;

 private:
  ctr::UniqueFd saved_[3];
};

// One startContainer hook: its path "MUST resolve in the container namespace" (config.md),
// so the program is the image's, and it runs as a process *of the container*: exec's
// machinery (runtime/exec.hpp) puts it into every namespace (pid included) and the cgroup of
// the container, with the container's user, capabilities, no_new_privs and seccomp filter
// (runc runs these hooks from the container's init, after it dropped its privileges). Run
// with the runtime's own privileges instead, an image that put its own program at the hook's
// path would be real root on the host, outside the container's pid namespace and cgroup: a
// fresh /proc mount would show it the host's processes and their roots.
void run_start_container_hook(const Opened& c, const Spec& spec, const Hook& hook,
                              const std::string& name, const std::string& state) {
  ExecRequest request;
  request.process = spec.process;
  // execve(path, args): the path is the program, args[0] what it is called.
  request.process.args = hook.args.empty() ? std::vector<std::string>{hook.path} : hook.args;
  request.process.args[0] = hook.path;
  // Its env, or the container process's: nothing of the runtime's own environment goes in.
  if (!hook.env.empty()) request.process.env = hook.env;
  request.process.terminal = false;
  request.process.console_size.reset();
  request.detach = true;  // we wait ourselves, with its timeout
  if (spec.linux.seccomp) {
    request.seccomp = ctr::cached_seccomp(*spec.linux.seccomp, ctr::state_root() / "seccomp");
  }
  const ExecTarget target{
      .pid = c.state.pid, .start_time = c.state.pid_start_time, .cgroup_dirs = c.state.cgroup_dirs};
  int in[2], out[2];
  ctr::check(::pipe2(in, O_CLOEXEC), "pipe2");
  ctr::UniqueFd in_read(in[0]), in_write(in[1]);
  ctr::check(::pipe2(out, O_CLOEXEC), "pipe2");
  ctr::UniqueFd out_read(out[0]), out_write(out[1]);
  ctr::feed_state(in_write.get(), state);  // a few hundred bytes: the pipe holds them
  in_write.reset();
  ExecResult started;
  try {
    const StdioSwap stdio(in_read.get(), out_write.get());
    started = exec_in_container(target, request);
  } catch (const ExecError& e) {
    throw ctr::HookError(fmt::format("{}: {}", name, e.what()));
  }
  in_read.reset();
  out_write.reset();  // ours closed: EOF once the hook (and what it started) closes its copy
  const ctr::HookOutcome outcome = ctr::supervise_hook(out_read.get(), started.pid, hook.timeout);
  int status = 0;
  while (::waitpid(started.pid, &status, 0) < 0 && errno == EINTR) {
  }
  ctr::check_hook_outcome(name, outcome, ctr::ExitStatus::from_wait_status(status), hook.timeout);
}

// startContainer: just before the user's process runs. A failure tears the container down
// (config.md: "the runtime MUST generate an error and stop the container"): nothing is left.
void run_start_container_hooks(const Opened& c, const Spec& spec) {
  const auto& hooks = spec.hooks.start_container;
  try {
    for (size_t i = 0; i < hooks.size(); ++i) {
      run_start_container_hook(c, spec, hooks[i],
                               fmt::format("hooks.startContainer[{}] '{}'", i, hooks[i].path),
                               hook_state(c, "created"));
    }
  } catch (const std::exception&) {
    remove_container(c.state, c.dir);
    throw;
  }
}

// poststart and poststop: a failure is reported, and the rest goes on.
void warn_on_hook_failure(const std::vector<Hook>& hooks, const std::string& state,
                          const char* kind) {
  try {
    ctr::run_hooks(hooks, state, kind);
  } catch (const std::exception& e) {
    const std::string line = fmt::format("warning: {}", e.what());
    fmt::print(stderr, "mycontainer: {}\n", line);
    log_error(line);
  }
}

// `delete --force WORD` with no OCI container WORD succeeds, as runc's does (delete.go: an
// engine tidies up after a create that failed, and must not fail there). But a word that
// names a `run -d` container is a person's slip (`delete` is not docker's `rm`): the exit code
// stays runc's, and one line says that nothing was deleted and what removes it.
void warn_if_docker_container(const std::string& word) {
  try {
    if (docker_container(word).empty()) return;
  } catch (const std::exception&) {
    return;  // an id prefix of several: not one container either way
  }
  fmt::print(stderr,
             "mycontainer: {} is a container of `mycontainer run -d`, not an OCI container: "
             "nothing deleted; remove it with `mycontainer rm -f {}`\n",
             word, word);
}

}  // namespace

Spec container_config(const std::string& bundle, const std::string& dir) {
  const fs::path copy = fs::path(dir) / ctr::kConfigCopy;
  std::error_code ec;
  if (fs::exists(copy, ec)) return read_spec(copy);
  return read_spec(fs::path(bundle) / "config.json");
}

// === start: let the waiting process run its command ===
int oci_start(const std::string& id) {
  const Opened c = open_container(id, ctr::ContainerLock::Mode::kExclusive);
  if (c.status != ctr::OciStatus::kCreated) {
    throw ctr::UsageError(fmt::format("cannot start container {}: it is {}, not created", id,
                                      ctr::to_string(c.status)));
  }
  // The config's hooks: startContainer now, poststart once the command runs.
  const Spec spec = container_config(c.state.bundle, c.dir.string());
  const Hooks& hooks = spec.hooks;
  run_start_container_hooks(c, spec);
  const std::string error = release_and_wait(c);
  ::unlink((c.dir / ctr::kExecFifo).c_str());  // started: "running" from now on
  if (error.empty()) {
    // A failing poststart hook is a warning only (config.md): the container runs.
    warn_on_hook_failure(hooks.poststart, hook_state(c, "running"), "poststart");
    return 0;
  }
  // "127 execve('/bin/nope'): No such file or directory"
  int code = ctr::kExitRuntimeFailed;
  std::string message = error;
  if (const auto space = error.find(' '); space != std::string::npos) {
    code = std::atoi(error.substr(0, space).c_str());
    message = error.substr(space + 1);
  }
  while (!message.empty() && message.back() == '\n') message.pop_back();
  fmt::print(stderr, "mycontainer: {}\n", message);
  log_error(message);
  return code != 0 ? code : ctr::kExitRuntimeFailed;
}

// === state: the OCI state JSON (runtime.md "State") ===
int oci_state(const std::string& id) {
  const Opened c = open_container(id, ctr::ContainerLock::Mode::kShared);
  fmt::print("{}\n", state_json(c).dump(2));
  return 0;
}

// "9", "KILL", "SIGKILL", "sigkill", "RTMIN+1" -> the number (signal(7)).
int parse_signal(const std::string& text) {
  if (!text.empty() && std::all_of(text.begin(), text.end(), ::isdigit)) {
    const int n = std::atoi(text.c_str());
    if (n > 0 && n < NSIG) return n;
  } else {
    std::string name = text;
    std::transform(name.begin(), name.end(), name.begin(), ::toupper);
    if (name.rfind("SIG", 0) == 0) name.erase(0, 3);
    for (int n = 1; n < NSIG; ++n) {
      const char* abbrev = ::sigabbrev_np(n);
      if (abbrev != nullptr && name == abbrev) return n;
    }
    if (name.rfind("RTMIN+", 0) == 0 || name.rfind("RTMAX-", 0) == 0) {
      const int k = std::atoi(name.c_str() + 6);
      const int n = name[2] == 'M' && name[3] == 'I' ? SIGRTMIN + k : SIGRTMAX - k;
      if (k >= 0 && n >= SIGRTMIN && n <= SIGRTMAX) return n;
    }
  }
  throw ctr::UsageError(
      fmt::format("'{}' is not a signal (a number, or a name such as TERM or "
                  "SIGKILL: kill -l lists them)",
                  ctr::printable(text)));
}

// === kill: a signal to the first process, or (--all) to every process of its cgroup ===
int oci_kill(const std::string& id, const std::string& signal, bool all) {
  const int sig = parse_signal(signal);
  const Opened c = open_container(id, ctr::ContainerLock::Mode::kExclusive);
  if (c.status != ctr::OciStatus::kCreated && c.status != ctr::OciStatus::kRunning &&
      c.status != ctr::OciStatus::kPaused) {
    throw ctr::UsageError(
        fmt::format("container {} is not running (it is {})", id, ctr::to_string(c.status)));
  }
  if (all && !c.state.cgroup_dirs.empty()) {
    ctr::Cgroup cgroup = ctr::Cgroup::adopt_dirs(c.state.cgroup_dirs);
    // Each process held by a pidfd first, then signalled only if it is still in the cgroup:
    // a pid that ended and was reused by a process of the host between our reading
    // cgroup.procs and the signal is not in it (pidfd_send_signal(2) reaches the process
    // the pidfd was opened for, or fails with ESRCH once it is gone).
    std::vector<std::pair<pid_t, ctr::UniqueFd>> held;
    for (const pid_t pid : cgroup.procs()) held.emplace_back(pid, ctr::pidfd_open(pid));
    const auto still = cgroup.procs();
    cgroup.release();  // we only looked: the container keeps it
    for (const auto& [pid, fd] : held) {
      if (!fd || std::find(still.begin(), still.end(), pid) == still.end()) continue;
      ::syscall(SYS_pidfd_send_signal, fd.get(), sig, nullptr, 0);  // ESRCH: ended meanwhile
    }
    return 0;
  }
  // The first process by its pid *and* start time: never a process that got its number since.
  if (!ctr::signal_process(c.state.pid, c.state.pid_start_time, sig)) {
    throw ctr::UsageError(fmt::format("container {} is not running (its process is gone)", id));
  }
  return 0;
}

// === delete: remove a container and everything it owns (cleanup.cpp's remove_container) ===
// A running container only with --force (killed first); a created one is killed anyway (it
// never ran its command): runc's rules.
int oci_delete(const std::string& id, bool force) {
  // `delete --force` of a container that is not there has nothing to do, and succeeds as
  // runc's does: an engine calls it to tidy up after a create that failed.
  ctr::validate_container_id(id);
  if (force && !fs::exists(ctr::container_dir(id))) {
    warn_if_docker_container(id);
    return 0;
  }
  const Opened c = open_container(id, ctr::ContainerLock::Mode::kExclusive);
  if ((c.status == ctr::OciStatus::kRunning || c.status == ctr::OciStatus::kPaused) && !force) {
    throw ctr::UsageError(fmt::format(
        "container {} is running: stop it first (`mycontainer kill {}`), or delete --force", id,
        id));
  }
  // poststop runs once the container is gone; its config may be gone too (a bundle removed
  // before delete): then there is nothing to run, and we say so.
  std::optional<Hooks> hooks;
  try {
    hooks = container_config(c.state.bundle, c.dir.string()).hooks;
  } catch (const std::exception& e) {
    fmt::print(stderr, "mycontainer: warning: poststop hooks not run: {}\n", e.what());
  }
  if (!remove_container(c.state, c.dir)) {
    throw ctr::UsageError(
        fmt::format("container {} could not be removed completely: its state "
                    "stays (run `mycontainer delete {}` again)",
                    id, id));
  }
  if (hooks) warn_on_hook_failure(hooks->poststop, hook_state(c, "stopped"), "poststop");
  return 0;
}

// === list: every OCI container under --root (runc list) ===
int oci_list(const std::string& format, bool quiet) {
  nlohmann::json all = nlohmann::json::array();
  for (const auto& s : ctr::list_containers()) {
    if (!s.oci) continue;
    try {
      all.push_back(state_json(open_container(s.name, ctr::ContainerLock::Mode::kShared)));
    } catch (const ctr::UsageError&) {
      // deleted meanwhile
    }
  }
  if (quiet) {
    for (const auto& c : all) fmt::print("{}\n", c["id"].get<std::string>());
    return 0;
  }
  if (format == "json") {
    fmt::print("{}\n", all.dump());
    return 0;
  }
  fmt::print("{:<12} {:<10} {:<10} {:<40} {:<20} {}\n", "ID", "PID", "STATUS", "BUNDLE", "CREATED",
             "OWNER");
  for (const auto& c : all) {
    fmt::print("{:<12} {:<10} {:<10} {:<40} {:<20} {}\n", c["id"].get<std::string>(),
               c["pid"].get<int>(), c["status"].get<std::string>(), c["bundle"].get<std::string>(),
               c["created"].get<std::string>(), "root");
  }
  return 0;
}

// === features: what this runtime does, as `runc features` says it (runtime-spec
// features.md). Only what mycontainer really does: no hooks yet, cgroupfs only. ===
int oci_features() {
  std::vector<std::string> caps;
  for (const cap_value_t cap : ctr::all_capabilities()) caps.push_back(ctr::capability_name(cap));
  const nlohmann::json j = {
      {"ociVersionMin", "1.0.0"},
      {"ociVersionMax", kOciVersion},
      {"hooks",
       {"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"}},
      {"mountOptions", supported_mount_options()},
      {"linux",
       {{"namespaces", {"cgroup", "ipc", "mount", "network", "pid", "user", "uts"}},
        {"capabilities", caps},
        {"cgroup", {{"v1", true}, {"v2", true}, {"systemd", false}, {"systemdUser", false}}},
        {"seccomp",
         {{"enabled", true},
          {"actions",
           {"SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
            "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"}},
          {"operators",
           {"SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT",
            "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"}},
          {"archs", {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64"}}}},
        {"apparmor", {{"enabled", false}}},
        {"selinux", {{"enabled", false}}}}},
      {"annotations", {{"io.mycontainer.version", MC_VERSION}}}};
  fmt::print("{}\n", j.dump(4));
  return 0;
}

}  // namespace mycontainer
