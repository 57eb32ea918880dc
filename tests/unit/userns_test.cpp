// ctr user namespaces: the /etc/subuid parser and the map decision on made-up inputs (no root
// needed), then real user namespaces on this machine: as root with a remapped range, and as
// an unprivileged user (nobody), with the one-line map written by the parent itself or by the
// setuid helper newuidmap.
#include "runtime/userns.hpp"

#include <fcntl.h>      // pipe2(2)
#include <grp.h>        // setgroups(2)
#include <pwd.h>        // getpwuid(3)
#include <sched.h>      // CLONE_NEWUSER
#include <sys/prctl.h>  // prctl(2), PR_SET_DUMPABLE
#include <unistd.h>     // setresuid(2), read(2), write(2)

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "ctr/error.hpp"
#include "ctr/fd.hpp"
#include "ctr/handshake.hpp"
#include "ctr/narrate.hpp"
#include "ctr/process.hpp"
#include "support.hpp"

namespace {

namespace fs = std::filesystem;
using ctr::IdMapMethod;
using ctr::IdMapping;
using ctr::SubIdRange;
using ctr::UsernsFacts;

constexpr uint32_t kNobody = 65534;

// A temporary directory, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "mc-userns-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }
  std::string write(const std::string& name, const std::string& content) const {
    const fs::path p = path_ / name;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << content;
    return p.string();
  }

 private:
  fs::path path_;
};

// ============================== /etc/subuid ==============================

TEST(ParseSubid, FindsTheUsersRangesByNameInFileOrder) {
  const std::string content =
      "alice:100000:65536\n"
      "bob:165536:65536\n"
      "alice:300000:1000\n";
  EXPECT_EQ(ctr::parse_subid(content, "alice", std::nullopt),
            (std::vector<SubIdRange>{{100000, 65536}, {300000, 1000}}));
  EXPECT_EQ(ctr::parse_subid(content, "bob", std::nullopt),
            (std::vector<SubIdRange>{{165536, 65536}}));
  EXPECT_TRUE(ctr::parse_subid(content, "carol", std::nullopt).empty());
}

TEST(ParseSubid, MatchesTheNumericUidForm) {
  const std::string content = "1000:100000:65536\nalice:200000:10\n1001:1:2\n";
  EXPECT_EQ(ctr::parse_subid(content, "alice", 1000u),
            (std::vector<SubIdRange>{{100000, 65536}, {200000, 10}}));
  EXPECT_EQ(ctr::parse_subid(content, "", 1000u), (std::vector<SubIdRange>{{100000, 65536}}));
  // A name that looks like a number is not our uid unless it is.
  EXPECT_TRUE(ctr::parse_subid(content, "nobody", 100u).empty());
}

TEST(ParseSubid, SkipsCommentsBlankAndMalformedLines) {
  const std::string content =
      "# subordinate ids\n"
      "\n"
      "alice\n"
      "alice:100000\n"
      "alice:x:65536\n"
      "alice:100000:-5\n"
      "alice:100000:0\n"           // an empty range
      "alice:4294967290:100\n"     // runs past the last valid id
      "alice:99999999999:1\n"      // does not fit 32 bits
      "  alice : 500000 : 7 \r\n"  // spaces and a DOS line end are tolerated
      "alice:600000:8";            // no final newline
  EXPECT_EQ(ctr::parse_subid(content, "alice", std::nullopt),
            (std::vector<SubIdRange>{{500000, 7}, {600000, 8}}));
}

TEST(ReadSubidFile, ReadsAFileAndTreatsAMissingOneAsEmpty) {
  TempDir dir;
  const auto path = dir.write("subuid", "alice:100000:65536\n");
  EXPECT_EQ(ctr::read_subid_file(path, "alice", std::nullopt),
            (std::vector<SubIdRange>{{100000, 65536}}));
  EXPECT_TRUE(ctr::read_subid_file((dir.path() / "none").string(), "alice", 1u).empty());
}

// ============================== map text ==============================

