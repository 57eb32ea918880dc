// Container state on disk: what `mycontainer ps` lists and `mycontainer cleanup` repairs.
//
// Each running container has a directory STATE_ROOT/containers/NAME/ holding state.json.
// The directory is made under a draft name (".new.PID.NAME") with its first state inside, then
// renamed into place with renameat2(2) RENAME_NOREPLACE, which fails with EEXIST when the name
// is taken: that makes "one container per name" atomic without a lock, and NAME never exists
// without a state naming its owner. Afterwards state.json is written to a
// temporary file and rename(2)d over the old one, so a reader sees the old or the new
// state, never half of one (rename(2): "atomically"). The runtime removes the directory
// when the container ends (a foreground run's is emptied and kept as STATE_ROOT/spare/N for
// the next container: state.cpp, keep_as_spare); a runtime killed with SIGKILL leaves it, and
// `cleanup` removes it.
//
// OCI containers (`mycontainer create`, what podman and containerd call; NEW for the engines)
// use the same directory, STATE_ROOT/containers/ID/ (STATE_ROOT is `--root DIR`), with:
//   state.json  the fields below, "oci": true, "bundle", "annotations", "pid" and
//               "pid_start_time" of the container's first process once create has made it.
//               While create runs, runtime_pid/runtime_start_time name the create process;
//               once it has returned they are 0: the container belongs to its engine (the
//               caller) until `delete ID`, and `cleanup` leaves it alone.
//   exec.fifo   a named pipe (fifo(7)) the first process holds open and blocks on, writing,
//               until `start ID` opens it for reading (runc's way): present = "created",
//               removed by start = "running" (or "stopped" once the process is gone).
//   config.json the container's own copy of its config (kConfigCopy below).
// Status (container_status) is derived, never stored: creating (create still running, or
// killed before it recorded the process), created, running, stopped (the pid is gone, a
// zombie, or a new process that has the number: pid_start_time tells them apart).
// Every command on an OCI container holds flock(2) on its directory (ContainerLock): create
// from before the directory appears until it returns, start/kill/delete exclusively, state
// and list shared. A SIGKILLed holder releases its lock with its death.
#pragma once

#include <sys/types.h>  // pid_t

#include <filesystem>   // std::filesystem::path
#include <map>          // std::map
#include <optional>     // std::optional
#include <string>       // std::string
#include <string_view>  // std::string_view
#include <vector>       // std::vector

#include "ctr/fd.hpp"  // ctr::UniqueFd

namespace ctr {

struct ContainerState {
  std::string name;
  pid_t pid = 0;          // the container's first process, as the host numbers it
  pid_t runtime_pid = 0;  // the mycontainer process that owns it
  unsigned long long runtime_start_time = 0;  // its start time (proc(5) field 22): pid reuse guard
  std::vector<std::string> command;
  std::string started;  // ISO 8601, UTC
  std::string rootfs;
  std::string cgroup;                    // the cgroup's name beneath its parent ("" when none)
  std::string cgroup_parent;             // --cgroup-parent, "" for beneath the runtime's own cgroup
  std::vector<std::string> cgroup_dirs;  // its directories, absolute: one per hierarchy
  std::string veth;                      // host-side interface ("" when none)
  std::string ip;                        // "10.47.0.2/24" ("" when none)
  std::string lease;                     // the IPAM lease file ("" when none)
  std::string bridge;                    // the bridge it is on ("" when none): its hosts file
  std::vector<std::string> ports;        // published ports, "8080:80/tcp" (rules tagged by name)
  bool rootless = false;
  // --- OCI containers (`create`), see the comment at the top ---
  bool oci = false;    // made by `create`: removed by `delete`, not cleanup
  std::string bundle;  // the bundle directory, absolute
  std::map<std::string, std::string> annotations;  // the config.json's
  unsigned long long pid_start_time = 0;           // of `pid` (proc(5) field 22)
};

// /run/mycontainer as root; $XDG_RUNTIME_DIR/mycontainer (or /tmp/mycontainer-UID) rootless;
// or what set_state_root() was given (`--root DIR`).
std::filesystem::path state_root();

// The OCI statuses (runtime.md "State"), and runc's "paused": running, with its cgroup frozen
// (`pause ID`, runtime/freezer.hpp).
enum class OciStatus { kCreating, kCreated, kRunning, kStopped, kPaused };
// "creating", "created", "running", "stopped", "paused"
std::string to_string(OciStatus status);
// The named pipe the first process of an OCI container waits on until `start`.
inline constexpr std::string_view kExecFifo = "exec.fifo";
// An OCI container's own copy of its config.json, as `create` read and validated it (and as
// `update` changed its linux.resources since): what every later command uses, never the
// bundle's file again (an engine or anyone who can write the bundle could otherwise change the
// hooks that `start` and `delete` run, or the seccomp profile `exec` applies, after create).
// runc keeps the same in its state.json.
inline constexpr std::string_view kConfigCopy = "config.json";
// The status of the container whose state directory is dir.
OciStatus container_status(const ContainerState& state, const std::filesystem::path& dir);
// True if pid is a live process (not a zombie) that started at start_time (0: any).
bool process_running(pid_t pid, unsigned long long start_time);
// Sends sig to pid only if it is the process that started at start_time: the process is held
// by a pidfd (pidfd_open(2)) before its start time is checked, and signalled through it
// (pidfd_send_signal(2)), so a number reused meanwhile by another process (a container's
// first process ended, the host gave its pid to something else) never gets the signal.
// Returns false when the process is gone; throws SyscallError for another failure (EPERM).
bool signal_process(pid_t pid, unsigned long long start_time, int sig);

// `--root DIR`: every command's state root from now on (state_root() returns it).
void set_state_root(const std::filesystem::path& root);
// The directory of one container: STATE_ROOT/containers/ID.
std::filesystem::path container_dir(const std::string& id,
                                    const std::filesystem::path& root = state_root());

// runc's rule for an OCI container id: [A-Za-z0-9_+.-], not "." or "..", at most 200
// characters (the directory's draft name must still fit in NAME_MAX). Throws UsageError.
void validate_container_id(const std::string& id);

// flock(2) on a container's state directory, held until destruction (see the top). Throws
// UsageError "container ID does not exist" when there is no such directory.
class ContainerLock {
 public:
  enum class Mode { kShared, kExclusive };
  ContainerLock(const std::filesystem::path& dir, Mode mode);
  // The same on a directory already open (create locks its draft before renaming it).
  static ContainerLock on_fd(int dir_fd, Mode mode);
  ContainerLock() = default;

