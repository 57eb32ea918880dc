// Step 7, the automatic network (issue 14): published ports (-p) answer from the host, tcp and
// udp, and their rules go with the container (also after SIGKILL + cleanup); a taken port is
// refused with nothing changed; containers on one bridge reach each other by name through a
// hosts file kept current; /etc/resolv.conf and /etc/hostname inside. Clients talk only to the
// host's own addresses (127.0.0.1 and the project's bridge address 10.47.0.1), which the DNAT
// rules lead to the container. What is global (ip_forward, route_localnet of the bridge) is
// compared before and after; nothing of ours may be left (Leftovers). Detached containers
// (`run -d`) publish ports and use NAT too: owned by their monitor, gone with them.
#include <arpa/inet.h>   // inet_pton
#include <netinet/in.h>  // sockaddr_in
#include <poll.h>        // poll(2)
#include <signal.h>      // SIGTERM, SIGKILL
#include <sys/socket.h>  // socket(2)
#include <unistd.h>      // getpid(2)

#include <filesystem>
#include <optional>
#include <sstream>
#include <string>

#include <fmt/format.h>

#include "background.hpp"
#include "ctr/fd.hpp"  // ctr::UniqueFd
#include "leftovers.hpp"
#include "mycontainer.hpp"
#include "runtime/hosts.hpp"  // ctr::HostsEntry::file_of
#include "ctr/nat.hpp"        // ctr::Nat::rule_installed
#include "runtime/ports.hpp"  // ctr::PublishedPorts::rules_present
#include "runtime/state.hpp"  // ctr::read_state: a detached container's monitor and lease
#include "steps.hpp"

