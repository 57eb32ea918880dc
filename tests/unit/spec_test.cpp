// runtime/spec: reading, validating and writing the OCI config.json. Pure unit tests (no
// root, no containers): a config as runc and podman write it is read field by field, written
// back and read again, and every kind of bad input gives one line naming the field.
#include "runtime/spec.hpp"

#include <sched.h>      // CLONE_NEW*
#include <sys/mount.h>  // MS_*
#include <unistd.h>     // getpid(2)

#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "ctr/ipam.hpp"

namespace {

using mycontainer::DeviceType;
using mycontainer::NamespaceType;
using mycontainer::NetworkMode;
using mycontainer::Propagation;
using mycontainer::SeccompAction;
using mycontainer::SeccompOperator;
using mycontainer::Spec;
using mycontainer::SpecError;
using nlohmann::json;
using Flags = unsigned long;  // mount(2) flags, as Mount keeps them

// `runc spec` (runc 1.1) plus what podman adds to it: a user namespace with mappings, binds
// of /etc/hosts, the cgroup mount, cgroupsPath /libpod_parent/libpod-ID, memory and swap
// limits, a seccomp profile, devices, sysctls, hooks, annotations. And a few fields this
// runtime does not read (apparmorProfile, mountLabel, resources.devices) that it must skip.
const char* const kFullConfig = R"json({
  "ociVersion": "1.0.2-dev",
  "process": {
    "terminal": true,
    "consoleSize": {"height": 24, "width": 80},
    "user": {"uid": 1000, "gid": 1000, "umask": 18, "additionalGids": [10, 1000]},
    "args": ["sh", "-c", "echo hi"],
    "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm",
            "container=podman", "EMPTY="],
    "cwd": "/home/user",
    "capabilities": {
      "bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
      "effective": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
      "inheritable": [],
      "permitted": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
      "ambient": ["CAP_NET_BIND_SERVICE"]
    },
    "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1048576, "soft": 1024},
                {"type": "RLIMIT_NPROC", "hard": 4096, "soft": 4096}],
    "noNewPrivileges": true,
    "oomScoreAdj": -500,
    "apparmorProfile": "containers-default-0.50.1",
    "selinuxLabel": ""
  },
  "root": {"path": "rootfs", "readonly": true},
  "hostname": "web1",
  "domainname": "example.test",
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc",
     "options": ["nosuid", "noexec", "nodev"]},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
     "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
    {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
     "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
    {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
     "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
    {"destination": "/sys", "type": "sysfs", "source": "sysfs",
     "options": ["nosuid", "noexec", "nodev", "ro"]},
    {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
     "options": ["private", "nosuid", "noexec", "nodev", "relatime", "rw"]},
    {"destination": "/etc/hosts", "type": "bind",
     "source": "/var/lib/containers/storage/overlay-containers/abc/userdata/hosts",
     "options": ["bind", "rprivate"]},
    {"destination": "/data", "source": "/srv/data", "options": ["rbind", "ro", "rslave"],
     "uidMappings": []}
  ],
  "hooks": {
    "prestart": [{"path": "/usr/bin/netsetup", "args": ["netsetup", "up"], "env": ["A=1"]}],
    "createRuntime": [{"path": "/usr/libexec/hook", "timeout": 5}],
    "poststop": [{"path": "/usr/bin/cleanup"}]
  },
  "annotations": {
    "io.podman.annotations.autoremove": "TRUE",
    "org.opencontainers.image.stopSignal": "15",
    "io.mycontainer.network": "bridge",
    "io.mycontainer.network.bridge": "br-test",
    "io.mycontainer.network.subnet": "10.88.0.0/16",
    "io.mycontainer.network.address": "10.88.0.7/16",
    "io.mycontainer.network.nat": "true",
    "io.mycontainer.init": "true",
    "io.mycontainer.stop-timeout": "3"
  },
  "linux": {
    "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
    "gidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
    "sysctl": {"net.ipv4.ping_group_range": "0 0"},
    "resources": {
      "devices": [{"allow": false, "access": "rwm"}],
      "memory": {"limit": 536870912, "reservation": 268435456, "swap": 1073741824,
                 "swappiness": 60},
      "cpu": {"shares": 1024, "quota": 50000, "period": 100000, "cpus": "0-1", "mems": "0"},
      "pids": {"limit": 2048}
    },
    "cgroupsPath": "/libpod_parent/libpod-0123456789abcdef",
    "namespaces": [
      {"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"},
      {"type": "mount"}, {"type": "cgroup"}, {"type": "user"},
      {"type": "time", "path": "/proc/4242/ns/time"}
    ],
    "seccomp": {
      "defaultAction": "SCMP_ACT_ERRNO",
      "defaultErrnoRet": 38,
      "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
      "flags": ["SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
      "syscalls": [
        {"names": ["read", "write", "futex_waitv_2099"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 131072, "op": "SCMP_CMP_EQ"}]},
        {"names": ["clone"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
         "args": [{"index": 0, "value": 2114060288, "valueTwo": 2114060288,
                   "op": "SCMP_CMP_MASKED_EQ"}]}
      ]
    },
    "devices": [
      {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 438,
       "uid": 0, "gid": 0},
      {"path": "/dev/loop0", "type": "b", "major": 7, "minor": 0},
      {"path": "/dev/myfifo", "type": "p"}
    ],
    "maskedPaths": ["/proc/acpi", "/proc/kcore", "/proc/keys", "/sys/firmware"],
    "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
    "rootfsPropagation": "rslave",
    "mountLabel": "system_u:object_r:container_file_t:s0"
  },
  "someFutureField": {"nested": [1, 2, 3]}
})json";

// The least a config needs.
json minimal() {
  return json::parse(R"({"ociVersion": "1.2.0", "root": {"path": "rootfs"},
                         "process": {"args": ["sh"]}})");
}

json full() {
  return json::parse(kFullConfig);
}

// The message of the SpecError that reading `doc` throws; "" when it reads fine.
std::string error_of(const json& doc) {
  try {
    mycontainer::spec_from_json(doc);
  } catch (const SpecError& e) {
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << "not one line: " << e.what();
    return e.what();
  }
  return "";
}

// The error after setting the value at a JSON pointer ("/linux/resources/memory/limit").
std::string error_with(json doc, const std::string& pointer, json value) {
  doc[json::json_pointer(pointer)] = std::move(value);
  return error_of(doc);
}

std::string error_without(json doc, const std::string& pointer) {
  const json::json_pointer at(pointer);
  doc.at(at.parent_pointer()).erase(at.back());
  return error_of(doc);
}

// ============================== every field ==============================

