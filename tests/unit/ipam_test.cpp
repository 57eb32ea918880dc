// Unit tests of ctr/ipv4.hpp and ctr/ipam.hpp: CIDR parsing and arithmetic, address validation, and
// lease allocation against a temporary state directory. No root needed.
#include "ctr/dirlock.hpp"  // ctr::pid_alive, ctr::DirLock
#include "ctr/ipam.hpp"

#include <gtest/gtest.h>

#include <sys/wait.h>  // waitpid(2)
#include <unistd.h>    // fork(2), pipe2(2), _exit(2)

#include <fcntl.h>  // O_CLOEXEC

#include <cstdlib>     // mkdtemp
#include <filesystem>  // std::filesystem
#include <fstream>     // std::ofstream
#include <mutex>       // std::mutex
#include <set>         // std::set
#include <string>
#include <thread>  // std::thread
#include <vector>

#include "ctr/error.hpp"  // UsageError
#include "ctr/fd.hpp"     // UniqueFd
#include "support.hpp"    // mc::test::usage_error

namespace {

namespace fs = std::filesystem;
using ctr::Ipam;
using ctr::ipv4;
using ctr::Ipv4Cidr;
using ctr::Lease;
using ctr::UsageError;
using mc::test::usage_error;

// A fresh directory under /tmp, removed with everything in it at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "mct-ipam-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// The pid of a process that has exited and been reaped: nobody has it (until the kernel
// hands the number out again, which takes a full wrap of pid_max).
pid_t dead_pid() {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(0);
  ::waitpid(pid, nullptr, 0);
  return pid;
}

// The lease files in dir (not the allocator's hint, ".next").
std::set<std::string> files_in(const fs::path& dir) {
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (!name.starts_with('.')) names.insert(name);
  }
  return names;
}

