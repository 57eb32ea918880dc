#include "runtime/state.hpp"

#include "runtime/freezer.hpp"  // ctr::frozen: the paused status

#include <fcntl.h>        // open(2)
#include <stdio.h>        // renameat2(2)
#include <sys/random.h>   // getrandom(2)
#include <sys/file.h>     // flock(2)
#include <sys/stat.h>     // mkdir(2)
#include <sys/syscall.h>  // SYS_pidfd_open, SYS_pidfd_send_signal
#include <unistd.h>       // fsync(2), geteuid(2)

#include <charconv>  // std::from_chars
#include <chrono>
#include <cstdlib>
#include <optional>
#include <sstream>
#include <string_view>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "ctr/error.hpp"
#include "ctr/fd.hpp"
#include "ctr/dirlock.hpp"  // pid_alive
#include "ctr/narrate.hpp"

namespace ctr {

namespace fs = std::filesystem;

namespace {
std::optional<fs::path>& root_override() {
  static std::optional<fs::path> root;
  return root;
}
}  // namespace

void set_state_root(const fs::path& root) {
  root_override() = fs::absolute(root);
}

fs::path container_dir(const std::string& id, const fs::path& root) {
  return root / "containers" / id;
}

fs::path state_root() {
  if (root_override()) return *root_override();
  if (::geteuid() == 0) return "/run/mycontainer";
  if (const char* xdg = std::getenv("XDG_RUNTIME_DIR"); xdg != nullptr && *xdg != '\0') {
    return fs::path(xdg) / "mycontainer";
  }
  return fs::path(fmt::format("/tmp/mycontainer-{}", ::geteuid()));
}

void validate_container_name(const std::string& name) {
  const auto ok = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
  };
  if (name.empty() || name.size() > 64 || !std::isalnum(static_cast<unsigned char>(name[0])) ||
      !std::all_of(name.begin(), name.end(), ok)) {
    throw UsageError(
        fmt::format("invalid container name '{}': use 1 to 64 of [a-zA-Z0-9_.-], starting with a "
                    "letter or digit",
                    name));
  }
}

void validate_container_id(const std::string& id) {
  // runc (libcontainer/container_linux.go): ^[\w+-\.]+$, and never "." or "..": the id is a
  // directory's name under --root, so it must not be able to name another directory.
  const auto ok = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '+' || c == '-' ||
           c == '.';
  };
  if (id.empty() || id.size() > 200 || id == "." || id == ".." ||
      !std::all_of(id.begin(), id.end(), ok)) {
    throw UsageError(
        fmt::format("invalid container id '{}': use 1 to 200 of [A-Za-z0-9_+.-], not '.' or '..'",
                    printable(id)));
  }
}

std::string random_container_name() {
  // getrandom(2) rather than std::random_device, which first asks the CPU whether it has
  // RDRAND (cpuid: a trip to the hypervisor in a virtual machine, tens of microseconds).
  uint32_t r = 0;
  if (::getrandom(&r, sizeof r, 0) != static_cast<ssize_t>(sizeof r)) {
    throw SyscallError(errno, "getrandom");
  }
  return fmt::format("mc-{:08x}", r);
}

std::string cgroup_name(const std::string& container) {
  return "mycontainer-" + container;
}

