#include "ctr/exec.hpp"

#include <elf.h>     // Elf64_Ehdr, PT_INTERP: elf(5)
#include <fcntl.h>   // O_RDONLY
#include <unistd.h>  // execve(2), access(2), pread(2)

#include <cstring>

#include <sstream>

#include <fmt/format.h>

#include "ctr/error.hpp"
#include "ctr/fd.hpp"
#include "ctr/path.hpp"
#include "ctr/narrate.hpp"

extern char** environ;  // environ(7)

namespace ctr {

namespace {
std::vector<char*> to_c_array(const std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (const auto& s : strings) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

// argv as a shell would need it typed: words with special characters in single quotes.
std::string shell_quote(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) {
    if (!out.empty()) out += ' ';
    const bool plain =
        !a.empty() &&
        a.find_first_not_of(
            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%") ==
            std::string::npos;
    if (plain) {
      out += a;
    } else {
      out += '\'';
      for (char c : a) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
      out += '\'';
    }
  }
  return out;
}

std::string path_of(const std::vector<std::string>& env) {
  for (const auto& kv : env) {
    if (kv.rfind("PATH=", 0) == 0) return kv.substr(5);
  }
  return kDefaultPath;
}

// Finds name in PATH like execvp(3) does; an executable file wins, a found but
// non-executable one is remembered so the error is EACCES (126), not ENOENT (127).
std::string search_path(const std::string& name, const std::vector<std::string>& env) {
  if (name.find('/') != std::string::npos) return name;
  std::istringstream dirs(path_of(env));
  std::string dir;
  std::string not_executable;
  while (std::getline(dirs, dir, ':')) {
    std::string candidate = fmt::format("{}/{}", dir.empty() ? "." : dir, name);
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    if (not_executable.empty() && ::access(candidate.c_str(), F_OK) == 0)
      not_executable = candidate;
  }
  if (!not_executable.empty()) return not_executable;
  throw SyscallError(ENOENT, "execve", name);
}
}  // namespace

std::string find_command(const std::string& argv0, const std::vector<std::string>& env) {
  return search_path(argv0, env);
}

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
    UniqueFd fd;
    try {
      fd = open_in_root("/", path, O_RDONLY);
    } catch (const SyscallError& e) {
      if (e.err() == ELOOP || depth > 0) throw SyscallError(e.err(), "execve", path);
      return;  // a missing or unreadable command: execve itself says what is wrong
    }
    path = interpreter_of(fd.get());
  }
}

void execvpe(const std::vector<std::string>& argv, const std::vector<std::string>& env) {
  if (argv.empty()) throw UsageError("no command to run");
  const std::string file = search_path(argv[0], env);
  narrate({.call = fmt::format("execve(\"{}\", [{}])", file, fmt::join(argv, ", ")),
           .result = "(does not return on success)",
           .shell = "exec " + shell_quote(argv),
           .man = "execve(2)"});
  auto c_argv = to_c_array(argv);
  auto c_env = to_c_array(env);
  ::execve(file.c_str(), c_argv.data(), c_env.data());
  throw SyscallError(errno, "execve", argv[0]);
}

std::vector<std::string> current_environment() {
  std::vector<std::string> out;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) out.emplace_back(*e);
  return out;
}

}  // namespace ctr
