// Unit tests of runtime/record_index.hpp (the records' index that `ps` reads, #14) and
// runtime/monitor_lock.hpp (the monitor's liveness lock). No root needed: the records live in
// a temporary directory (MC_RECORDS_ROOT).
#include <fcntl.h>     // open(2), fcntl(2) F_OFD_SETLK
#include <signal.h>    // kill(2)
#include <sys/wait.h>  // waitpid(2)
#include <unistd.h>    // fork(2), pipe(2)

#include <gtest/gtest.h>

#include <cstdlib>  // setenv(3)
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "runtime/monitor_lock.hpp"
#include "runtime/record.hpp"
#include "runtime/record_index.hpp"
#include "runtime/state.hpp"  // ctr::now_iso8601
#include "temp_dir.hpp"       // mc::test::TempDir

namespace {

namespace fs = std::filesystem;
using mycontainer::Record;

// A record with every field set, and the characters the format escapes in its words.
Record sample(char last = '1') {
  Record r;
  // Appended, not `std::string(...) + last`: GCC 12 warns about those (-Warray-bounds, a false
  // positive of its inlined operator+).
  r.id.assign(63, 'a').push_back(last);
  r.name.assign("web-").push_back(last);
  r.image = "/srv/rootfs with space";
  r.command = {"/bin/sh", "-c", "printf 'a\\tb\\n' \t tab\nnewline \\ backslash", ""};
  r.created_ns = 1765000000123456789;
  r.auto_remove = true;
  r.stop_timeout = 3;
  r.ports = {"8080:80/tcp", "127.0.0.1:53:53/udp"};
  r.status = "running";
  r.pid = 4242;
  r.monitor_pid = 4241;
  r.monitor_start_time = 987654321;
  r.monitor_lock = (uint64_t{1} << 61) + 5;
  r.started_ns = 1765000000223456789;
  r.finished_ns = 0;
  r.exit_code = 137;
  r.restart_count = 2;
  return r;
}

void expect_same(const Record& a, const Record& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.image, b.image);
  EXPECT_EQ(a.command, b.command);
  EXPECT_EQ(a.created_ns, b.created_ns);
  EXPECT_EQ(a.auto_remove, b.auto_remove);
  EXPECT_EQ(a.stop_timeout, b.stop_timeout);
  EXPECT_EQ(a.ports, b.ports);
  EXPECT_EQ(a.status, b.status);
  EXPECT_EQ(a.pid, b.pid);
  EXPECT_EQ(a.monitor_pid, b.monitor_pid);
  EXPECT_EQ(a.monitor_start_time, b.monitor_start_time);
  EXPECT_EQ(a.monitor_lock, b.monitor_lock);
  EXPECT_EQ(a.started_ns, b.started_ns);
  EXPECT_EQ(a.finished_ns, b.finished_ns);
  EXPECT_EQ(a.exit_code, b.exit_code);
  EXPECT_EQ(a.restart_count, b.restart_count);
}

std::string index_of(const std::vector<Record>& records) {
  std::string text(mycontainer::kIndexHeader);
  text += '\n';
  for (const auto& r : records) text += mycontainer::index_line(r);
  return text;
}

TEST(RecordIndex, ALineIsOneRecordTabsNewlinesAndBackslashesIncluded) {
  const Record r = sample();
  const std::string line = mycontainer::index_line(r);
  ASSERT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1) << "a newline inside the line";
  const auto back =
      mycontainer::parse_index_line(std::string_view(line).substr(0, line.size() - 1));
  ASSERT_TRUE(back);
  expect_same(*back, r);
  Record empty = sample();
  empty.command = {};
  empty.ports = {};
  empty.image = "";
  const std::string line2 = mycontainer::index_line(empty);
  const auto back2 =
      mycontainer::parse_index_line(std::string_view(line2).substr(0, line2.size() - 1));
  ASSERT_TRUE(back2);
  expect_same(*back2, empty);
}

TEST(RecordIndex, ACutIndexGivesEachRecordWholeOrNotAtAll) {
  // The index cut at every byte (a full disk, a crash mid-write): what parses is always one
  // of the records as written, never a shorter or mixed one.
  const std::vector<Record> records{sample('1'), sample('2'), sample('3')};
  const std::string text = index_of(records);
  for (size_t n = 0; n <= text.size(); ++n) {
    const auto parsed = mycontainer::parse_index(std::string_view(text).substr(0, n));
    for (const auto& [id, r] : parsed) {
      const auto& original = records.at(static_cast<size_t>(id.back() - '1'));
      expect_same(r, original);
    }
    if (n == text.size()) {
      EXPECT_EQ(parsed.size(), 3u);
    }
  }
}

