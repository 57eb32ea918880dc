// Published ports: DNAT rules tagged with the container's name, and a claim file per host
// port. Read ports.hpp first.
#include "runtime/ports.hpp"

#include <fcntl.h>       // open(2), O_* flags
#include <netinet/in.h>  // sockaddr_in, htons, htonl
#include <stdio.h>       // rename(2)
#include <sys/socket.h>  // socket(2), bind(2), setsockopt(2)
#include <unistd.h>      // getpid(2), write(2), unlink(2)

#include <charconv>   // std::from_chars
#include <sstream>    // std::istringstream
#include <stdexcept>  // std::runtime_error
#include <utility>    // std::exchange

#include <fmt/format.h>  // fmt::format

#include "ctr/dirlock.hpp"  // DirLock, pid_alive
#include "ctr/error.hpp"    // check, SyscallError, UsageError
#include "ctr/exec.hpp"     // run_program: iptables
#include "ctr/fd.hpp"       // UniqueFd, read_file
#include "ctr/ipv4.hpp"     // parse_ipv4, format_ipv4
#include "ctr/narrate.hpp"  // narrate

namespace ctr {

namespace fs = std::filesystem;

namespace {

const char* name_of(Protocol p) {
  return p == Protocol::kTcp ? "tcp" : "udp";
}

[[noreturn]] void bad_mapping(std::string_view text, std::string_view why = "") {
  throw UsageError(fmt::format("invalid port mapping '{}': {}", text,
                               why.empty() ? "expected [IP:]HOSTPORT:PORT[/tcp|udp]" : why));
}

uint16_t parse_port(std::string_view text, std::string_view whole) {
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || text.empty() || text[0] == '0')
    bad_mapping(whole);
  if (value > 65535) bad_mapping(whole, fmt::format("port {} is not 1 to 65535", text));
  return static_cast<uint16_t>(value);
}

std::string join(const std::vector<std::string>& argv) {
  std::string line;
  for (const std::string& a : argv) line += (line.empty() ? "" : " ") + a;
  return line;
}

void iptables(std::vector<std::string> args) {
  args.insert(args.begin(), {"iptables", "-w"});
  const ProgramResult r = run_program(args);
  if (r.status != 0)
    throw std::runtime_error(
        fmt::format("'{}' failed with exit code {}: {}", join(args), r.status, r.output));
  narrate({.call = join(args),
           .result = "ok",
           .shell = join(args),
           .man = "iptables(8), iptables-extensions(8) DNAT, comment"});
}

// The five rules of one port (see ports.hpp), as "-t TABLE -A CHAIN MATCH... -j TARGET".
std::vector<std::vector<std::string>> rules_of(const std::string& tag, const std::string& bridge,
                                               Ipv4Cidr subnet, uint32_t container_ip,
                                               const PortMapping& p) {
  const std::string proto = name_of(p.protocol);
  const std::string ip = format_ipv4(container_ip);
  const std::string port = std::to_string(p.container_port);
  std::vector<std::string> to_host = {"-p", proto};
  if (p.host_ip) {
    to_host.insert(to_host.end(), {"-d", format_ipv4(*p.host_ip)});
  } else {
    to_host.insert(to_host.end(), {"-m", "addrtype", "--dst-type", "LOCAL"});
  }
  to_host.insert(to_host.end(),
                 {"--dport", std::to_string(p.host_port), "-m", "comment", "--comment", tag, "-j",
                  "DNAT", "--to-destination", ip + ":" + port});
  std::vector<std::vector<std::string>> rules;
  for (const char* chain : {"PREROUTING", "OUTPUT"}) {
    std::vector<std::string> rule = {"-t", "nat", "-A", chain};
    rule.insert(rule.end(), to_host.begin(), to_host.end());
    rules.push_back(std::move(rule));
  }
  rules.push_back({"-t",          "nat",     "-A",        "POSTROUTING", "-p", proto,       "-s",
                   "127.0.0.0/8", "-d",      ip,          "--dport",     port, "-o",        bridge,
                   "-m",          "comment", "--comment", tag,           "-j", "MASQUERADE"});
  // Hairpin: a container of the bridge that came through a host address (DNAT'd, hence
  // --ctstate DNAT: a direct connection on the bridge keeps its source).
  const std::string from_bridge =
      format_ipv4(subnet.network()) + "/" + std::to_string(subnet.prefix);
  rules.push_back(
      {"-t",        "nat",  "-A",      "POSTROUTING", "-p",        proto,  "-s", from_bridge,
       "-d",        ip,     "--dport", port,          "-o",        bridge, "-m", "conntrack",
       "--ctstate", "DNAT", "-m",      "comment",     "--comment", tag,    "-j", "MASQUERADE"});
  rules.push_back({"-t", "filter", "-I", "FORWARD", "-p", proto, "-d", ip, "--dport", port, "-o",
                   bridge, "-m", "comment", "--comment", tag, "-j", "ACCEPT"});
  return rules;
}

// `iptables -S` prints each rule as the arguments that add it ("-A CHAIN ..."), a comment in
// double quotes. Returns, for every rule carrying `tag`, the arguments that delete it.
std::vector<std::vector<std::string>> tagged_rules(const std::string& tag) {
  std::vector<std::vector<std::string>> found;
  for (const char* table : {"nat", "filter"}) {
    const ProgramResult r = run_program({"iptables", "-w", "-t", table, "-S"});
    if (r.status != 0)
      throw std::runtime_error(
          fmt::format("'iptables -w -t {} -S' failed with exit code {}", table, r.status));
    std::istringstream lines(r.output);
    for (std::string line; std::getline(lines, line);) {
      std::istringstream words(line);
      std::vector<std::string> argv = {"-t", table};
      bool tagged = false;
      for (std::string word; words >> word;) {
        if (word.size() >= 2 && word.front() == '"' && word.back() == '"')
          word = word.substr(1, word.size() - 2);
        if (argv.size() > 2 && argv.back() == "--comment" && word == tag) tagged = true;
        argv.push_back(std::move(word));
      }
      if (!tagged || argv[2] != "-A") continue;
      argv[2] = "-D";
      found.push_back(std::move(argv));
    }
  }
  return found;
}

void remove_tagged_rules(const std::string& tag) {
  for (auto& rule : tagged_rules(tag)) iptables(std::move(rule));
}

// --- claims: dir/tcp.8080 holding "NAME PID BRIDGE" ---
struct Claim {
  fs::path file;
  std::string container;
  pid_t pid = 0;
  std::string bridge;
};

std::string claim_text(const std::string& container, pid_t pid, const std::string& bridge) {
  return fmt::format("{} {} {}\n", container, pid, bridge);
}

fs::path claim_path(const fs::path& dir, const PortMapping& p) {
  return dir / fmt::format("{}.{}", name_of(p.protocol), p.host_port);
}

std::optional<Claim> read_claim(const fs::path& file) {
  const std::optional<std::string> text = read_file(file.string());
  if (!text) return std::nullopt;
  Claim claim{file, "", 0, ""};
  std::istringstream(*text) >> claim.container >> claim.pid >> claim.bridge;
  return claim;
}

std::vector<Claim> read_claims(const fs::path& dir) {
  std::vector<Claim> claims;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (!name.starts_with("tcp.") && !name.starts_with("udp.")) continue;
    if (auto claim = read_claim(it->path())) claims.push_back(std::move(*claim));
  }
  return claims;
}