std::string read_all(const fs::path& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

const Ipv4Cidr kSubnet{ipv4(10, 47, 0, 0), 24};

// --- Parsing ----------------------------------------------------------------------------

TEST(Cidr, ParsesWellFormedValues) {
  EXPECT_EQ(ctr::parse_cidr("10.47.0.0/24"), (Ipv4Cidr{0x0A2F0000, 24}));
  EXPECT_EQ(ctr::parse_cidr("10.47.0.5/24"), (Ipv4Cidr{ipv4(10, 47, 0, 5), 24}));
  EXPECT_EQ(ctr::parse_cidr("0.0.0.0/0"), (Ipv4Cidr{0, 0}));
  EXPECT_EQ(ctr::parse_cidr("255.255.255.255/32"), (Ipv4Cidr{0xFFFFFFFF, 32}));
  EXPECT_EQ(ctr::parse_ipv4("192.168.1.10"), ipv4(192, 168, 1, 10));
  EXPECT_EQ(ctr::parse_ipv4("0.0.0.0"), 0u);
}

TEST(Cidr, RefusesMalformedValuesWithAClearMessage) {
  EXPECT_EQ(usage_error([] { ctr::parse_cidr("10.0.0.300/24"); }),
            "invalid subnet '10.0.0.300/24': expected A.B.C.D/N");
  for (const char* bad :
       {"", "10.0.0/24", "10.0.0.0", "10.0.0.0/", "/24", "10.0.0.0/24x", "a.b.c.d/8", "010.0.0.0/8",
        " 10.0.0.0/8", "10.0.0.0/-1", "10..0.0/8", "10.0.0.0.0/8", "1000.0.0.0/8", "10.0.0.0/024",
        "10.0.0.0/8/8", "10.0.0.0 /8", "+10.0.0.0/8", "10.0.0.256/8"}) {
    EXPECT_EQ(usage_error([&] { ctr::parse_cidr(bad); }),
              "invalid subnet '" + std::string(bad) + "': expected A.B.C.D/N")
        << bad;
  }
  EXPECT_EQ(usage_error([] { ctr::parse_cidr("10.0.0.0/33"); }),
            "invalid subnet '10.0.0.0/33': the prefix length N must be 0 to 32");
  EXPECT_EQ(usage_error([] { ctr::parse_cidr("10.47.0.5", "address"); }),
            "invalid address '10.47.0.5': expected A.B.C.D/N");
  for (const char* bad : {"", "1.2.3", "1.2.3.4.5", "1.2.3.256", "01.2.3.4", "1.2.3.4/8", "x"}) {
    EXPECT_EQ(usage_error([&] { ctr::parse_ipv4(bad); }),
              "invalid address '" + std::string(bad) + "': expected A.B.C.D")
        << bad;
  }
}

TEST(Cidr, ParseSubnetWantsANetworkAddressAndRoomForHosts) {
  EXPECT_EQ(ctr::parse_subnet("10.47.0.0/24"), kSubnet);
  EXPECT_EQ(ctr::parse_subnet("10.47.0.0/30").prefix, 30);
  EXPECT_EQ(usage_error([] { ctr::parse_subnet("10.47.0.5/24"); }),
            "invalid subnet '10.47.0.5/24': host bits are set (did you mean 10.47.0.0/24?)");
  EXPECT_NE(usage_error([] { ctr::parse_subnet("10.47.0.0/31"); }).find("is too small"),
            std::string::npos);
  EXPECT_NE(usage_error([] { ctr::parse_subnet("0.0.0.0/4"); }).find("is too large"),
            std::string::npos);
  EXPECT_EQ(usage_error([] { ctr::parse_subnet("10.0.0.300/24"); }),
            "invalid subnet '10.0.0.300/24': expected A.B.C.D/N");
  // Ranges that are not one host's to give (RFC 6890).
  EXPECT_EQ(usage_error([] { ctr::parse_subnet("127.0.0.0/24"); }),
            "subnet 127.0.0.0/24 is in the host's loopback addresses (127.0.0.0/8): choose a "
            "private range, e.g. 10.48.0.0/24 (RFC 1918)");
  for (const char* special : {"0.0.0.0/24", "127.10.0.0/16", "224.0.0.0/24", "240.0.0.0/8"}) {
    EXPECT_NE(usage_error([&] { ctr::parse_subnet(special); }).find("choose a private range"),
              std::string::npos)
        << special;
  }
  EXPECT_EQ(ctr::parse_subnet("128.0.0.0/24").prefix, 24);  // next to 127/8: fine
}

TEST(Cidr, FormatsBackToText) {
  EXPECT_EQ(ctr::format_ipv4(ipv4(10, 47, 0, 1)), "10.47.0.1");
  EXPECT_EQ(ctr::format_ipv4(0xFFFFFFFF), "255.255.255.255");
  EXPECT_EQ((Ipv4Cidr{ipv4(10, 47, 0, 2), 24}).to_string(), "10.47.0.2/24");
  for (const char* text : {"0.0.0.0/0", "10.47.0.0/24", "172.16.5.4/12", "255.255.255.255/32"})
    EXPECT_EQ(ctr::parse_cidr(text).to_string(), text);
}

// --- Arithmetic -------------------------------------------------------------------------

TEST(Cidr, Arithmetic) {
  static_assert(ipv4(10, 47, 0, 1) == 0x0A2F0001);
  static_assert(ctr::kDefaultSubnet.netmask() == 0xFFFFFF00);
  static_assert(ctr::gateway_of(ctr::kDefaultSubnet).addr == ipv4(10, 47, 0, 1));

  const Ipv4Cidr a{ipv4(10, 47, 0, 77), 24};
  EXPECT_EQ(a.network(), ipv4(10, 47, 0, 0));
  EXPECT_EQ(a.broadcast(), ipv4(10, 47, 0, 255));
  EXPECT_EQ(a.size(), 256u);
  EXPECT_EQ(a.host(2), ipv4(10, 47, 0, 2));
  EXPECT_EQ(a.subnet(), kSubnet);
  EXPECT_TRUE(a.contains(ipv4(10, 47, 0, 0)));
  EXPECT_TRUE(a.contains(ipv4(10, 47, 0, 255)));
  EXPECT_FALSE(a.contains(ipv4(10, 47, 1, 0)));
  EXPECT_FALSE(a.contains(ipv4(10, 46, 255, 255)));

  const Ipv4Cidr all{0, 0};
  EXPECT_EQ(all.netmask(), 0u);
  EXPECT_EQ(all.broadcast(), 0xFFFFFFFFu);
  EXPECT_EQ(all.size(), uint64_t{1} << 32);
  EXPECT_TRUE(all.contains(ipv4(8, 8, 8, 8)));

  const Ipv4Cidr one{ipv4(10, 1, 2, 3), 32};
  EXPECT_EQ(one.network(), one.addr);
  EXPECT_EQ(one.broadcast(), one.addr);
  EXPECT_EQ(one.size(), 1u);

  const Ipv4Cidr wide{ipv4(172, 16, 200, 9), 12};
  EXPECT_EQ(ctr::format_ipv4(wide.network()), "172.16.0.0");
  EXPECT_EQ(ctr::format_ipv4(wide.broadcast()), "172.31.255.255");
  EXPECT_EQ(ctr::format_ipv4(wide.host(256)), "172.16.1.0");
}

TEST(Cidr, DefaultsAreDocumentedValues) {
  EXPECT_EQ(ctr::kDefaultSubnet.to_string(), "10.47.0.0/24");
  EXPECT_EQ(ctr::gateway_of(ctr::kDefaultSubnet).to_string(), "10.47.0.1/24");
}

// --- Validation of --ip -----------------------------------------------------------------

TEST(ContainerAddress, RefusesAddressesNoContainerMayHave) {
  auto why = [](const char* ip) {
    return usage_error([&] { ctr::validate_container_address(ctr::parse_cidr(ip), kSubnet); });
  };
  EXPECT_EQ(why("10.47.0.2/24"), "");
  EXPECT_EQ(why("10.47.0.254/24"), "");
  EXPECT_EQ(why("10.48.0.5/24"), "address 10.48.0.5 is outside the subnet 10.47.0.0/24");
  EXPECT_EQ(why("10.47.0.0/24"),
            "address 10.47.0.0 is the network address of 10.47.0.0/24, not a host");
  EXPECT_EQ(why("10.47.0.255/24"),
            "address 10.47.0.255 is the broadcast address of 10.47.0.0/24, not a host");
  EXPECT_EQ(why("10.47.0.1/24"),
            "address 10.47.0.1 is the gateway of 10.47.0.0/24 (the bridge's own address)");
  EXPECT_EQ(why("10.47.0.5/16"),
            "address 10.47.0.5/16 does not match the subnet 10.47.0.0/24: use 10.47.0.5/24");
}

// --- Allocation -------------------------------------------------------------------------

TEST(Ipam, AllocatesRoundRobinFromTheHintAndRecordsItsOwner) {
  TempDir tmp;
  Ipam ipam(kSubnet, tmp.path());
  EXPECT_EQ(ipam.dir(), tmp.path() / "10.47.0.0-24");

  Lease a = ipam.allocate();
  Lease b = ipam.allocate();
  Lease c = ipam.allocate();
  EXPECT_EQ(a.address().to_string(), "10.47.0.2/24");  // .0 network, .1 gateway: skipped
  EXPECT_EQ(b.address().to_string(), "10.47.0.3/24");
  EXPECT_EQ(c.address().to_string(), "10.47.0.4/24");
  EXPECT_EQ(files_in(ipam.dir()), (std::set<std::string>{"10.47.0.2", "10.47.0.3", "10.47.0.4"}));
  EXPECT_EQ(read_all(a.path()), std::to_string(::getpid()) + "\n");

  EXPECT_EQ(read_all(ipam.dir() / ".next"), "10.47.0.5      \n");  // where the next one starts

  b.release();  // a gap: filled only once the allocator has gone round the subnet
  EXPECT_FALSE(fs::exists(ipam.dir() / "10.47.0.3"));
  EXPECT_EQ(ipam.allocate().address().to_string(), "10.47.0.5/24");
  EXPECT_EQ(ipam.last_probes(), 1);
}

TEST(Ipam, LeaseDestructorAndMovesReleaseExactlyOnce) {
  TempDir tmp;
  Ipam ipam(kSubnet, tmp.path());
  fs::path path;
  {
    Lease a = ipam.allocate();
    path = a.path();
    Lease moved = std::move(a);
    EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move): checking the moved-from state
    EXPECT_TRUE(fs::exists(path));
    Lease other = ipam.allocate();
    other = std::move(moved);  // releases other's address, takes over moved's
    EXPECT_EQ(files_in(ipam.dir()), (std::set<std::string>{"10.47.0.2"}));
  }
  EXPECT_FALSE(fs::exists(path));
  EXPECT_TRUE(files_in(ipam.dir()).empty());
}

