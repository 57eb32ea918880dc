#include "runtime/record.hpp"

#include <dirent.h>      // getdents64(2)
#include <fcntl.h>       // open(2)
#include <sys/file.h>    // flock(2)
#include <sys/random.h>  // getrandom(2)
#include <sys/stat.h>    // stat(2)
#include <unistd.h>      // symlink(2), geteuid(2)

#include <algorithm>
#include <chrono>
#include <ctime>    // gmtime_r(3), strptime(3), timegm(3)
#include <numeric>  // std::iota
#include <cstdlib>  // std::getenv

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "ctr/error.hpp"             // ctr::check, ctr::SyscallError
#include "runtime/record_index.hpp"  // sync_index: the index's copy of the record
#include "runtime/overlay.hpp"       // ctr::remove_overlay_dirs: a kept upper layer
#include "runtime/state.hpp"         // ctr::state_root

namespace mycontainer {

namespace fs = std::filesystem;

fs::path records_root() {
  if (const char* env = std::getenv("MC_RECORDS_ROOT"); env != nullptr && *env != '\0') {
    return env;
  }
  if (::geteuid() == 0) return "/var/lib/mycontainer";
  if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg != nullptr && *xdg == '/') {
    return fs::path(xdg) / "mycontainer";
  }
  // ~/.local/share only when HOME is really ours (a `setpriv ... env -i HOME=/` user has /).
  struct stat st {};
  if (const char* home = std::getenv("HOME");
      home != nullptr && *home == '/' && ::stat(home, &st) == 0 && st.st_uid == ::geteuid()) {
    return fs::path(home) / ".local/share/mycontainer";
  }
  return ctr::state_root() / "records";
}

fs::path record_dir(const std::string& id) {
  return records_root() / "containers" / id;
}

std::string new_container_id() {
  unsigned char bytes[32];
  if (::getrandom(bytes, sizeof bytes, 0) != static_cast<ssize_t>(sizeof bytes)) {
    throw ctr::SyscallError(errno, "getrandom");
  }
  std::string id;
  for (const unsigned char b : bytes) id += fmt::format("{:02x}", b);
  return id;
}

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string iso8601_ns(int64_t ns) {
  if (ns == 0) return "0001-01-01T00:00:00Z";  // docker's "never"
  const time_t secs = static_cast<time_t>(ns / 1000000000);
  tm t{};
  ::gmtime_r(&secs, &t);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z", t.tm_year + 1900, t.tm_mon + 1,
                     t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, ns % 1000000000);
}

int64_t ns_of_iso8601(std::string_view text) {
  // strptime(3) reads the fields, timegm(3) takes them as UTC; the whole text must be read.
  std::tm t{};
  const std::string whole(text);
  const char* end = ::strptime(whole.c_str(), "%Y-%m-%dT%H:%M:%SZ", &t);
  if (end == nullptr || *end != '\0') return 0;
  return static_cast<int64_t>(::timegm(&t)) * 1000000000;
}

