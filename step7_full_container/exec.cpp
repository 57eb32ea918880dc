// `mycontainer exec`: one more process in a running container (runc exec). podman calls
//   exec --pid-file F --process P.json --detach [--tty --console-socket S] ID
// and containerd's shim much the same; a person types `exec ID sh`. The work is
// runtime/exec.hpp's; this file finds the container, builds the process, and reports.
#include <fcntl.h>       // open(2), fcntl(2)
#include <sys/socket.h>  // socket(2), connect(2)
#include <sys/un.h>      // sockaddr_un
#include <unistd.h>      // close(2)

#include <cstdio>      // std::rename
#include <filesystem>  // std::filesystem::path
#include <fstream>     // std::ifstream
#include <optional>    // std::optional (the lock)
#include <vector>      // std::erase_if

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "ctr/error.hpp"    // ctr::UsageError, ctr::check
#include "ctr/narrate.hpp"  // ctr::set_narrator (--explain)
#include "oci.hpp"          // mycontainer::log_error, container_config
#include "options.hpp"      // mycontainer::resolve_user, supplementary_groups
#include "ops.hpp"
#include "runtime/capabilities.hpp"  // ctr::capability_from_name
#include "runtime/exec.hpp"          // mycontainer::exec_in_container
#include "runtime/hardening.hpp"     // ctr::close_fds_from
#include "runtime/seccomp.hpp"       // ctr::cached_seccomp
#include "runtime/spec.hpp"          // mycontainer::read_spec, process_from_json
#include "runtime/state.hpp"         // the container's state, its lock and status