namespace {

// Fields 3 (state) and 22 (start time) of /proc/PID/stat (proc(5)).
struct ProcStat {
  char state = 0;
  unsigned long long start_time = 0;
};

// One open, one read(2) into a buffer on the stack, one close: `ps` asks this of every
// monitor, and a std::string with a stream parser cost more than the system calls. The line
// is a few hundred bytes (the name in field 2 is at most 16). nullopt if the process is gone.
std::optional<ProcStat> read_proc_stat(pid_t pid) {
  if (pid <= 0) return std::nullopt;
  char path[32];
  const auto end = fmt::format_to_n(path, sizeof path - 1, "/proc/{}/stat", pid).out;
  *end = '\0';
  const UniqueFd fd(::open(path, O_RDONLY | O_CLOEXEC));
  if (!fd) return std::nullopt;
  char buf[1024];
  const ssize_t n = ::read(fd.get(), buf, sizeof buf);
  if (n <= 0) return std::nullopt;
  const std::string_view line(buf, static_cast<size_t>(n));
  // The command name (field 2) may hold spaces and ')': start after the last ')'.
  const auto paren = line.rfind(')');
  if (paren == std::string_view::npos || paren + 2 >= line.size()) return std::nullopt;
  ProcStat st;
  st.state = line[paren + 2];
  size_t at = paren + 2;  // field 3
  for (int field = 3; field < 22; ++field) {
    at = line.find(' ', at);
    if (at == std::string_view::npos) return st;
    ++at;
  }
  std::from_chars(line.data() + at, line.data() + line.size(), st.start_time);
  return st;
}

// --- Spare directories (#16, the warm start) ---
// A state directory is made and removed once per container. On ext4 mkdir(2) gives a
// directory a block of its own, and rmdir(2) frees it; on a file system mounted with
// `discard` and without a journal (this project's virtual machines keep /run on such an
// ext4) freeing a block sends the disk a discard and waits for it, inside rmdir: 0.7 ms a
// container (median), over 10 ms one time in ten while the disk is busy (tests/bench/RESULTS.md,
// "Warm start, session 10"). So a foreground run's directory, emptied, is not removed but
// renamed to ROOT/spare/N, and the next container takes it from there with one rename(2):
// neither the inode nor its block is ever freed. A few of them at most (kSpareSlots); an
// extra one is removed as before. Spares are empty directories of the runtime's own, outside
// containers/, where nothing that lists containers looks; `cleanup` has nothing to do there.
constexpr int kSpareSlots = 4;

fs::path spare_slot(const fs::path& root, int slot) {
  return root / "spare" / std::to_string(slot);
}

// Renames a spare directory to `draft`: true if there was one.
bool take_spare(const fs::path& root, const fs::path& draft) {
  for (int slot = 0; slot < kSpareSlots; ++slot) {
    if (::renameat2(AT_FDCWD, spare_slot(root, slot).c_str(), AT_FDCWD, draft.c_str(),
                    RENAME_NOREPLACE) == 0) {
      return true;
    }
    if (errno != ENOENT) return false;  // a draft of ours already there (EEXIST): made anew
  }
  return false;
}

// Empties dir (a container's state directory, STATE_ROOT/containers/NAME) and renames it to a
// free spare slot. False when it cannot: what is left of it is then removed as before.
bool keep_as_spare(const fs::path& dir) noexcept {
  std::error_code ec;
  std::vector<fs::directory_entry> entries;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    entries.push_back(*it);
  if (ec) return false;
  for (const auto& entry : entries) {
    // A file or a link: one unlink(2) (remove(3)); a directory with something in it, all of
    // it (remove_all would first try to open each file as a directory).
    if (!fs::remove(entry.path(), ec) && ec == std::errc::directory_not_empty) {
      ec.clear();
      fs::remove_all(entry.path(), ec);
    }
    if (ec) return false;
  }
  const fs::path root = dir.parent_path().parent_path();
  for (int slot = 0; slot < kSpareSlots; ++slot) {
    const fs::path to = spare_slot(root, slot);
    int rc = ::renameat2(AT_FDCWD, dir.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE);
    if (rc != 0 && errno == ENOENT && ::mkdir(to.parent_path().c_str(), 0700) == 0) {
      rc = ::renameat2(AT_FDCWD, dir.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE);
    }
    if (rc == 0) return true;
    if (errno != EEXIST && errno != ENOTEMPTY) return false;  // this slot is taken: the next
  }
  return false;
}

// A new file holding text, mode 0600 (the state may name what only root should see).
void write_file_in(const fs::path& path, const std::string& text) {
  UniqueFd fd(check(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600), "open",
                    path.string()));
  const ssize_t n = check(::write(fd.get(), text.data(), text.size()), "write", path.string());
  if (static_cast<size_t>(n) != text.size()) throw SyscallError(ENOSPC, "write", path.string());
}

}  // namespace

unsigned long long process_start_time(pid_t pid) {
  const auto st = read_proc_stat(pid);
  return st ? st->start_time : 0;
}

bool process_alive(pid_t pid, unsigned long long start_time) {
  // The pid alone could be a new process that got a dead runtime's number: its start time
  // tells them apart.
  return pid_alive(pid) && (start_time == 0 || process_start_time(pid) == start_time);
}

bool process_running(pid_t pid, unsigned long long start_time) {
  const auto st = read_proc_stat(pid);
  // Field 3, the state: a zombie (Z) or a dying task (X) has ended (proc(5)).
  if (!st || st->state == 'Z' || st->state == 'X') return false;
  return start_time == 0 || st->start_time == start_time;
}

