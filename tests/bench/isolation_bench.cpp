// bench_isolation: what each isolation feature of a container costs, measured on its own.
//
// Starting a container is a sum of kernel operations: clone(2) with namespace flags, a few
// mounts, pivot_root(2), cgroup directories, a veth pair, capability and seccomp calls, and
// finally execve(2). Each benchmark below measures one of them, so that the whole-runtime
// numbers of scripts/bench.sh can be read as a sum: what is the kernel's price, and what is
// a runtime's own overhead on top (Go's start-up for runc, our own library work for us).
//
//   sudo build/bin/bench_isolation                 # everything, about a minute on 2 cores
//   sudo build/bin/bench_isolation --benchmark_filter=Clone
//   sudo build/bin/bench_isolation --benchmark_out=bench.json --benchmark_out_format=json
//
// It prints Google Benchmark's table, then the same numbers as a markdown table for README.
//
// How things are timed (wall clock throughout: the work happens in children and in the
// kernel, so this process's CPU time would miss most of it):
//  - In this process where the operation can be undone here (cgroups, veth pairs,
//    clone + wait): UseRealTime().
//  - In a child where it cannot: pivot_root(2) changes the root of a whole mount namespace,
//    a seccomp filter can never be removed, capabilities dropped stay dropped. A fresh child
//    per iteration does its untimed setup, then times only the operation with
//    CLOCK_MONOTONIC (one clock for every process) and sends the nanoseconds back through a
//    pipe: UseManualTime(). What the clone itself costs is BM_Clone's business.
//  - Mounts (proc, sysfs, /dev, masked paths) are timed inside one long-lived helper child
//    that is PID 1 of its own PID namespace and owns its own mount namespace, as a container's
//    init is when it mounts them: procfs shows the PID namespace of the process that mounts it
//    (proc(5)), so only a process inside a new PID namespace mounts the procfs a container
//    gets. Mount and unmount are both timed, in the helper, so the numbers include the
//    teardown the kernel does when a container's mount namespace dies. One helper for all
//    iterations keeps the clone out of the numbers and the host's mount table untouched:
//    everything happens in the helper's private mount namespace.
//
// Every benchmark removes what it creates, in every iteration; names (cgroups, links) carry
// our pid, so two runs cannot collide. Needs root; without it, says so and exits 0.
#include <benchmark/benchmark.h>  // Google Benchmark (libbenchmark-dev)
#include <fcntl.h>                // O_CLOEXEC
#include <linux/filter.h>         // struct sock_filter, struct sock_fprog
#include <linux/sched.h>          // struct clone_args, CLONE_INTO_CGROUP
#include <linux/seccomp.h>        // SECCOMP_SET_MODE_FILTER
#include <sched.h>                // clone(2), CLONE_NEW*
#include <signal.h>               // SIGCHLD
#include <spawn.h>                // posix_spawn(3)
#include <sys/mman.h>             // memfd_create(2)
#include <sys/mount.h>            // mount(2), umount2(2)
#include <sys/prctl.h>            // prctl(2), PR_SET_NO_NEW_PRIVS
#include <sys/socket.h>           // socketpair(2)
#include <sys/stat.h>             // mkdir(2), mknod(2)
#include <sys/syscall.h>          // SYS_seccomp
#include <sys/sysmacros.h>        // makedev(3)
#include <sys/utsname.h>          // uname(2)
#include <sys/wait.h>             // waitpid(2)
#include <time.h>                 // clock_gettime(2)
#include <unistd.h>               // read(2), write(2), rmdir(2)

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "ctr/bridge.hpp"            // VethPair
#include "ctr/cgroup.hpp"            // Cgroup, CgroupLayout, CgroupPlace
#include "ctr/error.hpp"             // check, SyscallError
#include "ctr/fd.hpp"                // UniqueFd
#include "ctr/mount.hpp"             // mount_proc, bind_mount, pivot_root ...
#include "ctr/process.hpp"           // ChildProcess
#include "runtime/capabilities.hpp"  // apply_capabilities, default_capabilities
#include "runtime/seccomp.hpp"       // compile_seccomp, load_bpf
#include "runtime/spec.hpp"          // mycontainer::Seccomp

extern char** environ;

