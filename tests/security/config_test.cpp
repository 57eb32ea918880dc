// Attacks through a hostile config.json (`mycontainer run --config FILE`, or an engine's bundle for
// `create`): the file may ask for what would reach the host. Each is refused before anything is
// created, and the host is checked to be unchanged.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mycontainer.hpp"
#include "oci_container.hpp"  // OciContainer: an engine's create
#include "support.hpp"

namespace mc::test {
namespace {

namespace fs = std::filesystem;

// The config.json `mycontainer spec` writes for a container running `command`, edited by
// `edit`, then run; returns the run's result.
template <typename Edit>
RunResult run_edited(const std::vector<std::string>& command, Edit edit) {
  const fs::path dir = fs::temp_directory_path() / (unique_name("mc-cfg") + "-bundle");
  fs::create_directories(dir);
  std::vector<std::string> argv{
      bin("mycontainer"), "spec", "--rootfs", rootfs(), "--net", "none", "--"};
  argv.insert(argv.end(), command.begin(), command.end());
  const RunResult spec = run(argv);
  EXPECT_EQ(0, spec.status) << spec.err;
  nlohmann::json config = nlohmann::json::parse(spec.out);
  edit(config);
  std::ofstream(dir / "config.json") << config.dump();
  RunResult r = run({bin("mycontainer"), "run", "--name", unique_name("mc-cfg"), "--config",
                     (dir / "config.json").string()});
  fs::remove_all(dir);
  return r;
}

// kernel.core_pattern is the host's (no namespace has its own): written from a container, it
// would run a program of the attacker's on the host at the next core dump anywhere. Only
// sysctls of the container's own namespaces are allowed (an allow-list, as runc's).
TEST(HostileConfig, AHostSysctlIsRefused) {
  MC_REQUIRE_ROOT();
  const std::string pattern_before = read_file("/proc/sys/kernel/core_pattern");
  for (const char* key : {"kernel.core_pattern", "kernel.modprobe", "vm.overcommit_memory",
                          "net/../kernel/core_pattern", "net.ipv4.../../../kernel/core_pattern"}) {
    const HostSnapshot before = HostSnapshot::take();
    const RunResult r = run_edited(
        {"/bin/true"}, [&](nlohmann::json& c) { c["linux"]["sysctl"][key] = "|/tmp/pwn %p"; });
    EXPECT_EQ("", diff(before, HostSnapshot::take()));
    EXPECT_EQ(125, r.status) << key;
    EXPECT_NE(std::string::npos, r.err.find("linux.sysctl")) << r.err;
    EXPECT_NE(std::string::npos, r.err.find("would change the host")) << r.err;
  }
  EXPECT_EQ(pattern_before, read_file("/proc/sys/kernel/core_pattern"));
}

// A sysctl of the container's own network namespace is fine, and stays there.
TEST(HostileConfig, ANetworkSysctlChangesOnlyTheContainer) {
  MC_REQUIRE_ROOT();
  const std::string host_before = read_file("/proc/sys/net/ipv4/ip_default_ttl");
  const RunResult r =
      run_edited({"/bin/cat", "/proc/sys/net/ipv4/ip_default_ttl"},
                 [](nlohmann::json& c) { c["linux"]["sysctl"]["net.ipv4.ip_default_ttl"] = "33"; });
  EXPECT_EQ(0, r.status) << r.err;
  EXPECT_EQ("33\n", r.out);
  EXPECT_EQ(host_before, read_file("/proc/sys/net/ipv4/ip_default_ttl"));
}

// linux.devices is bound from the host's /dev: a path that climbs out of /dev would bind any
// host file into the container, a device number that does not match the host's node would
// hand over another device than the config names.
TEST(HostileConfig, ADeviceOutsideDevOrOfAnotherNumberIsRefused) {
  MC_REQUIRE_ROOT();
  const std::vector<nlohmann::json> devices = {
      {{"type", "c"}, {"path", "/dev/../etc/shadow"}, {"major", 1}, {"minor", 3}},
      {{"type", "c"}, {"path", "/dev/null"}, {"major", 1}, {"minor", 1}},  // that is /dev/mem
      {{"type", "b"}, {"path", "/dev/null"}, {"major", 1}, {"minor", 3}},
  };
  for (const auto& device : devices) {
    const HostSnapshot before = HostSnapshot::take();
    const RunResult r = run_edited({"/bin/ls", "/dev"}, [&](nlohmann::json& c) {
      c["linux"]["devices"] = nlohmann::json::array({device});
    });
    EXPECT_EQ("", diff(before, HostSnapshot::take()));
    EXPECT_EQ(125, r.status) << device.dump() << r.out;
    EXPECT_NE(std::string::npos, r.err.find("linux.devices[0]")) << r.err;
  }
}

// The same device, asked for correctly, is there.
TEST(HostileConfig, AHostDeviceByItsOwnNameAndNumberIsBound) {
  MC_REQUIRE_ROOT();
  if (!fs::exists("/dev/loop-control")) MC_SKIP_OR_FAIL("no /dev/loop-control on this host");
  // A default device named again (/dev/null) is not made twice.
  const RunResult r =
      run_edited({"/bin/ls", "/dev/loop-control", "/dev/null"}, [](nlohmann::json& c) {
        c["linux"]["devices"] = nlohmann::json::array(
            {{{"type", "c"}, {"path", "/dev/loop-control"}, {"major", 10}, {"minor", 237}},
             {{"type", "c"}, {"path", "/dev/null"}, {"major", 1}, {"minor", 3}}});
      });
  EXPECT_EQ(0, r.status) << r.err;
  EXPECT_EQ("/dev/loop-control\n/dev/null\n", r.out);
}

// A kept upper layer (io.mycontainer.root.upper) is where a container writes, and what `rm`
// deletes: a bundle that could name one could have create write into any host directory.
// Only `run -d IMAGE` names one, its record's (engine.cpp refuse_foreign_upper). An engine's
// bundle naming a host directory is refused, even when it also claims to be from
// mycontainer's monitor (io.mycontainer.monitor, a word anyone can write) and gives image
// layers; so is `run --config`. Nothing is made, the directory is untouched.
TEST(HostileConfig, ABundleNamingAnUpperLayerIsRefused) {
  MC_REQUIRE_ROOT();
  const HostDir victim;
  std::ofstream(victim.path() + "/precious") << "keep\n";
  const auto edit = [&](nlohmann::json& c) {
    c["annotations"]["io.mycontainer.monitor"] = "true";
    c["annotations"]["io.mycontainer.root.layers"] = nlohmann::json({rootfs()}).dump();
    c["annotations"]["io.mycontainer.root.upper"] = victim.path();
  };
  const auto expect_untouched = [&] {
    EXPECT_EQ(read_file(victim.path() + "/precious"), "keep\n");
    EXPECT_FALSE(fs::exists(victim.path() + "/upper"));
    EXPECT_FALSE(fs::exists(victim.path() + "/work"));
  };
  {
    const HostSnapshot before = HostSnapshot::take();
    OciContainer c("mc-upper", edit);
    const RunResult r = c.create();
    EXPECT_EQ(125, r.status) << r.err;
    EXPECT_EQ(lines_of(r.err).size(), 1u) << r.err;
    EXPECT_NE(std::string::npos,
              r.err.find("io.mycontainer.root.upper: only a container of `mycontainer run -d "
                         "IMAGE` keeps its upper layer"))
        << r.err;
    EXPECT_FALSE(fs::exists(fs::path(c.root()) / "containers" / c.id()));
    EXPECT_EQ("", diff(before, HostSnapshot::take()));
    expect_untouched();
  }
  const RunResult r = run_edited({"/bin/touch", "/written"}, edit);
  EXPECT_EQ(125, r.status) << r.err;
  EXPECT_NE(std::string::npos, r.err.find("io.mycontainer.root.upper")) << r.err;
  expect_untouched();
  EXPECT_FALSE(fs::exists(victim.path() + "/upper/written"));
}

}  // namespace
}  // namespace mc::test
