#include "runtime/exec_chain.hpp"

#include <elf.h>     // Elf64_Ehdr, PT_INTERP: elf(5)
#include <fcntl.h>   // O_RDONLY
#include <unistd.h>  // pread(2), getcwd(3)

#include <cerrno>   // errno, ENOENT
#include <cstring>  // std::memcmp

#include <fmt/format.h>

#include "ctr/error.hpp"     // SyscallError
#include "ctr/fd.hpp"        // UniqueFd
#include "runtime/path.hpp"  // open_in_root

namespace ctr {

namespace {

// The ELF program interpreter of the file open at fd ("/lib64/ld-linux-x86-64.so.2"), or ""
// when it has none or is not ELF (elf(5): PT_INTERP).
template <typename Ehdr, typename Phdr>
std::string elf_interpreter(int fd) {
  Ehdr eh{};
  if (::pread(fd, &eh, sizeof eh, 0) != static_cast<ssize_t>(sizeof eh)) return {};
  for (unsigned i = 0; i < eh.e_phnum && i < 64; ++i) {
    Phdr ph{};
    const off_t at = static_cast<off_t>(eh.e_phoff + i * sizeof ph);
    if (::pread(fd, &ph, sizeof ph, at) != static_cast<ssize_t>(sizeof ph)) return {};
    if (ph.p_type != PT_INTERP || ph.p_filesz == 0 || ph.p_filesz > 4096) continue;
    std::string path(ph.p_filesz, '\0');
    if (::pread(fd, path.data(), path.size(), static_cast<off_t>(ph.p_offset)) !=
        static_cast<ssize_t>(path.size())) {
      return {};
    }
    return path.substr(0, path.find('\0'));
  }
  return {};
}

// The interpreter execve would load for the file at fd: "#!" line or PT_INTERP.
std::string interpreter_of(int fd) {
  char head[256] = {};
  const ssize_t n = ::pread(fd, head, sizeof head - 1, 0);
  if (n >= 2 && head[0] == '#' && head[1] == '!') {
    std::string line(head + 2, static_cast<size_t>(n) - 2);
    line = line.substr(0, line.find('\n'));
    const auto start = line.find_first_not_of(" \t");
    if (start == std::string::npos) return {};
    return line.substr(start, line.find_first_of(" \t", start) - start);
  }
  if (n >= EI_NIDENT && std::memcmp(head, ELFMAG, SELFMAG) == 0) {
    return head[EI_CLASS] == ELFCLASS64 ? elf_interpreter<Elf64_Ehdr, Elf64_Phdr>(fd)
                                        : elf_interpreter<Elf32_Ehdr, Elf32_Phdr>(fd);
  }
  return {};
}

}  // namespace

void check_exec_chain(const std::string& file) {
  std::string path = file;
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
      // Anything we cannot open, we cannot check: an execute-only (0711) script could name
      // /proc/self/exe on its #! line unseen. Refused (EACCES, exit code 126), whatever the
      // reason, rather than let through.
      throw SyscallError(e.err(), "execve", path);
    }
    path = interpreter_of(fd.get());
  }
}

}  // namespace ctr
