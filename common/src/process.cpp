#include "ctr/process.hpp"

#include <poll.h>         // ppoll(2)
#include <sys/syscall.h>  // SYS_pidfd_open: no glibc wrapper before 2.36
#include <sched.h>        // clone(2), CLONE_*
#include <signal.h>       // kill(2), sigaction(2)
#include <string.h>       // strsignal(3), strerror(3)
#include <sys/mman.h>     // mmap(2), mprotect(2), munmap(2)
#include <sys/prctl.h>    // prctl(2), PR_SET_PDEATHSIG
#include <sys/wait.h>     // waitpid(2)
#include <unistd.h>       // getppid(2), _exit(2)

#include <algorithm>  // std::min
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <atomic>
#include <cstdio>
#include <utility>

#include <fmt/format.h>
#include <sanitizer/asan_interface.h>         // ASAN_UNPOISON_MEMORY_REGION
#include <sanitizer/common_interface_defs.h>  // __sanitizer_*_switch_fiber
#include <sanitizer/lsan_interface.h>         // __lsan_disable, __lsan_enable

#include "ctr/error.hpp"
#include "ctr/fd.hpp"
#include "ctr/narrate.hpp"

namespace ctr {

ExitStatus ExitStatus::from_wait_status(int status) {
  ExitStatus s;
  if (WIFEXITED(status)) {
    s.exited = true;
    s.code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    s.signal = WTERMSIG(status);
    s.core_dumped = WCOREDUMP(status);
  }
  return s;
}

int ExitStatus::shell_code() const {
  return exited ? code : kExitSignalBase + signal;
}

std::string ExitStatus::describe() const {
  if (exited) return fmt::format("exited with code {}", code);
  return fmt::format("killed by signal {} ({}){}", signal, ::strsignal(signal),
                     core_dumped ? ", core dumped" : "");
}

std::string clone_flags_to_string(int flags) {
  static constexpr std::array<std::pair<int, const char*>, 10> kNames{{
      {CLONE_NEWUSER, "CLONE_NEWUSER"},
      {CLONE_NEWNS, "CLONE_NEWNS"},
      {CLONE_NEWPID, "CLONE_NEWPID"},
      {CLONE_NEWUTS, "CLONE_NEWUTS"},
      {CLONE_NEWIPC, "CLONE_NEWIPC"},
      {CLONE_NEWNET, "CLONE_NEWNET"},
      {CLONE_NEWCGROUP, "CLONE_NEWCGROUP"},
      {CLONE_NEWTIME, "CLONE_NEWTIME"},
      {CLONE_VM, "CLONE_VM"},
      {CLONE_VFORK, "CLONE_VFORK"},
  }};
  std::string out;
  for (const auto& [bit, name] : kNames) {
    if (flags & bit) out += fmt::format("{}|", name);
  }
  const int sig = flags & 0xff;  // the low byte is the signal sent to the parent at exit
  out += sig == SIGCHLD ? "SIGCHLD" : fmt::format("{}", sig);
  return out;
}

namespace {

// The unshare(1) command that makes the same namespaces, for --explain.
std::string unshare_equivalent(int flags) {
  static constexpr std::array<std::pair<int, const char*>, 8> kOptions{{
      {CLONE_NEWUSER, "--user"},
      {CLONE_NEWNS, "--mount"},
      {CLONE_NEWPID, "--pid"},
      {CLONE_NEWUTS, "--uts"},
      {CLONE_NEWIPC, "--ipc"},
      {CLONE_NEWNET, "--net"},
      {CLONE_NEWCGROUP, "--cgroup"},
      {CLONE_NEWTIME, "--time"},
  }};
  std::string out = "unshare --fork";
  for (const auto& [bit, option] : kOptions) {
    if (flags & bit) out += fmt::format(" {}", option);
  }
  return out == "unshare --fork" ? "(a plain fork: no new namespace)" : out;
}

constexpr size_t kStackSize = size_t{1024} * 1024;  // the child's C++ code (fmt, libnl) needs room

// --- AddressSanitizer and the child -------------------------------------------------------
// Two things the sanitizer (the asan preset) cannot know about a clone child unless told.
// Without the sanitizer this section compiles to nothing.
//
// Its stack. AddressSanitizer marks, in its shadow memory, the unused gaps around each
// function's local variables, and keeps for each thread where that thread's stack lies. When
// control leaves frames without returning through them (an exception, _exit), it clears the
// marks from there up to the top of the stack (__asan_handle_no_return). A clone child runs
// on our CloneStack, which the sanitizer does not know as a stack: it finds the range from
// the child's frame to the thread's stack top absurd, clears nothing, and the stale marks
// then read as stack-use-after-scope in the child's next calls. The fiber-switch calls of
// <sanitizer/common_interface_defs.h> (meant for coroutine libraries) tell it which stack is
// now in use.
//
// Its memory, with CLONE_VM. What the child allocates lands in our heap, and its execve
// leaves it there, unreachable: memory of the child's, which a fork child takes with it
// when its copy of the memory goes. LeakSanitizer, checking our heap at our exit, would call
// it our leak. __lsan_disable (<sanitizer/lsan_interface.h>) marks what this thread
// allocates from then on as not to be reported; the child shares our thread's counter (one
// memory, no CLONE_SETTLS), so we count it down again once clone returns. Our own
// allocations stay checked.
#if defined(__SANITIZE_ADDRESS__)  // GCC's and clang's -fsanitize=address
#define MC_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)  // older clang
#define MC_ASAN 1
#endif
#endif

struct Trampoline {
  ChildProcess::Entry* entry;
  pid_t parent;
  int flags;
  const CloneStack* stack;
  // What the child found and changed (for the sanitizer): with CLONE_VM it changed our
  // thread's records (one memory), and we put them back once clone returns.
  bool sanitizer_told = false;
  const void* parent_stack_bottom = nullptr;
  size_t parent_stack_size = 0;
  void* parent_fake_stack = nullptr;
};

// First thing in the child: "this thread now runs on t.stack" (and, in our memory, "what it
// allocates is the child's").
void sanitizer_enter_child([[maybe_unused]] Trampoline& t) {
#ifdef MC_ASAN
  // A CLONE_VM child without CLONE_VFORK would run beside us on the same thread records:
  // the sanitizer cannot be told about it (and nothing here makes one).
  if ((t.flags & CLONE_VM) && !(t.flags & CLONE_VFORK)) return;
  __sanitizer_start_switch_fiber(&t.parent_fake_stack, t.stack->bottom(), t.stack->size());
  __sanitizer_finish_switch_fiber(nullptr, &t.parent_stack_bottom, &t.parent_stack_size);
  if (t.flags & CLONE_VM) __lsan_disable();
  t.sanitizer_told = true;
#endif
}

// In the parent, back from a CLONE_VM clone: "this thread runs on its own stack again" (the
// child's fake stack goes with the child: nullptr, as for a fiber that ended), and what it
// allocates is checked again.
void sanitizer_back_in_parent([[maybe_unused]] Trampoline& t) {
#ifdef MC_ASAN
  if (!(t.flags & CLONE_VM) || !t.sanitizer_told) return;  // nothing of ours was changed
  __sanitizer_start_switch_fiber(nullptr, t.parent_stack_bottom, t.parent_stack_size);
  __sanitizer_finish_switch_fiber(t.parent_fake_stack, nullptr, nullptr);
  __lsan_enable();
#endif
}

// The first function the child runs. Whatever happens, it ends the child here: never by
// returning into the parent's frames (clone(2): "the child terminates when fn returns").
int child_trampoline(void* arg) {
  auto* t = static_cast<Trampoline*>(arg);
  sanitizer_enter_child(*t);
  // If the runtime dies, the kernel sends the child SIGKILL (prctl(2) PR_SET_PDEATHSIG).
  // The parent may already be gone by now: then getppid() differs and we leave at once.
  // (In a new PID namespace getppid() is 0, the parent being outside; there the handshake
  // notices a dead parent: its end of the socket closes.)
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (const pid_t ppid = ::getppid(); ppid != 0 && ppid != t->parent) ::_exit(kExitRuntimeFailed);
  int code = kExitRuntimeFailed;
  try {
    code = (*t->entry)();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "container: %s\n", e.what());
  } catch (...) {
  }
  std::fflush(nullptr);  // clone's child exits with _exit: flush stdio ourselves
  ::_exit(code);
}

// --- clone3(2) with CLONE_INTO_CGROUP -------------------------------------------------------
// clone3 takes its arguments in a struct (struct clone_args, <linux/sched.h>), which has room
// for what clone(2)'s register list had none for: `cgroup`, a descriptor of a cgroup2
// directory the child starts in. Spelt out here because glibc (2.36) has no clone3 wrapper and
// <linux/sched.h> clashes with <sched.h>; the layout is the kernel's ABI (CLONE_ARGS_SIZE_VER2).
struct CloneArgs {
  uint64_t flags;
  uint64_t pidfd;
  uint64_t child_tid;
  uint64_t parent_tid;
  uint64_t exit_signal;  // clone(2)'s low byte of flags: SIGCHLD
  uint64_t stack;        // the lowest address of the child's stack, not its top as for clone
  uint64_t stack_size;
  uint64_t tls;
  uint64_t set_tid;
  uint64_t set_tid_size;
  uint64_t cgroup;
};
static_assert(sizeof(CloneArgs) == 88, "CLONE_ARGS_SIZE_VER2");
constexpr uint64_t kCloneIntoCgroup = 0x200000000ULL;  // CLONE_INTO_CGROUP, <linux/sched.h>

#if defined(__x86_64__)
// The raw system call returns twice, like fork, but the child's stack pointer is the top of
// its new stack, where no frame of ours exists: it must not return into C++ code. So, as
// glibc's own (internal) __clone3 does, a few instructions: in the child, call fn(arg) on the
// new stack and end with exit(2); in the parent, return the pid (or -errno).
// mc_clone3(args, size, fn, arg): rdi, rsi, rdx, rcx; the kernel keeps rdx and r8 (not rcx).
extern "C" long mc_clone3(CloneArgs* args, size_t size, int (*fn)(void*), void* arg);
asm(R"(
    .text
    .globl mc_clone3
    .type mc_clone3, @function
mc_clone3:
    .cfi_startproc
    mov %rcx, %r8
    mov $435, %eax
    syscall
    test %rax, %rax
    jz 1f
    ret
    .cfi_endproc
1:
    .cfi_startproc
    .cfi_undefined rip
    xor %ebp, %ebp
    and $-16, %rsp
    mov %r8, %rdi
    call *%rdx
    mov %eax, %edi
    mov $60, %eax
    syscall
    hlt
    .cfi_endproc
    .size mc_clone3, .-mc_clone3
)");
#endif

// The pid, or -errno; -ENOSYS where this architecture has no mc_clone3 above.
long clone3_into_cgroup([[maybe_unused]] int flags, [[maybe_unused]] int cgroup_fd,
                        [[maybe_unused]] const CloneStack& stack, [[maybe_unused]] Trampoline& t) {
#if defined(__x86_64__)
  CloneArgs args{};
  args.flags = static_cast<uint64_t>(static_cast<unsigned>(flags)) | kCloneIntoCgroup;
  args.exit_signal = SIGCHLD;
  args.stack = reinterpret_cast<uint64_t>(stack.bottom());
  args.stack_size = stack.size();
  args.cgroup = static_cast<uint64_t>(cgroup_fd);
  return mc_clone3(&args, sizeof args, child_trampoline, &t);
#else
  return -ENOSYS;
#endif
}

// --explain: what clone or clone3 made.
void narrate_clone(const char* call, int flags, pid_t pid, const std::string& cgroup_dir) {
  const bool into = !cgroup_dir.empty();
  std::string result = fmt::format("pid {}", pid);
  if (into) result += ", born in its cgroup";
  if (flags & CLONE_VFORK) result += ", back after its execve (its lines come first)";
  narrate(
      {.call = fmt::format("{}({}{})", call, clone_flags_to_string(flags | SIGCHLD),
                           into ? fmt::format("|CLONE_INTO_CGROUP, cgroup = {}", cgroup_dir) : ""),
       .result = result,
       .shell = unshare_equivalent(flags),
       .man =
           into ? "clone(2) (clone3, CLONE_INTO_CGROUP), cgroups(7)" : "clone(2), namespaces(7)"});
}

}  // namespace

