// docker's container lifecycle (lifecycle.hpp): `run -d` and the commands on what it made.
//
// One way to make a container: `run -d` writes a bundle (config.json, from the same flags as
// `run`) into the container's record directory and starts the monitor, which calls the OCI
// `create` on it and keeps the container (monitor/monitor.cpp); `run -d` then calls `start`.
// The container's running state is the OCI one (runtime/state.hpp, under the state root, its
// id the record's); the record (runtime/record.hpp) is what outlives it.
#include "lifecycle.hpp"

#include <fcntl.h>        // open(2)
#include <poll.h>         // poll(2)
#include <signal.h>       // kill(2)
#include <sys/inotify.h>  // inotify(7): logs -f wakes when the log is written
#include <sys/stat.h>     // mkdir(2)
#include <sys/syscall.h>  // SYS_pidfd_open
#include <sys/wait.h>     // waitpid(2)
#include <unistd.h>       // fork(2), execv(2)

#include <algorithm>
#include <array>
#include <charconv>  // std::to_chars
#include <chrono>
#include <cstdio>  // std::fflush
#include <filesystem>
#include <fstream>
#include <span>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "commands.hpp"              // remove_container
#include "ctr/error.hpp"             // ctr::UsageError
#include "ctr/narrate.hpp"           // ctr::narrate (--explain)
#include "ctr/process.hpp"           // ctr::pidfd_open
#include "oci.hpp"                   // oci_start, parse_signal
#include "ctr/ipv4.hpp"              // ctr::format_ipv4
#include "image/store.hpp"           // image::Store, image::ImageUser: rm after rmi -f
#include "runtime/overlay.hpp"       // ctr::require_overlay_for_user_namespace
#include "runtime/userns.hpp"        // ctr::running_rootless
#include "runtime/hardening.hpp"     // ctr::close_fds_from
#include "runtime/monitor_lock.hpp"  // the monitor's lock: is it alive (cheaply)
#include "runtime/ports.hpp"         // ctr::parse_port_mapping: ps's PORTS
#include "runtime/record.hpp"
#include "runtime/record_index.hpp"  // ps reads one index, not N record.json
#include "runtime/spec.hpp"          // spec_to_json, kAnnotationMonitor
#include "runtime/text_table.hpp"    // ps's table: widths, one output buffer
#include "runtime/state.hpp"