namespace mc::test {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

constexpr const char* kTag = "mct7n";
constexpr const char* kBridgeAddress = "10.47.0.1";  // the default bridge's own address

std::vector<std::string> mc_argv(std::vector<std::string> options,
                                 const std::vector<std::string>& command) {
  return mycontainer_argv(kTag, std::move(options), command);
}

// A host port for this run: high, and different per test process (ctest -j2 runs each test in
// a process of its own): eight per process, n from 0 to 7.
uint16_t host_port(int n) {
  return static_cast<uint16_t>(20000 + (::getpid() % 5000) * 8 + n);
}

std::string sysctl(const std::string& path) {
  std::string v = read_file(path);
  while (!v.empty() && v.back() == '\n') v.pop_back();
  return v;
}
const std::string kRouteLocalnet = "/proc/sys/net/ipv4/conf/ctr0/route_localnet";
const std::string kIpForward = "/proc/sys/net/ipv4/ip_forward";

sockaddr_in address_of(const char* ip, uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  ::inet_pton(AF_INET, ip, &a.sin_addr);
  return a;
}

// Connects to ip:port and reads until EOF (the server in the container writes and closes).
// "" when nothing answers (yet).
std::string tcp_read(const char* ip, uint16_t port) {
  const ctr::UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  const sockaddr_in a = address_of(ip, port);
  timeval tv{1, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) return "";
  std::string got;
  char buf[256];
  for (ssize_t n; (n = ::read(fd.get(), buf, sizeof buf)) > 0;) got.append(buf, n);
  return got;
}

// Sends one datagram to ip:port and waits up to 300 ms for the answer.
std::string udp_ask(const char* ip, uint16_t port, const std::string& question) {
  const ctr::UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  const sockaddr_in a = address_of(ip, port);
  ::sendto(fd.get(), question.data(), question.size(), 0, reinterpret_cast<const sockaddr*>(&a),
           sizeof a);
  // Long enough for a slow machine (the VM's software emulation): an answer that comes after
  // the socket closed is lost, and the echo probe answers only so many.
  pollfd p{fd.get(), POLLIN, 0};
  if (::poll(&p, 1, 2000) != 1) return "";
  char buf[256];
  const ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
  return n > 0 ? std::string(buf, n) : "";
}

std::string claim_file(uint16_t port, const char* proto = "tcp") {
  return fmt::format("/run/mycontainer/net/ports/{}.{}", proto, port);
}

class Step7Net : public ::testing::Test {
 protected:
  void SetUp() override {
    MC_REQUIRE_ROOT();
    leftovers_.emplace(kTag);
    ip_forward_ = sysctl(kIpForward);
    if (fs::exists(kRouteLocalnet)) route_localnet_ = sysctl(kRouteLocalnet);
  }
  void TearDown() override {
    if (!leftovers_) return;  // skipped
    EXPECT_EQ("", leftovers_->check()) << "left on the host by this test's containers";
    leftovers_->scrub();
    // What is global comes back as it was (the bridge may have been made by this test).
    EXPECT_EQ(sysctl(kIpForward), ip_forward_);
    if (route_localnet_) {
      EXPECT_EQ(sysctl(kRouteLocalnet), *route_localnet_);
    } else if (fs::exists(kRouteLocalnet)) {
      EXPECT_EQ(sysctl(kRouteLocalnet), "0");
    }
  }
  // A container serving "served\n" on tcp port 80 to every connection, until stopped (nc is
  // PID 1, which ignores SIGTERM: the runtime kills it a second later).
  std::unique_ptr<Background> serve_tcp(const std::string& name, uint16_t port) {
    return std::make_unique<Background>(
        mc_argv({"--name", name, "-p", fmt::format("{}:80", port), "--stop-timeout", "1"},
                {"/bin/nc", "-ll", "-p", "80", "-e", "/bin/echo", "served"}));
  }
  std::optional<Leftovers> leftovers_;
  std::string ip_forward_;
  std::optional<std::string> route_localnet_;
};

TEST_F(Step7Net, APublishedTcpPortAnswersOnTheHostsOwnAddressesAndGoesWithTheContainer) {
  const std::string name = unique_name(kTag);
  const uint16_t port = host_port(0);
  auto bg = serve_tcp(name, port);
  ASSERT_TRUE(wait_until([&] { return tcp_read("127.0.0.1", port) == "served\n"; })) << bg->err();
  EXPECT_EQ(tcp_read(kBridgeAddress, port), "served\n");
  EXPECT_TRUE(ctr::PublishedPorts::rules_present(name));
  EXPECT_EQ(sysctl(kRouteLocalnet), "1");
  EXPECT_EQ(sysctl(kIpForward), "1") << "other machines' packets are forwarded";
  EXPECT_TRUE(fs::exists(claim_file(port)));

  bg->signal(SIGTERM);
  bg->wait();
  EXPECT_FALSE(ctr::PublishedPorts::rules_present(name));
  EXPECT_FALSE(fs::exists(claim_file(port)));
  EXPECT_EQ(tcp_read("127.0.0.1", port), "") << "the port still leads somewhere";
}

// The peer of the container's connection to its port 80, in `netstat -tn` as the container
// printed it (a server `nc -e /bin/netstat -tn`): "10.47.0.1" from
// "... 10.47.0.2:80 10.47.0.1:4242".
std::string peer_of_port_80(const std::string& netstat) {
  std::istringstream lines(netstat);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream words(line);
    std::string proto, recv_q, send_q, local, foreign, state;
    words >> proto >> recv_q >> send_q >> local >> foreign >> state;
    // TIME_WAIT: an earlier connection (the host's, asking whether the server is up yet).
    if (proto != "tcp" || !local.ends_with(":80") || state == "TIME_WAIT") continue;
    foreign = foreign.substr(0, foreign.rfind(':'));
    if (foreign.starts_with("::ffff:")) foreign = foreign.substr(7);  // IPv4 in an IPv6 socket
    return foreign;
  }
  return "";
}

