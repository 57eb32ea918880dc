// Is a detached container's monitor still alive? Asked by `ps` of every container (#14), so
// it has to be cheap, and it has to be right after a SIGKILL and after the monitor's pid was
// given to another process.
//
// The long way (runtime/state.hpp process_running): read /proc/PID/stat, compare field 22
// (the start time) with the one recorded. An open(2), a read(2) and a close(2) for each
// container: about 10 µs here, so 5 ms for 500 containers (tests/bench/RESULTS.md).
//
// The short way: each monitor holds a lock on its own byte of a shared file, at an offset
// drawn at random for that run of the container (the record's monitor_lock). A lock belongs to
// an open file (an "open file description" lock, F_OFD_SETLK in fcntl(2)), and the kernel drops
// it when the last descriptor of that file is closed, which happens when the monitor exits,
// SIGKILL included, before it is even reaped. So "is byte B locked?" (F_OFD_GETLK: one system
// call on a descriptor `ps` opens once) is "is that monitor still alive?", and a new process
// that gets the same pid holds no lock at that byte: the offset is never reused (62 random bits).
//
// What one question costs: a system call, in which the kernel walks the file's list of locks
// until it meets the byte (fs/locks.c posix_test_lock). With every monitor's lock in one file,
// N questions walk N²/2 locks: 0.6 to 0.9 ms of what 500 questions took here. So the locks are
// spread over kMonitorLockFiles files, RECORDS/monitors.lock.0 to .15, the byte choosing its
// file (monitor_lock_file_index): a walk is then N/16 locks long, and `ps` opens a file the
// first time a record needs it. 500 questions took 1.4-1.8 ms with one file, 0.75-0.93 with 16;
// 32 files were no faster, and each file opened costs an open(2) (with 100 containers, 16 files
// cost 0.02 ms more than one): tests/bench/RESULTS.md, session 10.
//
// /proc/locks would give every lock of the host in one read, but each read(2) of it takes the
// kernel's file-lock semaphore for writing (locks_start: percpu_down_write): all locking on the
// host waits, and the first reader after a quiet moment waits for an RCU grace period (0.5 to
// 13 ms measured here). So `ps` asks byte by byte.
//
// A held lock is the answer "alive". No lock is not yet "dead": the monitor becomes
// `mycontainer monitor-exit` by execv(2) to record the end, and its descriptor (close-on-exec)
// is gone then, so then the long way decides, as it does for monitors of older versions: offset
// 0, or their lock in the one file RECORDS/monitors.lock that earlier versions used, where `ps`
// does not look (no lock found: it reads /proc/PID/stat).
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>

#include "ctr/fd.hpp"  // ctr::UniqueFd

namespace mycontainer {

// How many files the locks are spread over (see the top). Changing it moves bytes to other
// files: running monitors' locks would not be found, and `ps` would take the long way for them.
inline constexpr unsigned kMonitorLockFiles = 16;
// The file of byte `offset`: its bits above the lowest (new_monitor_lock makes every offset
// odd, so the lowest bit would leave half of the files empty).
constexpr unsigned monitor_lock_file_index(uint64_t offset) {
  return static_cast<unsigned>((offset >> 1) % kMonitorLockFiles);
}
// RECORDS/monitors.lock.I (records_root()), I the file of `offset`: an empty file; only its
// locks matter.
std::filesystem::path monitor_lock_file(uint64_t offset);
// Makes the file of `offset` if it is missing (run -d, start: before the monitor is started).
void create_monitor_lock_file(uint64_t offset);
// A fresh byte offset for one monitor: random and odd, 1 to 2^62 (far below off_t's limit).
uint64_t new_monitor_lock();
// The files opened once each, to ask about many bytes: `ps` asks of every container, one
// fcntl(2) each and nothing else (no path is made again per container). A file is opened the
// first time a byte of it is asked about: a `ps` with no running container opens none.
class MonitorLocks {
 public:
  MonitorLocks();
  // True if some process holds a lock at byte `offset` of its file. False when nobody does, and
  // when the file could not be opened (then the caller takes the long way).
  bool held(uint64_t offset);

 private:
  // The descriptor of file `index`, opened on first use (-1: missing or unreadable).
  int fd(unsigned index);

  std::string path_;  // RECORDS/monitors.lock. : the index is appended to open a file
  std::array<ctr::UniqueFd, kMonitorLockFiles> fds_;
  std::array<bool, kMonitorLockFiles> opened_{};  // tried already (its fd may be -1)
};
// The same question once: MonitorLocks().held(offset).
bool monitor_lock_held(uint64_t offset);

}  // namespace mycontainer