TEST(SpecRead, ProcessFields) {
  const Spec spec = mycontainer::spec_from_json(full());
  EXPECT_EQ(spec.oci_version, "1.0.2-dev");
  const auto& p = spec.process;
  EXPECT_TRUE(p.terminal);
  ASSERT_TRUE(p.console_size);
  EXPECT_EQ(p.console_size->height, 24u);
  EXPECT_EQ(p.console_size->width, 80u);
  EXPECT_EQ(p.user.uid, 1000u);
  EXPECT_EQ(p.user.gid, 1000u);
  EXPECT_EQ(p.user.umask, std::optional<mode_t>(022));
  EXPECT_EQ(p.user.additional_gids, (std::vector<gid_t>{10, 1000}));
  EXPECT_EQ(p.args, (std::vector<std::string>{"sh", "-c", "echo hi"}));
  ASSERT_EQ(p.env.size(), 4u);
  EXPECT_EQ(p.env[1], "TERM=xterm");
  EXPECT_EQ(p.env[3], "EMPTY=");
  EXPECT_EQ(p.cwd, "/home/user");
  ASSERT_TRUE(p.capabilities);
  const ctr::CapabilitySet three{CAP_AUDIT_WRITE, CAP_KILL, CAP_NET_BIND_SERVICE};
  EXPECT_EQ(p.capabilities->bounding, three);
  EXPECT_EQ(p.capabilities->effective, three);
  EXPECT_EQ(p.capabilities->permitted, three);
  EXPECT_TRUE(p.capabilities->inheritable.empty());
  EXPECT_EQ(p.capabilities->ambient, ctr::CapabilitySet{CAP_NET_BIND_SERVICE});
  ASSERT_EQ(p.rlimits.size(), 2u);
  EXPECT_EQ(p.rlimits[0].resource, RLIMIT_NOFILE);
  EXPECT_EQ(p.rlimits[0].hard, 1048576u);
  EXPECT_EQ(p.rlimits[0].soft, 1024u);
  EXPECT_EQ(p.rlimits[1].resource, RLIMIT_NPROC);
  EXPECT_TRUE(p.no_new_privileges);
  EXPECT_EQ(p.oom_score_adj, std::optional<int>(-500));
}

TEST(SpecRead, RootHostnameMounts) {
  const Spec spec = mycontainer::spec_from_json(full());
  EXPECT_EQ(spec.root.path, "rootfs");
  EXPECT_TRUE(spec.root.readonly);
  EXPECT_EQ(spec.hostname, "web1");
  EXPECT_EQ(spec.domainname, "example.test");
  ASSERT_EQ(spec.mounts.size(), 8u);

  const auto& proc = spec.mounts[0];
  EXPECT_EQ(proc.destination, "/proc");
  EXPECT_EQ(proc.type, "proc");
  EXPECT_EQ(proc.source, "proc");
  EXPECT_EQ(proc.flags, Flags{MS_NOSUID | MS_NOEXEC | MS_NODEV});
  EXPECT_EQ(proc.data, "");
  EXPECT_FALSE(proc.is_bind());

  const auto& dev = spec.mounts[1];
  EXPECT_EQ(dev.flags, Flags{MS_NOSUID | MS_STRICTATIME});
  EXPECT_EQ(dev.data, "mode=755,size=65536k");
  EXPECT_EQ(dev.options,
            (std::vector<std::string>{"nosuid", "strictatime", "mode=755", "size=65536k"}));

  EXPECT_EQ(spec.mounts[2].data, "newinstance,ptmxmode=0666,mode=0620,gid=5");
  EXPECT_EQ(spec.mounts[4].flags, Flags{MS_NOSUID | MS_NOEXEC | MS_NODEV | MS_RDONLY});

  const auto& cgroup = spec.mounts[5];
  EXPECT_EQ(cgroup.destination, "/sys/fs/cgroup");
  EXPECT_EQ(cgroup.flags, Flags{MS_NOSUID | MS_NOEXEC | MS_NODEV | MS_RELATIME});
  EXPECT_EQ(cgroup.clear_flags, Flags{MS_RDONLY});
  EXPECT_EQ(cgroup.propagation, Propagation::kPrivate);

  const auto& hosts = spec.mounts[6];
  EXPECT_TRUE(hosts.is_bind());
  EXPECT_EQ(hosts.flags, Flags{MS_BIND});
  EXPECT_EQ(hosts.propagation, Propagation::kRprivate);

  const auto& data = spec.mounts[7];
  EXPECT_EQ(data.type, "");
  EXPECT_TRUE(data.is_bind());
  EXPECT_EQ(data.flags, Flags{MS_BIND | MS_REC | MS_RDONLY});
  EXPECT_EQ(data.propagation, Propagation::kRslave);
}

TEST(SpecRead, LinuxFields) {
  const Spec spec = mycontainer::spec_from_json(full());
  const auto& linux = spec.linux;
  ASSERT_EQ(linux.namespaces.size(), 8u);
  EXPECT_EQ(linux.namespaces[0].type, NamespaceType::kPid);
  EXPECT_FALSE(linux.namespaces[0].path);
  EXPECT_TRUE(linux.has_namespace(NamespaceType::kUser));
  ASSERT_NE(linux.find_namespace(NamespaceType::kTime), nullptr);
  EXPECT_EQ(linux.find_namespace(NamespaceType::kTime)->path,
            std::optional<std::string>("/proc/4242/ns/time"));
  EXPECT_EQ(
      linux.uid_mappings,
      (std::vector<mycontainer::IdMapping>{{.container_id = 0, .host_id = 100000, .size = 65536}}));
  EXPECT_EQ(linux.gid_mappings, linux.uid_mappings);

  ASSERT_TRUE(linux.resources);
  ASSERT_TRUE(linux.resources->memory);
  EXPECT_EQ(linux.resources->memory->limit, std::optional<int64_t>(536870912));
  EXPECT_EQ(linux.resources->memory->reservation, std::optional<int64_t>(268435456));
  EXPECT_EQ(linux.resources->memory->swap, std::optional<int64_t>(1073741824));
  ASSERT_TRUE(linux.resources->cpu);
  EXPECT_EQ(linux.resources->cpu->shares, std::optional<uint64_t>(1024));
  EXPECT_EQ(linux.resources->cpu->quota, std::optional<int64_t>(50000));
  EXPECT_EQ(linux.resources->cpu->period, std::optional<uint64_t>(100000));
  EXPECT_EQ(linux.resources->cpu->cpus, std::optional<std::string>("0-1"));
  EXPECT_EQ(linux.resources->cpu->mems, std::optional<std::string>("0"));
  ASSERT_TRUE(linux.resources->pids);
  EXPECT_EQ(linux.resources->pids->limit, 2048);
  EXPECT_EQ(linux.cgroups_path, "/libpod_parent/libpod-0123456789abcdef");

  EXPECT_EQ(linux.masked_paths.size(), 4u);
  EXPECT_EQ(linux.readonly_paths.back(), "/proc/sysrq-trigger");
  EXPECT_EQ(linux.sysctl.at("net.ipv4.ping_group_range"), "0 0");
  EXPECT_EQ(linux.rootfs_propagation, Propagation::kRslave);

  ASSERT_EQ(linux.devices.size(), 3u);
  EXPECT_EQ(linux.devices[0].type, DeviceType::kChar);
  EXPECT_EQ(linux.devices[0].path, "/dev/fuse");
  EXPECT_EQ(linux.devices[0].major, 10);
  EXPECT_EQ(linux.devices[0].minor, 229);
  EXPECT_EQ(linux.devices[0].file_mode, std::optional<mode_t>(0666));
  EXPECT_EQ(linux.devices[0].uid, std::optional<uid_t>(0));
  EXPECT_EQ(linux.devices[1].type, DeviceType::kBlock);
  EXPECT_FALSE(linux.devices[1].file_mode);
  EXPECT_EQ(linux.devices[2].type, DeviceType::kFifo);
}