TEST(RecordIndex, GarbledLinesAreLeftOutAndTheOthersKept) {
  const std::string good = mycontainer::index_line(sample('1'));
  std::string line = mycontainer::index_line(sample('2'));
  line.pop_back();
  const std::vector<std::string> garbled = {
      "",
      "not a record",
      line + "\textra",                              // one field too many
      line.substr(0, line.rfind('\t')),              // one field too few
      "zz" + line.substr(2),                         // not an id
      line.substr(0, 65) + "\\q" + line.substr(65),  // a bad escape in the name
      line + "\\",                                   // an escape cut short
  };
  for (const auto& bad : garbled) {
    EXPECT_FALSE(mycontainer::parse_index_line(bad)) << bad;
    std::string text(mycontainer::kIndexHeader);
    text.append("\n").append(bad).append("\n").append(good);
    const auto parsed = mycontainer::parse_index(text);
    EXPECT_EQ(parsed.size(), 1u) << bad;
    EXPECT_EQ(parsed.count(sample('1').id), 1u) << bad;
  }
  // A number field that is not a number, or out of range.
  std::string status = line;
  status.replace(status.find("\trunning\t"), 9, "\tsleeping\t");
  EXPECT_FALSE(mycontainer::parse_index_line(status));
  std::string pid = line;
  pid.replace(pid.find("\t4242\t"), 6, "\t42x2\t");
  EXPECT_FALSE(mycontainer::parse_index_line(pid));
  std::string big = line;
  big.replace(big.find("\t4242\t"), 6, "\t99999999999999999999\t");
  EXPECT_FALSE(mycontainer::parse_index_line(big));
  // Another version's index is not ours to read.
  EXPECT_TRUE(mycontainer::parse_index("mycontainer-index 2\n" + good).empty());
}

// The words of a list field, unescaped.
std::vector<std::string> words_of(std::string_view list, size_t count) {
  std::vector<std::string> words;
  mycontainer::for_each_word(list, count, [&](std::string_view word) {
    mycontainer::unescape(word, words.emplace_back());
  });
  return words;
}

std::string unescaped(std::string_view field) {
  std::string out;
  mycontainer::unescape(field, out);
  return out;
}

TEST(RecordIndex, AViewOfALineIsItsFieldsInPlace) {
  const Record r = sample();
  std::string line = mycontainer::index_line(r);
  line.pop_back();
  const auto v = mycontainer::view_index_line(line);
  ASSERT_TRUE(v);
  // Views into the line itself, not copies; the text fields as written (escaped).
  for (const std::string_view field : {v->id, v->name, v->image, v->status, v->ports, v->command}) {
    EXPECT_GE(field.data(), line.data());
    EXPECT_LE(field.data() + field.size(), line.data() + line.size());
  }
  EXPECT_EQ(v->id, r.id);
  EXPECT_EQ(v->name, r.name);
  EXPECT_EQ(unescaped(v->image), r.image);
  EXPECT_EQ(v->status, "running");
  EXPECT_EQ(v->ports, "8080:80/tcp\t127.0.0.1:53:53/udp");
  EXPECT_EQ(v->port_count, 2u);
  EXPECT_EQ(v->word_count, 4u);
  EXPECT_EQ(words_of(v->command, v->word_count), r.command);  // tab, newline, "" included
  EXPECT_EQ(words_of(v->ports, v->port_count), r.ports);
  EXPECT_EQ(v->created_ns, r.created_ns);
  EXPECT_EQ(v->monitor_lock, r.monitor_lock);
  EXPECT_EQ(v->monitor_start_time, r.monitor_start_time);
  EXPECT_EQ(v->exit_code, r.exit_code);
  EXPECT_TRUE(v->auto_remove);
  // Lists of no words, and of one empty word, differ by their count alone.
  Record empty = sample();
  empty.command = {""};
  empty.ports = {};
  std::string line2 = mycontainer::index_line(empty);
  line2.pop_back();
  const auto v2 = mycontainer::view_index_line(line2);
  ASSERT_TRUE(v2);
  EXPECT_EQ(v2->port_count, 0u);
  EXPECT_EQ(v2->word_count, 1u);
  EXPECT_EQ(words_of(v2->command, v2->word_count), std::vector<std::string>{""});
  EXPECT_TRUE(words_of(v2->ports, v2->port_count).empty());
}

