#include "ctr/ipam.hpp"

#include <fcntl.h>   // open(2), O_* flags
#include <unistd.h>  // getpid(2), unlink(2), read(2), write(2), pwrite(2)

#include <charconv>      // std::from_chars
#include <optional>      // std::optional
#include <system_error>  // std::error_code
#include <utility>       // std::exchange

#include <fmt/format.h>  // fmt::format

#include "ctr/dirlock.hpp"  // DirLock, pid_alive
#include "ctr/error.hpp"    // check, SyscallError, UsageError
#include "ctr/fd.hpp"       // UniqueFd, read_file
#include "ctr/narrate.hpp"  // narrate

namespace ctr {

namespace {

// "10.47.0.0/24" -> "10.47.0.0-24": the subnet's directory name under the state dir.
std::string subnet_dir_name(Ipv4Cidr subnet) {
  return fmt::format("{}-{}", format_ipv4(subnet.network()), subnet.prefix);
}

// The pid recorded in a lease file: nullopt if the file is gone (released meanwhile),
// 0 if its contents are not a pid (a writer that died mid-write: treat as stale).
std::optional<pid_t> read_holder(const std::filesystem::path& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) return std::nullopt;
    check(-1, "open", path.string());
  }
  char buf[32] = {};
  const ssize_t n = check(::read(fd.get(), buf, sizeof buf - 1), "read", path.string());
  pid_t pid = 0;
  auto [end, ec] = std::from_chars(buf, buf + n, pid);
  if (ec != std::errc{} || end == buf || pid <= 0) return 0;
  return pid;
}

}  // namespace

Lease::Lease(Lease&& other) noexcept
    : address_(other.address_), path_(std::exchange(other.path_, {})), owner_(other.owner_) {}

Lease& Lease::operator=(Lease&& other) noexcept {
  if (this != &other) {
    release();
    address_ = other.address_;
    path_ = std::exchange(other.path_, {});
    owner_ = other.owner_;
  }
  return *this;
}

void Lease::release() noexcept {
  if (path_.empty()) return;
  // A child forked after the lease was taken has a copy of this object; if it ran this
  // destructor, it would free the parent's address while the parent still uses it.
  if (owner_ == ::getpid()) {
    ::unlink(path_.c_str());
    narrate({.call = fmt::format("unlink('{}')", path_.string()),
             .result = fmt::format("released {}", format_ipv4(address_.addr)),
             .shell = fmt::format("rm {}", path_.string()),
             .man = "unlink(2)"});
  }
  path_.clear();
}

void Lease::hand_over(pid_t new_owner) {
  if (path_.empty()) return;
  const std::filesystem::path tmp = path_.string() + fmt::format(".{}.tmp", ::getpid());
  {
    const UniqueFd fd(check(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644),
                            "open", tmp.string()));
    const std::string text = fmt::format("{}\n", new_owner);
    check(::write(fd.get(), text.data(), text.size()), "write", tmp.string());
  }
  check(::rename(tmp.c_str(), path_.c_str()), "rename", path_.string());
  narrate({.call = fmt::format("rename('{}', '{}')", tmp.string(), path_.string()),
           .result = fmt::format("the lease of {} now names pid {}", format_ipv4(address_.addr),
                                 new_owner),
           .shell = fmt::format("echo {} > {}", new_owner, path_.string()),
           .man = "rename(2)"});
  path_.clear();
}

Ipam::Ipam(Ipv4Cidr subnet, const std::filesystem::path& state_dir)
    : subnet_(subnet.subnet()), dir_(state_dir / subnet_dir_name(subnet)) {}

bool Ipam::try_take(uint32_t address, Lease& out) {
  const std::filesystem::path path = dir_ / format_ipv4(address);
  const pid_t self = ::getpid();
  // Three rounds at most: each round either takes the lease, finds a live holder, or
  // clears a stale/just-released file and tries the exclusive create again.
  for (int round = 0; round < 3; ++round) {
    // O_EXCL: fail with EEXIST rather than open a file that exists (open(2)). This is the
    // atomic "test and set" that makes two containers never share an address.
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (fd) {
      const std::string pid = fmt::format("{}\n", self);
      if (::write(fd.get(), pid.data(), pid.size()) != static_cast<ssize_t>(pid.size())) {
        const int saved = errno;
        ::unlink(path.c_str());
        throw SyscallError(saved, "write", path.string());
      }
      narrate({.call = fmt::format("open('{}', O_WRONLY|O_CREAT|O_EXCL)", path.string()),
               .result = fmt::format("lease on {} for pid {}", format_ipv4(address), self),
               .shell = fmt::format("(set -o noclobber; echo $$ > {})", path.string()),
               .man = "open(2)"});
      out = Lease({address, subnet_.prefix}, path, self);
      return true;
    }
    if (errno != EEXIST) check(-1, "open", path.string());

    const std::optional<pid_t> holder = read_holder(path);
    if (!holder) continue;  // released between our open and our read: try again
    if (pid_alive(*holder)) return false;
    // The holder died without releasing (SIGKILL, crash, power cut of a persistent /run):
    // the address is free again. Safe because we hold the directory lock, so no other
    // allocator can be judging the same file right now.
    narrate({.call = fmt::format("kill({}, 0)", *holder),
             .result = fmt::format("ESRCH: stale lease on {}, reusing it", format_ipv4(address)),
             .shell = fmt::format("kill -0 {}", *holder),
             .man = "kill(2)"});
    if (::unlink(path.c_str()) == -1 && errno != ENOENT) check(-1, "unlink", path.string());
  }
  return false;
}