namespace {

// The last stack given back, kept for this process's next clone instead of unmapped (#16,
// the warm start). munmap(2) flushes each page the child wrote from the TLB, one by one
// below 33 pages, and on this virtual machine each flush goes through the hypervisor: about
// 19 µs a page, 150 µs for 8 (tests/bench/RESULTS.md, "Warm start, session 10"). A runtime
// clones once and exits, and exit(2) frees the mapping with everything else, in one go. Only
// stacks of the usual size are kept, one at most.
std::atomic<char*> kept_stack{nullptr};

// How deep the child's stack goes, about: `mycontainer run`'s child uses some 36 KiB.
constexpr size_t kStackPopulated = size_t{48} * 1024;

}  // namespace

// mmap(2) rather than new[]: the pages cost nothing until the child's stack grows into them
// (new[] of a megabyte is an mmap inside malloc too), and the lowest page can be made
// inaccessible (mprotect(2) PROT_NONE), which a heap block cannot. The top of it, which every
// child writes, is made present at once (madvise(2) MADV_POPULATE_WRITE, Linux 5.14): one
// system call instead of a page fault per page, each an exit to the hypervisor here
// (runtime/memory.hpp). An older kernel says EINVAL, and the pages fault in as before.
CloneStack::CloneStack(size_t size) : guard_(static_cast<size_t>(::sysconf(_SC_PAGESIZE))) {
  length_ = guard_ + size;
  if (size == kStackSize) {
    if (char* kept = kept_stack.exchange(nullptr)) {
      base_ = kept;  // guard page and all, as it was made below
      return;
    }
  }
  void* p = ::mmap(nullptr, length_, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (p == MAP_FAILED) {
    const int err = errno;
    throw SyscallError(err, "mmap", fmt::format("{} bytes for the child's stack", length_));
  }
  base_ = static_cast<char*>(p);
  if (::mprotect(base_, guard_, PROT_NONE) < 0) {
    const int err = errno;
    ::munmap(base_, length_);
    base_ = nullptr;
    throw SyscallError(err, "mprotect", "the guard page below the child's stack");
  }
  const size_t populated = std::min(kStackPopulated, size);
  (void)::madvise(top() - populated, populated, MADV_POPULATE_WRITE);
}

CloneStack::CloneStack(CloneStack&& other) noexcept
    : base_(std::exchange(other.base_, nullptr)),
      length_(std::exchange(other.length_, 0)),
      guard_(std::exchange(other.guard_, 0)) {}

CloneStack& CloneStack::operator=(CloneStack&& other) noexcept {
  if (this != &other) {
    this->~CloneStack();
    base_ = std::exchange(other.base_, nullptr);
    length_ = std::exchange(other.length_, 0);
    guard_ = std::exchange(other.guard_, 0);
  }
  return *this;
}

CloneStack::~CloneStack() {
  if (base_ == nullptr) return;
  // A CLONE_VM child marked its frames in our shadow memory: clear them, or whatever is
  // mapped here next would inherit them (no-op without the sanitizer).
  ASAN_UNPOISON_MEMORY_REGION(bottom(), size());
  // Kept for the next clone, if none is yet: no child runs on it any more (ours was reaped,
  // or ran on a copy of our memory, or, with CLONE_VFORK, has exec'd).
  char* none = nullptr;
  if (size() == kStackSize && kept_stack.compare_exchange_strong(none, base_)) return;
  ::munmap(base_, length_);
}

ChildProcess ChildProcess::clone(int flags, Entry entry) {
  CloneStack stack(kStackSize);
  Trampoline t{&entry, ::getpid(), flags, &stack};
  std::fflush(nullptr);  // else the child would print our buffered output a second time
  // The stack grows down on every architecture Linux containers run on: pass its top.
  const pid_t pid = check(::clone(child_trampoline, stack.top(), flags | SIGCHLD, &t), "clone",
                          clone_flags_to_string(flags | SIGCHLD));
  sanitizer_back_in_parent(t);
  narrate_clone("clone", flags, pid, "");
  return ChildProcess(pid, std::move(stack));
}

std::optional<ChildProcess> ChildProcess::clone_into_cgroup(int flags, int cgroup_fd,
                                                            const std::string& cgroup_dir,
                                                            Entry entry) {
  CloneStack stack(kStackSize);
  Trampoline t{&entry, ::getpid(), flags, &stack};
  std::fflush(nullptr);
  const long r = clone3_into_cgroup(flags, cgroup_fd, stack, t);
  sanitizer_back_in_parent(t);
  if (r >= 0) {
    const auto pid = static_cast<pid_t>(r);
    narrate_clone("clone3", flags, pid, cgroup_dir);
    return ChildProcess(pid, std::move(stack));
  }
  const int err = static_cast<int>(-r);
  // ENOSYS: no clone3 (before Linux 5.3, or a seccomp filter that hides it, as docker's
  // does); E2BIG: clone3 without the cgroup field (5.3-5.6); EINVAL: no CLONE_INTO_CGROUP
  // here. Anything else (EAGAIN at a pids limit, EACCES) is an answer clone would give too.
  if (err != ENOSYS && err != E2BIG && err != EINVAL) {
    throw SyscallError(err, "clone3",
                       clone_flags_to_string(flags | SIGCHLD) + "|CLONE_INTO_CGROUP");
  }
  narrate({.call = fmt::format("clone3(CLONE_INTO_CGROUP, cgroup = {})", cgroup_dir),
           .result = fmt::format("{}: not here; clone, then the child is moved in (cgroup.procs)",
                                 std::strerror(err)),
           .shell = "",
           .man = "clone(2) (CLONE_INTO_CGROUP, Linux 5.7)"});
  return std::nullopt;
}

ChildProcess::ChildProcess(pid_t pid, CloneStack stack) noexcept
    : pid_(pid), stack_(std::move(stack)) {}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)), stack_(std::move(other.stack_)) {}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  if (this != &other) {
    // The child we owned is killed and reaped by `old`'s destructor, at the end of this block;
    // calling ~ChildProcess() on *this and then assigning to it would use a dead object.
    ChildProcess old(std::move(*this));
    pid_ = std::exchange(other.pid_, -1);
    stack_ = std::move(other.stack_);
  }
  return *this;
}

