#include "runtime/userns.hpp"

#include <fcntl.h>   // open(2)
#include <grp.h>     // setgroups(2)
#include <unistd.h>  // geteuid(2), setresuid(2), setresgid(2), access(2), write(2)

#include <algorithm>
#include <array>
#include <charconv>  // std::from_chars
#include <limits>
#include <sstream>
#include <stdexcept>

#include <fmt/format.h>

#include "ctr/error.hpp"
#include "ctr/exec.hpp"  // run_program: newuidmap, newgidmap
#include "ctr/fd.hpp"
#include "ctr/narrate.hpp"

namespace ctr {

namespace {

// The last valid ID: (uid_t)-1 means "no change" to setresuid(2) and cannot be mapped.
constexpr uint64_t kMaxId = 4294967294ULL;

std::string_view trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(" \t\r\n");
  return s.substr(first, last - first + 1);
}

std::optional<uint32_t> parse_u32(std::string_view s) {
  s = trim(s);
  uint32_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

// The lines of text, without their '\n'.
std::vector<std::string_view> lines_of(std::string_view text) {
  std::vector<std::string_view> out;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    out.push_back(text.substr(0, nl));
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  return out;
}

// The user database, from /etc/passwd alone, read here rather than with getpwuid(3). The
// programs are linked static (no dynamic loader: a faster start), and glibc cannot safely load
// its NSS plugins (libnss_systemd, sss, ldap: nsswitch.conf(5)) into a static program: it
// warns at link time that getpwnam_r "requires at runtime the shared libraries from the glibc
// version used for linking", and a lookup that reaches one crashes. passwd(5): one user per
// line, NAME:PASSWORD:UID:GID:GECOS:DIR:SHELL. A user known only to such a service is matched
// in /etc/subuid by number instead (read_subid_file).
constexpr const char* kPasswdFile = "/etc/passwd";

// The NAME and UID of each line of /etc/passwd, until `stop` returns true for one.
template <typename F>
void each_passwd_entry(F stop) {
  const auto text = read_file(kPasswdFile);
  if (!text) return;
  for (const std::string_view line : lines_of(*text)) {
    const auto name_end = line.find(':');
    const auto pass_end = line.find(':', name_end == std::string_view::npos ? 0 : name_end + 1);
    if (name_end == 0 || name_end == std::string_view::npos || pass_end == std::string_view::npos)
      continue;
    const auto uid_end = line.find(':', pass_end + 1);
    const auto uid = parse_u32(line.substr(pass_end + 1, uid_end - pass_end - 1));
    if (uid && stop(line.substr(0, name_end), *uid)) return;
  }
}

std::string user_name_of(uid_t uid) {
  std::string found;
  each_passwd_entry([&](std::string_view name, uint32_t id) {
    if (id == uid) found = name;
    return id == uid;
  });
  return found;
}

std::optional<uint32_t> uid_of(const char* name) {
  std::optional<uint32_t> found;
  each_passwd_entry([&](std::string_view entry, uint32_t id) {
    if (entry == name) found = id;
    return entry == name;
  });
  return found;
}

// Our own ID as one line, then the subordinate ranges from inside ID 1 on, skipping a range
// that holds our own ID (the kernel refuses overlapping lines: user_namespaces(7)).
std::vector<IdMapping> self_plus_ranges(uint32_t self, const std::vector<SubIdRange>& ranges) {
  std::vector<IdMapping> map{{0, self, 1}};
  uint64_t next_inside = 1;
  for (const auto& r : ranges) {
    if (map.size() == kMaxMapLines) break;
    if (self >= r.start && self - r.start < r.count) continue;
    if (next_inside + r.count - 1 > kMaxId) break;
    map.push_back({static_cast<uint32_t>(next_inside), r.start, r.count});
    next_inside += r.count;
  }
  return map;
}

// Container 0..N-1 on the first configured range (at most kRemapCount IDs), or the default.
std::vector<IdMapping> remap_range(const std::vector<SubIdRange>& ranges) {
  if (ranges.empty()) return {{0, kDefaultRemapStart, kRemapCount}};
  return {{0, ranges.front().start, std::min(ranges.front().count, kRemapCount)}};
}

uint64_t total(const std::vector<IdMapping>& map) {
  uint64_t n = 0;
  for (const auto& m : map) n += m.count;
  return n;
}

// Writes content to a /proc file with one write(2): the kernel takes a map in one piece
// and refuses a second write (user_namespaces(7): "a single write(2)").
void write_proc_file(const std::string& path, const std::string& content) {
  UniqueFd fd(check(::open(path.c_str(), O_WRONLY | O_CLOEXEC), "open", path));
  const ssize_t n = check(::write(fd.get(), content.data(), content.size()), "write", path);
  if (static_cast<size_t>(n) != content.size()) throw SyscallError(EIO, "write", path);
}

// "0 1000 1\n" -> "0 1000 1\\n": map text as a C string or printf format shows it.
std::string escape_newlines(const std::string& text) {
  std::string out;
  for (char c : text) out += (c == '\n') ? std::string("\\n") : std::string(1, c);
  return out;
}

// The shell line that writes the same text: echo for one line, printf for several.
std::string shell_write(const std::string& content, const std::string& path) {
  const auto nl = content.find('\n');
  if (nl == content.size() - 1) return fmt::format("echo '{}' > {}", content.substr(0, nl), path);
  return fmt::format("printf '{}' > {}", escape_newlines(content), path);
}

// "newuidmap 4242 0 1000 1 1 100000 65536" as argv.
std::vector<std::string> helper_argv(const std::string& helper, pid_t child,
                                     const std::vector<IdMapping>& map) {
  std::vector<std::string> argv{helper, std::to_string(child)};
  for (const auto& m : map) {
    argv.push_back(std::to_string(m.inside));
    argv.push_back(std::to_string(m.outside));
    argv.push_back(std::to_string(m.count));
  }
  return argv;
}

// Runs a setuid helper and waits for it (run_program, exec.hpp); what it printed becomes the
// error message.
void run_helper(const std::vector<std::string>& argv) {
  const std::string line = fmt::format("{}", fmt::join(argv, " "));
  const ProgramResult r = run_program(argv);
  narrate({.call = line,
           .result = r.status < kExitSignalBase ? fmt::format("exit {}", r.status) : "killed",
           .shell = line,
           .man = "newuidmap(1), newgidmap(1), subuid(5)"});
  if (r.status != 0) {
    throw std::runtime_error(
        fmt::format("'{}' failed: {} (does /etc/subuid or /etc/subgid give this user that range?)",
                    line, r.output.empty() ? std::string("no message") : r.output));
  }
}

}  // namespace

// === Subordinate IDs ==========================================================================

std::vector<SubIdRange> parse_subid(std::string_view content, std::string_view user,
                                    std::optional<uint32_t> id) {
  const std::string id_text = id ? std::to_string(*id) : std::string();
  std::vector<SubIdRange> out;
  for (std::string_view line : lines_of(content)) {
    line = trim(line);
    if (line.empty() || line.front() == '#') continue;
    const auto c1 = line.find(':');
    const auto c2 = line.find(':', c1 == std::string_view::npos ? c1 : c1 + 1);
    if (c1 == std::string_view::npos || c2 == std::string_view::npos) continue;
    const std::string_view owner = trim(line.substr(0, c1));
    const bool mine = (!user.empty() && owner == user) || (id && owner == id_text);
    if (!mine) continue;
    const auto start = parse_u32(line.substr(c1 + 1, c2 - c1 - 1));
    const auto count = parse_u32(line.substr(c2 + 1));
    if (!start || !count || *count == 0) continue;
    if (static_cast<uint64_t>(*start) + *count - 1 > kMaxId) continue;
    out.push_back({*start, *count});
  }
  return out;
}

std::vector<SubIdRange> read_subid_file(const std::string& path, std::string_view user,
                                        std::optional<uint32_t> id) {
  const auto content = read_file(path);
  return content ? parse_subid(*content, user, id) : std::vector<SubIdRange>{};
}

// === The decision =============================================================================

std::string to_string(IdMapMethod method) {
  switch (method) {
    case IdMapMethod::kNone:
      return "none";
    case IdMapMethod::kSelfOnly:
      return "self-only";
    case IdMapMethod::kNewIdMap:
      return "newuidmap";
    case IdMapMethod::kRootRemap:
      return "root-remap";
  }
  return "?";
}

UsernsFacts UsernsFacts::detect(const std::string& subuid_path, const std::string& subgid_path,
                                const std::string& newuidmap, const std::string& newgidmap) {
  UsernsFacts f;
  f.euid = ::geteuid();
  f.egid = ::getegid();
  f.user = user_name_of(f.euid);
  if (f.euid == 0) {
    // Root remaps onto the ranges of a dedicated user, as docker's --userns-remap=default
    // does with "dockremap"; the user need not exist in /etc/passwd.
    const auto remap_uid = uid_of(kRemapUser);
    f.subuid = read_subid_file(subuid_path, kRemapUser, remap_uid);
    f.subgid = read_subid_file(subgid_path, kRemapUser, remap_uid);
  } else {
    f.subuid = read_subid_file(subuid_path, f.user, f.euid);
    f.subgid = read_subid_file(subgid_path, f.user, f.euid);
  }
  f.have_newuidmap = ::access(newuidmap.c_str(), X_OK) == 0;
  f.have_newgidmap = ::access(newgidmap.c_str(), X_OK) == 0;
  return f;
}

IdMapPlan plan_for_mappings(std::vector<IdMapping> uid, std::vector<IdMapping> gid, uid_t euid,
                            gid_t egid) {
  IdMapPlan plan;
  const bool self_only = uid.size() == 1 && gid.size() == 1 && uid[0].outside == euid &&
                         uid[0].count == 1 && gid[0].outside == egid && gid[0].count == 1;
  if (euid == 0) {
    plan.method = IdMapMethod::kRootRemap;
    plan.why = "as root: the parent writes the maps";
  } else if (self_only) {
    plan.method = IdMapMethod::kSelfOnly;
    plan.deny_setgroups = true;  // an unprivileged writer must deny setgroups first
    plan.why = "rootless: the parent writes its own uid and gid alone";
  } else {
    plan.method = IdMapMethod::kNewIdMap;
    plan.why = "rootless: newuidmap/newgidmap write the subordinate ranges";
  }
  plan.uid = std::move(uid);
  plan.gid = std::move(gid);
  return plan;
}

IdMapPlan plan_id_maps(const UsernsFacts& facts, bool remap) {
  IdMapPlan plan;
  if (facts.euid == 0) {
    if (!remap) {
      plan.why = "running as root without --userns: no user namespace, container root is host root";
      return plan;
    }
    plan.method = IdMapMethod::kRootRemap;
    plan.uid = remap_range(facts.subuid);
    plan.gid = remap_range(facts.subgid);
    plan.why = fmt::format(
        "--userns as root: container uids 0..{} are host uids {}..{} ({}), gids 0..{} are {}..{}",
        plan.uid[0].count - 1, plan.uid[0].outside, plan.uid[0].outside + plan.uid[0].count - 1,
        facts.subuid.empty() ? fmt::format("the default; add '{}:START:65536' to /etc/subuid to "
                                           "choose",
                                           kRemapUser)
                             : fmt::format("from /etc/subuid, user '{}'", kRemapUser),
        plan.gid[0].count - 1, plan.gid[0].outside, plan.gid[0].outside + plan.gid[0].count - 1);
    return plan;
  }

  const bool helpers = facts.have_newuidmap && facts.have_newgidmap;
  // newuidmap looks the caller up in /etc/passwd and refuses a uid without a name.
  const bool named = !facts.user.empty();
  if (helpers && named && !facts.subuid.empty() && !facts.subgid.empty()) {
    plan.method = IdMapMethod::kNewIdMap;
    plan.uid = self_plus_ranges(facts.euid, facts.subuid);
    plan.gid = self_plus_ranges(facts.egid, facts.subgid);
    plan.why = fmt::format(
        "rootless: container root is your uid {}, uids 1..{} come from /etc/subuid, "
        "written by newuidmap/newgidmap",
        facts.euid, total(plan.uid) - 1);
    return plan;
  }

  plan.method = IdMapMethod::kSelfOnly;
  plan.uid = {{0, facts.euid, 1}};
  plan.gid = {{0, facts.egid, 1}};
  plan.deny_setgroups = true;
  std::string missing;
  if (!helpers) {
    missing = "newuidmap/newgidmap are not installed (apt install uidmap)";
  } else if (!named) {
    missing = fmt::format("uid {} has no name in /etc/passwd, which newuidmap needs", facts.euid);
  } else {
    missing =
        fmt::format("/etc/subuid or /etc/subgid has no range for '{}' (usermod --add-subuids)",
                    facts.user.empty() ? std::to_string(facts.euid) : facts.user);
  }
  plan.why = fmt::format(
      "rootless: only container root exists, as your uid {} / gid {}; {}, so no other ids "
      "can be mapped",
      facts.euid, facts.egid, missing);
  return plan;
}

std::string format_id_map(const std::vector<IdMapping>& map) {
  std::string out;
  for (const auto& m : map) out += fmt::format("{} {} {}\n", m.inside, m.outside, m.count);
  return out;
}

std::vector<IdMapping> parse_id_map(std::string_view text) {
  std::vector<IdMapping> out;
  for (std::string_view line : lines_of(text)) {
    std::istringstream in{std::string(line)};
    uint64_t inside = 0, outside = 0, count = 0;
    if (!(in >> inside >> outside >> count)) continue;
    constexpr uint64_t kMax = std::numeric_limits<uint32_t>::max();
    if (inside > kMax || outside > kMax || count > kMax) continue;
    out.push_back({static_cast<uint32_t>(inside), static_cast<uint32_t>(outside),
                   static_cast<uint32_t>(count)});
  }
  return out;
}

// === In the parent ============================================================================

void write_id_maps(pid_t child, const std::vector<IdMapping>& uid,
                   const std::vector<IdMapping>& gid, bool deny_setgroups) {
  const std::string proc = fmt::format("/proc/{}", child);
  if (deny_setgroups) {
    // Without this an unprivileged parent may not write gid_map: the child could otherwise
    // drop a group with setgroups(2) and so escape a "deny" rule that names that group
    // (CVE-2014-8989). "deny" is permanent for the namespace: become_root_in_userns() reads it.
    const std::string path = proc + "/setgroups";
    write_proc_file(path, "deny");
    narrate({.call = fmt::format("write(\"{}\", \"deny\")", path),
             .result = "ok",
             .shell = fmt::format("echo deny > {}", path),
             .man = "user_namespaces(7) \"The /proc/[pid]/setgroups file\""});
  }
  for (const auto& [name, map] : {std::pair{"uid_map", &uid}, std::pair{"gid_map", &gid}}) {
    const std::string path = fmt::format("{}/{}", proc, name);
    const std::string content = format_id_map(*map);
    write_proc_file(path, content);
    narrate({.call = fmt::format("write(\"{}\", \"{}\")", path, escape_newlines(content)),
             .result = "ok",
             .shell = shell_write(content, path),
             .man = "user_namespaces(7) \"User and group ID mappings\""});
  }
}

void newidmap(pid_t child, const std::vector<IdMapping>& uid, const std::vector<IdMapping>& gid,
              const std::string& newuidmap, const std::string& newgidmap) {
  run_helper(helper_argv(newuidmap, child, uid));
  run_helper(helper_argv(newgidmap, child, gid));
}

void apply_id_maps(pid_t child, const IdMapPlan& plan) {
  switch (plan.method) {
    case IdMapMethod::kNone:
      return;
    case IdMapMethod::kNewIdMap:
      newidmap(child, plan.uid, plan.gid);
      return;
    case IdMapMethod::kSelfOnly:
    case IdMapMethod::kRootRemap:
      write_id_maps(child, plan.uid, plan.gid, plan.deny_setgroups);
      return;
  }
}

// === In the child =============================================================================

void become_root_in_userns() {
  check(::setresgid(0, 0, 0), "setresgid", "0");
  // setgroups(2) fails with EPERM once "deny" was written (always so with the self-only map).
  // Then the supplementary groups we came with stay, shown as the overflow gid 65534.
  const auto setgroups_state = read_file("/proc/self/setgroups");
  const bool allowed = !setgroups_state || trim(*setgroups_state) != "deny";
  if (allowed) check(::setgroups(0, nullptr), "setgroups", "[]");
  check(::setresuid(0, 0, 0), "setresuid", "0");
  narrate({.call = allowed ? "setresgid(0, 0, 0); setgroups(0, []); setresuid(0, 0, 0)"
                           : "setresgid(0, 0, 0); setresuid(0, 0, 0)  (setgroups is denied)",
           .result = "ok",
           .shell = "(what `unshare --map-root-user` leaves you as: id -> uid=0(root) gid=0(root))",
           .man = "setresuid(2), setgroups(2), user_namespaces(7)"});
}

// === Questions ================================================================================

bool in_initial_user_namespace() {
  const auto text = read_file("/proc/self/uid_map");
  if (!text) return false;
  // The initial namespace maps every ID to itself: one line "0 0 4294967295".
  return parse_id_map(*text) == std::vector<IdMapping>{{0, 0, 4294967295U}};
}

bool running_rootless() {
  return ::geteuid() != 0;
}

std::optional<std::string> unprivileged_userns_problem(const std::string& proc_sys) {
  // A sysctl's value: the first line of its file, or nullopt when this kernel has no such file.
  const auto value = [&](const char* name) -> std::optional<std::string> {
    const auto text = read_file(proc_sys + "/" + name);
    if (!text) return std::nullopt;
    return std::string(trim(std::string_view(*text).substr(0, text->find('\n'))));
  };
  if (value("kernel/unprivileged_userns_clone") == "0") {
    return "unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone = 0): "
           "sudo sysctl -w kernel.unprivileged_userns_clone=1, or run as root" +
           std::string(kSeeTroubleshooting);
  }
  if (value("user/max_user_namespaces") == "0") {
    return "user namespaces are disabled (user.max_user_namespaces = 0): "
           "sudo sysctl -w user.max_user_namespaces=15000, or run as root" +
           std::string(kSeeTroubleshooting);
  }
  if (value("kernel/apparmor_restrict_unprivileged_userns") == "1") {
    return "AppArmor restricts unprivileged user namespaces "
           "(kernel.apparmor_restrict_unprivileged_userns = 1): the namespace is created but "
           "gets no capabilities; give mycontainer an AppArmor profile with 'userns,' or run "
           "sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0" +
           std::string(kSeeTroubleshooting);
  }
  return std::nullopt;
}

bool unprivileged_userns_allowed(const std::string& proc_sys) {
  return !unprivileged_userns_problem(proc_sys).has_value();
}

}  // namespace ctr