// Hairpin: containers of the bridge reach a published port through the host's address, as
// they would reach a server on the host (docker allows it too). Another container: its
// connection is DNAT'd back into the bridge and must come back through the host, so the
// server sees the bridge's address as its peer (the MASQUERADE rule with --ctstate DNAT;
// without it the answer went straight over the bridge and the client reset the connection, or,
// where br_netfilter lets conntrack see bridged packets, the server saw the client itself).
// The container itself: its packets go back out of the bridge port they came in on (hairpin
// mode on its veth; without it nothing answers).
TEST_F(Step7Net, APublishedPortAnswersContainersOfTheBridgeThroughTheHostsAddress) {
  const std::string server = unique_name(kTag), client = unique_name(kTag);
  const uint16_t port = host_port(0);
  Background bg(mc_argv({"--name", server, "-p", fmt::format("{}:80", port), "--stop-timeout", "1"},
                        {"/bin/nc", "-ll", "-p", "80", "-e", "/bin/netstat", "-tn"}));
  ASSERT_TRUE(wait_until([&] { return !tcp_read(kBridgeAddress, port).empty(); })) << bg.err();
  const std::string ask = fmt::format("nc -w 3 {} {} </dev/null", kBridgeAddress, port);
  const auto other = run(mc_argv({"--name", client}, {"/bin/sh", "-c", ask}));
  EXPECT_EQ(other.status, 0) << other.err;
  EXPECT_EQ(peer_of_port_80(other.out), kBridgeAddress) << other.out;

  const std::string self = unique_name(kTag);
  const uint16_t own = host_port(1);
  const std::string serve_and_ask = fmt::format(
      "nc -ll -p 80 -e /bin/netstat -tn & for i in 1 2 3 4 5 6 7 8 9 10; do "
      "nc -w 3 {} {} </dev/null | grep . && exit 0; sleep 0.2; done; exit 1",
      kBridgeAddress, own);
  const auto itself = run(
      mc_argv({"--name", self, "-p", fmt::format("{}:80", own)}, {"/bin/sh", "-c", serve_and_ask}));
  EXPECT_EQ(itself.status, 0) << itself.err;
  EXPECT_EQ(peer_of_port_80(itself.out), kBridgeAddress) << itself.out;
  EXPECT_FALSE(ctr::PublishedPorts::rules_present(self));
  bg.signal(SIGTERM);
  bg.wait();
  EXPECT_FALSE(ctr::PublishedPorts::rules_present(server));
}

TEST_F(Step7Net, APublishedUdpPortAnswers) {
  const std::string name = unique_name(kTag);
  const uint16_t port = host_port(1);
  const std::string probes = fs::path(bin("probe_udp_echo")).parent_path().string();
  Background bg(
      mc_argv({"--name", name, "-p", fmt::format("{}:53/udp", port), "-v", probes + ":/probes:ro"},
              {"/probes/probe_udp_echo", "53", "2"}));
  // Asked before the probe listens, the datagrams wait for the container's address to resolve
  // (ARP) and then all reach the probe at once, spending its two answers on sockets that are
  // closed by then (seen under the VM's emulation): ask once it listens.
  ASSERT_TRUE(wait_until([&] { return contains(bg.out(), "listening"); })) << bg.err();
  std::string answer;
  ASSERT_TRUE(wait_until([&] { return !(answer = udp_ask("127.0.0.1", port, "one")).empty(); }))
      << bg.err();
  EXPECT_EQ(answer, "echo: one");
  ASSERT_TRUE(wait_until([&] { return !(answer = udp_ask(kBridgeAddress, port, "two")).empty(); }));
  EXPECT_EQ(answer, "echo: two");
  EXPECT_EQ(bg.wait().status, 0) << bg.err();
  EXPECT_FALSE(ctr::PublishedPorts::rules_present(name));
}

TEST_F(Step7Net, AfterSigkillOfTheRuntimeCleanupRemovesTheRulesAndTheName) {
  const std::string name = unique_name(kTag);
  const uint16_t port = host_port(2);
  auto bg = serve_tcp(name, port);
  ASSERT_TRUE(wait_until([&] { return tcp_read("127.0.0.1", port) == "served\n"; })) << bg->err();
  const fs::path hosts = ctr::HostsEntry::file_of("ctr0");
  EXPECT_NE(read_file(hosts).find("\t" + name), std::string::npos);
  bg->signal(SIGKILL);
  bg->wait();
  EXPECT_TRUE(ctr::PublishedPorts::rules_present(name)) << "nobody removed them yet";

  const auto c = run({bin("mycontainer"), "cleanup"});
  EXPECT_EQ(c.status, 0) << c.err;
  EXPECT_NE(c.out.find("removed " + name), std::string::npos) << c.out;
  EXPECT_FALSE(ctr::PublishedPorts::rules_present(name));
  EXPECT_FALSE(fs::exists(claim_file(port)));
  EXPECT_EQ(read_file(hosts).find("\t" + name), std::string::npos);
  EXPECT_EQ(tcp_read("127.0.0.1", port), "");
}

