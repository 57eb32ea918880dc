// What every step's command line shares: `BINARY [--rootfs DIR] [--explain] [OPTIONS]
// [--] [COMMAND [ARG...]]`, and the one top-level catch that turns an error into one line
// and a docker-style exit code.
#pragma once

#include <functional>  // std::function
#include <string>      // std::string
#include <vector>      // std::vector

// CLI11 is declared here, not included: <CLI/CLI.hpp> costs about 9 s of compiler time in
// every file that includes it (its validators are objects defined in the header, compiled
// anew in each file), and most files that include this one only pass a CLI::App along. The
// files that build or read a command line include <CLI/CLI.hpp> themselves.
namespace CLI {
class App;
}  // namespace CLI

namespace ctr {

struct CommonOptions {
  std::string rootfs = MC_DEFAULT_ROOTFS;       // the project's rootfs/ (CMake sets it)
  bool explain = false;                         // narrate each kernel operation
  std::vector<std::string> command{"/bin/sh"};  // what runs inside
};

// Thrown to end the program early with a code, after printing what it had to (--help).
struct ExitRequest {
  int code;
};

// app.parse(argc, argv), with --help printed (ExitRequest{0}) and a parse error turned
// into a UsageError that points at --help.
void parse(CLI::App& app, int argc, char** argv);

// Adds --rootfs and --explain, and makes the first positional argument start the command:
// everything from there on (options included) belongs to the command, like `docker run`.
void add_common_options(CLI::App& app, CommonOptions& options);
// After app.parse(): takes the command from what CLI11 left over, checks the rootfs, and
// installs the --explain narrator.
void finish_common_options(const CLI::App& app, CommonOptions& options, const std::string& program);

// Throws UsageError unless dir is a directory that looks like a root filesystem.
void validate_rootfs(const std::string& dir);

// Runs body and returns its exit code; turns every exception into `program: message (hint)`
// on stderr and exit code 125 (--help and --version exit 0).
int run_main(const std::string& program, const std::function<int()>& body);

}  // namespace ctr
