// IPv4 subnets and address allocation ("IPAM", IP address management) for step 5.
//
// A container on the bridge needs an address of the bridge's subnet that no other running
// container has. There is no daemon to ask, so the running containers agree through the
// file system: each address in use is a *lease file* named after it,
//
//   /run/mycontainer/ipam/10.47.0.0-24/10.47.0.2     contents: "4242\n" (the owner's pid)
//
// created with O_CREAT|O_EXCL, which the kernel makes atomic: of two processes creating the
// same name, exactly one succeeds (open(2), O_EXCL). The owner removes its lease when the
// container ends (the Lease destructor). A runtime that was SIGKILLed cannot, so a lease
// whose pid no longer exists (kill(pid, 0) fails with ESRCH, kill(2)) is stale and is
// taken over. /run is a tmpfs (file-hierarchy(7)), so a reboot forgets every lease, as it
// should: no container survives a reboot either.
//
// Look at it while containers run:  ls -l /run/mycontainer/ipam/*/ ; cat those files.
//
// Addresses are plain uint32_t in *host* byte order (10.47.0.1 == 0x0A2F0001), so that
// "the next address" is just +1; the netlink code converts with htonl(3) at the edge.
#pragma once

#include <sys/types.h>  // pid_t

#include <cstdint>      // uint32_t, uint64_t
#include <filesystem>   // std::filesystem::path
#include <string>       // std::string
#include <string_view>  // std::string_view

#include "ctr/fd.hpp"  // UniqueFd

namespace ctr {

// Builds an address from its four dotted-quad parts: ipv4(10, 47, 0, 1) == 0x0A2F0001.
constexpr uint32_t ipv4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  return (uint32_t{a} << 24) | (uint32_t{b} << 16) | (uint32_t{c} << 8) | uint32_t{d};
}

// "10.47.0.1". Named for the address family, not std::to_string, to keep ADL out of it.
std::string format_ipv4(uint32_t address);

// Parses "A.B.C.D" (four decimal parts 0-255, no leading zeros: inet_aton(3) would read
// "010" as octal 8, so it is refused rather than guessed). Throws UsageError
// "invalid address 'x': expected A.B.C.D".
uint32_t parse_ipv4(std::string_view text);

// An address with a prefix length, "10.47.0.2/24": the first `prefix` bits name the
// network, the rest the host within it. The same type names a subnet (host bits zero,
// 10.47.0.0/24) and an interface address (10.47.0.2/24), exactly as `ip addr` shows both.
struct Ipv4Cidr {
  uint32_t addr = 0;  // host byte order
  int prefix = 0;     // 0..32

  // 255.255.255.0 for /24 (as a number: 0xFFFFFF00).
  constexpr uint32_t netmask() const { return prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix); }
  // The first address of the subnet (all host bits 0): names the network, no host may use it.
  constexpr uint32_t network() const { return addr & netmask(); }
  // The last address (all host bits 1): broadcast, no host may use it either (RFC 919).
  constexpr uint32_t broadcast() const { return network() | ~netmask(); }
  // How many addresses the subnet spans, network and broadcast included (256 for /24).
  constexpr uint64_t size() const { return uint64_t{1} << (32 - prefix); }
  // True when address lies in this subnet.
  constexpr bool contains(uint32_t address) const { return (address & netmask()) == network(); }
  // The n-th address of the subnet: host(0) is the network, host(1) the gateway by our
  // convention, host(size() - 1) the broadcast address.
  constexpr uint32_t host(uint32_t n) const { return network() + n; }
  // The subnet this address lies in: 10.47.0.2/24 -> 10.47.0.0/24.
  constexpr Ipv4Cidr subnet() const { return {network(), prefix}; }

  // "10.47.0.2/24".
  std::string to_string() const;

  friend constexpr bool operator==(const Ipv4Cidr&, const Ipv4Cidr&) = default;
};

// Parses "A.B.C.D/N". `what` names the value in the message, which reads
// "invalid subnet '10.0.0.300/24': expected A.B.C.D/N" (a UsageError).
Ipv4Cidr parse_cidr(std::string_view text, std::string_view what = "subnet");

// Parses a subnet for --subnet: a CIDR whose host bits are all zero ("10.47.0.5/24" is
// refused with "did you mean 10.47.0.0/24?") and with room for a network address, a
// gateway, at least one container and a broadcast address: prefix /30 or shorter, and /8
// or longer (a bigger one is surely a typo and would shadow most of the host's routes).
Ipv4Cidr parse_subnet(std::string_view text);