TEST(IdMapText, FormatsOneLinePerMappingAndParsesTheKernelsColumns) {
  const std::vector<IdMapping> map{{0, 1000, 1}, {1, 100000, 65536}};
  EXPECT_EQ(ctr::format_id_map(map), "0 1000 1\n1 100000 65536\n");
  EXPECT_EQ(ctr::parse_id_map(ctr::format_id_map(map)), map);
  // The kernel pads the columns: "         0          0 4294967295".
  EXPECT_EQ(ctr::parse_id_map("         0          0 4294967295\n"),
            (std::vector<IdMapping>{{0, 0, 4294967295U}}));
  EXPECT_TRUE(ctr::parse_id_map("").empty());
}

// ============================== the decision ==============================

UsernsFacts rootless_facts() {
  UsernsFacts f;
  f.euid = 1000;
  f.egid = 1001;
  f.user = "alice";
  f.have_newuidmap = true;
  f.have_newgidmap = true;
  return f;
}

TEST(PlanIdMaps, RootWithoutUsernsGetsNoUserNamespace) {
  UsernsFacts f;  // euid 0
  const auto plan = ctr::plan_id_maps(f, /*remap=*/false);
  EXPECT_EQ(plan.method, IdMapMethod::kNone);
  EXPECT_TRUE(plan.uid.empty());
  EXPECT_TRUE(plan.gid.empty());
}

TEST(PlanIdMaps, RootRemapUsesTheDocumentedDefaultRange) {
  UsernsFacts f;
  const auto plan = ctr::plan_id_maps(f, /*remap=*/true);
  EXPECT_EQ(plan.method, IdMapMethod::kRootRemap);
  const std::vector<IdMapping> expected{{0, ctr::kDefaultRemapStart, ctr::kRemapCount}};
  EXPECT_EQ(plan.uid, expected);
  EXPECT_EQ(plan.gid, expected);
  EXPECT_FALSE(plan.deny_setgroups);  // root has CAP_SETGID where it writes the map
  EXPECT_NE(plan.why.find("1000000..1065535"), std::string::npos) << plan.why;
  EXPECT_NE(plan.why.find("mycontainer:START:65536"), std::string::npos) << plan.why;
}

TEST(PlanIdMaps, RootRemapTakesTheMycontainerRangeAtMost65536Ids) {
  UsernsFacts f;
  f.subuid = {{200000, 100000}, {900000, 65536}};
  f.subgid = {{300000, 1000}};
  const auto plan = ctr::plan_id_maps(f, true);
  EXPECT_EQ(plan.method, IdMapMethod::kRootRemap);
  EXPECT_EQ(plan.uid, (std::vector<IdMapping>{{0, 200000, 65536}}));
  EXPECT_EQ(plan.gid, (std::vector<IdMapping>{{0, 300000, 1000}}));  // a short range stays short
}

TEST(PlanIdMaps, RootlessWithoutHelpersMapsOnlyItself) {
  auto f = rootless_facts();
  f.subuid = {{100000, 65536}};
  f.subgid = {{100000, 65536}};
  f.have_newgidmap = false;
  const auto plan = ctr::plan_id_maps(f, false);
  EXPECT_EQ(plan.method, IdMapMethod::kSelfOnly);
  EXPECT_EQ(plan.uid, (std::vector<IdMapping>{{0, 1000, 1}}));
  EXPECT_EQ(plan.gid, (std::vector<IdMapping>{{0, 1001, 1}}));
  EXPECT_TRUE(plan.deny_setgroups);  // an unprivileged gid_map needs setgroups denied first
  EXPECT_NE(plan.why.find("apt install uidmap"), std::string::npos) << plan.why;
}

TEST(PlanIdMaps, RootlessWithoutRangesMapsOnlyItselfAndSaysWhy) {
  auto f = rootless_facts();
  f.subuid = {{100000, 65536}};                            // no subgid range
  const auto plan = ctr::plan_id_maps(f, /*remap=*/true);  // --userns changes nothing rootless
  EXPECT_EQ(plan.method, IdMapMethod::kSelfOnly);
  EXPECT_NE(plan.why.find("/etc/subuid or /etc/subgid has no range for 'alice'"), std::string::npos)
      << plan.why;
}

