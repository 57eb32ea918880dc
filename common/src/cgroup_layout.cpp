// CgroupLayout: which cgroup trees are mounted, and where we are in them. Read
// cgroup_layout.hpp first. Sources: cgroups(7) and proc(5) (/proc/[pid]/cgroup, mountinfo).
#include "ctr/cgroup_layout.hpp"

#include <map>       // std::map
#include <optional>  // std::optional

#include "cgroup_internal.hpp"  // split
#include "ctr/fd.hpp"           // read_file

namespace ctr {

using detail::split;

const CgroupHierarchy* CgroupLayout::find(std::string_view controller) const {
  for (const auto& h : hierarchies) {
    if (version == CgroupVersion::kV2 || h.controllers.count(std::string(controller)) != 0) {
      return &h;
    }
  }
  return nullptr;
}

CgroupLayout CgroupLayout::detect() {
  return detect(read_file("/proc/self/cgroup").value_or(""),
                read_file("/proc/self/mountinfo").value_or(""));
}

namespace {

// The controllers we use: memory, cpu and pids for limits; cpuacct for CPU usage on v1 (on v2,
// cpu.stat always has it); freezer to stop processes from forking while we kill them.
const std::set<std::string>& used_controllers() {
  static const std::set<std::string> set = {"memory", "cpu", "cpuacct", "pids", "freezer"};
  return set;
}

// Every v1 controller, to pick them out of a mount's super options ("rw,cpu,cpuacct").
const std::set<std::string>& v1_controller_names() {
  static const std::set<std::string> set = {
      "cpuset",  "cpu",      "cpuacct",    "blkio",   "memory", "devices", "freezer",
      "net_cls", "net_prio", "perf_event", "hugetlb", "pids",   "rdma",    "misc"};
  return set;
}

// mountinfo escapes space, tab, newline and backslash as \040 style octal (proc(5)).
std::string unescape_octal(std::string_view s) {
  const auto octal = [](char c) { return c >= '0' && c <= '7'; };
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && octal(s[i + 1]) && octal(s[i + 2]) && octal(s[i + 3])) {
      out += static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

struct MountLine {
  std::string device;  // "0:29": the same for every mount of one tree
  std::string root;    // which directory of the tree is mounted ("/" for all of it)
  std::string mount_point;
  std::string fstype;
  std::string super_options;
};

// proc(5) /proc/[pid]/mountinfo: "36 35 98:0 /root /mnt opts [optional...] - type src super"
std::vector<MountLine> parse_mountinfo(const std::string& text) {
  std::vector<MountLine> mounts;
  for (const auto& line : split(text, '\n')) {
    const auto f = split(line, ' ');
    size_t sep = 6;  // the optional fields end at "-"
    while (sep < f.size() && f[sep] != "-") ++sep;
    if (sep + 3 >= f.size()) continue;  // not a complete line
    mounts.push_back({f[2], unescape_octal(f[3]), unescape_octal(f[4]), f[sep + 1], f[sep + 3]});
  }
  return mounts;
}

// Our cgroup inside a tree, as a directory: the mount shows the tree from `root` down, so a
// path "/a/b" in the tree is at mount_point + "/b" when root is "/a". Empty when the mount
// does not show our cgroup at all.
std::optional<std::string> own_dir_in(const MountLine& m, const std::string& own_path) {
  if (m.root == "/") return own_path == "/" ? m.mount_point : m.mount_point + own_path;
  if (own_path == m.root) return m.mount_point;
  if (own_path.compare(0, m.root.size() + 1, m.root + "/") == 0) {
    return m.mount_point + own_path.substr(m.root.size());
  }
  return std::nullopt;
}

}  // namespace

CgroupLayout CgroupLayout::detect(const std::string& proc_self_cgroup,
                                  const std::string& mountinfo) {
  // cgroups(7) /proc/[pid]/cgroup: "hierarchy-ID:controller-list:cgroup-path" per tree;
  // the v2 tree is the line "0::/path".
  std::map<std::string, std::string> v1_paths;  // controller -> our cgroup path
  std::optional<std::string> v2_path;
  for (const auto& line : split(proc_self_cgroup, '\n')) {
    const size_t a = line.find(':');
    const size_t b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    const std::string list = line.substr(a + 1, b - a - 1);
    const std::string path = line.substr(b + 1);
    if (line.compare(0, a, "0") == 0 && list.empty()) {
      v2_path = path;
    } else {
      for (const auto& c : split(list, ',')) v1_paths[c] = path;
    }
  }

  CgroupLayout v1{.version = CgroupVersion::kV1, .hierarchies = {}};
  CgroupLayout v2{.version = CgroupVersion::kV2, .hierarchies = {}};
  std::set<std::string> seen_devices;
  bool v1_has_limits = false;
  for (const auto& m : parse_mountinfo(mountinfo)) {
    if (m.fstype == "cgroup") {
      std::set<std::string> controllers;
      for (const auto& opt : split(m.super_options, ',')) {
        if (v1_controller_names().count(opt) != 0) controllers.insert(opt);
      }
      bool used = false;
      std::optional<std::string> path;
      for (const auto& c : controllers) {
        used = used || used_controllers().count(c) != 0;
        if (auto it = v1_paths.find(c); it != v1_paths.end()) path = it->second;
      }
      if (!used || !path || seen_devices.count(m.device) != 0) continue;
      const auto dir = own_dir_in(m, *path);
      if (!dir) continue;
      seen_devices.insert(m.device);
      v1_has_limits = v1_has_limits || controllers.count("memory") != 0 ||
                      controllers.count("cpu") != 0 || controllers.count("pids") != 0;
      v1.hierarchies.push_back({controllers, m.mount_point, *path, *dir});
    } else if (m.fstype == "cgroup2" && v2_path && v2.hierarchies.empty()) {
      if (const auto dir = own_dir_in(m, *v2_path)) {
        v2.hierarchies.push_back({{}, m.mount_point, *v2_path, *dir});
      }
    }
  }
  if (v1_has_limits) return v1;
  if (!v2.hierarchies.empty()) return v2;
  return {};
}

}  // namespace ctr
