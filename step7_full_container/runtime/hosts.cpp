// Names on the bridge: one hosts file per bridge, rewritten in place. Read hosts.hpp first.
#include "runtime/hosts.hpp"

#include <fcntl.h>   // open(2), O_* flags
#include <unistd.h>  // pread(2), pwrite(2), ftruncate(2), getpid(2)

#include <algorithm>  // std::find
#include <sstream>    // std::istringstream
#include <utility>    // std::exchange
#include <vector>     // std::vector

#include <fmt/format.h>  // fmt::format

#include "ctr/dirlock.hpp"  // DirLock
#include "ctr/error.hpp"    // check, SyscallError
#include "ctr/fd.hpp"       // UniqueFd
#include "ctr/ipv4.hpp"     // format_ipv4
#include "ctr/narrate.hpp"  // narrate

namespace ctr {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kLocalhost =
    "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n";

std::string read_all(int fd, const std::string& what) {
  std::string text;
  char buf[8192];
  for (off_t offset = 0;;) {
    const ssize_t n = check(::pread(fd, buf, sizeof buf, offset), "pread", what);
    if (n == 0) return text;
    text.append(buf, static_cast<size_t>(n));
    offset += n;
  }
}

// Rewrites the file under the bridge's lock: `edit` gets its lines (without the localhost
// header) and changes them. In place, on the same inode (see hosts.hpp): pwrite(2) from the
// start, then ftruncate(2) to the new length.
template <typename Edit>
void rewrite(const fs::path& dir, Edit edit) {
  const DirLock lock(dir);
  const fs::path path = dir / "hosts";
  const UniqueFd fd(
      check(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644), "open", path.string()));
  std::vector<std::string> lines;
  std::istringstream in(read_all(fd.get(), path.string()));
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && kLocalhost.find(line + "\n") == std::string_view::npos)
      lines.push_back(line);
  }
  edit(lines);
  // The last container has left: nothing mounts the file any more (each container that does
  // has its line), so it goes, and the next container makes a new one.
  if (lines.empty()) {
    check(::unlink(path.c_str()), "unlink", path.string());
    return;
  }
  std::string text(kLocalhost);
  for (const std::string& line : lines) text += line + "\n";
  if (check(::pwrite(fd.get(), text.data(), text.size(), 0), "pwrite", path.string()) !=
      static_cast<ssize_t>(text.size()))
    throw SyscallError(EIO, "pwrite", path.string());
  check(::ftruncate(fd.get(), static_cast<off_t>(text.size())), "ftruncate", path.string());
}

// "10.47.0.2\tweb web-host": the address and the names of a line.
std::vector<std::string> words_of(const std::string& line) {
  std::vector<std::string> words;
  std::istringstream in(line);
  for (std::string w; in >> w;) words.push_back(w);
  return words;
}

// Drops the lines with this address or this name.
void drop(std::vector<std::string>& lines, const std::string& address, const std::string& name) {
  std::erase_if(lines, [&](const std::string& line) {
    const auto words = words_of(line);
    return words.empty() || words[0] == address ||
           std::find(words.begin() + 1, words.end(), name) != words.end();
  });
}

}  // namespace

fs::path HostsEntry::file_of(const std::string& bridge, const fs::path& state_dir) {
  return state_dir / bridge / "hosts";
}

HostsEntry HostsEntry::add(const std::string& bridge, uint32_t address, const std::string& name,
                           const std::string& hostname, const fs::path& state_dir) {
  HostsEntry entry;
  const std::string ip = format_ipv4(address);
  std::string line = fmt::format("{}\t{}", ip, name);
  if (!hostname.empty() && hostname != name) line += " " + hostname;
  rewrite(state_dir / bridge, [&](std::vector<std::string>& lines) {
    drop(lines, ip, name);
    lines.push_back(line);
  });
  narrate({.call = fmt::format("pwrite('{}')", file_of(bridge, state_dir).string()),
           .result = fmt::format("added \"{}\"", line),
           .shell = fmt::format("echo '{}' >> {}", line, file_of(bridge, state_dir).string()),
           .man = "hosts(5)"});
  entry.bridge_ = bridge;
  entry.name_ = name;
  entry.dir_ = state_dir;
  entry.owner_ = ::getpid();
  return entry;
}

void HostsEntry::remove(const std::string& bridge, const std::string& name,
                        const fs::path& state_dir) noexcept {
  try {
    if (!fs::exists(file_of(bridge, state_dir))) return;
    rewrite(state_dir / bridge, [&](std::vector<std::string>& lines) { drop(lines, "", name); });
    narrate(
        {.call = fmt::format("pwrite('{}')", file_of(bridge, state_dir).string()),
         .result = fmt::format("removed {}", name),
         .shell = fmt::format("sed -i '/\\s{}$/d' {}", name, file_of(bridge, state_dir).string()),
         .man = "hosts(5)"});
  } catch (...) {
  }
}

HostsEntry::HostsEntry(HostsEntry&& other) noexcept
    : bridge_(std::move(other.bridge_)),
      name_(std::move(other.name_)),
      dir_(std::move(other.dir_)),
      owner_(std::exchange(other.owner_, 0)) {}

HostsEntry& HostsEntry::operator=(HostsEntry&& other) noexcept {
  if (this != &other) {
    if (owner_ == ::getpid()) remove(bridge_, name_, dir_);
    bridge_ = std::move(other.bridge_);
    name_ = std::move(other.name_);
    dir_ = std::move(other.dir_);
    owner_ = std::exchange(other.owner_, 0);
  }
  return *this;
}

HostsEntry::~HostsEntry() {
  if (owner_ == ::getpid()) remove(bridge_, name_, dir_);
}

std::string container_resolv_conf(std::string_view host) {
  std::string out;
  std::istringstream in{std::string(host)};
  for (std::string line; std::getline(in, line);) {
    const auto words = words_of(line);
    if (words.empty()) continue;
    if (words[0] == "nameserver" && words.size() >= 2) {
      const std::string& ns = words[1];
      if (ns.starts_with("127.") || ns == "::1") continue;  // the host's own resolver
      out += "nameserver " + ns + "\n";
    } else if (words[0] == "search" || words[0] == "domain" || words[0] == "options") {
      out += line + "\n";
    }
  }
  return out;
}

std::string standalone_hosts(const std::string& hostname) {
  return fmt::format("{}127.0.1.1\t{}\n", kLocalhost, hostname);
}

}  // namespace ctr
