// Installing: `cmake --install` into a temporary prefix puts a working mycontainer there, with
// its man page and bash completion; `cpack -G DEB` makes a Debian package of the same files.
// The build tree's own files are used (no root needed: nothing outside the prefix is written).
#include <filesystem>

#include <fmt/format.h>

#include "support.hpp"

namespace mc::test {
namespace {

namespace fs = std::filesystem;

// The CMake build directory (build/bin's parent).
std::string build_dir() {
  return fs::path(MC_BIN_DIR).parent_path().string();
}

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/mct-install-XXXXXX";
    if (::mkdtemp(tmpl) != nullptr) path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string explain(const RunResult& r) {
  return fmt::format("exit {}\nstdout:\n{}\nstderr:\n{}", r.status, r.out, r.err);
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

TEST(Install, IntoATemporaryPrefix) {
  TempDir prefix;
  ASSERT_FALSE(prefix.path().empty());
  const auto installed =
      sh(fmt::format("cmake --install '{}' --prefix '{}'", build_dir(), prefix.path()));
  ASSERT_EQ(0, installed.status) << explain(installed);

  // The installed binary runs, and is the one that was built.
  const std::string mycontainer = prefix.path() + "/bin/mycontainer";
  ASSERT_TRUE(fs::exists(mycontainer)) << installed.out;
  const auto help = run({mycontainer, "--help"});
  EXPECT_EQ(0, help.status) << explain(help);
  EXPECT_EQ(read_file(bin("mycontainer")), read_file(mycontainer)) << "not the built binary";
  const auto spec = run({mycontainer, "spec", "--rootfs", rootfs(), "--", "/bin/true"});
  EXPECT_EQ(0, spec.status) << explain(spec);
  EXPECT_TRUE(contains(spec.out, "\"ociVersion\"")) << spec.out;

  // mycontainer-image is installed beside it, and found there (next to /proc/self/exe): its
  // own error for a missing file, not "cannot run".
  EXPECT_EQ(read_file(bin("mycontainer-image")),
            read_file(prefix.path() + "/bin/mycontainer-image"));
  const auto load = run({mycontainer, "--store", prefix.path() + "/store", "load", "-i",
                         prefix.path() + "/no-such.tar"});
  EXPECT_EQ(125, load.status) << explain(load);
  EXPECT_TRUE(contains(load.err, "load: no such file")) << load.err;

  // mycontainer(1): made from --help, every command in it, readable by man.
  const std::string page = prefix.path() + "/share/man/man1/mycontainer.1";
  ASSERT_TRUE(fs::exists(page))
      << "no man page (is help2man installed? see packaging/CMakeLists.txt)\n"
      << installed.out;
  const auto man = sh(fmt::format("MANWIDTH=100 man -l -P cat '{}' 2>&1", page));
  EXPECT_EQ(0, man.status) << explain(man);
  for (const char* section : {"NAME", "SYNOPSIS", "COMMANDS", "SEE ALSO"}) {
    EXPECT_TRUE(contains(man.out, section)) << section << " missing from\n" << man.out;
  }
  EXPECT_TRUE(contains(man.out, "mycontainer - a small OCI container runtime")) << man.out;
  EXPECT_TRUE(contains(man.out, "\n   run\n") || contains(man.out, "\n   run ")) << man.out;

  // podman's drop-in, outside /usr and /usr/local kept beneath the prefix (never /etc), naming
  // the installed binary.
  const std::string dropin =
      prefix.path() + "/share/mycontainer/containers.conf.d/50-mycontainer.conf";
  EXPECT_TRUE(
      contains(read_file(dropin), "[engine.runtimes]\nmycontainer = [\"" + mycontainer + "\"]"))
      << dropin << ":\n"
      << read_file(dropin);

  // Bash completion: loads, registers, completes a command name from the installed binary.
  const std::string completion = prefix.path() + "/share/bash-completion/completions/mycontainer";
  ASSERT_TRUE(fs::exists(completion));
  const auto completes = run(
      {"/bin/bash", "-c",
       fmt::format("source '{}' && complete -p mycontainer && COMP_WORDS=('{}' sp) COMP_CWORD=1 "
                   "&& _mycontainer && echo \"reply: ${{COMPREPLY[*]}}\"",
                   completion, mycontainer)});
  EXPECT_EQ(0, completes.status) << explain(completes);
  EXPECT_TRUE(contains(completes.out, "-F _mycontainer mycontainer")) << completes.out;
  EXPECT_TRUE(contains(completes.out, "reply: spec")) << completes.out;
}

TEST(Install, DebianPackage) {
  if (::access("/usr/bin/dpkg-deb", X_OK) != 0) GTEST_SKIP() << "no dpkg-deb: not a Debian system";
  TempDir out;
  ASSERT_FALSE(out.path().empty());
  const auto packed = sh(fmt::format("cd '{0}' && cpack -G DEB -B '{1}'", build_dir(), out.path()));
  ASSERT_EQ(0, packed.status) << explain(packed);
  std::string deb;
  for (const auto& e : fs::directory_iterator(out.path())) {
    if (e.path().extension() == ".deb") deb = e.path().string();
  }
  ASSERT_FALSE(deb.empty()) << "no .deb in " << out.path() << "\n" << packed.out;

  const auto info = run({"/usr/bin/dpkg-deb", "--info", deb});
  EXPECT_EQ(0, info.status) << explain(info);
  EXPECT_TRUE(contains(info.out, "Package: mycontainer")) << info.out;
  // The version is the project's, as the binary reports it.
  const auto version = run({bin("mycontainer"), "--version"});
  EXPECT_TRUE(contains(info.out, "Version: ")) << info.out;
  EXPECT_TRUE(contains(version.out + version.err,
                       info.out.substr(info.out.find("Version: ") + 9,
                                       info.out.find('\n', info.out.find("Version: ")) -
                                           info.out.find("Version: ") - 9)))
      << "package version vs mycontainer --version: " << version.out << "\n"
      << info.out;
  // A dynamically linked binary gets its libraries as dependencies (dpkg-shlibdeps); the
  // default build links mycontainer statically, and needs none.
  if (!contains(run({"/usr/bin/ldd", bin("mycontainer")}).out, "statically linked")) {
    EXPECT_TRUE(contains(info.out, "Depends: ")) << info.out;
  }

  const auto contents = run({"/usr/bin/dpkg-deb", "--contents", deb});
  EXPECT_EQ(0, contents.status) << explain(contents);
  for (const char* file : {"./usr/bin/mycontainer", "./usr/share/man/man1/mycontainer.1",
                           "./usr/share/bash-completion/completions/mycontainer",
                           "./etc/containers/containers.conf.d/50-mycontainer.conf"}) {
    EXPECT_TRUE(contains(contents.out, std::string(file) + "\n") ||
                contains(contents.out, std::string(file) + " "))
        << file << " not in the package:\n"
        << contents.out;
  }
}

}  // namespace
}  // namespace mc::test
