#include "ctr/exec.hpp"

#include <elf.h>       // Elf64_Ehdr, PT_INTERP: elf(5)
#include <fcntl.h>     // O_RDONLY
#include <spawn.h>     // posix_spawnp(3)
#include <sys/wait.h>  // waitpid(2)
#include <unistd.h>    // execve(2), access(2), pipe2(2)

#include <cstring>

#include <sstream>

#include <fmt/format.h>

#include "ctr/error.hpp"
#include "ctr/fd.hpp"
#include "ctr/narrate.hpp"

extern char** environ;  // environ(7)

namespace ctr {

namespace {
// The ELF program interpreter of the file open at fd ("/lib64/ld-linux-x86-64.so.2"), or ""
// when it has none (elf(5): PT_INTERP).
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
}  // namespace

std::string program_interpreter(int fd, bool* is_script) {
  if (is_script != nullptr) *is_script = false;
  char head[256] = {};
  const ssize_t n = ::pread(fd, head, sizeof head - 1, 0);
  if (n >= 2 && head[0] == '#' && head[1] == '!') {
    if (is_script != nullptr) *is_script = true;
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

std::string missing_interpreter_hint(const std::string& file, const std::string& interpreter,
                                     bool is_script) {
  if (is_script) {
    return fmt::format(
        "'{}' is there, but '{}', the interpreter its #! line names, is not: put "
        "it into the root filesystem too, or change the #! line{}",
        file, interpreter, kSeeTroubleshooting);
  }
  return fmt::format(
      "'{}' is there, but '{}', the program loader it needs, is not: a binary "
      "copied from the host needs the libraries `ldd {}` lists in the root "
      "filesystem too; or use a static binary{}",
      file, interpreter, file, kSeeTroubleshooting);
}

namespace {
// After execve(file) failed with ENOENT: the first interpreter of its chain that is missing,
// as a hint ("" when the file itself is missing).
std::string why_not_found(const std::string& file) {
  std::string path = file;
  for (int depth = 0; depth < 5; ++depth) {  // the kernel follows "#!" 4 levels deep
    const UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return {};
    bool script = false;
    const std::string next = program_interpreter(fd.get(), &script);
    if (next.empty()) return {};
    if (::access(next.c_str(), F_OK) != 0) return missing_interpreter_hint(path, next, script);
    path = next;
  }
  return {};
}
}  // namespace

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
  const int err = errno;
  throw SyscallError(err, "execve", argv[0], err == ENOENT ? why_not_found(file) : "");
}

std::vector<std::string> current_environment() {
  std::vector<std::string> out;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) out.emplace_back(*e);
  return out;
}

ProgramResult run_program(const std::vector<std::string>& argv) {
  int fds[2];
  check(::pipe2(fds, O_CLOEXEC), "pipe2");
  UniqueFd read_end(fds[0]);
  UniqueFd write_end(fds[1]);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, write_end.get(), STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, write_end.get(), STDERR_FILENO);
  auto c_argv = to_c_array(argv);
  pid_t pid = -1;
  const int rc = posix_spawnp(&pid, c_argv[0], &actions, nullptr, c_argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  write_end.reset();  // else our own copy keeps the pipe open and read() never sees EOF
  if (rc != 0) throw SyscallError(rc, "posix_spawnp", argv[0]);

  ProgramResult result;
  char buf[1024];
  ssize_t n;
  while ((n = ::read(read_end.get(), buf, sizeof buf)) != 0) {
    if (n < 0 && errno != EINTR) break;
    if (n > 0) result.output.append(buf, static_cast<size_t>(n));
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) == -1) {
    if (errno != EINTR) check(-1, "waitpid", argv[0]);
  }
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : kExitSignalBase + WTERMSIG(status);
  while (!result.output.empty() && result.output.back() == '\n') result.output.pop_back();
  return result;
}

}  // namespace ctr
