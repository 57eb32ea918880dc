// Container networking for step 5: a bridge on the host, a veth pair per container, and the
// container's end configured inside its network namespace (that part: netlink.hpp).
//
//   host network namespace                     container network namespace
//   ----------------------                     ---------------------------
//   ctr0 (bridge, 10.47.0.1/24) <- master -- vethXXXX ==== eth0 (10.47.0.2/24)
//                                              a veth pair: what enters one end leaves
//                                              the other (veth(4))
//
// A new network namespace has nothing but a loopback device that is down
// (network_namespaces(7)). The parent creates a veth pair on the host, plugs the host end
// into the bridge (a virtual switch, like the one in a home router), and moves the other end
// into the child's namespace; the child renames it eth0, gives it an address and a default
// route via the bridge. Containers on the same bridge reach each other and the host; --nat
// lets them reach further, through the host's masquerading (nat.hpp).
//
// Watch it:  ip -br link; ip -br addr; bridge link
#pragma once

#include <sys/types.h>  // pid_t

#include <optional>     // std::optional
#include <string>       // std::string
#include <string_view>  // std::string_view

#include "ctr/fd.hpp"       // UniqueFd
#include "ctr/ipv4.hpp"     // Ipv4Cidr, kDefaultSubnet
#include "ctr/netlink.hpp"  // NetlinkSocket

namespace ctr {

// The default bridge. Shared by every container that does not pass --bridge; created on
// first use and left in place (see Bridge).
inline constexpr std::string_view kDefaultBridge = "ctr0";
// The name the container sees for its end of the veth pair.
inline constexpr std::string_view kContainerInterface = "eth0";

// prefix + 8 random hex digits, "veth1a2b3c4d": unique per container without any
// coordination (2^32 choices, from getrandom(2)). prefix is at most 7 characters.
std::string unique_link_name(std::string_view prefix);

// Names for a container's veth pair, with the same random suffix so that `ip link` shows
// which two belong together: host "veth1a2b3c4d", peer "ceth1a2b3c4d" (renamed eth0 once
// inside the container).
struct VethNames {
  std::string host;
  std::string peer;
};
VethNames unique_veth_names();

// --- The bridge -------------------------------------------------------------------------

// A Linux bridge on the host with the subnet's gateway address: a virtual switch that every
// container's host-side veth is plugged into, and the host's own port on it.
//
// Shared infrastructure, not owned by any one container: ensure() creates it when missing
// and never removes it, because other containers may be using it at the same moment
// (`mycontainer cleanup` can remove it when nothing runs). ensure() is safe when several
// processes call it at once: each step accepts "exists already" (EEXIST) as success.
// The host's route that a bridge for `subnet` named `bridge` would clash with: one through
// another interface that covers some of the subnet's addresses (the default route aside),
// as "192.168.0.0/16 dev eth0". Packets for those addresses would then go one way or the
// other by prefix length, and a container could be unreachable, or shadow a real network.
// Read from route_file, the kernel's IPv4 routing table (/proc/net/route, proc(5)).
std::optional<std::string> clashing_route(Ipv4Cidr subnet, const std::string& bridge,
                                          const std::string& route_file = "/proc/net/route");

class Bridge {
 public:
  // `ip link add NAME type bridge` unless it exists, `ip addr add GATEWAY dev NAME` unless
  // it has it, `ip link set NAME up`. gateway is usually gateway_of(subnet). Addresses the
  // bridge has already stay (one bridge can serve several subnets). Throws UsageError if
  // the name is invalid or names an existing link that is not a bridge, or if the gateway's
  // subnet clashes with a route of the host's (clashing_route).
  static Bridge ensure(std::string name, Ipv4Cidr gateway);

  const std::string& name() const noexcept { return name_; }
  Ipv4Cidr gateway() const noexcept { return gateway_; }
  // True when this call created the bridge (false: it was there already).
  bool created() const noexcept { return created_; }
  // Its interface index, as ensure() found it: what IFLA_MASTER names (attach_to).
  int index() const noexcept { return index_; }

 private:
  Bridge(std::string name, Ipv4Cidr gateway, bool created, int index)
      : name_(std::move(name)), gateway_(gateway), created_(created), index_(index) {}
  std::string name_;
  Ipv4Cidr gateway_;
  bool created_ = false;
  int index_ = 0;
};

// --- The veth pair ----------------------------------------------------------------------

// Owns a veth pair by its host-side name. The destructor deletes the host end if it still
// exists, which deletes the peer too, even inside the container's namespace (veth(4)); it
// never throws. If the container's namespace dies first (the container exited), the kernel
// destroys the pair on its own and the destructor finds nothing to do.
//
// Create it in the parent, in the host namespace: the object keeps the socket it was created
// with, so its later calls and its destructor act on the host namespace.
class VethPair {
 public:
  // `ip link add HOST type veth peer name PEER`. Both ends start down, in this namespace.
  static VethPair create(std::string host_name, std::string peer_name);
  // `ip link add HOST type veth peer name PEER netns PID`: the peer is born inside the
  // network namespace of process pid, already with its final name (eth0). Faster than
  // create() + move_peer_to_netns(): moving a device between namespaces waits for RCU
  // grace periods in the kernel (dev_change_net_namespace), creating it there does not.
  static VethPair create_in_netns(std::string host_name, std::string peer_name, pid_t pid);
  // The same, with the namespace given as a descriptor (IFLA_NET_NS_FD): one made by
  // make_netns(), before any process lives in it.
  static VethPair create_in_netns(std::string host_name, std::string peer_name,
                                  const UniqueFd& netns);

  VethPair() : nl_(nullptr) {}  // no pair, and no socket until there is one
  VethPair(VethPair&& other) noexcept;
  VethPair& operator=(VethPair&& other) noexcept;
  VethPair(const VethPair&) = delete;
  VethPair& operator=(const VethPair&) = delete;
  ~VethPair() { remove(); }

  const std::string& host_name() const noexcept { return host_; }
  const std::string& peer_name() const noexcept { return peer_; }

  // `ip link set HOST master BRIDGE`: plugs the host end into the bridge.
  void attach_to(const Bridge& bridge);
  // `ip link set HOST up`.
  void up();
  // `ip link set PEER netns PID`: moves the peer into the network namespace of process pid,
  // the pid as this process sees it (what clone(2) returned), (IFLA_NET_NS_PID,
  // rtnetlink(7)). It disappears from `ip link` here and appears there, still down.
  void move_peer_to_netns(pid_t pid);
  // Deletes the pair now (`ip link del HOST`) if it still exists. Never throws.
  void remove() noexcept;
  // For a pair whose peer lives in a network namespace that is gone or going (the
  // container's last process has ended): the kernel deletes both ends itself as it tears
  // the namespace down (veth(4)), in the background, a few milliseconds later. Deleting it
  // here instead would make us wait for RCU grace periods (tens of ms). Forgets the pair.
  void leave_to_kernel() noexcept;

 private:
  VethPair(NetlinkSocket nl, std::string host, std::string peer)
      : nl_(std::move(nl)), host_(std::move(host)), peer_(std::move(peer)) {}
  NetlinkSocket nl_;  // opened in the host namespace; empty when moved from
  std::string host_;  // empty when there is nothing to delete
  std::string peer_;
};

}  // namespace ctr