namespace {

// === Helpers ================================================================================

int64_t now_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

bool write_all(int fd, const void* data, size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

bool read_all(int fd, void* data, size_t size) {
  char* p = static_cast<char*>(data);
  while (size > 0) {
    const ssize_t n = ::read(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A unique name per process and call: "mcbench-4242-17".
std::string unique_name(std::string_view prefix) {
  static unsigned counter = 0;
  return fmt::format("{}-{}-{}", prefix, ::getpid(), counter++);
}

// A temporary directory, removed (with the empty subdirectories made through sub()) on exit.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/mcbench.XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) throw ctr::SyscallError(errno, "mkdtemp", tmpl);
    path_ = tmpl;
  }
  ~TempDir() {
    for (auto it = subs_.rbegin(); it != subs_.rend(); ++it) ::rmdir(it->c_str());
    ::rmdir(path_.c_str());
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string sub(const std::string& name) {
    std::string p = path_ + "/" + name;
    ctr::check(::mkdir(p.c_str(), 0755), "mkdir", p);
    subs_.push_back(p);
    return p;
  }

 private:
  std::string path_;
  std::vector<std::string> subs_;
};

// Runs `setup` (untimed) then `body` (timed) in a fresh child cloned with `flags`, and
// returns the nanoseconds the child measured around `body`. Throws when the child fails.
int64_t time_in_child(int flags, const std::function<void()>& setup,
                      const std::function<void()>& body) {
  int fds[2];
  ctr::check(::pipe2(fds, O_CLOEXEC), "pipe2");
  ctr::UniqueFd rd(fds[0]), wr(fds[1]);
  auto child = ctr::ChildProcess::clone(flags, [&]() -> int {
    rd.reset();
    setup();
    const int64_t t0 = now_ns();
    body();
    const int64_t ns = now_ns() - t0;
    return write_all(wr.get(), &ns, sizeof ns) ? 0 : 1;
  });
  wr.reset();
  int64_t ns = -1;
  const bool got = read_all(rd.get(), &ns, sizeof ns);
  const ctr::ExitStatus status = child.wait();
  if (!got || !status.exited || status.code != 0) {
    throw std::runtime_error("benchmark child " + status.describe() + " (its error is above)");
  }
  return ns;
}

// Runs `fn` and turns an exception into a skipped benchmark, so one feature missing on this
// machine does not stop the others.
template <typename Fn>
void guarded(benchmark::State& state, Fn&& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
}

// What each benchmark measures, in the order of the markdown table printed at the end
// (which is the order of this file, not necessarily the order they run in).
std::vector<std::pair<std::string, std::string>>& descriptions() {
  static std::vector<std::pair<std::string, std::string>> d;
  return d;
}

void describe(const std::string& name, const std::string& what) {
  descriptions().emplace_back(name, what);
}

benchmark::internal::Benchmark* register_bm(const std::string& name,
                                            std::function<void(benchmark::State&)> fn) {
  return benchmark::RegisterBenchmark(name.c_str(),
                                      [fn = std::move(fn)](benchmark::State& s) { fn(s); })
      ->Unit(benchmark::kMicrosecond);
}

benchmark::internal::Benchmark* add(const std::string& name, const std::string& what,
                                    std::function<void(benchmark::State&)> fn) {
  describe(name, what);
  return register_bm(name, std::move(fn));
}

// === Baseline: spawning a program at all ==================================================

// posix_spawn(3) + waitpid of the rootfs's /bin/true (static busybox): the floor under any
// container, which ends in an execve(2) too.
void bm_spawn_true(benchmark::State& state, const std::string& program) {
  guarded(state, [&] {
    char arg0[] = "true";
    char* argv[] = {arg0, nullptr};
    for (auto _ : state) {
      pid_t pid = 0;
      if (const int rc = ::posix_spawn(&pid, program.c_str(), nullptr, nullptr, argv, environ))
        throw ctr::SyscallError(rc, "posix_spawn", program);
      int status = 0;
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
    }
  });
}

// === Namespaces: clone(2) one flag at a time ===============================================

// The child of a raw clone: exits at once, so the parent measures creating the namespaces,
// starting the process, exiting it and the synchronous part of tearing the namespaces down.
int exit_at_once(void*) {
  ::_exit(0);
}

// One stack for every raw clone: without CLONE_VM the child gets a copy-on-write copy of our
// memory, so reusing it is safe, and no allocation pollutes the numbers.
alignas(64) char g_clone_stack[64 * 1024];

// The kernel frees network namespaces on a workqueue (cleanup_net), after clone + wait have
// returned. Before a benchmark that makes many, wait until the previous one's are gone, so
// each repetition starts with no backlog: until the count of allocated net_namespace
// objects (/proc/slabinfo) stops falling, at most 3 s.
void settle_network_namespaces() {
  const auto count = []() -> long {
    std::istringstream in(read_file("/proc/slabinfo"));
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("net_namespace ", 0) == 0) {
        std::istringstream f(line);
        std::string name;
        long active = -1;
        f >> name >> active;
        return active;
      }
    }
    return -1;
  };
  long last = count();
  for (int i = 0; i < 60; ++i) {
    ::usleep(50'000);
    const long now = count();
    if (now == last && i >= 1) return;
    last = now;
  }
}

void bm_clone(benchmark::State& state, int flags) {
  guarded(state, [&] {
    if (flags & (CLONE_NEWNET | CLONE_NEWIPC)) settle_network_namespaces();
    for (auto _ : state) {
      const pid_t pid = ctr::check(
          ::clone(exit_at_once, g_clone_stack + sizeof g_clone_stack, flags | SIGCHLD, nullptr),
          "clone", ctr::clone_flags_to_string(flags | SIGCHLD));
      int status = 0;
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
    }
  });
}

// The same after 100 ms asleep (untimed), the control for the "cold" cgroup numbers: a CPU
// that was idle (on a VM: a vCPU the host descheduled) is slow to wake and its caches are cold.
void bm_clone_after_idle(benchmark::State& state) {
  guarded(state, [&] {
    for (auto _ : state) {
      ::usleep(100'000);
      const int64_t t0 = now_ns();
      const pid_t pid =
          ctr::check(::clone(exit_at_once, g_clone_stack + sizeof g_clone_stack, SIGCHLD, nullptr),
                     "clone", "SIGCHLD");
      int status = 0;
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      state.SetIterationTime(static_cast<double>(now_ns() - t0) * 1e-9);
    }
  });
}

// The library's clone: the same, plus what ChildProcess adds (its own 1 MiB stack, the
// std::function trampoline, PR_SET_PDEATHSIG, getppid).
void bm_child_process_clone(benchmark::State& state, int flags) {
  guarded(state, [&] {
    for (auto _ : state) {
      auto child = ctr::ChildProcess::clone(flags, [] { return 0; });
      child.wait();
    }
  });
}

// Nothing, timed in a fresh child: the floor under every "in a fresh child" number (the
// clock reads and the copy-on-write faults on the child's first writes to its stack).
void bm_empty_in_child(benchmark::State& state) {
  guarded(state, [&] {
    for (auto _ : state) {
      const int64_t ns = time_in_child(
          0, [] {}, [] { benchmark::ClobberMemory(); });
      state.SetIterationTime(static_cast<double>(ns) * 1e-9);
    }
  });
}

// === Mounts, inside a helper that is PID 1 of a new PID and mount namespace =================

enum class MountOp : char {
  kProc = 'p',     // mount procfs + umount
  kSysfs = 's',    // mount sysfs + umount
  kDev = 'd',      // a container's /dev: tmpfs, 6 device nodes, devpts, shm + umount all
  kMask = 'm',     // runc's masked and read-only paths over a mounted /proc and /sys
  kPrivate = 'r',  // mount --make-rprivate / (what every runtime does first)
};

// runc's default spec (`runc spec`, libcontainer/specconv/example.go): files and directories
// a container must not read (masked: /dev/null over files, an empty read-only tmpfs over
// directories) or must not write (re-bound read-only).
constexpr const char* kMaskedPaths[] = {
    "proc/acpi",       "proc/asound",      "proc/kcore",       "proc/keys",    "proc/latency_stats",
    "proc/timer_list", "proc/timer_stats", "proc/sched_debug", "sys/firmware", "proc/scsi"};
constexpr const char* kReadonlyPaths[] = {"proc/bus", "proc/fs", "proc/irq", "proc/sys",
                                          "proc/sysrq-trigger"};

class MountHelper {
 public:
  MountHelper() {
    scratch_ = dir_.sub("a");
    root_ = dir_.sub("root");
    int sv[2];
    ctr::check(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), "socketpair");
    sock_.reset(sv[0]);
    ctr::UniqueFd theirs(sv[1]);
    child_.emplace(ctr::ChildProcess::clone(CLONE_NEWNS | CLONE_NEWPID, [&]() -> int {
      sock_.reset();
      return serve(theirs.get());
    }));
  }
  ~MountHelper() {
    sock_.reset();  // EOF: the helper returns; its mount namespace and everything in it go
    if (child_) child_->wait();
  }

  // Asks the helper to do `op` once; returns the nanoseconds it took there.
  int64_t run(MountOp op) {
    const char c = static_cast<char>(op);
    int64_t ns = -1;
    if (!write_all(sock_.get(), &c, 1) || !read_all(sock_.get(), &ns, sizeof ns) || ns < 0) {
      throw std::runtime_error("the mount helper failed (its error is above)");
    }
    return ns;
  }

 private:
  int serve(int sock) {
    ctr::make_mounts_private();  // nothing below propagates to the host
    // For the masked paths: a /proc and a /sys under root_, mounted once.
    ctr::mount_tmpfs(root_, "mode=755");  // keeps those two dirs off the host's /tmp
    ctr::check(::mkdir((root_ + "/proc").c_str(), 0755), "mkdir", root_ + "/proc");
    ctr::check(::mkdir((root_ + "/sys").c_str(), 0755), "mkdir", root_ + "/sys");
    ctr::mount_proc(root_ + "/proc");
    ctr::mount_sysfs(root_ + "/sys", true);
    char c = 0;
    while (read_all(sock, &c, 1)) {
      int64_t ns = -1;
      try {
        const int64_t t0 = now_ns();
        do_op(static_cast<MountOp>(c));
        ns = now_ns() - t0;
      } catch (const std::exception& e) {
        std::fprintf(stderr, "mount helper: %s\n", e.what());
      }
      if (!write_all(sock, &ns, sizeof ns)) break;
    }
    return 0;
  }

  void do_op(MountOp op) {
    switch (op) {
      case MountOp::kProc:
        ctr::mount_proc(scratch_);
        ctr::umount2(scratch_, 0);
        break;
      case MountOp::kSysfs:
        ctr::mount_sysfs(scratch_, true);
        ctr::umount2(scratch_, 0);
        break;
      case MountOp::kDev:
        dev();
        break;
      case MountOp::kMask:
        mask();
        break;
      case MountOp::kPrivate:
        ctr::make_mounts_private();
        break;
    }
  }

  // What a runtime puts at /dev (runc's defaults: a tmpfs, the six device nodes of the OCI
  // spec's "Default Devices", devpts with its own instance, a tmpfs at /dev/shm), then the
  // teardown a dying mount namespace does.
  void dev() {
    const std::string& d = scratch_;
    ctr::mount_tmpfs(d, "mode=755,size=65536k", MS_NOSUID | MS_STRICTATIME);
    struct Node {
      const char* name;
      unsigned major, minor;
    };
    static constexpr Node kNodes[] = {{"null", 1, 3},   {"zero", 1, 5},    {"full", 1, 7},
                                      {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0}};
    for (const Node& n : kNodes) {
      const std::string p = d + "/" + n.name;
      ctr::check(::mknod(p.c_str(), S_IFCHR | 0666, makedev(n.major, n.minor)), "mknod", p);
    }
    ctr::check(::mkdir((d + "/pts").c_str(), 0755), "mkdir", d + "/pts");
    ctr::check(::mkdir((d + "/shm").c_str(), 01777), "mkdir", d + "/shm");
    ctr::mount("devpts", d + "/pts", "devpts", MS_NOSUID | MS_NOEXEC,
               "newinstance,ptmxmode=0666,mode=0620");
    ctr::mount_tmpfs(d + "/shm", "mode=1777,size=65536k", MS_NOSUID | MS_NODEV | MS_NOEXEC);
    ctr::umount2(d + "/shm", 0);
    ctr::umount2(d + "/pts", 0);
    ctr::umount2(d, 0);
  }

  // runc's masked and read-only paths (libcontainer/rootfs_linux.go maskPath, readonlyPath),
  // over the helper's own /proc and /sys; a path this kernel lacks is skipped, as runc does.
  void mask() {
    std::vector<std::string> done;
    for (const char* rel : kMaskedPaths) {
      const std::string p = root_ + "/" + rel;
      struct stat st {};
      if (::stat(p.c_str(), &st) != 0) continue;
      if (S_ISDIR(st.st_mode)) {
        ctr::mount("tmpfs", p, "tmpfs", MS_RDONLY);
      } else {
        ctr::mount("/dev/null", p, "", MS_BIND);
      }
      done.push_back(p);
    }
    for (const char* rel : kReadonlyPaths) {
      const std::string p = root_ + "/" + rel;
      if (::access(p.c_str(), F_OK) != 0) continue;
      ctr::bind_mount(p, p, /*read_only=*/true);
      done.push_back(p);
    }
    for (auto it = done.rbegin(); it != done.rend(); ++it) ctr::umount2(*it, MNT_DETACH);
  }

  TempDir dir_;
  std::string scratch_, root_;
  ctr::UniqueFd sock_;
  std::optional<ctr::ChildProcess> child_;
};

void bm_mount(benchmark::State& state, MountOp op) {
  guarded(state, [&] {
    MountHelper helper;
    for (auto _ : state) state.SetIterationTime(static_cast<double>(helper.run(op)) * 1e-9);
  });
}

// make-rprivate and pivot_root change the whole mount namespace: a fresh one per iteration.
// pivot_root: bind the new root onto itself (pivot_root(2) wants a mount point), chdir,
// pivot_root(".", "."), detach the old root. The old root holds a copy of every host mount,
// so the detach costs more the more mounts the host has (see the mounts counter).
void bm_pivot_root(benchmark::State& state) {
  guarded(state, [&] {
    TempDir dir;
    const std::string new_root = dir.sub("root");
    for (auto _ : state) {
      const int64_t ns = time_in_child(
          CLONE_NEWNS, [] { ctr::make_mounts_private(); },
          [&] {
            ctr::bind_mount(new_root, new_root);
            ctr::pivot_root(new_root);
          });
      state.SetIterationTime(static_cast<double>(ns) * 1e-9);
    }
  });
}

void bm_make_private(benchmark::State& state) {
  guarded(state, [&] {
    for (auto _ : state) {
      const int64_t ns = time_in_child(
          CLONE_NEWNS, [] {}, [] { ctr::make_mounts_private(); });
      state.SetIterationTime(static_cast<double>(ns) * 1e-9);
    }
  });
}

// === Cgroups ================================================================================

const ctr::Limits kLimits{.memory_bytes = 64 << 20, .cpus = 1.0, .pids = 100};

// The library as mycontainer uses it: Cgroup::create detects the layout (reads
// /proc/self/cgroup and /proc/self/mountinfo), makes the directories, writes the three
// limits; ~Cgroup checks for processes and removes the directories. v1 or v2, whichever
// this machine has (the v2 backend runs on v2 machines only, e.g. scripts/vm-test.sh).
void bm_cgroup_create_destroy(benchmark::State& state, bool cached_place) {
  guarded(state, [&] {
    const ctr::CgroupPlace place = ctr::CgroupPlace::here();
    for (auto _ : state) {
      auto cg = cached_place ? ctr::Cgroup::create_at(place, unique_name("mcbench"), kLimits)
                             : ctr::Cgroup::create(unique_name("mcbench"), kLimits);
    }
    state.SetLabel(place.layout.version == ctr::CgroupVersion::kV2 ? "v2" : "v1");
  });
}

// The kernel's part alone: mkdir + rmdir in each v1 tree with a controller we limit.
void bm_cgroup_v1_raw(benchmark::State& state) {
  guarded(state, [&] {
    const ctr::CgroupLayout layout = ctr::CgroupLayout::detect();
    if (layout.version != ctr::CgroupVersion::kV1) {
      state.SkipWithError("no cgroup v1 trees on this machine");
      return;
    }
    std::vector<std::string> parents;
    for (const char* c : {"memory", "cpu", "pids"}) {
      if (const auto* h = layout.find(c)) parents.push_back(h->own_dir);
    }
    for (auto _ : state) {
      const std::string name = unique_name("mcbench");
      for (const auto& p : parents) {
        const std::string d = fmt::format("{}/{}", p, name);
        ctr::check(::mkdir(d.c_str(), 0755), "mkdir", d);
      }
      for (const auto& p : parents) {
        const std::string d = fmt::format("{}/{}", p, name);
        ctr::check(::rmdir(d.c_str()), "rmdir", d);
      }
    }
    state.SetLabel(fmt::format("{} trees", parents.size()));
  });
}

// The cgroup2 tree and our place in it (0::/path in /proc/self/cgroup), if one is mounted:
// on a hybrid machine it is /sys/fs/cgroup/unified, and CgroupLayout leaves it out.
std::optional<std::string> own_cgroup2_dir() {
  std::string own;
  std::istringstream cg(read_file("/proc/self/cgroup"));
  for (std::string line; std::getline(cg, line);) {
    if (line.rfind("0::", 0) == 0) own = line.substr(3);
  }
  std::istringstream mi(read_file("/proc/self/mountinfo"));
  for (std::string line; std::getline(mi, line);) {
    const auto dash = line.find(" - cgroup2 ");
    if (dash == std::string::npos) continue;
    std::istringstream f(line);
    std::string id, parent, devno, root, mount_point;
    f >> id >> parent >> devno >> root >> mount_point;
    if (root != "/") continue;  // mounted from elsewhere in the tree: our path does not apply
    return own == "/" ? mount_point : mount_point + own;
  }
  return std::nullopt;
}

// v2's kernel part: mkdir + rmdir of one cgroup beneath ours in the cgroup2 tree. On a
// hybrid machine that tree has (almost) no controllers, so no limits are written: this is
// the floor of the v2 path, not the v2 backend of ctr::Cgroup.
void bm_cgroup_v2_raw(benchmark::State& state) {
  guarded(state, [&] {
    const auto base = own_cgroup2_dir();
    if (!base) {
      state.SkipWithError("no cgroup2 tree mounted");
      return;
    }
    for (auto _ : state) {
      const std::string d = *base + "/" + unique_name("mcbench");
      ctr::check(::mkdir(d.c_str(), 0755), "mkdir", d);
      ctr::check(::rmdir(d.c_str()), "rmdir", d);
    }
    state.SetLabel(*base);
  });
}

// Moving a process into a cgroup (writing its pid to cgroup.procs) takes the write side of
// the kernel's cgroup_threadgroup_rwsem, a per-CPU rwsem whose writers wait for an RCU grace
// period unless another writer came just before (rcu_sync, kernel/rcu/sync.c). So the first
// move after a quiet spell of some tens of milliseconds costs a grace period (milliseconds on
// this kernel), and back-to-back moves cost microseconds: "cold" sleeps 100 ms (untimed)
// before each move, "warm" does not. A container start is cold unless another container
// started just before it; hyperfine's back-to-back runs are warm.
void bm_cgroup_attach(benchmark::State& state, bool cold) {
  guarded(state, [&] {
    auto cg = ctr::Cgroup::create(unique_name("mcbench"), kLimits);
    for (auto _ : state) {
      int fds[2];
      ctr::check(::pipe2(fds, O_CLOEXEC), "pipe2");
      ctr::UniqueFd rd(fds[0]), wr(fds[1]);
      auto child = ctr::ChildProcess::clone(0, [&]() -> int {
        wr.reset();
        char c;
        while (::read(rd.get(), &c, 1) < 0 && errno == EINTR) {
        }
        return 0;
      });
      rd.reset();
      if (cold) ::usleep(100'000);
      const int64_t t0 = now_ns();
      cg.add(child.pid());
      const int64_t t1 = now_ns();
      wr.reset();  // the child exits, inside the cgroup
      child.wait();
      state.SetIterationTime(static_cast<double>(t1 - t0) * 1e-9);
    }
    state.SetLabel(fmt::format("{} trees", cg.dirs().size()));
  });
}

// The child moving itself, one thread (ctr::Cgroup::add_self: 0 into v1's `tasks` in each
// tree): the kernel does not take that rwsem for writing for a thread moving itself alone, so
// no grace period to wait for. Cold: the child sleeps 100 ms first; it times its own move.
void bm_cgroup_attach_self(benchmark::State& state) {
  guarded(state, [&] {
    auto cg = ctr::Cgroup::create(unique_name("mcbench"), kLimits);
    for (auto _ : state) {
      int fds[2];
      ctr::check(::pipe2(fds, O_CLOEXEC), "pipe2");
      ctr::UniqueFd rd(fds[0]), wr(fds[1]);
      auto child = ctr::ChildProcess::clone(0, [&]() -> int {
        rd.reset();
        ::usleep(100'000);
        const int64_t t0 = now_ns();
        cg.add_self();
        const int64_t took = now_ns() - t0;
        return ::write(wr.get(), &took, sizeof took) == sizeof took ? 0 : 1;
      });
      wr.reset();
      int64_t took = 0;
      while (::read(rd.get(), &took, sizeof took) < 0 && errno == EINTR) {
      }
      child.wait();
      state.SetIterationTime(static_cast<double>(took) * 1e-9);
    }
    state.SetLabel(fmt::format("{} trees, {}", cg.dirs().size(),
                               cg.version() == ctr::CgroupVersion::kV1 ? "tasks" : "cgroup.procs"));
  });
}

// cgroup v2's way around that: clone3(CLONE_INTO_CGROUP) starts the child in the cgroup
// (clone(2)); the kernel takes only the read side of the rwsem. Cold, as above: clone3 into a
// fresh cgroup2 directory + exit + wait, to compare with BM_Clone/fork.
void bm_clone3_into_cgroup(benchmark::State& state) {
  guarded(state, [&] {
    const auto base = own_cgroup2_dir();
    if (!base) {
      state.SkipWithError("no cgroup2 tree mounted");
      return;
    }
    const std::string dir = *base + "/" + unique_name("mcbench");
    ctr::check(::mkdir(dir.c_str(), 0755), "mkdir", dir);
    try {
      ctr::UniqueFd fd(
          ctr::check(::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC), "open", dir));
      for (auto _ : state) {
        ::usleep(100'000);
        const int64_t t0 = now_ns();
        clone_args args{};
        args.flags = CLONE_INTO_CGROUP;
        args.exit_signal = SIGCHLD;
        args.cgroup = static_cast<uint64_t>(fd.get());
        const long pid = ::syscall(SYS_clone3, &args, sizeof args);
        if (pid == 0) ::_exit(0);  // the child: fork semantics (no CLONE_VM), leave at once
        ctr::check(pid, "clone3", "CLONE_INTO_CGROUP");
        int status = 0;
        while (::waitpid(static_cast<pid_t>(pid), &status, 0) < 0 && errno == EINTR) {
        }
        state.SetIterationTime(static_cast<double>(now_ns() - t0) * 1e-9);
      }
    } catch (...) {
      ::rmdir(dir.c_str());
      throw;
    }
    ctr::check(::rmdir(dir.c_str()), "rmdir", dir);
  });
}

// === Network: a veth pair into a container's network namespace ============================

// Which part of a veth pair's life a benchmark times; the other parts still run, untimed.
enum class VethPhase { kAll, kCreate, kMove, kRemove, kCreateInNetns };

// One long-lived child owns a network namespace (so its creation and asynchronous teardown
// stay out of the numbers); each iteration creates a pair, moves the peer into that
// namespace and deletes the host end, which deletes the peer too (veth(4)).
// kCreateInNetns: VethPair::create_in_netns, one RTM_NEWLINK that creates the peer directly
// in the namespace, instead of create + move (what mycontainer does).
void bm_veth(benchmark::State& state, VethPhase phase) {
  guarded(state, [&] {
    int fds[2];
    ctr::check(::pipe2(fds, O_CLOEXEC), "pipe2");
    ctr::UniqueFd rd(fds[0]), wr(fds[1]);
    auto netns = ctr::ChildProcess::clone(CLONE_NEWNET, [&]() -> int {
      wr.reset();
      char c;
      while (::read(rd.get(), &c, 1) < 0 && errno == EINTR) {
      }
      return 0;  // EOF: the benchmark is over
    });
    rd.reset();
    // Link names have at most 15 characters (IFNAMSIZ): "mb" + pid + h/p + counter, in hex.
    const unsigned pid = static_cast<unsigned>(::getpid());
    unsigned n = 0;
    for (auto _ : state) {
      const std::string host = fmt::format("mb{:x}h{:x}", pid, n & 0xffffff);
      const std::string peer = fmt::format("mb{:x}p{:x}", pid, n & 0xffffff);
      ++n;
      int64_t t[4];
      if (phase == VethPhase::kCreateInNetns) {
        t[0] = now_ns();
        auto pair = ctr::VethPair::create_in_netns(host, peer, netns.pid());
        t[1] = now_ns();
        pair.remove();  // untimed; a container start leaves this to the kernel instead
        state.SetIterationTime(static_cast<double>(t[1] - t[0]) * 1e-9);
        continue;
      }
      t[0] = now_ns();
      auto pair = ctr::VethPair::create(host, peer);
      t[1] = now_ns();
      pair.move_peer_to_netns(netns.pid());
      t[2] = now_ns();
      pair.remove();
      t[3] = now_ns();
      const int64_t ns = phase == VethPhase::kAll      ? t[3] - t[0]
                         : phase == VethPhase::kCreate ? t[1] - t[0]
                         : phase == VethPhase::kMove   ? t[2] - t[1]
                                                       : t[3] - t[2];
      state.SetIterationTime(static_cast<double>(ns) * 1e-9);
    }
    if (ctr::link_exists(fmt::format("mb{:x}h{:x}", pid, (n - 1) & 0xffffff))) {
      state.SkipWithError("a veth pair was left behind");
    }
    wr.reset();
    netns.wait();
  });
}

// === Privileges: capabilities and seccomp ===================================================

void bm_capabilities(benchmark::State& state) {
  guarded(state, [&] {
    for (auto _ : state) {
      const int64_t ns = time_in_child(
          0, [] {}, [] { ctr::apply_capabilities(ctr::default_capabilities()); });
      state.SetIterationTime(static_cast<double>(ns) * 1e-9);
    }
  });
}

// Compiling the default profile (an allow list) alone, in this process: libseccomp's rule
// database and its BPF program, nothing loaded.
void bm_seccomp_build(benchmark::State& state) {
  guarded(state, [&] {
    size_t insns = 0;
    const auto profile = ctr::default_seccomp_profile(ctr::default_capabilities());
    for (auto _ : state) insns = ctr::compile_seccomp(profile).size();
    state.counters["bpf_insns"] = static_cast<double>(insns);
  });
}

// Compile + seccomp(2) in a fresh child with no_new_privs set beforehand (untimed), as a
// runtime without a cache does just before execve.
void bm_seccomp_build_load(benchmark::State& state) {
  guarded(state, [&] {
    for (auto _ : state) {
      const int64_t ns = time_in_child(
          0, [] { ctr::check(::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl"); },
          [] {
            ctr::load_bpf(
                ctr::compile_seccomp(ctr::default_seccomp_profile(ctr::default_capabilities())));
          });
      state.SetIterationTime(static_cast<double>(ns) * 1e-9);
    }
  });
}

// The same filter compiled once, then only seccomp(2) per container: what the runtime pays
// with its cache (ctr::cached_seccomp).
void bm_seccomp_precompiled(benchmark::State& state) {
  guarded(state, [&] {
    const ctr::BpfProgram prog =
        ctr::compile_seccomp(ctr::default_seccomp_profile(ctr::default_capabilities()));
    for (auto _ : state) {
      const int64_t ns = time_in_child(
          0, [] { ctr::check(::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl"); },
          [&] { ctr::load_bpf(prog); });
      state.SetIterationTime(static_cast<double>(ns) * 1e-9);
    }
    state.counters["bpf_insns"] = static_cast<double>(prog.size());
  });
}

// === The markdown table =====================================================================

// Google Benchmark's console output, plus every result kept for a markdown table at the end.
class MarkdownCollector : public benchmark::ConsoleReporter {
 public:
  struct Row {
    std::string label, error;
    double us = 0;   // per op: the median of the repetitions (or the only run)
    double cv = -1;  // their coefficient of variation (stddev / mean), -1 if one run
  };
  void ReportRuns(const std::vector<Run>& reports) override {
    ConsoleReporter::ReportRuns(reports);
    for (const Run& r : reports) {
      Row& row = rows_[strip_suffix(r.run_name.str())];
      if (r.error_occurred) row.error = r.error_message;
      if (!r.report_label.empty()) row.label = r.report_label;
      // GetAdjustedRealTime() is per iteration, in the benchmark's unit (microseconds here).
      if ((r.run_type == Run::RT_Iteration && r.repetitions <= 1) ||
          (r.run_type == Run::RT_Aggregate && r.aggregate_name == "median")) {
        row.us = r.GetAdjustedRealTime();
      } else if (r.run_type == Run::RT_Aggregate && r.aggregate_name == "cv") {
        row.cv = r.real_accumulated_time;  // a fraction, kept as is (no time unit applies)
      }
    }
  }

  void print_markdown(std::FILE* out) const {
    const auto fork = rows_.find("BM_Clone/fork");
    const double fork_us = fork == rows_.end() ? 0 : fork->second.us;
    std::fprintf(out, "\n| Benchmark | What it measures | Time per op | ± | Over plain fork |\n");
    std::fprintf(out, "|---|---|---:|---:|---:|\n");
    for (const auto& [name, description] : descriptions()) {
      const auto it = rows_.find(name);
      if (it == rows_.end()) continue;  // filtered out
      const Row& r = it->second;
      std::string what = description;
      if (!r.label.empty()) what += " (" + r.label + ")";
      if (!r.error.empty()) {
        std::fprintf(out, "| %s | %s | skipped: %s | | |\n", name.c_str(), what.c_str(),
                     r.error.c_str());
        continue;
      }
      // The namespace flags' own cost: BM_Clone/<flag> minus the plain fork.
      const bool is_clone = name.rfind("BM_Clone/", 0) == 0 && name != "BM_Clone/fork" &&
                            name != "BM_Clone/fork_after_idle";
      const std::string extra =
          is_clone && fork_us > 0 ? fmt::format("{:+.0f} µs", r.us - fork_us) : "";
      const std::string spread = r.cv >= 0 ? fmt::format("{:.0f}%", r.cv * 100) : "";
      std::fprintf(out, "| %s | %s | %s | %s | %s |\n", name.c_str(), what.c_str(),
                   format_us(r.us).c_str(), spread.c_str(), extra.c_str());
    }
    std::fprintf(out,
                 "\nTime per op: the median of the repetitions; ±: their coefficient of "
                 "variation (standard deviation / mean).\n");
  }

 private:
  // "BM_MountProc/iterations:2000/manual_time" -> "BM_MountProc".
  static std::string strip_suffix(std::string name) {
    for (const char* suffix :
         {"/manual_time", "/real_time", "/min_time:", "/iterations:", "/repeats:"}) {
      if (const auto pos = name.find(suffix); pos != std::string::npos) name.erase(pos);
    }
    return name;
  }
  static std::string format_us(double us) {
    if (us >= 1000) return fmt::format("{:.2f} ms", us / 1000);
    if (us >= 10) return fmt::format("{:.0f} µs", us);
    return fmt::format("{:.1f} µs", us);
  }
  std::map<std::string, Row> rows_;  // by name without GB's suffixes
};

int count_lines(const std::string& path) {
  const std::string s = read_file(path);
  return static_cast<int>(std::count(s.begin(), s.end(), '\n'));
}

int run_benchmarks(int argc, char** argv) {
  // Three repetitions of everything unless the command line says otherwise: this machine's
  // neighbours (builds, VMs) move single runs by a factor of two; the median of three holds.
  std::vector<char*> args(argv, argv + argc);
  std::string repetitions = "--benchmark_repetitions=3";
  std::string aggregates = "--benchmark_display_aggregates_only=true";
  const auto given = [&](std::string_view flag) {
    return std::any_of(args.begin(), args.end(),
                       [&](const char* a) { return std::string_view(a).rfind(flag, 0) == 0; });
  };
  if (!given("--benchmark_repetitions")) args.insert(args.begin() + 1, repetitions.data());
  if (!given("--benchmark_display_aggregates_only") && !given("--benchmark_report_aggregates"))
    args.insert(args.begin() + 1, aggregates.data());
  argc = static_cast<int>(args.size());
  args.push_back(nullptr);
  argv = args.data();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  if (::geteuid() != 0) {
    std::printf(
        "bench_isolation: needs root (namespaces, mounts, cgroups and links need "
        "CAP_SYS_ADMIN and CAP_NET_ADMIN); run: sudo %s. Nothing was measured.\n",
        argv[0]);
    return 0;
  }

  std::string rootfs_true = std::string(MC_DEFAULT_ROOTFS) + "/bin/true";
  if (const char* r = std::getenv("MC_ROOTFS")) rootfs_true = std::string(r) + "/bin/true";
  if (::access(rootfs_true.c_str(), X_OK) != 0) rootfs_true = "/bin/true";

  // Time budget, about a minute on 2 cores: MinTime for the cheap in-process loops, fixed
  // iteration counts where each iteration also pays an untimed clone.
  static constexpr double kMin = 0.2;
  add("BM_SpawnTrue", "posix_spawn + wait of " + rootfs_true + " (any container ends in an exec)",
      [=](benchmark::State& s) { bm_spawn_true(s, rootfs_true); })
      ->UseRealTime()
      ->MinTime(kMin);

  struct Flag {
    const char* name;
    int flags;
    const char* what;
  };
  // CLONE_NEWNET and CLONE_NEWIPC free their namespace asynchronously (net: cleanup_net()
  // on a workqueue; ipc: free_ipc_work since Linux 5.17), so clone + wait misses most of
  // their teardown, which then competes for the CPUs with whatever runs next: they run last.
  constexpr int kContainerFlags =
      CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWCGROUP;
  const std::vector<Flag> clone_flags = {
      {"fork", 0, "clone + exit + wait, no new namespace (a plain fork)"},
      {"CLONE_NEWPID", CLONE_NEWPID, "... in a new PID namespace"},
      {"CLONE_NEWNS", CLONE_NEWNS, "... in a new mount namespace (copies the host's mounts)"},
      {"CLONE_NEWUTS", CLONE_NEWUTS, "... in a new UTS namespace"},
      {"CLONE_NEWCGROUP", CLONE_NEWCGROUP, "... in a new cgroup namespace"},
      {"CLONE_NEWUSER", CLONE_NEWUSER, "... in a new user namespace (no id maps written)"},
      {"CLONE_NEWIPC", CLONE_NEWIPC, "... in a new IPC namespace (teardown is asynchronous)"},
      {"CLONE_NEWNET", CLONE_NEWNET,
       "... in a new network namespace (teardown is asynchronous: not in this number)"},
      {"container", kContainerFlags, "... PID+mount+UTS+IPC+net+cgroup at once (a container)"},
      {"all", kContainerFlags | CLONE_NEWUSER, "... the same plus a user namespace"},
  };
  // Described here, in reading order; registered in two groups: the synchronous ones now,
  // the asynchronous ones at the very end.
  const auto register_clone = [](const Flag& f) {
    const int flags = f.flags;
    auto* b = register_bm(std::string("BM_Clone/") + f.name, [flags](benchmark::State& s) {
                bm_clone(s, flags);
              })->UseRealTime();
    // A fixed count for network namespaces, so the kernel's backlog of namespaces to free
    // stays small and the same from run to run.
    if (flags & CLONE_NEWNET) {
      b->Iterations(150);
    } else {
      b->MinTime(kMin);
    }
  };
  const auto async_teardown = [](const Flag& f) {
    return (f.flags & (CLONE_NEWNET | CLONE_NEWIPC)) != 0;
  };
  for (const Flag& f : clone_flags) {
    describe(std::string("BM_Clone/") + f.name, f.what);
    if (!async_teardown(f)) register_clone(f);
  }
  add("BM_ChildProcessClone/fork", "ctr::ChildProcess::clone(0) + wait (library overhead)",
      [](benchmark::State& s) { bm_child_process_clone(s, 0); })
      ->UseRealTime()
      ->MinTime(kMin);
  add("BM_ChildProcessClone/vfork",
      "ctr::ChildProcess::clone(CLONE_VM and CLONE_VFORK) + wait: the child borrows our memory",
      [](benchmark::State& s) { bm_child_process_clone(s, CLONE_VM | CLONE_VFORK); })
      ->UseRealTime()
      ->MinTime(kMin);

  add("BM_EmptyInChild", "nothing, timed in a fresh child (floor of the in-child numbers)",
      bm_empty_in_child)
      ->UseManualTime()
      ->Iterations(200);

  add("BM_MakeMountsPrivate", "mount --make-rprivate / in a fresh mount namespace", bm_make_private)
      ->UseManualTime()
      ->Iterations(200);
  add("BM_MountProc", "mount + umount procfs (in a new PID + mount namespace)",
      [](benchmark::State& s) { bm_mount(s, MountOp::kProc); })
      ->UseManualTime()
      ->Iterations(500);
  add("BM_MountSysfs", "mount + umount sysfs, read-only",
      [](benchmark::State& s) { bm_mount(s, MountOp::kSysfs); })
      ->UseManualTime()
      ->Iterations(500);
  add("BM_MountDev", "/dev: tmpfs + 6 mknod + devpts + shm tmpfs, then umount all",
      [](benchmark::State& s) { bm_mount(s, MountOp::kDev); })
      ->UseManualTime()
      ->Iterations(300);
  add("BM_MaskPaths", "runc's 10 masked + 5 read-only paths over /proc and /sys, then umount",
      [](benchmark::State& s) { bm_mount(s, MountOp::kMask); })
      ->UseManualTime()
      ->Iterations(300);
  add("BM_PivotRoot", "bind new root + pivot_root + detach old root (clone not included)",
      bm_pivot_root)
      ->UseManualTime()
      ->Iterations(200);

  add("BM_CgroupCreateDestroy", "ctr::Cgroup::create (memory+cpu+pids limits) + ~Cgroup",
      [](benchmark::State& s) { bm_cgroup_create_destroy(s, false); })
      ->UseRealTime()
      ->MinTime(kMin);
  add("BM_CgroupCreateDestroy/cached_layout",
      "the same with the layout detected once (Cgroup::create_at)",
      [](benchmark::State& s) { bm_cgroup_create_destroy(s, true); })
      ->UseRealTime()
      ->MinTime(kMin);
  add("BM_CgroupV1MkdirRmdir", "raw mkdir + rmdir in the memory, cpu and pids v1 trees",
      bm_cgroup_v1_raw)
      ->UseRealTime()
      ->MinTime(kMin);
  add("BM_CgroupV2MkdirRmdir", "raw mkdir + rmdir beneath our cgroup in the cgroup2 tree",
      bm_cgroup_v2_raw)
      ->UseRealTime()
      ->MinTime(kMin);

  add("BM_CgroupAttach/warm", "ctr::Cgroup::add(pid): cgroup.procs in each tree, back to back",
      [](benchmark::State& s) { bm_cgroup_attach(s, false); })
      ->UseManualTime()
      ->Iterations(100);
  add("BM_CgroupAttach/cold", "the same after 100 ms without any cgroup move (a real start)",
      [](benchmark::State& s) { bm_cgroup_attach(s, true); })
      ->UseManualTime()
      ->Iterations(5);
  add("BM_CgroupAttachSelf/cold",
      "the child moves itself, one thread (0 into tasks), after 100 ms without any move",
      bm_cgroup_attach_self)
      ->UseManualTime()
      ->Iterations(5);
  add("BM_Clone/fork_after_idle", "a plain fork + exit + wait after 100 ms asleep (control)",
      bm_clone_after_idle)
      ->UseManualTime()
      ->Iterations(5);
  add("BM_Clone3IntoCgroup/cold",
      "clone3(CLONE_INTO_CGROUP) of a cgroup2 dir + exit + wait, after 100 ms quiet",
      bm_clone3_into_cgroup)
      ->UseManualTime()
      ->Iterations(5);

  // Each veth operation waits for an RCU grace period or two in the kernel (synchronize_net
  // in register/unregister/dev_change_net_namespace): milliseconds, not microseconds.
  const std::pair<const char*, VethPhase> veth_phases[] = {
      {"", VethPhase::kAll},
      {"/create", VethPhase::kCreate},
      {"/move", VethPhase::kMove},
      {"/remove", VethPhase::kRemove},
      {"/create_in_netns", VethPhase::kCreateInNetns}};
  const char* const veth_what[] = {
      "ctr::VethPair::create + move_peer_to_netns + remove (netns not included)",
      "... VethPair::create alone", "... move_peer_to_netns alone", "... remove alone",
      "VethPair::create_in_netns: the peer born in the netns (replaces create + move)"};
  for (size_t i = 0; i < std::size(veth_phases); ++i) {
    const VethPhase phase = veth_phases[i].second;
    add(std::string("BM_VethCreateMoveDestroy") + veth_phases[i].first, veth_what[i],
        [phase](benchmark::State& s) { bm_veth(s, phase); })
        ->UseManualTime()
        ->Iterations(10);
  }

  add("BM_DropCapabilities", "apply_capabilities(docker's 14) in a fresh child", bm_capabilities)
      ->UseManualTime()
      ->Iterations(300);
  add("BM_SeccompBuild", "compile_seccomp(default_seccomp_profile()), not loaded", bm_seccomp_build)
      ->UseRealTime()
      ->MinTime(kMin);
  add("BM_SeccompBuildLoad", "compile_seccomp(default profile) + load_bpf()", bm_seccomp_build_load)
      ->UseManualTime()
      ->Iterations(150);
  add("BM_SeccompLoadPrecompiled", "seccomp(2) of the same filter, compiled once beforehand",
      bm_seccomp_precompiled)
      ->UseManualTime()
      ->Iterations(300);

  // The clones whose namespaces are freed asynchronously run last (Google Benchmark runs in
  // registration order): their leftover work must not land in another benchmark's numbers.
  for (const Flag& f : clone_flags) {
    if (async_teardown(f)) register_clone(f);
  }

  MarkdownCollector reporter;
  struct utsname u {};
  ::uname(&u);
  // The context the numbers depend on: kernel, mount count, and how busy the machine was.
  const std::string load = read_file("/proc/loadavg");
  std::fprintf(stderr,
               "kernel %s, %d lines in /proc/self/mountinfo (CLONE_NEWNS copies them), load "
               "average %.14s\n",
               u.release, count_lines("/proc/self/mountinfo"), load.c_str());
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.print_markdown(stdout);
  std::printf("Load average (1, 5, 15 min) before: %.14s; after: %.14s. Kernel %s.\n", load.c_str(),
              read_file("/proc/loadavg").c_str(), u.release);
  benchmark::Shutdown();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run_benchmarks(argc, argv);
  } catch (const std::exception& e) {  // a setup that failed: say what, not std::terminate
    std::fprintf(stderr, "bench_isolation: %s\n", e.what());
    return 1;
  }
}
