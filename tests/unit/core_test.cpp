// Unit tests of the ctr core that need no root: errors, descriptors, the handshake,
// ChildProcess and exit statuses, exec's 126/127, the shared command line.
#include <fcntl.h>
#include <sched.h>
#include <sys/mman.h>  // mincore(2)
#include <sys/stat.h>  // chmod(2)
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <vector>

#include <CLI/CLI.hpp>

#include "ctr/cli.hpp"
#include "ctr/error.hpp"
#include "ctr/exec.hpp"
#include "ctr/fd.hpp"
#include "ctr/handshake.hpp"
#include "ctr/narrate.hpp"
#include "ctr/process.hpp"
#include "ctr/uts.hpp"
#include "support.hpp"

namespace {

bool fd_is_open(int fd) {
  return ::fcntl(fd, F_GETFD) != -1;
}

TEST(Error, CheckThrowsWithErrnoCallAndArgument) {
  try {
    ctr::check(::open("/nonexistent/x", O_RDONLY), "open", "/nonexistent/x");
    FAIL() << "check did not throw";
  } catch (const ctr::SyscallError& e) {
    EXPECT_EQ(e.err(), ENOENT);
    EXPECT_STREQ(e.what(), "open('/nonexistent/x'): No such file or directory");
  }
}

TEST(Error, CheckPassesSuccessThrough) {
  EXPECT_EQ(ctr::check(5, "x"), 5);
}

TEST(Error, HintsForWellKnownFailures) {
  // "run it with sudo" only helps someone who is not root already.
  const bool mentions_sudo =
      ctr::error_line(ctr::SyscallError(EPERM, "mount", "/proc")).find("sudo") != std::string::npos;
  EXPECT_EQ(mentions_sudo, ::geteuid() != 0);
  EXPECT_NE(ctr::error_line(ctr::SyscallError(EINVAL, "pivot_root", "/r")).find("shared"),
            std::string::npos);
  EXPECT_EQ(ctr::error_line(ctr::SyscallError(EACCES, "execve", "/etc")),
            "execve('/etc'): Permission denied");
}

TEST(Error, ErrorLineIsAlwaysOneLine) {
  // Issue #17 item 9: user input quoted in a message (a host name with a newline) must not
  // break it over two lines; control characters become C escapes, UTF-8 stays.
  EXPECT_EQ(ctr::printable("a\nb\tc\x1b[0m\x7f"), "a\\nb\\tc\\x1b[0m\\x7f");
  EXPECT_EQ(ctr::printable("コンテナ"), "コンテナ");
  EXPECT_EQ(ctr::error_line(ctr::UsageError("bad 'x\ny'")), "bad 'x\\ny'");
}

TEST(UniqueFd, ClosesOnceAndMoves) {
  int raw = ::open("/dev/null", O_RDONLY);
  {
    ctr::UniqueFd a(raw);
    ctr::UniqueFd b(std::move(a));
    // NOLINTNEXTLINE(bugprone-use-after-move,clang-analyzer-cplusplus.Move): the test's point
    EXPECT_FALSE(a);
    EXPECT_EQ(b.get(), raw);
    EXPECT_TRUE(fd_is_open(raw));
  }
  EXPECT_FALSE(fd_is_open(raw));
}

TEST(UniqueFd, ReleaseGivesUpOwnership) {
  int raw = ::open("/dev/null", O_RDONLY);
  {
    ctr::UniqueFd a(raw);
    EXPECT_EQ(a.release(), raw);
  }
  EXPECT_TRUE(fd_is_open(raw));
  ::close(raw);
}

TEST(ExitStatus, ShellCodes) {
  EXPECT_EQ(ctr::ExitStatus::from_wait_status(3 << 8).shell_code(), 3);
  EXPECT_EQ(ctr::ExitStatus::from_wait_status(SIGKILL).shell_code(), 137);
  EXPECT_EQ(ctr::ExitStatus::from_wait_status(SIGKILL).describe(), "killed by signal 9 (Killed)");
  EXPECT_EQ(ctr::ExitStatus::from_wait_status(0).describe(), "exited with code 0");
}

TEST(CloneFlags, NamesEachBit) {
  EXPECT_EQ(ctr::clone_flags_to_string(CLONE_NEWPID | CLONE_NEWNS | SIGCHLD),
            "CLONE_NEWNS|CLONE_NEWPID|SIGCHLD");
}

TEST(CloneFlags, NamesTheSharedMemoryBits) {
  EXPECT_EQ(ctr::clone_flags_to_string(CLONE_NEWNET | CLONE_VM | CLONE_VFORK | SIGCHLD),
            "CLONE_NEWNET|CLONE_VM|CLONE_VFORK|SIGCHLD");
}

TEST(ChildProcess, ReturnsTheEntrysExitCode) {
  auto child = ctr::ChildProcess::clone(0, [] { return 42; });
  EXPECT_EQ(child.wait().shell_code(), 42);
}

TEST(ChildProcess, WithVforkTheParentWaitsAndSeesTheChildsWrites) {
  // CLONE_VM|CLONE_VFORK: clone returns only once the child has exited (or exec'd), and
  // what the child wrote to memory is the parent's too: there is one memory, not a copy.
  int shared = 0;
  auto child = ctr::ChildProcess::clone(CLONE_VM | CLONE_VFORK, [&shared] {
    ::usleep(20 * 1000);
    shared = 7;
    return 3;
  });
  EXPECT_EQ(shared, 7) << "clone came back before the child was done";
  EXPECT_EQ(child.wait().shell_code(), 3);
}

TEST(ChildProcess, AnExceptionInTheChildIsExit125) {
  auto child = ctr::ChildProcess::clone(0, []() -> int { throw std::runtime_error("boom"); });
  EXPECT_EQ(child.wait().shell_code(), ctr::kExitRuntimeFailed);
}

TEST(ChildProcess, DestructorKillsAndReapsAnUnwaitedChild) {
  pid_t pid = 0;
  {
    auto child = ctr::ChildProcess::clone(0, [] {
      ::pause();
      return 0;
    });
    pid = child.pid();
    EXPECT_EQ(::kill(pid, 0), 0);
  }
  // Reaped: not even a zombie is left, so the PID no longer exists (barring reuse).
  EXPECT_EQ(::kill(pid, 0), -1);
  EXPECT_EQ(errno, ESRCH);
}

// The top of a child's stack is present from the start (madvise MADV_POPULATE_WRITE): the
// child writes it without a page fault per page. mincore(2) says which pages are in memory.
TEST(CloneStack, ItsTopIsInMemoryBeforeTheChildRuns) {
  const long page = ::sysconf(_SC_PAGESIZE);
  const ctr::CloneStack stack(std::size_t{256} * 1024);
  const std::size_t top_bytes = std::size_t{32} * 1024;
  std::vector<unsigned char> in_memory(top_bytes / page);
  ASSERT_EQ(::mincore(stack.top() - top_bytes, top_bytes, in_memory.data()), 0);
  for (std::size_t i = 0; i < in_memory.size(); ++i)
    EXPECT_TRUE(in_memory[i] & 1) << "page " << i << " below the top is not in memory";
  std::vector<unsigned char> bottom(1);
  ASSERT_EQ(::mincore(stack.bottom(), page, bottom.data()), 0);
  EXPECT_FALSE(bottom[0] & 1) << "the whole stack was made present, not its top";
}

// A stack given back is kept for the next clone rather than unmapped (its munmap(2) would
// flush each page the child wrote from the TLB), and the next clone runs on it.
TEST(CloneStack, TheLastOneIsKeptForTheNextClone) {
  const std::size_t usual = std::size_t{1024} * 1024;  // what ChildProcess::clone takes
  char* first = nullptr;
  {
    const ctr::CloneStack stack(usual);
    first = stack.bottom();
    first[0] = 'k';  // a new mapping would read 0 here (mmap(2): anonymous memory is zeroed)
  }
  {
    const ctr::CloneStack again(usual);
    EXPECT_EQ(again.bottom(), first);
    EXPECT_EQ(again.bottom()[0], 'k') << "unmapped and mapped anew, not kept";
    const ctr::CloneStack another(usual);  // the kept one is in use: a new mapping
    EXPECT_NE(another.bottom(), first);
  }
  // A child runs on a kept stack as on a new one.
  auto child = ctr::ChildProcess::clone(CLONE_VM | CLONE_VFORK, [] { return 5; });
  EXPECT_EQ(child.wait().shell_code(), 5);
}

TEST(ChildProcess, TryWaitSeesARunningChild) {
  auto child = ctr::ChildProcess::clone(0, [] {
    ::pause();
    return 0;
  });
  EXPECT_FALSE(child.try_wait().has_value());
  EXPECT_TRUE(child.kill(SIGTERM));
  EXPECT_EQ(child.wait().signal, SIGTERM);
}

TEST(Handshake, ChildWaitsForTheParentAndExecClosesTheChannel) {
  ctr::Handshake handshake;
  auto child = ctr::ChildProcess::clone(0, [&]() -> int {
    handshake.close_parent_end();
    handshake.wait_for_parent();
    return ctr::child_setup(handshake,
                            []() -> int { ctr::execvpe({"/bin/true"}, {"PATH=/bin:/usr/bin"}); });
  });
  handshake.close_child_end();
  handshake.release_child();
  EXPECT_FALSE(handshake.wait_for_exec().has_value());  // EOF: exec'd
  EXPECT_EQ(child.wait().shell_code(), 0);
}

TEST(Handshake, SetupErrorsComeBackWithTheirExitCode) {
  ctr::Handshake handshake;
  auto child = ctr::ChildProcess::clone(0, [&]() -> int {
    handshake.close_parent_end();
    handshake.wait_for_parent();
    return ctr::child_setup(handshake, []() -> int {
      ctr::execvpe({"no-such-command-anywhere"}, {"PATH=/bin:/usr/bin"});
    });
  });
  handshake.close_child_end();
  handshake.release_child();
  auto error = handshake.wait_for_exec();
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->exit_code, ctr::kExitNotFound);
  EXPECT_EQ(error->message, "execve('no-such-command-anywhere'): No such file or directory");
  EXPECT_EQ(child.wait().shell_code(), ctr::kExitNotFound);
}

