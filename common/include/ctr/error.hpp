// Errors: one exception type for failed system calls, one helper that makes it.
//
// Every wrapper in ctr calls check() on a syscall's return value. check() saves errno
// *first* (anything else, even building a string, may clobber it: errno(3)) and throws a
// SyscallError that carries the errno, the call's name and its main argument, so a
// failure reads like `mount('/proc'): Operation not permitted`.
#pragma once

#include <cerrno>        // errno
#include <stdexcept>     // std::runtime_error
#include <string>        // std::string
#include <string_view>   // std::string_view
#include <system_error>  // std::system_error, std::generic_category

namespace ctr {

// Exit codes, as docker documents them (docker run --help, "Exit Status").
inline constexpr int kExitRuntimeFailed = 125;  // the runtime itself failed
inline constexpr int kExitCannotExecute = 126;  // the command exists but cannot run
inline constexpr int kExitNotFound = 127;       // the command was not found
inline constexpr int kExitSignalBase = 128;     // 128 + N: killed by signal N

// Appended to the messages that docs/troubleshooting.md has an entry for, so that a learner
// who meets one finds the longer explanation.
inline constexpr const char* kSeeTroubleshooting = "; more in docs/troubleshooting.md";

// A system call failed. what() is "call('arg'): strerror(errno)".
// hint, when given, says what to do; error_line() prints it after the message.
class SyscallError : public std::system_error {
 public:
  SyscallError(int err, std::string call, std::string arg = {}, std::string hint = {});
  int err() const noexcept { return code().value(); }
  const std::string& call() const noexcept { return call_; }
  const std::string& arg() const noexcept { return arg_; }
  const std::string& hint() const noexcept { return hint_; }

 private:
  std::string call_;
  std::string arg_;
  std::string hint_;
};

// Bad input from the user (a malformed size, an address outside the subnet...). The message
// is complete and says what to do; main prints it and exits kExitRuntimeFailed.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Throws SyscallError when rc is -1 (the convention of almost every syscall); returns rc.
template <typename T>
T check(T rc, std::string_view call, std::string_view arg = {}) {
  if (rc == static_cast<T>(-1)) {
    const int saved = errno;  // save before anything else can overwrite it
    throw SyscallError(saved, std::string(call), std::string(arg));
  }
  return rc;
}

// For APIs that return a negative errno instead of setting errno (libseccomp, libnl's
// nl_syserr2nlerr aside, pthread-style calls): throws when rc < 0.
void check_neg_errno(int rc, std::string_view call, std::string_view arg = {});

// text with every control character and DEL written as a C escape (\n, \t, \x1b), so that
// a message quoting the user's input stays on one line: `--hostname $'a\nb'` is shown as
// 'a\nb', not as two lines of which the second looks like another message.
std::string printable(std::string_view text);

// A hint for a well-known failure ("" if none).
std::string hint_for(const SyscallError& e);
// The one line main() prints for an error: its message, plus the hint where there is one,
// made printable().
std::string error_line(const std::exception& e);

}  // namespace ctr