TEST(PlanIdMaps, RootlessWithRangesAndHelpersMapsRootToItselfThenTheRanges) {
  auto f = rootless_facts();
  f.subuid = {{100000, 65536}, {300000, 10}};
  f.subgid = {{200000, 65536}};
  const auto plan = ctr::plan_id_maps(f, false);
  EXPECT_EQ(plan.method, IdMapMethod::kNewIdMap);
  EXPECT_EQ(plan.uid,
            (std::vector<IdMapping>{{0, 1000, 1}, {1, 100000, 65536}, {65537, 300000, 10}}));
  EXPECT_EQ(plan.gid, (std::vector<IdMapping>{{0, 1001, 1}, {1, 200000, 65536}}));
  EXPECT_FALSE(plan.deny_setgroups);
}

TEST(PlanIdMaps, RootlessWithoutAUserNameCannotUseTheHelpers) {
  auto f = rootless_facts();
  f.user.clear();  // a uid without a line in /etc/passwd (a CI runner's, say)
  f.subuid = {{100000, 65536}};
  f.subgid = {{100000, 65536}};
  const auto plan = ctr::plan_id_maps(f, false);
  EXPECT_EQ(plan.method, IdMapMethod::kSelfOnly);
  EXPECT_NE(plan.why.find("no name in /etc/passwd"), std::string::npos) << plan.why;
}

TEST(PlanIdMaps, SkipsARangeThatHoldsTheCallersOwnId) {
  auto f = rootless_facts();
  f.subuid = {{500, 1000}, {100000, 65536}};  // 500..1499 contains uid 1000
  f.subgid = {{100000, 65536}};
  const auto plan = ctr::plan_id_maps(f, false);
  EXPECT_EQ(plan.uid, (std::vector<IdMapping>{{0, 1000, 1}, {1, 100000, 65536}}));
}

TEST(UsernsFactsDetect, ReadsInjectedFilesAndHelpers) {
  TempDir dir;
  const auto subuid = dir.write("subuid", "mycontainer:400000:65536\n");
  const auto subgid = dir.write("subgid", "mycontainer:500000:65536\n");
  const auto missing = (dir.path() / "newuidmap").string();
  const auto f = UsernsFacts::detect(subuid, subgid, missing, "/bin/sh");
  EXPECT_EQ(f.euid, ::geteuid());
  EXPECT_FALSE(f.have_newuidmap);
  EXPECT_TRUE(f.have_newgidmap);
  if (::geteuid() == 0) {  // root looks up the remap user's ranges
    EXPECT_EQ(f.subuid, (std::vector<SubIdRange>{{400000, 65536}}));
    EXPECT_EQ(f.subgid, (std::vector<SubIdRange>{{500000, 65536}}));
  } else {
    EXPECT_TRUE(f.subuid.empty());
  }
}

// ============================== machine checks ==============================

TEST(UnprivilegedUserns, NamesTheSysctlThatBlocksIt) {
  TempDir dir;
  const std::string sys = dir.path().string();
  EXPECT_EQ(ctr::unprivileged_userns_problem(sys), std::nullopt);  // no files: nothing blocks
  dir.write("user/max_user_namespaces", "15000\n");
  dir.write("kernel/unprivileged_userns_clone", "1\n");
  EXPECT_TRUE(ctr::unprivileged_userns_allowed(sys));

  dir.write("kernel/unprivileged_userns_clone", "0\n");
  auto why = ctr::unprivileged_userns_problem(sys);
  ASSERT_TRUE(why.has_value());
  EXPECT_NE(why->find("kernel.unprivileged_userns_clone=1"), std::string::npos) << *why;

  dir.write("kernel/unprivileged_userns_clone", "1\n");
  dir.write("user/max_user_namespaces", "0\n");
  why = ctr::unprivileged_userns_problem(sys);
  ASSERT_TRUE(why.has_value());
  EXPECT_NE(why->find("user.max_user_namespaces"), std::string::npos) << *why;

  dir.write("user/max_user_namespaces", "100\n");
  dir.write("kernel/apparmor_restrict_unprivileged_userns", "1\n");
  why = ctr::unprivileged_userns_problem(sys);
  ASSERT_TRUE(why.has_value());
  EXPECT_NE(why->find("AppArmor"), std::string::npos) << *why;
  EXPECT_FALSE(ctr::unprivileged_userns_allowed(sys));
}

