// The record of a detached container (`run -d`): what docker keeps in
// /var/lib/docker/containers/ID/, kept here in RECORDS/ID/ (records_root()):
//
//   record.json     this struct: who it is (id, name, image, command), how it runs (the
//                   monitor's pid, the container's first pid) and how it ended (exit code, time)
//   config.json     the bundle's config, from the flags (spec_from_flags.cpp): `start` runs
//                   the same spec again
//   container.log   what it wrote, in the CRI log format the monitor writes (`logs`)
//   runtime.log     create's own errors (--log), for `run -d` to report
//   pid             the first process's pid (create --pid-file)
// and RECORDS/names/NAME, a symbolic link to ID: made with symlink(2), which fails with EEXIST
// when the name is taken, so one name is one container without a lock (as StateDir does).
// RECORDS/index is every record.json again, one line each, for `ps` (record_index.hpp), and
// RECORDS/monitors.lock.0 to .15 the files whose locked bytes say which monitors live
// (monitor_lock.hpp).
//
// The record outlives the container (docker keeps exited containers until `rm`) and, as
// root, a reboot: it is under /var/lib, not /run. The container's running state (cgroup,
// veth, exec.fifo: runtime/state.hpp) is under the state root and goes when it ends.
#pragma once

#include <sys/types.h>  // pid_t

#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ctr/fd.hpp"  // ctr::UniqueFd

namespace mycontainer {

struct Record {
  std::string id;     // 64 hex digits, as docker's
  std::string name;   // unique; docker's rule for the characters
  std::string image;  // what it runs: the rootfs directory (an image reference once images land)
  std::vector<std::string> command;
  int64_t created_ns = 0;          // nanoseconds since the epoch
  bool auto_remove = false;        // --rm: the monitor removes the record too
  int stop_timeout = 10;           // `stop` waits this long by default before SIGKILL
  std::vector<std::string> ports;  // -p, canonical ("8080:80/tcp"): ps's PORTS column
  // "created" (being started), "running", "exited"
  std::string status = "created";
  pid_t pid = 0;                              // the container's first process
  pid_t monitor_pid = 0;                      // its monitor
  unsigned long long monitor_start_time = 0;  // proc(5) field 22: pid reuse guard
  // The byte that the monitor holds locked while it lives, in the lock file it chooses (0:
  // none, a monitor of an older mycontainer): `ps`'s cheap liveness check (monitor_lock.hpp).
  uint64_t monitor_lock = 0;
  int64_t started_ns = 0;
  int64_t finished_ns = 0;
  int exit_code = 0;
  int restart_count = 0;
};

// /var/lib/mycontainer as root; $XDG_DATA_HOME/mycontainer or ~/.local/share/mycontainer
// rootless (when HOME is a directory of ours), else STATE_ROOT/records (not kept over a
// reboot). The environment variable MC_RECORDS_ROOT overrides it (tests).
std::filesystem::path records_root();
std::filesystem::path record_dir(const std::string& id);

// 64 random hex digits (getrandom(2)).
std::string new_container_id();
int64_t now_ns();
// "2026-12-07T04:05:06.123456789Z"
std::string iso8601_ns(int64_t ns);
// The other way, for whole seconds as state.json's "started" has them (ctr::now_iso8601:
// "2026-12-07T04:05:06Z"): nanoseconds since the epoch; 0 for any other text.
int64_t ns_of_iso8601(std::string_view text);

std::optional<Record> read_record(const std::filesystem::path& dir);
// Atomic (rename(2)); then the index's line of the record is updated (record_index.hpp).
void write_record(const std::filesystem::path& dir, const Record& r);
// record.json alone, the index left as it was: for many records at once, then one sync_index()
// of all their ids (ps writes what it found of the records whose monitor is gone).
void write_record_file(const std::filesystem::path& dir, const Record& r);

// The container a word names, docker's way: a full id, a name, or an id prefix that only one
// container has. Throws LifecycleError "No such container: WORD" or
// "Multiple IDs found with provided prefix: WORD". nullopt_if_missing: nullopt instead of
// "No such container" (the commands that are OCI's too try the OCI meaning next).
std::optional<std::string> resolve_container(const std::string& word, bool nullopt_if_missing);

// Takes NAME for id (RECORDS/names/NAME -> ID); throws LifecycleError when it is taken.
void claim_name(const std::string& name, const std::string& id);
void release_name(const std::string& name) noexcept;
// Removes the record `id` and its name NAME, and its line of the index. The directory is first
// renamed away (rename(2) is atomic): no command ever finds half a record, only all or none.
void remove_record(const std::string& id, const std::string& name);

// Every record (the ids under RECORDS), sorted.
std::vector<std::string> list_record_ids();

// The same ids in one block of memory, for `ps`: 500 std::strings, and the std::filesystem
// paths a directory_iterator makes for each entry, touched about 30 fresh pages, and a fresh
// page costs a page fault of 15-25 µs here (tests/bench/RESULTS.md).
class RecordIds {
 public:
  RecordIds();  // reads RECORDS/containers (none when it is missing)
  size_t size() const { return ids_.size(); }
  // The i-th id in sorted order.
  std::string_view operator[](size_t i) const { return id(order_[i]); }
  // The position of id in sorted order, or size() when there is no such record.
  size_t find(std::string_view id) const;

 private:
  std::string_view id(uint32_t k) const { return {ids_[k].data(), ids_[k].size()}; }

  std::vector<std::array<char, 64>> ids_;  // as the directory lists them
  // Their positions in ids_, sorted by id: sorting moves 4 bytes an id, not 64 (sorting the
  // ids themselves took 2.4 times the instructions at 500 records, callgrind).
  std::vector<uint32_t> order_;
};

// flock(2) on a record's directory, held until destruction: `start`, `rm`, `rename` and the
// monitor's exit take it, so that two of them on one container never interleave.
class RecordLock {
 public:
  explicit RecordLock(const std::filesystem::path& dir);

 private:
  ctr::UniqueFd fd_;
};

// docker's errors about containers: one line, exit code 1 (docker's own for them).
class LifecycleError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace mycontainer
