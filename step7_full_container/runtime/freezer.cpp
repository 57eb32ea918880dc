// The cgroup freezer, v1 and v2. Read freezer.hpp first.
#include "runtime/freezer.hpp"

#include <fcntl.h>   // open(2)
#include <unistd.h>  // write(2), access(2)

#include <cerrno>  // EBUSY
#include <thread>  // std::this_thread::sleep_for

#include <fmt/format.h>

#include "ctr/error.hpp"    // ctr::check, SyscallError, UsageError
#include "ctr/fd.hpp"       // ctr::UniqueFd, ctr::read_file
#include "ctr/narrate.hpp"  // ctr::narrate

namespace ctr {

namespace {

bool is_v2(const std::string& file) {
  return file.size() >= 13 && file.compare(file.size() - 13, 13, "cgroup.freeze") == 0;
}

std::string dir_of(const std::string& file) {
  return file.substr(0, file.find_last_of('/'));
}

// One write(2) of the whole value: cgroupfs takes each write as one command.
void write_value(const std::string& file, const std::string& value) {
  const UniqueFd fd(check(::open(file.c_str(), O_WRONLY | O_CLOEXEC), "open", file));
  check(::write(fd.get(), value.data(), value.size()), "write", file);
  narrate(
      {.call = fmt::format("write(\"{}\", \"{}\")", file, value),
       .result = "ok",
       .shell = fmt::format("echo {} > {}", value, file),
       .man = is_v2(file) ? "cgroup-v2.rst (cgroup.freeze)" : "cgroup-v1/freezer-subsystem.rst"});
}

bool frozen_now(const std::string& file) {
  if (is_v2(file)) {
    // cgroup.events: "populated 1\nfrozen 1\n".
    const std::string events = read_file(dir_of(file) + "/cgroup.events").value_or("");
    return events.find("frozen 1") != std::string::npos;
  }
  return read_file(file).value_or("").rfind("FROZEN", 0) == 0;
}

}  // namespace

std::string freezer_file(const std::vector<std::string>& dirs) {
  for (const auto& dir : dirs) {
    for (const char* name : {"/cgroup.freeze", "/freezer.state"}) {
      std::string file = dir + name;
      if (::access(file.c_str(), F_OK) == 0) return file;
    }
  }
  return "";
}

bool frozen(const std::vector<std::string>& dirs) {
  const std::string file = freezer_file(dirs);
  return !file.empty() && frozen_now(file);
}

void freeze(const std::vector<std::string>& dirs, std::chrono::milliseconds timeout) {
  const std::string file = freezer_file(dirs);
  if (file.empty()) {
    throw UsageError(
        "the container's cgroup has no freezer (cgroup v1 without a freezer hierarchy, or "
        "cgroup v2 before Linux 5.2): it cannot be paused");
  }
  write_value(file, is_v2(file) ? "1" : "FROZEN");
  // The kernel stops the tasks one by one; a task in an uninterruptible sleep (D, waiting
  // for a disk or NFS) stops only when it wakes. v1 says FREEZING until then.
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!frozen_now(file)) {
    if (std::chrono::steady_clock::now() > deadline) {
      write_value(file, is_v2(file) ? "0" : "THAWED");
      throw SyscallError(EBUSY, "freeze", file);
    }
    // v1: writing FROZEN again retries the tasks that could not be frozen the first time.
    if (!is_v2(file)) write_value(file, "FROZEN");
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

void thaw(const std::vector<std::string>& dirs) {
  const std::string file = freezer_file(dirs);
  if (file.empty()) throw UsageError("the container's cgroup has no freezer: nothing to resume");
  write_value(file, is_v2(file) ? "0" : "THAWED");
}

}  // namespace ctr
