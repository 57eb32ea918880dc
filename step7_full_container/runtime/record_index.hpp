// RECORDS/index: every record again, one line each, in one file, for `ps` (#14).
//
// `ps` lists every container. With one record.json each, that is an open(2), a read(2) and a
// close(2) per container (about 9 µs here) and a JSON parse: 500 containers cost more than
// the 5 ms the issue allows for all of `ps`. The index is the same records in one file that
// `ps` maps with one mmap(2), in a line format a few lines of code parse (no JSON):
//
//   mycontainer-index 1                                         <- the format's version
//   ID NAME IMAGE CREATED AUTO_RM STOP_T STATUS PID MONITOR_PID MONITOR_START MONITOR_LOCK
//      STARTED FINISHED EXIT RESTARTS NPORTS PORT... NWORDS WORD...
//
// one line per container, the fields separated by tabs, in each field a backslash, a tab and
// a newline written as \\, \t and \n (so a command word may hold any byte but NUL).
//
// record.json stays the record: every other command reads it, and the index is only its copy,
// made by sync_index() after each write_record() and removal. The copy is never half-written
// (it is replaced with rename(2), as record.json is), and a writer takes the index's lock
// (flock(2) on the records directory) and copies the record.json it finds at that moment, so
// two writers at once leave the newer record in the index. What it cannot cover, `ps` does
// (lifecycle.cpp ps_known): a record without a line (made by an older mycontainer, or whose
// writer was killed between its two renames, or a garbled line) is read from its record.json,
// and a line that does not say "exited" is believed only while its monitor holds its lock
// (monitor_lock.hpp); otherwise record.json decides, which the monitor's end writes first.
// `mycontainer cleanup` writes the whole index again.
#pragma once

#include <sys/types.h>  // pid_t

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/record.hpp"  // mycontainer::Record

namespace mycontainer {

inline constexpr std::string_view kIndexHeader = "mycontainer-index 1";

// One record as one line, ending in '\n'.
std::string index_line(const Record& r);

// One line seen in place, without a copy: the text fields are views into the line as written
// (a backslash, a tab, a newline still escaped: unescape() gives the text back), each list is
// one view of its words, tab-separated (for_each_word()). `ps` reads 500 lines this way with
// no std::string per field: each fresh heap page costs a page fault (tests/bench/RESULTS.md).
struct RecordView {
  std::string_view id, name, image, status;
  std::string_view ports, command;  // the words, tab-separated, each escaped
  size_t port_count = 0, word_count = 0;
  int64_t created_ns = 0;
  bool auto_remove = false;
  int stop_timeout = 0;
  pid_t pid = 0;
  pid_t monitor_pid = 0;
  unsigned long long monitor_start_time = 0;
  uint64_t monitor_lock = 0;
  int64_t started_ns = 0;
  int64_t finished_ns = 0;
  int exit_code = 0;
  int restart_count = 0;
};
// The fields of one line (without its '\n'): nullopt when a field is missing or one too
// many, a number is not one, or an escape is bad. Every line index_line() writes splits.
std::optional<RecordView> split_index_line(std::string_view line);
// The same, and only a record as the index holds one: an id of 64 hex digits, a name, a
// status of the three, at most 4096 words in a list.
std::optional<RecordView> view_index_line(std::string_view line);
// The record of one line (view_index_line's, copied into strings).
std::optional<Record> parse_index_line(std::string_view line);
// Calls f with each word of a list (RecordView::ports, ::command), still escaped.
void for_each_word(std::string_view list, size_t count,
                   const std::function<void(std::string_view)>& f);
// Appends an escaped field's text to out.
void unescape(std::string_view field, std::string& out);

// Calls f with each record of a whole index file, one after another (ps keeps none of them:
// its rows are all it needs). Lines that do not parse, and a last line that does not end in
// '\n', are left out (their records are read from record.json instead); a file with another
// header is empty to us.
void for_each_indexed(std::string_view text, const std::function<void(const RecordView&)>& f);
// The same, every record by id.
std::map<std::string, Record> parse_index(std::string_view text);

// RECORDS/index mapped read-only (mmap(2)), for as long as this lives: the text without a
// copy and without a buffer zero-filled first. Safe because the file is never changed in
// place: a writer renames a new one over it (rename(2)), and the mapping keeps the old one.
class MappedIndex {
 public:
  MappedIndex();  // the text is "" when the file is missing or empty
  ~MappedIndex();
  MappedIndex(const MappedIndex&) = delete;
  MappedIndex& operator=(const MappedIndex&) = delete;
  std::string_view text() const { return {static_cast<const char*>(addr_), size_}; }
  // Leaves the mapping to the process's end, for a caller that is the last thing its process
  // does (`ps`). munmap(2) of fewer than 34 pages flushes each page from the TLB, one by one
  // (arch/x86/mm/tlb.c tlb_single_page_flush_ceiling): about 3 µs a page on this virtual
  // machine, 70 µs for the index of 500 records; exit(2) takes the whole address space down
  // with one flush (tests/bench/RESULTS.md, session 10).
  void keep_until_exit() { unmap_ = false; }

 private:
  void* addr_ = nullptr;
  size_t size_ = 0;
  bool unmap_ = true;
};

// RECORDS/index as it is ("" when missing), and read and parsed.
std::string read_index_text();
std::map<std::string, Record> read_index();
// Makes id's line the copy of its record.json, or removes it when the record is gone.
void sync_index(const std::string& id);
// The same for several records, in one writing of the index.
void sync_index(const std::vector<std::string>& ids);
// Writes the whole index from the record.json files (cleanup).
void rebuild_index();

}  // namespace mycontainer
