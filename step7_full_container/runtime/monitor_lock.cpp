#include "runtime/monitor_lock.hpp"

#include <fcntl.h>       // fcntl(2) F_OFD_GETLK, open(2)
#include <sys/random.h>  // getrandom(2)
#include <sys/stat.h>    // fchmod(2)

#include <string>  // std::to_string

#include "ctr/error.hpp"  // ctr::check, ctr::SyscallError
#include "ctr/fd.hpp"     // ctr::UniqueFd
#include "runtime/record.hpp"

namespace mycontainer {

std::filesystem::path monitor_lock_file(uint64_t offset) {
  return records_root() / ("monitors.lock." + std::to_string(monitor_lock_file_index(offset)));
}

void create_monitor_lock_file(uint64_t offset) {
  const auto path = monitor_lock_file(offset);
  // A lock needs only a descriptor open for reading (F_RDLCK, fcntl(2)), so the file is the
  // owner's alone (0600, also if it was made otherwise): anyone who could open it could hold a
  // dead monitor's byte and make `ps` call its container running.
  const ctr::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CREAT | O_CLOEXEC, 0600));
  ctr::check(fd.get(), "open", path.string());
  ctr::check(::fchmod(fd.get(), 0600), "fchmod", path.string());
}

uint64_t new_monitor_lock() {
  uint64_t r = 0;
  if (::getrandom(&r, sizeof r, 0) != static_cast<ssize_t>(sizeof r)) {
    throw ctr::SyscallError(errno, "getrandom");
  }
  // 62 bits, never 0: offset + length must stay below off_t's largest value.
  return (r >> 2) | 1;
}

MonitorLocks::MonitorLocks() : path_((records_root() / "monitors.lock.").string()) {}

int MonitorLocks::fd(unsigned index) {
  if (!opened_[index]) {
    opened_[index] = true;
    const size_t prefix = path_.size();
    path_ += std::to_string(index);
    fds_[index].reset(::open(path_.c_str(), O_RDONLY | O_CLOEXEC));
    path_.resize(prefix);
  }
  return fds_[index].get();
}

bool MonitorLocks::held(uint64_t offset) {
  if (offset == 0) return false;
  const int file = fd(monitor_lock_file_index(offset));
  if (file < 0) return false;
  // "Would a write lock on this byte conflict?" answers whether anybody holds any lock there;
  // F_OFD_GETLK only asks, it takes nothing (fcntl(2), "Open file description locks").
  struct flock probe {};
  probe.l_type = F_WRLCK;
  probe.l_whence = SEEK_SET;
  probe.l_start = static_cast<off_t>(offset);
  probe.l_len = 1;
  if (::fcntl(file, F_OFD_GETLK, &probe) != 0) return false;
  return probe.l_type != F_UNLCK;
}

bool monitor_lock_held(uint64_t offset) {
  return offset != 0 && MonitorLocks().held(offset);
}

}  // namespace mycontainer