TEST(SpecRead, Seccomp) {
  const Spec spec = mycontainer::spec_from_json(full());
  ASSERT_TRUE(spec.linux.seccomp);
  const auto& s = *spec.linux.seccomp;
  EXPECT_EQ(s.default_action, SeccompAction::kErrno);
  EXPECT_EQ(s.default_errno_ret, std::optional<unsigned>(38));
  EXPECT_EQ(s.architectures,
            (std::vector<std::string>{"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"}));
  EXPECT_EQ(s.flags, std::vector<std::string>{"SECCOMP_FILTER_FLAG_SPEC_ALLOW"});
  ASSERT_EQ(s.syscalls.size(), 3u);
  // A name no kernel has yet is kept: the filter compiler skips it, as runc does.
  EXPECT_EQ(s.syscalls[0].names.back(), "futex_waitv_2099");
  EXPECT_EQ(s.syscalls[0].action, SeccompAction::kAllow);
  EXPECT_FALSE(s.syscalls[0].errno_ret);
  ASSERT_EQ(s.syscalls[1].args.size(), 1u);
  EXPECT_EQ(s.syscalls[1].args[0].index, 0u);
  EXPECT_EQ(s.syscalls[1].args[0].value, 131072u);
  EXPECT_EQ(s.syscalls[1].args[0].value_two, 0u);
  EXPECT_EQ(s.syscalls[1].args[0].op, SeccompOperator::kEqualTo);
  EXPECT_EQ(s.syscalls[2].errno_ret, std::optional<unsigned>(1));
  EXPECT_EQ(s.syscalls[2].args[0].op, SeccompOperator::kMaskedEqual);
  EXPECT_EQ(s.syscalls[2].args[0].value_two, 2114060288u);
}

TEST(SpecRead, Hooks) {
  const Spec spec = mycontainer::spec_from_json(full());
  ASSERT_EQ(spec.hooks.prestart.size(), 1u);
  EXPECT_EQ(spec.hooks.prestart[0].path, "/usr/bin/netsetup");
  EXPECT_EQ(spec.hooks.prestart[0].args, (std::vector<std::string>{"netsetup", "up"}));
  EXPECT_EQ(spec.hooks.prestart[0].env, std::vector<std::string>{"A=1"});
  EXPECT_FALSE(spec.hooks.prestart[0].timeout);
  ASSERT_EQ(spec.hooks.create_runtime.size(), 1u);
  EXPECT_EQ(spec.hooks.create_runtime[0].timeout, std::optional<int>(5));
  EXPECT_TRUE(spec.hooks.create_container.empty());
  EXPECT_TRUE(spec.hooks.start_container.empty());
  EXPECT_TRUE(spec.hooks.poststart.empty());
  EXPECT_EQ(spec.hooks.poststop.size(), 1u);
}

TEST(SpecRead, MycontainerAnnotationsBecomeTypedFields) {
  const Spec spec = mycontainer::spec_from_json(full());
  EXPECT_EQ(spec.network.mode, NetworkMode::kBridge);
  EXPECT_EQ(spec.network.bridge, "br-test");
  EXPECT_EQ(spec.network.subnet, (ctr::Ipv4Cidr{ctr::ipv4(10, 88, 0, 0), 16}));
  EXPECT_EQ(spec.network.address, (ctr::Ipv4Cidr{ctr::ipv4(10, 88, 0, 7), 16}));
  EXPECT_TRUE(spec.network.nat);
  EXPECT_TRUE(spec.init);
  EXPECT_EQ(spec.stop_timeout, 3);
  // What stays in the map: everything but the keys that became typed fields.
  EXPECT_EQ(spec.annotations,
            (std::map<std::string, std::string>{{"io.podman.annotations.autoremove", "TRUE"},
                                                {"org.opencontainers.image.stopSignal", "15"}}));
}

TEST(SpecRead, MinimalConfigGetsTheDefaults) {
  const Spec spec = mycontainer::spec_from_json(minimal());
  EXPECT_EQ(spec.process.cwd, "/");
  EXPECT_FALSE(spec.process.terminal);
  EXPECT_EQ(spec.process.user.uid, 0u);
  EXPECT_FALSE(spec.process.capabilities);
  EXPECT_TRUE(spec.mounts.empty());
  EXPECT_TRUE(spec.linux.namespaces.empty());
  EXPECT_FALSE(spec.linux.resources);
  EXPECT_FALSE(spec.linux.seccomp);
  EXPECT_EQ(spec.linux.rootfs_propagation, Propagation::kNone);
  // No network namespace and no annotation: the host's network.
  EXPECT_EQ(spec.network.mode, NetworkMode::kHost);
  EXPECT_EQ(spec.network.bridge, "ctr0");
  EXPECT_EQ(spec.network.subnet, ctr::kDefaultSubnet);
  EXPECT_FALSE(spec.network.nat);
  EXPECT_FALSE(spec.init);
  EXPECT_EQ(spec.stop_timeout, 10);
}

TEST(SpecRead, NullMeansAbsent) {
  json doc = minimal();
  doc["hostname"] = nullptr;
  doc["process"]["cwd"] = nullptr;
  doc["linux"] = nullptr;
  const Spec spec = mycontainer::spec_from_json(doc);
  EXPECT_EQ(spec.hostname, "");
  EXPECT_EQ(spec.process.cwd, "/");
}

TEST(SpecRead, UnknownFieldsAreIgnored) {
  json doc = minimal();
  doc["vm"] = {{"hypervisor", {{"path", "/usr/bin/qemu"}}}};
  doc["process"]["commandLine"] = "sh";
  doc["process"]["user"] = {{"uid", 0}, {"gid", 0}, {"username", "root"}};
  doc["root"]["future"] = true;
  doc["linux"] = {{"intelRdt", {{"closID", "x"}}},
                  {"personality", {{"domain", "LINUX"}}},
                  {"namespaces", {{{"type", "pid"}, {"future", 1}}}}};
  EXPECT_EQ(error_of(doc), "");
}

TEST(SpecRead, OciVersions) {
  for (const char* good :
       {"1.0.0", "1.0.1", "1.0.2-dev", "1.1.0", "1.1.0-rc.1", "1.2.0", "1.3.0"}) {
    EXPECT_EQ(error_with(minimal(), "/ociVersion", good), "") << good;
  }
  EXPECT_EQ(error_with(minimal(), "/ociVersion", "2.0.0"),
            "ociVersion: '2.0.0' is not a 1.x version");
  EXPECT_EQ(error_with(minimal(), "/ociVersion", "0.9"), "ociVersion: '0.9' is not a 1.x version");
  EXPECT_EQ(error_with(minimal(), "/ociVersion", "0.6.0"),
            "ociVersion: '0.6.0' is not a 1.x version");
  EXPECT_EQ(error_with(minimal(), "/ociVersion", "1.x"), "ociVersion: '1.x' is not a 1.x version");
  EXPECT_EQ(error_with(minimal(), "/ociVersion", 1), "ociVersion: expected a string, got 1");
  EXPECT_EQ(error_without(minimal(), "/ociVersion"), "ociVersion: missing");
}

