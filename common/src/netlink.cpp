// rtnetlink through libnl: the socket, and one request per function. Read netlink.hpp first.
#include "ctr/netlink.hpp"

#include <net/if.h>      // IFF_UP, IFNAMSIZ (netdevice(7))
#include <netinet/in.h>  // htonl(3)

#include <linux/rtnetlink.h>  // RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE, RTN_UNICAST

#include <netlink/errno.h>        // NLE_* codes
#include <netlink/handlers.h>     // nl_cb_err: our hook for the kernel's error replies
#include <netlink/netlink.h>      // nl_connect
#include <netlink/route/addr.h>   // rtnl_addr_*: RTM_NEWADDR
#include <netlink/route/link.h>   // rtnl_link_*: RTM_NEWLINK, RTM_DELLINK
#include <netlink/route/route.h>  // rtnl_route_*: RTM_NEWROUTE
#include <netlink/socket.h>       // nl_socket_alloc, nl_socket_free

#include <cctype>   // std::isspace
#include <cstdlib>  // std::abs
#include <cstring>  // std::memcpy
#include <new>      // std::bad_alloc
#include <utility>  // std::exchange

#include <fmt/format.h>  // fmt::format

#include "ctr/error.hpp"    // SyscallError, UsageError, check
#include "ctr/narrate.hpp"  // narrate