ChildProcess::~ChildProcess() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  while (::waitpid(pid_, &status, __WALL) < 0 && errno == EINTR) {
  }
}

ExitStatus ChildProcess::wait() {
  int status = 0;
  pid_t r;
  while ((r = ::waitpid(pid_, &status, __WALL)) < 0 && errno == EINTR) {
  }
  check(r, "waitpid", std::to_string(pid_));
  pid_ = -1;
  return ExitStatus::from_wait_status(status);
}

namespace {
sigset_t terminating_set() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) sigaddset(&set, sig);
  return set;
}

// Blocks the terminating signals while it lives; `before` is the mask to sleep with.
class BlockTerminatingSignals {
 public:
  BlockTerminatingSignals() {
    const sigset_t set = terminating_set();
    ::sigprocmask(SIG_BLOCK, &set, &before);
  }
  ~BlockTerminatingSignals() { ::sigprocmask(SIG_SETMASK, &before, nullptr); }
  BlockTerminatingSignals(const BlockTerminatingSignals&) = delete;
  BlockTerminatingSignals& operator=(const BlockTerminatingSignals&) = delete;
  sigset_t before{};
};
}  // namespace

ExitStatus ChildProcess::wait_with_grace(std::chrono::milliseconds grace, bool* escalated) {
  if (escalated != nullptr) *escalated = false;
  // A pidfd becomes readable when the process ends (pidfd_open(2)); poll(2) on it sleeps
  // until then, or until a signal handler runs (EINTR), or until the grace period is over.
  const UniqueFd pidfd = pidfd_open(pid_);
  if (!pidfd) return wait();  // kernels before 5.3: no escalation, plain wait
  // A ^C that came after the look at the deadline but before the sleep would run its handler
  // then, and poll(2) would sleep on without a timeout: the signals stay blocked while we
  // look, and ppoll(2) unblocks them for the sleep alone, atomically (the pselect(2) race).
  const BlockTerminatingSignals blocked;
  StopDeadline deadline(grace);
  while (true) {
    if (auto status = try_wait()) return *status;
    if (deadline.expired()) {
      narrate({.call = fmt::format("kill({}, SIGKILL)", pid_),
               .result = fmt::format("it did not stop within {} ms", grace.count()),
               .shell = fmt::format("kill -KILL {}", pid_),
               .man = "kill(2)"});
      ::kill(pid_, SIGKILL);
      if (escalated != nullptr) *escalated = true;
      return wait();
    }
    pollfd p{pidfd.get(), POLLIN, 0};
    const int ms = deadline.timeout_ms();
    const timespec timeout{.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    // EINTR: a signal came; the loop looks again.
    ::ppoll(&p, 1, ms < 0 ? nullptr : &timeout, &blocked.before);
  }
}

std::optional<ExitStatus> ChildProcess::try_wait() {
  int status = 0;
  const pid_t r =
      check(::waitpid(pid_, &status, WNOHANG | __WALL), "waitpid", std::to_string(pid_));
  if (r == 0) return std::nullopt;
  pid_ = -1;
  return ExitStatus::from_wait_status(status);
}

bool ChildProcess::kill(int sig) noexcept {
  return pid_ > 0 && ::kill(pid_, sig) == 0;
}

void set_parent_death_signal(int sig, int watch_fd) {
  check(::prctl(PR_SET_PDEATHSIG, sig), "prctl", "PR_SET_PDEATHSIG");
  if (watch_fd >= 0) {
    pollfd p{watch_fd, POLLIN, 0};
    if (::poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR))) ::_exit(kExitRuntimeFailed);
  }
}

