// RECORDS/index: every record again, one line each, in one file, for `ps` (#14).
//
// `ps` lists every container. With one record.json each, that is an open(2), a read(2) and a
// close(2) per container (about 9 µs here) and a JSON parse: 500 containers cost more than
// the 5 ms the issue allows for all of `ps`. The index is the same records in one file that
// `ps` reads with one read(2), in a line format a few lines of code parse (no JSON):
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

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "runtime/record.hpp"  // mycontainer::Record

namespace mycontainer {

inline constexpr std::string_view kIndexHeader = "mycontainer-index 1";

// One record as one line, ending in '\n'.
std::string index_line(const Record& r);
// The record of one line (without its '\n'); nullopt for a line that is not exactly one
// record (a field missing or too many, a number that is not one, a bad escape).
std::optional<Record> parse_index_line(std::string_view line);
// Calls f with each record of a whole index file, one after another (ps keeps none of them:
// its rows are all it needs). Lines that do not parse, and a last line that does not end in
// '\n', are left out (their records are read from record.json instead); a file with another
// header is empty to us.
void for_each_indexed(std::string_view text, const std::function<void(Record&&)>& f);
// The same, every record by id.
std::map<std::string, Record> parse_index(std::string_view text);

// RECORDS/index as it is ("" when missing), and read and parsed.
std::string read_index_text();
std::map<std::string, Record> read_index();
// Makes id's line the copy of its record.json, or removes it when the record is gone.
void sync_index(const std::string& id);
// Writes the whole index from the record.json files (cleanup).
void rebuild_index();

}  // namespace mycontainer