TEST(UserNamespace, RunningRootlessMeansANonZeroEffectiveUid) {
  EXPECT_EQ(ctr::running_rootless(), ::geteuid() != 0);
}

// ============================== real namespaces ==============================

std::string read_all(int fd) {
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)) {
    if (n > 0) out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

void write_str(int fd, const std::string& s) {
  (void)!::write(fd, s.data(), s.size());
}

struct Pipe {
  ctr::UniqueFd read;
  ctr::UniqueFd write;
  Pipe() {
    int fds[2];
    ctr::check(::pipe2(fds, O_CLOEXEC), "pipe2");
    read.reset(fds[0]);
    write.reset(fds[1]);
  }
};

// What a process in the new namespace reports after become_root_in_userns(): one line of
// "ruid euid rgid egid initial?", then its uid_map, gid_map and setgroups, each behind a tag.
std::string report_identity() {
  uid_t ruid, euid, suid;
  gid_t rgid, egid, sgid;
  ::getresuid(&ruid, &euid, &suid);
  ::getresgid(&rgid, &egid, &sgid);
  return fmt::format(
      "ids {} {} {} {} initial={}\nuid_map {}gid_map {}setgroups {}", ruid, euid, rgid, egid,
      ctr::in_initial_user_namespace(), mc::test::read_file("/proc/self/uid_map"),
      mc::test::read_file("/proc/self/gid_map"), mc::test::read_file("/proc/self/setgroups"));
}

// The map that report_identity() put behind tag ("uid_map ").
std::vector<IdMapping> map_in(const std::string& report, const std::string& tag) {
  const auto at = report.find(tag);
  if (at == std::string::npos) return {};
  const auto line = report.substr(at + tag.size());
  return ctr::parse_id_map(line.substr(0, line.find('\n')));
}

// Clones a child into a new user namespace, lets map_it write its maps, and returns what the
// child reports after becoming root there. Runs in the test process or in a forked helper.
template <typename MapIt>
int clone_and_report(int report_fd, MapIt&& map_it) {
  ctr::Handshake handshake;
  auto child = ctr::ChildProcess::clone(CLONE_NEWUSER, [&]() -> int {
    handshake.close_parent_end();
    handshake.wait_for_parent();
    try {
      ctr::become_root_in_userns();
    } catch (const std::exception& e) {
      write_str(report_fd, fmt::format("error {}\n", e.what()));
      return 1;
    }
    write_str(report_fd, report_identity());
    return 0;
  });
  handshake.close_child_end();
  map_it(child.pid());
  handshake.release_child();
  return child.wait().shell_code();
}

TEST(UserNamespace, TheTestProcessIsInTheInitialNamespace) {
  // Here (host, root or not) the identity map; inside a container it would not be.
  const auto map = ctr::parse_id_map(mc::test::read_file("/proc/self/uid_map"));
  const std::vector<IdMapping> identity{{0, 0, 4294967295U}};
  EXPECT_EQ(ctr::in_initial_user_namespace(), map == identity);
}

TEST(UserNamespace, RootRemapsContainerRootToAnUnprivilegedRange) {
  MC_REQUIRE_ROOT();
  std::vector<ctr::Event> events;
  ctr::set_narrator([&](const ctr::Event& e) { events.push_back(e); });
  UsernsFacts facts;  // root, no "mycontainer" ranges: the default range
  const auto plan = ctr::plan_id_maps(facts, /*remap=*/true);
  Pipe report;
  std::string host_status;
  const int code = clone_and_report(report.write.get(), [&](pid_t pid) {
    ctr::apply_id_maps(pid, plan);
    host_status = mc::test::read_file(fmt::format("/proc/{}/uid_map", pid));
  });
  ctr::set_narrator(nullptr);
  report.write.reset();
  const std::string out = read_all(report.read.get());
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("ids 0 0 0 0 initial=false\n"), std::string::npos) << out;
  EXPECT_EQ(ctr::parse_id_map(host_status), plan.uid);
  EXPECT_EQ(map_in(out, "uid_map "), (std::vector<IdMapping>{{0, 1000000, 65536}}));
  EXPECT_EQ(map_in(out, "gid_map "), (std::vector<IdMapping>{{0, 1000000, 65536}}));
  EXPECT_NE(out.find("setgroups allow"), std::string::npos) << out;

  // The narration gives the shell equivalent of each write.
  bool saw_uid_map = false;
  for (const auto& e : events) {
    if (e.shell.find("/uid_map") != std::string::npos) {
      saw_uid_map = true;
      EXPECT_EQ(e.shell.rfind("echo '0 1000000 65536' > /proc/", 0), 0u) << e.shell;
    }
  }
  EXPECT_TRUE(saw_uid_map);
}

