#include "ctr/handshake.hpp"

#include <sys/socket.h>  // socketpair(2), send(2), recv(2), sendmsg(2), recvmsg(2), SCM_RIGHTS
#include <unistd.h>      // _exit(2)

#include <array>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

#include "ctr/narrate.hpp"

namespace ctr {

namespace {
constexpr char kGo = 'G';
// Child -> parent messages: a type byte, then for an error one byte of exit code and the
// text, for a note the text. SOCK_SEQPACKET keeps each one message: never half of one.
constexpr char kError = 'E';
constexpr char kNote = 'N';
constexpr char kReady = 'R';
constexpr size_t kMaxMessage = 4096;

// ECONNRESET: the other side closed its end with a message of ours unread (a child that
// failed before it read our "go"). The kernel reports that once, before the messages still
// queued for us (its error message, then EOF), so reading on gets them.
ssize_t recv_retry(int fd, void* buf, size_t len) {
  ssize_t n;
  while ((n = ::recv(fd, buf, len, 0)) < 0 && (errno == EINTR || errno == ECONNRESET)) {
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
  if (early_error_) return early_error_;
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

bool Handshake::wait_for_ready() {
  std::array<char, kMaxMessage> buf{};
  while (true) {
    const ssize_t n = check(recv_retry(parent_.get(), buf.data(), buf.size()), "recv", "handshake");
    if (n == 1 && buf[0] == kReady) return true;
    if (n > 0 && buf[0] == kNote) continue;  // --timings notes come at the end, not here
    if (n >= 2 && buf[0] == kError) {
      early_error_ = ChildError{static_cast<unsigned char>(buf[1]),
                                std::string(buf.data() + 2, static_cast<size_t>(n) - 2)};
    } else {
      early_error_ = ChildError{kExitRuntimeFailed,
                                "the container's setup ended before it was "
                                "ready for the hooks"};
    }
    return false;
  }
}

void Handshake::report_ready() {
  check(static_cast<int>(::send(child_.get(), &kReady, 1, MSG_NOSIGNAL)), "send", "handshake");
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

// === Passing a descriptor =====================================================================

void send_fd(int sock, int fd) {
  // One byte of real data: a stream socket cannot carry ancillary data alone (unix(7)).
  char byte = 'F';
  iovec iov{&byte, 1};
  alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(int))> control{};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.data();
  msg.msg_controllen = control.size();
  cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
  ssize_t n;
  while ((n = ::sendmsg(sock, &msg, MSG_NOSIGNAL)) < 0 && errno == EINTR) {
  }
  check(n, "sendmsg", "SCM_RIGHTS");
  narrate({.call = fmt::format("sendmsg({}, SCM_RIGHTS [fd {}])", sock, fd),
           .result = "ok",
           .shell = "(runc's --console-socket passes the pty master the same way)",
           .man = "unix(7), cmsg(3)"});
}

namespace {
// recvmsg(2) of one message into `data`, with the first descriptor it carries put in
// `received` (any more are closed rather than leaked). Returns the message's length.
ssize_t receive_message(int sock, char* data, size_t size, UniqueFd& received, int& msg_flags) {
  iovec iov{data, size};
  // Room for a few descriptors, so that extra ones can be closed rather than leaked.
  alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(int) * 4)> control{};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.data();
  msg.msg_controllen = control.size();
  ssize_t n;
  while ((n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC)) < 0 &&
         (errno == EINTR || errno == ECONNRESET)) {  // ECONNRESET: see recv_retry
  }
  check(n, "recvmsg", "SCM_RIGHTS");
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int fd = -1;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      if (!received) {
        received.reset(fd);
      } else {
        ::close(fd);  // more than we asked for
      }
    }
  }
  msg_flags = msg.msg_flags;
  return n;
}
}  // namespace

UniqueFd recv_fd(int sock) {
  char byte = 0;
  UniqueFd received;
  int flags = 0;
  const ssize_t n = receive_message(sock, &byte, 1, received, flags);
  if (n == 0 && !received) return {};  // the peer closed without sending
  if (!received) {
    throw std::runtime_error((flags & MSG_CTRUNC) != 0
                                 ? "recvmsg: the descriptor was dropped (MSG_CTRUNC)"
                                 : "recvmsg: a message came without a descriptor");
  }
  narrate({.call = fmt::format("recvmsg({}, SCM_RIGHTS)", sock),
           .result = fmt::format("fd {}", received.get()),
           .shell = "",
           .man = "unix(7), cmsg(3)"});
  return received;
}

UniqueFd Handshake::receive_fd() {
  // The child sends either the descriptor, or an error (and exits), or nothing (EOF).
  std::array<char, kMaxMessage> buf{};
  UniqueFd received;
  int flags = 0;
  const ssize_t n = receive_message(parent_.get(), buf.data(), buf.size(), received, flags);
  if (received) return received;
  if (n >= 2 && buf[0] == kError) {
    early_error_ = ChildError{static_cast<unsigned char>(buf[1]),
                              std::string(buf.data() + 2, static_cast<size_t>(n) - 2)};
  }
  return {};
}

}  // namespace ctr
