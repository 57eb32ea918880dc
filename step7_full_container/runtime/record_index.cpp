#include "runtime/record_index.hpp"

#include <fcntl.h>     // open(2)
#include <sys/file.h>  // flock(2)
#include <sys/mman.h>  // mmap(2)
#include <sys/stat.h>  // fstat(2)
#include <unistd.h>    // write(2), getpid(2)

#include <algorithm>  // std::all_of, std::sort, std::binary_search
#include <charconv>   // std::from_chars
#include <vector>

#include <fmt/format.h>

#include "ctr/error.hpp"  // ctr::check, ctr::SyscallError
#include "ctr/fd.hpp"     // ctr::UniqueFd, ctr::read_file

namespace mycontainer {

namespace fs = std::filesystem;

namespace {

// --- Writing a line ---

void put_field(std::string& out, std::string_view text) {
  out += '\t';
  for (const char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

template <typename Number>
void put_number(std::string& out, Number n) {
  out += '\t';
  out += fmt::format("{}", n);
}

// --- Reading a line: the fields one by one, left to right, as views into it ---

// Whether each backslash of a field starts one of the three escapes.
bool escapes_valid(std::string_view raw) {
  for (size_t i = raw.find('\\'); i != std::string_view::npos; i = raw.find('\\', i + 2)) {
    if (i + 1 == raw.size() || (raw[i + 1] != '\\' && raw[i + 1] != 't' && raw[i + 1] != 'n')) {
      return false;
    }
  }
  return true;
}

class Fields {
 public:
  // A line without a backslash (nearly every one) has no escape to check in any field.
  explicit Fields(std::string_view line)
      : rest_(line), escaped_(line.find('\\') != std::string_view::npos) {}

  // The next field as written (its escapes checked, not undone); nullopt when there is none
  // or an escape is bad.
  std::optional<std::string_view> text() {
    if (done_) return std::nullopt;
    const auto tab = rest_.find('\t');
    const std::string_view raw = rest_.substr(0, tab);
    if (tab == std::string_view::npos) {
      done_ = true;
    } else {
      rest_.remove_prefix(tab + 1);
    }
    if (escaped_ && !escapes_valid(raw)) return std::nullopt;
    return raw;
  }

  // The next field as a whole number of type Number (all of it digits, in range).
  template <typename Number>
  std::optional<Number> number() {
    const auto field = text();
    if (!field || field->empty()) return std::nullopt;
    Number n{};
    const char* end = field->data() + field->size();
    const auto [at, ec] = std::from_chars(field->data(), end, n);
    if (ec != std::errc() || at != end) return std::nullopt;
    return n;
  }

  // A count, then that many fields ("2\ta\tb"): those fields as one view ("a\tb"), and the count.
  std::optional<std::pair<std::string_view, size_t>> list() {
    const auto count = number<size_t>();
    if (!count) return std::nullopt;
    const char* begin = rest_.data();
    const char* end = begin;
    for (size_t i = 0; i < *count; ++i) {
      const auto word = text();
      if (!word) return std::nullopt;
      end = word->data() + word->size();
    }
    return std::pair{std::string_view(begin, static_cast<size_t>(end - begin)), *count};
  }

  bool at_end() const { return done_; }

 private:
  std::string_view rest_;
  bool escaped_;
  bool done_ = false;
};

std::string unescaped(std::string_view field) {
  std::string out;
  unescape(field, out);
  return out;
}

std::vector<std::string> unescaped_words(std::string_view list, size_t count) {
  std::vector<std::string> words;
  words.reserve(count);
  for_each_word(list, count, [&](std::string_view word) { words.push_back(unescaped(word)); });
  return words;
}

// Calls f with each whole line of an index file after its header (none when the header is
// another version's). A last line without its '\n' was cut short: left out.
void for_each_line(std::string_view text, const std::function<void(std::string_view)>& f) {
  const auto first = text.find('\n');
  if (first == std::string_view::npos || text.substr(0, first) != kIndexHeader) return;
  text.remove_prefix(first + 1);
  for (size_t nl; (nl = text.find('\n')) != std::string_view::npos; text.remove_prefix(nl + 1)) {
    f(text.substr(0, nl));
  }
}

bool is_record_id(std::string_view id) {
  // (find_first_not_of with a set of 16 would compare each byte with each of them: a tenth of
  // ps's own instructions at 500 records, callgrind)
  return id.size() == 64 && std::all_of(id.begin(), id.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

fs::path index_file() {
  return records_root() / "index";
}

// The index's lock: flock(2) on the records directory, exclusive, until destruction. Only
// writers take it (readers rely on rename(2): they see the old file or the new one).
class IndexLock {
 public:
  IndexLock()
      : fd_(ctr::check(::open(records_root().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC), "open",
                       records_root().string())) {
    while (::flock(fd_.get(), LOCK_EX) != 0) {
      if (errno != EINTR) throw ctr::SyscallError(errno, "flock", records_root().string());
    }
  }

 private:
  ctr::UniqueFd fd_;
};

// The whole index written anew, atomically: a temporary file, then rename(2) over the old.
// text: the whole file, its header included.
void write_index(std::string_view text) {
  const fs::path tmp = records_root() / fmt::format(".index.{}.tmp", ::getpid());
  {
    // 0600: the index holds every container's command line, which record.json keeps in a
    // directory only its owner may enter (the records root itself is 0755).
    const ctr::UniqueFd fd(ctr::check(
        ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600), "open", tmp.string()));
    std::string_view left = text;
    while (!left.empty()) {
      const ssize_t n = ::write(fd.get(), left.data(), left.size());
      if (n < 0 && errno == EINTR) continue;
      ctr::check(n, "write", tmp.string());
      left.remove_prefix(static_cast<size_t>(n));
    }
  }
  ctr::check(::rename(tmp.c_str(), index_file().c_str()), "rename", index_file().string());
}

}  // namespace

std::string index_line(const Record& r) {
  std::string out;
  out.reserve(256);
  put_field(out, r.id);
  out.erase(0, 1);  // no tab before the first field
  put_field(out, r.name);
  put_field(out, r.image);
  put_number(out, r.created_ns);
  put_number(out, r.auto_remove ? 1 : 0);
  put_number(out, r.stop_timeout);
  put_field(out, r.status);
  put_number(out, r.pid);
  put_number(out, r.monitor_pid);
  put_number(out, r.monitor_start_time);
  put_number(out, r.monitor_lock);
  put_number(out, r.started_ns);
  put_number(out, r.finished_ns);
  put_number(out, r.exit_code);
  put_number(out, r.restart_count);
  put_number(out, r.ports.size());
  for (const auto& p : r.ports) put_field(out, p);
  put_number(out, r.command.size());
  for (const auto& word : r.command) put_field(out, word);
  out += '\n';
  return out;
}

std::optional<RecordView> split_index_line(std::string_view line) {
  Fields f(line);
  const auto id = f.text(), name = f.text(), image = f.text();
  const auto created = f.number<int64_t>();
  const auto auto_remove = f.number<int>();
  const auto stop_timeout = f.number<int>();
  const auto status = f.text();
  const auto pid = f.number<pid_t>();
  const auto monitor_pid = f.number<pid_t>();
  const auto monitor_start = f.number<unsigned long long>();
  const auto monitor_lock = f.number<uint64_t>();
  const auto started = f.number<int64_t>();
  const auto finished = f.number<int64_t>();
  const auto exit_code = f.number<int>();
  const auto restarts = f.number<int>();
  const auto ports = f.list();
  const auto command = f.list();
  if (!id || !name || !image || !created || !auto_remove || *auto_remove > 1 || !stop_timeout ||
      !status || !pid || !monitor_pid || !monitor_start || !monitor_lock || !started || !finished ||
      !exit_code || !restarts || !ports || !command || !f.at_end()) {
    return std::nullopt;
  }
  return RecordView{.id = *id,
                    .name = *name,
                    .image = *image,
                    .status = *status,
                    .ports = ports->first,
                    .command = command->first,
                    .port_count = ports->second,
                    .word_count = command->second,
                    .created_ns = *created,
                    .auto_remove = *auto_remove == 1,
                    .stop_timeout = *stop_timeout,
                    .pid = *pid,
                    .monitor_pid = *monitor_pid,
                    .monitor_start_time = *monitor_start,
                    .monitor_lock = *monitor_lock,
                    .started_ns = *started,
                    .finished_ns = *finished,
                    .exit_code = *exit_code,
                    .restart_count = *restarts};
}

std::optional<RecordView> view_index_line(std::string_view line) {
  const auto r = split_index_line(line);
  // The id, name and status have no escapes when right: compared as written.
  if (!r || !is_record_id(r->id) || r->name.empty() ||
      (r->status != "created" && r->status != "running" && r->status != "exited") ||
      r->port_count > 4096 || r->word_count > 4096) {
    return std::nullopt;
  }
  return r;
}

std::optional<Record> parse_index_line(std::string_view line) {
  const auto v = view_index_line(line);
  if (!v) return std::nullopt;
  return Record{.id = unescaped(v->id),
                .name = unescaped(v->name),
                .image = unescaped(v->image),
                .command = unescaped_words(v->command, v->word_count),
                .created_ns = v->created_ns,
                .auto_remove = v->auto_remove,
                .stop_timeout = v->stop_timeout,
                .ports = unescaped_words(v->ports, v->port_count),
                .status = unescaped(v->status),
                .pid = v->pid,
                .monitor_pid = v->monitor_pid,
                .monitor_start_time = v->monitor_start_time,
                .monitor_lock = v->monitor_lock,
                .started_ns = v->started_ns,
                .finished_ns = v->finished_ns,
                .exit_code = v->exit_code,
                .restart_count = v->restart_count};
}

void for_each_word(std::string_view list, size_t count,
                   const std::function<void(std::string_view)>& f) {
  for (size_t i = 0; i < count; ++i) {
    const auto tab = list.find('\t');
    f(list.substr(0, tab));
    list.remove_prefix(tab == std::string_view::npos ? list.size() : tab + 1);
  }
}

void unescape(std::string_view field, std::string& out) {
  // The text up to each backslash in one piece, then the escaped character.
  for (size_t i; (i = field.find('\\')) != std::string_view::npos && i + 1 < field.size();) {
    out.append(field.substr(0, i));
    const char c = field[i + 1];
    out += c == 't' ? '\t' : c == 'n' ? '\n' : c;  // c is '\\' (split_index_line checked)
    field.remove_prefix(i + 2);
  }
  out.append(field);
}

void for_each_indexed(std::string_view text, const std::function<void(const RecordView&)>& f) {
  for_each_line(text, [&](std::string_view line) {
    if (const auto r = view_index_line(line)) f(*r);
  });
}

std::map<std::string, Record> parse_index(std::string_view text) {
  std::map<std::string, Record> records;
  for_each_line(text, [&](std::string_view line) {
    if (auto r = parse_index_line(line)) records[r->id] = std::move(*r);
  });
  return records;
}

std::map<std::string, Record> read_index() {
  return parse_index(read_index_text());
}

MappedIndex::MappedIndex() {
  const ctr::UniqueFd fd(::open(index_file().c_str(), O_RDONLY | O_CLOEXEC));
  struct stat st {};
  if (!fd || ::fstat(fd.get(), &st) != 0 || st.st_size == 0) return;
  // MAP_POPULATE: the file's pages (in the page cache) are mapped at once, in this one system
  // call, instead of one page fault each as the text is read; nothing is copied or zeroed
  // (mmap(2)). The mapping outlives the descriptor.
  void* addr = ::mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ,
                      MAP_PRIVATE | MAP_POPULATE, fd.get(), 0);
  if (addr == MAP_FAILED) return;  // then every record is read from its record.json
  addr_ = addr;
  size_ = static_cast<size_t>(st.st_size);
}

MappedIndex::~MappedIndex() {
  if (addr_ != nullptr && unmap_) ::munmap(addr_, size_);
}

std::string read_index_text() {
  return std::string(MappedIndex().text());
}

void sync_index(const std::string& id) {
  sync_index(std::vector<std::string>{id});
}

void sync_index(const std::vector<std::string>& ids) {
  if (ids.empty()) return;
  const IndexLock lock;
  const std::string old = read_index_text();
  std::string text(kIndexHeader);
  text += '\n';
  // The other records' lines are copied as they are, not parsed: this runs at every write of
  // every record, and parsing 500 lines cost 3 ms of CPU. Only whole lines of this format.
  std::vector<std::string_view> synced(ids.begin(), ids.end());
  std::sort(synced.begin(), synced.end());
  const auto is_synced = [&](std::string_view line) {
    const auto tab = line.find('\t');
    return tab != std::string_view::npos &&
           std::binary_search(synced.begin(), synced.end(), line.substr(0, tab));
  };
  std::string_view rest = old;
  if (rest.substr(0, kIndexHeader.size() + 1) == text) {
    rest.remove_prefix(text.size());
    for (size_t nl; (nl = rest.find('\n')) != std::string_view::npos; rest.remove_prefix(nl + 1)) {
      if (!is_synced(rest.substr(0, nl))) text.append(rest.substr(0, nl + 1));
    }
  }
  // The record.json of now, not the caller's copy: of two writers of one record, the one
  // that syncs last copies what the other wrote last.
  for (const auto& id : ids) {
    if (const auto r = read_record(record_dir(id))) text += index_line(*r);
  }
  write_index(text);
}

void rebuild_index() {
  std::error_code ec;
  if (!fs::is_directory(records_root(), ec)) return;  // no record was ever made
  const IndexLock lock;
  std::string text(kIndexHeader);
  text += '\n';
  for (const auto& id : list_record_ids()) {
    if (const auto r = read_record(record_dir(id))) text += index_line(*r);
  }
  write_index(text);
}

}  // namespace mycontainer