namespace {
constexpr const char* kHintFile = ".next";  // a dot: never an address, skipped by cleanup
}  // namespace

uint32_t Ipam::read_hint() const {
  const uint32_t first = subnet_.host(2);
  const std::optional<std::string> text = read_file((dir_ / kHintFile).string());
  if (!text) return first;
  try {
    const std::string line = text->substr(0, text->find_first_of(" \n"));
    const uint32_t hint = parse_ipv4(line);
    const uint64_t n = hint - subnet_.network();
    // Not ours (another subnet's, a hand edit), or not a container's: start at the bottom.
    return subnet_.contains(hint) && n >= 2 && n + 1 < subnet_.size() ? hint : first;
  } catch (const UsageError&) {
    return first;  // garbled (a writer killed mid-write)
  }
}

// One line of fixed width ("10.47.0.5" padded with spaces), written over the old one at
// offset 0: no O_TRUNC, which on ext4 (a persistent state root) makes close(2) flush the
// file to disk (auto_da_alloc, ext4(5)), milliseconds per start.
void Ipam::write_hint(uint32_t next) const {
  const std::filesystem::path path = dir_ / kHintFile;
  UniqueFd fd(
      check(::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644), "open", path.string()));
  const std::string text = fmt::format("{:<15}\n", format_ipv4(next));
  check(::pwrite(fd.get(), text.data(), text.size(), 0), "pwrite", path.string());
}

Lease Ipam::allocate() {
  DirLock lock(dir_);
  Lease lease;
  // host(0) is the network address, host(1) the gateway, host(size - 1) the broadcast: the
  // candidates are host(2) .. host(size - 2), visited from the hint on, round the subnet.
  const uint64_t hosts = subnet_.size() - 3;
  const uint64_t start = read_hint() - subnet_.host(2);
  probes_ = 0;
  for (uint64_t i = 0; i < hosts; ++i) {
    const uint32_t address = subnet_.host(static_cast<uint32_t>(2 + (start + i) % hosts));
    ++probes_;
    if (!try_take(address, lease)) continue;
    const uint64_t next = (start + i + 1) % hosts;
    write_hint(subnet_.host(static_cast<uint32_t>(2 + next)));
    return lease;
  }
  throw UsageError(fmt::format(
      "no free address left in {}: every one is used by a running container (leases in {}); "
      "stop one, or choose a larger --subnet",
      subnet_.to_string(), dir_.string()));
}

int release_leases_of(pid_t owner, const std::filesystem::path& state_dir) {
  namespace fs = std::filesystem;
  int removed = 0;
  if (owner <= 0) return removed;  // 0 is what read_holder says of a half-written file
  std::error_code ec;
  for (fs::directory_iterator subnet(state_dir, ec), end; !ec && subnet != end;
       subnet.increment(ec)) {
    if (!subnet->is_directory()) continue;
    const DirLock lock(subnet->path());
    for (const fs::directory_entry& lease : fs::directory_iterator(subnet->path())) {
      if (lease.path().filename().string().starts_with('.')) continue;  // the hint
      if (!lease.is_regular_file() || read_holder(lease.path()) != owner) continue;
      std::error_code gone;
      if (fs::remove(lease.path(), gone)) ++removed;
      narrate({.call = fmt::format("unlink('{}')", lease.path().string()),
               .result = fmt::format("released: its holder, pid {}, is gone", owner),
               .shell = fmt::format("rm {}", lease.path().string()),
               .man = "unlink(2)"});
    }
  }
  return removed;
}

Lease Ipam::reserve(Ipv4Cidr address) {
  validate_container_address(address, subnet_);
  DirLock lock(dir_);
  Lease lease;
  if (try_take(address.addr, lease)) return lease;
  const std::filesystem::path path = dir_ / format_ipv4(address.addr);
  const pid_t holder = read_holder(path).value_or(0);
  throw UsageError(fmt::format("address {} is already used by another container (pid {}, {})",
                               format_ipv4(address.addr), holder, path.string()));
}

}  // namespace ctr
