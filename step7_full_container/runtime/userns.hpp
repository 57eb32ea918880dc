// User namespaces: who the container's root is on the host (user_namespaces(7)).
//
// A process cloned with CLONE_NEWUSER starts in a user namespace where no user or group ID
// exists yet: it shows up as the overflow ID 65534 ("nobody"). Two files of the child,
// /proc/PID/uid_map and /proc/PID/gid_map, say which IDs of the parent namespace the IDs
// inside stand for. One line "inside outside count" maps count IDs:
//
//   0 1000 1            container root is host uid 1000 (the user who ran mycontainer)
//   1 100000 65536      container uids 1..65536 are host uids 100000..165535
//
// Each file may be written once, by one write(2), by a process with CAP_SETUID (CAP_SETGID)
// over the namespace, and the parent has it: it owns the child's namespace. Who may map what
// decides the three ways mycontainer runs (plan_id_maps() picks one):
//
//   kSelfOnly   rootless, nothing else available: an unprivileged parent may write exactly
//               one line, mapping its own effective ID; for gid_map only after writing
//               "deny" to /proc/PID/setgroups (user_namespaces(7), "Interaction with system
//               calls that change process UIDs or GIDs", and CVE-2014-8989).
//   kNewIdMap   rootless with a range in /etc/subuid and /etc/subgid (subuid(5)): the setuid
//               helpers newuidmap(1) and newgidmap(1) from the uidmap package check the range
//               belongs to us and write the map for us. Container root is still our own uid;
//               uids 1.. are the subordinate range, so `adduser` and `chown` work inside.
//   kRootRemap  root with --userns: root may map any range, so container 0..65535 become an
//               unprivileged host range. Root in the container is nobody on the host: a
//               process that escapes the container owns nothing there.
//
// The parent writes the maps between clone() and the handshake's release, while the child
// waits; then the child calls become_root_in_userns().
#pragma once

#include <sys/types.h>  // pid_t, uid_t, gid_t

#include <cstdint>      // uint32_t
#include <optional>     // std::optional
#include <string>       // std::string
#include <string_view>  // std::string_view
#include <vector>       // std::vector

namespace ctr {

// One line of uid_map or gid_map: IDs inside..inside+count-1 are outside..outside+count-1 in
// the parent namespace.
struct IdMapping {
  uint32_t inside = 0;
  uint32_t outside = 0;
  uint32_t count = 0;
  bool operator==(const IdMapping&) const = default;
};

// One range of /etc/subuid or /etc/subgid: count IDs from start.
struct SubIdRange {
  uint32_t start = 0;
  uint32_t count = 0;
  bool operator==(const SubIdRange&) const = default;
};

inline constexpr const char* kSubUidPath = "/etc/subuid";
inline constexpr const char* kSubGidPath = "/etc/subgid";
inline constexpr const char* kNewUidMapPath = "/usr/bin/newuidmap";
inline constexpr const char* kNewGidMapPath = "/usr/bin/newgidmap";

// With --userns as root and no "mycontainer" line in /etc/subuid (/etc/subgid), container IDs
// 0..65535 are host IDs 1000000..1065535. A fixed, documented default: far above the IDs
// useradd hands out (SUB_UID_MIN is 100000 in login.defs(5), and busy machines reach a few
// hundred thousand), and a whole 65536 block like docker's "dockremap" ranges.
inline constexpr const char* kRemapUser = "mycontainer";
inline constexpr uint32_t kDefaultRemapStart = 1000000;
inline constexpr uint32_t kRemapCount = 65536;

// uid_map and gid_map hold at most 340 lines since Linux 4.15 (5 before):
// user_namespaces(7), "Defining user and group ID mappings".
inline constexpr size_t kMaxMapLines = 340;

// The ranges that /etc/subuid-style `content` gives to a user, in file order. A line is
// "name:start:count" or "uid:start:count" (subuid(5)): a line matches the user's name or, if
// given, its numeric ID. Comments (#), blank and malformed lines are skipped, like newuidmap
// does; so are empty ranges and ranges that run past 4294967294 (the last valid ID).
std::vector<SubIdRange> parse_subid(std::string_view content, std::string_view user,
                                    std::optional<uint32_t> id);
// parse_subid() on a file; a file that is missing or unreadable gives no ranges.
std::vector<SubIdRange> read_subid_file(const std::string& path, std::string_view user,
                                        std::optional<uint32_t> id);

// How the maps get written, see the top of this file.
enum class IdMapMethod {
  kNone,       // root without --userns: no user namespace at all
  kSelfOnly,   // one line each, written by the parent itself; setgroups denied
  kNewIdMap,   // newuidmap/newgidmap with the subordinate ranges
  kRootRemap,  // root writes a 65536-ID unprivileged range itself
};
std::string to_string(IdMapMethod method);

// Everything the decision depends on. UsernsFacts::detect() reads it from this machine;
// tests fill it in by hand.
struct UsernsFacts {
  uid_t euid = 0;
  gid_t egid = 0;
  std::string user;                // our user name ("" if it has none)
  std::vector<SubIdRange> subuid;  // rootless: our ranges; root: kRemapUser's ranges
  std::vector<SubIdRange> subgid;
  bool have_newuidmap = false;  // the helpers exist and we may run them (they are setuid root
  bool have_newgidmap = false;  // on Debian, carry file capabilities on Fedora)