std::optional<Record> read_record(const fs::path& dir) {
  const auto text = ctr::read_file((dir / "record.json").string());
  if (!text) return std::nullopt;
  try {
    const auto j = nlohmann::json::parse(*text);
    Record r;
    r.id = j.at("id");
    r.name = j.at("name");
    r.image = j.value("image", "");
    r.command = j.value("command", std::vector<std::string>{});
    r.created_ns = j.value("created_ns", int64_t{0});
    r.auto_remove = j.value("auto_remove", false);
    r.stop_timeout = j.value("stop_timeout", 10);
    r.ports = j.value("ports", std::vector<std::string>{});
    r.status = j.value("status", "created");
    r.pid = j.value("pid", 0);
    r.monitor_pid = j.value("monitor_pid", 0);
    r.monitor_start_time = j.value("monitor_start_time", 0ULL);
    r.monitor_lock = j.value("monitor_lock", uint64_t{0});  // absent in older records
    r.started_ns = j.value("started_ns", int64_t{0});
    r.finished_ns = j.value("finished_ns", int64_t{0});
    r.exit_code = j.value("exit_code", 0);
    r.restart_count = j.value("restart_count", 0);
    return r;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

void write_record_file(const fs::path& dir, const Record& r) {
  const nlohmann::json j = {{"id", r.id},
                            {"name", r.name},
                            {"image", r.image},
                            {"command", r.command},
                            {"created_ns", r.created_ns},
                            {"auto_remove", r.auto_remove},
                            {"stop_timeout", r.stop_timeout},
                            {"ports", r.ports},
                            {"status", r.status},
                            {"pid", r.pid},
                            {"monitor_pid", r.monitor_pid},
                            {"monitor_start_time", r.monitor_start_time},
                            {"monitor_lock", r.monitor_lock},
                            {"started_ns", r.started_ns},
                            {"finished_ns", r.finished_ns},
                            {"exit_code", r.exit_code},
                            {"restart_count", r.restart_count}};
  const fs::path tmp = dir / fmt::format(".record.{}.tmp", ::getpid());
  const fs::path final_path = dir / "record.json";
  {
    const ctr::UniqueFd fd(ctr::check(
        ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644), "open", tmp.string()));
    const std::string text = j.dump();
    ctr::check(::write(fd.get(), text.data(), text.size()), "write", tmp.string());
  }
  ctr::check(::rename(tmp.c_str(), final_path.c_str()), "rename", final_path.string());
}

void write_record(const fs::path& dir, const Record& r) {
  write_record_file(dir, r);
  sync_index(r.id);
}

namespace {
bool is_hex(const std::string& s) {
  return !s.empty() && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}
}  // namespace

std::optional<std::string> resolve_container(const std::string& word, bool nullopt_if_missing) {
  const fs::path root = records_root();
  std::error_code ec;
  // docker's order: a full id, then a name, then an id prefix.
  if (word.size() == 64 && is_hex(word) && fs::exists(root / "containers" / word, ec)) return word;
  if (word.find('/') == std::string::npos && !word.empty() && word[0] != '.') {
    const fs::path link = root / "names" / word;
    if (const auto target = fs::read_symlink(link, ec); !ec) {
      if (fs::exists(root / "containers" / target, ec)) return target.string();
    }
  }
  if (is_hex(word)) {
    std::optional<std::string> found;
    for (fs::directory_iterator it(root / "containers", ec), end; !ec && it != end;
         it.increment(ec)) {
      const std::string id = it->path().filename().string();
      if (id.rfind(word, 0) != 0) continue;
      if (found) {
        throw LifecycleError(fmt::format("Multiple IDs found with provided prefix: {}", word));
      }
      found = id;
    }
    if (found) return found;
  }
  if (nullopt_if_missing) return std::nullopt;
  throw LifecycleError(fmt::format("No such container: {}", ctr::printable(word)));
}

void claim_name(const std::string& name, const std::string& id) {
  const fs::path names = records_root() / "names";
  fs::create_directories(names);
  if (::symlink(id.c_str(), (names / name).c_str()) == 0) return;
  if (errno != EEXIST) throw ctr::SyscallError(errno, "symlink", (names / name).string());
  // A link whose container is gone (its record removed by a killed `rm`) is taken over.
  std::error_code ec;
  const auto target = fs::read_symlink(names / name, ec);
  if (!ec && !fs::exists(records_root() / "containers" / target, ec)) {
    fs::remove(names / name, ec);
    if (::symlink(id.c_str(), (names / name).c_str()) == 0) return;
  }
  throw LifecycleError(fmt::format(
      "Conflict. The container name \"/{}\" is already in use by container \"{}\". You have to "
      "remove (or rename) that container to be able to reuse that name.",
      name, target.string()));
}

void release_name(const std::string& name) noexcept {
  std::error_code ec;
  fs::remove(records_root() / "names" / name, ec);
}

void remove_record(const std::string& id, const std::string& name) {
  const fs::path dir = record_dir(id);
  // A name that list_record_ids() and resolve_container() pass over: not 64 hex digits.
  const fs::path away = dir.parent_path() / (".removed-" + id);
  std::error_code ec;
  const fs::path gone = ::rename(dir.c_str(), away.c_str()) == 0 ? away : dir;
  // A kept upper layer (RECORD/overlay, run -d IMAGE): overlayfs leaves work/work with mode
  // 000, which its rootless owner could not list to remove: made searchable first.
  ctr::remove_overlay_dirs(gone);
  fs::remove_all(gone, ec);
  release_name(name);
  sync_index(id);
}

RecordIds::RecordIds() {
  const fs::path dir = records_root() / "containers";
  const ctr::UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return;
  // A directory's link count is 2 and one per subdirectory (each record is one): a hint of
  // how many to make room for at once (ext4 says 1 past 65000; then the vector grows).
  struct stat st {};
  if (::fstat(fd.get(), &st) == 0 && st.st_nlink > 2) ids_.reserve(st.st_nlink - 2);
  // getdents64(2): the entries, as many as fit in the buffer per call, into one buffer used
  // again and again (readdir(3) would fill a 32 KiB one; 4 KiB here is ~45 entries a call).
  alignas(8) char buffer[4096];
  for (ssize_t n; (n = ::getdents64(fd.get(), buffer, sizeof buffer)) > 0;) {
    for (ssize_t at = 0; at < n;) {
      const auto* entry = reinterpret_cast<const struct dirent64*>(buffer + at);
      const std::string_view name(entry->d_name);
      if (name.size() == 64) std::copy(name.begin(), name.end(), ids_.emplace_back().begin());
      at += entry->d_reclen;
    }
  }
  // Sorted as strings sort (bytes as unsigned), for find().
  order_.resize(ids_.size());
  std::iota(order_.begin(), order_.end(), uint32_t{0});
  std::sort(order_.begin(), order_.end(), [&](uint32_t a, uint32_t b) { return id(a) < id(b); });
}

size_t RecordIds::find(std::string_view wanted) const {
  const auto it = std::lower_bound(order_.begin(), order_.end(), wanted,
                                   [&](uint32_t k, std::string_view b) { return id(k) < b; });
  if (it == order_.end() || id(*it) != wanted) return ids_.size();
  return static_cast<size_t>(it - order_.begin());
}

std::vector<std::string> list_record_ids() {
  const RecordIds ids;
  std::vector<std::string> list;
  list.reserve(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) list.emplace_back(ids[i]);
  return list;
}

RecordLock::RecordLock(const fs::path& dir)
    : fd_(ctr::check(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC), "open",
                     dir.string())) {
  while (::flock(fd_.get(), LOCK_EX) != 0) {
    if (errno != EINTR) throw ctr::SyscallError(errno, "flock", dir.string());
  }
}

}  // namespace mycontainer