TEST(RecordIndex, UnescapeUndoesWhatALineEscapes) {
  EXPECT_EQ(unescaped(R"(a\tb\nc\\d)"), "a\tb\nc\\d");
  EXPECT_EQ(unescaped(""), "");
  EXPECT_EQ(unescaped(R"(\\t)"), "\\t");
  EXPECT_EQ(unescaped("plain"), "plain");
}

// state.json's "started" back to a time (ps's rows of foreground containers), and only that form.
TEST(RecordTimes, StartedTimesReadBackAsUtcAndNothingElseDoes) {
  using mycontainer::ns_of_iso8601;
  EXPECT_EQ(ns_of_iso8601("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(ns_of_iso8601("2026-12-07T22:26:44Z"), int64_t{1796682404} * 1000000000);
  const int64_t now = mycontainer::now_ns();
  const int64_t read = ns_of_iso8601(ctr::now_iso8601());
  EXPECT_LE(read, now);
  EXPECT_GT(read, now - int64_t{5} * 1000000000);
  for (const char* bad : {"", "2026-12-07", "2026-12-07T22:26:44", "2026-12-07T22:26:44.5Z",
                          "2026-12-07T22:26:44Zx", "running"}) {
    EXPECT_EQ(ns_of_iso8601(bad), 0) << bad;
  }
}

TEST(RecordIndex, SplitTakesAnyWrittenRecordViewOnlyAnIndexOne) {
  // record.json may hold what no index line does (ps reads such a record through
  // index_line() and split_index_line()): split takes it, view does not.
  Record odd = sample();
  odd.name = "";
  odd.status = "paused";
  odd.id = "not-hex";
  odd.command.assign(5000, "w");
  std::string line = mycontainer::index_line(odd);
  line.pop_back();
  EXPECT_FALSE(mycontainer::view_index_line(line));
  const auto v = mycontainer::split_index_line(line);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->id, "not-hex");
  EXPECT_EQ(v->status, "paused");
  EXPECT_EQ(v->word_count, 5000u);
  // A line of another shape is no record to either.
  EXPECT_FALSE(mycontainer::split_index_line(line + "\textra"));
  EXPECT_FALSE(mycontainer::split_index_line("a\\qb" + line.substr(line.find('\t'))));
}

class RecordsRoot : public ::testing::Test {
 protected:
  void SetUp() override { ::setenv("MC_RECORDS_ROOT", dir_.path().c_str(), 1); }
  void TearDown() override { ::unsetenv("MC_RECORDS_ROOT"); }
  void write(const Record& r) {
    fs::create_directories(mycontainer::record_dir(r.id));
    mycontainer::write_record(mycontainer::record_dir(r.id), r);
  }
  mc::test::TempDir dir_{"mct-records"};
};

TEST_F(RecordsRoot, WriteRecordKeepsTheIndexAndRemovalsLeaveIt) {
  write(sample('1'));
  write(sample('2'));
  auto index = mycontainer::read_index();
  ASSERT_EQ(index.size(), 2u);
  expect_same(index.at(sample('1').id), sample('1'));
  Record changed = sample('1');
  changed.status = "exited";
  changed.name = "renamed";
  write(changed);
  expect_same(mycontainer::read_index().at(changed.id), changed);
  fs::remove_all(mycontainer::record_dir(changed.id));
  mycontainer::sync_index(changed.id);
  index = mycontainer::read_index();
  EXPECT_EQ(index.size(), 1u);
  EXPECT_EQ(index.count(changed.id), 0u);
}

// ps writes the record.json of many records, then their lines in one writing of the index.
TEST_F(RecordsRoot, RecordFilesFirstThenOneSyncOfAllTheirLines) {
  for (const char c : {'1', '2', '3'}) write(sample(c));
  Record one = sample('1'), three = sample('3');
  one.status = three.status = "exited";
  for (const auto* r : {&one, &three}) {
    mycontainer::write_record_file(mycontainer::record_dir(r->id), *r);
  }
  EXPECT_EQ(mycontainer::read_index().at(one.id).status, sample('1').status) << "not yet";
  fs::remove_all(mycontainer::record_dir(sample('2').id));
  mycontainer::sync_index(std::vector<std::string>{three.id, sample('2').id, one.id});
  const auto index = mycontainer::read_index();
  ASSERT_EQ(index.size(), 2u);
  expect_same(index.at(one.id), one);
  expect_same(index.at(three.id), three);
  mycontainer::sync_index(std::vector<std::string>{});  // nothing: the file stays as it is
  EXPECT_EQ(mycontainer::read_index().size(), 2u);
}

TEST_F(RecordsRoot, TheMappedIndexIsTheFileAsItWasWhenMapped) {
  EXPECT_EQ(mycontainer::MappedIndex().text(), "");  // no index yet
  write(sample('1'));
  const std::string text = mycontainer::read_index_text();
  EXPECT_EQ(text, index_of({sample('1')}));
  const mycontainer::MappedIndex mapped;
  EXPECT_EQ(mapped.text(), text);
  // A writer replaces the file (rename(2)): the mapping keeps the file it mapped.
  write(sample('2'));
  EXPECT_EQ(mapped.text(), text);
  EXPECT_EQ(mycontainer::MappedIndex().text(), index_of({sample('1'), sample('2')}));
  std::ofstream(dir_ / "index", std::ios::trunc).flush();  // an empty file: no mapping
  EXPECT_EQ(mycontainer::MappedIndex().text(), "");
}

TEST_F(RecordsRoot, RebuildMakesTheIndexFromTheRecordsAnOldRecordIncluded) {
  write(sample('1'));
  // A record.json of the previous version: no monitor_lock, and no line in the index.
  const std::string old_id(64, 'b');
  fs::create_directories(mycontainer::record_dir(old_id));
  std::ofstream(mycontainer::record_dir(old_id) / "record.json")
      << R"({"id":")" << old_id
      << R"(","name":"old","image":"/r","command":["/bin/sleep","9"],"created_ns":1,)"
         R"("auto_remove":false,"stop_timeout":10,"ports":[],"status":"running","pid":7,)"
         R"("monitor_pid":6,"monitor_start_time":5,"started_ns":2,"finished_ns":0,)"
         R"("exit_code":0,"restart_count":0})";
  const auto old = mycontainer::read_record(mycontainer::record_dir(old_id));
  ASSERT_TRUE(old);
  EXPECT_EQ(old->monitor_lock, 0u);
  EXPECT_EQ(old->monitor_start_time, 5u);
  EXPECT_EQ(mycontainer::read_index().count(old_id), 0u);
  std::ofstream(dir_ / "index", std::ios::app) << "garbage\n";
  mycontainer::rebuild_index();
  const auto index = mycontainer::read_index();
  ASSERT_EQ(index.size(), 2u);
  EXPECT_EQ(index.at(old_id).name, "old");
  EXPECT_EQ(index.at(old_id).command, (std::vector<std::string>{"/bin/sleep", "9"}));
}