namespace mycontainer {

namespace fs = std::filesystem;

namespace {

// --- What a container is now: its record, and whether its monitor and process live ---

enum class Live { kCreated, kRunning, kUnmanaged, kExited };

struct Known {
  std::string id;
  fs::path dir;
  Record record;
  Live live = Live::kExited;
};

// Running, not a zombie: a killed monitor whose parent has not reaped it yet is gone too.
// Its lock held is the quick yes (runtime/monitor_lock.hpp); else /proc/PID/stat decides.
bool monitor_alive(const Record& r) {
  if (r.monitor_pid <= 0) return false;
  if (monitor_lock_held(r.monitor_lock)) return true;
  return ctr::process_running(r.monitor_pid, r.monitor_start_time);
}

// The container's first process, from its OCI state, if it still runs.
std::optional<ctr::ContainerState> running_state(const std::string& id) {
  auto state = ctr::read_state(ctr::container_dir(id));
  if (state && state->pid > 0 && ctr::process_running(state->pid, state->pid_start_time)) {
    return state;
  }
  return std::nullopt;
}

Live live_status(const Record& r, bool monitor_is_alive) {
  if (r.status == "exited") return Live::kExited;
  if (monitor_is_alive) return r.status == "running" ? Live::kRunning : Live::kCreated;
  // The monitor is gone (SIGKILLed, or a reboot emptied /run): the container may still run,
  // unmanaged, until `cleanup`, `stop` or `rm -f` ends it.
  return running_state(r.id) ? Live::kUnmanaged : Live::kExited;
}

Live live_status(const Record& r) {
  return live_status(r, r.status != "exited" && monitor_alive(r));
}

Known known(const std::string& id) {
  Known k{.id = id, .dir = record_dir(id), .record = {}, .live = Live::kExited};
  auto r = read_record(k.dir);
  if (!r) throw LifecycleError(fmt::format("No such container: {}", id));
  k.record = std::move(*r);
  k.live = live_status(k.record);
  return k;
}

Known find(const std::string& word) {
  return known(*resolve_container(word, false));
}

bool is_running(Live l) {
  return l == Live::kRunning || l == Live::kUnmanaged;
}

// n in decimal, appended to out: std::to_chars, with no format string to parse (ps makes
// four numbers a row: fmt parsing its format strings was a fifth of ps's own instructions at
// 500 rows, callgrind).
void append_number(std::string& out, int64_t n) {
  char digits[24];
  out.append(digits, std::to_chars(digits, digits + sizeof digits, n).ptr);
}

// --- docker's way of saying how long ago (go-units HumanDuration), appended to out ---
void append_duration(std::string& out, int64_t ns) {
  const auto put = [&](int64_t n, const char* unit) {
    append_number(out, n);
    out += ' ';
    out += unit;
  };
  const int64_t s = ns / 1000000000;
  const int64_t m = s / 60;
  const int64_t h = m / 60;
  if (s < 1) {
    out += "Less than a second";
  } else if (s == 1) {
    out += "1 second";
  } else if (s < 60) {
    put(s, "seconds");
  } else if (m == 1) {
    out += "About a minute";
  } else if (m < 60) {
    put(m, "minutes");
  } else if (h == 1) {
    out += "About an hour";
  } else if (h < 48) {
    put(h, "hours");
  } else if (h < int64_t{24} * 14) {
    put(h / 24, "days");
  } else if (h < int64_t{24} * 7 * 8) {
    put(h / 24 / 7, "weeks");
  } else if (h < int64_t{24} * 365 * 2) {
    put(h / 24 / 30, "months");
  } else {
    put(h / 24 / 365, "years");
  }
}

// ps's STATUS: "Up 5 minutes", "Exited (137) 2 seconds ago", appended to out.
void append_status(std::string& out, Live live, const RecordView& r, int64_t now) {
  switch (live) {
    case Live::kCreated:
      out += "Created";
      return;
    case Live::kRunning:
    case Live::kUnmanaged:
      out += "Up ";
      append_duration(out, now - r.started_ns);
      if (live == Live::kUnmanaged) out += " (monitor gone)";
      return;
    case Live::kExited:
      break;
  }
  if (r.status != "exited") {
    out += "Exited (255) ";
    append_duration(out, now - r.started_ns);
  } else {
    out += "Exited (";
    append_number(out, r.exit_code);
    out += ") ";
    append_duration(out, now - r.finished_ns);
  }
  out += " ago";
}

const char* state_word(Live l) {
  switch (l) {
    case Live::kCreated:
      return "created";
    case Live::kRunning:
    case Live::kUnmanaged:
      return "running";
    case Live::kExited:
      break;
  }
  return "exited";
}

// --- Starting: the monitor, create, start ---

// The monitor program, installed beside mycontainer.
std::string monitor_program() {
  return (fs::read_symlink("/proc/self/exe").parent_path() / "mycontainer-monitor").string();
}

// Starts the monitor for the container in dir and waits for its word: "0 PID" once create
// made the container (it waits for `start`), else create's exit code. The monitor is a new
// session with /dev/null for stdio: nothing of our caller's (its terminal, the pipe a test
// reads our output from) stays open in it.
std::pair<int, pid_t> spawn_monitor(const std::string& id, const fs::path& dir, uint64_t lock,
                                    pid_t& monitor) {
  const std::string program = monitor_program();
  const std::string self = fs::read_symlink("/proc/self/exe").string();
  const std::string root = ctr::state_root().string();
  create_monitor_lock_file(lock);
  const std::string lock_file = monitor_lock_file(lock).string();
  const std::string lock_byte = std::to_string(lock);
  // --explain: create narrates with --debug into its --log, which we show once it is done.
  const bool explain = ctr::narrating();
  if (explain) ::setenv("MC_MONITOR_DEBUG", "1", 1);
  ctr::narrate(
      {.call = fmt::format("fork(); setsid(); prctl(PR_SET_CHILD_SUBREAPER); execv('{}')", program),
       .result = "the monitor: the container's parent, its log's writer",
       .shell = fmt::format("{} --sync-fd 3 --lock {} {} {} {} {} {}", program, lock_file,
                            lock_byte, self, root, dir.string(), id),
       .man = "setsid(2), prctl(2), execve(2)"});
  int sync[2];
  ctr::check(::pipe2(sync, O_CLOEXEC), "pipe2");
  const pid_t pid = ::fork();
  if (pid < 0) throw ctr::SyscallError(errno, "fork");
  if (pid == 0) {
    // The child only sets up descriptors and execs (DESIGN: it never returns into our frames).
    const int null = ::open("/dev/null", O_RDWR);
    ::dup2(null, 0);
    ::dup2(null, 1);
    ::dup2(null, 2);
    ::dup2(sync[1], 3);  // dup2 clears close-on-exec on the copy
    const char* args[] = {program.c_str(),   "--sync-fd",       "3",          "--lock",
                          lock_file.c_str(), lock_byte.c_str(), self.c_str(), root.c_str(),
                          dir.c_str(),       id.c_str(),        nullptr};
    ::execv(program.c_str(), const_cast<char* const*>(args));
    ::_exit(127);
  }
  ::close(sync[1]);
  monitor = pid;
  std::string word;
  char buf[64];
  ssize_t n;
  while ((n = ::read(sync[0], buf, sizeof buf)) != 0) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    word.append(buf, static_cast<size_t>(n));
  }
  ::close(sync[0]);
  if (explain) {
    ::unsetenv("MC_MONITOR_DEBUG");
    std::ifstream log(dir / "runtime.log");
    for (std::string line; std::getline(log, line);) {
      fmt::print(stderr, "[mycontainer create, in the monitor] {}\n", line);
    }
  }
  int code = ctr::kExitRuntimeFailed;
  pid_t container = 0;
  std::istringstream(word) >> code >> container;
  if (word.empty()) code = ctr::kExitRuntimeFailed;  // the monitor died or could not exec
  return {code, container};
}

// What create said went wrong: the message of the last line of its --log, which is runc's
// text format (oci_log.cpp): time="..." level=error msg="port 8080/tcp is ...", the message a
// JSON string. The message alone, so that run -d's error reads as run's does.
std::string create_error(const fs::path& dir) {
  std::ifstream in(dir / "runtime.log");
  std::string line, last;
  while (std::getline(in, line)) {
    if (!line.empty()) last = line;
  }
  if (last.empty()) return "create failed (see " + (dir / "container.log").string() + ")";
  if (const auto msg = last.find(" msg=\""); msg != std::string::npos) {
    try {
      return nlohmann::json::parse(last.substr(msg + 5)).get<std::string>();
    } catch (const nlohmann::json::exception&) {
      // not ours: the line as it is
    }
  }
  return last;
}

// The record directory and everything in it: its kept upper layer too (runtime/record.cpp).
void remove_record(const Known& k) {
  mycontainer::remove_record(k.id, k.record.name);
}

// A detached container's image and layers, as its bundle (RECORD/config.json) names them.
std::optional<image::ImageUser> user_of_record(const std::string& id) {
  const fs::path dir = record_dir(id);
  const auto record = read_record(dir);
  if (!record) return std::nullopt;
  try {
    const Spec spec = read_spec(dir / "config.json");
    const auto image = spec.annotations.find(kAnnotationImage);
    if (image == spec.annotations.end()) return std::nullopt;  // a --rootfs container
    const Live live = live_status(*record);
    return image::ImageUser{.container = id,
                            .image_id = image->second,
                            .running = is_running(live) || live == Live::kCreated,
                            .layers = spec.root_layers};
  } catch (const std::exception&) {
    return std::nullopt;  // no readable bundle: nothing to keep for it
  }
}

// `rm` of the last container of an image that `rmi -f` deleted: the layers it kept in the
// store (Store::remove_unused) go with it, as docker's layer store frees a removed
// container's image layers.
void release_image_layers(const std::optional<image::ImageUser>& gone) {
  if (!gone || gone->layers.empty()) return;
  // STORE/layers/HEX: the store the container's image came from (`--store` or the default).
  image::Store store(fs::path(gone->layers.front()).parent_path().parent_path());
  if (store.find(gone->image_id)) return;  // the image is still there: the layers are its
  store.collect_garbage(image_users());
}

// Monitor, create, start: the container runs (or the code and message why not).
int launch(Known& k) {
  pid_t monitor = 0;
  // A new byte for this run of the monitor: a lock left by an earlier run is never mistaken.
  const uint64_t lock = new_monitor_lock();
  const auto [code, pid] = spawn_monitor(k.id, k.dir, lock, monitor);
  if (code != 0 || pid <= 0) {
    int status = 0;
    ::waitpid(monitor, &status, 0);
    const std::string message = create_error(k.dir);
    fmt::print(stderr, "mycontainer: {}\n", message);
    return code != 0 ? code : ctr::kExitRuntimeFailed;
  }
  k.record.status = "running";
  k.record.pid = pid;
  k.record.monitor_pid = monitor;
  k.record.monitor_start_time = ctr::process_start_time(monitor);
  k.record.monitor_lock = lock;
  k.record.started_ns = now_ns();
  k.record.finished_ns = 0;
  write_record(k.dir, k.record);
  // start: the container's command runs; a command that cannot run is reported here (126,
  // 127) and the monitor records its end.
  return oci_start(k.id);
}

// --- Stopping ---

// Waits until pid (not our child) has ended, at most `timeout`: poll(2) on a pidfd, which
// becomes readable when the process exits (pidfd_open(2)).
bool wait_gone(pid_t pid, unsigned long long start_time, std::chrono::milliseconds timeout) {
  if (!ctr::process_alive(pid, start_time)) return true;
  const int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) return !ctr::process_alive(pid, start_time);
  pollfd p{fd, POLLIN, 0};
  int n;
  while ((n = ::poll(&p, 1, static_cast<int>(timeout.count()))) < 0 && errno == EINTR) {
  }
  ::close(fd);
  return n > 0 || !ctr::process_alive(pid, start_time);
}

