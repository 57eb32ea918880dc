// Tests of ctr/netlink.hpp, ctr/bridge.hpp and ctr/nat.hpp. The first group needs no root (name
// rules, reading links). The privileged group builds real bridges and veth pairs with names unique
// to this run, on subnets of 10.47.200.0/21 reserved for these tests, and sends traffic only
// between the host and the network namespaces it creates itself, on its own bridge.
#include "ctr/bridge.hpp"
#include "ctr/dirlock.hpp"
#include "ctr/nat.hpp"
#include "ctr/netlink.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>   // htonl, htons
#include <fcntl.h>       // O_CLOEXEC
#include <netinet/in.h>  // sockaddr_in
#include <sched.h>       // unshare(2), CLONE_NEWNET
#include <signal.h>      // kill(2)
#include <sys/socket.h>  // socket(2), bind(2), listen(2), accept(2), connect(2)
#include <sys/time.h>    // timeval
#include <sys/wait.h>    // waitpid(2)
#include <unistd.h>      // fork(2), pipe2(2), _exit(2)

#include <algorithm>   // std::find
#include <cstdio>      // std::fprintf
#include <filesystem>  // std::filesystem
#include <fstream>     // std::ifstream
#include <set>         // std::set
#include <sstream>     // std::istringstream
#include <string>
#include <vector>

#include "ctr/error.hpp"  // UsageError, SyscallError, check
#include "ctr/fd.hpp"     // UniqueFd
#include "support.hpp"    // MC_REQUIRE_ROOT, mc::test::sh, mc::test::read_file

namespace {

using ctr::Bridge;
using ctr::ipv4;
using ctr::Ipv4Cidr;
using ctr::UniqueFd;
using ctr::UsageError;
using ctr::VethPair;
using mc::test::usage_error;

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// --- Without root -----------------------------------------------------------------------

TEST(LinkName, AcceptsWhatTheKernelAccepts) {
  for (const char* ok : {"ctr0", "eth0", "veth1a2b3c4d", "a", "br-test_1.x", "abcdefghijklmno"})
    EXPECT_NO_THROW(ctr::validate_link_name(ok)) << ok;
}

TEST(LinkName, RefusesWhatTheKernelRefusesWithAClearMessage) {
  EXPECT_EQ(usage_error([] { ctr::validate_link_name("abcdefghijklmnop", "bridge"); }),
            "bridge name 'abcdefghijklmnop' is too long: at most 15 characters (IFNAMSIZ)");
  EXPECT_EQ(usage_error([] { ctr::validate_link_name("", "bridge"); }), "bridge name is empty");
  EXPECT_EQ(usage_error([] { ctr::validate_link_name("a/b", "bridge"); }),
            "bridge name 'a/b' contains '/': not allowed in interface names");
  EXPECT_EQ(usage_error([] { ctr::validate_link_name("a b"); }),
            "link name 'a b' contains whitespace: not allowed in interface names");
  for (const char* bad : {"a:b", ".", "..", "tab\there", "new\nline"})
    EXPECT_NE(usage_error([&] { ctr::validate_link_name(bad); }), "") << bad;
}

TEST(LinkName, UniqueNamesAreValidAndDiffer) {
  const std::string a = ctr::unique_link_name("veth");
  const std::string b = ctr::unique_link_name("veth");
  EXPECT_EQ(a.size(), 12u);
  EXPECT_EQ(a.rfind("veth", 0), 0u);
  EXPECT_EQ(a.find_first_not_of("0123456789abcdef", 4), std::string::npos) << a;
  EXPECT_NE(a, b);
  EXPECT_NO_THROW(ctr::validate_link_name(a));
  EXPECT_THROW(ctr::unique_link_name("toolong!"), std::invalid_argument);

  const ctr::VethNames names = ctr::unique_veth_names();
  EXPECT_EQ(names.host.rfind("veth", 0), 0u);
  EXPECT_EQ(names.peer.rfind("ceth", 0), 0u);
  EXPECT_EQ(names.host.substr(4), names.peer.substr(4));
}

TEST(LinkName, DefaultsAreValid) {
  EXPECT_EQ(ctr::kDefaultBridge, "ctr0");
  EXPECT_NO_THROW(ctr::validate_link_name(ctr::kDefaultBridge));
  EXPECT_NO_THROW(ctr::validate_link_name(ctr::kContainerInterface));
}

// Bad names are refused before anything is created (and so without root).
TEST(Net, BadNamesAreRefusedBeforeAnyChange) {
  const Ipv4Cidr gw{ipv4(10, 47, 200, 1), 24};
  EXPECT_NE(usage_error([&] { Bridge::ensure("averyveryverylongname", gw); }).find("too long"),
            std::string::npos);
  EXPECT_NE(usage_error([] { VethPair::create("veth/1", "ceth1"); }).find("'/'"),
            std::string::npos);
  EXPECT_NE(usage_error([] { ctr::Nat::enable(ctr::kDefaultSubnet, "no such/bridge"); }), "");
}

// Reading links needs no privilege: only changes need CAP_NET_ADMIN (rtnetlink(7)).
TEST(Net, ListsLinksOfThisNamespace) {
  const std::vector<std::string> links = ctr::list_links();
  EXPECT_TRUE(contains(links, "lo"));
  EXPECT_TRUE(ctr::link_exists("lo"));
  EXPECT_FALSE(ctr::link_exists(ctr::unique_link_name("mct")));
}

// --- Helpers for the privileged tests ---------------------------------------------------

// Each privileged test has its own subnet in 10.47.200.0/21; the lock makes a second run of
// the same test (another ctest process) wait instead of putting the same subnet on two
// bridges.
ctr::DirLock lock_subnet(Ipv4Cidr subnet) {
  return ctr::DirLock(std::filesystem::temp_directory_path() / "mct-net-locks" /
                      (ctr::format_ipv4(subnet.addr) + "-" + std::to_string(subnet.prefix)));
}

// Deletes a link at the end of the scope, whatever happened in between.
struct LinkCleanup {
  std::string name;
  ~LinkCleanup() {
    try {
      ctr::delete_link(name);
    } catch (...) {
    }
  }
};

// Kills and reaps a forked child at the end of the scope unless it was waited for.
struct ChildGuard {
  pid_t pid = -1;
  int wait() {
    int status = 0;
    ::waitpid(std::exchange(pid, -1), &status, 0);
    return status;
  }
  ~ChildGuard() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  }
};