// A stand-in monitor: a child that holds a lock on `byte` of `file` as mycontainer-monitor does
// (monitor.cpp hold_monitor_lock), and pauses. Its pid once the lock is held; -1 if it failed.
pid_t hold_lock_in_child(const fs::path& file, uint64_t byte) {
  int ready[2];
  if (::pipe(ready) != 0) return -1;
  const pid_t child = ::fork();
  if (child == 0) {
    const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    struct flock lock {};
    lock.l_type = F_RDLCK;
    lock.l_whence = SEEK_SET;
    lock.l_start = static_cast<off_t>(byte);
    lock.l_len = 1;
    const char ok = fd >= 0 && ::fcntl(fd, F_OFD_SETLK, &lock) == 0 ? '1' : '0';
    (void)!::write(ready[1], &ok, 1);
    ::pause();
    ::_exit(0);
  }
  ::close(ready[1]);
  char ok = 0;
  const bool read_ok = child > 0 && ::read(ready[0], &ok, 1) == 1;
  ::close(ready[0]);
  if (read_ok && ok == '1') return child;
  if (child > 0) {
    ::kill(child, SIGKILL);
    ::waitpid(child, nullptr, 0);
  }
  return -1;
}

TEST_F(RecordsRoot, AMonitorsLockIsHeldWhileItLivesAndGoneWithSigkill) {
  const uint64_t byte = mycontainer::new_monitor_lock();
  ASSERT_NE(byte, 0u);
  mycontainer::create_monitor_lock_file(byte);
  EXPECT_FALSE(mycontainer::monitor_lock_held(byte));
  const pid_t child = hold_lock_in_child(mycontainer::monitor_lock_file(byte), byte);
  ASSERT_GT(child, 0);
  EXPECT_TRUE(mycontainer::monitor_lock_held(byte));
  EXPECT_FALSE(mycontainer::monitor_lock_held(byte + 2)) << "another monitor's byte, same file";
  ASSERT_EQ(::kill(child, SIGKILL), 0);
  // Not reaped yet (a zombie): its files are closed already, the lock gone with them.
  siginfo_t info{};
  ASSERT_EQ(::waitid(P_PID, static_cast<id_t>(child), &info, WEXITED | WNOWAIT), 0);
  EXPECT_FALSE(mycontainer::monitor_lock_held(byte));
  ::waitpid(child, nullptr, 0);
}

