// The OCI runtime command line (runtime-spec runtime.md, and runc's flags): what podman
// (through conmon) and containerd (through its runc shim) call. One function per command,
// in oci_create.cpp (create, run ID), oci_commands.cpp (start, state, kill, delete, list,
// features) and spec_command.cpp (spec --bundle). They all work on the state format of
// runtime/state.hpp (the comment at its top), under `--root`.
//
//   mycontainer [--root DIR] [--log FILE] [--log-format text|json] [--debug] COMMAND ...
//   create [--bundle DIR] [--pid-file F] [--console-socket SOCK] [--no-pivot]
//          [--no-new-keyring] [--preserve-fds N] ID
//   start ID | state ID | kill [--all] ID [SIGNAL] | delete [--force] ID
//   run [--bundle DIR] [--pid-file F] [--console-socket SOCK] [--detach] ... ID
//   list [--format table|json] [--quiet] | features | spec --bundle DIR [--rootless]
//
// Exit codes: 0 done; 125 the command was refused or failed (unknown id, wrong status, bad
// arguments, a config.json we cannot run), with one line on stderr and in --log (runc uses 1
// for all of these; the engines only look at "not zero" and read the message from the log);
// create and run ID give 126/127 when the command cannot run or is not found, as `mycontainer
// run` does. `run ID` without --detach returns the container's own exit status.
#pragma once

#include <string>
#include <vector>

namespace mycontainer {

// The flags that come before the command (runc's global options).
struct GlobalOptions {
  std::string root;                 // --root: the state directory (default ctr::state_root())
  std::string log;                  // --log FILE: errors are written there too
  std::string log_format = "text";  // --log-format text|json
  bool debug = false;               // --debug: narrate every kernel operation into the log
  bool systemd_cgroup = false;      // --systemd-cgroup: refused, cgroupfs only
};

// Runs the global options' side effects: the state root, the log, and the refusal of
// --systemd-cgroup. Called once the command line is parsed, before any command.
void apply_global_options(const GlobalOptions& global);
// Writes one error line to --log, in its format (json: {"level":"error","msg":...,"time":...},
// as runc writes it and the engines read it). Never throws; nothing without --log.
void log_error(const std::string& message) noexcept;
// Writes a debug line to --log (with --debug). Never throws.
void log_debug(const std::string& message) noexcept;

// `create` and `run ID`.
struct CreateOptions {
  std::string id;
  std::string bundle = ".";     // --bundle, -b: the directory with config.json
  std::string pid_file;         // --pid-file: the first process's pid, written atomically
  std::string console_socket;   // --console-socket: where the terminal's master goes
  bool no_pivot = false;        // --no-pivot: MS_MOVE + chroot instead of pivot_root
  bool no_new_keyring = false;  // --no-new-keyring: accepted (no session keyring is made)
  int preserve_fds = 0;         // --preserve-fds N: fds 3..3+N-1 pass to the container
  bool detach = false;          // run --detach, -d
  bool keep = false;            // run --keep: no delete after the container ends
};

int oci_create(const CreateOptions& options);
int oci_run(const CreateOptions& options);
int oci_start(const std::string& id);
int oci_state(const std::string& id);
int oci_kill(const std::string& id, const std::string& signal, bool all);
int oci_delete(const std::string& id, bool force);
int oci_list(const std::string& format, bool quiet);
int oci_features();
// `spec --bundle DIR [--rootless]`: runc's default config.json, written into DIR.
int oci_spec(const std::string& bundle, bool rootless);
// `ps ID [-- PS ARGS]`: the processes of one container (oci_ps.cpp).
int oci_ps(const std::string& id, const std::string& format, const std::vector<std::string>& args);

// The config of an OCI container whose state directory is `dir`: its own copy,
// STATE_DIR/config.json (runtime/state.hpp kConfigCopy), written by create and by update.
// A container made before that copy existed falls back to its bundle's config.json.
struct Spec;
Spec container_config(const std::string& bundle, const std::string& dir);

// "9", "KILL", "SIGKILL", "sigkill" -> 9; throws UsageError for anything else.
int parse_signal(const std::string& text);

}  // namespace mycontainer
