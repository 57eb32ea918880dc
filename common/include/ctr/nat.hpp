// NAT for containers (--nat): the host masquerades their traffic, so they reach beyond it.
#pragma once

#include <sys/types.h>  // pid_t

#include <filesystem>   // std::filesystem::path
#include <string>       // std::string
#include <string_view>  // std::string_view

#include "ctr/ipv4.hpp"  // Ipv4Cidr

namespace ctr {

// Where the NAT reference counts live (see Nat).
inline constexpr std::string_view kNetStateDir = "/run/mycontainer/net";

// Lets containers reach beyond the host: turns on IPv4 forwarding (ip-sysctl.rst,
// ip_forward) and adds a masquerade rule, so that packets from the subnet leave with the
// host's address:
//
//   iptables -t nat -A POSTROUTING -s 10.47.0.0/24 ! -o ctr0 -j MASQUERADE
//
// ("! -o ctr0": traffic between containers on the bridge keeps its addresses). libnl has no
// netfilter rule API and Debian ships no library for it, so this runs iptables(8).
//
// Several containers may use the same rule at once, so it is reference-counted across
// processes: each user is a file state_dir/nat/user.PID.N naming its subnet and bridge,
// changed under a DirLock. The rule goes when its last user goes; forwarding returns to
// its previous value (saved in state_dir/nat/ip_forward.saved) when no user is left. Users
// whose process died (SIGKILL) are noticed and dropped by the next enable or disable.
class Nat {
 public:
  // Adds this process as a user of the rule for (subnet, bridge), installing the rule and
  // enabling forwarding if needed. Throws SyscallError if iptables fails or is missing.
  static Nat enable(Ipv4Cidr subnet, std::string bridge,
                    const std::filesystem::path& state_dir = kNetStateDir);
  // True when the rule for (subnet, bridge) is installed (`iptables -t nat -C ...`).
  static bool rule_installed(Ipv4Cidr subnet, std::string_view bridge);
  // For `mycontainer cleanup`: forgets the users whose process is gone (a runtime killed with
  // SIGKILL), removes the rules no live user needs, and restores forwarding when no user is
  // left: what their destructors would have done. Nothing when no user was ever recorded.
  // Throws SyscallError, or std::runtime_error if iptables fails.
  static void release_dead_users(const std::filesystem::path& state_dir = kNetStateDir);
  // Forgets the users recorded for `owner` (and, like release_dead_users, those whose process
  // is gone), then settles the same way. For the end of a detached container: its monitor,
  // given the user by hand_over, runs this as its last act (a live process, so
  // release_dead_users would keep it); or whoever finishes the container of a monitor that
  // died but is not reaped yet (a zombie still answers kill(2)). Throws like
  // release_dead_users.
  static void release_users_of(pid_t owner, const std::filesystem::path& state_dir = kNetStateDir);

  Nat() = default;
  Nat(Nat&& other) noexcept;
  Nat& operator=(Nat&& other) noexcept;
  Nat(const Nat&) = delete;
  Nat& operator=(const Nat&) = delete;
  ~Nat() { disable(); }

  // Stops being a user now; removes the rule and restores forwarding if it was the last.
  // Never throws (failures are narrated).
  void disable() noexcept;
  // Makes another process the user instead of us, as ctr::Lease::hand_over does with an
  // address: the user file is renamed (rename(2), under the lock) to name `new_owner`, and
  // this object forgets it. `run -d`: `create` enables NAT and exits at once; the container's
  // monitor, which lives as long as the container, is the user from then on. Throws
  // SyscallError.
  void hand_over(pid_t new_owner);

 private:
  Ipv4Cidr subnet_;
  std::string bridge_;
  std::filesystem::path dir_;
  std::filesystem::path user_file_;  // empty when not a user
};

}  // namespace ctr
