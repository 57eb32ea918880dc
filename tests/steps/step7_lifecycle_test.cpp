// Step 7, docker's lifecycle (#14, lifecycle.md): `run -d` and its monitor, then ps, logs,
// exec, stop, kill, start, restart, wait, rm, --rm, inspect, rename by name and id prefix; bad
// input (one line, exit code 1, nothing changed); the monitor killed with SIGKILL; twenty
// containers at once. Each test checks both sides: what the commands say, and that nothing of
// its containers is left (state, cgroups, lease, monitor, record). Containers are named with
// this suite's own prefix, so other containers on the host (ctest -j) never count.
#include <fcntl.h>  // fcntl(2) F_OFD_SETLK: a monitor's lock, held by the test
#include <signal.h>
#include <sys/stat.h>  // stat(2): the modes of the index and the lock file
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "background.hpp"
#include "mycontainer.hpp"
#include "runtime/monitor_lock.hpp"  // mycontainer::monitor_lock_held
#include "runtime/record.hpp"        // mycontainer::read_record, record_dir
#include "runtime/record_index.hpp"  // mycontainer::read_index
#include "runtime/state.hpp"
#include "support.hpp"
#include "temp_dir.hpp"  // TempDir

namespace mc::test {
namespace {

namespace fs = std::filesystem;
constexpr const char* kTag = "mctl";

// What one detached container had while it ran, to check it is all gone afterwards.
struct Traces {
  std::string id;
  std::vector<std::string> cgroup_dirs;
  std::string lease;
  pid_t monitor = 0;
};

class Step7Lifecycle : public ::testing::Test {
 protected:
  void SetUp() override { MC_REQUIRE_ROOT(); }
  void TearDown() override {
    for (const auto& name : names_) run({bin("mycontainer"), "rm", "-f", name});
  }

