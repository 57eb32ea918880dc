// `mycontainer spec [RUN FLAGS]`: prints the config.json that `mycontainer run` with the same
// flags would run (or writes it, with -o FILE). `mycontainer run --config FILE` runs it.
//
//   mycontainer spec -m 64m --userns -- /bin/echo hi
//
// And runc's form, `mycontainer spec --bundle DIR [--rootless]`: the default config.json that
// `runc spec` writes, into DIR (never over one that is there), for `create --bundle DIR`.
#include <fcntl.h>  // open(2)

#include <unistd.h>  // getuid(2), getgid(2)

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include <fmt/format.h>

#include "commands.hpp"
#include "ctr/error.hpp"  // ctr::check, ctr::UsageError
#include "ctr/fd.hpp"     // ctr::UniqueFd
#include "oci.hpp"
#include "options.hpp"

namespace mycontainer {

namespace {

// O_EXCL: never overwrite a config.json that is there already (runc spec refuses too).
void write_new_file(const std::string& output, const std::string& text) {
  const ctr::UniqueFd fd(::open(output.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (!fd) {
    throw ctr::UsageError(fmt::format("cannot write '{}': {} (remove it, or choose another file)",
                                      output, std::strerror(errno)));
  }
  ctr::check(static_cast<int>(::write(fd.get(), text.data(), text.size())), "write", output);
}

// runc 1.1's default (libcontainer/specconv.Example), with two differences: no ambient
// capabilities (mycontainer gives none: a root process does not need them, and they would
// pass the three to any program it runs as another user), and the host name "mycontainer".
nlohmann::json runc_default_spec() {
  const std::vector<std::string> caps = {"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"};
  return {
      {"ociVersion", kOciVersion},
      {"process",
       {{"terminal", true},
        {"user", {{"uid", 0}, {"gid", 0}}},
        {"args", {"sh"}},
        {"env",
         {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"}},
        {"cwd", "/"},
        {"capabilities", {{"bounding", caps}, {"effective", caps}, {"permitted", caps}}},
        {"rlimits", {{{"type", "RLIMIT_NOFILE"}, {"hard", 1024}, {"soft", 1024}}}},
        {"noNewPrivileges", true}}},
      {"root", {{"path", "rootfs"}, {"readonly", true}}},
      {"hostname", "mycontainer"},
      {"mounts",
       {{{"destination", "/proc"}, {"type", "proc"}, {"source", "proc"}},
        {{"destination", "/dev"},
         {"type", "tmpfs"},
         {"source", "tmpfs"},
         {"options", {"nosuid", "strictatime", "mode=755", "size=65536k"}}},
        {{"destination", "/dev/pts"},
         {"type", "devpts"},
         {"source", "devpts"},
         {"options", {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}}},
        {{"destination", "/dev/shm"},
         {"type", "tmpfs"},
         {"source", "shm"},
         {"options", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}}},
        {{"destination", "/dev/mqueue"},
         {"type", "mqueue"},
         {"source", "mqueue"},
         {"options", {"nosuid", "noexec", "nodev"}}},
        {{"destination", "/sys"},
         {"type", "sysfs"},
         {"source", "sysfs"},
         {"options", {"nosuid", "noexec", "nodev", "ro"}}},
        {{"destination", "/sys/fs/cgroup"},
         {"type", "cgroup"},
         {"source", "cgroup"},
         {"options", {"nosuid", "noexec", "nodev", "relatime", "ro"}}}}},
      {"linux",
       {{"namespaces",
         {{{"type", "pid"}},
          {{"type", "network"}},
          {{"type", "ipc"}},
          {{"type", "uts"}},
          {{"type", "mount"}}}},
        {"maskedPaths",
         {"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
          "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
          "/proc/scsi"}},
        {"readonlyPaths",
         {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}}}}};
}

// runc spec --rootless (specconv.ToRootless): a user namespace mapping our own uid and gid to
// root, no network namespace of its own (an unprivileged user could not connect one), /sys
// bound from the host (sysfs needs the network namespace's owner), no cgroup mount, and
// devpts without gid=5 (that group is not mapped).
void make_rootless(nlohmann::json& j) {
  auto& linux = j["linux"];
  auto& ns = linux["namespaces"];
  nlohmann::json kept = nlohmann::json::array();
  for (const auto& n : ns) {
    if (n["type"] != "network") kept.push_back(n);
  }
  kept.push_back({{"type", "user"}});
  ns = kept;
  linux["uidMappings"] = {{{"containerID", 0}, {"hostID", ::getuid()}, {"size", 1}}};
  linux["gidMappings"] = {{{"containerID", 0}, {"hostID", ::getgid()}, {"size", 1}}};
  nlohmann::json mounts = nlohmann::json::array();
  for (auto m : j["mounts"]) {
    if (m["type"] == "cgroup") continue;
    if (m["type"] == "sysfs") {
      m = {{"destination", "/sys"},
           {"type", "none"},
           {"source", "/sys"},
           {"options", {"rbind", "nosuid", "noexec", "nodev", "ro"}}};
    }
    if (m["type"] == "devpts") {
      m["options"] = {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"};
    }
    mounts.push_back(m);
  }
  j["mounts"] = mounts;
}

}  // namespace

int oci_spec(const std::string& bundle, bool rootless) {
  nlohmann::json j = runc_default_spec();
  if (rootless) make_rootless(j);
  spec_from_json(j);  // what we write, we can read: a change above that breaks it fails here
  write_new_file((std::filesystem::path(bundle) / "config.json").string(), j.dump(2) + "\n");
  return 0;
}

int spec(const CLI::App& spec_app, RunOptions& o, const std::string& output) {
  finish_run_options(spec_app, o);
  const Spec spec =
      o.image.empty() ? spec_from_flags(o) : spec_from_image(o, image_for_run(o.image));
  const std::string text = spec_to_json(spec).dump(2) + "\n";
  if (output.empty() || output == "-") {
    fmt::print("{}", text);
    return 0;
  }
  write_new_file(output, text);
  return 0;
}

}  // namespace mycontainer
