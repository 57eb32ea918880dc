#include "ctr/net.hpp"

#include <fcntl.h>       // open(2), O_* flags
#include <net/if.h>      // IFF_UP, IFNAMSIZ (netdevice(7))
#include <sched.h>       // unshare(2), setns(2), CLONE_NEWNET
#include <netinet/in.h>  // htonl(3)
#include <spawn.h>       // posix_spawnp(3)
#include <sys/random.h>  // getrandom(2)
#include <sys/wait.h>    // waitpid(2)
#include <unistd.h>      // getpid(2), read(2), write(2), pipe2(2)

#include <linux/rtnetlink.h>  // RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE, RTN_UNICAST

#include <netlink/errno.h>            // NLE_* codes
#include <netlink/handlers.h>         // nl_cb_err: our hook for the kernel's error replies
#include <netlink/netlink.h>          // nl_connect
#include <netlink/route/addr.h>       // rtnl_addr_*: RTM_NEWADDR
#include <netlink/route/link.h>       // rtnl_link_*: RTM_NEWLINK, RTM_DELLINK
#include <netlink/route/link/veth.h>  // rtnl_link_veth_add
#include <netlink/route/route.h>      // rtnl_route_*: RTM_NEWROUTE
#include <netlink/socket.h>           // nl_socket_alloc, nl_socket_free

#include <algorithm>  // std::any_of
#include <atomic>     // std::atomic
#include <cctype>     // std::isspace
#include <charconv>   // std::from_chars
#include <cstdlib>    // std::abs
#include <new>        // std::bad_alloc
#include <stdexcept>  // std::runtime_error
#include <utility>    // std::exchange

#include <fmt/format.h>  // fmt::format

#include "ctr/error.hpp"    // SyscallError, UsageError, check
#include "ctr/narrate.hpp"  // narrate

extern char** environ;  // environ(7): handed to iptables unchanged

namespace ctr {

namespace fs = std::filesystem;

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
  // socket(AF_NETLINK, SOCK_RAW|SOCK_CLOEXEC, NETLINK_ROUTE) + bind(2): from here on, this
  // socket speaks to the network namespace we are in now, whatever setns(2) happens later.
  check_rc(nl_connect(state_->sock, NETLINK_ROUTE), "nl_connect", "NETLINK_ROUTE");
}

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
struct LinkPut {
  void operator()(rtnl_link* p) const { rtnl_link_put(p); }
};
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
using LinkPtr = std::unique_ptr<rtnl_link, LinkPut>;
using AddrPtr = std::unique_ptr<rtnl_addr, AddrPut>;
using RoutePtr = std::unique_ptr<rtnl_route, RoutePut>;
using NlAddrPtr = std::unique_ptr<nl_addr, NlAddrPut>;
using CachePtr = std::unique_ptr<nl_cache, CacheFree>;

template <typename T>
T* not_null(T* p) {
  if (!p) throw std::bad_alloc();
  return p;
}

// An empty link object: on a change request it carries only the attributes we set.
LinkPtr new_link() {
  return LinkPtr(not_null(rtnl_link_alloc()));
}

// libnl's address type, from our host-order address: 10.47.0.2/24.
NlAddrPtr make_nl_addr(uint32_t address, int prefix) {
  const uint32_t wire = htonl(address);  // netlink carries addresses in network byte order
  NlAddrPtr a(not_null(nl_addr_build(AF_INET, &wire, sizeof wire)));
  nl_addr_set_prefixlen(a.get(), prefix);
  return a;
}

// `ip link show NAME`: the kernel's view of one link (RTM_GETLINK), or null if none.
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

