#include "ctr/handshake.hpp"

#include <sys/socket.h>  // socketpair(2), send(2), recv(2)
#include <unistd.h>      // _exit(2)

#include <array>
#include <cstring>

namespace ctr {

namespace {
constexpr char kGo = 'G';
// Child -> parent messages: a type byte, then for an error one byte of exit code and the
// text, for a note the text. SOCK_SEQPACKET keeps each one message: never half of one.
constexpr char kError = 'E';
constexpr char kNote = 'N';
constexpr size_t kMaxMessage = 4096;

ssize_t recv_retry(int fd, void* buf, size_t len) {
  ssize_t n;
  while ((n = ::recv(fd, buf, len, 0)) < 0 && errno == EINTR) {
  }
  return n;
}
}  // namespace

Handshake::Handshake() {
  int fds[2];
  check(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds), "socketpair");
  parent_.reset(fds[0]);
  child_.reset(fds[1]);
}

void Handshake::release_child() {
  // EPIPE or ECONNRESET: the child has already given up (a setup error): its message waits
  // in the socket for wait_for_exec(), which says what went wrong.
  if (::send(parent_.get(), &kGo, 1, MSG_NOSIGNAL) < 0 && errno != EPIPE && errno != ECONNRESET) {
    throw SyscallError(errno, "send", "handshake");
  }
}

std::optional<ChildError> Handshake::wait_for_exec(std::vector<std::string>* notes) {
  std::array<char, kMaxMessage> buf{};
  while (true) {
    const ssize_t n = check(recv_retry(parent_.get(), buf.data(), buf.size()), "recv", "handshake");
    if (n == 0) return std::nullopt;  // EOF: the child's end closed on exec
    if (buf[0] == kNote) {
      if (notes != nullptr) notes->emplace_back(buf.data() + 1, static_cast<size_t>(n) - 1);
      continue;
    }
    ChildError error;
    if (n >= 2 && buf[0] == kError) {
      error.exit_code = static_cast<unsigned char>(buf[1]);
      error.message.assign(buf.data() + 2, static_cast<size_t>(n) - 2);
    } else {
      error.message = "the container's setup sent a message this runtime does not understand";
    }
    return error;
  }
}

void Handshake::wait_for_parent() {
  char c = 0;
  const ssize_t n = recv_retry(child_.get(), &c, 1);
  // EOF or an error: the parent is gone or gave up on us. Nothing to set up for anyone.
  if (n != 1 || c != kGo) ::_exit(kExitRuntimeFailed);
}

void Handshake::report_error(const ChildError& error) noexcept {
  std::array<char, kMaxMessage> buf{};
  buf[0] = kError;
  buf[1] = static_cast<char>(error.exit_code);
  const size_t len = std::min(error.message.size(), buf.size() - 2);
  std::memcpy(buf.data() + 2, error.message.data(), len);
  ::send(child_.get(), buf.data(), len + 2, MSG_NOSIGNAL);
}

void Handshake::send_note(const std::string& note) noexcept {
  std::array<char, kMaxMessage> buf{};
  buf[0] = kNote;
  const size_t len = std::min(note.size(), buf.size() - 1);
  std::memcpy(buf.data() + 1, note.data(), len);
  ::send(child_.get(), buf.data(), len + 1, MSG_NOSIGNAL);
}

int exec_error_code(int err) noexcept {
  return (err == ENOENT || err == ENOTDIR) ? kExitNotFound : kExitCannotExecute;
}

}  // namespace ctr
