// runc's global options: --root, --log, --log-format, --debug, --systemd-cgroup.
//
// The engines give the runtime a log file and read a failed command's reason from it: conmon
// passes `--log FILE --log-format json` and shows the "msg" of the last error line; the
// containerd shim does the same with its log.json. So every error goes to stderr (as for
// every mycontainer command) and, with --log, to the file as runc's logger (logrus) writes it:
//   json: {"level":"error","msg":"container x does not exist","time":"2026-12-06T23:51:52Z"}
//   text: time="2026-12-06T23:51:52Z" level=error msg="container x does not exist"
#include <fcntl.h>   // open(2)
#include <unistd.h>  // write(2)

#include <filesystem>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "ctr/error.hpp"    // ctr::UsageError
#include "ctr/fd.hpp"       // ctr::UniqueFd
#include "ctr/narrate.hpp"  // ctr::set_narrator
#include "oci.hpp"
#include "runtime/state.hpp"  // ctr::set_state_root, ctr::now_iso8601

namespace mycontainer {

namespace {

// The file is opened for each line rather than kept open: create closes every descriptor it
// did not mean to pass on (CVE-2024-21626) before it makes the container.
struct Log {
  std::string path;
  bool json = false;
};

Log& the_log() {
  static Log log;
  return log;
}

void write_line(const char* level, const std::string& message) noexcept {
  const Log& log = the_log();
  if (log.path.empty()) return;
  try {
    std::string line;
    if (log.json) {
      line =
          nlohmann::json{{"level", level}, {"msg", message}, {"time", ctr::now_iso8601()}}.dump();
    } else {
      line = fmt::format("time=\"{}\" level={} msg={}", ctr::now_iso8601(), level,
                         nlohmann::json(message).dump());
    }
    line += '\n';
    // O_APPEND: one write(2) per line, so lines of several commands never interleave.
    const ctr::UniqueFd fd(
        ::open(log.path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0600));
    if (fd) [[maybe_unused]]
      const ssize_t n = ::write(fd.get(), line.data(), line.size());
  } catch (...) {
  }
}

}  // namespace

void log_error(const std::string& message) noexcept {
  write_line("error", message);
}

void log_debug(const std::string& message) noexcept {
  write_line("debug", message);
}

void apply_global_options(const GlobalOptions& global) {
  if (!global.log.empty()) {
    Log& log = the_log();
    log.json = global.log_format == "json";
    log.path = std::filesystem::absolute(global.log).string();  // create may change directory
    const ctr::UniqueFd fd(
        ::open(log.path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0600));
    if (!fd) throw ctr::SyscallError(errno, "open", global.log);
  }
  if (global.debug) {
    // --explain's narration, into the log: each kernel operation with its man page.
    ctr::set_narrator([](const ctr::Event& e) {
      log_debug(fmt::format("{} = {} ({})", e.call, e.result, e.man));
    });
  }
  if (!global.root.empty()) ctr::set_state_root(global.root);
  if (global.systemd_cgroup) {
    throw ctr::UsageError(
        "--systemd-cgroup: mycontainer manages cgroups through cgroupfs only (podman: "
        "--cgroup-manager cgroupfs; containerd: SystemdCgroup = false)");
  }
}

}  // namespace mycontainer