struct Pipe {
  UniqueFd read_end, write_end;
  Pipe() {
    int fds[2];
    ctr::check(::pipe2(fds, O_CLOEXEC), "pipe2");
    read_end.reset(fds[0]);
    write_end.reset(fds[1]);
  }
};

void put(const UniqueFd& fd, char c) {
  ASSERT_EQ(::write(fd.get(), &c, 1), 1);
}
char get(const UniqueFd& fd) {
  char c = 0;
  return ::read(fd.get(), &c, 1) == 1 ? c : '\0';  // '\0': the other side exited
}

// The test talks TCP with short timeouts, so that a broken setup fails instead of hanging.
// Linux applies SO_SNDTIMEO to connect(2) and SO_RCVTIMEO to accept(2) (socket(7)).
UniqueFd tcp_socket() {
  UniqueFd fd(ctr::check(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), "socket"));
  const timeval timeout{.tv_sec = 10, .tv_usec = 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  const int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  return fd;
}

sockaddr_in endpoint(uint32_t address, uint16_t port) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(address);
  sa.sin_port = htons(port);
  return sa;
}

UniqueFd tcp_listen(uint32_t address, uint16_t port) {
  UniqueFd fd = tcp_socket();
  const sockaddr_in sa = endpoint(address, port);
  ctr::check(::bind(fd.get(), reinterpret_cast<const sockaddr*>(&sa), sizeof sa), "bind",
             ctr::format_ipv4(address));
  ctr::check(::listen(fd.get(), 4), "listen");
  return fd;
}

UniqueFd tcp_connect(uint32_t address, uint16_t port) {
  UniqueFd fd = tcp_socket();
  const sockaddr_in sa = endpoint(address, port);
  ctr::check(::connect(fd.get(), reinterpret_cast<const sockaddr*>(&sa), sizeof sa), "connect",
             ctr::format_ipv4(address));
  return fd;
}

UniqueFd tcp_accept(const UniqueFd& listener) {
  return UniqueFd(ctr::check(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC), "accept"));
}

