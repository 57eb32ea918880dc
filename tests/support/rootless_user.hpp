// An ordinary user for the rootless tests: made on first use (useradd, with a group of its own
// and, from login.defs(5)'s SUB_UID_COUNT, a range of 65536 ids in /etc/subuid and
// /etc/subgid, subuid(5)), removed at the end of the test program (userdel, which removes
// the ranges too). Users of earlier runs that were killed before their teardown are removed
// when their pid is gone. Making a user needs root: the suites that use it skip without root
// (MC_REQUIRE_ROOT first).
//
// user_argv() runs a command as that user: setpriv drops every privilege (a non-zero uid
// clears the capabilities, capabilities(7) "Effect of user ID changes on capabilities"), and
// the environment is empty but for PATH, HOME=/, the test's mark and what the test adds
// (XDG_RUNTIME_DIR, XDG_DATA_HOME): without them the state goes to /tmp/mycontainer-UID.
//
// Header-only, like background.hpp.
#pragma once

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>
#include <signal.h>
#include <sys/types.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "support.hpp"
#include "temp_dir.hpp"  // TempDir

namespace mc::test {

struct RootlessUser {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
};

class RootlessUserEnvironment : public ::testing::Environment {
 public:
  static const RootlessUser& get() {
    static std::once_flag once;
    std::call_once(once, [] { make(); });
    if (!user_) throw std::runtime_error("could not create the rootless test user");
    return *user_;
  }
  void TearDown() override {
    if (!user_) return;
    std::error_code ec;
    std::filesystem::remove_all(fmt::format("/tmp/mycontainer-{}", user_->uid), ec);
    run({"/usr/sbin/userdel", user_->name});
    user_.reset();
  }

 private:
  static void make() {
    // Leftovers of killed runs: mct7rl-<pid> whose pid is gone.
    std::ifstream users("/etc/passwd");
    for (std::string line; std::getline(users, line);) {
      if (line.rfind("mct7rl-", 0) != 0) continue;
      const std::string old = line.substr(0, line.find(':'));
      const pid_t pid = std::atoi(old.c_str() + 7);
      if (pid > 0 && ::kill(pid, 0) != 0 && errno == ESRCH) run({"/usr/sbin/userdel", old});
    }
    RootlessUser u;
    u.name = fmt::format("mct7rl-{}", ::getpid());
    const auto r = run({"/usr/sbin/useradd", "--no-create-home", "--user-group", "--shell",
                        "/usr/sbin/nologin", u.name});
    if (r.status != 0) return;
    const passwd* pw = ::getpwnam(u.name.c_str());
    if (pw == nullptr) return;
    u.uid = pw->pw_uid;
    u.gid = pw->pw_gid;
    user_ = u;
  }
  static inline std::optional<RootlessUser> user_;
};
[[maybe_unused]] inline ::testing::Environment* const kRootlessEnvironment =
    ::testing::AddGlobalTestEnvironment(new RootlessUserEnvironment);

// Why the user cannot run the way rootless podman does (newuidmap with a range in /etc/subuid
// and /etc/subgid), or nullopt: useradd gives the range when login.defs(5) has SUB_UID_COUNT.
inline std::optional<std::string> subordinate_ids_missing(const RootlessUser& user) {
  const auto listed = [&](const char* file) {
    std::ifstream in(file);
    for (std::string line; std::getline(in, line);) {
      if (line.rfind(user.name + ":", 0) == 0) return true;
    }
    return false;
  };
  if (listed("/etc/subuid") && listed("/etc/subgid")) return std::nullopt;
  return "useradd gave " + user.name +
         " no range in /etc/subuid and /etc/subgid (SUB_UID_COUNT in login.defs)";
}

// `command` as the user, with env (KEY=VALUE) added to PATH and HOME=/.
inline std::vector<std::string> user_argv(const RootlessUser& user,
                                          const std::vector<std::string>& command,
                                          const std::vector<std::string>& env = {}) {
  std::vector<std::string> argv{"/usr/bin/setpriv",
                                fmt::format("--reuid={}", user.uid),
                                fmt::format("--regid={}", user.gid),
                                "--clear-groups",
                                "/usr/bin/env",
                                "-i",
                                "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
                                "HOME=/"};
  // The test's mark (support.hpp kOwnerVariable) stays: the user's containers are the test's.
  if (const char* owner = std::getenv(kOwnerVariable)) {
    argv.push_back(fmt::format("{}={}", kOwnerVariable, owner));
  }
  argv.insert(argv.end(), env.begin(), env.end());
  argv.insert(argv.end(), command.begin(), command.end());
  return argv;
}

// A home of the test's own for the user, as pam_systemd and a home directory would give: DIR/run
// as XDG_RUNTIME_DIR and DIR/data as XDG_DATA_HOME, both the user's, mode 0700. The runtime
// puts its state in run/mycontainer, its records (and the image store) in data/mycontainer.
class RootlessHome {
 public:
  explicit RootlessHome(const RootlessUser& user) {
    for (const std::filesystem::path& dir : {dir_.path(), runtime_dir(), data_dir()}) {
      std::filesystem::create_directories(dir);
      if (::chown(dir.c_str(), user.uid, user.gid) != 0) {
        throw std::runtime_error("chown " + dir.string());
      }
      ::chmod(dir.c_str(), 0700);
    }
    ::chmod(dir_.path().c_str(), 0711);
  }
  std::filesystem::path runtime_dir() const { return dir_ / "run"; }
  std::filesystem::path data_dir() const { return dir_ / "data"; }
  std::filesystem::path state_root() const { return runtime_dir() / "mycontainer"; }
  std::filesystem::path data_root() const { return data_dir() / "mycontainer"; }
  std::vector<std::string> env() const {
    return {"XDG_RUNTIME_DIR=" + runtime_dir().string(), "XDG_DATA_HOME=" + data_dir().string()};
  }

 private:
  TempDir dir_{"mct-rootless"};
};

// The names in dir (none when it does not exist).
inline std::vector<std::string> names_in(const std::filesystem::path& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    out.push_back(it->path().filename().string());
  }
  return out;
}

// Processes whose command line contains `text` (a monitor's names its state root), but ours.
inline std::vector<pid_t> processes_mentioning(const std::string& text) {
  std::vector<pid_t> out;
  std::error_code ec;
  for (std::filesystem::directory_iterator it("/proc", ec), end; !ec && it != end;
       it.increment(ec)) {
    const std::string pid = it->path().filename().string();
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string cmdline = read_file(it->path() / "cmdline");
    for (char& c : cmdline) {
      if (c == '\0') c = ' ';
    }
    if (cmdline.find(text) != std::string::npos && std::stoi(pid) != ::getpid()) {
      out.push_back(std::stoi(pid));
    }
  }
  return out;
}

}  // namespace mc::test