  // Reads geteuid(), getpwuid(3), the subid files and the helpers (paths for tests).
  static UsernsFacts detect(const std::string& subuid_path = kSubUidPath,
                            const std::string& subgid_path = kSubGidPath,
                            const std::string& newuidmap = kNewUidMapPath,
                            const std::string& newgidmap = kNewGidMapPath);
};

// The maps to write and how. `why` is one line for --explain.
struct IdMapPlan {
  IdMapMethod method = IdMapMethod::kNone;
  std::vector<IdMapping> uid;
  std::vector<IdMapping> gid;
  bool deny_setgroups = false;  // write "deny" to /proc/PID/setgroups before gid_map
  std::string why;
};

// Decides the maps. `remap` is --userns; rootless always gets a user namespace (it needs one:
// without it an unprivileged process cannot create any other namespace).
IdMapPlan plan_id_maps(const UsernsFacts& facts, bool remap);

// The plan for maps a spec already names (linux.uidMappings/gidMappings, made by
// plan_id_maps when `run` turned its flags into a spec, or by an engine): as root, written
// by the parent; rootless, our own id alone is written by the parent (setgroups denied),
// anything more needs newuidmap/newgidmap.
IdMapPlan plan_for_mappings(std::vector<IdMapping> uid, std::vector<IdMapping> gid, uid_t euid,
                            gid_t egid);

// "0 1000 1\n1 100000 65536\n": the text written to uid_map or gid_map.
std::string format_id_map(const std::vector<IdMapping>& map);
// Parses /proc/PID/uid_map's text (columns separated by any spaces); skips malformed lines.
std::vector<IdMapping> parse_id_map(std::string_view text);

// --- in the parent, after clone(CLONE_NEWUSER|...), while the child waits ------------------

// Writes /proc/PID/setgroups ("deny", if asked), then uid_map and gid_map, each in one
// write(2), narrated as `echo '0 1000 1' > /proc/PID/uid_map`. Throws SyscallError.
void write_id_maps(pid_t child, const std::vector<IdMapping>& uid,
                   const std::vector<IdMapping>& gid, bool deny_setgroups);
// Runs `newuidmap PID inside outside count...` and the same with newgidmap; throws
// std::runtime_error with the helper's own message when it refuses.
void newidmap(pid_t child, const std::vector<IdMapping>& uid, const std::vector<IdMapping>& gid,
              const std::string& newuidmap = kNewUidMapPath,
              const std::string& newgidmap = kNewGidMapPath);
// Does what plan says for child: write_id_maps() or newidmap(); nothing for kNone.
void apply_id_maps(pid_t child, const IdMapPlan& plan);

// --- in the child, once the maps are written ------------------------------------------------

// setresgid(0,0,0), setgroups(0, nullptr) unless /proc/self/setgroups says "deny", then
// setresuid(0,0,0). Groups before the user: changing the uid can drop the capabilities that
// setresgid and setgroups need (capabilities(7), "Effect of user ID changes on capabilities";
// setuid(2)). Throws SyscallError; EINVAL means 0 is not mapped.
void become_root_in_userns();

// --- questions about this machine -------------------------------------------------------------

// True in the initial user namespace: /proc/self/uid_map is the identity "0 0 4294967295".
bool in_initial_user_namespace();
// geteuid() != 0: we run as an ordinary user and need a user namespace for everything.
bool running_rootless();
// Why an unprivileged process cannot make a user namespace here, or nullopt if it can:
// kernel.unprivileged_userns_clone=0 (Debian's and Ubuntu's switch), user.max_user_namespaces=0,
// or AppArmor's kernel.apparmor_restrict_unprivileged_userns=1 (Ubuntu 23.10+). Each reason
// names the sysctl to change. proc_sys is "/proc/sys" except in tests.
std::optional<std::string> unprivileged_userns_problem(const std::string& proc_sys = "/proc/sys");
bool unprivileged_userns_allowed(const std::string& proc_sys = "/proc/sys");

}  // namespace ctr