void send_line(const UniqueFd& fd, const std::string& line) {
  const std::string data = line + "\n";
  ctr::check(::send(fd.get(), data.data(), data.size(), MSG_NOSIGNAL), "send");
}

std::string recv_line(const UniqueFd& fd) {
  std::string line;
  char c;
  while (ctr::check(::recv(fd.get(), &c, 1, 0), "recv") == 1 && c != '\n') line += c;
  return line;
}

// True when /proc/net/route (this thread's namespace: /proc/net is /proc/self/net) has a
// default route (destination 0) via `gateway`. The file prints addresses as the hex of
// their in-memory, network-order bytes, so 10.47.200.1 reads "01C82F0A" on x86.
bool has_default_route_via(uint32_t gateway) {
  std::ifstream routes("/proc/net/route");
  std::string line;
  std::getline(routes, line);  // header
  while (std::getline(routes, line)) {
    std::istringstream fields(line);
    std::string iface, destination, via;
    fields >> iface >> destination >> via;
    if (destination == "00000000" && std::stoul(via, nullptr, 16) == htonl(gateway)) return true;
  }
  return false;
}

// The output of an `ip` command, to check our work the way a learner would.
std::string ip(const std::string& args) {
  return mc::test::sh("ip " + args + " 2>&1").out;
}

// --- With root: bridge ------------------------------------------------------------------

TEST(NetPrivileged, BridgeEnsureCreatesConfiguresAndIsIdempotent) {
  MC_REQUIRE_ROOT();
  const Ipv4Cidr subnet{ipv4(10, 47, 201, 0), 24};
  auto lock = lock_subnet(subnet);
  LinkCleanup cleanup{ctr::unique_link_name("mct")};
  const std::string& name = cleanup.name;

  const Bridge first = Bridge::ensure(name, ctr::gateway_of(subnet));
  EXPECT_TRUE(first.created());
  EXPECT_TRUE(ctr::link_exists(name));
  const std::string details = ip("-d link show " + name);
  EXPECT_NE(details.find("bridge"), std::string::npos) << details;
  EXPECT_NE(details.find(",UP"), std::string::npos) << details;
  EXPECT_NE(ip("-4 -o addr show dev " + name).find("inet 10.47.201.1/24"), std::string::npos);

  const Bridge again = Bridge::ensure(name, ctr::gateway_of(subnet));
  EXPECT_FALSE(again.created());
  const std::string addrs = ip("-4 -o addr show dev " + name);
  EXPECT_EQ(std::count(addrs.begin(), addrs.end(), '\n'), 1) << addrs;

  EXPECT_TRUE(ctr::delete_link(name));
  EXPECT_FALSE(ctr::link_exists(name));
  EXPECT_FALSE(ctr::delete_link(name));
}

// A bridge with its address is taken as it is (no request sent), but only when it is up too:
// one somebody set down is brought up again, its address kept.
TEST(NetPrivileged, BridgeEnsureBringsUpABridgeThatWasSetDown) {
  MC_REQUIRE_ROOT();
  const Ipv4Cidr subnet{ipv4(10, 47, 209, 0), 24};
  auto lock = lock_subnet(subnet);
  LinkCleanup cleanup{ctr::unique_link_name("mct")};
  const std::string& name = cleanup.name;
  Bridge::ensure(name, ctr::gateway_of(subnet));
  ASSERT_EQ(mc::test::sh("ip link set " + name + " down").status, 0);
  ASSERT_EQ(ip("-d link show " + name).find(",UP"), std::string::npos);

  const Bridge again = Bridge::ensure(name, ctr::gateway_of(subnet));
  EXPECT_FALSE(again.created());
  EXPECT_NE(ip("-d link show " + name).find(",UP"), std::string::npos);
  const std::string addrs = ip("-4 -o addr show dev " + name);
  EXPECT_NE(addrs.find("inet 10.47.209.1/24"), std::string::npos) << addrs;
  EXPECT_EQ(std::count(addrs.begin(), addrs.end(), '\n'), 1) << addrs;
}

