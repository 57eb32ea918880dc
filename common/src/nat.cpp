// NAT for containers: a masquerade rule and IPv4 forwarding, reference-counted across
// processes. Read nat.hpp first.
#include "ctr/nat.hpp"

#include <fcntl.h>   // open(2), O_* flags
#include <stdio.h>   // rename(2)
#include <unistd.h>  // getpid(2), write(2), unlink(2)

#include <algorithm>  // std::any_of
#include <atomic>     // std::atomic
#include <charconv>   // std::from_chars
#include <stdexcept>  // std::runtime_error
#include <utility>    // std::exchange

#include <fmt/format.h>  // fmt::format

#include "ctr/dirlock.hpp"  // DirLock, pid_alive
#include "ctr/error.hpp"    // SyscallError, check
#include "ctr/exec.hpp"     // run_program: iptables
#include "ctr/fd.hpp"       // UniqueFd, read_file
#include "ctr/netlink.hpp"  // validate_link_name
#include "ctr/narrate.hpp"  // narrate

namespace ctr {

namespace fs = std::filesystem;

namespace {

constexpr const char* kIpForward = "/proc/sys/net/ipv4/ip_forward";

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

// A small state file (or /proc/sys file) without its final newline. Throws SyscallError.
std::string read_text(const fs::path& path) {
  std::optional<std::string> text = read_file(path.string());
  if (!text) throw SyscallError(errno, "open", path.string());
  while (!text->empty() && (text->back() == '\n' || text->back() == ' ')) text->pop_back();
  return *text;
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
// up) or is `gone` (0: none), removes every rule among `candidates` and the forgotten users'
// rules that no live user needs, and restores forwarding once no user is left.
void settle(const fs::path& dir, std::vector<NatRule> candidates, pid_t gone = 0) {
  std::vector<NatUser> live;
  for (NatUser& user : read_users(dir)) {
    if (pid_alive(user.pid) && (gone == 0 || user.pid != gone)) {
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

Nat Nat::enable(Ipv4Cidr subnet, std::string bridge, const fs::path& state_dir) {
  validate_link_name(bridge, "bridge");
  static std::atomic<unsigned> counter{0};
  Nat nat;  // declared before the lock: on error, the lock goes first, then nat cleans up
  nat.subnet_ = subnet.subnet();
  nat.bridge_ = std::move(bridge);
  nat.dir_ = state_dir / "nat";
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

// A SIGKILLed runtime's user file stays, and with it the rule and forwarding, until the next
// enable or disable settles; cleanup settles now. The lock directory is not created if absent.
void Nat::release_dead_users(const fs::path& state_dir) {
  const fs::path dir = state_dir / "nat";
  if (!fs::exists(dir)) return;
  DirLock lock(dir);
  settle(dir, {});
}

void Nat::release_users_of(pid_t owner, const fs::path& state_dir) {
  const fs::path dir = state_dir / "nat";
  if (!fs::exists(dir)) return;
  DirLock lock(dir);
  settle(dir, {}, owner);
}

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

void Nat::hand_over(pid_t new_owner) {
  if (user_file_.empty()) return;
  static std::atomic<unsigned> counter{0};
  DirLock lock(dir_);
  // A new name (read_users takes the pid from it), unique as enable's: "user.NEW.hOLD.N".
  const fs::path to = dir_ / fmt::format("user.{}.h{}.{}", new_owner, ::getpid(), counter++);
  check(::rename(user_file_.c_str(), to.c_str()), "rename", user_file_.string());
  narrate({.call = fmt::format("rename('{}', '{}')", user_file_.string(), to.string()),
           .result = fmt::format("pid {} now uses the NAT rule", new_owner),
           .shell = fmt::format("mv {} {}", user_file_.string(), to.string()),
           .man = "rename(2)"});
  user_file_.clear();
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