UniqueFd pidfd_open(pid_t pid) {
  return UniqueFd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
}

bool StopDeadline::expired() {
  return timeout_ms() == 0;
}

int StopDeadline::timeout_ms() {
  const int signals = SignalForwarder::terminating_count();
  const auto now = std::chrono::steady_clock::now();
  if (signals == 0) return -1;
  if (!deadline_) deadline_ = now + grace_;
  if (signals > 1) deadline_ = now;  // asked twice: now
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*deadline_ - now);
  return left.count() > 0 ? static_cast<int>(left.count()) : 0;
}

DeferTerminatingSignals::DeferTerminatingSignals() {
  const sigset_t set = terminating_set();
  ::sigprocmask(SIG_BLOCK, &set, nullptr);
}

void DeferTerminatingSignals::release() noexcept {
  if (!active_) return;
  active_ = false;
  unblock_in_child();
}

int DeferTerminatingSignals::take_pending() noexcept {
  const sigset_t set = terminating_set();
  const timespec now{};
  const int sig = ::sigtimedwait(&set, nullptr, &now);
  return sig > 0 ? sig : 0;
}

void DeferTerminatingSignals::unblock_in_child() noexcept {
  const sigset_t set = terminating_set();
  ::sigprocmask(SIG_UNBLOCK, &set, nullptr);
}