// Two containers starting at once both ensure the bridge: neither may fail.
TEST(NetPrivileged, BridgeEnsureIsSafeWhenProcessesRace) {
  MC_REQUIRE_ROOT();
  const Ipv4Cidr subnet{ipv4(10, 47, 202, 0), 24};
  auto lock = lock_subnet(subnet);
  LinkCleanup cleanup{ctr::unique_link_name("mct")};
  constexpr int kProcesses = 8;
  Pipe start;
  std::vector<ChildGuard> children(kProcesses);
  for (ChildGuard& child : children) {
    child.pid = ::fork();
    ASSERT_GE(child.pid, 0);
    if (child.pid == 0) {
      start.write_end.reset();
      get(start.read_end);  // EOF: go
      try {
        Bridge::ensure(cleanup.name, ctr::gateway_of(subnet));
        ::_exit(0);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "ensure failed: %s\n", e.what());
        ::_exit(1);
      }
    }
  }
  start.write_end.reset();
  for (ChildGuard& child : children) {
    const int status = child.wait();
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  const std::string addrs = ip("-4 -o addr show dev " + cleanup.name);
  EXPECT_NE(addrs.find("inet 10.47.202.1/24"), std::string::npos) << addrs;
  EXPECT_EQ(std::count(addrs.begin(), addrs.end(), '\n'), 1) << addrs;
}

TEST(NetPrivileged, BridgeEnsureRefusesALinkThatIsNotABridge) {
  MC_REQUIRE_ROOT();
  const ctr::VethNames names = ctr::unique_veth_names();
  VethPair veth = VethPair::create(names.host, names.peer);
  const std::string why = usage_error([&] {
    Bridge::ensure(names.host, {ipv4(10, 47, 203, 1), 24});
  });
  EXPECT_EQ(why, "link '" + names.host +
                     "' exists but is not a bridge (it is a veth): choose another bridge name");
  EXPECT_EQ(ip("-4 -o addr show dev " + names.host), "");  // nothing was added to it
}

// --- With root: veth --------------------------------------------------------------------

TEST(NetPrivileged, VethPairIsAttachedAndRemovedWithBothEnds) {
  MC_REQUIRE_ROOT();
  const Ipv4Cidr subnet{ipv4(10, 47, 204, 0), 24};
  auto lock = lock_subnet(subnet);
  LinkCleanup bridge_cleanup{ctr::unique_link_name("mct")};
  const Bridge bridge = Bridge::ensure(bridge_cleanup.name, ctr::gateway_of(subnet));
  const ctr::VethNames names = ctr::unique_veth_names();
  {
    VethPair veth = VethPair::create(names.host, names.peer);
    EXPECT_TRUE(ctr::link_exists(names.host));
    EXPECT_TRUE(ctr::link_exists(names.peer));
    EXPECT_THROW(VethPair::create(names.host, "ceth-other"), ctr::SyscallError);  // EEXIST

    veth.attach_to(bridge);
    veth.up();
    const std::string shown = ip("link show " + names.host);
    EXPECT_NE(shown.find("master " + bridge.name()), std::string::npos) << shown;
    EXPECT_NE(shown.find("UP"), std::string::npos) << shown;

    VethPair moved = std::move(veth);  // ownership moves; only `moved` deletes
    veth.remove();                     // NOLINT(bugprone-use-after-move): a no-op
    EXPECT_TRUE(ctr::link_exists(names.host));
  }
  EXPECT_FALSE(ctr::link_exists(names.host));
  EXPECT_FALSE(ctr::link_exists(names.peer));  // deleting one end deleted the other
}

// The container was killed: its namespace dies, and with it the pair (veth(4)), while the
// kernel tears it down in the background. remove() copes with either state.
TEST(NetPrivileged, VethPairRemovalCopesWhenTheNamespaceDiedFirst) {
  MC_REQUIRE_ROOT();
  const ctr::VethNames names = ctr::unique_veth_names();
  Pipe ready, hold;
  ChildGuard child{::fork()};
  ASSERT_GE(child.pid, 0);
  if (child.pid == 0) {
    hold.write_end.reset();
    if (::unshare(CLONE_NEWNET) != 0) ::_exit(1);
    put(ready.write_end, 'r');
    get(hold.read_end);  // until killed
    ::_exit(0);
  }
  ASSERT_EQ(get(ready.read_end), 'r');
  VethPair veth = VethPair::create(names.host, names.peer);
  veth.move_peer_to_netns(child.pid);
  ::kill(child.pid, SIGKILL);
  child.wait();
  EXPECT_NO_THROW(veth.remove());
  EXPECT_FALSE(ctr::link_exists(names.host));
}

