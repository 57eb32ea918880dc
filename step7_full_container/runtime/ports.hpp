// Published ports (`run -p 8080:80`): a port of the host that leads to a port of a container
// on the bridge. NEW in step 7 (issue 14).
//
// Nothing listens on the host's port: the kernel rewrites the destination of each packet to
// it (DNAT, "destination NAT", iptables-extensions(8) DNAT), and connection tracking rewrites
// the replies back (conntrack(8)). Five rules per port, each tagged with a comment naming the
// container, so that they are found and removed with it (also by `cleanup` after the runtime
// was killed):
//
//   -t nat -A PREROUTING  -p tcp -m addrtype --dst-type LOCAL --dport 8080
//          -m comment --comment mycontainer:web -j DNAT --to-destination 10.47.0.2:80
//       packets from other machines (and from containers) to any address of the host
//   -t nat -A OUTPUT      (the same match and target)
//       the host's own connections to its own addresses: locally made packets never pass
//       PREROUTING (the netfilter hooks: PREROUTING is for packets that arrive on a link)
//   -t nat -A POSTROUTING -p tcp -s 127.0.0.0/8 -d 10.47.0.2 --dport 80 -o ctr0
//          -m comment --comment mycontainer:web -j MASQUERADE
//       a connection to 127.0.0.1:8080 leaves with 127.0.0.1 as its source, which the
//       container would answer to its own loopback: it gets the bridge's address instead.
//       Such a packet may only be routed out of ctr0 at all with route_localnet=1 on it
//       (ip-sysctl.rst, route_localnet: "Do not consider loopback addresses as martian
//       source or destination while routing"), set while a port is published on the bridge.
//   -t nat -A POSTROUTING -p tcp -s 10.47.0.0/24 -d 10.47.0.2 --dport 80 -o ctr0
//          -m conntrack --ctstate DNAT -m comment ... -j MASQUERADE
//       hairpin: another container of the bridge that connects to 10.47.0.1:8080 is DNAT'd
//       to 10.47.0.2:80 and routed back out of ctr0; 10.47.0.2 would answer it directly over
//       the bridge, from an address it never asked, and its connection would be reset. With
//       the bridge's address as source, the answer comes back through the host, where
//       conntrack undoes both rewrites. `--ctstate DNAT`: only connections that came through
//       a host address; one made straight to 10.47.0.2:80 keeps its source.
//   -t filter -I FORWARD  -p tcp -d 10.47.0.2 --dport 80 -o ctr0 -m comment ... -j ACCEPT
//       when the host's firewall drops forwarded packets by default (docker sets that)
//
// Packets from other machines are forwarded, so publishing a port also turns on IPv4
// forwarding (ctr::Nat, which restores it when the last user is gone). docker does the same
// with a userspace proxy (docker-proxy) for 127.0.0.1 instead of the masquerade rule.
//
// Which container has which host port is decided under a lock, by a claim file per port:
//   /run/mycontainer/net/ports/tcp.8080      contents: "web 4242 ctr0" (name, pid, bridge)
// created with O_EXCL; a claim whose pid is gone (a SIGKILLed runtime) is stale and taken
// over, its rules removed first. A detached container's claims name its monitor, which lives
// as long as the container does (`create`, which made them, hands them over and exits). A port a
// host process has bound is refused as well (we try to bind it ourselves, bind(2) EADDRINUSE): the
// DNAT rule would take its traffic away. Look at it:  sudo iptables -t nat -S | grep mycontainer ;
// ls /run/mycontainer/net/ports
#pragma once

#include <sys/types.h>  // pid_t

#include <cstdint>      // uint16_t, uint32_t
#include <filesystem>   // std::filesystem::path
#include <optional>     // std::optional
#include <string>       // std::string
#include <string_view>  // std::string_view
#include <vector>       // std::vector

#include "ctr/ipv4.hpp"  // Ipv4Cidr