// ============================== round trip ==============================

TEST(SpecWrite, RoundTripsTheFullConfig) {
  const Spec spec = mycontainer::spec_from_json(full());
  const json written = mycontainer::spec_to_json(spec);
  EXPECT_EQ(mycontainer::spec_from_json(written), spec) << written.dump(2);
  // And writing is stable: the second write is the first.
  EXPECT_EQ(mycontainer::spec_to_json(mycontainer::spec_from_json(written)), written);
}

TEST(SpecWrite, RoundTripsTheMinimalConfig) {
  const Spec spec = mycontainer::spec_from_json(minimal());
  EXPECT_EQ(mycontainer::spec_from_json(mycontainer::spec_to_json(spec)), spec);
}

TEST(SpecWrite, WritesOciNames) {
  const json j = mycontainer::spec_to_json(mycontainer::spec_from_json(full()));
  EXPECT_EQ(j["ociVersion"], "1.0.2-dev");
  EXPECT_EQ(j["process"]["consoleSize"], json::parse(R"({"height": 24, "width": 80})"));
  EXPECT_EQ(j["process"]["user"]["additionalGids"], json::parse("[10, 1000]"));
  EXPECT_EQ(j["process"]["noNewPrivileges"], true);
  EXPECT_EQ(j["process"]["oomScoreAdj"], -500);
  EXPECT_EQ(j["process"]["rlimits"][0],
            json::parse(R"({"type": "RLIMIT_NOFILE", "hard": 1048576, "soft": 1024})"));
  EXPECT_EQ(j["process"]["capabilities"]["bounding"],
            json::parse(R"(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"])"));
  EXPECT_EQ(j["mounts"][1]["options"],
            json::parse(R"(["nosuid", "strictatime", "mode=755", "size=65536k"])"));
  EXPECT_EQ(j["linux"]["namespaces"][7],
            json::parse(R"({"type": "time", "path": "/proc/4242/ns/time"})"));
  EXPECT_EQ(j["linux"]["uidMappings"][0],
            json::parse(R"({"containerID": 0, "hostID": 100000, "size": 65536})"));
  EXPECT_EQ(j["linux"]["resources"]["memory"]["swap"], 1073741824);
  EXPECT_EQ(j["linux"]["resources"]["pids"]["limit"], 2048);
  EXPECT_EQ(j["linux"]["cgroupsPath"], "/libpod_parent/libpod-0123456789abcdef");
  EXPECT_EQ(j["linux"]["seccomp"]["syscalls"][2]["args"][0]["op"], "SCMP_CMP_MASKED_EQ");
  EXPECT_EQ(j["linux"]["devices"][2], json::parse(R"({"type": "p", "path": "/dev/myfifo"})"));
  EXPECT_EQ(j["linux"]["rootfsPropagation"], "rslave");
  EXPECT_EQ(j["hooks"]["createRuntime"][0],
            json::parse(R"({"path": "/usr/libexec/hook", "timeout": 5})"));
  EXPECT_FALSE(j["hooks"].contains("poststart"));
  EXPECT_EQ(j["annotations"]["io.mycontainer.network.address"], "10.88.0.7/16");
  EXPECT_EQ(j["annotations"]["io.mycontainer.stop-timeout"], "3");
  EXPECT_EQ(j["annotations"]["io.podman.annotations.autoremove"], "TRUE");
}

TEST(SpecWrite, OmitsWhatIsUnset) {
  const json j = mycontainer::spec_to_json(mycontainer::spec_from_json(minimal()));
  for (const char* absent : {"hostname", "domainname", "mounts", "hooks"}) {
    EXPECT_FALSE(j.contains(absent)) << absent << " in " << j.dump();
  }
  for (const char* absent : {"consoleSize", "env", "capabilities", "rlimits", "oomScoreAdj"}) {
    EXPECT_FALSE(j["process"].contains(absent)) << absent;
  }
  for (const char* absent : {"uidMappings", "resources", "cgroupsPath", "seccomp", "devices",
                             "sysctl", "maskedPaths", "rootfsPropagation"}) {
    EXPECT_FALSE(j["linux"].contains(absent)) << absent;
  }
  // Host network, the defaults: only the mode is written.
  EXPECT_EQ(j["annotations"], json::parse(R"({"io.mycontainer.network": "host"})"));
}

TEST(SpecWrite, SpecBuiltInCodeRoundTrips) {
  Spec spec;
  spec.root.path = "/var/lib/mycontainer/c1/rootfs";
  spec.process.args = {"/bin/sh"};
  spec.process.capabilities.emplace().bounding = {CAP_CHOWN};
  spec.hostname = "c1";
  for (auto type : {NamespaceType::kUts, NamespaceType::kNetwork, NamespaceType::kMount}) {
    spec.linux.namespaces.push_back({.type = type, .path = std::nullopt});
  }
  spec.mounts = {mycontainer::make_mount("/tmp", "tmpfs", "tmpfs", {"nosuid", "mode=1777"})};
  spec.network.mode = NetworkMode::kBridge;
  spec.network.nat = true;
  spec.network.ports = {ctr::parse_port_mapping("8080:80"),
                        ctr::parse_port_mapping("127.0.0.1:5353:53/udp")};
  spec.stop_timeout = 0;
  spec.annotations = {{"com.example.owner", "me"}};
  const json j = mycontainer::spec_to_json(spec);
  EXPECT_EQ(j["annotations"]["io.mycontainer.network.ports"], "8080:80/tcp,127.0.0.1:5353:53/udp");
  EXPECT_EQ(j["annotations"]["io.mycontainer.network.bridge"], "ctr0");
  EXPECT_EQ(j["annotations"]["io.mycontainer.network.subnet"], "10.47.0.0/24");
  EXPECT_EQ(j["annotations"]["io.mycontainer.stop-timeout"], "0");
  EXPECT_EQ(mycontainer::spec_from_json(j), spec) << j.dump(2);
}

// ============================== mounts ==============================