TEST(Ipam, AForkedChildDoesNotReleaseItsParentsLease) {
  TempDir tmp;
  Ipam ipam(kSubnet, tmp.path());
  Lease lease = ipam.allocate();
  const pid_t child = ::fork();
  if (child == 0) {
    lease.release();  // a copy inherited from the parent: must not touch the file
    ::_exit(0);
  }
  ::waitpid(child, nullptr, 0);
  EXPECT_TRUE(fs::exists(lease.path()));
}

TEST(Ipam, ReusesTheLeaseOfAProcessThatDied) {
  TempDir tmp;
  Ipam ipam(kSubnet, tmp.path());
  fs::create_directories(ipam.dir());
  std::ofstream(ipam.dir() / "10.47.0.2") << dead_pid() << "\n";
  std::ofstream(ipam.dir() / "10.47.0.3") << "garbage";           // a writer that died mid-write
  std::ofstream(ipam.dir() / "10.47.0.4") << ::getpid() << "\n";  // alive: us

  Lease a = ipam.allocate();
  Lease b = ipam.allocate();
  Lease c = ipam.allocate();
  EXPECT_EQ(a.address().to_string(), "10.47.0.2/24");
  EXPECT_EQ(read_all(a.path()), std::to_string(::getpid()) + "\n");
  EXPECT_EQ(b.address().to_string(), "10.47.0.3/24");
  EXPECT_EQ(c.address().to_string(), "10.47.0.5/24");
}