std::string route_localnet_file(const std::string& bridge) {
  return fmt::format("/proc/sys/net/ipv4/conf/{}/route_localnet", bridge);
}

void write_text(const fs::path& path, const std::string& text, int flags) {
  UniqueFd fd(
      check(::open(path.c_str(), O_WRONLY | O_CLOEXEC | flags, 0644), "open", path.string()));
  check(::write(fd.get(), text.data(), text.size()), "write", path.string());
}

std::string read_value(const fs::path& path) {
  std::string text = read_file(path.string()).value_or("");
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

// route_localnet=1 on the bridge; its previous value saved in dir/route_localnet.BRIDGE by
// the first container that publishes a port on it, put back by the last (settle below).
void enable_route_localnet(const fs::path& dir, const std::string& bridge) {
  const fs::path saved = dir / ("route_localnet." + bridge);
  const std::string file = route_localnet_file(bridge);
  if (!fs::exists(saved)) write_text(saved, read_value(file) + "\n", O_CREAT | O_TRUNC);
  if (read_value(file) != "1") {
    write_text(file, "1\n", O_TRUNC);
    narrate({.call = fmt::format("write('{}', \"1\")", file),
             .result = "ok",
             .shell = fmt::format("sysctl -w net.ipv4.conf.{}.route_localnet=1", bridge),
             .man = "Documentation/networking/ip-sysctl.rst (route_localnet)"});
  }
}

// With the lock held: restores route_localnet of every bridge no claim names any more.
void settle_route_localnet(const fs::path& dir) {
  const std::vector<Claim> claims = read_claims(dir);
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (!name.starts_with("route_localnet.")) continue;
    const std::string bridge = name.substr(std::string_view("route_localnet.").size());
    bool used = false;
    for (const Claim& c : claims) used = used || c.bridge == bridge;
    if (used) continue;
    const std::string file = route_localnet_file(bridge);
    if (fs::exists(file)) write_text(file, read_value(it->path()) + "\n", O_TRUNC);
    fs::remove(it->path());
  }
}

