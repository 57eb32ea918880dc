// Is a detached container's monitor still alive? Asked by `ps` of every container (#14), so
// it has to be cheap, and it has to be right after a SIGKILL and after the monitor's pid was
// given to another process.
//
// The long way (runtime/state.hpp process_running): read /proc/PID/stat, compare field 22
// (the start time) with the one recorded. An open(2), a read(2) and a close(2) for each
// container: about 10 µs here, so 5 ms for 500 containers (tests/bench/RESULTS.md).
//
// The short way: each monitor holds a lock on its own byte of one shared file,
// RECORDS/monitors.lock, at an offset drawn at random for that run of the container (the
// record's monitor_lock). A lock belongs to an open file (an "open file description" lock,
// F_OFD_SETLK in fcntl(2)), and the kernel drops it when the last descriptor of that file is
// closed, which happens when the monitor exits, SIGKILL included, before it is even reaped.
// So "is byte B locked?" (F_OFD_GETLK: one system call on a descriptor `ps` opens once) is
// "is that monitor still alive?", and a new process that gets the same pid holds no lock at
// that byte: the offset is never reused (62 random bits).
//
// What one question costs: a system call, in which the kernel walks the file's list of locks
// until it meets the byte (fs/locks.c posix_test_lock), so N questions walk N²/2 locks: about
// 1 ms for 500 here. /proc/locks would give every lock of the host in one read, but each
// read(2) of it takes the kernel's file-lock semaphore for writing (locks_start:
// percpu_down_write): all locking on the host waits, and the first reader after a quiet moment
// waits for an RCU grace period (0.5 to 13 ms measured here). So `ps` asks byte by byte.
//
// A held lock is the answer "alive". No lock is not yet "dead": the monitor becomes
// `mycontainer monitor-exit` by execv(2) to record the end, and its descriptor (close-on-exec)
// is gone then, so then the long way decides, as for monitors of older versions (offset 0).
#pragma once

#include <cstdint>
#include <filesystem>

#include "ctr/fd.hpp"  // ctr::UniqueFd

namespace mycontainer {

// RECORDS/monitors.lock (records_root()): an empty file; only its locks matter.
std::filesystem::path monitor_lock_file();
// Makes the file if it is missing (run -d, start: before the monitor is started).
void create_monitor_lock_file();
// A fresh byte offset for one monitor: random, 1 to 2^62 (far below off_t's limit).
uint64_t new_monitor_lock();
// The file opened once, to ask about many bytes: `ps` asks of every container, one fcntl(2)
// each and nothing else (no path is made again per container).
class MonitorLocks {
 public:
  MonitorLocks();  // opens monitor_lock_file(); missing or unreadable: no byte is held
  // True if some process holds a lock at byte `offset` of the file. False when nobody does, and
  // when the file could not be opened (then the caller takes the long way).
  bool held(uint64_t offset) const;

 private:
  ctr::UniqueFd fd_;
};
// The same question once: MonitorLocks().held(offset).
bool monitor_lock_held(uint64_t offset);

}  // namespace mycontainer
