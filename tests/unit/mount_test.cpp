// --explain promises that each `shell:` line, typed in, does what the call did. For mount(2)
// that is checked here: each case mounts once with the call and once with the shell command
// --explain prints, in a mount namespace of its own, and the two mounts must look the same
// in /proc/self/mountinfo (file system type, per-mount and super-block options, and for bind
// mounts whether the mounts beneath the source came along).
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "ctr/mount.hpp"
#include "support.hpp"

namespace {

struct Case {
  std::string name;
  std::string source;  // "SRC": the test's source directory (with a mount beneath it)
  std::string fstype;
  unsigned long flags = 0;
  std::string data;
  bool remount = false;  // first bind SRC there, then apply the flags to that mount
};

// What mountinfo says of the mount at `at`: type, options, and what is mounted beneath it.
std::string mount_of(const std::string& at) {
  std::ifstream info("/proc/self/mountinfo");
  std::string found;
  std::string beneath;
  for (std::string line; std::getline(info, line);) {
    std::istringstream f(line);
    std::string id, parent, dev, root, point, options;
    f >> id >> parent >> dev >> root >> point >> options;
    const auto dash = line.find(" - ");
    if (point == at) found = fmt::format("{} {} |{}", root, options, line.substr(dash + 2));
    if (point.rfind(at + "/", 0) == 0) beneath += " +" + point.substr(at.size());
  }
  // The source names differ (the shell's "none" vs the call's ""): keep type and options.
  std::istringstream tail(found.substr(found.find('|') + 1));
  std::string type, source, super;
  tail >> type >> source >> super;
  return found.substr(0, found.find('|')) + type + " " + super + beneath;
}

std::string run_case(const Case& c) {
  return mc::test::in_child([&]() -> std::string {
    if (::unshare(CLONE_NEWNS) != 0) return "unshare failed";
    ctr::mount("", "/", "", MS_REC | MS_PRIVATE);
    ctr::mount("tmpfs", "/tmp", "tmpfs", 0, "size=1m");  // nothing below reaches the host
    for (const char* dir : {"/tmp/SRC", "/tmp/SRC/sub", "/tmp/by-call", "/tmp/by-shell"}) {
      ::mkdir(dir, 0755);
    }
    ctr::mount("tmpfs", "/tmp/SRC/sub", "tmpfs", 0, "size=1m");
    const std::string source = c.source == "SRC" ? "/tmp/SRC" : c.source;
    if (c.remount) {
      for (const char* at : {"/tmp/by-call", "/tmp/by-shell"}) {
        ctr::mount("/tmp/SRC", at, "", MS_BIND | MS_REC);
      }
    }
    ctr::mount(source, "/tmp/by-call", c.fstype, c.flags, c.data);
    const std::string shell =
        ctr::mount_shell_command(source, "/tmp/by-shell", c.fstype, c.flags, c.data);
    if (std::system(shell.c_str()) != 0) return "failed: " + shell;
    const std::string by_call = mount_of("/tmp/by-call");
    const std::string by_shell = mount_of("/tmp/by-shell");
    if (by_call != by_shell) {
      return fmt::format("`{}` differs:\n  call:  {}\n  shell: {}", shell, by_call, by_shell);
    }
    return "same";
  });
}

TEST(MountShellCommand, DoesWhatTheCallDoes) {
  MC_REQUIRE_ROOT();
  const std::vector<Case> cases = {
      {"proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "", false},
      {"tmpfs", "tmpfs", "tmpfs", MS_NOSUID | MS_NODEV | MS_STRICTATIME, "mode=755,size=64k",
       false},
      {"read-only sysfs", "sysfs", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "",
       false},
      {"bind", "SRC", "", MS_BIND, "", false},
      {"rbind", "SRC", "", MS_BIND | MS_REC, "", false},
      {"remount read-only", "", "", MS_BIND | MS_REMOUNT | MS_RDONLY, "", true},
      {"remount ro,nosuid,nodev,noexec", "", "",
       MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "", true},
  };
  for (const auto& c : cases) EXPECT_EQ(run_case(c), "same") << c.name;
}

}  // namespace