// The end of a container whose monitor is gone: what the monitor's exit would have done.
// Its exit code is unknown (only the monitor, its parent, could reap it): `code` when the
// caller knows what ended it, else 137 when it still ran and is killed now (SIGKILL), or 255
// when it was already gone (docker's code for "ended, we do not know how"). False when there
// was nothing to finish (ended already, or a new monitor has it).
bool finish_without_monitor(Known& k, std::optional<int> code) {
  const RecordLock lock(k.dir);
  auto record = read_record(k.dir);
  // Looked at again under the lock: a `start` (which holds it while it launches) may have
  // given the container a new monitor since the caller found the old one gone.
  if (!record || record->status == "exited" || monitor_alive(*record)) return false;
  k.record = *record;
  const bool ran = running_state(k.id).has_value();
  if (auto state = ctr::read_state(ctr::container_dir(k.id))) {
    // Its address lease, NAT user and port claims name the dead monitor (a zombie not yet
    // reaped still looks alive to kill(2)): given back now.
    remove_container(*state, ctr::container_dir(k.id), /*owner_gone=*/true);
  }
  k.record.status = "exited";
  k.record.exit_code = code ? *code : ran ? ctr::kExitSignalBase + SIGKILL : 255;
  k.record.finished_ns = now_ns();
  write_record(k.dir, k.record);
  return true;
}

// SIGTERM (the image's stop signal, once images land), `timeout` seconds, SIGKILL; then until
// the monitor has recorded the end. Two stops at once both get here and both wait: the
// signals are harmless twice, and each returns once the container has stopped.
// deadline: when SIGKILL comes; `stop a b c` signals all first and shares one deadline, as
// docker stops them in parallel (one after another, N containers that ignore SIGTERM would
// take N times the timeout).
void stop_one(Known& k, std::chrono::steady_clock::time_point deadline) {
  if (!is_running(k.live) && k.live != Live::kCreated) return;
  auto state = running_state(k.id);
  int sig = SIGTERM;
  if (state) {
    ::kill(state->pid, SIGTERM);
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (!wait_gone(state->pid, state->pid_start_time,
                   std::max(left, std::chrono::milliseconds(0)))) {
      sig = SIGKILL;
      ::kill(state->pid, SIGKILL);
      wait_gone(state->pid, state->pid_start_time, std::chrono::seconds(10));
    }
  }
  if (monitor_alive(k.record)) {
    wait_gone(k.record.monitor_pid, k.record.monitor_start_time, std::chrono::seconds(30));
  } else {
    finish_without_monitor(k,
                           state ? std::optional<int>(ctr::kExitSignalBase + sig) : std::nullopt);
  }
  // --rm: the monitor's exit took the record too; stopped all the same (docker's `stop` of
  // such a container says its name and exits 0).
  if (auto record = read_record(k.dir)) {
    k.record = *record;
    k.live = live_status(*record);
  } else {
    k.live = Live::kExited;
  }
}

void stop_one(Known& k, int timeout) {
  stop_one(k, std::chrono::steady_clock::now() + std::chrono::seconds(timeout));
}

// Runs f on each word; errors are reported one line each, and the exit code is 1 if any.
template <typename F>
int each(const std::vector<std::string>& words, F f) {
  int rc = 0;
  for (const auto& word : words) {
    try {
      f(word);
    } catch (const LifecycleError& e) {
      fmt::print(stderr, "mycontainer: Error: {}\n", e.what());
      rc = 1;
    }
  }
  return rc;
}