// RTM_NEWLINK on an existing link: libnl sends the attributes set on `changes` only.
void change_link(const NetlinkSocket& nl, std::string_view name, rtnl_link* changes) {
  LinkPtr orig = require_link(nl, name);
  nl.check_rc(rtnl_link_change(nl.get(), orig.get(), changes, 0), "rtnl_link_change",
              std::string(name));
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

void set_link_up(const NetlinkSocket& nl, std::string_view name) {
  LinkPtr changes = new_link();
  rtnl_link_set_flags(changes.get(), IFF_UP);  // administratively up (netdevice(7))
  change_link(nl, name, changes.get());
  narrate({.call = fmt::format("rtnl_link_change('{}', flags |= IFF_UP)", name),
           .result = "up",
           .shell = fmt::format("ip link set {} up", name),
           .man = "ip-link(8), netdevice(7)"});
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

// `ip addr add ADDRESS dev NAME` (RTM_NEWADDR with NLM_F_CREATE|NLM_F_EXCL, as ip sends
// it). Returns false when the link has that address already and exist_ok is set.
bool add_address(const NetlinkSocket& nl, std::string_view name, Ipv4Cidr address, bool exist_ok) {
  LinkPtr link = require_link(nl, name);
  AddrPtr addr(not_null(rtnl_addr_alloc()));
  NlAddrPtr local = make_nl_addr(address.addr, address.prefix);
  rtnl_addr_set_ifindex(addr.get(), rtnl_link_get_ifindex(link.get()));
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

void add_default_route(const NetlinkSocket& nl, std::string_view name, uint32_t gateway) {
  LinkPtr link = require_link(nl, name);
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
  rtnl_route_nh_set_ifindex(hop, rtnl_link_get_ifindex(link.get()));
  rtnl_route_add_nexthop(route.get(), hop);  // the route owns the next hop from here on
  const std::string what = fmt::format("default via {} dev {}", format_ipv4(gateway), name);
  nl.check_rc(rtnl_route_add(nl.get(), route.get(), NLM_F_EXCL), "rtnl_route_add", what);
  narrate({.call = fmt::format("rtnl_route_add({})", what),
           .result = "added",
           .shell = fmt::format("ip route add {}", what),
           .man = "ip-route(8), rtnetlink(7)"});
}

}  // namespace

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

std::string unique_link_name(std::string_view prefix) {
  if (prefix.size() > IFNAMSIZ - 1 - 8)
    throw std::invalid_argument(fmt::format("link name prefix '{}' is too long", prefix));
  uint32_t random = 0;
  check(::getrandom(&random, sizeof random, 0), "getrandom");
  return fmt::format("{}{:08x}", prefix, random);
}

VethNames unique_veth_names() {
  const std::string host = unique_link_name("veth");
  return {host, "c" + host.substr(1)};
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

void bring_up_loopback() {
  NetlinkSocket nl;
  // lo is always interface 1 of a network namespace (LOOPBACK_IFINDEX in the kernel), so
  // the change can name it by index, without asking for its description first.
  LinkPtr lo = new_link();
  rtnl_link_set_ifindex(lo.get(), 1);
  LinkPtr changes = new_link();
  rtnl_link_set_flags(changes.get(), IFF_UP);
  nl.check_rc(rtnl_link_change(nl.get(), lo.get(), changes.get(), 0), "rtnl_link_change", "lo");
  narrate({.call = "rtnl_link_change(ifindex 1 'lo', flags |= IFF_UP)",
           .result = "up",
           .shell = "ip link set lo up",
           .man = "ip-link(8), netdevice(7)"});
}

void configure_container_interface(std::string_view peer, std::string_view name, Ipv4Cidr address,
                                   uint32_t gateway) {
  NetlinkSocket nl;  // opened here, so in the container's network namespace
  set_link_up(nl, "lo");
  if (peer != name) rename_link(nl, peer, name);  // while down (see rename_link)
  add_address(nl, name, address, /*exist_ok=*/false);
  set_link_up(nl, name);
  // Only now: the kernel refuses a route via a gateway it cannot reach on an up link.
  add_default_route(nl, name, gateway);
}

// --- A network namespace made before its process -----------------------------------------

UniqueFd make_netns() {
  UniqueFd ours(
      check(::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC), "open", "/proc/self/ns/net"));
  check(::unshare(CLONE_NEWNET), "unshare", "CLONE_NEWNET");
  UniqueFd made(check(::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC), "open",
                      "/proc/self/ns/net (the new one)"));
  check(::setns(ours.get(), CLONE_NEWNET), "setns", "back to our own network namespace");
  narrate({.call = "unshare(CLONE_NEWNET); open(/proc/self/ns/net); setns(back)",
           .result = fmt::format("fd {}: a network namespace with nobody in it yet", made.get()),
           .shell = "ip netns add NAME   # the same, kept by a bind mount instead of a descriptor",
           .man = "unshare(2), setns(2), network_namespaces(7)"});
  return made;
}

void join_netns(const UniqueFd& netns) {
  check(::setns(netns.get(), CLONE_NEWNET), "setns", "CLONE_NEWNET");
  narrate({.call = fmt::format("setns({}, CLONE_NEWNET)", netns.get()),
           .result = "joined the network namespace the parent made",
           .shell = "nsenter --net=/var/run/netns/NAME",
           .man = "setns(2)"});
}

// --- Bridge -----------------------------------------------------------------------------

Bridge Bridge::ensure(std::string name, Ipv4Cidr gateway) {
  validate_link_name(name, "bridge");
  NetlinkSocket nl;
  bool created = false;
  LinkPtr link = get_link(nl, name);
  if (link) {
    narrate({.call = fmt::format("rtnl_link_get_kernel('{}')", name),
             .result = "exists: kept, it is shared with other containers",
             .shell = fmt::format("ip link show {}", name),
             .man = "rtnetlink(7)"});
  } else {
    LinkPtr request = new_link();
    rtnl_link_set_name(request.get(), name.c_str());
    nl.check_rc(rtnl_link_set_type(request.get(), "bridge"), "rtnl_link_set_type", "bridge");
    // NLM_F_EXCL: fail with EEXIST rather than modify a link of that name. Another process
    // may create the same bridge between our look and this call; then its bridge is ours too.
    const int err = nl.errno_of(rtnl_link_add(nl.get(), request.get(), NLM_F_CREATE | NLM_F_EXCL));
    if (err != 0 && err != EEXIST) throw SyscallError(err, "rtnl_link_add", name);
    created = err == 0;
    narrate({.call = fmt::format("rtnl_link_add('{}', type bridge)", name),
             .result = created ? "created" : "created meanwhile by another process",
             .shell = fmt::format("ip link add {} type bridge", name),
             .man = "ip-link(8), rtnetlink(7)"});
    link = require_link(nl, name);
  }
  const char* type = rtnl_link_get_type(link.get());  // IFLA_INFO_KIND
  if (!type || std::string_view(type) != "bridge")
    throw UsageError(
        fmt::format("link '{}' exists but is not a bridge (it is {}): choose another "
                    "bridge name",
                    name, type ? fmt::format("a {}", type) : "a physical device"));
  add_address(nl, name, gateway, /*exist_ok=*/true);
  set_link_up(nl, name);
  return Bridge(std::move(name), gateway, created);
}

// --- VethPair ---------------------------------------------------------------------------

VethPair VethPair::create(std::string host_name, std::string peer_name) {
  validate_link_name(host_name, "veth");
  validate_link_name(peer_name, "veth");
  NetlinkSocket nl;
  for (const std::string* n : {&host_name, &peer_name}) {
    if (get_link(nl, *n)) throw SyscallError(EEXIST, "rtnl_link_veth_add", *n);
  }
  // rtnl_link_veth_add always sends the peer's IFLA_NET_NS_PID; our own pid keeps the peer
  // here, in our namespace, until move_peer_to_netns once the child exists.
  nl.check_rc(rtnl_link_veth_add(nl.get(), host_name.c_str(), peer_name.c_str(), ::getpid()),
              "rtnl_link_veth_add", host_name);
  narrate({.call = fmt::format("rtnl_link_veth_add('{}', peer '{}')", host_name, peer_name),
           .result = "created, both ends down",
           .shell = fmt::format("ip link add {} type veth peer name {}", host_name, peer_name),
           .man = "ip-link(8), veth(4)"});
  return VethPair(std::move(nl), std::move(host_name), std::move(peer_name));
}

VethPair VethPair::create_in_netns(std::string host_name, std::string peer_name, pid_t pid) {
  validate_link_name(host_name, "veth");
  validate_link_name(peer_name, "veth");
  NetlinkSocket nl;
  if (get_link(nl, host_name)) throw SyscallError(EEXIST, "rtnl_link_veth_add", host_name);
  // The pid is sent as the peer's IFLA_NET_NS_PID (veth(4), rtnetlink(7)).
  nl.check_rc(rtnl_link_veth_add(nl.get(), host_name.c_str(), peer_name.c_str(), pid),
              "rtnl_link_veth_add", host_name);
  narrate({.call = fmt::format("rtnl_link_veth_add('{}', peer '{}' in the netns of pid {})",
                               host_name, peer_name, pid),
           .result = "created, both ends down",
           .shell = fmt::format("ip link add {} type veth peer name {} netns {}", host_name,
                                peer_name, pid),
           .man = "ip-link(8), veth(4)"});
  return VethPair(std::move(nl), std::move(host_name), std::move(peer_name));
}

VethPair VethPair::create_in_netns(std::string host_name, std::string peer_name,
                                   const UniqueFd& netns) {
  validate_link_name(host_name, "veth");
  validate_link_name(peer_name, "veth");
  NetlinkSocket nl;
  // What rtnl_link_veth_add does, with the peer's namespace as a descriptor: one RTM_NEWLINK
  // for the pair, the peer's attributes nested in it (veth(4)).
  LinkPtr link(not_null(rtnl_link_veth_alloc()));
  rtnl_link_set_name(link.get(), host_name.c_str());
  rtnl_link* peer = rtnl_link_veth_get_peer(link.get());  // a reference of our own
  rtnl_link_set_name(peer, peer_name.c_str());
  rtnl_link_set_ns_fd(peer, netns.get());  // IFLA_NET_NS_FD
  rtnl_link_put(peer);
  nl.check_rc(rtnl_link_add(nl.get(), link.get(), NLM_F_CREATE | NLM_F_EXCL), "rtnl_link_add",
              host_name);
  narrate({.call = fmt::format("rtnl_link_add('{}' type veth, peer '{}' in netns fd {})", host_name,
                               peer_name, netns.get()),
           .result = "created, both ends down",
           .shell = fmt::format("ip link add {} type veth peer name {} netns NAME", host_name,
                                peer_name),
           .man = "ip-link(8), veth(4)"});
  return VethPair(std::move(nl), std::move(host_name), std::move(peer_name));
}

VethPair::VethPair(VethPair&& other) noexcept
    : nl_(std::move(other.nl_)),
      host_(std::exchange(other.host_, {})),
      peer_(std::exchange(other.peer_, {})) {}

VethPair& VethPair::operator=(VethPair&& other) noexcept {
  if (this != &other) {
    remove();
    nl_ = std::move(other.nl_);
    host_ = std::exchange(other.host_, {});
    peer_ = std::exchange(other.peer_, {});
  }
  return *this;
}

void VethPair::attach_to(const Bridge& bridge) {
  LinkPtr master = require_link(nl_, bridge.name());
  LinkPtr changes = new_link();
  rtnl_link_set_master(changes.get(), rtnl_link_get_ifindex(master.get()));  // IFLA_MASTER
  change_link(nl_, host_, changes.get());
  narrate({.call = fmt::format("rtnl_link_change('{}', IFLA_MASTER={})", host_, bridge.name()),
           .result = "attached",
           .shell = fmt::format("ip link set {} master {}", host_, bridge.name()),
           .man = "ip-link(8), bridge(8)"});
}

void VethPair::up() {
  set_link_up(nl_, host_);
}

void VethPair::move_peer_to_netns(pid_t pid) {
  LinkPtr changes = new_link();
  rtnl_link_set_ns_pid(changes.get(), pid);  // IFLA_NET_NS_PID
  change_link(nl_, peer_, changes.get());
  narrate({.call = fmt::format("rtnl_link_change('{}', IFLA_NET_NS_PID={})", peer_, pid),
           .result = "moved",
           .shell = fmt::format("ip link set {} netns {}", peer_, pid),
           .man = "ip-link(8), network_namespaces(7)"});
}

void VethPair::remove() noexcept {
  if (host_.empty()) return;
  try {
    if (nl_.get()) delete_link(nl_, host_);
  } catch (...) {
    // Destructors never throw. The pair may be gone already (its namespace died), or the
    // socket unusable; `mycontainer cleanup` removes leftovers by their veth prefix.
  }
  host_.clear();
  peer_.clear();
}

void VethPair::leave_to_kernel() noexcept {
  if (host_.empty()) return;
  narrate({.call = fmt::format("(no ip link del {})", host_),
           .result = "left to the kernel: it goes with the container's network namespace",
           .shell = "",
           .man = "veth(4), network_namespaces(7)"});
  host_.clear();
  peer_.clear();
}

// --- NAT --------------------------------------------------------------------------------

namespace {

constexpr const char* kIpForward = "/proc/sys/net/ipv4/ip_forward";

struct ProgramResult {
  int status = -1;     // exit code, or 128 + signal
  std::string output;  // stdout and stderr together
};

// Runs argv[0] (found on PATH) and waits. posix_spawnp(3) rather than fork(2): nothing of
// ours runs in the child between its creation and exec.
ProgramResult run_program(const std::vector<std::string>& argv) {
  int fds[2];
  check(::pipe2(fds, O_CLOEXEC), "pipe2");
  UniqueFd read_end(fds[0]);
  UniqueFd write_end(fds[1]);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, write_end.get(), STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, write_end.get(), STDERR_FILENO);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  const int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  write_end.reset();  // else our own copy keeps the pipe open and read() never sees EOF
  if (rc != 0) throw SyscallError(rc, "posix_spawnp", argv[0]);

  ProgramResult result;
  char buf[1024];
  ssize_t n;
  while ((n = ::read(read_end.get(), buf, sizeof buf)) != 0) {
    if (n < 0 && errno != EINTR) break;
    if (n > 0) result.output.append(buf, static_cast<size_t>(n));
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) == -1) {
    if (errno != EINTR) check(-1, "waitpid", argv[0]);
  }
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  while (!result.output.empty() && result.output.back() == '\n') result.output.pop_back();
  return result;
}