TEST(Handshake, ChildLeavesWhenTheParentGivesUp) {
  ctr::Handshake handshake;
  auto child = ctr::ChildProcess::clone(0, [&]() -> int {
    handshake.close_parent_end();
    handshake.wait_for_parent();
    return 0;  // not reached: the parent closed its end
  });
  handshake.close_child_end();
  handshake = ctr::Handshake();  // drops the parent's end of the first pair
  EXPECT_EQ(child.wait().shell_code(), ctr::kExitRuntimeFailed);
}

// A file that is there but cannot run because what it names is missing: execve(2) says only
// ENOENT; the message must say what is missing (issue #15, "a bad rootfs").
std::string exec_error_of(const std::string& file) {
  ctr::Handshake handshake;
  auto child = ctr::ChildProcess::clone(0, [&]() -> int {
    handshake.close_parent_end();
    handshake.wait_for_parent();
    return ctr::child_setup(handshake, [&]() -> int { ctr::execvpe({file}, {}); });
  });
  handshake.close_child_end();
  handshake.release_child();
  auto error = handshake.wait_for_exec();
  child.wait();
  return error ? ctr::printable(error->message) : "(it ran)";
}

TEST(Exec, AMissingInterpreterOrLoaderIsNamedWithWhatToDo) {
  char dir[] = "/tmp/mc-interp.XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  const std::string script = std::string(dir) + "/script";
  std::ofstream(script) << "#!/no/such/interpreter -x\necho hi\n";
  ::chmod(script.c_str(), 0755);
  // An ELF binary whose PT_INTERP names a loader that is not there: this test's own
  // executable (dynamically linked, where /bin/true may be busybox's static one, as in the
  // VM) with its loader's name changed in place (same length: the file stays a valid ELF).
  const std::string elf = std::string(dir) + "/elf";
  std::string bytes = mc::test::read_file("/proc/self/exe");
  const std::string loader = "/lib64/ld-linux-x86-64.so.2";
  const auto at = bytes.find(loader);
  ASSERT_NE(at, std::string::npos) << "this test's executable has no x86-64 glibc loader name";
  bytes.replace(at, loader.size(), "/lib64/xx-linux-x86-64.so.2");
  std::ofstream(elf, std::ios::binary) << bytes;
  ::chmod(elf.c_str(), 0755);

  const std::string script_error = exec_error_of(script);
  const std::string elf_error = exec_error_of(elf);
  std::filesystem::remove_all(dir);
  EXPECT_NE(script_error.find("'/no/such/interpreter', the interpreter its #! line names, is not"),
            std::string::npos)
      << script_error;
  EXPECT_NE(elf_error.find("'/lib64/xx-linux-x86-64.so.2', the program loader it needs, is not"),
            std::string::npos)
      << elf_error;
  EXPECT_NE(elf_error.find("ldd " + elf), std::string::npos) << elf_error;
}