// ps's PORTS: docker's "0.0.0.0:8080->80/tcp", from the record's "8080:80/tcp" (a list of the
// index, RecordView::ports), appended to out.
void append_ports(std::string& out, std::string_view ports, size_t count) {
  const size_t start = out.size();
  for_each_word(ports, count, [&](std::string_view canonical) {
    std::string unescaped_word;  // (a port never has an escape: kept for the rule's sake)
    if (canonical.find('\\') != std::string_view::npos) {
      unescape(canonical, unescaped_word);
      canonical = unescaped_word;
    }
    const ctr::PortMapping p = ctr::parse_port_mapping(canonical);
    if (out.size() != start) out += ", ";
    out += p.host_ip ? ctr::format_ipv4(*p.host_ip) : "0.0.0.0";
    out += ':';
    append_number(out, p.host_port);
    out += "->";
    append_number(out, p.container_port);
    out += canonical.substr(canonical.find('/'));
  });
}

// A cell of at most n bytes: its first n - 1, and "…" (3 bytes: the cell is n + 2 long).
void shorten(std::string& text, size_t n) {
  if (text.size() <= n) return;
  text.resize(n - 1);
  text += "…";
}

}  // namespace

// === run -d ===
int run_detached(const CLI::App& run, RunOptions& o) {
  ctr::close_fds_from(3);
  finish_run_options(run, o);
  if (o.common.explain) ctr::set_narrator(ctr::stderr_narrator("mycontainer"));
  if (o.tty || o.interactive) {
    throw ctr::UsageError(
        "-d with -t or -i: a detached container has no terminal or input here (its stdin is "
        "/dev/null, its output goes to its log, and there is no `attach`); drop -t/-i, and use "
        "`mycontainer exec -it NAME sh` for a shell in it");
  }
  // From an image (run -d IMAGE), its config under the flags and its layers as the root, as
  // `run IMAGE` does (run.cpp); else the flags and --rootfs.
  Spec spec = o.image.empty() ? spec_from_flags(o) : spec_from_image(o, image_for_run(o.image));
  // --userns as root: the create would refuse it on an older kernel; say so before the record.
  if (!spec.root_layers.empty() && spec.linux.has_namespace(NamespaceType::kUser) &&
      !ctr::running_rootless()) {
    ctr::require_overlay_for_user_namespace();
  }
  spec.annotations[kAnnotationMonitor] = "true";
  Known k;
  k.id = new_container_id();
  k.dir = record_dir(k.id);
  k.record = Record{.id = k.id,
                    .name = o.name,
                    .image = o.image.empty() ? o.common.rootfs : o.image,
                    .command = spec.process.args,
                    .created_ns = now_ns(),
                    .auto_remove = o.auto_remove,
                    .stop_timeout = o.stop_timeout,
                    .ports = {}};
  for (const auto& p : spec.network.ports) k.record.ports.push_back(ctr::to_string(p));
  // Its upper layer lives with its record, not with one run's state: `start` finds what it
  // wrote, `rm` removes it (docker's rule). Not with --rm: that one is never started again,
  // and its upper goes with its state, as `run IMAGE`'s does.
  if (!spec.root_layers.empty() && !o.auto_remove) spec.root_upper = (k.dir / "overlay").string();
  fs::create_directories(k.dir.parent_path());
  ctr::check(::mkdir(k.dir.c_str(), 0700), "mkdir", k.dir.string());
  try {
    claim_name(o.name, k.id);
  } catch (...) {
    std::error_code ec;
    fs::remove_all(k.dir, ec);
    throw;
  }
  {
    std::ofstream out(k.dir / "config.json");
    out << spec_to_json(spec).dump(2) << "\n";
  }
  write_record(k.dir, k.record);
  ctr::narrate({.call = fmt::format("symlink('{}', '{}'); write config.json, record.json", k.id,
                                    (records_root() / "names" / o.name).string()),
                .result = "the name is taken (EEXIST would say it was), the bundle written",
                .shell = fmt::format("ls {}", k.dir.string()),
                .man = "symlink(2), rename(2)"});
  const int rc = launch(k);
  if (rc != 0) {
    // create failed: nothing runs, nothing is kept (docker keeps a "Created" one; we say so
    // in lifecycle.md). start failed (126/127): the monitor records the end.
    if (k.record.status != "running") remove_record(k);
    return rc;
  }
  fmt::print("{}\n", k.id);
  return 0;
}