// The bridge's address in `subnet`: its first host, 10.47.0.1/24 for 10.47.0.0/24. Every
// container's default route points at it, the way a home router is usually the .1.
constexpr Ipv4Cidr gateway_of(Ipv4Cidr subnet) {
  return {subnet.host(1), subnet.prefix};
}

// The default subnet: private (RFC 1918), and away from the ranges that home routers
// (192.168.0.0/16) and docker (172.17.0.0/16) take by default, so it rarely collides.
// --subnet picks another one.
inline constexpr Ipv4Cidr kDefaultSubnet{ipv4(10, 47, 0, 0), 24};

// Checks that `address` may be given to a container of `subnet`: inside it, and not the
// network, broadcast or gateway address. Throws UsageError saying which rule it breaks,
// e.g. "address 10.48.0.5 is outside the subnet 10.47.0.0/24".
void validate_container_address(uint32_t address, Ipv4Cidr subnet);
// The same for --ip ADDR/PREFIX: the prefix must also be the subnet's (a container that
// believes in another prefix would not reach its neighbours or its gateway).
void validate_container_address(Ipv4Cidr address, Ipv4Cidr subnet);

// True when a process with this pid exists. kill(pid, 0) sends nothing and only checks
// (kill(2)); EPERM means "exists, but not yours", so only ESRCH counts as gone.
bool pid_alive(pid_t pid);

// An exclusive flock(2) on a directory, held until destruction. Every process that changes
// a shared state directory (leases, NAT users) takes it first, so "look, then act" cannot
// interleave with another process doing the same. flock locks belong to the open file
// description: two threads that each open the directory exclude each other too. The
// kernel drops the lock when the holder dies, even by SIGKILL: no stale lock is possible.
class DirLock {
 public:
  // Creates the directory (and its parents, mode 0755) if missing, then blocks until the
  // lock is ours. Throws SyscallError.
  explicit DirLock(const std::filesystem::path& dir);
  const std::filesystem::path& dir() const noexcept { return dir_; }

 private:
  std::filesystem::path dir_;
  UniqueFd fd_;
};

// Where the leases live (one directory per subnet below it).
inline constexpr std::string_view kIpamStateDir = "/run/mycontainer/ipam";

// One address held by this process: its lease file exists while this object does.
// Move-only; the destructor removes the lease file and never throws.
class Lease {
 public:
  Lease() = default;
  Lease(Lease&& other) noexcept;
  Lease& operator=(Lease&& other) noexcept;
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  ~Lease() { release(); }

  // The leased address with the subnet's prefix, ready for the interface: 10.47.0.2/24.
  Ipv4Cidr address() const noexcept { return address_; }
  const std::filesystem::path& path() const noexcept { return path_; }
  explicit operator bool() const noexcept { return !path_.empty(); }

  // Gives the address back now (unlinks the lease file). Only the process that took the
  // lease removes it: a forked child that inherited this object leaves it alone.
  void release() noexcept;

 private:
  friend class Ipam;
  Lease(Ipv4Cidr address, std::filesystem::path path, pid_t owner)
      : address_(address), path_(std::move(path)), owner_(owner) {}

  Ipv4Cidr address_;
  std::filesystem::path path_;
  pid_t owner_ = 0;
};

// Hands out addresses of one subnet to containers, through lease files under
// state_dir/<subnet> (10.47.0.0/24 -> "10.47.0.0-24": '/' cannot be part of a file name).
// The state directory is a parameter so that unit tests can use a temporary one.
class Ipam {
 public:
  explicit Ipam(Ipv4Cidr subnet, const std::filesystem::path& state_dir = kIpamStateDir);

  // The lowest free address, skipping the network address, the gateway (the bridge has
  // it) and the broadcast address. The lease file records getpid(). Throws UsageError
  // when every address is taken, SyscallError when the state directory is unusable.
  Lease allocate();
  // Takes a lease on the address the user asked for (--ip). Validates it first
  // (validate_container_address), then throws UsageError "address 10.47.0.5 is already
  // used by another container" if a live process holds it.
  Lease reserve(Ipv4Cidr address);

  Ipv4Cidr subnet() const noexcept { return subnet_; }
  // The directory holding this subnet's leases.
  const std::filesystem::path& dir() const noexcept { return dir_; }

 private:
  // Tries to take address; false if a live process holds it. Call with the lock held.
  bool try_take(uint32_t address, Lease& out);

  Ipv4Cidr subnet_;
  std::filesystem::path dir_;
};

}  // namespace ctr