struct NatRule {
  std::string subnet;  // "10.47.0.0/24"
  std::string bridge;
  friend bool operator==(const NatRule&, const NatRule&) = default;
};

// iptables -w -t nat ACTION POSTROUTING -s SUBNET ! -o BRIDGE -j MASQUERADE. -w waits for
// the xtables lock if another program (docker, firewalld) is changing rules right now.
std::vector<std::string> iptables_argv(const char* action, const NatRule& rule) {
  return {"iptables",  "-w", "-t", "nat",       action, "POSTROUTING", "-s",
          rule.subnet, "!",  "-o", rule.bridge, "-j",   "MASQUERADE"};
}

std::string join(const std::vector<std::string>& argv) {
  std::string line;
  for (const std::string& a : argv) line += (line.empty() ? "" : " ") + a;
  return line;
}

// -C: exit 0 if the rule exists, 1 if not (iptables(8)); anything else is a failure.
bool nat_rule_installed(const NatRule& rule) {
  const auto argv = iptables_argv("-C", rule);
  const ProgramResult r = run_program(argv);
  if (r.status == 0 || r.status == 1) return r.status == 0;
  throw std::runtime_error(
      fmt::format("'{}' failed with exit code {}: {}", join(argv), r.status, r.output));
}

void change_rule(const char* action, const NatRule& rule) {
  const auto argv = iptables_argv(action, rule);
  const ProgramResult r = run_program(argv);
  if (r.status != 0)
    throw std::runtime_error(
        fmt::format("'{}' failed with exit code {}: {}", join(argv), r.status, r.output));
  narrate({.call = join(argv),
           .result = action == std::string_view("-A") ? "rule added" : "rule removed",
           .shell = join(argv),
           .man = "iptables(8), iptables-extensions(8) MASQUERADE"});
}

