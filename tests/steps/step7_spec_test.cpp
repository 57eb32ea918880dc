// Step 7's spec: `mycontainer run FLAGS` and `mycontainer run --config FILE`, where FILE is
// what `mycontainer spec FLAGS` wrote, run the same container. Each case runs a probe in
// both ways and compares what the container sees: namespaces, mounts, capabilities, seccomp
// mode, no_new_privs, limits, host name, user, working directory, environment, devices.
#include <gtest/gtest.h>
#include <unistd.h>  // readlink(2)

#include <filesystem>
#include <functional>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mycontainer.hpp"
#include "support.hpp"

namespace mc::test {
namespace {

namespace fs = std::filesystem;

// What the container sees, one fact a line. Namespace links are printed as they are; the
// test turns each into "host" or "own" (their inode numbers differ from run to run).
constexpr const char* kProbe = R"PROBE(
for ns in cgroup ipc mnt net pid user uts; do echo "ns $ns $(readlink /proc/self/ns/$ns)"; done
awk '{print "mount", $2, $3, $4}' /proc/self/mounts | sort
grep -E '^(Cap|Seccomp|NoNewPrivs)' /proc/self/status | sed 's/^/status /'
echo "hostname $(hostname)"
echo "id $(id)"
echo "cwd $(pwd)"
env | grep -v '^_=' | grep -v '^SHLVL=' | grep -v '^PWD=' | sort | sed 's/^/env /'
echo "nofile $(ulimit -n)"
for f in memory.max memory/memory.limit_in_bytes pids.max pids/pids.max cpu.max \
         cpu/cpu.cfs_quota_us; do
  [ -r /sys/fs/cgroup/$f ] && echo "cgroup $f $(cat /sys/fs/cgroup/$f)"
done
echo "dev $(ls /dev | sort | tr '\n' ' ')"
echo "net $(ls /sys/class/net | sort | tr '\n' ' ')"
)PROBE";

std::string own_namespace(const std::string& ns) {
  char link[256] = {};
  const ssize_t n = ::readlink(("/proc/self/ns/" + ns).c_str(), link, sizeof link - 1);
  return n > 0 ? std::string(link, static_cast<size_t>(n)) : "";
}

// "ns pid pid:[4026531836]" -> "ns pid host" or "ns pid own".
std::string normalised(const std::string& output) {
  std::string result;
  for (const auto& line : lines_of(output)) {
    if (line.rfind("ns ", 0) == 0) {
      const auto space = line.find(' ', 3);
      const std::string ns = line.substr(3, space - 3);
      result += "ns " + ns + (line.substr(space + 1) == own_namespace(ns) ? " host" : " own");
    } else {
      result += line;
    }
    result += "\n";
  }
  return result;
}

class SpecEquivalence : public ::testing::TestWithParam<std::vector<std::string>> {};

TEST_P(SpecEquivalence, FlagsAndTheirConfigRunTheSameContainer) {
  MC_REQUIRE_ROOT();
  const std::vector<std::string> flags = GetParam();
  const std::string name = unique_name("mc-spec");
  const fs::path dir = fs::temp_directory_path() / (name + "-bundle");
  fs::create_directories(dir);
  const fs::path config = dir / "config.json";

  // The same name both times: the host name and the cgroup path derive from it.
  std::vector<std::string> spec_argv{bin("mycontainer"), "spec", "--rootfs", rootfs(),
                                     "--name",           name,   "-o",       config.string()};
  spec_argv.insert(spec_argv.end(), flags.begin(), flags.end());
  spec_argv.insert(spec_argv.end(), {"--", "/bin/sh", "-c", kProbe});
  const RunResult spec = run(spec_argv);
  ASSERT_EQ(0, spec.status) << spec.err;
  ASSERT_TRUE(fs::exists(config));

  std::vector<std::string> options = {"--name", name};
  options.insert(options.end(), flags.begin(), flags.end());
  const RunResult from_flags = run(mycontainer_argv("spec", options, {"/bin/sh", "-c", kProbe}));
  ASSERT_EQ(0, from_flags.status) << from_flags.err;
  const RunResult from_config =
      run({bin("mycontainer"), "run", "--name", name, "--config", config.string()});
  ASSERT_EQ(0, from_config.status) << from_config.err;
  fs::remove_all(dir);

  EXPECT_EQ(normalised(from_flags.out), normalised(from_config.out));
  // And the probe saw something: a container of its own, not an empty output.
  EXPECT_NE(std::string::npos, normalised(from_flags.out).find("ns pid own"));
  EXPECT_NE(std::string::npos, from_flags.out.find("hostname "));
}

INSTANTIATE_TEST_SUITE_P(
    Step7, SpecEquivalence,
    ::testing::Values(std::vector<std::string>{"--net", "none"},
                      std::vector<std::string>{"--net", "none", "--userns"},
                      std::vector<std::string>{"--net", "host", "-m", "64m", "--cpus", "0.5",
                                               "--pids-limit", "20"},
                      std::vector<std::string>{"--net", "none", "-u", "1000:1000", "-w", "/tmp",
                                               "--hostname", "spec-host", "-e", "GREETING=hi",
                                               "--read-only", "--tmpfs", "/scratch", "--ulimit",
                                               "nofile=512:1024"},
                      std::vector<std::string>{"--net", "none", "--cap-drop", "ALL", "--cap-add",
                                               "NET_BIND_SERVICE", "--security-opt",
                                               "no-new-privileges=false"},
                      std::vector<std::string>{"--net", "none", "--seccomp", "unconfined"},
                      std::vector<std::string>{"--net", "none", "--privileged"},
                      std::vector<std::string>{"--net", "none", "-v", "/etc:/hostetc:ro"}));

// A config.json that is wrong is refused before anything is created, with the field named
// and exit code 125; nothing is left on the host.
TEST(SpecFile, AnInvalidConfigIsOneLineNamingTheField) {
  MC_REQUIRE_ROOT();
  const fs::path dir = fs::temp_directory_path() / (unique_name("mc-spec") + "-bad");
  fs::create_directories(dir);
  const fs::path config = dir / "config.json";
  std::ofstream(config) << R"({"ociVersion": "1.0.2-dev", "root": {"path": ")" << rootfs()
                        << R"("}, "process": {"args": ["/bin/true"], "cwd": "/"},
                            "linux": {"resources": {"memory": {"limit": -2}}}})";
  const HostSnapshot before = HostSnapshot::take();
  const RunResult r = run({bin("mycontainer"), "run", "--config", config.string()});
  const HostSnapshot after = HostSnapshot::take();
  fs::remove_all(dir);
  EXPECT_EQ(125, r.status);
  EXPECT_EQ(1u, count_lines(r.err)) << r.err;
  EXPECT_NE(std::string::npos, r.err.find("linux.resources.memory.limit")) << r.err;
  EXPECT_EQ("", diff(before, after));
}

