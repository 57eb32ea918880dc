// docker's container lifecycle over the OCI runtime (#14): `run -d` leaves each container with
// a small monitor (monitor/monitor.cpp), and these commands manage it by name or id prefix.
// The records they keep are runtime/record.hpp's; lifecycle.cpp has the commands.
//
//   run -d [--rm] RUN-OPTIONS [--] CMD      prints the 64-hex id, returns at once
//   ps [-a] [-q] [--no-trunc] [--format '{{.Names}} {{.Status}}']
//   logs [-f] [--tail N] [-t] NAME          stop [-t S] NAME...      kill [-s SIG] NAME...
//   start [-a] NAME...   restart [-t S] NAME...   wait NAME...   rm [-f] NAME...
//   inspect NAME...      rename OLD NEW     exec [-i] [-t] [-e K=V] [-u U] [-w DIR] NAME CMD...
//
// Errors about a container (unknown, ambiguous, in the wrong state) are LifecycleError: one
// line, exit code 1, as docker's client returns for its daemon's errors; bad flags are 125.
#pragma once

#include <string>
#include <vector>

#include "image/store.hpp"  // image::ImageUser
#include "options.hpp"

namespace mycontainer {

int run_detached(const CLI::App& run, RunOptions& options);
struct PsOptions {
  bool all = false;
  bool quiet = false;
  bool no_trunc = false;
  std::string format;  // "" table; "{{.Names}} {{.Status}}": those fields, one line each
};
int docker_ps(const PsOptions& options);
int docker_logs(const std::string& word, bool follow, const std::string& tail, bool timestamps);
int docker_stop(const std::vector<std::string>& words, int timeout, bool timeout_given);
int docker_kill(const std::vector<std::string>& words, const std::string& signal);
int docker_start(const std::vector<std::string>& words, bool attach);
int docker_restart(const std::vector<std::string>& words, int timeout, bool timeout_given);
int docker_wait(const std::vector<std::string>& words);
int docker_rm(const std::vector<std::string>& words, bool force);
int docker_inspect(const std::vector<std::string>& words);
int docker_rename(const std::string& from, const std::string& to);
// The monitor's last act: record how the container ended and remove what it had.
int monitor_exit(const std::string& id, int code);
// For `cleanup`: the records of containers whose monitor was killed: their container is
// stopped (by cleanup's remove_container, before this) and the record says how it ended.
void finish_orphaned_records();
// The full id of the docker-made container `word` names (name, id, prefix), or "" when no
// such record exists: then the word is an OCI id (the commands both have: start, kill, exec).
std::string docker_container(const std::string& word);
// exec: the OCI exec, after this checks the container runs (docker's message otherwise).
void check_running_for_exec(const std::string& id);
// Every container made from an image, for `rmi` (image/store.hpp ImageUser): detached ones by
// their record (running, or exited and not removed), foreground `run IMAGE` ones by their state.
std::vector<image::ImageUser> image_users();

}  // namespace mycontainer
