// The OCI operations on a container that exists (#12, after create/start in oci.hpp): one
// file per command, as runc has them.
//
//   exec [--process FILE | ARGS...] [--tty] [--console-socket S] [--detach] [--pid-file F]
//        [--cwd DIR] [--env K=V]... [--user UID[:GID]|NAME[:GROUP]] [-g GID]...
//        [--preserve-fds N] [--cap CAP]... ID                                  exec.cpp
//   pause ID | resume ID                                                      pause.cpp
//   update [--resources FILE|-] [--memory N] [--memory-swap N] [--memory-reservation N]
//          [--cpu-quota N] [--cpu-period N] [--cpu-shares N] [--cpuset-cpus L]
//          [--cpuset-mems L] [--pids-limit N] ID                              update.cpp
//   ps [--format table|json] ID [-- PS ARGS]                                  oci_ps.cpp
//
// Exit codes as oci.hpp says: 125 refused (unknown id, wrong status, bad input) with one line
// on stderr and in --log; exec without --detach returns the command's own code (128+N for a
// signal, 126/127 when it cannot run).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "ctr/cli.hpp"  // CLI::App, declared (ctr/cli.hpp says why)

namespace mycontainer {

struct ExecOptions {
  std::string id;
  std::string process_file;       // --process, -p: a process.json (runtime-spec "process")
  std::vector<std::string> args;  // or the command, with the container's process for the rest
  bool tty = false;               // --tty, -t
  std::string console_socket;     // --console-socket: where the terminal's master goes
  bool detach = false;            // --detach, -d
  std::string pid_file;           // --pid-file
  std::string cwd;                // --cwd
  std::vector<std::string> env;   // --env, -e KEY=VALUE (added to, or replacing, the config's)
  std::string user;               // --user, -u UID[:GID] or NAME[:GROUP] (the container's)
  std::vector<std::string> additional_gids;  // --additional-gids, -g GID: more groups
  int preserve_fds = 0;                      // --preserve-fds N: fds 3..3+N-1 pass on
  std::vector<std::string> caps;             // --cap CAP: added to every set
  bool no_new_privs = false;                 // --no-new-privs
  bool interactive = false;                  // -i (docker's word): stdin is the caller's either way
  bool explain = false;                      // --explain: narrate the joining
};
void add_exec_options(CLI::App& cmd, ExecOptions& options);
int oci_exec(const ExecOptions& options);

int oci_pause(const std::string& id);
int oci_resume(const std::string& id);

struct UpdateOptions {
  std::string id;
  std::string resources;  // --resources, -r: a linux.resources JSON file, "-" for stdin
  std::optional<std::string> memory, memory_swap, memory_reservation;  // sizes: 64m, 1g, -1
  std::optional<int64_t> cpu_quota;
  std::optional<uint64_t> cpu_period, cpu_shares;
  std::optional<std::string> cpuset_cpus, cpuset_mems;
  std::optional<int64_t> pids_limit;
};
void add_update_options(CLI::App& cmd, UpdateOptions& options);
int oci_update(const UpdateOptions& options);

}  // namespace mycontainer
