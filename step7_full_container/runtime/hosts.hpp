// Names on the bridge, and the three files of /etc a container's network needs. NEW in step 7
// (issue 14).
//
// Containers on one bridge reach each other by name through /etc/hosts (hosts(5)): each
// bridge has one hosts file that lists every container on it,
//
//   /run/mycontainer/net/hosts/ctr0/hosts
//     127.0.0.1   localhost
//     ::1         localhost ip6-localhost ip6-loopback
//     10.47.0.2   web
//     10.47.0.3   db
//
// and every container on the bridge has it bind-mounted, read-only, over its /etc/hosts. A
// container that starts adds its line, one that ends removes it, and all the others see the
// change at once: a bind mount shows the file itself (the inode), not a copy. So the file is
// rewritten in place (pwrite + ftruncate, under a lock), never replaced by rename(2): a
// renamed-in file is a new inode, which the containers' mounts would never see. (A reader
// that opens it in the middle of a rewrite can see a mix of the two; docker rewrites its
// hosts files the same way.) Read-only inside: a container cannot rewrite another's name.
//
// One shared file instead of one per container: a start writes one file, however many
// containers run (issue 14: a start must not cost more as containers add up).
//
// Beside it, per container, in its state directory: /etc/hostname (its host name) and
// /etc/resolv.conf (the host's nameservers, those that are not loopback addresses: 127.0.0.53
// means systemd-resolved on the host, which the container cannot reach from its own network
// namespace; docker drops them the same way). With --net none: no nameserver, and a hosts
// file of its own with localhost and its host name.
#pragma once

#include <cstdint>      // uint32_t
#include <filesystem>   // std::filesystem::path
#include <string>       // std::string
#include <string_view>  // std::string_view

namespace ctr {

// Where the bridges' hosts files live: kHostsStateDir/BRIDGE/hosts.
inline constexpr std::string_view kHostsStateDir = "/run/mycontainer/net/hosts";

// The container's line in its bridge's hosts file, there while this object lives.
// Move-only; the destructor removes the line and never throws.
class HostsEntry {
 public:
  // Adds "IP NAME [HOSTNAME]" to the bridge's hosts file (made, with the localhost lines, if
  // missing), replacing any line with this address or this name: one left by a runtime that
  // was killed (its address and name are free again, or we could not have them). Throws
  // SyscallError.
  static HostsEntry add(const std::string& bridge, uint32_t address, const std::string& name,
                        const std::string& hostname,
                        const std::filesystem::path& state_dir = kHostsStateDir);
  // Removes the container's line (by name): for `cleanup` and the detached containers'
  // teardown. Never throws.
  static void remove(const std::string& bridge, const std::string& name,
                     const std::filesystem::path& state_dir = kHostsStateDir) noexcept;
  // The file the containers on `bridge` mount over /etc/hosts.
  static std::filesystem::path file_of(const std::string& bridge,
                                       const std::filesystem::path& state_dir = kHostsStateDir);

  HostsEntry() = default;
  HostsEntry(HostsEntry&& other) noexcept;
  HostsEntry& operator=(HostsEntry&& other) noexcept;
  HostsEntry(const HostsEntry&) = delete;
  HostsEntry& operator=(const HostsEntry&) = delete;
  ~HostsEntry();
  // Leaves the line in the file when this object goes: `run -d`'s `create` exits at once, and
  // the line must stay as long as the container runs; whoever removes the container removes
  // it by name (remove(), from the bridge its state records).
  void leave() noexcept { owner_ = 0; }

 private:
  std::string bridge_, name_;
  std::filesystem::path dir_;
  int owner_ = 0;  // the pid that added it; 0: none
};

// The container's /etc/resolv.conf from the host's: its nameserver lines whose address is not
// a loopback one (127.0.0.0/8, ::1), and its search/domain/options lines.
std::string container_resolv_conf(std::string_view host_resolv_conf);
// /etc/hosts of a container without a bridge (--net none): localhost and its host name.
std::string standalone_hosts(const std::string& hostname);

}  // namespace ctr