// A host process that has bound the port (a server listening on it, a UDP socket): binding
// it ourselves fails with EADDRINUSE (bind(2)). SO_REUSEADDR for TCP, so that connections of
// the past in TIME_WAIT do not count (socket(7)); a listener still does.
bool host_port_in_use(const PortMapping& p) {
  UniqueFd fd(
      check(::socket(AF_INET,
                     (p.protocol == Protocol::kTcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0),
            "socket", "AF_INET"));
  if (p.protocol == Protocol::kTcp) {
    const int on = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(p.host_port);
  addr.sin_addr.s_addr = htonl(p.host_ip.value_or(INADDR_ANY));
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0) return false;
  if (errno == EADDRINUSE) return true;
  check(-1, "bind", fmt::format("{}:{}", format_ipv4(p.host_ip.value_or(0)), p.host_port));
  return false;
}

}  // namespace

PortMapping parse_port_mapping(std::string_view text) {
  PortMapping p;
  std::string_view rest = text;
  if (const auto slash = rest.find('/'); slash != std::string_view::npos) {
    const std::string_view proto = rest.substr(slash + 1);
    if (proto == "udp") {
      p.protocol = Protocol::kUdp;
    } else if (proto != "tcp") {
      bad_mapping(text, fmt::format("unknown protocol '{}' (tcp or udp)", proto));
    }
    rest = rest.substr(0, slash);
  }
  std::vector<std::string_view> parts;
  for (size_t start = 0;;) {
    const auto colon = rest.find(':', start);
    parts.push_back(rest.substr(start, colon - start));
    if (colon == std::string_view::npos) break;
    start = colon + 1;
  }
  if (parts.size() == 3) {
    try {
      p.host_ip = parse_ipv4(parts[0]);
    } catch (const UsageError&) {
      bad_mapping(text, fmt::format("'{}' is not an IPv4 address of the host", parts[0]));
    }
    if (*p.host_ip == 0) p.host_ip.reset();  // 0.0.0.0: any address, as docker reads it
    parts.erase(parts.begin());
  }
  if (parts.size() != 2) bad_mapping(text);
  p.host_port = parse_port(parts[0], text);
  p.container_port = parse_port(parts[1], text);
  return p;
}

std::string to_string(const PortMapping& p) {
  return fmt::format("{}{}:{}/{}", p.host_ip ? format_ipv4(*p.host_ip) + ":" : "", p.host_port,
                     p.container_port, name_of(p.protocol));
}

std::string port_rule_tag(std::string_view container) {
  return fmt::format("mycontainer:{}", container);
}

void enable_hairpin(const std::string& host_veth) {
  const std::string file = fmt::format("/sys/class/net/{}/brport/hairpin_mode", host_veth);
  write_text(file, "1\n", O_TRUNC);
  narrate({.call = fmt::format("write('{}', \"1\")", file),
           .result = "ok",
           .shell = fmt::format("bridge link set dev {} hairpin on", host_veth),
           .man = "bridge(8) hairpin"});
}