TEST_F(Step7Net, APortTakenByAHostProcessOrAnotherContainerIsRefusedWithNothingChanged) {
  const uint16_t port = host_port(3);
  {
    // A host process listens on the port: the DNAT rule would steal its connections.
    const ctr::UniqueFd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    const sockaddr_in a = address_of("127.0.0.1", port);
    ASSERT_EQ(::bind(listener.get(), reinterpret_cast<const sockaddr*>(&a), sizeof a), 0);
    ASSERT_EQ(::listen(listener.get(), 1), 0);
    const std::string name = unique_name(kTag);
    const auto r = run(mc_argv({"--name", name, "-p", fmt::format("{}:80", port)}, {"/bin/true"}));
    EXPECT_EQ(r.status, 125);
    EXPECT_EQ(r.err, fmt::format("mycontainer: port {}/tcp is already in use on the host (a "
                                 "process has bound it: see `ss -lntup`)\n",
                                 port))
        << r.err;
    EXPECT_FALSE(ctr::PublishedPorts::rules_present(name));
    EXPECT_FALSE(fs::exists(claim_file(port)));
  }
  // Another container has published it.
  const std::string first = unique_name(kTag), second = unique_name(kTag);
  auto bg = serve_tcp(first, port);
  ASSERT_TRUE(wait_until([&] { return tcp_read("127.0.0.1", port) == "served\n"; })) << bg->err();
  const auto r = run(mc_argv({"--name", second, "-p", fmt::format("{}:81", port)}, {"/bin/true"}));
  EXPECT_EQ(r.status, 125);
  EXPECT_EQ(r.err, fmt::format("mycontainer: port {}/tcp is already published by container {}\n",
                               port, first));
  EXPECT_FALSE(ctr::PublishedPorts::rules_present(second));
  EXPECT_FALSE(fs::exists("/run/mycontainer/containers/" + second));
  EXPECT_EQ(tcp_read("127.0.0.1", port), "served\n") << "the first container lost its port";
  bg->signal(SIGTERM);
  bg->wait();
}

// ==========================================================================================
// Detached containers (`run -d`) with published ports and NAT: the monitor owns them
// ==========================================================================================
// `create` makes the rules, the claims and the NAT user, and exits at once; it hands them to
// the container's monitor, whose last act removes them. Detached containers' state is named by
// their id, which Leftovers cannot tell from someone else's: each test checks its own traces
// (the rules tagged with the id or naming its port, its claim, its NAT user, its lease).

// `iptables -S` lines of the nat and filter tables that mention one of `needles`.
std::string rules_mentioning(const std::vector<std::string>& needles) {
  std::string out;
  for (const char* table : {"nat", "filter"}) {
    for (const auto& line : lines_of(sh(fmt::format("iptables -w -t {} -S", table)).out)) {
      for (const auto& n : needles) {
        if (contains(line + " ", n)) {
          out += line + "\n";
          break;
        }
      }
    }
  }
  return out;
}

// The NAT user files (/run/mycontainer/net/nat/user.PID.*) of one pid.
std::vector<std::string> nat_users_of(pid_t pid) {
  std::vector<std::string> out;
  std::error_code ec;
  for (fs::directory_iterator it("/run/mycontainer/net/nat", ec), end; !ec && it != end;
       it.increment(ec)) {
    if (it->path().filename().string().rfind(fmt::format("user.{}.", pid), 0) == 0)
      out.push_back(it->path().string());
  }
  return out;
}

// What a running detached container has, to check it all goes.
struct DetachedTraces {
  std::string id;
  pid_t monitor = 0;
  std::string lease, address;
};

