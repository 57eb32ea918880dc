#include "ctr/dirlock.hpp"

#include <fcntl.h>     // open(2)
#include <signal.h>    // kill(2)
#include <sys/file.h>  // flock(2)

#include <cerrno>        // errno, ESRCH, EINTR
#include <system_error>  // std::error_code

#include "ctr/error.hpp"  // check, SyscallError

namespace ctr {

bool pid_alive(pid_t pid) {
  return pid > 0 && (::kill(pid, 0) == 0 || errno != ESRCH);
}

DirLock::DirLock(const std::filesystem::path& dir) : dir_(dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);  // "exists already" is not an error here
  if (ec) throw SyscallError(ec.value(), "mkdir", dir_.string());
  fd_ = UniqueFd(
      check(::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC), "open", dir_.string()));
  // Blocks until every other holder is done; a signal may interrupt the wait (EINTR).
  while (::flock(fd_.get(), LOCK_EX) == -1) {
    if (errno != EINTR) check(-1, "flock", dir_.string());
  }
}

}  // namespace ctr