// Runs `scenario` in a forked helper as an unprivileged user, the way a user without sudo
// runs mycontainer: as root the helper drops to nobody (uid and gid 65534, no groups); as
// anyone else it stays who it is. Returns the helper's exit code.
template <typename Scenario>
int as_unprivileged(Scenario&& scenario) {
  const bool root = ::geteuid() == 0;
  auto helper = ctr::ChildProcess::clone(0, [&]() -> int {
    if (root) {
      // Groups first, the uid last: once the uid is not 0, we may change nothing else.
      if (::setgroups(0, nullptr) != 0 || ::setresgid(kNobody, kNobody, kNobody) != 0 ||
          ::setresuid(kNobody, kNobody, kNobody) != 0) {
        return 90;
      }
      // Changing credentials made us non-dumpable, and that makes /proc/PID of our children
      // owned by root, so we could not open their uid_map. An exec would reset it; we do not
      // exec, so set it back (prctl(2) PR_SET_DUMPABLE; proc(5) /proc/pid ownership).
      ::prctl(PR_SET_DUMPABLE, 1);
    }
    return scenario();
  });
  return helper.wait().shell_code();
}
// The uid and gid that as_unprivileged() runs as.
uint32_t unprivileged_uid() {
  return ::geteuid() == 0 ? kNobody : ::geteuid();
}
uint32_t unprivileged_gid() {
  return ::geteuid() == 0 ? kNobody : ::getegid();
}

// The same check from the shell: setpriv --reuid=65534 --regid=65534 --clear-groups unshare -U -r
// id
#define SKIP_UNLESS_UNPRIVILEGED_USERNS()                                      \
  do {                                                                         \
    if (auto why_ = ctr::unprivileged_userns_problem()) GTEST_SKIP() << *why_; \
  } while (0)

TEST(UserNamespace, UnprivilegedParentWritesTheOneLineMapItself) {
  SKIP_UNLESS_UNPRIVILEGED_USERNS();  // no root needed: as root, it first becomes nobody
  TempDir dir;                        // no subordinate ranges: the plan must be the self-only map
  const std::string none = (dir.path() / "none").string();
  Pipe report;
  const int code = as_unprivileged([&]() -> int {
    const auto facts = UsernsFacts::detect(none, none);
    const auto plan = ctr::plan_id_maps(facts, false);
    if (plan.method != IdMapMethod::kSelfOnly) return 91;
    try {
      return clone_and_report(report.write.get(),
                              [&](pid_t pid) { ctr::apply_id_maps(pid, plan); });
    } catch (const std::exception& e) {
      write_str(report.write.get(), fmt::format("error {}\n", e.what()));
      return 92;
    }
  });
  report.write.reset();
  const std::string out = read_all(report.read.get());
  ASSERT_EQ(code, 0) << out;
  EXPECT_NE(out.find("ids 0 0 0 0 initial=false\n"), std::string::npos) << out;
  EXPECT_EQ(map_in(out, "uid_map "), (std::vector<IdMapping>{{0, unprivileged_uid(), 1}}));
  EXPECT_EQ(map_in(out, "gid_map "), (std::vector<IdMapping>{{0, unprivileged_gid(), 1}}));
  EXPECT_NE(out.find("setgroups deny"), std::string::npos) << out;
}

