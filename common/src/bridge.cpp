// The bridge and the veth pairs. Read bridge.hpp first.
#include "ctr/bridge.hpp"

#include <arpa/inet.h>   // ntohl
#include <net/if.h>      // IFNAMSIZ
#include <sys/random.h>  // getrandom(2)
#include <unistd.h>      // getpid(2)

#include <netlink/netlink.h>          // NLM_F_*
#include <netlink/route/link.h>       // rtnl_link_*: RTM_NEWLINK
#include <netlink/route/link/veth.h>  // rtnl_link_veth_add

#include <algorithm>  // std::min
#include <fstream>    // std::ifstream: /proc/net/route
#include <new>        // std::bad_alloc
#include <sstream>    // std::istringstream
#include <stdexcept>  // std::invalid_argument
#include <utility>    // std::exchange

#include <fmt/format.h>  // fmt::format

#include "ctr/error.hpp"    // SyscallError, check
#include "ctr/narrate.hpp"  // narrate

namespace ctr {

// --- Names ------------------------------------------------------------------------------

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

// --- Bridge -----------------------------------------------------------------------------

std::optional<std::string> clashing_route(Ipv4Cidr subnet, const std::string& bridge,
                                          const std::string& route_file) {
  // Iface Destination Gateway Flags RefCnt Use Metric Mask ...: addresses in hex, as the
  // kernel holds them in memory (network byte order, read back on a little-endian host).
  std::ifstream routes(route_file);
  std::string line;
  std::getline(routes, line);  // the header
  while (std::getline(routes, line)) {
    std::istringstream fields(line);
    std::string iface, destination, gateway, flags, refcnt, use, metric, mask;
    if (!(fields >> iface >> destination >> gateway >> flags >> refcnt >> use >> metric >> mask))
      continue;
    const Ipv4Cidr route{ntohl(static_cast<uint32_t>(std::stoul(destination, nullptr, 16))),
                         __builtin_popcount(static_cast<uint32_t>(std::stoul(mask, nullptr, 16)))};
    if (route.prefix == 0 || iface == bridge) continue;  // the default route; our own
    const int shorter = std::min(route.prefix, subnet.prefix);
    const Ipv4Cidr common{subnet.addr, shorter};
    if (common.contains(route.addr)) {
      return fmt::format("{}/{} dev {}", format_ipv4(route.network()), route.prefix, iface);
    }
  }
  return std::nullopt;
}

namespace {
// Before the bridge gets its address (and with it a route to the subnet): refuse a subnet
// that a route of the host's already covers.
void refuse_clashing_subnet(const std::string& bridge, Ipv4Cidr gateway) {
  const Ipv4Cidr subnet{gateway.network(), gateway.prefix};
  if (const auto route = clashing_route(subnet, bridge)) {
    throw UsageError(fmt::format(
        "subnet {}/{} clashes with the host's route {}: choose another --subnet (`ip route` "
        "lists the host's)",
        format_ipv4(subnet.network()), subnet.prefix, *route));
  }
}

// A bridge that exists already serves one subnet: a second one on it would leave its address
// and route behind (the bridge is shared and stays). One that has no address yet is ours to give
// one. True when it has the gateway's address already, false when it has no address; another
// subnet's address is refused.
bool serves_subnet(const NetlinkSocket& nl, rtnl_link* link, Ipv4Cidr gateway) {
  const std::string bridge = rtnl_link_get_name(link);
  const std::vector<Ipv4Cidr> present = ipv4_addresses(nl, link);
  if (present.empty()) return false;
  for (const Ipv4Cidr& a : present) {
    if (a.addr == gateway.addr && a.prefix == gateway.prefix) return true;
  }
  throw UsageError(fmt::format(
      "bridge {} serves {} already, not the subnet {}: give that subnet a bridge of its own "
      "(--bridge NAME --subnet {}), or leave out --subnet",
      bridge, present.front().to_string(), gateway.subnet().to_string(),
      gateway.subnet().to_string()));
}

void refuse_non_bridge(const std::string& name, rtnl_link* link) {
  const char* type = rtnl_link_get_type(link);  // IFLA_INFO_KIND
  if (!type || std::string_view(type) != "bridge")
    throw UsageError(
        fmt::format("link '{}' exists but is not a bridge (it is {}): choose another "
                    "bridge name",
                    name, type ? fmt::format("a {}", type) : "a physical device"));
}
}  // namespace

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
    refuse_non_bridge(name, link.get());
    // Every container after the first finds the bridge ready: its address (and so the route
    // to the subnet, its own) and up. Nothing to check or change then: five netlink requests
    // and a read of /proc/net/route less per start (#16).
    if (serves_subnet(nl, link.get(), gateway) && (rtnl_link_get_flags(link.get()) & IFF_UP) != 0) {
      narrate({.call = fmt::format("rtnl_addr_alloc_cache('{}')", name),
               .result = fmt::format("has {} and is up: ready", gateway.to_string()),
               .shell = fmt::format("ip addr show {}", name),
               .man = "ip-address(8), rtnetlink(7)"});
      return Bridge(std::move(name), gateway, created, rtnl_link_get_ifindex(link.get()));
    }
    refuse_clashing_subnet(name, gateway);
  } else {
    refuse_clashing_subnet(name, gateway);
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
    refuse_non_bridge(name, link.get());
  }
  add_address(nl, name, gateway, /*exist_ok=*/true);
  set_link_up(nl, name);
  return Bridge(std::move(name), gateway, created, rtnl_link_get_ifindex(link.get()));
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
  rtnl_link* veth = rtnl_link_veth_alloc();
  if (veth == nullptr) throw std::bad_alloc();
  LinkPtr link(veth);
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

// Both name the host end by its name alone (change_link_named), and the bridge by the index
// ensure() found: one RTM_NEWLINK each, no RTM_GETLINK before it (three fewer per start).
void VethPair::attach_to(const Bridge& bridge) {
  LinkPtr changes = new_link();
  rtnl_link_set_master(changes.get(), bridge.index());  // IFLA_MASTER
  change_link_named(nl_, host_, changes.get());
  narrate({.call = fmt::format("rtnl_link_change('{}', IFLA_MASTER={})", host_, bridge.name()),
           .result = "attached",
           .shell = fmt::format("ip link set {} master {}", host_, bridge.name()),
           .man = "ip-link(8), bridge(8)"});
}

void VethPair::up() {
  LinkPtr changes = new_link();
  rtnl_link_set_flags(changes.get(), IFF_UP);  // administratively up (netdevice(7))
  change_link_named(nl_, host_, changes.get());
  narrate({.call = fmt::format("rtnl_link_change('{}', flags |= IFF_UP)", host_),
           .result = "up",
           .shell = fmt::format("ip link set {} up", host_),
           .man = "ip-link(8), netdevice(7)"});
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

}  // namespace ctr