TEST(SpecMounts, OptionsAreFlagsPropagationOrData) {
  auto m = mycontainer::make_mount("/x", "tmpfs", "tmpfs",
                                   {"ro", "nosuid", "nodev", "noexec", "sync", "dirsync", "mand",
                                    "noatime", "nodiratime", "uid=1000", "shared"});
  EXPECT_EQ(m.flags, Flags{MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_SYNCHRONOUS |
                           MS_DIRSYNC | MS_MANDLOCK | MS_NOATIME | MS_NODIRATIME});
  EXPECT_EQ(m.clear_flags, 0u);
  EXPECT_EQ(m.propagation, Propagation::kShared);
  EXPECT_EQ(m.data, "uid=1000");
  EXPECT_FALSE(m.is_bind());

  // The "clearing" names undo their flag and say so in clear_flags.
  m = mycontainer::make_mount("/x", "bind", "/src",
                              {"ro", "rw", "suid", "dev", "exec", "async", "atime", "diratime",
                               "nomand", "norelatime", "nostrictatime", "symfollow", "defaults"});
  EXPECT_EQ(m.flags, 0u);
  EXPECT_EQ(m.clear_flags,
            Flags{MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_SYNCHRONOUS | MS_NOATIME |
                  MS_NODIRATIME | MS_MANDLOCK | MS_RELATIME | MS_STRICTATIME | MS_NOSYMFOLLOW});
  EXPECT_EQ(m.data, "");
  EXPECT_TRUE(m.is_bind());  // by its type

  // The last word wins: "rw" then "ro" is read-only, with nothing left to clear.
  m = mycontainer::make_mount(
      "/x", "", "/src",
      {"rw", "ro", "rbind", "unbindable", "runbindable", "remount", "relatime", "strictatime"});
  EXPECT_EQ(m.flags,
            Flags{MS_RDONLY | MS_BIND | MS_REC | MS_REMOUNT | MS_RELATIME | MS_STRICTATIME});
  EXPECT_EQ(m.clear_flags, 0u);
  EXPECT_EQ(m.propagation, Propagation::kRunbindable);
  EXPECT_TRUE(m.is_bind());  // by its option

  for (const auto& [option, propagation] :
       std::vector<std::pair<std::string, Propagation>>{{"private", Propagation::kPrivate},
                                                        {"rprivate", Propagation::kRprivate},
                                                        {"rshared", Propagation::kRshared},
                                                        {"slave", Propagation::kSlave},
                                                        {"rslave", Propagation::kRslave},
                                                        {"unbindable", Propagation::kUnbindable}}) {
    EXPECT_EQ(mycontainer::make_mount("/x", "bind", "/s", {option}).propagation, propagation)
        << option;
  }
}

TEST(SpecMounts, IdmappedMountsAreRefused) {
  try {
    mycontainer::make_mount("/data", "bind", "/src", {"bind", "idmap"});
    ADD_FAILURE() << "no SpecError";
  } catch (const SpecError& e) {
    EXPECT_STREQ(
        e.what(),
        "mount /data: option 'idmap' is not supported (idmapped mounts are not implemented)");
  }
  EXPECT_EQ(
      error_with(full(), "/mounts/6/options/1", "ridmap"),
      "mounts[6].options[1]: 'ridmap' is not supported (idmapped mounts are not implemented)");
}

TEST(SpecMounts, BindMountsTakeOnlyFlags) {
  // mount(2) ignores the data of a bind: "rro" would leave /data writable without a word.
  EXPECT_EQ(error_with(full(), "/mounts/7/options/1", "rro"),
            "mounts[7].options[1]: 'rro' is not a mount flag, and a bind mount takes no other "
            "options");
  EXPECT_EQ(error_with(full(), "/mounts/6/options/0", "uid=1000"),
            "mounts[6].options[0]: 'uid=1000' is not a mount flag, and a bind mount takes no other "
            "options");
  // The same option is data for a file system.
  EXPECT_EQ(mycontainer::make_mount("/x", "tmpfs", "tmpfs", {"rro"}).data, "rro");
  EXPECT_EQ(mycontainer::make_mount("/x", "bind", "/s", {"nosymfollow"}).flags,
            Flags{MS_NOSYMFOLLOW});
}

// ==================== bad input: one line naming the field ====================

TEST(SpecErrors, Types) {
  EXPECT_EQ(error_with(minimal(), "/process/terminal", "yes"),
            "process.terminal: expected a boolean, got \"yes\"");
  EXPECT_EQ(error_with(minimal(), "/process/args", "sh"),
            "process.args: expected an array, got \"sh\"");
  EXPECT_EQ(error_with(minimal(), "/process/args/0", 7),
            "process.args[0]: expected a string, got 7");
  EXPECT_EQ(error_with(minimal(), "/process", json::array()),
            "process: expected an object, got []");
  EXPECT_EQ(error_with(minimal(), "/process/user", {{"uid", "0"}, {"gid", 0}}),
            "process.user.uid: expected an integer, got \"0\"");
  EXPECT_EQ(error_with(minimal(), "/process/user", {{"uid", 1.5}, {"gid", 0}}),
            "process.user.uid: expected an integer, got 1.5");
  EXPECT_EQ(error_with(minimal(), "/process/user", {{"uid", -1}, {"gid", 0}}),
            "process.user.uid: -1 is out of range (0 to 4294967295)");
  EXPECT_EQ(error_with(minimal(), "/process/user", {{"uid", 4294967296}, {"gid", 0}}),
            "process.user.uid: 4294967296 is out of range (0 to 4294967295)");
  EXPECT_EQ(error_with(minimal(), "/linux/sysctl", {{"net.ipv4.ip_forward", 1}}),
            "linux.sysctl[\"net.ipv4.ip_forward\"]: expected a string, got 1");
  EXPECT_EQ(error_of(json::array()), "expected a JSON object, got array");
  // A hostile value cannot make the message two lines.
  EXPECT_EQ(error_with(minimal(), "/process/cwd", "tmp\nroot: fine"),
            "process.cwd: 'tmp\\x0aroot: fine' is not an absolute path");
  EXPECT_EQ(error_with(minimal(), "/annotations", {{"a\nb", 1}}),
            "annotations[\"a\\nb\"]: expected a string, got 1");
  EXPECT_EQ(error_with(minimal(), "/process/terminal", "a\nb"),
            "process.terminal: expected a boolean, got \"a\\nb\"");
}

