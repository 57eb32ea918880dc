// UniqueFd: owns one file descriptor and closes it exactly once (close(2)).
#pragma once

#include <fcntl.h>   // open(2)
#include <unistd.h>  // close(2), read(2)

#include <cerrno>    // errno
#include <optional>  // std::optional
#include <string>    // std::string
#include <utility>   // std::exchange

namespace ctr {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) noexcept : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const noexcept { return fd_; }
  explicit operator bool() const noexcept { return fd_ >= 0; }
  // Gives up ownership: the caller closes it now.
  int release() noexcept { return std::exchange(fd_, -1); }
  // Closes the current descriptor (errors ignored: close(2) says never retry on EINTR).
  void reset(int fd = -1) noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

// Reads fd from where it stands to its end (read(2) until it returns 0, or fails).
inline std::string read_all(int fd) {
  std::string text;
  char buffer[4096];
  for (ssize_t n; (n = ::read(fd, buffer, sizeof buffer)) > 0;) text.append(buffer, n);
  return text;
}

// The whole file at `path`, or nullopt when it cannot be opened or read (missing, a cgroup
// removed meanwhile, not ours to read): errno then says why. For the small files of /proc,
// /sys, cgroupfs and our state directories, which the kernel generates on each read.
inline std::optional<std::string> read_file(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return std::nullopt;
  std::string text;
  char buffer[4096];
  ssize_t n;
  while ((n = ::read(fd.get(), buffer, sizeof buffer)) > 0) text.append(buffer, n);
  if (n < 0) {
    const int err = errno;
    fd.reset();
    errno = err;  // what read(2) said, not what close(2) may have said
    return std::nullopt;
  }
  return text;
}

}  // namespace ctr