bool signal_process(pid_t pid, unsigned long long start_time, int sig) {
  if (pid <= 0) return false;
  const UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  if (!pidfd) {
    if (errno == ESRCH) return false;
    throw SyscallError(errno, "pidfd_open", std::to_string(pid));
  }
  // Held now: if the number is still the one that started at start_time, it stays that
  // process for as long as we hold the pidfd.
  if (!process_running(pid, start_time)) return false;
  if (::syscall(SYS_pidfd_send_signal, pidfd.get(), sig, nullptr, 0) != 0) {
    if (errno == ESRCH) return false;
    throw SyscallError(errno, "pidfd_send_signal", std::to_string(pid));
  }
  narrate({.call = fmt::format("pidfd_send_signal(pidfd of {}, {})", pid, sig),
           .result = "ok",
           .shell = fmt::format("kill -{} {}", sig, pid),
           .man = "pidfd_send_signal(2)"});
  return true;
}

std::string to_string(OciStatus status) {
  switch (status) {
    case OciStatus::kCreating:
      return "creating";
    case OciStatus::kCreated:
      return "created";
    case OciStatus::kPaused:
      return "paused";
    case OciStatus::kRunning:
      return "running";
    case OciStatus::kStopped:
      return "stopped";
  }
  return "unknown";
}

OciStatus container_status(const ContainerState& s, const fs::path& dir) {
  if (s.pid == 0) {
    // create has not recorded the process yet: still at work, or killed (then nothing of it
    // can ever run: `delete` removes what it made).
    return s.runtime_pid != 0 && !is_stale(s) ? OciStatus::kCreating : OciStatus::kStopped;
  }
  if (!process_running(s.pid, s.pid_start_time)) return OciStatus::kStopped;
  std::error_code ec;
  if (fs::exists(dir / kExecFifo, ec)) return OciStatus::kCreated;
  // Frozen by `pause`: still running to the kernel, stopped where it stands to everyone.
  return frozen(s.cgroup_dirs) ? OciStatus::kPaused : OciStatus::kRunning;
}

ContainerLock::ContainerLock(const fs::path& dir, Mode mode) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) {
      throw UsageError(
          fmt::format("container {} does not exist", printable(dir.filename().string())));
    }
    throw SyscallError(errno, "open", dir.string());
  }
  *this = on_fd(fd, mode);
}

ContainerLock ContainerLock::on_fd(int dir_fd, Mode mode) {
  ContainerLock lock;
  lock.fd_ = UniqueFd(dir_fd);
  // flock(2) belongs to the open file description: the lock lives as long as this descriptor
  // and dies with its holder, even by SIGKILL.
  int rc;
  while ((rc = ::flock(dir_fd, mode == Mode::kShared ? LOCK_SH : LOCK_EX)) != 0 && errno == EINTR) {
  }
  check(rc, "flock", "container state directory");
  return lock;
}

bool is_stale(const ContainerState& state) {
  return !process_alive(state.runtime_pid, state.runtime_start_time);
}

std::string to_json(const ContainerState& s) {
  const nlohmann::json j = {
      {"name", s.name},
      {"pid", s.pid},
      {"runtime_pid", s.runtime_pid},
      {"runtime_start_time", s.runtime_start_time},
      {"command", s.command},
      {"started", s.started},
      {"rootfs", s.rootfs},
      {"cgroup", s.cgroup},
      {"cgroup_parent", s.cgroup_parent},
      {"cgroup_dirs", s.cgroup_dirs},
      {"veth", s.veth},
      {"ip", s.ip},
      {"lease", s.lease},
      {"bridge", s.bridge},
      {"ports", s.ports},
      {"rootless", s.rootless},
      {"oci", s.oci},
      {"bundle", s.bundle},
      {"annotations", s.annotations},
      {"pid_start_time", s.pid_start_time},
  };
  return j.dump(2) + "\n";
}