// === ps ===
namespace {

// One line of ps: docker's columns, then State (for --format only). The cells are views: of
// the index's text where it has them as they are, else of the text kept in a TextArena.
struct Row {
  int64_t created_ns = 0;
  std::array<std::string_view, 8> cells;  // ID IMAGE COMMAND CREATED STATUS PORTS NAMES, State
};
constexpr size_t kTableColumns = 7;  // all but State
constexpr std::array<std::string_view, kTableColumns> kTableHeader{
    "CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"};
// --format's fields, in the cells' order.
constexpr std::array<std::string_view, 8> kFormatFields{
    "{{.ID}}",     "{{.Image}}", "{{.Command}}", "{{.CreatedAt}}",
    "{{.Status}}", "{{.Ports}}", "{{.Names}}",   "{{.State}}"};

// A record whose monitor is gone and whose container has ended, nothing of it left under the
// state root (monitor and container killed, or a reboot emptied /run): what ps found is
// written now, as `cleanup` would write it (Exited (255): nobody knows its code; a --rm one is
// removed), so that the next ps reads "exited" in the index and asks the kernel nothing. Else
// every ps would find the same again the long way (record.json, /proc/PID/stat, state.json:
// about 50 µs a record, 25 ms for 500). Under the record's lock, and only if it is still so
// then: a `start` may have run it again meanwhile. A container with state left (its cgroup,
// its veth: only `cleanup`, `rm` or `start` remove those) is left as it is. The record as it is
// now (nullopt when removed); `written` says whether its record.json changed, for the index.
// An error (a record removed meanwhile, another user's records) leaves it as it was: ps lists.
std::optional<Record> write_lost_end(const std::string& id, Record r, bool& written) {
  written = false;
  try {
    const fs::path dir = record_dir(id);
    const RecordLock lock(dir);
    auto now = read_record(dir);
    if (!now || now->status == "exited" || now->monitor_pid == 0 || monitor_alive(*now) ||
        fs::exists(ctr::container_dir(id))) {
      return now;
    }
    if (now->auto_remove) {
      mycontainer::remove_record(id, now->name);
      return std::nullopt;
    }
    now->status = "exited";
    now->exit_code = 255;
    now->finished_ns = now_ns();
    write_record_file(dir, *now);
    written = true;
    return now;
  } catch (const std::exception&) {
    return r;
  }
}

// What ps knows of the record `id`, and whether it lives. Its index line, when it says the
// container ended, or while the monitor holds its lock (one fcntl(2)): then the monitor has not
// begun its end, which execs `monitor-exit` (dropping the lock) before it writes anything.
// Otherwise what its record.json says: a record the index does not have (an older version's),
// or a monitor whose lock is gone (killed, an older monitor, or in monitor-exit, which may have
// written record.json and not yet the index: `wait` has returned by then, and ps must agree
// with it). A monitor found gone with its container is written down (write_lost_end; its id
// added to `written`, whose index lines the caller writes at once). That record is made an
// index line, kept in arena, so that both are read alike. nullopt when the record is gone or
// unreadable.
std::optional<std::pair<RecordView, Live>> ps_known(std::string_view id,
                                                    const std::optional<RecordView>& line,
                                                    MonitorLocks& locks, TextArena& arena,
                                                    std::vector<std::string>& written) {
  if (line && line->status == "exited") return std::pair{*line, Live::kExited};
  if (line && locks.held(line->monitor_lock)) {
    return std::pair{*line, line->status == "running" ? Live::kRunning : Live::kCreated};
  }
  const std::string full_id(id);
  auto r = read_record(record_dir(full_id));
  if (!r) return std::nullopt;
  Live live = live_status(*r);
  if (live == Live::kExited && r->status != "exited" && r->monitor_pid != 0) {
    bool changed = false;
    r = write_lost_end(full_id, std::move(*r), changed);
    if (!r) return std::nullopt;  // --rm: removed, as its monitor would have
    if (changed) written.push_back(full_id);
    live = live_status(*r);
  }
  const std::string text = index_line(*r);
  const auto view = split_index_line(arena.keep(std::string_view(text).substr(0, text.size() - 1)));
  if (!view) return std::nullopt;  // (never: every line index_line() writes splits)
  return std::pair{*view, live};
}

// Makes ps's rows: the cells made here (the command in quotes, the times, the ports) are built
// in one reused string and kept in the arena, the others are views of the index.
class RowMaker {
 public:
  RowMaker(const PsOptions& o, int64_t now) : o_(o), now_(now) {}

  TextArena& arena() { return arena_; }

  // A record's row; id is the caller's, and lives as long as the row.
  Row record_row(std::string_view id, const RecordView& r, Live live) {
    Row row{.created_ns = r.created_ns, .cells = {}};
    auto& c = row.cells;
    c[0] = o_.no_trunc ? id : id.substr(0, 12);
    if (o_.quiet) return row;  // -q prints the ids alone: the other cells are not made
    c[1] = text(r.image);
    scratch_.assign(1, '"');
    size_t words = 0;
    for_each_word(r.command, r.word_count, [&](std::string_view word) {
      if (words++ > 0) scratch_ += ' ';
      unescape(word, scratch_);
    });
    c[2] = quoted_command();
    start();
    append_duration(scratch_, now_ - r.created_ns);
    scratch_ += " ago";
    c[3] = keep();
    start();
    append_status(scratch_, live, r, now_);
    c[4] = keep();
    start();
    if (is_running(live)) append_ports(scratch_, r.ports, r.port_count);
    c[5] = keep();
    c[6] = text(r.name);
    c[7] = state_word(live);
    return row;
  }

  // A foreground container's (`run` without -d) or an engine's OCI container's: a state
  // directory (dir, named `name`) and no record, so no id ("-"). Its times and status are
  // written as a record's are ("5 seconds ago", "Up 5 seconds"); an image's container shows
  // the image as it was named, not the mount point its root is on.
  Row state_row(std::string_view name, const ctr::ContainerState& c, const fs::path& dir) {
    const std::string status = c.oci                ? ctr::to_string(ctr::container_status(c, dir))
                               : c.runtime_pid == 0 ? "unknown"
                               : ctr::is_stale(c)   ? "stale"
                               : c.pid == 0         ? "starting"
                                                    : "running";
    const std::string_view kept_status = arena_.keep(status);
    const int64_t started = ns_of_iso8601(c.started);
    Row row{.created_ns = started, .cells = {}};
    auto& cells = row.cells;
    cells[0] = "-";
    const auto image = c.annotations.find(kAnnotationImageName);
    cells[1] = arena_.keep(image != c.annotations.end() ? image->second : c.rootfs);
    scratch_.assign(1, '"');
    fmt::format_to(std::back_inserter(scratch_), "{}", fmt::join(c.command, " "));
    cells[2] = quoted_command();
    start();
    if (started != 0) {
      append_duration(scratch_, now_ - started);
      scratch_ += " ago";
    } else {
      scratch_ = c.started;
    }
    cells[3] = keep();
    if (status == "running" && started != 0) {
      start();
      scratch_ += "Up ";
      append_duration(scratch_, now_ - started);
      cells[4] = keep();
    } else {
      cells[4] = kept_status;
    }
    cells[6] = arena_.keep(name);
    cells[7] = kept_status;
    return row;
  }

 private:
  // An index field as its text: the field itself when it has no escape (nearly always).
  std::string_view text(std::string_view field) {
    if (field.find('\\') == std::string_view::npos) return field;
    scratch_.clear();
    unescape(field, scratch_);
    return keep();
  }
  void start() { scratch_.clear(); }
  std::string_view keep() { return arena_.keep(scratch_); }
  // The command cell: scratch_ holds '"' and the words; quoted, shortened to docker's 22
  // unless --no-trunc.
  std::string_view quoted_command() {
    scratch_ += '"';
    if (!o_.no_trunc) shorten(scratch_, 22);
    return keep();
  }