TEST(Exec, NotExecutableIs126AndMissingIs127) {
  EXPECT_EQ(ctr::exec_error_code(ENOENT), 127);
  EXPECT_EQ(ctr::exec_error_code(EACCES), 126);
  EXPECT_EQ(ctr::exec_error_code(ENOEXEC), 126);
}

TEST(Hostname, Validation) {
  EXPECT_NO_THROW(ctr::validate_hostname("web-1.example"));
  EXPECT_THROW(ctr::validate_hostname(""), ctr::UsageError);
  EXPECT_THROW(ctr::validate_hostname("has space"), ctr::UsageError);
  EXPECT_THROW(ctr::validate_hostname(std::string(65, 'a')), ctr::UsageError);
  EXPECT_THROW(ctr::validate_hostname("-leading-dash"), ctr::UsageError);
}

TEST(Narration, EventsReachTheNarratorAndItsFailuresDoNot) {
  std::vector<std::string> calls;
  ctr::set_narrator([&](const ctr::Event& e) { calls.push_back(e.call); });
  ctr::narrate({.call = "clone(SIGCHLD)", .result = "pid 1", .shell = "", .man = "clone(2)"});
  ctr::set_narrator([](const ctr::Event&) { throw std::runtime_error("narrator broke"); });
  EXPECT_NO_THROW(ctr::narrate({.call = "x", .result = "", .shell = "", .man = ""}));
  ctr::set_narrator(nullptr);
  EXPECT_EQ(calls, std::vector<std::string>{"clone(SIGCHLD)"});
}

