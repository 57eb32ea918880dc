// Container networking for step 5: a bridge on the host, a veth pair per container, and the
// container's end configured inside its network namespace.
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
// lets them reach further, through the host's masquerading.
//
// Every change goes through rtnetlink (rtnetlink(7)): a socket of family AF_NETLINK on which
// the program sends RTM_NEWLINK, RTM_NEWADDR, RTM_NEWROUTE... messages, exactly what the
// `ip` command sends. We use libnl-route-3 to build those messages
// (https://www.infradead.org/~tgr/libnl/doc/route.html). Each call narrates the `ip` command
// that does the same thing, so you can replay a step by hand.
//
// Which namespace a call acts on: a netlink socket talks to the network namespace its
// creator was in *when the socket was created*. The free functions below therefore open a
// fresh socket per call, in the calling thread's current namespace: call them in the child
// and they configure the child's namespace.
//
// Watch it:  ip -br link; ip -br addr; bridge link; ip monitor link address route
#pragma once

#include <sys/types.h>  // pid_t

#include <cstdint>      // uint32_t
#include <filesystem>   // std::filesystem::path
#include <memory>       // std::unique_ptr
#include <string>       // std::string
#include <string_view>  // std::string_view
#include <vector>       // std::vector

#include "ctr/fd.hpp"    // UniqueFd
#include "ctr/ipam.hpp"  // Ipv4Cidr, kDefaultSubnet

struct nl_sock;  // libnl's socket (netlink/socket.h); kept out of this header

namespace ctr {

// The default bridge. Shared by every container that does not pass --bridge; created on
// first use and left in place (see Bridge).
inline constexpr std::string_view kDefaultBridge = "ctr0";
// The name the container sees for its end of the veth pair.
inline constexpr std::string_view kContainerInterface = "eth0";
// Where the NAT reference counts live (see Nat).
inline constexpr std::string_view kNetStateDir = "/run/mycontainer/net";

// Interface names are at most IFNAMSIZ - 1 = 15 bytes (the 16th is the terminating NUL,
// netdevice(7)); the kernel also refuses "", ".", "..", and names with '/', ':' or
// whitespace (dev_valid_name() in net/core/dev.c): they would break /sys/class/net/NAME
// and the old "eth0:1" alias syntax. Throws UsageError, e.g.
// "bridge name 'averyveryverylongname' is too long: at most 15 characters (IFNAMSIZ)".
// `what` names the value in the message ("bridge", "veth", "link").
void validate_link_name(std::string_view name, std::string_view what = "link");

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

// Owns one libnl socket connected to NETLINK_ROUTE (socket(AF_NETLINK, SOCK_RAW,
// NETLINK_ROUTE), netlink(7)). Move-only; the destructor closes it.
//
// Errors: libnl returns its own codes (NLE_*), and its nl_syserr2nlerr() folds several
// kernel errnos into one. This socket keeps the kernel's original errno from the last
// NLMSG_ERROR reply, so failures read like every other SyscallError:
// "rtnl_link_add('ctr0'): Operation not permitted".
class NetlinkSocket {
 public:
  NetlinkSocket();  // throws SyscallError
  NetlinkSocket(NetlinkSocket&&) noexcept;
  NetlinkSocket& operator=(NetlinkSocket&&) noexcept;
  NetlinkSocket(const NetlinkSocket&) = delete;
  NetlinkSocket& operator=(const NetlinkSocket&) = delete;
  ~NetlinkSocket();

  nl_sock* get() const noexcept;