std::string read_text(const fs::path& path) {
  UniqueFd fd(check(::open(path.c_str(), O_RDONLY | O_CLOEXEC), "open", path.string()));
  std::string text;
  char buf[256];
  ssize_t n;
  while ((n = check(::read(fd.get(), buf, sizeof buf), "read", path.string())) > 0)
    text.append(buf, static_cast<size_t>(n));
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

void write_text(const fs::path& path, std::string_view text, int flags) {
  UniqueFd fd(
      check(::open(path.c_str(), O_WRONLY | O_CLOEXEC | flags, 0644), "open", path.string()));
  if (check(::write(fd.get(), text.data(), text.size()), "write", path.string()) !=
      static_cast<ssize_t>(text.size()))
    throw SyscallError(EIO, "write", path.string());
}

void set_ip_forward(const std::string& value) {
  write_text(kIpForward, value + "\n", O_TRUNC);
  narrate({.call = fmt::format("write('{}', \"{}\")", kIpForward, value),
           .result = "ok",
           .shell = fmt::format("sysctl -w net.ipv4.ip_forward={}", value),
           .man = "proc(5), Documentation/networking/ip-sysctl.rst"});
}

struct NatUser {
  fs::path file;
  pid_t pid = 0;
  NatRule rule;
};

// The users recorded in dir: files "user.PID.N" holding "SUBNET BRIDGE".
std::vector<NatUser> read_users(const fs::path& dir) {
  std::vector<NatUser> users;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("user.", 0) != 0) continue;
    NatUser user;
    user.file = entry.path();
    std::from_chars(name.data() + 5, name.data() + name.size(), user.pid);
    const std::string text = read_text(entry.path());
    const auto space = text.find(' ');
    user.rule = {text.substr(0, space), space == std::string::npos ? "" : text.substr(space + 1)};
    users.push_back(std::move(user));
  }
  return users;
}

