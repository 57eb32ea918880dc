// Running the container's command: execve(2) with a PATH search done by us, so the error
// says exactly what was not found, and 126/127 follow the shell's rules.
#pragma once

#include <string>  // std::string
#include <vector>  // std::vector

namespace ctr {

// Searches PATH (from env, or a default) for argv[0] when it has no '/', then execve(2)s it
// with env. Returns only by throwing SyscallError("execve", argv[0]): ENOENT when not found.
[[noreturn]] void execvpe(const std::vector<std::string>& argv,
                          const std::vector<std::string>& env);

// The file execvpe would run for argv0: itself when it has a '/', else the first executable
// match in env's PATH. Throws SyscallError("execve", argv0, ENOENT) when there is none.
std::string find_command(const std::string& argv0, const std::vector<std::string>& env);

// What execve(2) loads before the file itself: the interpreter of a script's "#!" line, or an
// ELF binary's program loader (PT_INTERP, elf(5): "/lib64/ld-linux-x86-64.so.2"). "" for a
// static binary, or a file that is neither. is_script says which of the two it was.
std::string program_interpreter(int fd, bool* is_script = nullptr);

// execve(2) says ENOENT also when the file is there but what it names is not: a host binary
// copied into a rootfs without its libraries. The hint for that: file named interpreter (a
// "#!" line when is_script), which is missing; and what to do.
std::string missing_interpreter_hint(const std::string& file, const std::string& interpreter,
                                     bool is_script);

// The PATH a container gets when none is given (what docker sets).
inline constexpr const char* kDefaultPath =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// This process's environment as KEY=VALUE strings.
std::vector<std::string> current_environment();

// How a helper program ran: its exit code (128 + N when killed by signal N, as a shell
// says), and what it printed on stdout and stderr together, without the final newlines.
struct ProgramResult {
  int status = -1;
  std::string output;
};

// Runs a helper program on the host (iptables, newuidmap) and waits for it: argv[0] is
// looked up in PATH unless it has a '/'; stdin is /dev/null; its output is captured.
// posix_spawnp(3) rather than fork(2): nothing of ours runs in the child between its
// creation and its exec. Throws SyscallError("posix_spawnp", argv[0]) when it cannot start.
ProgramResult run_program(const std::vector<std::string>& argv);

}  // namespace ctr