  RunResult mc(const std::vector<std::string>& args, const RunOptions& options = {}) {
    std::vector<std::string> argv{bin("mycontainer")};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, options);
  }
  // `run -d --rootfs ROOTFS --name NAME OPTIONS -- COMMAND`: the id it printed.
  std::string detach(const std::string& name, const std::vector<std::string>& options,
                     const std::vector<std::string>& command) {
    names_.push_back(name);
    return detached_id(mc(run_detached_args(name, options, command)));
  }
  std::string status_of(const std::string& name) {
    return status_in_ps(mc({"ps", "-a", "--format", "{{.Names}}|{{.Status}}"}).out, name);
  }
  nlohmann::json inspect(const std::string& name) {
    const auto r = mc({"inspect", name});
    EXPECT_EQ(r.status, 0) << r.err;
    return nlohmann::json::parse(r.out).at(0);
  }
  Traces traces(const std::string& id) {
    Traces t;
    t.id = id;
    const auto state = ctr::read_state(ctr::container_dir(id, "/run/mycontainer"));
    EXPECT_TRUE(state.has_value()) << "no state for " << id;
    if (state) {
      t.cgroup_dirs = state->cgroup_dirs;
      t.lease = state->lease;
      t.monitor = state->runtime_pid;
    }
    return t;
  }
  // Nothing of the container is left: its OCI state, cgroups, lease, monitor.
  void expect_gone(const Traces& t) {
    EXPECT_TRUE(wait_until([&] { return !fs::exists("/run/mycontainer/containers/" + t.id); }))
        << "state of " << t.id << " left";
    for (const auto& d : t.cgroup_dirs) EXPECT_FALSE(fs::exists(d)) << "cgroup left: " << d;
    if (!t.lease.empty()) {
      EXPECT_FALSE(fs::exists(t.lease)) << "lease left: " << t.lease;
    }
    if (t.monitor > 0) {
      EXPECT_TRUE(wait_until([&] { return ::kill(t.monitor, 0) != 0; })) << "monitor left";
    }
  }
  std::vector<std::string> names_;
};

// ==========================================================================================
// The core: run -d, the monitor, ps, logs, exec, stop, start, rm by name
// ==========================================================================================

TEST_F(Step7Lifecycle, RunDetachedIsKeptByASmallMonitorAndManagedByName) {
  const std::string name = unique_name(kTag), seconds = unique_sleep_seconds();
  const auto t0 = std::chrono::steady_clock::now();
  const std::string id =
      detach(name, {}, {"/bin/sh", "-c", "echo hello; echo oops >&2; exec sleep " + seconds});
  ASSERT_EQ(id.size(), 64u);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10))
      << "run -d must return at once";
  EXPECT_TRUE(wait_until([&] { return status_of(name).rfind("Up ", 0) == 0; })) << status_of(name);
  const Traces t = traces(id);
  ASSERT_GT(t.monitor, 0);

  // The monitor: the container's parent (CLONE_PARENT), and small.
  const std::string status = read_file(fmt::format("/proc/{}/status", t.monitor));
  const long rss_kb = std::stol(status_field(status, "VmRSS"));
  EXPECT_LE(rss_kb, 1024) << "monitor VmRSS " << rss_kb << " kB";
  const auto state = ctr::read_state(ctr::container_dir(id, "/run/mycontainer"));
  ASSERT_TRUE(state);
  EXPECT_TRUE(contains(read_file(fmt::format("/proc/{}/status", state->pid)),
                       fmt::format("PPid:\t{}\n", t.monitor)))
      << "the monitor is not the container's parent";

  // ps: the short id, the name; -q the short id only.
  const auto ps = mc({"ps"});
  EXPECT_TRUE(contains(ps.out, "CONTAINER ID")) << ps.out;
  EXPECT_TRUE(contains(ps.out, id.substr(0, 12))) << ps.out;
  EXPECT_TRUE(contains(mc({"ps", "-q"}).out, id.substr(0, 12) + "\n"));

  // logs: each stream where it was written; -t with the time; --tail.
  ASSERT_TRUE(wait_until([&] { return contains(mc({"logs", name}).err, "oops"); }));
  const auto logs = mc({"logs", name});
  EXPECT_EQ(logs.out, "hello\n");
  EXPECT_EQ(logs.err, "oops\n");
  EXPECT_TRUE(std::regex_match(mc({"logs", "-t", name}).out,
                               std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z hello\n)")))
      << mc({"logs", "-t", name}).out;
  EXPECT_EQ(mc({"logs", "--tail", "0", name}).out, "");

  // exec, by name and by id prefix, with docker's flags.
  const auto hostname = mc({"exec", name, "hostname"});
  EXPECT_EQ(hostname.status, 0) << hostname.err;
  EXPECT_EQ(hostname.out, name + "\n");
  const auto env =
      mc({"exec", "-e", "X=42", "-w", "/tmp", id.substr(0, 12), "/bin/sh", "-c", "echo $X $(pwd)"});
  EXPECT_EQ(env.out, "42 /tmp\n") << env.err;
  EXPECT_EQ(mc({"exec", name, "/bin/sh", "-c", "exit 7"}).status, 7);

  // The bridge: an address, leased.
  const auto j = inspect(name);
  EXPECT_TRUE(std::regex_match(j["NetworkSettings"]["IPAddress"].get<std::string>(),
                               std::regex(R"(\d+\.\d+\.\d+\.\d+)")))
      << j.dump();
  EXPECT_EQ(j["Name"], "/" + name);
  EXPECT_EQ(j["State"]["Status"], "running");

  // stop: sleep is PID 1 of its namespace, which ignores a SIGTERM it has no handler for
  // (pid_namespaces(7)): SIGKILL after -t seconds, 137.
  const auto stop = mc({"stop", "-t", "1", name});
  EXPECT_EQ(stop.status, 0) << stop.err;
  EXPECT_EQ(stop.out, name + "\n");
  EXPECT_TRUE(status_of(name).rfind("Exited (137) ", 0) == 0) << status_of(name);
  EXPECT_EQ(inspect(name)["State"]["ExitCode"], 137);
  expect_gone(t);
  EXPECT_EQ(status_of(name).find("Up"), std::string::npos) << "ps without -a lists it";
  EXPECT_FALSE(contains(mc({"ps"}).out, name));

  // start runs it again: same id, same name, the log goes on.
  const auto start = mc({"start", name});
  EXPECT_EQ(start.status, 0) << start.err;
  EXPECT_TRUE(status_of(name).rfind("Up ", 0) == 0) << status_of(name);
  ASSERT_TRUE(wait_until([&] {
    return count_lines(mc({"logs", name}).out) == 2;
  })) << mc({"logs", name}).out;
  const Traces again = traces(id);

  // rm of a running one: refused, with docker's words and code; rm -f removes it.
  const auto refused = mc({"rm", name});
  EXPECT_EQ(refused.status, 1);
  EXPECT_TRUE(contains(refused.err, "You cannot remove a running container " + id)) << refused.err;
  EXPECT_TRUE(status_of(name).rfind("Up ", 0) == 0) << "rm without -f changed it";
  const auto rm = mc({"rm", "-f", name});
  EXPECT_EQ(rm.status, 0) << rm.err;
  expect_gone(again);
  EXPECT_EQ(status_of(name), "");
  const auto gone = mc({"inspect", name});
  EXPECT_EQ(gone.status, 1);
  EXPECT_TRUE(contains(gone.err, "No such container: " + name)) << gone.err;
}