class Step7NetDetached : public Step7Net {
 protected:
  void TearDown() override {
    for (const auto& name : names_) run({bin("mycontainer"), "rm", "-f", name});
    Step7Net::TearDown();
  }
  RunResult mc(const std::vector<std::string>& args) {
    std::vector<std::string> argv{bin("mycontainer")};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv);
  }
  // `run -d --rootfs ROOTFS --name NAME OPTIONS -- COMMAND`
  RunResult detach(const std::string& name, const std::vector<std::string>& options,
                   const std::vector<std::string>& command) {
    names_.push_back(name);
    return mc(run_detached_args(name, options, command));
  }
  // A detached server answering "served\n" on port 80, published on the host's `port`.
  std::string serve_detached(const std::string& name, uint16_t port,
                             const std::vector<std::string>& more = {}) {
    std::vector<std::string> options{"-p", fmt::format("{}:80", port), "--stop-timeout", "1"};
    options.insert(options.end(), more.begin(), more.end());
    const auto r =
        detach(name, options, {"/bin/nc", "-ll", "-p", "80", "-e", "/bin/echo", "served"});
    EXPECT_EQ(r.status, 0) << r.err;
    return trimmed(r.out);
  }
  DetachedTraces traces(const std::string& id) {
    DetachedTraces t{id, 0, "", ""};
    const auto state = ctr::read_state(ctr::container_dir(id, "/run/mycontainer"));
    EXPECT_TRUE(state.has_value()) << "no state for " << id;
    if (state) {
      t.monitor = state->runtime_pid;
      t.lease = state->lease;
      t.address = state->ip.substr(0, state->ip.find('/'));
    }
    return t;
  }
  // The claim of tcp port `port`: "ID PID BRIDGE".
  static std::string claim_of(uint16_t port) {
    return fs::exists(claim_file(port)) ? trimmed(read_file(claim_file(port))) : "";
  }
  // Nothing of the container left: no rule tagged with its id or leading to its address, no
  // claim, no NAT user or lease of its monitor, no state, no line in the hosts file; the port
  // leads nowhere.
  void expect_nothing_left(const DetachedTraces& t, uint16_t port) {
    EXPECT_TRUE(wait_until([&] { return !fs::exists("/run/mycontainer/containers/" + t.id); }))
        << "state of " << t.id << " left";
    EXPECT_EQ(rules_mentioning({"mycontainer:" + t.id + " ", "mycontainer:" + t.id + "\"",
                                fmt::format("--dport {} ", port), t.address + ":80 ",
                                "-d " + t.address + "/32 "}),
              "");
    EXPECT_FALSE(ctr::PublishedPorts::rules_present(t.id));
    EXPECT_FALSE(fs::exists(claim_file(port))) << claim_of(port);
    EXPECT_TRUE(nat_users_of(t.monitor).empty()) << "NAT user of the monitor left";
    if (!t.lease.empty()) {
      EXPECT_FALSE(fs::exists(t.lease)) << "lease left: " << t.lease;
    }
    EXPECT_FALSE(contains(read_file(ctr::HostsEntry::file_of("ctr0")), "\t" + t.id))
        << "hosts line left";
    EXPECT_EQ(tcp_read("127.0.0.1", port), "") << "the port still leads somewhere";
  }
  std::vector<std::string> names_;
};

// docker run -d -p PORT:80: the port answers from the host long after `create` (which made
// the rules) has exited, because the monitor owns them; rm -f removes every trace.
TEST_F(Step7NetDetached, APublishedPortOfADetachedContainerAnswersUntilRmForce) {
  const std::string name = unique_name(kTag);
  const uint16_t port = host_port(4);
  ASSERT_EQ(rules_mentioning({fmt::format("--dport {} ", port)}), "") << "port in use already";
  const std::string id = serve_detached(name, port);
  ASSERT_EQ(id.size(), 64u);
  ASSERT_TRUE(wait_until([&] { return tcp_read("127.0.0.1", port) == "served\n"; }));
  EXPECT_EQ(tcp_read(kBridgeAddress, port), "served\n");
  const DetachedTraces t = traces(id);
  ASSERT_GT(t.monitor, 0);
  // The claim, the NAT user (forwarding) and the address all name the monitor, not create.
  EXPECT_EQ(claim_of(port), fmt::format("{} {} ctr0", id, t.monitor));
  EXPECT_EQ(nat_users_of(t.monitor).size(), 1u);
  EXPECT_TRUE(ctr::PublishedPorts::rules_present(id));
  EXPECT_TRUE(contains(read_file(ctr::HostsEntry::file_of("ctr0")), t.address + "\t" + id))
      << "the hosts line went with create";
  // ps shows the port, as docker does.
  EXPECT_TRUE(contains(mc({"ps", "--format", "{{.Names}} {{.Ports}}"}).out,
                       fmt::format("{} 0.0.0.0:{}->80/tcp\n", name, port)))
      << mc({"ps"}).out;
  // Another cleanup meanwhile takes nothing away: the monitor lives.
  EXPECT_EQ(mc({"cleanup"}).status, 0);
  EXPECT_EQ(tcp_read("127.0.0.1", port), "served\n");

  const auto rm = mc({"rm", "-f", name});
  EXPECT_EQ(rm.status, 0) << rm.err;
  expect_nothing_left(t, port);
}