  // The errno behind a libnl return code: 0 when rc >= 0; else the kernel's own errno when
  // it sent one, or the closest errno to libnl's NLE_* code. Call it once per libnl call.
  int errno_of(int rc) const noexcept;
  // Throws SyscallError(errno_of(rc), call, arg) when rc < 0; returns rc.
  int check_rc(int rc, std::string_view call, std::string_view arg) const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// --- Links, in the calling thread's network namespace ------------------------------------

// True when an interface of that name exists (`ip link show NAME`).
bool link_exists(std::string_view name);
// Every interface's name (`ip -br link`), in ifindex order.
std::vector<std::string> list_links();
// Deletes an interface (`ip link del NAME`); false if there was none. Deleting one end of a
// veth pair deletes the other, wherever it is (veth(4)).
bool delete_link(std::string_view name);
// Sets an interface up (`ip link set NAME up`).
void set_link_up(std::string_view name);
// Renames an interface (`ip link set OLD name NEW`). Call it while the link is still down:
// kernels before 6.2 refuse to rename a link that is up (EBUSY from dev_change_name();
// lifted by commit bd039b5ea2a9 "net/core: Allow live renaming when an interface is up").
void rename_link(std::string_view old_name, std::string_view new_name);
// Adds an IPv4 address (`ip addr add 10.47.0.2/24 dev NAME`). The kernel then also adds the
// "connected" route for the subnet: 10.47.0.0/24 is reachable directly on NAME.
void add_address(std::string_view name, Ipv4Cidr address);
// Adds the default route (`ip route add default via GATEWAY dev NAME`): where a packet goes
// when no more specific route matches. NAME must be up, and the gateway reachable on it.
void add_default_route(std::string_view name, uint32_t gateway);

// `ip link set lo up`: a new network namespace's loopback starts down, so even 127.0.0.1
// does not work until this (network_namespaces(7)). All that --net none does.
void bring_up_loopback();

// The container side of step 5, run in the child after the parent has moved `peer` into
// the child's namespace: lo up; peer renamed to `name` (eth0) while it is still down;
// `address` added; `name` up; default route via `gateway`.
void configure_container_interface(std::string_view peer, std::string_view name, Ipv4Cidr address,
                                   uint32_t gateway);

// --- A network namespace made before its process -----------------------------------------

// A new network namespace, for a child not started yet: unshare(CLONE_NEWNET) moves this
// process into a new one, we open it (/proc/self/ns/net), and go back to the one we were in
// with setns(2). The descriptor keeps the namespace alive with nobody in it: a veth can be
// created in it (VethPair::create_in_netns) before the child exists, and the child joins it
// (join_netns). It belongs to our user namespace (user_namespaces(7)): not for a child that
// gets a user namespace of its own. Narrated.
UniqueFd make_netns();

// setns(fd, CLONE_NEWNET): the calling thread joins that network namespace
// (`nsenter --net=FILE`). Narrated.
void join_netns(const UniqueFd& netns);

// --- The bridge -------------------------------------------------------------------------

// A Linux bridge on the host with the subnet's gateway address: a virtual switch that every
// container's host-side veth is plugged into, and the host's own port on it.
//
// Shared infrastructure, not owned by any one container: ensure() creates it when missing
// and never removes it, because other containers may be using it at the same moment
// (`mycontainer cleanup` can remove it when nothing runs). ensure() is safe when several
// processes call it at once: each step accepts "exists already" (EEXIST) as success.
class Bridge {
 public:
  // `ip link add NAME type bridge` unless it exists, `ip addr add GATEWAY dev NAME` unless
  // it has it, `ip link set NAME up`. gateway is usually gateway_of(subnet). Addresses the
  // bridge has already stay (one bridge can serve several subnets). Throws UsageError if
  // the name is invalid or names an existing link that is not a bridge.
  static Bridge ensure(std::string name, Ipv4Cidr gateway);

  const std::string& name() const noexcept { return name_; }
  Ipv4Cidr gateway() const noexcept { return gateway_; }
  // True when this call created the bridge (false: it was there already).
  bool created() const noexcept { return created_; }

 private:
  Bridge(std::string name, Ipv4Cidr gateway, bool created)
      : name_(std::move(name)), gateway_(gateway), created_(created) {}
  std::string name_;
  Ipv4Cidr gateway_;
  bool created_ = false;
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

  VethPair() = default;
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

// --- NAT (--nat) ------------------------------------------------------------------------

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
                    std::filesystem::path state_dir = kNetStateDir);
  // True when the rule for (subnet, bridge) is installed (`iptables -t nat -C ...`).
  static bool rule_installed(Ipv4Cidr subnet, std::string_view bridge);
  // For `mycontainer cleanup`: forgets the users whose process is gone (a runtime killed with
  // SIGKILL), removes the rules no live user needs, and restores forwarding when no user is
  // left: what their destructors would have done. Nothing when no user was ever recorded.
  // Throws SyscallError, or std::runtime_error if iptables fails.
  static void release_dead_users(std::filesystem::path state_dir = kNetStateDir);

  Nat() = default;
  Nat(Nat&& other) noexcept;
  Nat& operator=(Nat&& other) noexcept;
  Nat(const Nat&) = delete;
  Nat& operator=(const Nat&) = delete;
  ~Nat() { disable(); }

  // Stops being a user now; removes the rule and restores forwarding if it was the last.
  // Never throws (failures are narrated).
  void disable() noexcept;

 private:
  Ipv4Cidr subnet_;
  std::string bridge_;
  std::filesystem::path dir_;
  std::filesystem::path user_file_;  // empty when not a user
};

}  // namespace ctr