TEST_F(Step7Lifecycle, ExitCodesWaitKillRestartRenameAndAutoRemove) {
  const std::string name = unique_name(kTag);
  detach(name, {"--net", "none"}, {"/bin/sh", "-c", "exit 3"});
  const auto wait = mc({"wait", name});
  EXPECT_EQ(wait.status, 0) << wait.err;
  EXPECT_EQ(wait.out, "3\n");
  EXPECT_TRUE(status_of(name).rfind("Exited (3) ", 0) == 0) << status_of(name);

  // kill -s (to a shell that handles it: PID 1 ignores signals it has no handler for),
  // restart, rename.
  const std::string sleeper = unique_name(kTag), seconds = unique_sleep_seconds();
  const std::string id =
      detach(sleeper, {"--net", "none"},
             {"/bin/sh", "-c", "trap 'exit 42' USR1; while :; do sleep 1; done; : " + seconds});
  ASSERT_TRUE(wait_until([&] { return status_of(sleeper).rfind("Up ", 0) == 0; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the trap is set
  const auto killed = mc({"kill", "-s", "USR1", sleeper});
  EXPECT_EQ(killed.status, 0) << killed.err;
  EXPECT_EQ(trimmed(mc({"wait", sleeper}).out), "42");
  const auto restart = mc({"restart", "-t", "1", sleeper});
  EXPECT_EQ(restart.status, 0) << restart.err;
  EXPECT_EQ(restart.out, sleeper + "\n");  // the name given, as docker says it (not the id)
  EXPECT_TRUE(status_of(sleeper).rfind("Up ", 0) == 0) << status_of(sleeper);
  EXPECT_EQ(inspect(sleeper)["RestartCount"], 0);  // docker counts a restart policy's restarts only
  const std::string renamed = unique_name(kTag);
  names_.push_back(renamed);
  EXPECT_EQ(mc({"rename", sleeper, renamed}).status, 0);
  EXPECT_EQ(inspect(renamed)["Id"], id);
  EXPECT_EQ(mc({"inspect", sleeper}).status, 1) << "the old name still answers";
  const auto taken = mc({"rename", renamed, name});
  EXPECT_EQ(taken.status, 1);
  EXPECT_TRUE(contains(taken.err, "is already in use")) << taken.err;
  // docker kill: SIGKILL by default.
  EXPECT_EQ(mc({"kill", renamed}).status, 0);
  EXPECT_EQ(trimmed(mc({"wait", renamed}).out), "137");

  // --rm: gone once it ended, record and all.
  const std::string once = unique_name(kTag);
  const std::string once_id = detach(once, {"--rm", "--net", "none"}, {"/bin/true"});
  EXPECT_TRUE(wait_until([&] {
    return mc({"inspect", once}).status == 1;
  })) << "--rm kept "
      << once;
  EXPECT_FALSE(fs::exists("/var/lib/mycontainer/containers/" + once_id));
  EXPECT_EQ(mc({"rm", name, renamed}).status, 0);
}

// ==========================================================================================
// Bad input: one line, docker's exit code, nothing changed
// ==========================================================================================

TEST_F(Step7Lifecycle, UnknownNamesAndWrongStatesAreOneLineAndExitOne) {
  const std::string unknown = unique_name(kTag);
  for (const std::vector<std::string>& cmd :
       std::vector<std::vector<std::string>>{{"logs", unknown},
                                             {"stop", unknown},
                                             {"start", "-a", unknown},
                                             {"restart", unknown},
                                             {"wait", unknown},
                                             {"rm", unknown},
                                             {"rm", "-f", unknown},
                                             {"inspect", unknown},
                                             {"rename", unknown, unknown + "x"},
                                             {"kill", "-s", "TERM", unknown}}) {
    const auto r = mc(cmd);
    EXPECT_EQ(r.status, 1) << cmd[0] << ": " << r.err;
    EXPECT_EQ(r.err, "mycontainer: Error: No such container: " + unknown + "\n") << cmd[0];
  }

  const std::string name = unique_name(kTag), seconds = unique_sleep_seconds();
  const std::string id = detach(name, {"--net", "none"}, {"/bin/sleep", seconds});
  // start of a running container: docker does nothing and says its name.
  const auto start = mc({"start", name});
  EXPECT_EQ(start.status, 0) << start.err;
  EXPECT_EQ(start.out, name + "\n");
  EXPECT_EQ(inspect(name)["RestartCount"], 0);
  // A name already taken.
  const auto dup = mc({"run", "-d", "--rootfs", rootfs(), "--name", name, "--", "/bin/true"});
  EXPECT_EQ(dup.status, 1);
  EXPECT_TRUE(contains(dup.err, "is already in use by container \"" + id)) << dup.err;
  EXPECT_EQ(count_lines(dup.err), 1u) << dup.err;
  // A bad signal: a usage error (125), nothing sent.
  EXPECT_EQ(mc({"kill", "-s", "NOPE", name}).status, 125);
  EXPECT_TRUE(status_of(name).rfind("Up ", 0) == 0);
  // OCI's delete --force of an id it does not know succeeds, silently (runc's rule: engines
  // tidy up with it); of a `run -d` name too, but it says that nothing was deleted, and how.
  const auto oci_unknown = mc({"delete", "--force", unknown});
  EXPECT_EQ(oci_unknown.status, 0) << oci_unknown.err;
  EXPECT_EQ(oci_unknown.err, "");
  const auto by_name = mc({"delete", "--force", name});
  EXPECT_EQ(by_name.status, 0) << by_name.err;
  EXPECT_TRUE(contains(by_name.err, "nothing deleted; remove it with `mycontainer rm -f " + name))
      << by_name.err;
  EXPECT_EQ(count_lines(by_name.err), 1u) << by_name.err;
  EXPECT_TRUE(status_of(name).rfind("Up ", 0) == 0);
  // Two stops at once: both succeed, it is stopped once.
  Background a({bin("mycontainer"), "stop", "-t", "1", name});
  Background b({bin("mycontainer"), "stop", "-t", "1", name});
  EXPECT_EQ(a.wait().status, 0) << a.err();
  EXPECT_EQ(b.wait().status, 0) << b.err();
  EXPECT_TRUE(status_of(name).rfind("Exited (137) ", 0) == 0) << status_of(name);
  // exec into a stopped one.
  const auto exec = mc({"exec", name, "/bin/true"});
  EXPECT_EQ(exec.status, 1);
  EXPECT_EQ(exec.err, "mycontainer: Error: Container " + id + " is not running\n");
  EXPECT_EQ(mc({"kill", name}).status, 1);
  EXPECT_EQ(mc({"rm", name}).status, 0);
}

TEST_F(Step7Lifecycle, AnAmbiguousIdPrefixIsRefused) {
  // Two records whose ids share a prefix, in a records directory of this test's own.
  const fs::path records = fs::path("/tmp") / unique_name(kTag);
  for (const char* last : {"1", "2"}) {
    const std::string id = std::string(63, 'a') + last;
    fs::create_directories(records / "containers" / id);
    std::ofstream(records / "containers" / id / "record.json")
        << nlohmann::json{{"id", id}, {"name", "n" + std::string(last)}, {"status", "exited"}};
  }
  RunOptions env;
  env.env = {"MC_RECORDS_ROOT=" + records.string()};
  const auto r = mc({"inspect", "aaaa"}, env);
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(r.err, "Multiple IDs found with provided prefix: aaaa")) << r.err;
  EXPECT_EQ(mc({"inspect", std::string(63, 'a') + "2"}, env).status, 0);
  // Records of an older mycontainer (record.json alone, no line in the index): ps lists them.
  const auto ps = mc({"ps", "-a", "--format", "{{.Names}} {{.State}}"}, env);
  EXPECT_TRUE(contains(ps.out, "n1 exited\n") && contains(ps.out, "n2 exited\n")) << ps.out;
  EXPECT_EQ(mc({"rm", "aaaa"}, env).status, 1);
  EXPECT_TRUE(fs::exists(records / "containers" / (std::string(63, 'a') + "1")));
  fs::remove_all(records);
}

// A monitor's lock, held by this process as mycontainer-monitor holds it (monitor.cpp
// hold_monitor_lock): a read lock on `byte` of `file`, on a descriptor of its own, which the caller
// closes to let it go. -1 if the file cannot be opened or locked.
int hold_monitor_lock(const fs::path& file, uint64_t byte) {
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  struct flock hold {};
  hold.l_type = F_RDLCK;
  hold.l_whence = SEEK_SET;
  hold.l_start = static_cast<off_t>(byte);
  hold.l_len = 1;
  if (fd >= 0 && ::fcntl(fd, F_OFD_SETLK, &hold) == 0) return fd;
  if (fd >= 0) ::close(fd);
  return -1;
}

// The table ps prints, from its cells: each column as wide as its widest cell in bytes, three
// spaces after each but the last (what ps printed before it wrote through a fixed buffer).
std::string table_of(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width(rows.at(0).size());
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows) {
    for (size_t i = 0; i + 1 < row.size(); ++i)
      out += row[i] + std::string(width[i] - row[i].size() + 3, ' ');
    out += row.back() + "\n";
  }
  return out;
}

// No root needed: three records of this test's own (MC_RECORDS_ROOT), one "running" (this
// test holds its monitor's lock byte), one exited whose words need the index's escapes, one of
// an older mycontainer (record.json and no line in the index). ps's every form, byte for byte.
TEST(Step7Ps, ListsRecordsByteForByteEscapesAndOldRecordsIncluded) {
  const TempDir records("mctl-ps-records"), state("mctl-ps-state");
  ::setenv("MC_RECORDS_ROOT", records.path().c_str(), 1);
  const int64_t now = mycontainer::now_ns(), hour = int64_t{3600} * 1000000000, day = 24 * hour;
  mycontainer::Record web{.id = std::string(63, 'a') + "1",
                          .name = "web",
                          .image = "/srv/rootfs",
                          .command = {"/bin/sleep", "900000"},
                          .created_ns = now - 30 * day,
                          .auto_remove = false,
                          .stop_timeout = 10,
                          .ports = {"8080:80/tcp", "127.0.0.1:5353:53/udp"},
                          .status = "running",
                          .pid = ::getpid(),
                          .monitor_pid = ::getpid(),
                          .monitor_start_time = 1,
                          .monitor_lock = mycontainer::new_monitor_lock(),
                          .started_ns = now - 2 * hour - hour / 12};
  mycontainer::Record db = web;
  db.id = std::string(63, 'b') + "2";
  db.name = "données";  // 8 bytes, 7 characters: widths count bytes
  db.image = "/srv/a\\b";
  db.command = {"/bin/sh", "-c", "echo\tdone && sleep 1000"};
  db.created_ns = now - 31 * day;
  db.status = "exited";
  db.exit_code = 137;
  db.finished_ns = now - 3 * day;
  db.monitor_lock = 0;
  for (const auto* r : {&web, &db}) {
    fs::create_directories(mycontainer::record_dir(r->id));
    mycontainer::write_record(mycontainer::record_dir(r->id), *r);
  }
  const std::string old_id = std::string(63, 'c') + "3";
  fs::create_directories(mycontainer::record_dir(old_id));
  std::ofstream(mycontainer::record_dir(old_id) / "record.json")
      << nlohmann::json{{"id", old_id},
                        {"name", "old"},
                        {"image", "/r"},
                        {"command", {"echo", "{{.Command}}", "{{.Names}}"}},
                        {"created_ns", now - 40 * day},
                        {"status", "exited"},
                        {"finished_ns", now - 35 * day}};
  // The monitor of `web`: this process holds its byte, as mycontainer-monitor does.
  mycontainer::create_monitor_lock_file(web.monitor_lock);
  const int lock_fd =
      hold_monitor_lock(mycontainer::monitor_lock_file(web.monitor_lock), web.monitor_lock);
  ASSERT_GE(lock_fd, 0);
  const auto ps = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {bin("mycontainer"), "--root", state.path().string(), "ps"});
    const auto r = run(args, {.timeout = std::chrono::seconds(20), .input = {}, .env = {}});
    EXPECT_EQ(r.status, 0) << r.err;
    return r.out;
  };
  const std::vector<std::string> header{"CONTAINER ID", "IMAGE", "COMMAND", "CREATED",
                                        "STATUS",       "PORTS", "NAMES"};
  const std::vector<std::string> web_row{
      "aaaaaaaaaaaa", "/srv/rootfs", "\"/bin/sleep 900000\"",
      "4 weeks ago",  "Up 2 hours",  "0.0.0.0:8080->80/tcp, 127.0.0.1:5353->53/udp",
      "web"};
  const std::vector<std::string> db_row{"bbbbbbbbbbbb",
                                        "/srv/a\\b",
                                        "\"/bin/sh -c echo\tdone…",
                                        "4 weeks ago",
                                        "Exited (137) 3 days ago",
                                        "",
                                        "données"};
  const std::vector<std::string> old_row{
      "cccccccccccc", "/r", "\"echo {{.Command}} {{…", "5 weeks ago", "Exited (0) 5 weeks ago", "",
      "old"};
  EXPECT_EQ(ps({}), table_of({header, web_row}));
  EXPECT_EQ(ps({"-a"}), table_of({header, web_row, db_row, old_row}));
  EXPECT_EQ(ps({"-a", "-q"}), "aaaaaaaaaaaa\nbbbbbbbbbbbb\ncccccccccccc\n");
  auto long_rows = std::vector<std::vector<std::string>>{header, web_row, db_row, old_row};
  long_rows[1][0] = web.id;
  long_rows[2][0] = db.id;
  long_rows[3][0] = old_id;
  long_rows[2][2] = "\"/bin/sh -c echo\tdone && sleep 1000\"";
  long_rows[3][2] = "\"echo {{.Command}} {{.Names}}\"";
  EXPECT_EQ(ps({"-a", "--no-trunc"}), table_of(long_rows));
  // --format: each field once, and a value that holds a field's name is printed as it is
  // (ps replaced such names again, and a command holding "{{.Command}}" never ended).
  EXPECT_EQ(ps({"-a", "--no-trunc", "--format", "{{.Names}}: {{.Command}} {{.State}} {{.Nope}}"}),
            "web: \"/bin/sleep 900000\" running {{.Nope}}\n"
            "données: \"/bin/sh -c echo\tdone && sleep 1000\" exited {{.Nope}}\n"
            "old: \"echo {{.Command}} {{.Names}}\" exited {{.Nope}}\n");
  EXPECT_EQ(ps({"--format", "{{.ID}}|{{.Image}}|{{.Ports}}|{{.Status}}|{{.CreatedAt}}"}),
            "aaaaaaaaaaaa|/srv/rootfs|0.0.0.0:8080->80/tcp, 127.0.0.1:5353->53/udp|Up 2 hours|4 "
            "weeks ago\n");
  ::close(lock_fd);  // the monitor gone: its record.json decides (no process of it runs)
  EXPECT_EQ(ps({"--format", "{{.Names}}"}), "");
  ::unsetenv("MC_RECORDS_ROOT");
}