  const PsOptions& o_;
  int64_t now_;
  TextArena arena_;
  std::string scratch_;
};

// --format's template, split once: text to copy, then the cell to put, in turn.
struct FormatPiece {
  std::string_view text;
  std::optional<size_t> cell;
};

std::vector<FormatPiece> parse_format(std::string_view format) {
  std::vector<FormatPiece> pieces;
  size_t text_start = 0;
  for (size_t i = 0; i < format.size(); ++i) {
    for (size_t f = 0; f < kFormatFields.size(); ++f) {
      if (format.substr(i, kFormatFields[f].size()) != kFormatFields[f]) continue;
      pieces.push_back({format.substr(text_start, i - text_start), f});
      i += kFormatFields[f].size() - 1;
      text_start = i + 1;
      break;
    }
  }
  pieces.push_back({format.substr(text_start), std::nullopt});
  return pieces;
}

// The rows, written the way the options ask: -q the ids, --format its template, else the table.
void print_rows(const std::vector<Row>& rows, const PsOptions& o) {
  std::fflush(stdout);  // (nothing was printed before: stdio's buffer and ours in order anyway)
  OutputBuffer out(STDOUT_FILENO);
  if (o.quiet) {
    for (const auto& row : rows) {
      out.put(row.cells[0]);
      out.put('\n');
    }
    return;
  }
  if (!o.format.empty()) {
    const auto pieces = parse_format(o.format);
    for (const auto& row : rows) {
      for (const auto& piece : pieces) {
        out.put(piece.text);
        if (piece.cell) out.put(row.cells[*piece.cell]);
      }
      out.put('\n');
    }
    return;
  }
  // Columns as wide as their widest cell (a first pass over the rows), three spaces apart.
  TableLayout table(kTableHeader);
  for (const auto& row : rows) table.widen(std::span(row.cells).first(kTableColumns));
  table.write(out, kTableHeader);
  for (const auto& row : rows) table.write(out, std::span(row.cells).first(kTableColumns));
}

}  // namespace

int docker_ps(const PsOptions& o) {
  MappedIndex index;                 // the rows' cells are views of it: it outlives them
  index.keep_until_exit();           // ps is its process's last act: no munmap(2) at the end
  MonitorLocks locks;                // monitors.lock.*, each opened once for all
  std::vector<std::string> written;  // records whose end ps wrote down (write_lost_end)
  RowMaker make(o, now_ns());
  std::vector<Row> rows;
  // The directory says which records exist; the index (one file: record_index.hpp) has them,
  // line by line; a record it does not have is read from its record.json.
  const RecordIds ids;
  rows.reserve(ids.size());
  const auto add = [&](std::string_view id, const std::optional<RecordView>& line) {
    const auto k = ps_known(id, line, locks, make.arena(), written);
    if (k && (o.all || is_running(k->second))) {
      rows.push_back(make.record_row(id, k->first, k->second));
    }
  };
  std::vector<bool> listed(ids.size());
  for_each_indexed(index.text(), [&](const RecordView& r) {
    const size_t i = ids.find(r.id);
    if (i == ids.size() || listed[i]) return;  // removed since (not listed), or listed already
    listed[i] = true;
    add(ids[i], r);
  });
  for (size_t i = 0; i < ids.size(); ++i) {
    if (!listed[i]) add(ids[i], std::nullopt);
  }
  // Their lines of the index, in one writing: the next ps finds them "exited" there.
  try {
    sync_index(written);
  } catch (const std::exception&) {
    // left as it was: record.json says it, and the next ps reads that instead
  }
  // The foreground containers (`run` without -d) and the engines' OCI containers: they have
  // a state directory and no record.
  std::error_code ec;
  for (fs::directory_iterator it(ctr::state_root() / "containers", ec), end; !ec && it != end;
       it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (ids.find(name) != ids.size() || name.rfind(ctr::kDraftPrefix, 0) == 0) {
      continue;
    }
    if (const auto c = ctr::read_state(it->path())) {
      rows.push_back(make.state_row(name, *c, it->path()));
    }
  }
  std::sort(rows.begin(), rows.end(),
            [](const Row& a, const Row& b) { return a.created_ns > b.created_ns; });
  print_rows(rows, o);
  return 0;
}

