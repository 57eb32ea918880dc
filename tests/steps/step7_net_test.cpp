// Step 7, the automatic network (issue 14): published ports (-p) answer from the host, tcp and
// udp, and their rules go with the container (also after SIGKILL + cleanup); a taken port is
// refused with nothing changed; containers on one bridge reach each other by name through a
// hosts file kept current; /etc/resolv.conf and /etc/hostname inside. Clients talk only to the
// host's own addresses (127.0.0.1 and the project's bridge address 10.47.0.1), which the DNAT
// rules lead to the container. What is global (ip_forward, route_localnet of the bridge) is
// compared before and after; nothing of ours may be left (Leftovers).
#include <arpa/inet.h>   // inet_pton
#include <netinet/in.h>  // sockaddr_in
#include <poll.h>        // poll(2)
#include <signal.h>      // SIGTERM, SIGKILL
#include <sys/socket.h>  // socket(2)
#include <unistd.h>      // getpid(2)

#include <filesystem>
#include <optional>
#include <string>

#include <fmt/format.h>

#include "background.hpp"
#include "ctr/fd.hpp"  // ctr::UniqueFd
#include "leftovers.hpp"
#include "mycontainer.hpp"
#include "runtime/hosts.hpp"  // ctr::HostsEntry::file_of
#include "runtime/ports.hpp"  // ctr::PublishedPorts::rules_present
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

// A host port for this run: high, and different per test process.
uint16_t host_port(int n) {
  return static_cast<uint16_t>(20000 + (::getpid() % 15000) * 2 + n);
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
  pollfd p{fd.get(), POLLIN, 0};
  if (::poll(&p, 1, 300) != 1) return "";
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

TEST_F(Step7Net, APublishedUdpPortAnswers) {
  const std::string name = unique_name(kTag);
  const uint16_t port = host_port(1);
  const std::string probes = fs::path(bin("probe_udp_echo")).parent_path().string();
  Background bg(
      mc_argv({"--name", name, "-p", fmt::format("{}:53/udp", port), "-v", probes + ":/probes:ro"},
              {"/probes/probe_udp_echo", "53", "2"}));
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
