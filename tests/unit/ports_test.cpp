// Unit tests of runtime/ports.hpp (the -p syntax) and runtime/hosts.hpp (the bridge's shared
// hosts file, resolv.conf). No root needed: the hosts files live in a temporary directory.
#include <sys/stat.h>  // stat(2)

#include <gtest/gtest.h>

#include <cstdlib>     // mkdtemp
#include <filesystem>  // std::filesystem
#include <fstream>     // std::ifstream
#include <string>

#include "ctr/ipv4.hpp"  // ctr::ipv4
#include "runtime/hosts.hpp"
#include "runtime/ports.hpp"
#include "support.hpp"   // mc::test::usage_error
#include "temp_dir.hpp"  // mc::test::TempDir

namespace {

namespace fs = std::filesystem;
using ctr::ipv4;
using ctr::PortMapping;
using ctr::Protocol;
using mc::test::TempDir;
using mc::test::usage_error;

TEST(PortMapping, ParsesDockersSyntax) {
  EXPECT_EQ(ctr::parse_port_mapping("8080:80"),
            (PortMapping{std::nullopt, 8080, 80, Protocol::kTcp}));
  EXPECT_EQ(ctr::parse_port_mapping("8080:80/tcp"),
            (PortMapping{std::nullopt, 8080, 80, Protocol::kTcp}));
  EXPECT_EQ(ctr::parse_port_mapping("5353:53/udp"),
            (PortMapping{std::nullopt, 5353, 53, Protocol::kUdp}));
  EXPECT_EQ(ctr::parse_port_mapping("127.0.0.1:8080:80"),
            (PortMapping{ipv4(127, 0, 0, 1), 8080, 80, Protocol::kTcp}));
  EXPECT_EQ(ctr::parse_port_mapping("0.0.0.0:1:65535/udp"),
            (PortMapping{std::nullopt, 1, 65535, Protocol::kUdp}));
  for (const char* text : {"8080:80/tcp", "127.0.0.1:8080:80/udp", "1:2/tcp"})
    EXPECT_EQ(ctr::to_string(ctr::parse_port_mapping(text)), text);
}

TEST(PortMapping, RefusesWhatIsNotAMapping) {
  for (const char* bad : {"", "80", "a:80", "80:b", ":80", "80:", "1:2:3:4", "080:80", "8080:80/",
                          "-1:80", "8080 :80", "x.y:1:2/tcp"}) {
    const std::string why = usage_error([&] { ctr::parse_port_mapping(bad); });
    EXPECT_EQ(why.rfind("invalid port mapping '" + std::string(bad) + "'", 0), 0u) << why;
  }
  EXPECT_EQ(usage_error([] { ctr::parse_port_mapping("70000:80"); }),
            "invalid port mapping '70000:80': port 70000 is not 1 to 65535");
  EXPECT_EQ(usage_error([] { ctr::parse_port_mapping("80:80/sctp"); }),
            "invalid port mapping '80:80/sctp': unknown protocol 'sctp' (tcp or udp)");
  EXPECT_EQ(usage_error([] { ctr::parse_port_mapping("0:80"); }),
            "invalid port mapping '0:80': expected [IP:]HOSTPORT:PORT[/tcp|udp]");
  EXPECT_EQ(ctr::port_rule_tag("web"), "mycontainer:web");
}

std::string read_all(const fs::path& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

ino_t inode_of(const fs::path& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

constexpr const char* kLocal = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n";
// kLocal followed by `rest`. Appended, not `std::string(kLocal) + rest`: GCC 12 warns about
// that (-Warray-bounds, a false positive of its inlined operator+).
std::string local_plus(const char* rest) {
  std::string text = kLocal;
  return text.append(rest);
}

// One file for the bridge, every container's line in it, rewritten on the same inode (the
// containers' bind mounts show that inode), removed with the last container.
TEST(HostsEntry, OneSharedFileKeptCurrentOnTheSameInode) {
  TempDir tmp;
  const fs::path file = ctr::HostsEntry::file_of("br0", tmp.path());
  EXPECT_EQ(file, tmp.path() / "br0" / "hosts");
  std::optional<ctr::HostsEntry> web =
      ctr::HostsEntry::add("br0", ipv4(10, 47, 0, 2), "web", "web", tmp.path());
  EXPECT_EQ(read_all(file), local_plus("10.47.0.2\tweb\n"));
  const ino_t inode = inode_of(file);
  {
    const ctr::HostsEntry db =
        ctr::HostsEntry::add("br0", ipv4(10, 47, 0, 3), "db", "db-host", tmp.path());
    EXPECT_EQ(read_all(file), local_plus("10.47.0.2\tweb\n10.47.0.3\tdb db-host\n"));
    EXPECT_EQ(inode_of(file), inode);
  }
  EXPECT_EQ(read_all(file), local_plus("10.47.0.2\tweb\n"));
  EXPECT_EQ(inode_of(file), inode);
  web.reset();
  EXPECT_FALSE(fs::exists(file));
}

// A killed runtime's line (its address or its name reused by a new container) is replaced;
// remove() is what `cleanup` calls.
TEST(HostsEntry, StaleLinesAreReplacedAndCleanupRemovesByName) {
  TempDir tmp;
  const fs::path file = ctr::HostsEntry::file_of("br0", tmp.path());
  fs::create_directories(file.parent_path());
  std::ofstream(file) << kLocal << "10.47.0.2\told\n10.47.0.3\tweb\n10.47.0.4\tkeep\n";
  const ctr::HostsEntry web =
      ctr::HostsEntry::add("br0", ipv4(10, 47, 0, 2), "web", "", tmp.path());
  EXPECT_EQ(read_all(file), local_plus("10.47.0.4\tkeep\n10.47.0.2\tweb\n"));
  ctr::HostsEntry::remove("br0", "keep", tmp.path());
  EXPECT_EQ(read_all(file), local_plus("10.47.0.2\tweb\n"));
  ctr::HostsEntry::remove("nobridge", "keep", tmp.path());  // nothing there: nothing done
  EXPECT_FALSE(fs::exists(tmp.path() / "nobridge"));
}

TEST(ResolvConf, TheHostsNameserversButLoopbackOnes) {
  EXPECT_EQ(ctr::container_resolv_conf("# generated\nnameserver 127.0.0.53\nnameserver ::1\n"
                                       "nameserver 192.0.2.53\nsearch example.org\n"
                                       "options edns0 trust-ad\nsortlist 10.0.0.0\n"),
            "nameserver 192.0.2.53\nsearch example.org\noptions edns0 trust-ad\n");
  EXPECT_EQ(ctr::container_resolv_conf("nameserver 127.0.0.1\n"), "");
  EXPECT_EQ(ctr::container_resolv_conf(""), "");
  EXPECT_EQ(ctr::standalone_hosts("box"), local_plus("127.0.1.1\tbox\n"));
}

}  // namespace