// --- With root: the whole of step 5, host <-> namespace ---------------------------------

// The child's half: a fresh network namespace, configured like a container's, which then
// talks to the host over the bridge. Runs in a forked child; returns its exit code.
int namespace_side(const Pipe& ready, const Pipe& go, const std::string& peer, Ipv4Cidr address,
                   uint32_t gateway, uint16_t host_port, uint16_t ns_port) {
  try {
    ctr::check(::unshare(CLONE_NEWNET), "unshare", "CLONE_NEWNET");
    put(ready.write_end, 'r');
    if (get(go.read_end) != 'g') return 2;  // the parent gave up

    ctr::configure_container_interface(peer, ctr::kContainerInterface, address, gateway);
    const auto links = ctr::list_links();
    if (std::set<std::string>(links.begin(), links.end()) != std::set<std::string>{"lo", "eth0"}) {
      std::fprintf(stderr, "namespace: unexpected links\n");
      return 3;
    }
    if (!has_default_route_via(gateway)) {
      std::fprintf(stderr, "namespace: no default route via the gateway\n");
      return 4;
    }

    UniqueFd listener = tcp_listen(address.addr, ns_port);
    put(ready.write_end, 'l');
    {  // namespace -> host
      UniqueFd to_host = tcp_connect(gateway, host_port);
      send_line(to_host, "hello from the namespace");
    }
    // host -> namespace, and the answer back
    UniqueFd from_host = tcp_accept(listener);
    if (recv_line(from_host) != "ping from the host") return 5;
    send_line(from_host, "pong from the namespace");
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "namespace: %s\n", e.what());
    return 1;
  }
}

TEST(NetPrivileged, HostAndNamespaceTalkOverTheBridge) {
  MC_REQUIRE_ROOT();
  const Ipv4Cidr subnet{ipv4(10, 47, 200, 0), 24};
  auto lock = lock_subnet(subnet);
  const Ipv4Cidr gateway = ctr::gateway_of(subnet);       // 10.47.200.1/24, on the bridge
  const Ipv4Cidr address{subnet.host(2), subnet.prefix};  // 10.47.200.2/24, in the namespace
  constexpr uint16_t kHostPort = 47201, kNamespacePort = 47202;

  const ctr::VethNames names = ctr::unique_veth_names();
  LinkCleanup bridge_cleanup{ctr::unique_link_name("mct")};
  const std::vector<std::string> before = ctr::list_links();
  const Bridge bridge = Bridge::ensure(bridge_cleanup.name, gateway);
  UniqueFd host_listener = tcp_listen(gateway.addr, kHostPort);

  Pipe ready, go;
  ChildGuard child{::fork()};
  ASSERT_GE(child.pid, 0);
  if (child.pid == 0) {
    ready.read_end.reset();
    go.write_end.reset();
    ::_exit(
        namespace_side(ready, go, names.peer, address, gateway.addr, kHostPort, kNamespacePort));
  }
  ready.write_end.reset();
  go.read_end.reset();
  ASSERT_EQ(get(ready.read_end), 'r');  // the child has its own network namespace now

  {
    VethPair veth = VethPair::create(names.host, names.peer);
    veth.attach_to(bridge);
    veth.up();
    veth.move_peer_to_netns(child.pid);
    EXPECT_TRUE(ctr::link_exists(names.host));
    EXPECT_FALSE(ctr::link_exists(names.peer));  // it lives in the child's namespace now
    put(go.write_end, 'g');

    ASSERT_EQ(get(ready.read_end), 'l') << "the namespace side failed: see its stderr above";
    {  // host -> namespace
      UniqueFd to_ns = tcp_connect(address.addr, kNamespacePort);
      send_line(to_ns, "ping from the host");
      EXPECT_EQ(recv_line(to_ns), "pong from the namespace");
    }
    {  // namespace -> host
      UniqueFd from_ns = tcp_accept(host_listener);
      EXPECT_EQ(recv_line(from_ns), "hello from the namespace");
    }
    const int status = child.wait();
    EXPECT_TRUE(WIFEXITED(status)) << status;
    EXPECT_EQ(WEXITSTATUS(status), 0);
  }  // ~VethPair: the host end goes, if the dying namespace did not take it already

  EXPECT_FALSE(ctr::link_exists(names.host));
  EXPECT_TRUE(ctr::delete_link(bridge.name()));
  const std::vector<std::string> after = ctr::list_links();
  for (const std::string& name : {names.host, names.peer, bridge.name()}) {
    EXPECT_FALSE(contains(before, name)) << name;
    EXPECT_FALSE(contains(after, name)) << name;  // nothing of ours is left behind
  }
}

