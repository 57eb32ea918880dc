// rtnetlink, the kernel's interface for network configuration: links, addresses, routes.
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
// Watch it:  ip -br link; ip -br addr; ip monitor link address route
#pragma once

#include <cstddef>      // std::nullptr_t
#include <cstdint>      // uint32_t
#include <memory>       // std::unique_ptr
#include <string>       // std::string
#include <string_view>  // std::string_view
#include <vector>       // std::vector

#include "ctr/ipv4.hpp"  // Ipv4Cidr

struct nl_sock;    // libnl's socket (netlink/socket.h); kept out of this header
struct rtnl_link;  // libnl's link object (netlink/route/link.h)

namespace ctr {

// Interface names are at most IFNAMSIZ - 1 = 15 bytes (the 16th is the terminating NUL,
// netdevice(7)); the kernel also refuses "", ".", "..", and names with '/', ':' or
// whitespace (dev_valid_name() in net/core/dev.c): they would break /sys/class/net/NAME
// and the old "eth0:1" alias syntax. Throws UsageError, e.g.
// "bridge name 'averyveryverylongname' is too long: at most 15 characters (IFNAMSIZ)".
// `what` names the value in the message ("bridge", "veth", "link").
void validate_link_name(std::string_view name, std::string_view what = "link");

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
  // No socket, as a moved-from one: for an owner that may never need one (an empty
  // VethPair: every container has one, and socket + bind are six system calls).
  explicit NetlinkSocket(std::nullptr_t) noexcept;
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

// libnl's objects are reference-counted: LinkPtr drops our reference (rtnl_link_put).
struct LinkPut {
  void operator()(rtnl_link* link) const noexcept;
};
using LinkPtr = std::unique_ptr<rtnl_link, LinkPut>;

// --- One request each, on a socket: it acts in the namespace the socket was opened in ------

// An empty link object: sent as a change, it carries only the attributes set on it.
LinkPtr new_link();
// `ip link show NAME`: the kernel's view of one link (RTM_GETLINK), or null if none.
LinkPtr get_link(const NetlinkSocket& nl, std::string_view name);
// The same; throws SyscallError(ENODEV) if there is none.
LinkPtr require_link(const NetlinkSocket& nl, std::string_view name);
// RTM_NEWLINK on an existing link: libnl sends the attributes set on `changes` only.
void change_link(const NetlinkSocket& nl, std::string_view name, rtnl_link* changes);
// The same without looking the link up first (change_link asks for its index): the request
// carries the name (IFLA_IFNAME, interface index 0) and the kernel finds the link by it
// (rtnetlink(7)). Sets the name on `changes`. One request instead of two.
void change_link_named(const NetlinkSocket& nl, std::string_view name, rtnl_link* changes);
bool delete_link(const NetlinkSocket& nl, std::string_view name);
void set_link_up(const NetlinkSocket& nl, std::string_view name);
void rename_link(const NetlinkSocket& nl, std::string_view old_name, std::string_view new_name);
// `ip addr add ADDRESS dev NAME` (RTM_NEWADDR with NLM_F_CREATE|NLM_F_EXCL, as ip sends it).
// Returns false when the link has that address already and exist_ok is set.
bool add_address(const NetlinkSocket& nl, std::string_view name, Ipv4Cidr address, bool exist_ok);
// The IPv4 addresses of `link` (from get_link: RTM_GETADDR, a dump of every address, filtered
// by the link's index): what `ip -4 addr show dev NAME` lists.
std::vector<Ipv4Cidr> ipv4_addresses(const NetlinkSocket& nl, rtnl_link* link);
void add_default_route(const NetlinkSocket& nl, std::string_view name, uint32_t gateway);

// --- Links, in the calling thread's network namespace (a fresh socket per call) -----------

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

}  // namespace ctr
