// What every test needs: root checks, running a binary with a timeout and capturing its
// output, and a snapshot of the host to prove that a run left nothing behind.
#pragma once

#include <gtest/gtest.h>

#include "ctr/error.hpp"  // ctr::UsageError

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace mc::test {

// True when the test may use root rights. Without root, privileged tests skip with a
// message; with MC_REQUIRE_ROOT=1 (CI) a missing root is a failure instead.
bool have_root();
bool root_required();

// Skips (or fails, under MC_REQUIRE_ROOT=1) the current test unless running as root and the
// test rootfs exists.
#define MC_REQUIRE_ROOT()                                                         \
  do {                                                                            \
    if (auto why_ = ::mc::test::privileged_unavailable()) {                       \
      if (::mc::test::root_required()) FAIL() << *why_ << " (MC_REQUIRE_ROOT=1)"; \
      GTEST_SKIP() << *why_;                                                      \
    }                                                                             \
  } while (0)
std::optional<std::string> privileged_unavailable();

// For a privileged test that finds, once running, that the machine lacks something it needs
// (user namespaces...): skips with the reason, or fails under MC_REQUIRE_ROOT=1.
#define MC_SKIP_OR_FAIL(why)                                                    \
  do {                                                                          \
    if (::mc::test::root_required()) FAIL() << (why) << " (MC_REQUIRE_ROOT=1)"; \
    GTEST_SKIP() << (why);                                                      \
  } while (0)

// Paths: built binaries (build/bin/NAME) and the test root filesystem ($MC_ROOTFS or the
// project's rootfs/).
std::string bin(const std::string& name);
std::string rootfs();
std::string source_dir();

struct RunResult {
  int status = -1;  // exit code as a shell reports it: code, or 128+signal
  std::string out;  // stdout
  std::string err;  // stderr
  bool timed_out = false;
};

struct RunOptions {
  std::chrono::milliseconds timeout{60000};
  std::string input;             // written to stdin, then closed
  std::vector<std::string> env;  // extra KEY=VALUE for the child
};

// Runs argv (argv[0] a path) and waits; kills it with SIGKILL on timeout.
RunResult run(const std::vector<std::string>& argv, const RunOptions& options = {});
// Convenience: run a shell command line through /bin/sh -c.
RunResult sh(const std::string& command, const RunOptions& options = {});

// Reads a whole file ("" if it cannot be read).
std::string read_file(const std::string& path);

// The host's state that a container must not change or leave behind.
struct HostSnapshot {
  std::vector<std::string> mounts;          // mount points from /proc/self/mountinfo
  std::set<std::string> links;              // network interface names
  std::set<std::string> cgroups;            // directories under /sys/fs/cgroup (depth-limited)
  std::set<std::string> mycontainer_state;  // files under /run/mycontainer
  std::map<int, std::string> processes;     // this test's live processes: pid -> command line
  std::string hostname;
  static HostSnapshot take();
};

// What a test compares is what belongs to the test, so that other containers on the host (a
// learner's second terminal, another suite under `ctest -j`, another developer) never fail
// it, and a leak of the test's own containers always does. Belonging is decided by names and
// pids (owned_by_test below); everything else on the host is someone else's.
enum class CompareProcesses { kYes, kNo };  // kNo: while the test's own container still runs
// Lists the differences that belong to this test ("" when none), for
// EXPECT_EQ("", diff(before, after)).
std::string diff(const HostSnapshot& before, const HostSnapshot& after,
                 CompareProcesses processes = CompareProcesses::kYes);

// Every process a test starts carries MC_TEST_OWNER=<the test's pid> in its environment
// (set once at startup, inherited through every fork and exec, steps 1-6 pass it into the
// container): that is how a container of the test is told from a stranger's, even after it
// was orphaned and adopted by init.
inline constexpr const char* kOwnerVariable = "MC_TEST_OWNER";

// What decides whether one line of a whole-host diff ("+cgroup /sys/fs/cgroup/...") belongs to
// a test. Filled from the real host by TestScope::current(); a unit test fills it by hand.
struct TestScope {
  int pid = 0;         // the test process: names made by unique_name() carry "-<pid>-"
  std::string rootfs;  // the test's root filesystem: mounts beneath it are the test's
  // True for a process the test started (run() records them) or one that carries its mark.
  std::function<bool(int)> started_by_test;
  std::function<bool(int)> alive;
  // True when a network interface of that name is in the host's namespace now.
  std::function<bool(const std::string&)> link_on_host;
  static TestScope current();
};
// True when a diff line is about something of the test's (or something of the host's that no
// container may change: its host name, its own interfaces, mounts on its top-level directories).
bool owned_by_test(const std::string& line, const TestScope& scope);

// Processes whose command line starts with prefix ("/bin/sleep 1234"), other than this one.
std::vector<int> pids_matching(const std::string& prefix);

// Runs f in a forked child and returns the string it produced ("exception: ..." if it threw,
// with " [signal N]" appended if the child was killed). Nothing f does reaches this process:
// what a test of a privilege-dropping call needs.
std::string in_child(const std::function<std::string()>& f);
// Inside in_child's f: the descriptor its result goes back through (to keep it open in a
// test that closes descriptors).
int in_child_report_fd();

// Inside in_child's f: unshare(CLONE_NEWUSER | extra_flags) and become root of the new user
// namespace, uid and gid 0 mapped onto our own (the one mapping a process may write for
// itself, user_namespaces(7)). Throws SyscallError where user namespaces are unavailable.
void enter_user_namespace_as_root(int extra_flags = 0);

// Runs f, expects a ctr::UsageError whose message contains `needle`.
template <typename F>
void expect_usage_error(F&& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no UsageError; expected one containing '" << needle << "'";
  } catch (const ctr::UsageError& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

// The message of the ctr::UsageError that f throws ("" if it throws none).
template <typename F>
std::string usage_error(F&& f) {
  try {
    f();
  } catch (const ctr::UsageError& e) {
    return e.what();
  }
  return "";
}

// A name unique to this test process and call ("mc-t-<pid>-<n>").
std::string unique_name(const std::string& prefix = "mct");

}  // namespace mc::test