// --net none: only lo, and it works.
TEST(NetPrivileged, LoopbackAloneInANewNamespace) {
  MC_REQUIRE_ROOT();
  ChildGuard child{::fork()};
  ASSERT_GE(child.pid, 0);
  if (child.pid == 0) {
    try {
      ctr::check(::unshare(CLONE_NEWNET), "unshare", "CLONE_NEWNET");
      const uint32_t localhost = ipv4(127, 0, 0, 1);
      bool refused = false;
      try {
        tcp_connect(localhost, 47203);  // lo is down: no route, not even to 127.0.0.1
      } catch (const ctr::SyscallError& e) {
        refused = e.err() == ENETUNREACH;
      }
      ctr::bring_up_loopback();
      UniqueFd listener = tcp_listen(localhost, 47203);
      UniqueFd client = tcp_connect(localhost, 47203);
      UniqueFd server = tcp_accept(listener);
      send_line(client, "hi");
      const bool ok = refused && recv_line(server) == "hi" && ctr::list_links().size() == 1;
      ::_exit(ok ? 0 : 2);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "namespace: %s\n", e.what());
      ::_exit(1);
    }
  }
  const int status = child.wait();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

// --- With root: NAT ---------------------------------------------------------------------

std::string ip_forward() {
  return mc::test::read_file("/proc/sys/net/ipv4/ip_forward");
}

// Users of NAT other than this test: containers started with --nat meanwhile. Forwarding
// is only restored when the last user goes, so the tests check it only when alone.
bool nat_has_other_users() {
  const auto dir = std::filesystem::path(ctr::kNetStateDir) / "nat";
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec))
    if (entry.path().filename().string().rfind("user.", 0) == 0) return true;
  return false;
}

// The NAT tests change the host-wide ip_forward: one at a time.
ctr::DirLock lock_nat_tests() {
  return ctr::DirLock(std::filesystem::temp_directory_path() / "mct-net-locks" / "nat");
}

TEST(NetPrivileged, NatRuleIsSharedAndRemovedWithItsLastUser) {
  MC_REQUIRE_ROOT();
  const Ipv4Cidr subnet{ipv4(10, 47, 205, 0), 24};
  auto lock = lock_nat_tests();
  const std::string bridge = ctr::unique_link_name("mct");  // a rule may name a missing link
  const bool alone = !nat_has_other_users();
  const std::string forward_before = ip_forward();
  ASSERT_FALSE(ctr::Nat::rule_installed(subnet, bridge));
  {
    ctr::Nat first = ctr::Nat::enable(subnet, bridge);
    EXPECT_TRUE(ctr::Nat::rule_installed(subnet, bridge));
    EXPECT_EQ(ip_forward(), "1\n");
    {
      ctr::Nat second = ctr::Nat::enable(subnet, bridge);
      const std::string rules = mc::test::sh("iptables -t nat -S POSTROUTING").out;
      const std::string rule = "-A POSTROUTING -s 10.47.205.0/24 ! -o " + bridge + " -j MASQUERADE";
      EXPECT_NE(rules.find(rule), std::string::npos) << rules;
      EXPECT_EQ(rules.find(rule), rules.rfind(rule)) << "installed twice:\n" << rules;
    }
    EXPECT_TRUE(ctr::Nat::rule_installed(subnet, bridge));  // `first` still uses it
  }
  EXPECT_FALSE(ctr::Nat::rule_installed(subnet, bridge));
  if (alone && !nat_has_other_users()) {
    EXPECT_EQ(ip_forward(), forward_before);
  }
}