// No root needed: a monitor started by an earlier version holds its byte in the one lock file
// those versions used (RECORDS/monitors.lock), where ps no longer looks (monitor_lock.hpp): ps
// finds no lock in the byte's own file, and asks /proc/PID/stat, which says it lives. Its
// monitor here is this test's process (its pid and start time in the record).
TEST(Step7Ps, AMonitorOfAnEarlierVersionIsAnsweredTheLongWay) {
  const TempDir records("mctl-ps-older"), state("mctl-ps-older-state");
  ::setenv("MC_RECORDS_ROOT", records.path().c_str(), 1);
  const int64_t now = mycontainer::now_ns(), hour = int64_t{3600} * 1000000000;
  const mycontainer::Record older{.id = std::string(64, 'e'),
                                  .name = "older",
                                  .image = "/srv/rootfs",
                                  .command = {"/bin/sleep", "900000"},
                                  .created_ns = now - 2 * hour,
                                  .auto_remove = false,
                                  .stop_timeout = 10,
                                  .ports = {},
                                  .status = "running",
                                  .pid = ::getpid(),
                                  .monitor_pid = ::getpid(),
                                  .monitor_start_time = ctr::process_start_time(::getpid()),
                                  .monitor_lock = mycontainer::new_monitor_lock(),
                                  .started_ns = now - 2 * hour};
  fs::create_directories(mycontainer::record_dir(older.id));
  mycontainer::write_record(mycontainer::record_dir(older.id), older);
  mycontainer::create_monitor_lock_file(older.monitor_lock);  // the new file: nobody's lock in it
  const fs::path old_file = records.path() / "monitors.lock";
  std::ofstream(old_file).close();
  const int lock_fd = hold_monitor_lock(old_file, older.monitor_lock);
  ASSERT_GE(lock_fd, 0);
  EXPECT_FALSE(mycontainer::monitor_lock_held(older.monitor_lock)) << "not in the byte's file";
  const auto r = run({bin("mycontainer"), "--root", state.path().string(), "ps", "--format",
                      "{{.Names}} {{.Status}}"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "older Up 2 hours\n");
  ::close(lock_fd);
  ::unsetenv("MC_RECORDS_ROOT");
}

// No root needed: records whose monitor is gone (its lock free, no process with its pid and
// start time) and whose container left no state: as after a reboot, or monitor and container
// both killed. The first ps writes down what it found, as `cleanup` would (Exited (255), a --rm
// one removed), so that the next ps reads "exited" in the index instead of asking again, which
// cost 25 ms at 500 such records on every ps. One whose container left state is cleanup's.
TEST(Step7Ps, AMonitorFoundGoneIsWrittenDownByTheFirstPs) {
  const TempDir records("mctl-ps-lost"), state("mctl-ps-lost-state");
  ::setenv("MC_RECORDS_ROOT", records.path().c_str(), 1);
  const int64_t now = mycontainer::now_ns(), hour = int64_t{3600} * 1000000000;
  const auto lost_record = [&](char c, const std::string& name, int hours_ago) {
    mycontainer::Record r{.id = std::string(64, c),
                          .name = name,
                          .image = "/srv/rootfs",
                          .command = {"/bin/sleep", "900000"},
                          .created_ns = now - hours_ago * hour,
                          .auto_remove = false,
                          .stop_timeout = 10,
                          .ports = {},
                          .status = "running",
                          .pid = 1,
                          .monitor_pid = ::getpid(),
                          .monitor_start_time = 1,  // not ours: the monitor is another, gone
                          .monitor_lock = mycontainer::new_monitor_lock(),  // held by nobody
                          .started_ns = now - hours_ago * hour};
    mycontainer::create_monitor_lock_file(r.monitor_lock);
    fs::create_directories(mycontainer::record_dir(r.id));
    mycontainer::write_record(mycontainer::record_dir(r.id), r);
    return r;
  };
  const auto lost = lost_record('a', "lost", 1);
  auto removed = lost_record('b', "lost-rm", 2);
  removed.auto_remove = true;
  mycontainer::write_record(mycontainer::record_dir(removed.id), removed);
  const auto kept = lost_record('c', "kept", 3);
  fs::create_directories(ctr::container_dir(kept.id, state.path()));  // its state, left
  const auto ps = [&] {
    const auto r = run({bin("mycontainer"), "--root", state.path().string(), "ps", "-a", "--format",
                        "{{.Names}} {{.Status}}"});
    EXPECT_EQ(r.status, 0) << r.err;
    return r.out;
  };
  EXPECT_EQ(ps(),
            "lost Exited (255) Less than a second ago\n"
            "kept Exited (255) 3 hours ago\n");
  const auto written = mycontainer::read_record(mycontainer::record_dir(lost.id));
  ASSERT_TRUE(written);
  EXPECT_EQ(written->status, "exited");
  EXPECT_EQ(written->exit_code, 255);
  EXPECT_GE(written->finished_ns, now);
  const auto index = mycontainer::read_index();
  ASSERT_EQ(index.count(lost.id), 1u);
  EXPECT_EQ(index.at(lost.id).status, "exited") << "the next ps would ask again";
  EXPECT_FALSE(fs::exists(mycontainer::record_dir(removed.id))) << "--rm: removed";
  EXPECT_EQ(index.count(removed.id), 0u);
  EXPECT_EQ(mycontainer::read_record(mycontainer::record_dir(kept.id))->status, "running")
      << "its state is cleanup's to remove";
  // The same listing again, now from the index's line (its end time, now seconds ago).
  EXPECT_TRUE(std::regex_match(ps(), std::regex("lost Exited \\(255\\) (Less than a second|"
                                                "1 second|[0-9]+ seconds) ago\n"
                                                "kept Exited \\(255\\) 3 hours ago\n")));
  ::unsetenv("MC_RECORDS_ROOT");
}

// ==========================================================================================
// logs -f: it sleeps until the log is written, and ends with the container
// ==========================================================================================

TEST_F(Step7Lifecycle, LogsFollowSleepsUntilTheLogIsWritten) {
  const std::string name = unique_name(kTag);
  detach(name, {"--net", "none"}, {"/bin/sh", "-c", "echo one; sleep 4; echo two; exit 5"});
  Background follow({bin("mycontainer"), "logs", "-f", name});
  ASSERT_TRUE(wait_until([&] { return follow.out() == "one\n"; })) << follow.out();
  // While the container sleeps, the follower sleeps too: a look every 100 ms (as before
  // inotify and the monitor's pidfd) would be ten wake-ups a second, each a context switch.
  const auto switches = [&] {
    return std::stol(status_field(read_file(fmt::format("/proc/{}/status", follow.pid())),
                                  "voluntary_ctxt_switches"));
  };
  const long before = switches();
  std::this_thread::sleep_for(std::chrono::seconds(1));
  EXPECT_LE(switches() - before, 3) << "logs -f woke up while nothing was written";
  const auto r = follow.wait();
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "one\ntwo\n");
  EXPECT_TRUE(status_of(name).rfind("Exited (5) ", 0) == 0) << status_of(name);
}

