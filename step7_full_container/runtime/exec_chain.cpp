#include "runtime/exec_chain.hpp"

#include <fcntl.h>   // O_RDONLY
#include <unistd.h>  // getcwd(3)

#include <cerrno>  // errno, ENOENT

#include <fmt/format.h>

#include "ctr/error.hpp"     // SyscallError
#include "ctr/exec.hpp"      // program_interpreter, missing_interpreter_hint
#include "ctr/fd.hpp"        // UniqueFd
#include "runtime/path.hpp"  // open_in_root

namespace ctr {

void check_exec_chain(const std::string& file) {
  std::string path = file;
  std::string named_by;  // the file whose "#!" line or PT_INTERP named path
  bool script = false;
  for (int depth = 0; depth < 6 && !path.empty(); ++depth) {
    // execve(2) resolves a relative path (the command "./entry.sh", or "#!sub/interp") from the
    // working directory: so must we, or `-w /app -- ./entry.sh` is checked as /entry.sh while
    // /app/entry.sh runs (issue #17, item 3).
    if (path[0] != '/') {
      char cwd[4096];
      if (::getcwd(cwd, sizeof cwd) == nullptr) throw SyscallError(errno, "getcwd");
      path = fmt::format("{}/{}", cwd, path);
    }
    UniqueFd fd;
    try {
      fd = open_in_root("/", path, O_RDONLY);
    } catch (const SyscallError& e) {
      if (e.err() == ENOENT && depth == 0) return;  // a missing command: execve says so
      if (e.err() == ENOENT) {                      // the file is there, what it names is not
        throw SyscallError(ENOENT, "execve", file,
                           missing_interpreter_hint(named_by, path, script));
      }
      // Anything we cannot open, we cannot check: an execute-only (0711) script could name
      // /proc/self/exe on its #! line unseen. Refused (EACCES, exit code 126), whatever the
      // reason, rather than let through.
      throw SyscallError(e.err(), "execve", path);
    }
    named_by = path;
    path = program_interpreter(fd.get(), &script);
  }
}

}  // namespace ctr
