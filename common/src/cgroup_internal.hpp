// What the files of the Cgroup implementation share (cgroup.cpp, cgroup_layout.cpp,
// cgroup_v2.cpp, cgroup_kill.cpp): small file helpers, the place containers' cgroups go, and
// CgroupFs, through which every change to a cgroup filesystem is made and narrated.
// Internal to the library: the interface is ctr/cgroup.hpp.
#pragma once

#include <sys/types.h>  // pid_t

#include <cstdint>      // uint64_t
#include <map>          // std::map
#include <optional>     // std::optional
#include <set>          // std::set
#include <string>       // std::string
#include <string_view>  // std::string_view
#include <vector>       // std::vector

#include "ctr/cgroup.hpp"  // CgroupLayout, CgroupHierarchy, CgroupFsHooks

namespace ctr::detail {

// --- Small text and file helpers ------------------------------------------------------------

// "a,b,,c" -> {"a", "b", "", "c"}.
std::vector<std::string> split(std::string_view text, char sep);
// The whitespace-separated words of a file like cgroup.controllers, as a set.
std::set<std::string> words(std::string_view text);
std::string dirname_of(const std::string& path);   // "/a/b" -> "/a"
std::string basename_of(const std::string& path);  // "/a/b" -> "b"
bool is_dir(const std::string& path);
bool exists(const std::string& path);
// A file holding one number ("67108864\n"); nullopt when missing or not a number.
std::optional<uint64_t> read_u64(const std::string& path);
// One value of a "flat keyed" file (cgroup-v2.rst "Interface Files"): "key value" per line.
std::optional<uint64_t> read_key(const std::string& path, std::string_view key);
// The subdirectories of dir (cgroups beneath it), by name, sorted.
std::vector<std::string> subdirs(const std::string& dir);
// The pids in a cgroup.procs file.
std::vector<pid_t> read_pids(const std::string& procs_file);
// cgroup.procs of dir and of every cgroup beneath it, appended to `into`.
void collect_pids(const std::string& dir, std::vector<pid_t>& into);

// --- The three things we do to a cgroup filesystem, each narrated ----------------------------

// mkdir, write and rmdir on cgroupfs, each reported to the narrator with the shell command
// that does the same, so `--explain` shows a learner how to do it by hand.
class CgroupFs {
 public:
  CgroupFs(CgroupVersion version, const CgroupFsHooks& hooks);

  // One write(2) with the whole value: cgroupfs parses each write on its own, and reports a
  // bad value or a refused move as the errno of that write (EINVAL, EBUSY...).
  void write(const std::string& path, const std::string& value) const;
  // Makes one cgroup. The kernel fills the new directory with interface files by itself.
  void make_dir(const std::string& path) const;
  // rmdir of an empty cgroup (no processes, no children; the interface files do not count).
  // Returns 0 or the errno.
  int remove_dir(const std::string& path) const noexcept;
  // mkdir -p, for a parent the user named. Not recorded: a parent outlives its containers.
  void make_dirs(const std::string& from, const std::string& relative) const;

 private:
  std::string_view man_;
  const CgroupFsHooks& hooks_;
};

// --- Where containers' cgroups go (cgroup.cpp) -----------------------------------------------

// "mycontainer", "/a/b/" -> "/mycontainer", "/a/b"; refuses "..".
std::string normalize_parent(const std::string& parent);
// The cgroup that containers go beneath, in hierarchy h (before any controller setup).
std::string base_dir(const CgroupLayout& layout, const CgroupHierarchy& h,
                     const std::optional<std::string>& parent);

// --- cgroup v2 delegation (cgroup_v2.cpp) ----------------------------------------------------

// Where containers' cgroups go on v2 without --cgroup-parent, and why: the one decision (the
// rules are at the top of cgroup_v2.cpp). Reads the files; changes nothing.
struct V2Placement {
  std::string base = {};     // containers' cgroups go beneath this directory
  std::string top = {};      // set: base is top + "/mycontainer", made (and kept) beneath top
  bool move_self = false;    // base is our own cgroup and we are alone in it: move into the leaf
  std::string why = {};      // for --explain
  std::string refusal = {};  // set: no place can take a limit, and this says why
};
V2Placement choose_v2_placement(const CgroupLayout& layout, const CgroupHierarchy& h);
// The top-level cgroup of rule 2, whether it exists or not: /sys/fs/cgroup/mycontainer as root;
// "" for a user without a delegated subtree.
std::string v2_top_level_dir(const CgroupHierarchy& h);
// Every place a container's cgroup may be in hierarchy h: the parent; else our own (base_dir)
// and, on v2, the top-level cgroup. For adopt() and list_children(), which look for leftovers.
std::vector<std::string> container_bases(const CgroupLayout& layout, const CgroupHierarchy& h,
                                         const std::optional<std::string>& parent);

// The cgroup that containers go beneath on v2, ready for them: the controllers that
// `required` (controller -> the limit that needs it) names enabled on the way down.
std::string prepare_v2_base(const CgroupFs& fs, const CgroupLayout& layout,
                            const CgroupHierarchy& h, const std::optional<std::string>& parent,
                            const std::map<std::string, std::string>& required);

}  // namespace ctr::detail
