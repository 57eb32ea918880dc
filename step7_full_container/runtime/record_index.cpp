#include "runtime/record_index.hpp"

#include <fcntl.h>     // open(2)
#include <sys/file.h>  // flock(2)
#include <sys/stat.h>  // fstat(2)
#include <unistd.h>    // write(2), getpid(2)

#include <charconv>  // std::from_chars
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

// --- Reading a line: the fields one by one, left to right ---

class Fields {
 public:
  explicit Fields(std::string_view line) : rest_(line) {}

  // The next field, unescaped; nullopt when there is none or its escapes are bad.
  std::optional<std::string> text() {
    if (done_) return std::nullopt;
    const auto tab = rest_.find('\t');
    const std::string_view raw = rest_.substr(0, tab);
    if (tab == std::string_view::npos) {
      done_ = true;
    } else {
      rest_.remove_prefix(tab + 1);
    }
    std::string out;
    out.reserve(raw.size());
    for (size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] != '\\') {
        out += raw[i];
        continue;
      }
      if (++i == raw.size()) return std::nullopt;
      switch (raw[i]) {
        case '\\':
          out += '\\';
          break;
        case 't':
          out += '\t';
          break;
        case 'n':
          out += '\n';
          break;
        default:
          return std::nullopt;
      }
    }
    return out;
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

  // count fields more, as a list (a count first: "2\ta\tb").
  std::optional<std::vector<std::string>> list() {
    const auto count = number<size_t>();
    if (!count || *count > 4096) return std::nullopt;
    std::vector<std::string> words;
    words.reserve(*count);
    for (size_t i = 0; i < *count; ++i) {
      auto word = text();
      if (!word) return std::nullopt;
      words.push_back(std::move(*word));
    }
    return words;
  }

  bool at_end() const { return done_; }

 private:
  std::string_view rest_;
  bool done_ = false;
};

bool is_record_id(const std::string& id) {
  return id.size() == 64 && id.find_first_not_of("0123456789abcdef") == std::string::npos;
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

std::optional<Record> parse_index_line(std::string_view line) {
  Fields f(line);
  Record r;
  auto id = f.text(), name = f.text(), image = f.text();
  if (!id || !is_record_id(*id) || !name || name->empty() || !image) return std::nullopt;
  r.id = std::move(*id);
  r.name = std::move(*name);
  r.image = std::move(*image);
  const auto created = f.number<int64_t>();
  const auto auto_remove = f.number<int>();
  const auto stop_timeout = f.number<int>();
  auto status = f.text();
  const auto pid = f.number<pid_t>();
  const auto monitor_pid = f.number<pid_t>();
  const auto monitor_start = f.number<unsigned long long>();
  const auto monitor_lock = f.number<uint64_t>();
  const auto started = f.number<int64_t>();
  const auto finished = f.number<int64_t>();
  const auto exit_code = f.number<int>();
  const auto restarts = f.number<int>();
  auto ports = f.list();
  auto command = f.list();
  if (!created || !auto_remove || *auto_remove > 1 || !stop_timeout || !status ||
      (*status != "created" && *status != "running" && *status != "exited") || !pid ||
      !monitor_pid || !monitor_start || !monitor_lock || !started || !finished || !exit_code ||
      !restarts || !ports || !command || !f.at_end()) {
    return std::nullopt;
  }
  r.created_ns = *created;
  r.auto_remove = *auto_remove == 1;
  r.stop_timeout = *stop_timeout;
  r.status = std::move(*status);
  r.pid = *pid;
  r.monitor_pid = *monitor_pid;
  r.monitor_start_time = *monitor_start;
  r.monitor_lock = *monitor_lock;
  r.started_ns = *started;
  r.finished_ns = *finished;
  r.exit_code = *exit_code;
  r.restart_count = *restarts;
  r.ports = std::move(*ports);
  r.command = std::move(*command);
  return r;
}

void for_each_indexed(std::string_view text, const std::function<void(Record&&)>& f) {
  const auto first = text.find('\n');
  if (first == std::string_view::npos || text.substr(0, first) != kIndexHeader) return;
  text.remove_prefix(first + 1);
  // Only whole lines: a line without its '\n' was cut short.
  for (size_t nl; (nl = text.find('\n')) != std::string_view::npos; text.remove_prefix(nl + 1)) {
    if (auto r = parse_index_line(text.substr(0, nl))) f(std::move(*r));
  }
}

std::map<std::string, Record> parse_index(std::string_view text) {
  std::map<std::string, Record> records;
  for_each_indexed(text, [&](Record&& r) { records[r.id] = std::move(r); });
  return records;
}

std::map<std::string, Record> read_index() {
  return parse_index(read_index_text());
}

std::string read_index_text() {
  // One read(2) of the file's size (fstat(2)), into a buffer made that size at once: a
  // growing string would copy the text again with each doubling.
  const ctr::UniqueFd fd(::open(index_file().c_str(), O_RDONLY | O_CLOEXEC));
  struct stat st {};
  if (!fd || ::fstat(fd.get(), &st) != 0) return {};
  std::string text(static_cast<size_t>(st.st_size), '\0');
  size_t got = 0;
  while (got < text.size()) {
    const ssize_t n = ::read(fd.get(), text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  text.resize(got);  // a shorter file (never, it is replaced whole) ends at its last '\n'
  return text;
}

void sync_index(const std::string& id) {
  const IndexLock lock;
  const std::string old = read_index_text();
  std::string text(kIndexHeader);
  text += '\n';
  // The other records' lines are copied as they are, not parsed: this runs at every write of
  // every record, and parsing 500 lines cost 3 ms of CPU. Only whole lines of this format.
  std::string_view rest = old;
  if (rest.substr(0, kIndexHeader.size() + 1) == text) {
    rest.remove_prefix(text.size());
    const std::string own = id + '\t';
    for (size_t nl; (nl = rest.find('\n')) != std::string_view::npos; rest.remove_prefix(nl + 1)) {
      if (rest.substr(0, own.size()) != own) text.append(rest.substr(0, nl + 1));
    }
  }
  // The record.json of now, not the caller's copy: of two writers of one record, the one
  // that syncs last copies what the other wrote last.
  if (const auto r = read_record(record_dir(id))) text += index_line(*r);
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