TEST(Ipam, ReportsExhaustion) {
  TempDir tmp;
  Ipam ipam(ctr::parse_subnet("10.47.0.0/29"), tmp.path());  // .2 to .6: five containers
  std::vector<Lease> leases;
  leases.reserve(5);
  for (int i = 0; i < 5; ++i) leases.push_back(ipam.allocate());
  EXPECT_EQ(leases.back().address().to_string(), "10.47.0.6/29");
  const std::string why = usage_error([&] { ipam.allocate(); });
  EXPECT_NE(why.find("no free address left in 10.47.0.0/29"), std::string::npos) << why;
  leases.erase(leases.begin() + 2);  // 10.47.0.4 goes
  EXPECT_EQ(ipam.allocate().address().to_string(), "10.47.0.4/29");
}

TEST(Ipam, ExplicitAddressesAreValidatedAndExclusive) {
  TempDir tmp;
  Ipam ipam(kSubnet, tmp.path());
  Lease five = ipam.reserve(ctr::parse_cidr("10.47.0.5/24", "address"));
  EXPECT_EQ(five.address().to_string(), "10.47.0.5/24");

  const std::string taken =
      usage_error([&] { ipam.reserve(ctr::parse_cidr("10.47.0.5/24", "address")); });
  EXPECT_EQ(taken.rfind("address 10.47.0.5 is already used by another container", 0), 0u) << taken;
  EXPECT_EQ(usage_error([&] { ipam.reserve(ctr::parse_cidr("10.48.0.5/24")); }),
            "address 10.48.0.5 is outside the subnet 10.47.0.0/24");
  EXPECT_NE(usage_error([&] { ipam.reserve(ctr::parse_cidr("10.47.0.1/24")); }).find("gateway"),
            std::string::npos);

  // Automatic allocation walks around the explicit one.
  std::vector<std::string> got;
  got.reserve(4);
  for (int i = 0; i < 4; ++i) got.push_back(ctr::format_ipv4(ipam.allocate().address().addr));
  // Each temporary lease above was released at once, but the hint moved on: round-robin.
  EXPECT_EQ(got, (std::vector<std::string>{"10.47.0.2", "10.47.0.3", "10.47.0.4", "10.47.0.6"}));

  // A stale lease on the wanted address is taken over.
  std::ofstream(ipam.dir() / "10.47.0.9") << dead_pid() << "\n";
  EXPECT_EQ(ipam.reserve(ctr::parse_cidr("10.47.0.9/24")).address().to_string(), "10.47.0.9/24");
}