// --- SignalForwarder ---------------------------------------------------------------------

namespace {
constexpr std::array kForwarded{SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
std::atomic<pid_t> g_forward_to{-1};
std::atomic<int> g_last_signal{0};
std::atomic<int> g_terminating{0};
std::array<struct sigaction, kForwarded.size()> g_previous{};

void forward(int sig) {
  // Only async-signal-safe calls here (signal-safety(7)): kill(2) is one.
  const int saved = errno;
  g_last_signal = sig;
  if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP || sig == SIGQUIT) ++g_terminating;
  if (const pid_t pid = g_forward_to; pid > 0) ::kill(pid, sig);
  errno = saved;
}
}  // namespace

SignalForwarder::SignalForwarder(pid_t pid) {
  g_forward_to = pid;
  g_last_signal = 0;
  g_terminating = 0;
  struct sigaction sa {};
  sa.sa_handler = forward;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  for (size_t i = 0; i < kForwarded.size(); ++i) ::sigaction(kForwarded[i], &sa, &g_previous[i]);
}

SignalForwarder::~SignalForwarder() {
  for (size_t i = 0; i < kForwarded.size(); ++i)
    ::sigaction(kForwarded[i], &g_previous[i], nullptr);
  g_forward_to = -1;
}

int SignalForwarder::last_signal() noexcept {
  return g_last_signal;
}

int SignalForwarder::terminating_count() noexcept {
  return g_terminating;
}

}  // namespace ctr