// With the lock held: forgets users whose process is gone (killed before they could clean
// up), removes every rule among `candidates` and the dead users' rules that no live user
// needs, and restores forwarding once no user is left.
void settle(const fs::path& dir, std::vector<NatRule> candidates) {
  std::vector<NatUser> live;
  for (NatUser& user : read_users(dir)) {
    if (pid_alive(user.pid)) {
      live.push_back(std::move(user));
    } else {
      ::unlink(user.file.c_str());
      candidates.push_back(user.rule);
    }
  }
  for (const NatRule& rule : candidates) {
    const bool needed =
        std::any_of(live.begin(), live.end(), [&](const NatUser& u) { return u.rule == rule; });
    if (!needed && !rule.subnet.empty() && nat_rule_installed(rule)) change_rule("-D", rule);
  }
  const fs::path saved = dir / "ip_forward.saved";
  if (live.empty() && fs::exists(saved)) {
    set_ip_forward(read_text(saved));
    fs::remove(saved);
  }
}

}  // namespace

Nat Nat::enable(Ipv4Cidr subnet, std::string bridge, fs::path state_dir) {
  validate_link_name(bridge, "bridge");
  static std::atomic<unsigned> counter{0};
  Nat nat;  // declared before the lock: on error, the lock goes first, then nat cleans up
  nat.subnet_ = subnet.subnet();
  nat.bridge_ = std::move(bridge);
  nat.dir_ = std::move(state_dir) / "nat";
  DirLock lock(nat.dir_);
  const NatRule rule{nat.subnet_.to_string(), nat.bridge_};

  const fs::path user = nat.dir_ / fmt::format("user.{}.{}", ::getpid(), counter++);
  write_text(user, fmt::format("{} {}\n", rule.subnet, rule.bridge), O_CREAT | O_EXCL);
  nat.user_file_ = user;
  settle(nat.dir_, {});

  // The first user saves the value forwarding had before us; the last one puts it back.
  const fs::path saved = nat.dir_ / "ip_forward.saved";
  if (!fs::exists(saved)) write_text(saved, read_text(kIpForward) + "\n", O_CREAT | O_TRUNC);
  if (read_text(kIpForward) != "1") set_ip_forward("1");
  // -C before -A: appending blindly would stack one copy of the rule per container.
  if (!nat_rule_installed(rule)) change_rule("-A", rule);
  return nat;
}