ContainerState from_json(const std::string& text) {
  const auto j = nlohmann::json::parse(text);
  ContainerState s;
  s.name = j.at("name").get<std::string>();
  s.pid = j.value("pid", 0);
  s.runtime_pid = j.value("runtime_pid", 0);
  s.runtime_start_time = j.value("runtime_start_time", 0ULL);
  s.command = j.value("command", std::vector<std::string>{});
  s.started = j.value("started", "");
  s.rootfs = j.value("rootfs", "");
  s.cgroup = j.value("cgroup", "");
  s.cgroup_parent = j.value("cgroup_parent", "");
  s.cgroup_dirs = j.value("cgroup_dirs", std::vector<std::string>{});
  s.veth = j.value("veth", "");
  s.ip = j.value("ip", "");
  s.lease = j.value("lease", "");
  s.bridge = j.value("bridge", "");
  s.ports = j.value("ports", std::vector<std::string>{});
  s.rootless = j.value("rootless", false);
  s.oci = j.value("oci", false);
  s.bundle = j.value("bundle", "");
  s.annotations = j.value("annotations", std::map<std::string, std::string>{});
  s.pid_start_time = j.value("pid_start_time", 0ULL);
  return s;
}

std::optional<ContainerState> read_state(const fs::path& state_dir) {
  const std::optional<std::string> text = read_file(state_dir / "state.json");
  if (!text) return std::nullopt;
  try {
    return from_json(*text);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

StateDir StateDir::create(const ContainerState& first, const fs::path& root, bool locked) {
  const std::string& name = first.name;
  if (first.oci) {
    validate_container_id(name);
  } else {
    validate_container_name(name);
  }
  const fs::path parent = root / "containers";
  fs::create_directories(parent);
  // Rootless, the root may be a shared place (/tmp/mycontainer-UID): it must be ours alone,
  // or another user could plant state that `cleanup` would act on.
  struct stat st {};
  check(::lstat(root.c_str(), &st), "lstat", root.string());
  if (!S_ISDIR(st.st_mode) || st.st_uid != ::geteuid() || (st.st_mode & 022) != 0) {
    throw UsageError(fmt::format(
        "state directory '{}' is not a directory owned by you and writable only by you: "
        "remove it, or set XDG_RUNTIME_DIR",
        root.string()));
  }
  const fs::path dir = parent / name;
  // The directory is built under a draft name with its state inside, then renamed into
  // place: NAME never exists without a state.json naming its runtime, so `cleanup` can tell
  // at once a name whose runtime died (no state: nobody owns it) from one being started.
  // (Made in place with mkdir(2), a runtime killed before its first write left a directory
  // that no one could tell from a starting one.) RENAME_NOREPLACE (renameat2(2)) makes the
  // rename fail with EEXIST when the name is taken: the same "one container per name" as
  // mkdir's EEXIST, without a lock.
  const pid_t owner = first.runtime_pid != 0 ? first.runtime_pid : ::getpid();
  const fs::path draft = parent / fmt::format("{}{}.{}", kDraftPrefix, owner, name);
  // A spare directory if there is one (see keep_as_spare), else a new one.
  if (!take_spare(root, draft) && ::mkdir(draft.c_str(), 0700) != 0) {
    if (errno != EEXIST) throw SyscallError(errno, "mkdir", dir.string());
    fs::remove_all(draft);  // our own pid's: a killed runtime that had it before us
    check(::mkdir(draft.c_str(), 0700), "mkdir", dir.string());
  }
  StateDir state(draft);
  state.locked_ = locked;
  if (locked) {
    state.lock_ = ContainerLock::on_fd(
        check(::open(draft.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC), "open", draft.string()),
        ContainerLock::Mode::kExclusive);
  }
  // Written in place, not swapped in: nobody reads a draft's state.json while it is being
  // written but remove_abandoned_drafts, which takes an unreadable one for "look at the pid
  // in the name"; the rename below then publishes the whole directory at once. No fsync(2),
  // here or in write(): the state lives under /run, which a reboot empties anyway, and a
  // crash loses nothing that `cleanup` would need afterwards.
  write_file_in(draft / "state.json", to_json(first));
  if (::renameat2(AT_FDCWD, draft.c_str(), AT_FDCWD, dir.c_str(), RENAME_NOREPLACE) != 0) {
    if (errno != EEXIST && errno != ENOTEMPTY) throw SyscallError(errno, "rename", dir.string());
    // Taken: by a live container, or left by a runtime that was SIGKILLed. (state's
    // destructor removes the draft.)
    auto old = read_state(dir);
    if (first.oci) {
      throw UsageError(
          fmt::format("container {} exists already: choose another id, or "
                      "`mycontainer delete {}` it first",
                      name, name));
    }
    if (old && !is_stale(*old)) {
      throw UsageError(
          fmt::format("container name '{}' is already in use by pid {}: choose another --name",
                      name, old->pid != 0 ? old->pid : old->runtime_pid));  // 0: still starting
    }
    throw UsageError(
        fmt::format("container name '{}' is left over from a runtime that was killed: run "
                    "`mycontainer cleanup`",
                    name));
  }
  state.dir_ = dir;
  narrate({.call = fmt::format("mkdir(\"{}\"), write state.json, renameat2(..., \"{}\", "
                               "RENAME_NOREPLACE)",
                               draft.string(), dir.string()),
           .result = "ok",
           .shell = fmt::format("mkdir {}", dir.string()),
           .man = "renameat2(2)"});
  return state;
}

void remove_abandoned_drafts(const fs::path& root) {
  std::error_code ec;
  for (fs::directory_iterator it(root / "containers", ec), end; !ec && it != end;
       it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.rfind(kDraftPrefix, 0) != 0) continue;
    // The owner: from the state inside, else (killed before writing it) from the name.
    bool alive = false;
    if (auto s = read_state(it->path())) {
      alive = !is_stale(*s);
    } else {
      pid_t pid = 0;
      std::from_chars(name.data() + kDraftPrefix.size(), name.data() + name.size(), pid);
      alive = process_alive(pid, 0);
    }
    std::error_code ignored;
    if (!alive) fs::remove_all(it->path(), ignored);
  }
}

StateDir::StateDir(StateDir&& other) noexcept
    : dir_(std::exchange(other.dir_, {})),
      lock_(std::move(other.lock_)),
      locked_(std::exchange(other.locked_, false)) {}

StateDir& StateDir::operator=(StateDir&& other) noexcept {
  if (this != &other) {
    remove();
    dir_ = std::exchange(other.dir_, {});
    lock_ = std::move(other.lock_);
    locked_ = std::exchange(other.locked_, false);
  }
  return *this;
}

StateDir::~StateDir() {
  remove();
}

void StateDir::remove() noexcept {
  if (dir_.empty()) return;
  // Not a locked one (OCI create's, given up when create fails): its flock(2) would go with
  // the directory to the next container (the lock belongs to the open directory, which we
  // still hold here).
  if (locked_ || !keep_as_spare(dir_)) {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  dir_.clear();
}

void StateDir::write(const ContainerState& state) const {
  const fs::path tmp = dir_ / "state.json.tmp";
  const fs::path final_path = dir_ / "state.json";
  write_file_in(tmp, to_json(state));
  // Swap the new file in rather than rename it over the old one. Both are atomic for a
  // reader (`ps` sees the old state or the new, never half of one), but on ext4 a rename that
  // replaces a file starts writing the new one to disk at once (ext4(5), auto_da_alloc: made
  // for editors that save this way), about 80 us of disk I/O per update here; state under
  // /run means nothing after a reboot anyway. RENAME_EXCHANGE (renameat2(2)) swaps the two
  // names instead, and the old state, now under the temporary name, is unlinked. The first
  // write has nothing to swap with (ENOENT), and some file systems cannot swap (EINVAL).
  if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, final_path.c_str(), RENAME_EXCHANGE) == 0) {
    check(::unlink(tmp.c_str()), "unlink", tmp.string());
    return;
  }
  if (errno != ENOENT && errno != EINVAL)
    throw SyscallError(errno, "renameat2", final_path.string());
  check(::rename(tmp.c_str(), final_path.c_str()), "rename", final_path.string());
}

std::vector<ContainerState> list_containers(const fs::path& root) {
  std::vector<ContainerState> out;
  std::error_code ec;
  for (fs::directory_iterator it(root / "containers", ec), end; !ec && it != end;
       it.increment(ec)) {
    if (it->path().filename().string().rfind(kDraftPrefix, 0) == 0) continue;  // not yet one
    if (auto s = read_state(it->path())) {
      out.push_back(*s);
    } else {
      ContainerState unknown;
      unknown.name = it->path().filename().string();
      out.push_back(unknown);
    }
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return out;
}

// UTC, from the C++20 calendar: gmtime(3) would first read /etc/localtime (glibc sets up
// the time zone on its first call, even for UTC).
std::string now_iso8601() {
  using namespace std::chrono;
  const auto now = floor<seconds>(system_clock::now());
  const auto day = floor<days>(now);
  const year_month_day ymd(day);
  const hh_mm_ss hms(now - day);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", static_cast<int>(ymd.year()),
                     static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                     hms.hours().count(), hms.minutes().count(), hms.seconds().count());
}

}  // namespace ctr
