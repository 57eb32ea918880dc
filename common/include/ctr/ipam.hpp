// Address allocation ("IPAM", IP address management) for step 5.
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
// Finding a free address must not cost more as containers add up (issue 14): a start that
// tried every address from the lowest up paid one failed create, one read and one kill(2) per
// running container (1,100 syscalls at 200). So the directory also holds a hint, ".next": the
// address after the one handed out last. Allocation starts there and goes round the subnet
// (what CNI's host-local plugin does with its "last_reserved_ip"): the next address is almost
// always free, so one probe suffices however many leases exist. Round-robin also delays the
// reuse of a released address, so a new container does not inherit a stale ARP entry of the
// one that just left. The hint is only a hint: a lost or garbled one means starting at the
// lowest address again, and the O_EXCL create below stays what makes an address exclusive.
//
// Look at it while containers run:  ls -l /run/mycontainer/ipam/*/ ; cat those files.
//
// The addresses and subnets themselves (Ipv4Cidr, the parsers) are in ipv4.hpp; the lock that
// makes "look, then take" safe between processes is in dirlock.hpp.
#pragma once

#include <sys/types.h>  // pid_t

#include <cstdint>      // uint32_t
#include <filesystem>   // std::filesystem::path
#include <string_view>  // std::string_view

#include "ctr/ipv4.hpp"  // Ipv4Cidr

namespace ctr {

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
  // Gives the lease to another process, which then holds the address (its pid is written
  // into the lease file, atomically: a temporary file renamed over it) and this object
  // forgets it. A detached container's monitor outlives the `create` that took the lease:
  // the lease must name the monitor, or the next container would take it as stale.
  void hand_over(pid_t new_owner);

 private:
  friend class Ipam;
  Lease(Ipv4Cidr address, std::filesystem::path path, pid_t owner)
      : address_(address), path_(std::move(path)), owner_(owner) {}

  Ipv4Cidr address_;
  std::filesystem::path path_;
  pid_t owner_ = 0;
};

// Gives back every lease, of any subnet under state_dir, that names `owner` as its holder:
// what a runtime killed with SIGKILL could not release itself (`mycontainer cleanup`). Each
// subnet's directory is locked while it is looked at, so an address another container has
// taken over since is never freed under it. Returns how many leases it removed.
int release_leases_of(pid_t owner, const std::filesystem::path& state_dir = kIpamStateDir);

// Hands out addresses of one subnet to containers, through lease files under
// state_dir/<subnet> (10.47.0.0/24 -> "10.47.0.0-24": '/' cannot be part of a file name).
// The state directory is a parameter so that unit tests can use a temporary one.
class Ipam {
 public:
  explicit Ipam(Ipv4Cidr subnet, const std::filesystem::path& state_dir = kIpamStateDir);

  // The first free address from the hint (".next", see the top) on, going round the subnet,
  // skipping the network address, the gateway (the bridge has it) and the broadcast address.
  // The lease file records getpid(). Throws UsageError when every address is taken,
  // SyscallError when the state directory is unusable.
  Lease allocate();
  // Takes a lease on the address the user asked for (--ip). Validates it first
  // (validate_container_address), then throws UsageError "address 10.47.0.5 is already
  // used by another container" if a live process holds it.
  Lease reserve(Ipv4Cidr address);

  Ipv4Cidr subnet() const noexcept { return subnet_; }
  // The directory holding this subnet's leases.
  const std::filesystem::path& dir() const noexcept { return dir_; }
  // How many addresses the last allocate() looked at (1 when the hint's address was free):
  // what stays constant as leases add up.
  int last_probes() const noexcept { return probes_; }

 private:
  // The hint file's address, or the first host address when it is missing or not one of
  // this subnet's host addresses. Call with the lock held.
  uint32_t read_hint() const;
  void write_hint(uint32_t next) const;

  // Tries to take address; false if a live process holds it. Call with the lock held.
  bool try_take(uint32_t address, Lease& out);

  Ipv4Cidr subnet_;
  std::filesystem::path dir_;
  int probes_ = 0;
};

}  // namespace ctr