TEST(SpecErrors, ProcessAndRoot) {
  EXPECT_EQ(error_with(minimal(), "/process/args", json::array()),
            "process.args: must have at least one element");
  EXPECT_EQ(error_without(minimal(), "/process/args"),
            "process.args: must have at least one element");
  EXPECT_EQ(error_without(minimal(), "/process"), "process: missing");
  EXPECT_EQ(error_without(minimal(), "/root/path"), "root.path: missing");
  EXPECT_EQ(error_without(minimal(), "/root"), "root: missing");
  EXPECT_EQ(error_with(minimal(), "/root/path", ""), "root.path: must not be empty");
  EXPECT_EQ(error_with(minimal(), "/process/cwd", "tmp"),
            "process.cwd: 'tmp' is not an absolute path");
  EXPECT_EQ(error_with(minimal(), "/process/env", json::array({"PATH=/bin", "oops"})),
            "process.env[1]: 'oops' is not KEY=VALUE");
  EXPECT_EQ(error_with(minimal(), "/process/env", json::array({"=x"})),
            "process.env[0]: '=x' is not KEY=VALUE");
  EXPECT_EQ(error_with(minimal(), "/process/capabilities",
                       {{"bounding", json::array({"CAP_KILL", "CAP_FLY"})}}),
            "process.capabilities.bounding[1]: unknown capability 'CAP_FLY': see capabilities(7)");
  EXPECT_EQ(
      error_with(minimal(), "/process/rlimits",
                 json::parse(R"([{"type": "RLIMIT_FOO", "hard": 1, "soft": 1}])")),
      "process.rlimits[0].type: 'RLIMIT_FOO' is not a resource limit (RLIMIT_AS, RLIMIT_CORE, "
      "RLIMIT_CPU, RLIMIT_DATA, RLIMIT_FSIZE, RLIMIT_LOCKS, RLIMIT_MEMLOCK, RLIMIT_MSGQUEUE, "
      "RLIMIT_NICE, RLIMIT_NOFILE, RLIMIT_NPROC, RLIMIT_RSS, RLIMIT_RTPRIO, RLIMIT_RTTIME, "
      "RLIMIT_SIGPENDING, RLIMIT_STACK)");
  EXPECT_EQ(error_with(minimal(), "/process/rlimits",
                       json::parse(R"([{"type": "RLIMIT_NOFILE", "hard": 10, "soft": 20}])")),
            "process.rlimits[0]: soft limit 20 is above the hard limit 10");
  EXPECT_EQ(error_with(minimal(), "/process/rlimits",
                       json::parse(R"([{"type": "RLIMIT_NOFILE", "soft": 2}])")),
            "process.rlimits[0].hard: missing");
  EXPECT_EQ(error_with(minimal(), "/process/oomScoreAdj", 1001),
            "process.oomScoreAdj: 1001 is out of range (-1000 to 1000)");
  EXPECT_EQ(error_with(minimal(), "/process/user", {{"uid", 0}, {"gid", 0}, {"umask", 01000}}),
            "process.user.umask: 512 is out of range (0 to 511)");
  EXPECT_EQ(error_with(minimal(), "/process/consoleSize", {{"height", 24}}),
            "process.consoleSize.width: missing");
}

TEST(SpecErrors, Namespaces) {
  EXPECT_EQ(
      error_with(full(), "/linux/namespaces/2/type", "pidd"),
      "linux.namespaces[2].type: 'pidd' is not a namespace type (pid, network, mount, ipc, uts, "
      "user, cgroup, time)");
  EXPECT_EQ(error_with(full(), "/linux/namespaces/3", {{"type", "pid"}}),
            "linux.namespaces[3]: a second 'pid' namespace");
  EXPECT_EQ(error_with(full(), "/linux/namespaces/3", {{"type", "uts"}, {"path", "proc/1/ns/uts"}}),
            "linux.namespaces[3].path: 'proc/1/ns/uts' is not an absolute path");
  EXPECT_EQ(error_with(full(), "/linux/namespaces/0", {{"path", "/proc/1/ns/pid"}}),
            "linux.namespaces[0].type: missing");
  // An empty path is no path (Go's omitempty writes none; some tools write "").
  EXPECT_EQ(error_with(full(), "/linux/namespaces/0", {{"type", "pid"}, {"path", ""}}), "");
}

TEST(SpecErrors, UserNamespaceMappings) {
  json doc = full();
  doc["linux"]["namespaces"].erase(6);  // the user namespace
  EXPECT_EQ(doc["linux"]["namespaces"].size(), 7u);
  EXPECT_EQ(error_of(doc),
            "linux.uidMappings: given, but linux.namespaces has no 'user' namespace");
  doc["linux"].erase("uidMappings");
  EXPECT_EQ(error_of(doc),
            "linux.gidMappings: given, but linux.namespaces has no 'user' namespace");
  doc["linux"]["gidMappings"] = json::array();
  EXPECT_EQ(error_of(doc), "");
  EXPECT_EQ(error_with(full(), "/linux/uidMappings/0/size", 0),
            "linux.uidMappings[0].size: 0 maps no ids (the size must be at least 1)");
  EXPECT_EQ(error_without(full(), "/linux/gidMappings/0/hostID"),
            "linux.gidMappings[0].hostID: missing");
}

TEST(SpecErrors, Resources) {
  EXPECT_EQ(error_with(full(), "/linux/resources/memory/limit", -2),
            "linux.resources.memory.limit: -2 is not a size (bytes, or -1 for unlimited)");
  EXPECT_EQ(error_with(full(), "/linux/resources/memory/limit", -1), "");  // unlimited
  EXPECT_EQ(error_with(full(), "/linux/resources/memory/swap", -5),
            "linux.resources.memory.swap: -5 is not a size (bytes, or -1 for unlimited)");
  EXPECT_EQ(error_with(full(), "/linux/resources/memory/limit", "512m"),
            "linux.resources.memory.limit: expected an integer, got \"512m\"");
  EXPECT_EQ(error_with(full(), "/linux/resources/cpu/quota", -7),
            "linux.resources.cpu.quota: -7 is not a quota (microseconds, or -1 for unlimited)");
  EXPECT_EQ(error_with(full(), "/linux/resources/cpu/cpus", "0-a"),
            "linux.resources.cpu.cpus: '0-a' is not a list of numbers like 0-3,8 (cpuset(7))");
  EXPECT_EQ(error_with(full(), "/linux/resources/cpu/cpus", "0-3,8,10-11"), "");
  EXPECT_EQ(error_with(full(), "/linux/resources/cpu/shares", -1),
            "linux.resources.cpu.shares: -1 is out of range (0 to 18446744073709551615)");
  EXPECT_EQ(error_with(full(), "/linux/resources/pids", json::object()),
            "linux.resources.pids.limit: missing");
  EXPECT_EQ(error_with(full(), "/linux/resources/pids/limit", -3),
            "linux.resources.pids.limit: -3 is not a number of processes (or -1 for unlimited)");
}