 private:
  UniqueFd fd_;
};

// Throws UsageError unless name is a valid container name (docker's rule:
// [a-zA-Z0-9][a-zA-Z0-9_.-]*, at most 64 characters here).
void validate_container_name(const std::string& name);
// "mc-" and 8 random hex digits.
std::string random_container_name();

// The name of a container's cgroup, beneath the runtime's cgroup or linux.cgroupsPath's
// parent: "mycontainer-" + the container's name. `run` makes it, `cleanup` finds it by it.
std::string cgroup_name(const std::string& container);

// True if the process pid exists and started at start_time (so it is still the same one).
bool process_alive(pid_t pid, unsigned long long start_time);
// Field 22 of /proc/PID/stat, 0 if the process is gone.
unsigned long long process_start_time(pid_t pid);

// Now, in UTC, as ISO 8601 / RFC 3339 ("2026-12-06T23:51:52Z"): the state's `started`, the
// OCI log's `time`.
std::string now_iso8601();

// Owns STATE_ROOT/containers/NAME while the container runs: made by create() (UsageError
// "container name 'x' is already in use" if a live container has it; a stale one is taken
// over), written by write(), emptied by the destructor and kept as a spare directory for the
// next container (state.cpp, keep_as_spare: ext4 frees no block), or removed.
class StateDir {
 public:
  // NAME is first.name; first is written at once: who owns the name (runtime_pid and
  // runtime_start_time), so `cleanup` never takes a starting container for a stale one.
  // locked (OCI create): the directory's ContainerLock is taken on the draft, before the
  // directory appears under its name, and held while this object lives.
  static StateDir create(const ContainerState& first,
                         const std::filesystem::path& root = state_root(), bool locked = false);
  StateDir() = default;
  StateDir(StateDir&& other) noexcept;
  StateDir& operator=(StateDir&& other) noexcept;
  StateDir(const StateDir&) = delete;
  StateDir& operator=(const StateDir&) = delete;
  ~StateDir();

  void write(const ContainerState& state) const;  // atomic: temporary file + rename(2)
  const std::filesystem::path& path() const noexcept { return dir_; }
  // Gives the directory up: it stays (an OCI container's, until `delete`).
  void release() noexcept { dir_.clear(); }

 private:
  explicit StateDir(std::filesystem::path dir) : dir_(std::move(dir)) {}
  // Removes the directory and everything in it, if this object owns one. Never throws.
  void remove() noexcept;
  std::filesystem::path dir_;
  ContainerLock lock_;   // with `locked`: held from before the rename until we are done
  bool locked_ = false;  // lock_ is held: the directory is removed, not kept as a spare
};

// The prefix of a state directory being made (StateDir::create): never a container's name,
// which starts with a letter or digit.
inline constexpr std::string_view kDraftPrefix = ".new.";
// Removes the drafts whose runtime is gone (killed inside StateDir::create): for `cleanup`.
void remove_abandoned_drafts(const std::filesystem::path& root = state_root());

// Every container with a state directory under root, running or stale; unreadable ones are
// skipped (their name is still listed with pid 0).
std::vector<ContainerState> list_containers(const std::filesystem::path& root = state_root());
// Reads one state.json; nullopt if missing or unreadable.
std::optional<ContainerState> read_state(const std::filesystem::path& state_dir);
// True when the runtime that owns state is gone (SIGKILLed): what cleanup may remove.
bool is_stale(const ContainerState& state);

std::string to_json(const ContainerState& state);
ContainerState from_json(const std::string& text);  // throws std::exception on bad input

}  // namespace ctr
