#include "ctr/cli.hpp"

#include <sys/stat.h>  // stat(2)

#include <filesystem>  // std::filesystem::is_empty

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "ctr/error.hpp"
#include "ctr/narrate.hpp"

namespace ctr {

void add_common_options(CLI::App& app, CommonOptions& options) {
  app.add_option("--rootfs", options.rootfs, "root filesystem directory")->capture_default_str();
  app.add_flag(
      "--explain", options.explain,
      "print each kernel operation: the call, its result, the shell equivalent, the man page");
  // The command and its arguments are not ours to parse: stop at the first positional.
  app.prefix_command();
  app.footer(
      "COMMAND [ARG...] defaults to /bin/sh. Exit status: the command's own, 128+N if it "
      "was killed by signal N, 125 if the runtime failed, 126 if the command cannot run, "
      "127 if it was not found.");
}

void parse(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) {  // --help, --version
      app.exit(e);
      throw ExitRequest{0};
    }
    throw UsageError(fmt::format("{} (see --help)", e.what()));
  }
}

void finish_common_options(const CLI::App& app, CommonOptions& options,
                           const std::string& program) {
  auto rest = app.remaining();
  // prefix_command() hands an unknown option to the command too: refuse it instead, unless
  // `--` said that what follows is the command.
  if (!rest.empty() && rest.front() != "--" && rest.front().rfind('-', 0) == 0) {
    throw UsageError(fmt::format("unknown option '{}' (see --help)", rest.front()));
  }
  if (!rest.empty() && rest.front() == "--") rest.erase(rest.begin());
  if (!rest.empty()) options.command = rest;
  validate_rootfs(options.rootfs);
  if (options.explain) set_narrator(stderr_narrator(program));
}

void validate_rootfs(const std::string& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    throw UsageError(
        fmt::format("rootfs '{}' does not exist: make it with `sudo scripts/make-rootfs.sh` or "
                    "pass --rootfs DIR",
                    dir));
  }
  if (!S_ISDIR(st.st_mode)) {
    throw UsageError(fmt::format(
        "rootfs '{}' is not a directory: pass the directory a root filesystem was unpacked into",
        dir));
  }
  // The host's own root as the container's: nothing would be isolated, and step 3 on would
  // mount /proc and /sys over the host's (EBUSY at best).
  struct stat host_root {};
  if (::stat("/", &host_root) == 0 && st.st_dev == host_root.st_dev &&
      st.st_ino == host_root.st_ino) {
    throw UsageError(fmt::format(
        "rootfs '{}' is the host's own root: a container needs a root filesystem of its own "
        "(make one with `sudo scripts/make-rootfs.sh DIR`, then pass --rootfs DIR){}",
        dir, kSeeTroubleshooting));
  }
  std::error_code unreadable;  // an unreadable directory is for the kernel to refuse
  if (std::filesystem::is_empty(dir, unreadable) && !unreadable) {
    throw UsageError(fmt::format(
        "rootfs '{}' is empty: put a root filesystem into it (`sudo scripts/make-rootfs.sh {}` "
        "makes a BusyBox one){}",
        dir, dir, kSeeTroubleshooting));
  }
}

int run_main(const std::string& program, const std::function<int()>& body) {
  try {
    return body();
  } catch (const ExitRequest& e) {
    return e.code;
  } catch (const std::exception& e) {
    fmt::print(stderr, "{}: {}\n", program, error_line(e));
    return kExitRuntimeFailed;
  }
}

}  // namespace ctr