TEST(SpecErrors, Seccomp) {
  EXPECT_EQ(
      error_with(full(), "/linux/seccomp/defaultAction", "SCMP_ACT_EXPLODE"),
      "linux.seccomp.defaultAction: 'SCMP_ACT_EXPLODE' is not a seccomp action (SCMP_ACT_KILL, "
      "SCMP_ACT_KILL_PROCESS, SCMP_ACT_KILL_THREAD, SCMP_ACT_TRAP, SCMP_ACT_ERRNO, "
      "SCMP_ACT_TRACE, SCMP_ACT_ALLOW, SCMP_ACT_LOG, SCMP_ACT_NOTIFY)");
  EXPECT_EQ(error_without(full(), "/linux/seccomp/defaultAction"),
            "linux.seccomp.defaultAction: missing");
  EXPECT_EQ(error_with(full(), "/linux/seccomp/syscalls/1/action", "allow"),
            "linux.seccomp.syscalls[1].action: 'allow' is not a seccomp action (SCMP_ACT_KILL, "
            "SCMP_ACT_KILL_PROCESS, SCMP_ACT_KILL_THREAD, SCMP_ACT_TRAP, SCMP_ACT_ERRNO, "
            "SCMP_ACT_TRACE, SCMP_ACT_ALLOW, SCMP_ACT_LOG, SCMP_ACT_NOTIFY)");
  EXPECT_EQ(error_with(full(), "/linux/seccomp/syscalls/2/args/0/op", "SCMP_CMP_ALMOST"),
            "linux.seccomp.syscalls[2].args[0].op: 'SCMP_CMP_ALMOST' is not a seccomp operator "
            "(SCMP_CMP_NE, SCMP_CMP_LT, SCMP_CMP_LE, SCMP_CMP_EQ, SCMP_CMP_GE, SCMP_CMP_GT, "
            "SCMP_CMP_MASKED_EQ)");
  EXPECT_EQ(error_with(full(), "/linux/seccomp/syscalls/2/args/0/index", 6),
            "linux.seccomp.syscalls[2].args[0].index: 6 is out of range (0 to 5)");
  EXPECT_EQ(error_with(full(), "/linux/seccomp/syscalls/0/names", json::array()),
            "linux.seccomp.syscalls[0].names: must have at least one element");
  EXPECT_EQ(
      error_with(full(), "/linux/seccomp/architectures/1", "SCMP_ARCH_Z80"),
      "linux.seccomp.architectures[1]: 'SCMP_ARCH_Z80' is not an architecture libseccomp knows "
      "(like SCMP_ARCH_X86_64)");
  EXPECT_EQ(error_with(full(), "/linux/seccomp/architectures/1", "SCMP_ARCH_AARCH64"), "");
  EXPECT_EQ(error_with(full(), "/linux/seccomp/flags/0", "SECCOMP_FILTER_FLAG_FAST"),
            "linux.seccomp.flags[0]: 'SECCOMP_FILTER_FLAG_FAST' is not a seccomp filter flag (see "
            "seccomp(2))");
}

TEST(SpecErrors, DevicesMountsHooks) {
  EXPECT_EQ(error_with(full(), "/linux/devices/0/type", "x"),
            "linux.devices[0].type: 'x' is not a device type (c, u, b, p)");
  EXPECT_EQ(error_with(full(), "/linux/devices/0/type", "u"), "");
  EXPECT_EQ(error_with(full(), "/linux/devices/0/path", "dev/fuse"),
            "linux.devices[0].path: 'dev/fuse' is not an absolute path");
  EXPECT_EQ(error_without(full(), "/linux/devices/1/minor"), "linux.devices[1].minor: missing");
  EXPECT_EQ(error_with(full(), "/linux/devices/1/major", 4096),
            "linux.devices[1].major: 4096 is out of range (0 to 4095)");
  EXPECT_EQ(error_with(full(), "/mounts/0/destination", "proc"),
            "mounts[0].destination: 'proc' is not an absolute path");
  EXPECT_EQ(error_without(full(), "/mounts/0/destination"), "mounts[0].destination: missing");
  EXPECT_EQ(error_without(full(), "/mounts/6/source"),
            "mounts[6].source: missing (a bind mount needs one)");
  EXPECT_EQ(error_with(full(), "/hooks/prestart/0/path", "netsetup"),
            "hooks.prestart[0].path: 'netsetup' is not an absolute path");
  EXPECT_EQ(error_with(full(), "/hooks/createRuntime/0/timeout", 0),
            "hooks.createRuntime[0].timeout: 0 is not a timeout (seconds, at least 1)");
  EXPECT_EQ(error_with(full(), "/hooks/poststop/0/timeout", -3),
            "hooks.poststop[0].timeout: -3 is not a timeout (seconds, at least 1)");
  EXPECT_EQ(error_with(full(), "/linux/rootfsPropagation", "sideways"),
            "linux.rootfsPropagation: 'sideways' is not a propagation (private, rprivate, shared, "
            "rshared, slave, rslave, unbindable, runbindable)");
  EXPECT_EQ(error_with(full(), "/linux/maskedPaths/0", "proc/kcore"),
            "linux.maskedPaths[0]: 'proc/kcore' is not an absolute path");
}

TEST(SpecErrors, Hostname) {
  EXPECT_EQ(error_with(full(), "/hostname", std::string(65, 'h')),
            "hostname: '" + std::string(65, 'h') + "' is longer than 64 characters");
  EXPECT_EQ(error_with(minimal(), "/hostname", "c1"),
            "hostname: set, but linux.namespaces has no 'uts' namespace");
  EXPECT_EQ(error_with(minimal(), "/domainname", "example.test"),
            "domainname: set, but linux.namespaces has no 'uts' namespace");
  EXPECT_EQ(error_with(minimal(), "/hostname", ""), "");  // empty: leave the name alone
}

// ============================== annotations ==============================

json with_annotations(json doc, const json& annotations) {
  doc["annotations"] = annotations;
  return doc;
}

json with_netns(json doc) {
  doc["linux"]["namespaces"] = json::parse(R"([{"type": "network"}])");
  return doc;
}

TEST(SpecAnnotations, NetworkModeFollowsTheNamespacesWhenAbsent) {
  EXPECT_EQ(mycontainer::spec_from_json(minimal()).network.mode, NetworkMode::kHost);
  EXPECT_EQ(mycontainer::spec_from_json(with_netns(minimal())).network.mode, NetworkMode::kNone);
}

TEST(SpecAnnotations, NetworkModeMustAgreeWithTheNamespaces) {
  const json none = with_annotations(with_netns(minimal()), {{"io.mycontainer.network", "none"}});
  EXPECT_EQ(mycontainer::spec_from_json(none).network.mode, NetworkMode::kNone);
  EXPECT_EQ(error_of(with_annotations(minimal(), {{"io.mycontainer.network", "bridge"}})),
            "annotations[\"io.mycontainer.network\"]: 'bridge' needs a 'network' namespace in "
            "linux.namespaces");
  EXPECT_EQ(error_of(with_annotations(with_netns(minimal()), {{"io.mycontainer.network", "host"}})),
            "annotations[\"io.mycontainer.network\"]: 'host', but linux.namespaces has a network "
            "namespace");
  EXPECT_EQ(
      error_of(with_annotations(with_netns(minimal()), {{"io.mycontainer.network", "slirp"}})),
      "annotations[\"io.mycontainer.network\"]: 'slirp' is not a network mode (none, host, "
      "bridge)");
}