// The cost that must not grow with the number of containers: with 500 addresses held, the
// next allocation still looks at one address (the old lowest-first scan looked at 501).
TEST(Ipam, OneProbeHoweverManyLeasesAreHeld) {
  TempDir tmp;
  Ipam ipam(ctr::parse_subnet("10.48.0.0/16"), tmp.path());
  std::vector<Lease> held;
  held.reserve(500);
  for (int i = 0; i < 500; ++i) {
    held.push_back(ipam.allocate());
    ASSERT_EQ(ipam.last_probes(), 1) << i;
  }
  EXPECT_EQ(held.back().address().to_string(), "10.48.1.245/16");  // .0.2 + 499, across .0.255
  EXPECT_EQ(ipam.allocate().address().to_string(), "10.48.1.246/16");
  EXPECT_EQ(ipam.last_probes(), 1);
  EXPECT_EQ(files_in(ipam.dir()).size(), 500u);
}

// The hint is only a hint: missing, garbled, of another subnet or not a host address, the
// allocator starts at the bottom; and wherever it starts, it skips held addresses and takes
// over those of dead processes.
TEST(Ipam, ABadHintStartsAtTheBottomAndStaleLeasesAreReclaimedOnTheWay) {
  TempDir tmp;
  Ipam ipam(ctr::parse_subnet("10.47.0.0/29"), tmp.path());  // .2 to .6
  fs::create_directories(ipam.dir());
  for (const char* hint : {"garbage", "10.99.0.3", "10.47.0.1", "10.47.0.7", "", "10.47.0."}) {
    std::ofstream(ipam.dir() / ".next") << hint;
    EXPECT_EQ(ipam.allocate().address().to_string(), "10.47.0.2/29") << hint;
  }
  std::ofstream(ipam.dir() / ".next") << "10.47.0.6\n";
  std::ofstream(ipam.dir() / "10.47.0.6") << ::getpid() << "\n";  // held: skipped
  std::ofstream(ipam.dir() / "10.47.0.2") << dead_pid() << "\n";  // stale: taken over
  Lease lease = ipam.allocate();                                  // .6 held, round to .2
  EXPECT_EQ(lease.address().to_string(), "10.47.0.2/29");
  EXPECT_EQ(ipam.last_probes(), 2);
  EXPECT_EQ(read_all(lease.path()), std::to_string(::getpid()) + "\n");
  EXPECT_EQ(read_all(ipam.dir() / ".next"), "10.47.0.3      \n");
}