namespace ctr {

// --- NetlinkSocket ----------------------------------------------------------------------

struct NetlinkSocket::State {
  nl_sock* sock = nullptr;
  int kernel_errno = 0;  // from the last NLMSG_ERROR reply, consumed by errno_of()
  ~State() {
    if (sock) nl_socket_free(sock);  // also closes the socket
  }
};

namespace {

// libnl calls this for every NLMSG_ERROR reply that carries an error (netlink(7)): we keep
// the kernel's errno, and NL_STOP lets libnl go on to return its own NLE_* code as usual.
int remember_kernel_errno(sockaddr_nl* /*from*/, nlmsgerr* err, void* kernel_errno) {
  *static_cast<int*>(kernel_errno) = -err->error;
  return NL_STOP;
}

// The closest errno to a libnl error code, for failures the kernel did not report itself.
constexpr struct {
  int nle;
  int err;
} kNleToErrno[] = {
    {NLE_EXIST, EEXIST},         {NLE_OBJ_NOTFOUND, ENOENT},
    {NLE_NODEV, ENODEV},         {NLE_PERM, EPERM},
    {NLE_NOACCESS, EACCES},      {NLE_BUSY, EBUSY},
    {NLE_INVAL, EINVAL},         {NLE_RANGE, ERANGE},
    {NLE_NOMEM, ENOMEM},         {NLE_AGAIN, EAGAIN},
    {NLE_INTR, EINTR},           {NLE_NOADDR, EADDRNOTAVAIL},
    {NLE_OPNOTSUPP, EOPNOTSUPP}, {NLE_AF_NOSUPPORT, EAFNOSUPPORT},
    {NLE_BAD_SOCK, EBADF},       {NLE_MSGSIZE, EMSGSIZE},
};

constexpr size_t kReceiveBuffer = 32768;  // bytes: see NetlinkSocket::NetlinkSocket

int errno_from_nle(int rc) {
  for (const auto& [nle, err] : kNleToErrno)
    if (nle == std::abs(rc)) return err;
  return EPROTO;  // "Protocol error": libnl failed without a matching errno
}

}  // namespace

NetlinkSocket::NetlinkSocket() : state_(std::make_unique<State>()) {
  state_->sock = nl_socket_alloc();
  if (!state_->sock) throw std::bad_alloc();
  nl_cb* cb = nl_socket_get_cb(state_->sock);
  nl_cb_err(cb, NL_CB_CUSTOM, remember_kernel_errno, &state_->kernel_errno);
  nl_cb_put(cb);
  // One recvmsg(2) per message: by default libnl first peeks at each message (MSG_PEEK |
  // MSG_TRUNC) to learn its size, then reads it again, two calls where one does. With a
  // buffer of its own size libnl reads at once; 32 KiB holds every message rtnetlink sends
  // us: a dump's part is at most 32 KiB (netlink_recvmsg caps max_recvmsg_len there), and
  // one link's reply without RTEXT_FILTER_VF a few KiB. A bigger one would fail loudly
  // (NLE_MSG_TRUNC), never be cut silently.
  check_rc(nl_socket_set_msg_buf_size(state_->sock, kReceiveBuffer), "nl_socket_set_msg_buf_size",
           "32768");
  nl_socket_disable_msg_peek(state_->sock);
  // socket(AF_NETLINK, SOCK_RAW|SOCK_CLOEXEC, NETLINK_ROUTE) + bind(2): from here on, this
  // socket speaks to the network namespace we are in now, whatever setns(2) happens later.
  check_rc(nl_connect(state_->sock, NETLINK_ROUTE), "nl_connect", "NETLINK_ROUTE");
}

NetlinkSocket::NetlinkSocket(std::nullptr_t) noexcept {}

NetlinkSocket::NetlinkSocket(NetlinkSocket&&) noexcept = default;
NetlinkSocket& NetlinkSocket::operator=(NetlinkSocket&&) noexcept = default;
NetlinkSocket::~NetlinkSocket() = default;

nl_sock* NetlinkSocket::get() const noexcept {
  return state_ ? state_->sock : nullptr;
}

int NetlinkSocket::errno_of(int rc) const noexcept {
  const int kernel = state_ ? std::exchange(state_->kernel_errno, 0) : 0;
  if (rc >= 0) return 0;
  return kernel != 0 ? kernel : errno_from_nle(rc);
}

int NetlinkSocket::check_rc(int rc, std::string_view call, std::string_view arg) const {
  if (const int err = errno_of(rc)) throw SyscallError(err, std::string(call), std::string(arg));
  return rc;
}

// --- libnl object owners and small helpers ----------------------------------------------

namespace {

// libnl objects are reference-counted; *_put drops our reference.
struct AddrPut {
  void operator()(rtnl_addr* p) const { rtnl_addr_put(p); }
};
struct RoutePut {
  void operator()(rtnl_route* p) const { rtnl_route_put(p); }
};
struct NlAddrPut {
  void operator()(nl_addr* p) const { nl_addr_put(p); }
};
struct CacheFree {
  void operator()(nl_cache* p) const { nl_cache_free(p); }
};
using AddrPtr = std::unique_ptr<rtnl_addr, AddrPut>;
using RoutePtr = std::unique_ptr<rtnl_route, RoutePut>;
using NlAddrPtr = std::unique_ptr<nl_addr, NlAddrPut>;
using CachePtr = std::unique_ptr<nl_cache, CacheFree>;

template <typename T>
T* not_null(T* p) {
  if (!p) throw std::bad_alloc();
  return p;
}

// libnl's address type, from our host-order address: 10.47.0.2/24.
NlAddrPtr make_nl_addr(uint32_t address, int prefix) {
  const uint32_t wire = htonl(address);  // netlink carries addresses in network byte order
  NlAddrPtr a(not_null(nl_addr_build(AF_INET, &wire, sizeof wire)));
  nl_addr_set_prefixlen(a.get(), prefix);
  return a;
}

}  // namespace

// --- One request each, on a given socket -------------------------------------------------

void LinkPut::operator()(rtnl_link* link) const noexcept {
  rtnl_link_put(link);
}

LinkPtr new_link() {
  return LinkPtr(not_null(rtnl_link_alloc()));
}

LinkPtr get_link(const NetlinkSocket& nl, std::string_view name) {
  const std::string n(name);
  rtnl_link* link = nullptr;
  const int rc = rtnl_link_get_kernel(nl.get(), 0, n.c_str(), &link);
  if (const int err = nl.errno_of(rc)) {
    if (err == ENODEV) return nullptr;
    throw SyscallError(err, "rtnl_link_get_kernel", n);
  }
  return LinkPtr(link);
}

LinkPtr require_link(const NetlinkSocket& nl, std::string_view name) {
  LinkPtr link = get_link(nl, name);
  if (!link) throw SyscallError(ENODEV, "rtnl_link_get_kernel", std::string(name));
  return link;
}

void change_link(const NetlinkSocket& nl, std::string_view name, rtnl_link* changes) {
  LinkPtr orig = require_link(nl, name);
  nl.check_rc(rtnl_link_change(nl.get(), orig.get(), changes, 0), "rtnl_link_change",
              std::string(name));
}

void change_link_named(const NetlinkSocket& nl, std::string_view name, rtnl_link* changes) {
  const std::string n(name);
  rtnl_link_set_name(changes, n.c_str());  // the key: libnl sends it when orig has no index
  nl.check_rc(rtnl_link_change(nl.get(), new_link().get(), changes, 0), "rtnl_link_change", n);
}

bool delete_link(const NetlinkSocket& nl, std::string_view name) {
  LinkPtr link = new_link();
  rtnl_link_set_name(link.get(), std::string(name).c_str());
  const int err = nl.errno_of(rtnl_link_delete(nl.get(), link.get()));  // RTM_DELLINK
  if (err == ENODEV) return false;
  if (err != 0) throw SyscallError(err, "rtnl_link_delete", std::string(name));
  narrate({.call = fmt::format("rtnl_link_delete('{}')", name),
           .result = "deleted",
           .shell = fmt::format("ip link del {}", name),
           .man = "ip-link(8), rtnetlink(7)"});
  return true;
}

namespace {

// A link named by its index alone: rtnl_link_change and the address and route requests need
// nothing else, so a caller that knows the index skips the RTM_GETLINK that finds it.
LinkPtr link_at(int ifindex) {
  LinkPtr link = new_link();
  rtnl_link_set_ifindex(link.get(), ifindex);
  return link;
}

void set_link_up_at(const NetlinkSocket& nl, int ifindex, std::string_view name) {
  LinkPtr changes = new_link();
  rtnl_link_set_flags(changes.get(), IFF_UP);  // administratively up (netdevice(7))
  nl.check_rc(rtnl_link_change(nl.get(), link_at(ifindex).get(), changes.get(), 0),
              "rtnl_link_change", std::string(name));
  narrate({.call = fmt::format("rtnl_link_change('{}', flags |= IFF_UP)", name),
           .result = "up",
           .shell = fmt::format("ip link set {} up", name),
           .man = "ip-link(8), netdevice(7)"});
}

bool add_address_at(const NetlinkSocket& nl, int ifindex, std::string_view name, Ipv4Cidr address,
                    bool exist_ok) {
  AddrPtr addr(not_null(rtnl_addr_alloc()));
  NlAddrPtr local = make_nl_addr(address.addr, address.prefix);
  rtnl_addr_set_ifindex(addr.get(), ifindex);
  nl.check_rc(rtnl_addr_set_local(addr.get(), local.get()), "rtnl_addr_set_local",
              address.to_string());
  rtnl_addr_set_prefixlen(addr.get(), address.prefix);
  const int err = nl.errno_of(rtnl_addr_add(nl.get(), addr.get(), NLM_F_EXCL));
  if (err != 0 && !(err == EEXIST && exist_ok))
    throw SyscallError(err, "rtnl_addr_add", fmt::format("{} dev {}", address.to_string(), name));
  narrate({.call = fmt::format("rtnl_addr_add('{}', {})", name, address.to_string()),
           .result = err == 0 ? "added" : "present already",
           .shell = fmt::format("ip addr add {} dev {}", address.to_string(), name),
           .man = "ip-address(8), rtnetlink(7)"});
  return err == 0;
}

void add_default_route_at(const NetlinkSocket& nl, int ifindex, std::string_view name,
                          uint32_t gateway) {
  RoutePtr route(not_null(rtnl_route_alloc()));
  rtnl_route_set_family(route.get(), AF_INET);
  rtnl_route_set_table(route.get(), RT_TABLE_MAIN);      // `ip route` shows table main
  rtnl_route_set_protocol(route.get(), RTPROT_BOOT);     // what `ip route add` records
  rtnl_route_set_scope(route.get(), RT_SCOPE_UNIVERSE);  // via a gateway: beyond the link
  rtnl_route_set_type(route.get(), RTN_UNICAST);
  NlAddrPtr any = make_nl_addr(0, 0);  // 0.0.0.0/0, "default": matches every destination
  nl.check_rc(rtnl_route_set_dst(route.get(), any.get()), "rtnl_route_set_dst", "default");
  rtnl_nexthop* hop = not_null(rtnl_route_nh_alloc());
  NlAddrPtr via = make_nl_addr(gateway, 32);
  rtnl_route_nh_set_gateway(hop, via.get());
  rtnl_route_nh_set_ifindex(hop, ifindex);
  rtnl_route_add_nexthop(route.get(), hop);  // the route owns the next hop from here on
  const std::string what = fmt::format("default via {} dev {}", format_ipv4(gateway), name);
  nl.check_rc(rtnl_route_add(nl.get(), route.get(), NLM_F_EXCL), "rtnl_route_add", what);
  narrate({.call = fmt::format("rtnl_route_add({})", what),
           .result = "added",
           .shell = fmt::format("ip route add {}", what),
           .man = "ip-route(8), rtnetlink(7)"});
}

}  // namespace

void set_link_up(const NetlinkSocket& nl, std::string_view name) {
  set_link_up_at(nl, rtnl_link_get_ifindex(require_link(nl, name).get()), name);
}

void rename_link(const NetlinkSocket& nl, std::string_view old_name, std::string_view new_name) {
  validate_link_name(new_name, "interface");
  LinkPtr changes = new_link();
  rtnl_link_set_name(changes.get(), std::string(new_name).c_str());  // IFLA_IFNAME
  change_link(nl, old_name, changes.get());
  narrate({.call = fmt::format("rtnl_link_change('{}', IFLA_IFNAME='{}')", old_name, new_name),
           .result = "renamed",
           .shell = fmt::format("ip link set {} name {}", old_name, new_name),
           .man = "ip-link(8)"});
}

bool add_address(const NetlinkSocket& nl, std::string_view name, Ipv4Cidr address, bool exist_ok) {
  return add_address_at(nl, rtnl_link_get_ifindex(require_link(nl, name).get()), name, address,
                        exist_ok);
}

std::vector<Ipv4Cidr> ipv4_addresses(const NetlinkSocket& nl, rtnl_link* link) {
  const int index = rtnl_link_get_ifindex(link);
  nl_cache* raw = nullptr;
  nl.check_rc(rtnl_addr_alloc_cache(nl.get(), &raw), "rtnl_addr_alloc_cache",
              rtnl_link_get_name(link));
  const CachePtr cache(raw);
  std::vector<Ipv4Cidr> out;
  for (nl_object* o = nl_cache_get_first(cache.get()); o != nullptr; o = nl_cache_get_next(o)) {
    auto* addr = reinterpret_cast<rtnl_addr*>(o);  // libnl's objects share a header: its cast
    const nl_addr* local = rtnl_addr_get_local(addr);
    if (rtnl_addr_get_ifindex(addr) != index || rtnl_addr_get_family(addr) != AF_INET ||
        local == nullptr || nl_addr_get_len(local) != sizeof(uint32_t))
      continue;
    uint32_t wire = 0;
    std::memcpy(&wire, nl_addr_get_binary_addr(local), sizeof wire);
    out.push_back({ntohl(wire), rtnl_addr_get_prefixlen(addr)});
  }
  return out;
}

void add_default_route(const NetlinkSocket& nl, std::string_view name, uint32_t gateway) {
  add_default_route_at(nl, rtnl_link_get_ifindex(require_link(nl, name).get()), name, gateway);
}

// --- Names ------------------------------------------------------------------------------

void validate_link_name(std::string_view name, std::string_view what) {
  if (name.empty()) throw UsageError(fmt::format("{} name is empty", what));
  if (name.size() > IFNAMSIZ - 1)
    throw UsageError(fmt::format("{} name '{}' is too long: at most {} characters (IFNAMSIZ)", what,
                                 name, IFNAMSIZ - 1));
  if (name == "." || name == "..")
    throw UsageError(fmt::format("{} name '{}' is not allowed", what, name));
  for (char c : name) {
    if (c == '/' || c == ':' || std::isspace(static_cast<unsigned char>(c)))
      throw UsageError(
          fmt::format("{} name '{}' contains {}: not allowed in interface names", what, name,
                      c == '/' || c == ':' ? fmt::format("'{}'", c) : std::string("whitespace")));
  }
}

// --- Links ------------------------------------------------------------------------------

bool link_exists(std::string_view name) {
  NetlinkSocket nl;
  return get_link(nl, name) != nullptr;
}

std::vector<std::string> list_links() {
  NetlinkSocket nl;
  nl_cache* raw = nullptr;
  // A dump of every link (RTM_GETLINK with NLM_F_DUMP), kept in a libnl cache.
  nl.check_rc(rtnl_link_alloc_cache(nl.get(), AF_UNSPEC, &raw), "rtnl_link_alloc_cache", "");
  CachePtr cache(raw);
  std::vector<std::string> names;
  for (nl_object* obj = nl_cache_get_first(cache.get()); obj; obj = nl_cache_get_next(obj))
    names.emplace_back(rtnl_link_get_name(reinterpret_cast<rtnl_link*>(obj)));
  return names;
}

bool delete_link(std::string_view name) {
  NetlinkSocket nl;
  return delete_link(nl, name);
}

void set_link_up(std::string_view name) {
  NetlinkSocket nl;
  set_link_up(nl, name);
}

void rename_link(std::string_view old_name, std::string_view new_name) {
  NetlinkSocket nl;
  rename_link(nl, old_name, new_name);
}

void add_address(std::string_view name, Ipv4Cidr address) {
  NetlinkSocket nl;
  add_address(nl, name, address, /*exist_ok=*/false);
}

void add_default_route(std::string_view name, uint32_t gateway) {
  NetlinkSocket nl;
  add_default_route(nl, name, gateway);
}

namespace {
// lo is always interface 1 of a network namespace (LOOPBACK_IFINDEX in the kernel), so the
// change can name it by index, without asking for its description first.
constexpr int kLoopbackIndex = 1;
}  // namespace

void bring_up_loopback() {
  NetlinkSocket nl;
  LinkPtr changes = new_link();
  rtnl_link_set_flags(changes.get(), IFF_UP);
  nl.check_rc(rtnl_link_change(nl.get(), link_at(kLoopbackIndex).get(), changes.get(), 0),
              "rtnl_link_change", "lo");
  narrate({.call = "rtnl_link_change(ifindex 1 'lo', flags |= IFF_UP)",
           .result = "up",
           .shell = "ip link set lo up",
           .man = "ip-link(8), netdevice(7)"});
}

void configure_container_interface(std::string_view peer, std::string_view name, Ipv4Cidr address,
                                   uint32_t gateway) {
  NetlinkSocket nl;  // opened here, so in the container's network namespace
  set_link_up_at(nl, kLoopbackIndex, "lo");
  if (peer != name) rename_link(nl, peer, name);  // while down (see rename_link)
  // Looked up once: the three requests below name it by its index.
  const int index = rtnl_link_get_ifindex(require_link(nl, name).get());
  add_address_at(nl, index, name, address, /*exist_ok=*/false);
  set_link_up_at(nl, index, name);
  // Only now: the kernel refuses a route via a gateway it cannot reach on an up link.
  add_default_route_at(nl, index, name, gateway);
}

}  // namespace ctr