namespace mycontainer {

namespace fs = std::filesystem;

void add_exec_options(CLI::App& cmd, ExecOptions& o) {
  cmd.add_option("-p,--process", o.process_file, "the process to run, as a process.json");
  cmd.add_flag("-t,--tty", o.tty, "give it a terminal (with --detach: --console-socket)");
  cmd.add_option("--console-socket", o.console_socket,
                 "send the terminal's master to this unix socket (SCM_RIGHTS)");
  cmd.add_flag("-d,--detach", o.detach, "return once it runs; the caller collects its exit");
  cmd.add_option("--pid-file", o.pid_file, "write its pid to FILE");
  cmd.add_flag("-i,--interactive", o.interactive, "docker's: stdin is passed on anyway");
  cmd.add_flag("--explain", o.explain, "narrate how the process joins the container");
  cmd.add_option("-w,--workdir,--cwd", o.cwd, "its working directory, inside the container");
  // Repeatable options take one value each (allow_extra_args(false)): a vector option would
  // otherwise go on taking words, the container's id and its command included.
  cmd.add_option("-e,--env", o.env, "KEY=VALUE, added to the container's environment")
      ->allow_extra_args(false);
  cmd.add_option("-u,--user", o.user,
                 "UID[:GID] or NAME[:GROUP], names from the container's /etc/passwd and "
                 "/etc/group");
  cmd.add_option("-g,--additional-gids", o.additional_gids, "one more group ID (repeatable)")
      ->allow_extra_args(false);
  cmd.add_option("--preserve-fds", o.preserve_fds,
                 "pass the caller's descriptors 3..3+N-1 on to the process")
      ->check(CLI::Range(0, 1000));
  cmd.add_option("--cap", o.caps, "one more capability (CAP_NET_ADMIN...)")
      ->allow_extra_args(false);
  cmd.add_flag("--no-new-privs", o.no_new_privs, "set no_new_privs for it");
  cmd.add_option("id", o.id, "the container's id")->required();
  // The command and its arguments follow the id: not an option of ours, so that CLI11 stops
  // there (prefix_command) and hands them over untouched, "-c" and all (mycontainer.cpp).
  cmd.footer("exec [OPTIONS] ID COMMAND [ARG...], or exec [OPTIONS] --process FILE ID");
}

namespace {

bool all_digits(const std::string& s) {
  return !s.empty() && s.size() <= 9 && s.find_first_not_of("0123456789") == std::string::npos;
}

// --user "1000" or "1000:1000": numbers, as runc takes them (no file read).
// Names ("nobody", "1000:staff") are looked up in the container's own /etc/passwd and
// /etc/group, as docker and podman exec do: read through /proc/PID/root, the first process's
// root, every component resolved inside it (options.cpp resolve_user, openat2
// RESOLVE_IN_ROOT): a symlink the container planted at /etc/passwd cannot make us read the
// host's. The groups that list the user as a member come along (initgroups(3)).
void apply_user(User& user, const std::string& text, const std::string& container_root) {
  const auto colon = text.find(':');
  const std::string u = text.substr(0, colon);
  const std::string g = colon == std::string::npos ? "" : text.substr(colon + 1);
  user.additional_gids.clear();
  if (all_digits(u) && (colon == std::string::npos || all_digits(g))) {
    user.uid = static_cast<uint32_t>(std::stoul(u));
    user.gid = g.empty() ? 0 : static_cast<uint32_t>(std::stoul(g));
    return;
  }
  const User found = resolve_user(text, container_root);
  user.uid = found.uid;
  user.gid = found.gid;
  user.additional_gids = supplementary_groups(text, container_root);
}

// --additional-gids: numbers (runc's -g), added to the supplementary groups.
void add_groups(User& user, const std::vector<std::string>& gids) {
  for (const auto& g : gids) {
    if (!all_digits(g)) {
      throw ctr::UsageError(fmt::format("--additional-gids '{}': give a group ID (a number)", g));
    }
    const auto gid = static_cast<gid_t>(std::stoul(g));
    user.additional_gids.push_back(gid);
  }
}

// KEY=VALUE replaces KEY's entry, or is added.
void set_env(std::vector<std::string>& env, const std::string& entry) {
  const auto eq = entry.find('=');
  if (eq == std::string::npos || eq == 0) {
    throw ctr::UsageError(fmt::format("--env '{}': give KEY=VALUE", entry));
  }
  const std::string key = entry.substr(0, eq + 1);
  for (auto& e : env) {
    if (e.rfind(key, 0) == 0) {
      e = entry;
      return;
    }
  }
  env.push_back(entry);
}

// What to run: the process.json as it is, or the container's own process with the command
// line's changes (runc exec's rules).
Process process_for(const ExecOptions& o, const Spec& spec, const std::string& container_root) {
  if (!o.process_file.empty()) {
    if (!o.args.empty()) {
      throw ctr::UsageError("exec: give either --process FILE or a command, not both");
    }
    std::ifstream in(o.process_file);
    if (!in) throw ctr::SyscallError(errno, "open", o.process_file);
    nlohmann::json json;
    try {
      json = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
      throw SpecError(fmt::format("{}: not JSON: {}", o.process_file, e.what()));
    }
    return process_from_json(json);
  }
  if (o.args.empty()) throw ctr::UsageError("exec: no command (give one, or --process FILE)");
  Process p = spec.process;
  // Socket activation was the first process's (create passed it LISTEN_FDS and LISTEN_PID=1
  // with the descriptors): this process has none of those descriptors.
  std::erase_if(p.env, [](const std::string& e) {
    return e.rfind("LISTEN_FDS=", 0) == 0 || e.rfind("LISTEN_PID=", 0) == 0;
  });
  p.args = o.args;
  p.terminal = o.tty;
  p.console_size.reset();
  if (!o.cwd.empty()) p.cwd = o.cwd;
  for (const auto& e : o.env) set_env(p.env, e);
  if (!o.user.empty()) apply_user(p.user, o.user, container_root);
  add_groups(p.user, o.additional_gids);
  if (o.no_new_privs) p.no_new_privileges = true;
  if (!o.caps.empty()) {
    Capabilities caps = p.capabilities.value_or(Capabilities{});
    for (const auto& name : o.caps) {
      const cap_value_t c = ctr::capability_from_name(name);
      for (auto* set : {&caps.bounding, &caps.effective, &caps.permitted}) set->insert(c);
    }
    p.capabilities = caps;
  }
  return p;
}

// A unix stream socket connected to path: the engine's console socket.
ctr::UniqueFd connect_console_socket(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    throw ctr::UsageError(fmt::format("--console-socket '{}': path too long", path));
  }
  path.copy(addr.sun_path, path.size());
  ctr::UniqueFd fd(ctr::check(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), "socket"));
  ctr::check(::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), "connect", path);
  return fd;
}