// === logs ===
namespace {
// One CRI log record: "TIME STREAM TAG TEXT" (see monitor.cpp) written as the container did.
void print_log_line(const std::string& line, bool timestamps) {
  const auto a = line.find(' ');
  const auto b = a == std::string::npos ? a : line.find(' ', a + 1);
  const auto c = b == std::string::npos ? b : line.find(' ', b + 1);
  if (c == std::string::npos) return;
  const std::string stream = line.substr(a + 1, b - a - 1);
  const bool full = line.compare(b + 1, c - b - 1, "F") == 0;
  std::string text = line.substr(c + 1);
  if (full) text += '\n';
  if (timestamps) text = line.substr(0, a) + " " + text;
  std::FILE* out = stream == "stderr" ? stderr : stdout;
  std::fwrite(text.data(), 1, text.size(), out);
  std::fflush(out);
}

// Prints the complete records that `in` holds from where it stands; a record not yet complete
// (no newline yet) is left for the next call.
void print_new_lines(std::ifstream& in, bool timestamps) {
  std::string line;
  while (std::getline(in, line)) {
    if (in.eof()) {  // a record not yet complete: read it again next time
      in.clear();
      in.seekg(-static_cast<std::streamoff>(line.size()), std::ios::cur);
      break;
    }
    print_log_line(line, timestamps);
  }
  in.clear();
}

// -f: what is appended to the log `in`, until the container has ended and the log is read to
// the end. Only the monitor writes the log, and it writes the container's last output before
// it exits: so we sleep in poll(2) until inotify(7) says the log was written to (IN_MODIFY)
// or the monitor's pidfd says it has exited (pidfd_open(2)), and read then; no polling.
void follow_log(const Known& k, std::ifstream& in, bool timestamps) {
  const auto record = read_record(k.dir);  // `start -a`: the monitor of this start
  if (!record || !is_running(live_status(*record))) return print_new_lines(in, timestamps);
  const ctr::UniqueFd monitor = ctr::pidfd_open(record->monitor_pid);
  const ctr::UniqueFd changes(::inotify_init1(IN_CLOEXEC | IN_NONBLOCK));
  if (changes.get() >= 0) {
    ::inotify_add_watch(changes.get(), (k.dir / "container.log").c_str(), IN_MODIFY);
  }
  for (;;) {
    // Whether the monitor has ended, asked before the read: what it wrote before is read now.
    // (A monitor killed while its container runs ends the follow too: nobody writes the log.)
    const bool done = !ctr::process_running(record->monitor_pid, record->monitor_start_time);
    print_new_lines(in, timestamps);
    if (done) return;
    std::array<pollfd, 2> fds{pollfd{monitor.get(), POLLIN, 0}, pollfd{changes.get(), POLLIN, 0}};
    // Without a pidfd (Linux before 5.3) or inotify, a look every 100 ms instead.
    const bool blind = monitor.get() < 0 || changes.get() < 0;
    if (::poll(fds.data(), fds.size(), blind ? 100 : -1) > 0 && changes.get() >= 0) {
      std::array<char, 4096> events{};  // drained: only "something was written" matters
      while (::read(changes.get(), events.data(), events.size()) > 0) {
      }
    }
  }
}

// start -a: the log from where it ended before this start (`from`, bytes), as it grows.
void attach_log(const Known& k, std::uintmax_t from) {
  std::ifstream in(k.dir / "container.log");
  in.seekg(static_cast<std::streamoff>(from));
  follow_log(k, in, false);
}

// The log's size now: what `start -a` does not show again.
std::uintmax_t log_size(const Known& k) {
  std::error_code ec;
  const auto size = fs::file_size(k.dir / "container.log", ec);
  return ec ? 0 : size;
}
}  // namespace

int docker_logs(const std::string& word, bool follow, const std::string& tail, bool timestamps) {
  Known k = find(word);
  const fs::path file = k.dir / "container.log";
  std::ifstream in(file);
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  size_t first = 0;
  if (tail != "all") {
    size_t n = 0;
    try {
      n = std::stoul(tail);
    } catch (const std::exception&) {
      throw ctr::UsageError(fmt::format("--tail '{}': a number of lines, or all", tail));
    }
    if (n < lines.size()) first = lines.size() - n;
  }
  for (size_t i = first; i < lines.size(); ++i) print_log_line(lines[i], timestamps);
  if (!follow) return 0;
  in.clear();
  follow_log(k, in, timestamps);
  return 0;
}