namespace ctr {

enum class Protocol { kTcp, kUdp };

// One -p value: [IP:]HOSTPORT:PORT[/tcp|udp], docker's syntax.
struct PortMapping {
  std::optional<uint32_t> host_ip;  // only packets to this address of the host (else any)
  uint16_t host_port = 0;
  uint16_t container_port = 0;
  Protocol protocol = Protocol::kTcp;
  bool operator==(const PortMapping&) const = default;
};

// "8080:80", "127.0.0.1:8080:80/udp" -> PortMapping. Ports 1 to 65535. Throws UsageError
// "invalid port mapping '...': expected [IP:]HOSTPORT:PORT[/tcp|udp]".
PortMapping parse_port_mapping(std::string_view text);
// Back to the canonical text: "8080:80/tcp", "127.0.0.1:8080:80/udp".
std::string to_string(const PortMapping& port);

// Where the port claims live.
inline constexpr std::string_view kPortsStateDir = "/run/mycontainer/net/ports";

// The comment that tags a container's rules: "mycontainer:NAME".
std::string port_rule_tag(std::string_view container);

// `bridge link set dev VETH hairpin on` (bridge(8)): the bridge may send a frame back out of
// the port it came in on. A container that publishes a port and connects to it through a
// host address (10.47.0.1:8080 from 10.47.0.2) needs it: after the DNAT its own packets go
// back to it through the same port. Set on the container's veth when it publishes a port;
// it goes with the veth.
void enable_hairpin(const std::string& host_veth);

// A container's published ports: rules installed and ports claimed while this object lives.
// Move-only; the destructor removes them and never throws.
class PublishedPorts {
 public:
  // Claims every port (refusing, with nothing changed, a port another live container has
  // published or a host process has bound: UsageError "port 8080/tcp is already ..."), sets
  // route_localnet on the bridge, and installs the rules above. Throws UsageError, or
  // std::runtime_error if iptables fails (what was installed is removed again).
  static PublishedPorts publish(const std::string& container, const std::string& bridge,
                                Ipv4Cidr subnet, uint32_t container_ip,
                                const std::vector<PortMapping>& ports,
                                const std::filesystem::path& state_dir = kPortsStateDir);
  // For `cleanup` (and the detached containers' teardown): removes every rule tagged with
  // the container's name and its claims whose runtime is gone, is us, or is `gone_owner` (a
  // dead monitor that its parent has not reaped yet still looks alive to kill(2)), and
  // restores route_localnet on bridges that no longer publish a port. Never throws; nothing
  // to do when no claim was ever made.
  static void remove_for(const std::string& container,
                         const std::filesystem::path& state_dir = kPortsStateDir,
                         pid_t gone_owner = 0) noexcept;
  // True when some rule carries the container's tag (for tests and `cleanup`'s report).
  static bool rules_present(const std::string& container);

  PublishedPorts() = default;
  PublishedPorts(PublishedPorts&& other) noexcept;
  PublishedPorts& operator=(PublishedPorts&& other) noexcept;
  PublishedPorts(const PublishedPorts&) = delete;
  PublishedPorts& operator=(const PublishedPorts&) = delete;
  ~PublishedPorts() { unpublish(); }
  // Removes the rules and claims now (only in the process that made them). Never throws.
  void unpublish() noexcept;
  // Gives the ports to another process, as ctr::Lease::hand_over gives the address: each
  // claim is rewritten (a temporary file renamed over it, under the lock) to name
  // `new_owner`, and this object forgets them, so its destructor leaves the rules in place.
  // `run -d`: the monitor owns them from now on, and its last act (`monitor-exit`, the same
  // pid) removes them with the container. Throws SyscallError.
  void hand_over(pid_t new_owner);

 private:
  std::string container_;
  std::string bridge_;
  std::filesystem::path dir_;
  std::vector<std::filesystem::path> claims_;  // the claim files this object wrote
  pid_t owner_ = 0;                            // 0: nothing published
};

}  // namespace ctr