// A runtime killed with SIGKILL cannot remove its rule; the next user of NAT does.
TEST(NetPrivileged, NatRuleOfAKilledProcessIsRemovedLater) {
  MC_REQUIRE_ROOT();
  const Ipv4Cidr killed_subnet{ipv4(10, 47, 206, 0), 24};
  const Ipv4Cidr other_subnet{ipv4(10, 47, 207, 0), 24};
  auto lock = lock_nat_tests();
  const std::string bridge = ctr::unique_link_name("mct");
  const bool alone = !nat_has_other_users();
  const std::string forward_before = ip_forward();

  ChildGuard child{::fork()};
  ASSERT_GE(child.pid, 0);
  if (child.pid == 0) {
    try {
      [[maybe_unused]] const ctr::Nat nat = ctr::Nat::enable(killed_subnet, bridge);
      ::_exit(0);  // no destructor runs: as if killed
    } catch (...) {
      ::_exit(1);
    }
  }
  const int status = child.wait();
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_TRUE(ctr::Nat::rule_installed(killed_subnet, bridge));
  {
    ctr::Nat nat = ctr::Nat::enable(other_subnet, bridge);
    EXPECT_FALSE(ctr::Nat::rule_installed(killed_subnet, bridge));
    EXPECT_TRUE(ctr::Nat::rule_installed(other_subnet, bridge));
  }
  EXPECT_FALSE(ctr::Nat::rule_installed(other_subnet, bridge));
  if (alone && !nat_has_other_users()) {
    EXPECT_EQ(ip_forward(), forward_before);
  }
}

// `run -d`: create enables NAT and exits; the monitor, alive, is the user from then on
// (hand_over), and its end gives it back (release_users_of), though it is alive then.
TEST(NetPrivileged, NatHandedOverStaysUntilItsNewOwnerReleasesIt) {
  MC_REQUIRE_ROOT();
  const Ipv4Cidr subnet{ipv4(10, 47, 208, 0), 24};
  auto lock = lock_nat_tests();
  const std::string bridge = ctr::unique_link_name("mct");
  const bool alone = !nat_has_other_users();
  const std::string forward_before = ip_forward();
  ChildGuard owner{::fork()};  // the "monitor": alive until the end of the test
  ASSERT_GE(owner.pid, 0);
  if (owner.pid == 0) {
    ::pause();
    ::_exit(0);
  }
  {
    ctr::Nat nat = ctr::Nat::enable(subnet, bridge);
    nat.hand_over(owner.pid);
  }  // our destructor: no longer a user, nothing removed
  EXPECT_TRUE(ctr::Nat::rule_installed(subnet, bridge));
  ctr::Nat::release_dead_users();  // the owner lives: kept
  EXPECT_TRUE(ctr::Nat::rule_installed(subnet, bridge));
  ctr::Nat::release_users_of(owner.pid);
  EXPECT_FALSE(ctr::Nat::rule_installed(subnet, bridge));
  if (alone && !nat_has_other_users()) {
    EXPECT_EQ(ip_forward(), forward_before);
  }
}

}  // namespace

// --subnet against the host's routes (issue #15): a subnet that a route through another
// interface covers, in part or in whole, is refused; the default route and the bridge's own
// route are not clashes.
TEST(ClashingRoute, FindsOverlapsThroughOtherInterfacesOnly) {
  const std::string file = mc::test::unique_name("/tmp/mc-routes");
  // As /proc/net/route writes them: hex, network byte order read on a little-endian host.
  std::ofstream(file)
      << "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
      << "eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"   // default via eth0
      << "eth0\t0000A8C0\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n"   // 192.168.0.0/16
      << "ctr0\t00002F0A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";  // 10.47.0.0/24
  const auto subnet = [](const char* text) { return ctr::parse_subnet(text); };
  EXPECT_EQ(ctr::clashing_route(subnet("192.168.5.0/24"), "br1", file), "192.168.0.0/16 dev eth0");
  EXPECT_EQ(ctr::clashing_route(subnet("192.0.0.0/8"), "br1", file), "192.168.0.0/16 dev eth0");
  EXPECT_EQ(ctr::clashing_route(subnet("10.47.0.0/24"), "br1", file), "10.47.0.0/24 dev ctr0");
  EXPECT_EQ(ctr::clashing_route(subnet("10.47.0.0/24"), "ctr0", file), std::nullopt);
  EXPECT_EQ(ctr::clashing_route(subnet("10.48.0.0/24"), "br1", file), std::nullopt);
  std::filesystem::remove(file);
}