// ==========================================================================================
// Faults: the monitor killed
// ==========================================================================================

TEST_F(Step7Lifecycle, AKilledMonitorLeavesTheContainerToCleanup) {
  // Our choice (lifecycle.md): the container goes on running, unmanaged; ps says so; `cleanup`
  // (or stop, rm -f) stops it and removes what it had; its record says Exited (137).
  const std::string name = unique_name(kTag), seconds = unique_sleep_seconds();
  const std::string id = detach(name, {}, {"/bin/sleep", seconds});
  ASSERT_TRUE(wait_until([&] { return status_of(name).rfind("Up ", 0) == 0; }));
  const Traces t = traces(id);
  ASSERT_GT(t.monitor, 0);
  // The monitor holds its lock while it lives (runtime/monitor_lock.hpp: how ps knows it
  // lives), and ps's index has the record as record.json has it.
  const auto record = mycontainer::read_record(mycontainer::record_dir(id));
  ASSERT_TRUE(record);
  EXPECT_NE(record->monitor_lock, 0u);
  EXPECT_TRUE(mycontainer::monitor_lock_held(record->monitor_lock));
  EXPECT_EQ(mycontainer::read_index().at(id).status, "running");
  // Both are the owner's alone: the index holds every container's command line, and whoever
  // could open the lock file could hold a dead monitor's byte (ps would call it running).
  for (const fs::path& file : {mycontainer::monitor_lock_file(record->monitor_lock),
                               mycontainer::records_root() / "index"}) {
    struct stat st {};
    ASSERT_EQ(::stat(file.c_str(), &st), 0) << file;
    EXPECT_EQ(st.st_mode & 0077, 0u) << file << " is open to others";
  }
  ASSERT_EQ(::kill(t.monitor, SIGKILL), 0);
  ASSERT_TRUE(wait_until([&] { return contains(status_of(name), "(monitor gone)"); }))
      << status_of(name);
  EXPECT_FALSE(mycontainer::monitor_lock_held(record->monitor_lock)) << "SIGKILL left the lock";
  EXPECT_FALSE(pids_matching("/bin/sleep " + seconds).empty()) << "the container died with it";
  const auto cleanup = mc({"cleanup"});
  EXPECT_EQ(cleanup.status, 0) << cleanup.err;
  EXPECT_TRUE(contains(cleanup.out, "finished " + name)) << cleanup.out;
  EXPECT_TRUE(status_of(name).rfind("Exited (137) ", 0) == 0) << status_of(name);
  EXPECT_EQ(mycontainer::read_index().at(id).exit_code, 137);
  EXPECT_TRUE(wait_until([&] { return pids_matching("/bin/sleep " + seconds).empty(); }));
  expect_gone(t);
  EXPECT_EQ(mc({"rm", name}).status, 0);
  EXPECT_EQ(mycontainer::read_index().count(id), 0u) << "rm left the index's line";
}

// ==========================================================================================
// Scale: twenty at once, listed, removed, nothing left
// ==========================================================================================

TEST_F(Step7Lifecycle, TwentyContainersStartListAndGoAway) {
  const std::string seconds = unique_sleep_seconds();
  std::vector<std::string> names;
  std::vector<Traces> all;
  for (int i = 0; i < 20; ++i) {
    names.push_back(unique_name(kTag));
    all.push_back(traces(detach(names.back(), {}, {"/bin/sleep", seconds})));
  }
  const auto ps = mc({"ps", "--format", "{{.Names}}"});
  for (const auto& n : names) EXPECT_TRUE(contains(ps.out, n + "\n")) << n;
  std::vector<std::string> rm{"rm", "-f"};
  rm.insert(rm.end(), names.begin(), names.end());
  const auto r = mc(rm);
  EXPECT_EQ(r.status, 0) << r.err;
  for (const auto& t : all) expect_gone(t);
  EXPECT_TRUE(pids_matching("/bin/sleep " + seconds).empty());
  const auto after = mc({"ps", "-a", "--format", "{{.Names}}"});
  for (const auto& n : names) EXPECT_FALSE(contains(after.out, n + "\n")) << n;
}

}  // namespace
}  // namespace mc::test