// --- Issue #17 item 7: cleanup drops what killed runtimes held (begin) ---
// A SIGKILLed runtime's user file stays, and with it the rule and forwarding, until the next
// enable or disable settles; cleanup settles now. The lock directory is not created if absent.
void Nat::release_dead_users(fs::path state_dir) {
  const fs::path dir = state_dir / "nat";
  if (!fs::exists(dir)) return;
  DirLock lock(dir);
  settle(dir, {});
}
// --- Issue #17 item 7 (end) ---

bool Nat::rule_installed(Ipv4Cidr subnet, std::string_view bridge) {
  return nat_rule_installed(NatRule{subnet.subnet().to_string(), std::string(bridge)});
}

Nat::Nat(Nat&& other) noexcept
    : subnet_(other.subnet_),
      bridge_(std::move(other.bridge_)),
      dir_(std::move(other.dir_)),
      user_file_(std::exchange(other.user_file_, {})) {}

Nat& Nat::operator=(Nat&& other) noexcept {
  if (this != &other) {
    disable();
    subnet_ = other.subnet_;
    bridge_ = std::move(other.bridge_);
    dir_ = std::move(other.dir_);
    user_file_ = std::exchange(other.user_file_, {});
  }
  return *this;
}

void Nat::disable() noexcept {
  if (user_file_.empty()) return;
  try {
    DirLock lock(dir_);
    ::unlink(user_file_.c_str());
    settle(dir_, {NatRule{subnet_.to_string(), bridge_}});
  } catch (const std::exception& e) {
    narrate({.call = "Nat::disable",
             .result = fmt::format("failed: {}", e.what()),
             .shell = "",
             .man = "iptables(8)"});
  } catch (...) {
  }
  user_file_.clear();
}

}  // namespace ctr