// The pid, written to a temporary file and renamed: a reader sees all of it or nothing.
// O_EXCL|O_NOFOLLOW: the temporary name is guessable, and a link planted there by whoever
// may write that directory must not make us (root) write through it.
void write_pid_file(const std::string& path, pid_t pid) {
  const std::string tmp = fmt::format("{}.{}.tmp", path, ::getpid());
  const std::string text = std::to_string(pid);
  ::unlink(tmp.c_str());  // one a killed exec left (a link is removed, not followed)
  {
    const ctr::UniqueFd fd(
        ctr::check(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644),
                   "open", tmp));
    ctr::check(static_cast<int>(::write(fd.get(), text.data(), text.size())), "write", tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw ctr::SyscallError(err, "rename", path);
  }
}

// --preserve-fds N: the caller's 3..3+N-1 must be open (a closed one would let one of ours
// take its number and leak into the container).
void check_preserved_fds(int n) {
  for (int fd = 3; fd < 3 + n; ++fd) {
    if (::fcntl(fd, F_GETFD) < 0) {
      throw ctr::SyscallError(errno, "fcntl", fmt::format("--preserve-fds: fd {}", fd));
    }
  }
}

}  // namespace

int oci_exec(const ExecOptions& o) {
  // Nothing of our caller's may reach the container: before anything is resolved
  // (CVE-2024-21626; runtime/hardening.hpp).
  ctr::close_fds_from(3 + o.preserve_fds);
  check_preserved_fds(o.preserve_fds);
  if (o.explain) ctr::set_narrator(ctr::stderr_narrator("mycontainer"));
  ctr::validate_container_id(o.id);
  const fs::path dir = ctr::container_dir(o.id);
  ExecTarget target;
  Spec spec;
  // Shared, held until the new process runs (or failed to): a delete (exclusive) waits
  // meanwhile, so it cannot remove the cgroup or kill the container half way through our
  // joining, and then miss the process we add. Released once it runs (on_start): a delete
  // must not wait for the exec'd command to end.
  std::optional<ctr::ContainerLock> lock(std::in_place, dir, ctr::ContainerLock::Mode::kShared);
  std::string container_root;
  {
    const auto state = ctr::read_state(dir);
    if (!state) throw ctr::UsageError(fmt::format("container {} does not exist", o.id));
    if (!state->oci) {
      throw ctr::UsageError(
          fmt::format("container {} was started by `mycontainer run`, not `create`", o.id));
    }
    const auto status = ctr::container_status(*state, dir);
    if (status != ctr::OciStatus::kRunning && status != ctr::OciStatus::kCreated) {
      throw ctr::UsageError(
          fmt::format("cannot exec in container {}: it is {}", o.id, ctr::to_string(status)));
    }
    // Its own copy of the config (what create applied, with update's resources), not the
    // bundle's file, which may have changed since.
    spec = container_config(state->bundle, dir.string());
    target = {
        .pid = state->pid, .start_time = state->pid_start_time, .cgroup_dirs = state->cgroup_dirs};
    container_root = fmt::format("/proc/{}/root", state->pid);
  }
  ExecRequest request;
  request.process = process_for(o, spec, container_root);
  // Whatever was read through /proc/PID/root must have been the container's: the same
  // process still has that pid (exec_in_container checks it again, holding a pidfd).
  if (!o.user.empty() && !ctr::process_running(target.pid, target.start_time)) {
    throw ctr::UsageError(fmt::format("container {} is not running (its process is gone)", o.id));
  }
  request.detach = o.detach;
  request.preserve_fds = o.preserve_fds;
  // The container's seccomp filter, never the process.json's absence of one: runc and the
  // engines put the filter in config.json only.
  if (spec.linux.seccomp) {
    request.seccomp = ctr::cached_seccomp(*spec.linux.seccomp, ctr::state_root() / "seccomp");
  }
  ctr::UniqueFd console;
  if (!o.console_socket.empty()) {
    if (!request.process.terminal) {
      throw ctr::UsageError("--console-socket needs a terminal (--tty, or terminal in --process)");
    }
    console = connect_console_socket(o.console_socket);
    request.console_socket = console.get();
  } else if (request.process.terminal && o.detach) {
    throw ctr::UsageError("a terminal with --detach needs --console-socket");
  }
  request.on_start = [&](pid_t pid) {
    lock.reset();
    if (!o.pid_file.empty()) write_pid_file(o.pid_file, pid);
  };
  try {
    const ExecResult result = exec_in_container(target, request);
    return result.exit_code.value_or(0);
  } catch (const ExecError& e) {
    fmt::print(stderr, "mycontainer: {}\n", e.what());
    log_error(e.what());
    return e.exit_code();
  }
}

}  // namespace mycontainer