// === stop, kill, start, restart, wait, rm ===
int docker_stop(const std::vector<std::string>& words, int timeout, bool timeout_given) {
  // First SIGTERM to every one, then one deadline for all.
  int longest = timeout;
  for (const auto& word : words) {
    try {
      const Known k = find(word);
      if (!timeout_given) longest = std::max(longest, k.record.stop_timeout);
      if (const auto state = running_state(k.id)) ::kill(state->pid, SIGTERM);
    } catch (const LifecycleError&) {
      // reported below
    }
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(longest);
  return each(words, [&](const std::string& word) {
    Known k = find(word);
    stop_one(k, deadline);
    fmt::print("{}\n", word);
  });
}

int docker_kill(const std::vector<std::string>& words, const std::string& signal) {
  const int sig = parse_signal(signal);
  return each(words, [&](const std::string& word) {
    const Known k = find(word);
    const auto state = running_state(k.id);
    if (!is_running(k.live) || !state) {
      throw LifecycleError(
          fmt::format("Cannot kill container: {}: Container {} is not running", word, k.id));
    }
    ctr::check(::kill(state->pid, sig), "kill", std::to_string(state->pid));
    fmt::print("{}\n", word);
  });
}

namespace {

// Starts the container `word` names unless it runs: 0, or the exit code of a launch that
// failed. `seen` gets the size of its log before (start -a shows what this run writes).
int start_one(Known& k, const std::string& word, std::uintmax_t& seen) {
  const RecordLock lock(k.dir);
  k = known(k.id);
  seen = log_size(k);
  // docker: starting a running container does nothing, and says its name.
  if (k.live == Live::kUnmanaged) {
    throw LifecycleError(fmt::format(
        "container {} runs without its monitor (killed): stop it first, or `mycontainer "
        "cleanup`",
        word));
  }
  if (is_running(k.live) || k.live == Live::kCreated) return 0;
  // What the last run left, if its monitor could not remove it: removed now.
  // Its monitor is not running: what names it (ports, NAT, lease) is free too.
  if (auto state = ctr::read_state(ctr::container_dir(k.id))) {
    remove_container(*state, ctr::container_dir(k.id), /*owner_gone=*/true);
  }
  // RestartCount stays: docker counts only the restarts of a restart policy (--restart), not
  // a `start` or `restart` typed by somebody; mycontainer has none.
  return launch(k);
}

}  // namespace

int docker_start(const std::vector<std::string>& words, bool attach) {
  int rc = 0;
  const int errors = each(words, [&](const std::string& word) {
    Known k = find(word);
    std::uintmax_t seen = 0;
    if (const int code = start_one(k, word, seen); code != 0) {
      rc = code;
      return;
    }
    if (!attach) {
      fmt::print("{}\n", word);
      return;
    }
    attach_log(k, seen);
    k = known(k.id);
    rc = k.record.exit_code;
  });
  return errors != 0 ? errors : rc;
}

int docker_restart(const std::vector<std::string>& words, int timeout, bool timeout_given) {
  return each(words, [&](const std::string& word) {
    Known k = find(word);
    stop_one(k, timeout_given ? timeout : k.record.stop_timeout);
    std::uintmax_t seen = 0;
    if (start_one(k, word, seen) != 0) {
      throw LifecycleError(fmt::format("Cannot restart container {}", word));
    }
    fmt::print("{}\n", word);  // docker says the name it was given, as start and stop do
  });
}

int docker_wait(const std::vector<std::string>& words) {
  return each(words, [&](const std::string& word) {
    Known k = find(word);
    while (is_running(k.live) || k.live == Live::kCreated) {
      if (monitor_alive(k.record)) {
        wait_gone(k.record.monitor_pid, k.record.monitor_start_time, std::chrono::seconds(1));
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      k = known(k.id);
    }
    fmt::print("{}\n", k.record.exit_code);
  });
}

int docker_rm(const std::vector<std::string>& words, bool force) {
  return each(words, [&](const std::string& word) {
    Known k = find(word);
    if (is_running(k.live) || k.live == Live::kCreated) {
      if (!force) {
        throw LifecycleError(fmt::format(
            "You cannot remove a running container {}. Stop the container before attempting "
            "removal or force remove",
            k.id));
      }
      stop_one(k, 0);
    }
    std::optional<image::ImageUser> user;
    {
      const RecordLock lock(k.dir);
      if (auto state = ctr::read_state(ctr::container_dir(k.id))) {
        remove_container(*state, ctr::container_dir(k.id));
      }
      user = user_of_record(k.id);
      remove_record(k);  // its upper layer with it
    }
    release_image_layers(user);
    fmt::print("{}\n", word);
  });
}

// === inspect, rename ===
int docker_inspect(const std::vector<std::string>& words) {
  nlohmann::json all = nlohmann::json::array();
  const int rc = each(words, [&](const std::string& word) {
    const Known k = find(word);
    const Record& r = k.record;
    const auto state = running_state(k.id);
    nlohmann::json command = r.command;
    all.push_back(
        {{"Id", r.id},
         {"Created", iso8601_ns(r.created_ns)},
         {"Path", r.command.empty() ? "" : r.command.front()},
         {"Args", r.command.size() > 1
                      ? std::vector<std::string>(r.command.begin() + 1, r.command.end())
                      : std::vector<std::string>{}},
         {"State",
          {{"Status", state_word(k.live)},
           {"Running", is_running(k.live)},
           {"Pid", state ? state->pid : 0},
           {"ExitCode", r.status == "exited" ? r.exit_code : 0},
           {"StartedAt", iso8601_ns(r.started_ns)},
           {"FinishedAt", iso8601_ns(r.finished_ns)},
           {"MonitorPid", monitor_alive(r) ? r.monitor_pid : 0}}},
         {"Name", "/" + r.name},
         {"RestartCount", r.restart_count},
         {"LogPath", (k.dir / "container.log").string()},
         {"Config", {{"Image", r.image}, {"Cmd", command}, {"StopTimeout", r.stop_timeout}}},
         {"HostConfig", {{"AutoRemove", r.auto_remove}}},
         {"NetworkSettings",
          {{"IPAddress", state ? state->ip.substr(0, state->ip.find('/')) : ""}}}});
  });
  fmt::print("{}\n", all.dump(4));
  return rc;
}

int docker_rename(const std::string& from, const std::string& to) {
  ctr::validate_container_name(to);
  Known k = find(from);
  const RecordLock lock(k.dir);
  k = known(k.id);
  claim_name(to, k.id);
  const std::string old = k.record.name;
  k.record.name = to;
  write_record(k.dir, k.record);
  release_name(old);
  return 0;
}

// === the monitor's end ===
int monitor_exit(const std::string& id, int code) {
  const fs::path dir = record_dir(id);
  std::optional<Record> r;
  {
    const RecordLock lock(dir);
    if (auto state = ctr::read_state(ctr::container_dir(id))) {
      remove_container(*state, ctr::container_dir(id));
    }
    r = read_record(dir);
    if (!r) return 0;
    r->status = "exited";
    r->exit_code = code;
    r->finished_ns = now_ns();
    r->pid = 0;
    write_record(dir, *r);
  }
  if (r->auto_remove) remove_record(id, r->name);
  return 0;
}

void finish_orphaned_records() {
  for (const auto& id : list_record_ids()) {
    auto r = read_record(record_dir(id));
    if (!r || r->status == "exited" || monitor_alive(*r)) continue;
    if (r->status == "created" && r->monitor_pid == 0) continue;  // run -d is making it
    Known k{.id = id, .dir = record_dir(id), .record = *r, .live = Live::kExited};
    if (!finish_without_monitor(k, std::nullopt)) continue;  // kills it if it still runs
    if (r->auto_remove) remove_record(k);
    fmt::print("finished {} ({}): its monitor was gone\n", r->name, id.substr(0, 12));
  }
  // ps's index, whole again: lines a killed writer left behind are made right here.
  rebuild_index();
}

std::string docker_container(const std::string& word) {
  return resolve_container(word, true).value_or("");
}

std::vector<image::ImageUser> image_users() {
  std::vector<image::ImageUser> users;
  std::set<std::string> records;
  for (const auto& id : list_record_ids()) {
    records.insert(id);
    if (auto user = user_of_record(id)) users.push_back(std::move(*user));
  }
  // `run IMAGE` in the foreground: no record, its state has the image's id (engine.cpp). Its
  // layers need not be known: a running one keeps the whole image, a stale one (its runtime
  // killed) has nothing to keep (`cleanup` removes it).
  for (const auto& state : ctr::list_containers()) {
    const auto image = state.annotations.find(kAnnotationImage);
    if (records.count(state.name) || image == state.annotations.end()) continue;
    users.push_back({.container = state.name,
                     .image_id = image->second,
                     .running = !ctr::is_stale(state),
                     .layers = {}});
  }
  return users;
}

void check_running_for_exec(const std::string& id) {
  const Known k = known(id);
  if (!is_running(k.live)) {
    throw LifecycleError(fmt::format("Container {} is not running", id));
  }
}

}  // namespace mycontainer