PublishedPorts PublishedPorts::publish(const std::string& container, const std::string& bridge,
                                       Ipv4Cidr subnet, uint32_t container_ip,
                                       const std::vector<PortMapping>& ports,
                                       const fs::path& state_dir) {
  PublishedPorts published;  // before the lock: on error the lock goes first, then this undoes
  if (ports.empty()) return published;
  const DirLock lock(state_dir);
  const std::string tag = port_rule_tag(container);

  // First every check, so that a refusal changes nothing.
  std::vector<Claim> stale;
  for (size_t i = 0; i < ports.size(); ++i) {
    const PortMapping& p = ports[i];
    const std::string what = fmt::format("port {}/{}", p.host_port, name_of(p.protocol));
    for (size_t j = 0; j < i; ++j) {
      if (ports[j].host_port == p.host_port && ports[j].protocol == p.protocol)
        throw UsageError(fmt::format("{} is published twice", what));
    }
    if (auto claim = read_claim(claim_path(state_dir, p))) {
      if (pid_alive(claim->pid))
        throw UsageError(
            fmt::format("{} is already published by container {}", what, claim->container));
      stale.push_back(std::move(*claim));
    }
    if (host_port_in_use(p))
      throw UsageError(fmt::format(
          "{} is already in use on the host (a process has bound it: see `ss -lntup`)", what));
  }
  // Claims of killed runtimes: their rules go before the port changes hands.
  for (const Claim& c : stale) {
    narrate({.call = fmt::format("kill({}, 0)", c.pid),
             .result = fmt::format("ESRCH: {} was published by {}, whose runtime is gone",
                                   c.file.filename().string(), c.container),
             .shell = "",
             .man = "kill(2)"});
    remove_tagged_rules(port_rule_tag(c.container));
    fs::remove(c.file);
  }

  published.container_ = container;
  published.bridge_ = bridge;
  published.dir_ = state_dir;
  published.owner_ = ::getpid();
  const std::string record = claim_text(container, ::getpid(), bridge);
  for (const PortMapping& p : ports) {
    write_text(claim_path(state_dir, p), record, O_CREAT | O_EXCL);
    published.claims_.push_back(claim_path(state_dir, p));
  }
  enable_route_localnet(state_dir, bridge);
  for (const PortMapping& p : ports) {
    for (auto& rule : rules_of(tag, bridge, subnet, container_ip, p)) iptables(std::move(rule));
  }
  return published;
}

void PublishedPorts::remove_for(const std::string& container, const fs::path& state_dir,
                                pid_t gone_owner) noexcept {
  try {
    if (!fs::exists(state_dir)) return;
    const DirLock lock(state_dir);
    remove_tagged_rules(port_rule_tag(container));
    for (const Claim& c : read_claims(state_dir)) {
      const bool ours = c.pid == ::getpid() || (gone_owner > 0 && c.pid == gone_owner);
      if (c.container == container && (ours || !pid_alive(c.pid))) fs::remove(c.file);
    }
    settle_route_localnet(state_dir);
  } catch (const std::exception& e) {
    narrate({.call = "PublishedPorts::remove_for",
             .result = fmt::format("failed: {}", e.what()),
             .shell = "",
             .man = "iptables(8)"});
  } catch (...) {
  }
}

bool PublishedPorts::rules_present(const std::string& container) {
  return !tagged_rules(port_rule_tag(container)).empty();
}

PublishedPorts::PublishedPorts(PublishedPorts&& other) noexcept
    : container_(std::move(other.container_)),
      bridge_(std::move(other.bridge_)),
      dir_(std::move(other.dir_)),
      claims_(std::move(other.claims_)),
      owner_(std::exchange(other.owner_, 0)) {}

PublishedPorts& PublishedPorts::operator=(PublishedPorts&& other) noexcept {
  if (this != &other) {
    unpublish();
    container_ = std::move(other.container_);
    bridge_ = std::move(other.bridge_);
    dir_ = std::move(other.dir_);
    claims_ = std::move(other.claims_);
    owner_ = std::exchange(other.owner_, 0);
  }
  return *this;
}

void PublishedPorts::hand_over(pid_t new_owner) {
  if (owner_ != ::getpid()) return;  // nothing published, or a forked child's copy
  const DirLock lock(dir_);
  const std::string record = claim_text(container_, new_owner, bridge_);
  for (const fs::path& claim : claims_) {
    // rename(2) replaces the claim at once: another publisher reading it under the lock sees
    // the old owner or the new one, never an empty file.
    // (A leading dot: read_claims never takes the temporary file for a claim.)
    const fs::path tmp =
        claim.parent_path() / fmt::format(".{}.{}.tmp", claim.filename().string(), ::getpid());
    write_text(tmp, record, O_CREAT | O_TRUNC);
    check(::rename(tmp.c_str(), claim.c_str()), "rename", claim.string());
    narrate({.call = fmt::format("rename('{}', '{}')", tmp.string(), claim.string()),
             .result = fmt::format("the claim now names pid {}", new_owner),
             .shell =
                 fmt::format("echo '{}' > {}", record.substr(0, record.size() - 1), claim.string()),
             .man = "rename(2)"});
  }
  claims_.clear();
  owner_ = 0;
}

void PublishedPorts::unpublish() noexcept {
  if (owner_ == 0) return;
  // A child forked after publishing has a copy: only the publisher removes the rules.
  if (owner_ == ::getpid()) remove_for(container_, dir_);
  owner_ = 0;
}

}  // namespace ctr