// The locks are spread over kMonitorLockFiles files, so that the kernel's walk of one file's
// locks (fs/locks.c posix_test_lock) is short (monitor_lock.hpp). Offsets are odd
// (new_monitor_lock), so the file is chosen by the bits above the lowest: every file is used.
TEST(MonitorLockFiles, OddOffsetsUseEveryFile) {
  std::vector<int> used(mycontainer::kMonitorLockFiles);
  for (uint64_t offset = 1; offset < uint64_t{2} * mycontainer::kMonitorLockFiles; offset += 2) {
    ++used.at(mycontainer::monitor_lock_file_index(offset));
  }
  EXPECT_EQ(used, std::vector<int>(mycontainer::kMonitorLockFiles, 1));
  int fresh_in_file_0 = 0;
  for (int i = 0; i < 1000; ++i) {
    const uint64_t offset = mycontainer::new_monitor_lock();
    EXPECT_EQ(offset % 2, 1u);
    fresh_in_file_0 += mycontainer::monitor_lock_file_index(offset) == 0;
  }
  EXPECT_LT(fresh_in_file_0, 200) << "random offsets should spread (about 62 of 1000 here)";
}

// Two monitors whose bytes choose different files: each lock is in its own file, `ps`'s one
// MonitorLocks answers both (opening each file once), and a SIGKILL frees only the killed one's.
// A lock in the single file of earlier versions (RECORDS/monitors.lock) is not looked for:
// "not held", and the caller reads /proc/PID/stat instead (lifecycle.cpp monitor_alive).
TEST_F(RecordsRoot, MonitorsLocksLandInTheFileTheirByteChooses) {
  const uint64_t a = 1, b = 3;  // files 0 and 1 (the bits above the lowest)
  ASSERT_NE(mycontainer::monitor_lock_file_index(a), mycontainer::monitor_lock_file_index(b));
  ASSERT_NE(mycontainer::monitor_lock_file(a), mycontainer::monitor_lock_file(b));
  EXPECT_EQ(mycontainer::monitor_lock_file(a), dir_.path() / "monitors.lock.0");
  for (const uint64_t byte : {a, b}) mycontainer::create_monitor_lock_file(byte);
  const pid_t first = hold_lock_in_child(mycontainer::monitor_lock_file(a), a);
  ASSERT_GT(first, 0);
  const pid_t second = hold_lock_in_child(mycontainer::monitor_lock_file(b), b);
  ASSERT_GT(second, 0);
  {
    mycontainer::MonitorLocks locks;
    EXPECT_TRUE(locks.held(a));
    EXPECT_TRUE(locks.held(b));
    EXPECT_FALSE(locks.held(a + uint64_t{4} * mycontainer::kMonitorLockFiles))
        << "a's file, another byte";
    EXPECT_FALSE(locks.held(b + 2)) << "a file nobody made: no lock, no error";
    EXPECT_FALSE(locks.held(0)) << "an older monitor's record";
  }
  // Held in the wrong file, b is not found: the file is the byte's, whoever asks.
  const fs::path old_file = dir_ / "monitors.lock";
  std::ofstream(old_file).close();
  const uint64_t old_byte =
      b + uint64_t{4} * mycontainer::kMonitorLockFiles;  // b's file, unlocked there
  const pid_t old_monitor = hold_lock_in_child(old_file, old_byte);
  ASSERT_GT(old_monitor, 0);
  EXPECT_FALSE(mycontainer::monitor_lock_held(old_byte));
  ASSERT_EQ(::kill(first, SIGKILL), 0);
  ::waitpid(first, nullptr, 0);
  {
    mycontainer::MonitorLocks locks;
    EXPECT_FALSE(locks.held(a)) << "SIGKILL left the lock";
    EXPECT_TRUE(locks.held(b)) << "the other monitor's lock went with it";
  }
  for (const pid_t pid : {second, old_monitor}) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  }
}

}  // namespace