TEST(SpecAnnotations, BadValuesNameTheAnnotation) {
  const json bridged =
      with_annotations(with_netns(minimal()), {{"io.mycontainer.network", "bridge"}});
  auto error = [&](const char* key, const char* value) {
    json doc = bridged;
    doc["annotations"][key] = value;
    return error_of(doc);
  };
  EXPECT_EQ(
      error("io.mycontainer.network.bridge", "a-very-long-bridge"),
      "annotations[\"io.mycontainer.network.bridge\"]: bridge name 'a-very-long-bridge' is too "
      "long: at most 15 characters (IFNAMSIZ)");
  EXPECT_EQ(error("io.mycontainer.network.bridge", "br/0"),
            "annotations[\"io.mycontainer.network.bridge\"]: bridge name 'br/0' contains '/': not "
            "allowed in interface names");
  EXPECT_EQ(
      error("io.mycontainer.network.bridge", "br 0"),
      "annotations[\"io.mycontainer.network.bridge\"]: bridge name 'br 0' contains whitespace: "
      "not allowed in interface names");
  EXPECT_EQ(error("io.mycontainer.network.bridge", ""),
            "annotations[\"io.mycontainer.network.bridge\"]: bridge name is empty");
  EXPECT_EQ(
      error("io.mycontainer.network.subnet", "10.0.0.300/24"),
      "annotations[\"io.mycontainer.network.subnet\"]: invalid subnet '10.0.0.300/24': expected "
      "A.B.C.D/N");
  EXPECT_NE(
      error("io.mycontainer.network.subnet", "10.47.0.5/24").find("did you mean 10.47.0.0/24?"),
      std::string::npos);
  EXPECT_EQ(
      error("io.mycontainer.network.address", "10.48.0.5/24"),
      "annotations[\"io.mycontainer.network.address\"]: address 10.48.0.5 is outside the subnet "
      "10.47.0.0/24");
  EXPECT_EQ(error("io.mycontainer.network.address", "10.47.0.5/24"), "");
  EXPECT_EQ(
      error("io.mycontainer.network.address", "10.47.0.5"),
      "annotations[\"io.mycontainer.network.address\"]: invalid address '10.47.0.5': expected "
      "A.B.C.D/N");
  EXPECT_EQ(error("io.mycontainer.network.nat", "yes"),
            "annotations[\"io.mycontainer.network.nat\"]: 'yes' is not true or false");
  EXPECT_EQ(error("io.mycontainer.init", "1"),
            "annotations[\"io.mycontainer.init\"]: '1' is not true or false");
  EXPECT_EQ(
      error("io.mycontainer.stop-timeout", "-1"),
      "annotations[\"io.mycontainer.stop-timeout\"]: '-1' is not a number of seconds (0 or more)");
  EXPECT_EQ(
      error("io.mycontainer.stop-timeout", "10s"),
      "annotations[\"io.mycontainer.stop-timeout\"]: '10s' is not a number of seconds (0 or more)");
  EXPECT_EQ(error("io.mycontainer.stop-timeout", "0"), "");
  json doc = bridged;
  doc["annotations"]["com.example"] = 5;
  EXPECT_EQ(error_of(doc), "annotations[\"com.example\"]: expected a string, got 5");
}

TEST(SpecAnnotations, TheAddressMustFitTheGivenSubnet) {
  json doc = with_annotations(with_netns(minimal()),
                              {{"io.mycontainer.network", "bridge"},
                               {"io.mycontainer.network.subnet", "192.168.50.0/24"},
                               {"io.mycontainer.network.address", "192.168.50.9/24"}});
  const Spec spec = mycontainer::spec_from_json(doc);
  EXPECT_EQ(spec.network.address->to_string(), "192.168.50.9/24");
  EXPECT_EQ(spec.network.subnet.to_string(), "192.168.50.0/24");
  EXPECT_TRUE(spec.annotations.empty());
}

TEST(SpecAnnotations, OtherMycontainerKeysStayInTheMap) {
  const json doc = with_annotations(minimal(), {{"io.mycontainer.image", "busybox"}});
  const Spec spec = mycontainer::spec_from_json(doc);
  EXPECT_EQ(spec.annotations,
            (std::map<std::string, std::string>{{"io.mycontainer.image", "busybox"}}));
  EXPECT_EQ(mycontainer::spec_from_json(mycontainer::spec_to_json(spec)), spec);
}

// ============================== read_spec ==============================

class ReadSpec : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("mc-spec-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::filesystem::path write(const std::string& text) {
    auto file = dir_ / "config.json";
    std::ofstream(file) << text;
    return file;
  }

  std::string error_of_file(const std::filesystem::path& file) {
    try {
      mycontainer::read_spec(file);
    } catch (const SpecError& e) {
      return e.what();
    }
    return "";
  }

  std::filesystem::path dir_;
};

TEST_F(ReadSpec, ReadsAFile) {
  const Spec spec = mycontainer::read_spec(write(kFullConfig));
  EXPECT_EQ(spec, mycontainer::spec_from_json(full()));
}

TEST_F(ReadSpec, MissingFileSaysWhatToDo) {
  const auto file = dir_ / "nope" / "config.json";
  EXPECT_EQ(error_of_file(file),
            file.string() +
                ": cannot read it: No such file or directory (is this a bundle? "
                "`mycontainer spec` writes a config.json)");
  EXPECT_EQ(error_of_file(dir_), dir_.string() +
                                     ": is a directory, not a config.json (is this a "
                                     "bundle? `mycontainer spec` writes a config.json)");
}

TEST_F(ReadSpec, NotJson) {
  const auto file = write("{\"ociVersion\": \"1.0.0\",\n  oops }");
  const std::string error = error_of_file(file);
  EXPECT_EQ(error.rfind(file.string() + ": not JSON: parse error at line 2, column ", 0), 0u)
      << error;
  EXPECT_NE(error.find("(is this a bundle?"), std::string::npos) << error;
  EXPECT_EQ(error.find('\n'), std::string::npos) << error;
}

TEST_F(ReadSpec, FieldErrorsNameTheFileToo) {
  json doc = minimal();
  doc["process"]["args"] = json::array();
  const auto file = write(doc.dump());
  EXPECT_EQ(error_of_file(file), file.string() + ": process.args: must have at least one element");
}

// ============================== names ==============================

TEST(SpecNames, NamespaceTypes) {
  EXPECT_EQ(mycontainer::to_string(NamespaceType::kPid), "pid");
  EXPECT_EQ(mycontainer::to_string(NamespaceType::kNetwork), "network");
  EXPECT_EQ(mycontainer::to_string(NamespaceType::kTime), "time");
  EXPECT_EQ(mycontainer::clone_flag(NamespaceType::kPid), CLONE_NEWPID);
  EXPECT_EQ(mycontainer::clone_flag(NamespaceType::kNetwork), CLONE_NEWNET);
  EXPECT_EQ(mycontainer::clone_flag(NamespaceType::kMount), CLONE_NEWNS);
  EXPECT_EQ(mycontainer::clone_flag(NamespaceType::kIpc), CLONE_NEWIPC);
  EXPECT_EQ(mycontainer::clone_flag(NamespaceType::kUts), CLONE_NEWUTS);
  EXPECT_EQ(mycontainer::clone_flag(NamespaceType::kUser), CLONE_NEWUSER);
  EXPECT_EQ(mycontainer::clone_flag(NamespaceType::kCgroup), CLONE_NEWCGROUP);
  EXPECT_EQ(mycontainer::clone_flag(NamespaceType::kTime), 0x80);
}

TEST(SpecNames, NetworkModes) {
  EXPECT_EQ(mycontainer::to_string(NetworkMode::kNone), "none");
  EXPECT_EQ(mycontainer::to_string(NetworkMode::kHost), "host");
  EXPECT_EQ(mycontainer::to_string(NetworkMode::kBridge), "bridge");
}

}  // namespace