// stop, then start: the ports go with the container and come back with it (claimed again by
// the new monitor). A port another container has published is refused in one line, 125,
// nothing made. --rm: gone with the container. stop + rm: nothing left.
TEST_F(Step7NetDetached, StopStartReclaimsTheirPortsAndATakenPortIsRefused) {
  const std::string name = unique_name(kTag), other = unique_name(kTag);
  const uint16_t port = host_port(5);
  const std::string id = serve_detached(name, port);
  ASSERT_TRUE(wait_until([&] { return tcp_read("127.0.0.1", port) == "served\n"; }));
  const DetachedTraces first = traces(id);

  // The port is taken: refused by create, reported by run -d in one line, exit 125.
  const std::string rules_before = rules_mentioning({fmt::format("--dport {} ", port)});
  const auto taken = detach(other, {"-p", fmt::format("{}:81", port)}, {"/bin/true"});
  EXPECT_EQ(taken.status, 125) << taken.err;
  EXPECT_EQ(
      taken.err,
      fmt::format("mycontainer: port {}/tcp is already published by container {}\n", port, id));
  EXPECT_EQ(mc({"inspect", other}).status, 1) << "a record of the refused one was kept";
  EXPECT_EQ(rules_mentioning({fmt::format("--dport {} ", port)}), rules_before);
  EXPECT_EQ(claim_of(port), fmt::format("{} {} ctr0", id, first.monitor));
  EXPECT_EQ(tcp_read("127.0.0.1", port), "served\n") << "the first one lost its port";

  // stop: everything goes with the container (the monitor's exit removed it).
  const auto stop = mc({"stop", "-t", "1", name});
  EXPECT_EQ(stop.status, 0) << stop.err;
  expect_nothing_left(first, port);
  // start: a new monitor claims the port again; it answers.
  const auto start = mc({"start", name});
  EXPECT_EQ(start.status, 0) << start.err;
  ASSERT_TRUE(wait_until([&] { return tcp_read("127.0.0.1", port) == "served\n"; }));
  const DetachedTraces second = traces(id);
  EXPECT_NE(second.monitor, first.monitor);
  EXPECT_EQ(claim_of(port), fmt::format("{} {} ctr0", id, second.monitor));
  EXPECT_EQ(mc({"stop", "-t", "1", name}).status, 0);
  EXPECT_EQ(mc({"rm", name}).status, 0);
  expect_nothing_left(second, port);

  // --rm: a server for one connection; once it has answered, it ends and all of it goes.
  const std::string once = unique_name(kTag);
  const uint16_t once_port = host_port(6);
  const auto r = detach(once, {"--rm", "-p", fmt::format("{}:80", once_port)},
                        {"/bin/nc", "-l", "-p", "80", "-e", "/bin/echo", "once"});
  ASSERT_EQ(r.status, 0) << r.err;
  const DetachedTraces t = traces(trimmed(r.out));
  EXPECT_TRUE(wait_until([&] { return tcp_read("127.0.0.1", once_port) == "once\n"; }));
  EXPECT_TRUE(wait_until([&] { return mc({"inspect", once}).status == 1; })) << "--rm kept it";
  expect_nothing_left(t, once_port);
}

// The monitor SIGKILLed: the container goes on, unmanaged, and its port still answers (its
// rules are there); `ps` says so; `cleanup` stops it and removes its rules, claim, NAT user
// (--nat as well as -p) and lease, and puts forwarding and route_localnet back (TearDown).
TEST_F(Step7NetDetached, WithNatAndAKilledMonitorCleanupRemovesEverything) {
  const std::string name = unique_name(kTag);
  const uint16_t port = host_port(7);
  const std::string id = serve_detached(name, port, {"--nat"});
  ASSERT_TRUE(wait_until([&] { return tcp_read("127.0.0.1", port) == "served\n"; }));
  const DetachedTraces t = traces(id);
  ASSERT_GT(t.monitor, 0);
  EXPECT_TRUE(ctr::Nat::rule_installed(ctr::kDefaultSubnet, "ctr0"));
  EXPECT_EQ(nat_users_of(t.monitor).size(), 1u);
  ASSERT_EQ(::kill(t.monitor, SIGKILL), 0);
  EXPECT_TRUE(wait_until([&] {
    return contains(mc({"ps", "--format", "{{.Names}} {{.Status}}"}).out,
                    name + " Up ");  // and "(monitor gone)"
  }));
  EXPECT_TRUE(wait_until([&] { return contains(mc({"ps"}).out, "(monitor gone)"); }))
      << mc({"ps"}).out;
  EXPECT_EQ(tcp_read("127.0.0.1", port), "served\n") << "unmanaged, it still serves";
  const auto cleanup = mc({"cleanup"});
  EXPECT_EQ(cleanup.status, 0) << cleanup.err;
  EXPECT_TRUE(contains(cleanup.out, "finished " + name)) << cleanup.out;
  expect_nothing_left(t, port);
  EXPECT_EQ(mc({"rm", name}).status, 0);
}