TEST(UserNamespace, UnprivilegedParentMayNotMapAnyoneElse) {
  SKIP_UNLESS_UNPRIVILEGED_USERNS();
  Pipe report;
  const int code = as_unprivileged([&]() -> int {
    ctr::Handshake handshake;
    auto child = ctr::ChildProcess::clone(CLONE_NEWUSER, [&]() -> int {
      handshake.close_parent_end();
      handshake.wait_for_parent();
      return 0;
    });
    handshake.close_child_end();
    try {
      ctr::write_id_maps(child.pid(), {{0, 0, 1}}, {{0, 0, 1}}, true);  // host root: refused
      return 93;
    } catch (const ctr::SyscallError& e) {
      write_str(report.write.get(), e.what());
      return e.err() == EPERM ? 0 : 94;
    }
  });
  report.write.reset();
  EXPECT_EQ(code, 0) << read_all(report.read.get());
}

TEST(UserNamespace, UnprivilegedParentMapsItselfThroughNewuidmap) {
  SKIP_UNLESS_UNPRIVILEGED_USERNS();
  if (::access(ctr::kNewUidMapPath, X_OK) != 0 || ::access(ctr::kNewGidMapPath, X_OK) != 0) {
    GTEST_SKIP() << "newuidmap/newgidmap not installed (apt install uidmap)";
  }
  if (::geteuid() != 0 && ::getpwuid(::geteuid()) == nullptr) {
    GTEST_SKIP() << "newuidmap refuses a uid without a name in /etc/passwd";
  }
  // Without a line for nobody in /etc/subuid the helpers still allow a process to map its own
  // id (count 1): enough to run the real setuid helpers without touching /etc/subuid.
  Pipe report;
  const int code = as_unprivileged([&]() -> int {
    try {
      return clone_and_report(report.write.get(), [&](pid_t pid) {
        ctr::newidmap(pid, {{0, unprivileged_uid(), 1}}, {{0, unprivileged_gid(), 1}});
      });
    } catch (const std::exception& e) {
      write_str(report.write.get(), fmt::format("error {}\n", e.what()));
      return 95;
    }
  });
  report.write.reset();
  const std::string out = read_all(report.read.get());
  ASSERT_EQ(code, 0) << out;
  EXPECT_NE(out.find("ids 0 0 0 0 initial=false\n"), std::string::npos) << out;
  EXPECT_EQ(map_in(out, "uid_map "), (std::vector<IdMapping>{{0, unprivileged_uid(), 1}}));
  EXPECT_EQ(map_in(out, "gid_map "), (std::vector<IdMapping>{{0, unprivileged_gid(), 1}}));
  // For a map of the caller's own gid only, newgidmap denies setgroups itself, as the kernel
  // would insist for an unprivileged writer (shadow's newgidmap.c, CVE-2018-7169).
  EXPECT_NE(out.find("setgroups deny"), std::string::npos) << out;
}

TEST(UserNamespace, NewuidmapRefusalComesBackWithTheHelpersMessage) {
  SKIP_UNLESS_UNPRIVILEGED_USERNS();
  if (::access(ctr::kNewUidMapPath, X_OK) != 0) GTEST_SKIP() << "newuidmap not installed";
  Pipe report;
  const int code = as_unprivileged([&]() -> int {
    ctr::Handshake handshake;
    auto child = ctr::ChildProcess::clone(CLONE_NEWUSER, [&]() -> int {
      handshake.close_parent_end();
      handshake.wait_for_parent();
      return 0;
    });
    handshake.close_child_end();
    try {
      // A range nobody was never given.
      ctr::newidmap(child.pid(), {{0, unprivileged_uid(), 1}, {1, 3000000, 65536}},
                    {{0, unprivileged_gid(), 1}});
      return 96;
    } catch (const std::runtime_error& e) {
      write_str(report.write.get(), e.what());
      return 0;
    }
  });
  report.write.reset();
  const std::string out = read_all(report.read.get());
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("newuidmap"), std::string::npos) << out;
  EXPECT_NE(out.find("failed"), std::string::npos) << out;
}

}  // namespace