struct Parsed {
  ctr::CommonOptions options;
  std::string error;
};

Parsed parse(std::vector<std::string> args) {
  Parsed p;
  CLI::App app{"test", "test"};
  ctr::add_common_options(app, p.options);
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  args.insert(args.begin(), "test");
  for (auto& a : args) argv.push_back(a.data());
  try {
    ctr::parse(app, static_cast<int>(argv.size()), argv.data());
    ctr::finish_common_options(app, p.options, "test");
  } catch (const std::exception& e) {
    p.error = e.what();
  }
  return p;
}

TEST(CommandLine, TheCommandKeepsItsOwnOptions) {
  auto p = parse({"--rootfs", "/usr", "ls", "-l", "/"});
  EXPECT_EQ(p.error, "");
  EXPECT_EQ(p.options.command, (std::vector<std::string>{"ls", "-l", "/"}));
}

TEST(CommandLine, DoubleDashStartsTheCommand) {
  auto p = parse({"--rootfs", "/usr", "--", "--weird-command"});
  EXPECT_EQ(p.error, "");
  EXPECT_EQ(p.options.command, std::vector<std::string>{"--weird-command"});
}

TEST(CommandLine, DefaultCommandIsAShell) {
  auto p = parse({"--rootfs", "/usr"});
  EXPECT_EQ(p.options.command, std::vector<std::string>{"/bin/sh"});
}

TEST(CommandLine, TheHostsRootAndAnEmptyDirectoryAreNoRootfs) {
  EXPECT_NE(parse({"--rootfs", "/"}).error.find("is the host's own root"), std::string::npos);
  EXPECT_NE(parse({"--rootfs", "/usr/.."}).error.find("is the host's own root"), std::string::npos);
  char dir[] = "/tmp/mc-empty-rootfs.XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  const std::string error = parse({"--rootfs", dir}).error;
  ::rmdir(dir);
  EXPECT_NE(error.find("is empty: put a root filesystem into it"), std::string::npos) << error;
}

TEST(CommandLine, UnknownOptionAndMissingRootfsAreUsageErrors) {
  EXPECT_NE(parse({"--rootfs", "/usr", "--bogus"}).error.find("unknown option '--bogus'"),
            std::string::npos);
  EXPECT_NE(parse({"--rootfs", "/nonexistent"}).error.find("rootfs '/nonexistent' does not exist"),
            std::string::npos);
}

}  // namespace