// cleanup's release_leases_of(pid) reads each lease's holder: the hint "10.47.0.3" would read
// as pid 10, and must never be taken for a lease.
TEST(Ipam, CleanupLeavesTheHintAlone) {
  TempDir tmp;
  Ipam ipam(kSubnet, tmp.path());
  fs::create_directories(ipam.dir());
  std::ofstream(ipam.dir() / ".next") << "10.47.0.3\n";
  std::ofstream(ipam.dir() / "10.47.0.9") << "10\n";
  EXPECT_EQ(ctr::release_leases_of(10, tmp.path()), 1);
  EXPECT_TRUE(fs::exists(ipam.dir() / ".next"));
  EXPECT_FALSE(fs::exists(ipam.dir() / "10.47.0.9"));
}

TEST(Ipam, ThreadsNeverShareAnAddress) {
  TempDir tmp;
  constexpr int kThreads = 32;
  std::mutex mutex;
  std::vector<Lease> leases;
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&] {
      Lease lease = Ipam(kSubnet, tmp.path()).allocate();
      std::lock_guard guard(mutex);
      leases.push_back(std::move(lease));
    });
  }
  for (auto& t : threads) t.join();
  std::set<uint32_t> distinct;
  for (const Lease& l : leases) distinct.insert(l.address().addr);
  EXPECT_EQ(distinct.size(), static_cast<size_t>(kThreads));
  EXPECT_EQ(files_in(tmp.path() / "10.47.0.0-24").size(), static_cast<size_t>(kThreads));
}

// 50 processes allocate at the same moment (they all wait for one pipe to close), each
// holding its lease until every one has reported: the addresses must all differ.
TEST(Ipam, ProcessesStartedTogetherNeverShareAnAddress) {
  TempDir tmp;
  constexpr int kProcesses = 50;
  int start[2], hold[2], report[2];
  ASSERT_EQ(::pipe2(start, O_CLOEXEC), 0);
  ASSERT_EQ(::pipe2(hold, O_CLOEXEC), 0);
  ASSERT_EQ(::pipe2(report, O_CLOEXEC), 0);
  std::vector<pid_t> children;
  for (int i = 0; i < kProcesses; ++i) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(start[1]);
      ::close(hold[1]);
      ::close(report[0]);
      char c;
      while (::read(start[0], &c, 1) > 0) {
      }  // EOF: go
      int rc = 0;
      try {
        Lease lease = Ipam(kSubnet, tmp.path()).allocate();
        const uint32_t address = lease.address().addr;
        if (::write(report[1], &address, sizeof address) != sizeof address) rc = 2;
        while (::read(hold[0], &c, 1) > 0) {
        }  // EOF: the parent has every answer
        lease.release();
      } catch (...) {
        rc = 1;
      }
      ::_exit(rc);
    }
    children.push_back(pid);
  }
  ::close(start[0]);
  ::close(hold[0]);
  ::close(report[1]);
  ::close(start[1]);  // go

  std::set<uint32_t> distinct;
  uint32_t address;
  int reports = 0;
  while (reports < kProcesses && ::read(report[0], &address, sizeof address) == sizeof address) {
    distinct.insert(address);
    ++reports;
  }
  ::close(hold[1]);  // let them go
  ::close(report[0]);
  for (pid_t pid : children) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child " << pid;
  }
  EXPECT_EQ(reports, kProcesses);
  EXPECT_EQ(distinct.size(), static_cast<size_t>(kProcesses));
  EXPECT_EQ(*distinct.begin(), ipv4(10, 47, 0, 2));
  EXPECT_EQ(*distinct.rbegin(), ipv4(10, 47, 0, 51));  // no gaps either
  EXPECT_TRUE(files_in(tmp.path() / "10.47.0.0-24").empty());
}

TEST(PidAlive, TellsLiveFromDead) {
  EXPECT_TRUE(ctr::pid_alive(::getpid()));
  EXPECT_TRUE(ctr::pid_alive(1));
  EXPECT_FALSE(ctr::pid_alive(dead_pid()));
  EXPECT_FALSE(ctr::pid_alive(0));
}

}  // namespace