// The last block of a container that prints /etc/hosts then "---" in a loop.
std::string last_hosts(const std::string& out) {
  const auto end = out.rfind("---\n");
  if (end == std::string::npos) return "";
  const auto start = out.rfind("---\n", end == 0 ? 0 : end - 1);
  return out.substr(start == std::string::npos ? 0 : start + 4,
                    end - (start == std::string::npos ? 0 : start + 4));
}

TEST_F(Step7Net, ContainersOnOneBridgeReachEachOtherByNameAndTheHostsFileIsKeptCurrent) {
  const std::string a = unique_name(kTag), b = unique_name(kTag), c = unique_name(kTag);
  // a prints its /etc/hosts every 100 ms: what it sees while others come and go.
  Background watcher(
      mc_argv({"--name", a}, {"/bin/sh", "-c",
                              "i=0; while [ $i -lt 400 ]; do cat /etc/hosts; echo ---; sleep 0.1; "
                              "i=$((i+1)); done"}));
  ASSERT_TRUE(wait_until([&] { return contains(last_hosts(watcher.out()), "\t" + a + "\n"); }))
      << watcher.err();

  // b reaches a by its name.
  // (busybox ping wants a raw socket: CAP_NET_RAW, which the default set leaves out.)
  const auto ping =
      run(mc_argv({"--name", b, "--cap-add", "NET_RAW"}, {"/bin/sh", "-c", "ping -c 1 -W 5 " + a}));
  EXPECT_EQ(ping.status, 0) << ping.out << ping.err;
  EXPECT_TRUE(contains(ping.out, "1 packets received")) << ping.out;

  // c comes: a sees it; c goes: a no longer does.
  Background third(
      mc_argv({"--name", c, "--stop-timeout", "1"}, {"/bin/sleep", unique_sleep_seconds()}));
  EXPECT_TRUE(wait_until([&] { return contains(last_hosts(watcher.out()), "\t" + c + "\n"); }))
      << last_hosts(watcher.out());
  third.signal(SIGTERM);
  third.wait();
  EXPECT_TRUE(wait_until([&] { return !contains(last_hosts(watcher.out()), "\t" + c); }))
      << last_hosts(watcher.out());
  EXPECT_FALSE(contains(last_hosts(watcher.out()), "\t" + b)) << "b ended long ago";
  watcher.signal(SIGTERM);
  watcher.wait();
}

TEST_F(Step7Net, ResolvConfAndHostnameInside) {
  const std::string name = unique_name(kTag);
  const auto bridge = run(mc_argv({"--name", name, "--hostname", "box"},
                                  {"/bin/sh", "-c", "cat /etc/hostname /etc/resolv.conf"}));
  EXPECT_EQ(bridge.status, 0) << bridge.err;
  EXPECT_EQ(bridge.out, "box\n" + ctr::container_resolv_conf(read_file("/etc/resolv.conf")));
  EXPECT_EQ(bridge.out.find("127.0.0.53"), std::string::npos);

  const auto none = run(mc_argv({"--net", "none", "--hostname", "alone"},
                                {"/bin/sh", "-c",
                                 "cat /etc/hostname /etc/hosts; wc -c < /etc/resolv.conf; "
                                 "echo x > /etc/hosts || echo read-only"}));
  EXPECT_EQ(none.status, 0) << none.err;
  EXPECT_EQ(none.out, "alone\n" + ctr::standalone_hosts("alone") + "0\nread-only\n") << none.out;
}

}  // namespace
}  // namespace mc::test
