#include "ctr/ipam.hpp"

#include <fcntl.h>     // open(2), O_* flags
#include <signal.h>    // kill(2)
#include <sys/file.h>  // flock(2)
#include <unistd.h>    // getpid(2), unlink(2), read(2), write(2)

#include <cctype>        // std::isdigit
#include <charconv>      // std::from_chars
#include <optional>      // std::optional
#include <system_error>  // std::error_code
#include <utility>       // std::exchange

#include <fmt/format.h>  // fmt::format

#include "ctr/error.hpp"    // check, SyscallError, UsageError
#include "ctr/narrate.hpp"  // narrate

namespace ctr {

namespace {

// Reads up to `max` decimal digits at the front of text; nullopt if there are none, if
// there are more, or if a number of two digits or more starts with '0'.
std::optional<uint32_t> take_number(std::string_view& text, size_t max) {
  size_t len = 0;
  while (len < text.size() && len <= max && std::isdigit(static_cast<unsigned char>(text[len])))
    ++len;
  if (len == 0 || len > max || (len > 1 && text[0] == '0')) return std::nullopt;
  uint32_t value = 0;
  std::from_chars(text.data(), text.data() + len, value);
  text.remove_prefix(len);
  return value;
}

std::optional<uint32_t> try_parse_ipv4(std::string_view text) {
  uint32_t address = 0;
  for (int part = 0; part < 4; ++part) {
    if (part > 0) {
      if (text.empty() || text.front() != '.') return std::nullopt;
      text.remove_prefix(1);
    }
    auto value = take_number(text, 3);
    if (!value || *value > 255) return std::nullopt;
    address = (address << 8) | *value;
  }
  if (!text.empty()) return std::nullopt;
  return address;
}

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

std::string format_ipv4(uint32_t address) {
  return fmt::format("{}.{}.{}.{}", address >> 24, (address >> 16) & 0xff, (address >> 8) & 0xff,
                     address & 0xff);
}

uint32_t parse_ipv4(std::string_view text) {
  if (auto address = try_parse_ipv4(text)) return *address;
  throw UsageError(fmt::format("invalid address '{}': expected A.B.C.D", text));
}

std::string Ipv4Cidr::to_string() const {
  return fmt::format("{}/{}", format_ipv4(addr), prefix);
}

Ipv4Cidr parse_cidr(std::string_view text, std::string_view what) {
  const auto slash = text.find('/');
  std::optional<uint32_t> address;
  if (slash != std::string_view::npos) address = try_parse_ipv4(text.substr(0, slash));
  std::string_view rest = slash == std::string_view::npos ? "" : text.substr(slash + 1);
  auto prefix = take_number(rest, 2);
  if (!address || !prefix || !rest.empty())
    throw UsageError(fmt::format("invalid {} '{}': expected A.B.C.D/N", what, text));
  if (*prefix > 32)
    throw UsageError(
        fmt::format("invalid {} '{}': the prefix length N must be 0 to 32", what, text));
  return {*address, static_cast<int>(*prefix)};
}

Ipv4Cidr parse_subnet(std::string_view text) {
  const Ipv4Cidr subnet = parse_cidr(text, "subnet");
  if (subnet.addr != subnet.network())
    throw UsageError(fmt::format("invalid subnet '{}': host bits are set (did you mean {}?)", text,
                                 subnet.subnet().to_string()));
  if (subnet.prefix > 30)
    throw UsageError(
        fmt::format("subnet {} is too small: use /30 or shorter (it needs a network, a gateway, a "
                    "container and a broadcast address)",
                    text));
  if (subnet.prefix < 8)
    throw UsageError(fmt::format("subnet {} is too large: use /8 or longer", text));
  return subnet;
}

void validate_container_address(uint32_t address, Ipv4Cidr subnet) {
  const std::string a = format_ipv4(address);
  const std::string s = subnet.subnet().to_string();
  if (!subnet.contains(address))
    throw UsageError(fmt::format("address {} is outside the subnet {}", a, s));
  if (address == subnet.network())
    throw UsageError(fmt::format("address {} is the network address of {}, not a host", a, s));
  if (address == subnet.broadcast())
    throw UsageError(fmt::format("address {} is the broadcast address of {}, not a host", a, s));
  if (address == gateway_of(subnet).addr)
    throw UsageError(
        fmt::format("address {} is the gateway of {} (the bridge's own address)", a, s));
}

void validate_container_address(Ipv4Cidr address, Ipv4Cidr subnet) {
  if (address.prefix != subnet.prefix)
    throw UsageError(fmt::format("address {} does not match the subnet {}: use {}/{}",
                                 address.to_string(), subnet.subnet().to_string(),
                                 format_ipv4(address.addr), subnet.prefix));
  validate_container_address(address.addr, subnet);
}

bool pid_alive(pid_t pid) {
  return pid > 0 && (::kill(pid, 0) == 0 || errno != ESRCH);
}

DirLock::DirLock(const std::filesystem::path& dir) : dir_(dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);  // "exists already" is not an error here
  if (ec) throw SyscallError(ec.value(), "mkdir", dir_.string());
  fd_ = UniqueFd(
      check(::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC), "open", dir_.string()));
  // Blocks until every other holder is done; a signal may interrupt the wait (EINTR).
  while (::flock(fd_.get(), LOCK_EX) == -1) {
    if (errno != EINTR) check(-1, "flock", dir_.string());
  }
}

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

Lease Ipam::allocate() {
  DirLock lock(dir_);
  Lease lease;
  // host(0) is the network address, host(1) the gateway, host(size - 1) the broadcast.
  for (uint64_t n = 2; n + 1 < subnet_.size(); ++n) {
    if (try_take(subnet_.host(static_cast<uint32_t>(n)), lease)) return lease;
  }
  throw UsageError(fmt::format(
      "no free address left in {}: every one is used by a running container (leases in {}); "
      "stop one, or choose a larger --subnet",
      subnet_.to_string(), dir_.string()));
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