TEST(SpecFile, ConfigAndRunFlagsDoNotMix) {
  MC_REQUIRE_ROOT();
  const RunResult r =
      run({bin("mycontainer"), "run", "--config", "/nonexistent/config.json", "-m", "64m"});
  EXPECT_EQ(125, r.status);
  EXPECT_NE(std::string::npos, r.err.find("cannot be combined with --config")) << r.err;
}

// A bundle of the test's own: the config.json that `mycontainer spec` writes for `flags`,
// edited by the test, next to nothing else (root.path is absolute).
class Bundle {
 public:
  explicit Bundle(const std::vector<std::string>& flags, const std::vector<std::string>& command) {
    fs::create_directories(dir_);
    std::vector<std::string> argv{bin("mycontainer"), "spec",  "--rootfs",
                                  rootfs(),           "--net", "none"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    argv.emplace_back("--");
    argv.insert(argv.end(), command.begin(), command.end());
    const RunResult r = run(argv);
    EXPECT_EQ(0, r.status) << r.err;
    config = nlohmann::json::parse(r.out);
  }
  ~Bundle() { fs::remove_all(dir_); }
  // Writes the config and runs it.
  RunResult run_it() {
    std::ofstream(dir_ / "config.json") << config.dump();
    return run({bin("mycontainer"), "run", "--name", unique_name("mc-spec"), "--config",
                (dir_ / "config.json").string()});
  }
  nlohmann::json config;

 private:
  fs::path dir_ = fs::temp_directory_path() / (unique_name("mc-spec") + "-bundle");
};

// Fields only a config.json can set (no run flag makes them): each one reaches the process.
TEST(SpecFile, UmaskOomScoreAndDomainNameReachTheCommand) {
  MC_REQUIRE_ROOT();
  Bundle b({},
           {"/bin/sh", "-c", "umask; cat /proc/self/oom_score_adj /proc/sys/kernel/domainname"});
  b.config["process"]["user"]["umask"] = 63;  // 0077
  b.config["process"]["oomScoreAdj"] = 500;
  b.config["domainname"] = "spec-domain";
  const RunResult r = b.run_it();
  ASSERT_EQ(0, r.status) << r.err;
  EXPECT_EQ("0077\n500\nspec-domain\n", r.out);
  // The host's domain name is its own still.
  EXPECT_NE("spec-domain\n", read_file("/proc/sys/kernel/domainname"));
}

// What the engine does not do is refused by name, before anything is created.
TEST(SpecFile, WhatTheEngineCannotDoIsRefusedByName) {
  MC_REQUIRE_ROOT();
  const std::vector<std::pair<std::string, std::function<void(nlohmann::json&)>>> cases = {
      {"hooks: mycontainer run does not run OCI hooks",
       [](nlohmann::json& c) {
         c["hooks"]["poststop"] = {{{"path", "/bin/true"}}};
       }},
      // (pid, cgroup, network, ipc and uts can be joined: what a podman pod shares.)
      {"linux.namespaces: joining an existing mount namespace",
       [](nlohmann::json& c) {
         for (auto& ns : c["linux"]["namespaces"]) {
           if (ns["type"] == "mount") ns["path"] = "/proc/1/ns/mnt";
         }
       }},
      {"process.capabilities: inheritable and ambient",
       [](nlohmann::json& c) { c["process"]["capabilities"]["ambient"] = {"CAP_CHOWN"}; }},
      {"linux.resources.cpu: cpus and mems are not applied",
       [](nlohmann::json& c) { c["linux"]["resources"]["cpu"]["cpus"] = "0"; }},
  };
  for (const auto& [message, edit] : cases) {
    Bundle b({}, {"/bin/true"});
    edit(b.config);
    const HostSnapshot before = HostSnapshot::take();
    const RunResult r = b.run_it();
    EXPECT_EQ("", diff(before, HostSnapshot::take()));
    EXPECT_EQ(125, r.status) << message;
    EXPECT_EQ(1u, count_lines(r.err)) << r.err;
    EXPECT_NE(std::string::npos, r.err.find(message)) << r.err;
  }
}

}  // namespace
}  // namespace mc::test
