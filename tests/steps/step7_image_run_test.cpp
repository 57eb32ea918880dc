// Step 7, images: a container's root as an overlay of read-only layers plus an upper directory
// of its own (runtime/overlay.hpp, engine.cpp mount_root). The layers here are made by hand:
// the project's rootfs as the bottom layer, small directories above it with a whiteout (a
// character device 0/0) and an opaque directory (trusted.overlay.opaque = "y"), as the store
// unpacks an OCI layer's ".wh.NAME" and ".wh..wh..opq". They reach the engine through the
// spec's io.mycontainer.root.layers annotation (`run --config`), exactly what `run IMAGE`
// writes there.
//
// Both sides: what the container sees, and that the host keeps nothing (no overlay mount in
// the host's mount table, no upper directory) after the run, after two runs at once, and
// after the runtime was killed with SIGKILL and `cleanup` ran. A detached container (`run -d`)
// keeps its upper layer over stop and start, until `rm`; `rmi` weighs it (KeptUpper).
#include <fcntl.h>  // O_PATH, O_CLOEXEC
#include <gtest/gtest.h>
#include <signal.h>         // kill(2)
#include <sys/stat.h>       // mknod(2), umask(2)
#include <sys/xattr.h>      // setxattr(2)
#include <sys/sysmacros.h>  // makedev(3)

#include <cstdlib>  // std::getenv
#include <filesystem>
#include <fstream>
#include <regex>    // std::regex: a ps row
#include <sstream>  // std::istringstream: df and /proc/meminfo
#include <string>
#include <vector>

#include <fmt/ranges.h>  // fmt::join
#include <nlohmann/json.hpp>

#include "background.hpp"
#include "ctr/uts.hpp"  // ctr::kernel_at_least
#include "mycontainer.hpp"
#include "support.hpp"

namespace mc::test {
namespace {

namespace fs = std::filesystem;

fs::path state_dir_of(const std::string& name) {
  return "/run/mycontainer/containers/" + name;
}

// The mount point of every root whose upper layer is in memory, each in its container's own
// mount namespace (runtime/overlay.hpp, in_memory_mount_point): empty on the host.
const fs::path kSharedMountPoint = "/run/mycontainer/rootfs";

// Mount points of the host that have anything to do with container `name`, or any overlay
// whose options name a directory of `layers_dir` ("" when none).
std::string host_mounts_of(const std::string& name, const std::string& layers_dir) {
  std::string out;
  for (const auto& line : lines_of(read_file("/proc/self/mountinfo"))) {
    if (contains(line, name) || (!layers_dir.empty() && contains(line, layers_dir))) {
      out += line + "\n";
    }
  }
  return out;
}

void write_file(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

class Image : public ::testing::Test {
 protected:
  void SetUp() override {
    MC_REQUIRE_ROOT();
    ASSERT_FALSE(dir_.path().empty());
  }

  // A layer directory of the test's own, made empty.
  std::string layer(const std::string& name) {
    const fs::path p = fs::path(dir_.path()) / name;
    fs::create_directories(p);
    return p.string();
  }

  // The config.json `mycontainer spec` writes for these flags and command, with the layers
  // as the root; written into the test's directory.
  std::string config_for(const std::vector<std::string>& layers,
                         const std::vector<std::string>& flags,
                         const std::vector<std::string>& command,
                         const std::vector<std::string>& as_user = {}) {
    std::vector<std::string> argv = as_user;
    for (const char* word : {"spec", "--rootfs"}) argv.emplace_back(word);
    argv.insert(argv.begin() + static_cast<long>(as_user.size()), bin("mycontainer"));
    argv.push_back(rootfs());
    argv.insert(argv.end(), flags.begin(), flags.end());
    argv.emplace_back("--");
    argv.insert(argv.end(), command.begin(), command.end());
    const RunResult spec = run(argv);
    EXPECT_EQ(spec.status, 0) << spec.err;
    nlohmann::json j = nlohmann::json::parse(spec.out);
    j["annotations"]["io.mycontainer.root.layers"] = nlohmann::json(layers).dump();
    std::string file =
        (fs::path(dir_.path()) / ("config-" + std::to_string(configs_++) + ".json")).string();
    std::ofstream(file) << j.dump(2);
    return file;
  }

  std::vector<std::string> run_argv(const std::string& name, const std::vector<std::string>& layers,
                                    const std::vector<std::string>& command,
                                    const std::vector<std::string>& flags = {"--net", "none"},
                                    bool explain = false) {
    std::vector<std::string> argv{
        bin("mycontainer"), "run", "--config", config_for(layers, flags, command), "--name", name};
    if (explain) argv.emplace_back("--explain");
    return argv;
  }

  HostDir dir_;
  int configs_ = 0;
};

TEST_F(Image, LayersMergeTopFirstAndWhiteoutsHideFiles) {
  // bottom: the rootfs. middle: /data/{keep,old}, /opaque/a, /etc/motd "middle".
  // top: a whiteout for /data/old, /opaque made opaque with only b in it, /etc/motd "top".
  const std::string middle = layer("middle");
  write_file(fs::path(middle) / "data/keep", "kept\n");
  write_file(fs::path(middle) / "data/old", "deleted above\n");
  write_file(fs::path(middle) / "opaque/a", "hidden by the opaque directory\n");
  write_file(fs::path(middle) / "etc/motd", "middle\n");
  const std::string top = layer("top");
  fs::create_directories(fs::path(top) / "data");
  ASSERT_EQ(::mknod((fs::path(top) / "data/old").c_str(), S_IFCHR | 0000, makedev(0, 0)), 0);
  write_file(fs::path(top) / "opaque/b", "only this\n");
  ASSERT_EQ(::setxattr((fs::path(top) / "opaque").c_str(), "trusted.overlay.opaque", "y", 1, 0), 0);
  write_file(fs::path(top) / "etc/motd", "top\n");

  const std::string name = unique_name("img-merge");
  const RunResult r =
      run(run_argv(name, {rootfs(), middle, top},
                   {"/bin/sh", "-c",
                    "cat /etc/motd; ls /data; ls /opaque; test -e /data/old || echo old gone"}));
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "top\nkeep\nb\nold gone\n");
  EXPECT_EQ(host_mounts_of(name, dir_.path()), "");
  EXPECT_FALSE(fs::exists(state_dir_of(name)));
}

TEST_F(Image, TwoContainersOfOneImageDoNotSeeEachOthersFiles) {
  const std::string app = layer("app");
  write_file(fs::path(app) / "app/version", "1\n");
  const std::vector<std::string> layers{rootfs(), app};
  const HostSnapshot before = HostSnapshot::take();
  const std::string a = unique_name("img-a");
  const std::string seconds = unique_sleep_seconds();
  Background first(
      run_argv(a, layers,
               {"/bin/sh", "-c",
                "echo mine > /app/version; echo new > /etc/new-file; exec /bin/sleep " + seconds}));
  std::vector<int> sleeping;
  ASSERT_TRUE(wait_until([&] {
    return !(sleeping = pids_matching("/bin/sleep " + seconds)).empty();
  })) << first.wait().err;
  const fs::path root = fmt::format("/proc/{}/root", sleeping.front());
  EXPECT_TRUE(fs::exists(root / "etc/new-file"));
  EXPECT_EQ(read_file((root / "app/version").string()), "mine\n");
  // Its upper directory is on a tmpfs in its own mount namespace (runtime/overlay.hpp,
  // upper_in_memory): on the host, nothing of it; the mount point is one for all, and empty.
  EXPECT_FALSE(fs::exists(state_dir_of(a) / "overlay"));
  EXPECT_FALSE(fs::exists(state_dir_of(a) / "rootfs"));
  EXPECT_TRUE(fs::is_empty(kSharedMountPoint));

  const std::string b = unique_name("img-b");
  const RunResult second = run(run_argv(
      b, layers, {"/bin/sh", "-c", "cat /app/version; test -e /etc/new-file || echo no new-file"}));
  EXPECT_EQ(second.status, 0) << second.err;
  EXPECT_EQ(second.out, "1\nno new-file\n");
  // The layers are as they were: nothing reached them.
  EXPECT_EQ(read_file(app + "/app/version"), "1\n");
  EXPECT_FALSE(fs::exists(rootfs() + "/etc/new-file"));

  kill_sleepers(seconds);
  const RunResult ended = first.wait();
  EXPECT_EQ(ended.status, 128 + SIGKILL) << ended.err;
  EXPECT_FALSE(fs::exists(state_dir_of(a))) << "upper directory left behind";
  EXPECT_EQ(host_mounts_of(a, dir_.path()), "");
  EXPECT_EQ("", diff(before, HostSnapshot::take()));
}

TEST_F(Image, CleanupRemovesWhatAKilledRuntimeLeft) {
  const std::string app = layer("app");
  const std::string name = unique_name("img-kill");
  const std::string seconds = unique_sleep_seconds();
  Background runtime(run_argv(name, {rootfs(), app},
                              {"/bin/sh", "-c", "echo x > /written; exec /bin/sleep " + seconds}));
  ASSERT_TRUE(wait_until([&] { return !pids_matching("/bin/sleep " + seconds).empty(); }))
      << runtime.wait().err;
  ::kill(runtime.pid(), SIGKILL);
  runtime.wait();
  // The container dies with its runtime (PR_SET_PDEATHSIG), and its mount namespace with it:
  // the overlay was never in the host's mount table, and what it wrote was in a tmpfs of that
  // namespace. Only its state directory is left, with nothing of the overlay in it.
  ASSERT_TRUE(wait_until([&] { return pids_matching("/bin/sleep " + seconds).empty(); }));
  EXPECT_EQ(host_mounts_of(name, dir_.path()), "");
  EXPECT_TRUE(fs::exists(state_dir_of(name)));
  EXPECT_FALSE(fs::exists(state_dir_of(name) / "rootfs"));
  EXPECT_FALSE(fs::exists(state_dir_of(name) / "overlay"));
  EXPECT_TRUE(fs::is_empty(kSharedMountPoint));

  const RunResult cleanup = run({bin("mycontainer"), "cleanup"});
  EXPECT_EQ(cleanup.status, 0) << cleanup.err;
  EXPECT_TRUE(contains(cleanup.out, "removed " + name)) << cleanup.out;
  EXPECT_FALSE(fs::exists(state_dir_of(name)));
  EXPECT_EQ(host_mounts_of(name, dir_.path()), "");
}

// The descriptors of process `pid` that lead to the same inode as `path` does, with the flags
// of each (/proc/PID/fdinfo/N "flags:", octal).
std::vector<unsigned long> fds_on(pid_t pid, const std::string& path) {
  struct stat want {};
  if (::stat(path.c_str(), &want) != 0) return {};
  std::vector<unsigned long> flags;
  std::error_code ec;
  for (const auto& fd : fs::directory_iterator(fmt::format("/proc/{}/fd", pid), ec)) {
    struct stat st {};
    if (::stat(fd.path().c_str(), &st) != 0 || st.st_dev != want.st_dev ||
        st.st_ino != want.st_ino) {
      continue;
    }
    const std::string info =
        read_file(fmt::format("/proc/{}/fdinfo/{}", pid, fd.path().filename().string()));
    const auto at = info.find("flags:");
    flags.push_back(at == std::string::npos ? 0 : std::stoul(info.substr(at + 6), nullptr, 8));
  }
  return flags;
}

// The runtime holds the container's overlay while the container runs (runtime/overlay.hpp,
// ContainerOverlay::hold): a descriptor of the merged root that the child sent once it had
// mounted it, so that the container's exit does not wait for overlayfs's teardown (a grace
// period), which the runtime then does beside the rest of its own. O_PATH (nothing can be read
// or written through it) and close-on-exec; the container's processes never have it; and the
// end leaves nothing, here when the container is killed from outside.
TEST_F(Image, TheRuntimeHoldsTheOverlayWhileTheContainerRuns) {
  const std::string app = layer("app");
  const std::string name = unique_name("img-hold");
  const std::string seconds = unique_sleep_seconds();
  const HostSnapshot before = HostSnapshot::take();
  Background runtime(run_argv(name, {rootfs(), app}, {"/bin/sleep", seconds}));
  std::vector<int> container;
  ASSERT_TRUE(wait_until([&] {
    return !(container = pids_matching("/bin/sleep " + seconds)).empty();
  })) << runtime.wait().err;
  const std::string root = fmt::format("/proc/{}/root", container.front());
  std::vector<unsigned long> held;
  EXPECT_TRUE(wait_until([&] { return !(held = fds_on(runtime.pid(), root)).empty(); }))
      << "the runtime holds no descriptor of the container's root";
  for (const unsigned long flags : held) {
    EXPECT_NE(flags & O_PATH, 0U) << std::oct << flags;
    EXPECT_NE(flags & O_CLOEXEC, 0U) << std::oct << flags;
  }
  EXPECT_TRUE(fds_on(container.front(), root).empty()) << "the container has its root open";

  ::kill(container.front(), SIGKILL);
  const RunResult ended = runtime.wait();
  EXPECT_EQ(ended.status, 128 + SIGKILL) << ended.err;
  EXPECT_FALSE(fs::exists(state_dir_of(name))) << "upper or work directory left behind";
  EXPECT_EQ(host_mounts_of(name, dir_.path()), "");
  EXPECT_EQ("", diff(before, HostSnapshot::take()));
}

// The upper directory is thrown away with the container, so it is kept in memory
// (runtime/overlay.hpp, upper_in_memory): a tmpfs that the container's child mounts on its
// root's mount point, in its own mount namespace, with the overlay on top. The container sees
// both in its mount table; the host has only the (empty) mount point while it runs, and nothing
// after.
TEST_F(Image, TheUpperLayerIsInMemoryAndGoesWithTheContainer) {
  const std::string app = layer("app");
  const std::string name = unique_name("img-memory");
  const HostSnapshot before = HostSnapshot::take();
  const RunResult r =
      run(run_argv(name, {rootfs(), app},
                   {"/bin/sh", "-c",
                    "echo x > /written; sync; cat /written; grep ' / / ' /proc/self/mountinfo"}));
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "x\n")) << r.out;
  EXPECT_TRUE(contains(r.out, " overlay ")) << r.out;
  EXPECT_TRUE(contains(r.out, "upperdir=" + (kSharedMountPoint / "upper").string())) << r.out;
  EXPECT_TRUE(fs::is_empty(kSharedMountPoint));
  EXPECT_FALSE(fs::exists(state_dir_of(name))) << "upper or work directory left behind";
  EXPECT_EQ(host_mounts_of(name, dir_.path()), "");
  EXPECT_EQ("", diff(before, HostSnapshot::take()));
}

// The merged root takes the mode of the upper directory's root (overlayfs.rst), which the child
// makes on its tmpfs with mkdirat(2), and so with the runtime's umask: under 077 the root must
// still be 0755, or no user but root could enter "/" (the child chmods where the umask took
// bits away, runtime/overlay.cpp mount_upper_tmpfs).
TEST_F(Image, TheRootIs0755UnderAStrictUmask) {
  const std::string name = unique_name("img-umask");
  const mode_t old_umask = ::umask(077);
  const RunResult r = run(run_argv(name, {rootfs()}, {"/bin/stat", "-c", "%a", "/"}));
  ::umask(old_umask);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "755\n");
}

// A run interrupted by ^C (SIGINT) or SIGTERM: the runtime forwards the signal, the container
// ends, and the upper directory, the work directory and the mount point go with it before the
// runtime exits. Once with a command that ends on the signal, once with one that ignores it
// (the runtime kills it after --stop-timeout).
TEST_F(Image, AnInterruptedRunLeavesNothing) {
  const std::string app = layer("app");
  struct Case {
    int signal;
    std::string trap;  // the command's answer to the signal
    int status;        // what the runtime then exits with
  };
  for (const Case& c :
       {Case{SIGINT, "exit 3", 3}, Case{SIGTERM, "exit 4", 4}, Case{SIGTERM, "", 128 + SIGKILL}}) {
    SCOPED_TRACE(fmt::format("signal {}, trap '{}'", c.signal, c.trap));
    const std::string name = unique_name("img-int");
    const HostSnapshot before = HostSnapshot::take();
    Background runtime(run_argv(name, {rootfs(), app},
                                {"/bin/sh", "-c",
                                 fmt::format("trap '{}' INT TERM; echo x > /written; echo ready; "
                                             "while :; do /bin/sleep 0.05; done",
                                             c.trap)},
                                {"--net", "none", "--stop-timeout", "1"}));
    ASSERT_TRUE(wait_until([&] { return contains(runtime.out(), "ready"); })) << runtime.err();
    EXPECT_FALSE(fs::exists(state_dir_of(name) / "overlay"));  // in memory
    runtime.signal(c.signal);
    const RunResult ended = runtime.wait();
    EXPECT_EQ(ended.status, c.status) << ended.err;
    // Gone when the runtime has exited: nothing for `cleanup` to find.
    EXPECT_FALSE(fs::exists(state_dir_of(name))) << "upper directory left behind";
    EXPECT_EQ(host_mounts_of(name, dir_.path()), "");
    EXPECT_EQ("", diff(before, HostSnapshot::take()));
  }
}

// 100 layers with long paths: "lowerdir=" alone would be ~10 KB, more than mount(2)'s one
// page of options. Linux 6.8+ takes them one fsconfig(2) call each; older kernels get short
// names (runtime/overlay.hpp).
TEST_F(Image, AHundredLayersMount) {
  std::vector<std::string> layers{rootfs()};
  const std::string long_name(70, 'x');
  for (int i = 0; i < 100; ++i) {
    const std::string l = layer(fmt::format("layer-{}-{:03}", long_name, i));
    write_file(fs::path(l) / fmt::format("layers/{:03}", i), "");
    write_file(fs::path(l) / "top", fmt::format("{}\n", i));
    layers.push_back(l);
  }
  // Both ways: this kernel's, and mount(2) with short names (what Linux before 6.8 gets),
  // forced by MC_OVERLAY_MOUNT2=1.
  for (const char* force : {"0", "1"}) {
    const std::string name = unique_name("img-100");
    RunOptions options;
    options.env = {fmt::format("MC_OVERLAY_MOUNT2={}", force)};
    const RunResult r = run(
        run_argv(name, layers, {"/bin/sh", "-c", "ls /layers | wc -l; cat /top"}, {"--net", "none"},
                 /*explain=*/true),
        options);
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, "100\n99\n");
    // (Without the override the kernel decides: fsconfig on 6.8+, short names before.)
    if (force[0] == '1') {
      EXPECT_TRUE(contains(r.err, "chdir(\"/proc/self/fd\")")) << r.err;
    }
    EXPECT_FALSE(fs::exists(state_dir_of(name)));
  }
}

TEST_F(Image, ReadOnlyRootRefusesWritesAndExplainShowsTheOverlay) {
  const std::string app = layer("app");
  const std::string name = unique_name("img-ro");
  const RunResult r =
      run(run_argv(name, {rootfs(), app},
                   {"/bin/sh", "-c", "touch /x 2>/dev/null || echo read-only; touch /tmp/y 2>&1"},
                   {"--net", "none", "--read-only", "--tmpfs", "/tmp"}, /*explain=*/true));
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "read-only\n");
  // --explain: the overlay, with the layers top first, and a mount command that does the same.
  EXPECT_TRUE(contains(r.err, "mount -t overlay overlay -o nodev,lowerdir=" + app + ":" + rootfs()))
      << r.err;
  EXPECT_FALSE(fs::exists(state_dir_of(name)));
}

// Rootless: the overlay is mounted by root of the container's user namespace (Linux 5.11+,
// with userxattr), its upper directory in the user's own state directory.
TEST_F(Image, RootlessRunsFromLayers) {
  const std::vector<std::string> nobody{"/usr/bin/setpriv",
                                        "--reuid=65534",
                                        "--regid=65534",
                                        "--clear-groups",
                                        "/usr/bin/env",
                                        "-i",
                                        "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
                                        "HOME=/"};
  fs::permissions(dir_.path(), fs::perms(0755));
  const std::string app = layer("app");
  write_file(fs::path(app) / "app/version", "1\n");
  // The user's own layer, as its own store would unpack it: owned by ids its user namespace
  // maps. (A file of the host's root, unmapped there, can be read but not copied up: overlayfs
  // cannot give the copy an owner the namespace does not have.)
  ASSERT_EQ(run({"/bin/chown", "-R", "65534:65534", app}).status, 0);
  const std::string name = unique_name("img-rootless");
  std::vector<std::string> argv = nobody;
  for (const std::string& word :
       {bin("mycontainer"), std::string("run"), std::string("--config"),
        config_for(
            {rootfs(), app}, {},
            {"/bin/sh", "-c", "cat /app/version; echo 2 > /app/version; cat /app/version; id -u"},
            nobody),
        std::string("--name"), name}) {
    argv.push_back(word);
  }
  const RunResult r = run(argv);
  if (r.status == 125 && contains(r.err, "overlayfs cannot be mounted in this user namespace")) {
    MC_SKIP_OR_FAIL("this kernel refuses overlayfs in a user namespace: " + r.err);
  }
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "1\n2\n0\n");
  EXPECT_EQ(read_file(app + "/app/version"), "1\n");
  EXPECT_FALSE(fs::exists("/tmp/mycontainer-65534/containers/" + name));
}

// ==========================================================================================
// run IMAGE, end to end: an OCI layout made by umoci from the project's rootfs (two layers: a
// deleted file in the second is a whiteout), `mycontainer load`ed into a store of the test's
// own, then run with and without flags that override its config.
// ==========================================================================================

class RunImage : public Image {
 protected:
  void SetUp() override {
    Image::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    if (run({"/bin/sh", "-c", "command -v umoci"}).status != 0) {
      MC_SKIP_OR_FAIL("umoci is not installed (scripts/setup.sh installs it)");
    }
    store_ = (fs::path(dir_.path()) / "store").string();
    const std::string work = dir_.path();
    // Layer 1: the rootfs and /data/{keep,old}; layer 2: /data/old deleted (umoci writes
    // .wh.old), a user "app" (1234) added. Config: sh -c as the entrypoint, a Cmd that shows
    // what the process got, an Env, a WorkingDir and a User.
    const std::string script = fmt::format(
        R"(set -e; cd {work}
umoci init --layout L; umoci new --image L:t; umoci unpack --image L:t B >/dev/null
cp -a {rootfs}/. B/rootfs/; mkdir -p B/rootfs/data; echo kept > B/rootfs/data/keep
echo old > B/rootfs/data/old
umoci repack --image L:t B; rm -rf B; umoci unpack --image L:t B >/dev/null
rm B/rootfs/data/old; echo 'app:x:1234:1234::/:/bin/sh' >> B/rootfs/etc/passwd
umoci repack --image L:t B
umoci config --image L:t --config.entrypoint /bin/sh --config.entrypoint -c   --config.cmd 'echo $FOO; pwd; id -u' --config.env FOO=image --config.workingdir /etc   --config.user app
sed -i 's|"org.opencontainers.image.ref.name":"t"|"org.opencontainers.image.ref.name":"{ref}"|'   L/index.json
tar -C L -cf image.tar .)",
        fmt::arg("work", work), fmt::arg("rootfs", rootfs()), fmt::arg("ref", kRef));
    const RunResult made = sh(script);
    ASSERT_EQ(made.status, 0) << made.err;
    const RunResult loaded =
        run({bin("mycontainer"), "--store", store_, "load", "-q", "-i", work + "/image.tar"});
    ASSERT_EQ(loaded.status, 0) << loaded.out << loaded.err;
  }

  RunResult run_image(const std::string& name, const std::vector<std::string>& flags,
                      const std::vector<std::string>& after_image = {}) {
    std::vector<std::string> argv{bin("mycontainer"), "--store", store_, "run", "--net", "none",
                                  "--name",           name};
    argv.insert(argv.end(), flags.begin(), flags.end());
    argv.emplace_back(kRef);
    argv.insert(argv.end(), after_image.begin(), after_image.end());
    return run(argv);
  }

  static constexpr const char* kRef = "localhost/mct-image:1";
  std::string store_;
};

TEST_F(RunImage, TheImagesConfigMakesTheProcess) {
  const std::string name = unique_name("img-run");
  const RunResult r = run_image(name, {});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "image\n/etc\n1234\n");  // Env, WorkingDir, User (a name in its passwd)
  EXPECT_FALSE(fs::exists(state_dir_of(name)));
  EXPECT_EQ(host_mounts_of(name, store_), "");
}

// A foreground container of an image is listed as a detached one is: the image as it was
// named (it showed the shared mount point, /run/mycontainer/rootfs), how long ago it was made
// and how long it has been up (it showed an ISO date and "running").
TEST_F(RunImage, PsShowsAForegroundContainersImageAndItsTimesAsDockerDoes) {
  const std::string name = unique_name("img-ps");
  const std::string seconds = unique_sleep_seconds();
  Background bg({bin("mycontainer"), "--store", store_, "run", "--net", "none", "--name", name,
                 kRef, "exec /bin/sleep " + seconds});
  ASSERT_TRUE(wait_until([&] { return !pids_matching("/bin/sleep " + seconds).empty(); }))
      << bg.err();
  const RunResult ps = run(
      {bin("mycontainer"), "ps", "--format", "{{.Names}}|{{.Image}}|{{.Status}}|{{.CreatedAt}}"});
  EXPECT_EQ(ps.status, 0) << ps.err;
  const std::regex row(name + "\\|" + kRef +
                       "\\|Up (Less than a second|[0-9]+ seconds?)\\|"
                       "(Less than a second|[0-9]+ seconds?) ago");
  bool found = false;
  for (const auto& line : lines_of(ps.out)) found = found || std::regex_match(line, row);
  EXPECT_TRUE(found) << ps.out;
  kill_sleepers(seconds);
  EXPECT_EQ(bg.wait().status, 128 + SIGKILL);
}

// The writable layer in memory has a bound (engine.cpp upper_size): --storage-opt size=, else
// half of -m, else half of the RAM. A write past it fails with ENOSPC inside the container (not
// the OOM killer, not the host's memory), and the host keeps nothing of it.
TEST_F(RunImage, TheWritableLayerInMemoryHasABound) {
  const HostSnapshot before = HostSnapshot::take();
  const std::string fill = "dd if=/dev/zero of=/big bs=64k count=64 2>&1; df -k / | tail -1";
  const std::string name = unique_name("img-size");
  const RunResult small = run_image(name, {"-u", "0", "--storage-opt", "size=1m"}, {fill});
  EXPECT_EQ(small.status, 0) << small.err;
  EXPECT_TRUE(contains(small.out, "No space left on device")) << small.out;
  EXPECT_TRUE(contains(small.out, " 1024 ")) << small.out;  // df: 1024 KiB in all
  // -m 32m: 16 MiB; 4 MiB fit.
  const RunResult half = run_image(unique_name("img-size"), {"-u", "0", "-m", "32m"}, {fill});
  EXPECT_EQ(half.status, 0) << half.err;
  EXPECT_FALSE(contains(half.out, "No space left")) << half.out;
  EXPECT_TRUE(contains(half.out, " 16384 ")) << half.out;
  // Without either: half of the RAM (tmpfs(5) size=50%), in KiB as df counts.
  const RunResult ram = run_image(unique_name("img-size"), {}, {"df -k / | tail -1"});
  std::istringstream meminfo(read_file("/proc/meminfo"));
  std::string key;
  std::uint64_t total_kib = 0;
  meminfo >> key >> total_kib;  // "MemTotal:       24576000 kB"
  std::istringstream df(ram.out);
  std::string fs_name;
  std::uint64_t size_kib = 0;
  df >> fs_name >> size_kib;
  EXPECT_NEAR(static_cast<double>(size_kib), total_kib / 2.0, total_kib / 100.0) << ram.out;
  EXPECT_FALSE(fs::exists(state_dir_of(name)));
  EXPECT_EQ(host_mounts_of(name, store_), "");
  EXPECT_EQ("", diff(before, HostSnapshot::take()));
}

// Where the writable layer is on disk, --storage-opt size= cannot apply: one line that says
// what to do, docker's exit code 125, and nothing made. (docker refuses it the same way on a
// storage driver that cannot bound a layer.)
TEST_F(RunImage, StorageOptWhereItCannotApplyIsOneLine) {
  const HostSnapshot before = HostSnapshot::take();
  const std::string mc = bin("mycontainer");
  struct Case {
    std::vector<std::string> argv;
    std::string says;
  };
  for (const Case& c : std::vector<Case>{
           {{mc, "--store", store_, "run", "-d", "--storage-opt", "size=1m", kRef}, "add --rm"},
           {{mc, "--store", store_, "run", "--userns", "--storage-opt", "size=1m", kRef},
            "drop --userns"},
           {{mc, "run", "--storage-opt", "size=1m", "--", "/bin/true"}, "--rootfs DIR"},
           {{mc, "--store", store_, "run", "--storage-opt", "inodes=10", kRef}, "only size=SIZE"},
           {{mc, "--store", store_, "run", "--storage-opt", "size=lots", kRef}, "size"}}) {
    SCOPED_TRACE(fmt::format("{}", fmt::join(c.argv, " ")));
    const RunResult r = run(c.argv);
    EXPECT_EQ(r.status, 125) << r.err;
    EXPECT_TRUE(contains(r.err, c.says)) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
  EXPECT_EQ("", diff(before, HostSnapshot::take()));
}

TEST_F(RunImage, FlagsOverrideItAsDockersDo) {
  // Words after the image replace Cmd (the Entrypoint stays: sh -c); -e, -w, -u win.
  const RunResult r =
      run_image(unique_name("img-flags"), {"-e", "FOO=flag", "-w", "/tmp", "-u", "0"},
                {"echo $FOO; pwd; id -u"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "flag\n/tmp\n0\n");
  // --entrypoint replaces the Entrypoint and drops the image's Cmd; the file deleted in the
  // second layer is gone, the other one is there.
  const RunResult ls = run_image(unique_name("img-ep"), {"--entrypoint", "/bin/ls"}, {"/data"});
  EXPECT_EQ(ls.status, 0) << ls.err;
  EXPECT_EQ(ls.out, "keep\n");
}

TEST_F(RunImage, SpecShowsTheLayersAndTheImage) {
  const RunResult r = run({bin("mycontainer"), "--store", store_, "spec", "--net", "none", kRef});
  ASSERT_EQ(r.status, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["process"]["args"],
            nlohmann::json::parse(R"(["/bin/sh", "-c", "echo $FOO; pwd; id -u"])"));
  EXPECT_EQ(j["process"]["cwd"], "/etc");
  EXPECT_EQ(j["process"]["user"]["uid"], 1234);
  const auto layers =
      nlohmann::json::parse(j["annotations"]["io.mycontainer.root.layers"].get<std::string>());
  ASSERT_EQ(layers.size(), 2u) << r.out;
  EXPECT_TRUE(layers[0].get<std::string>().rfind(store_, 0) == 0) << layers;
  EXPECT_EQ(j["annotations"]["io.mycontainer.image"].get<std::string>().rfind("sha256:", 0), 0u);
}

// docker's `run -d IMAGE`: the image's config and layers, kept by a monitor (lifecycle.md);
// `rm -f` leaves no state, no record and no mount of its layers.
TEST_F(RunImage, RunDetachedRunsTheImageAndRmLeavesNothing) {
  const std::string name = unique_name("img-d");
  const RunResult started =
      run({bin("mycontainer"), "--store", store_, "run", "-d", "--net", "none", "--name", name,
           kRef, "echo $FOO; ls /data; id -u; exec sleep 1000"});
  ASSERT_EQ(started.status, 0) << started.err;
  const std::string id = trimmed(started.out);
  ASSERT_EQ(id.size(), 64u) << started.out;
  const auto logs = [&] { return run({bin("mycontainer"), "logs", name}).out; };
  EXPECT_TRUE(wait_until([&] { return logs() == "image\nkeep\n1234\n"; })) << logs();
  const RunResult inspect = run({bin("mycontainer"), "inspect", name});
  ASSERT_EQ(inspect.status, 0) << inspect.err;
  EXPECT_EQ(nlohmann::json::parse(inspect.out)[0]["Config"]["Image"], kRef) << inspect.out;
  EXPECT_TRUE(fs::exists("/run/mycontainer/containers/" + id));

  const RunResult removed = run({bin("mycontainer"), "rm", "-f", name});
  EXPECT_EQ(removed.status, 0) << removed.err;
  EXPECT_FALSE(fs::exists("/run/mycontainer/containers/" + id));
  EXPECT_EQ(host_mounts_of(id, store_), "");
  EXPECT_NE(run({bin("mycontainer"), "inspect", name}).status, 0);
}

// ==========================================================================================
// A detached container's upper layer outlives its runs (#14: `start` runs an exited
// container again, "same spec, same upper layer"); `rmi` weighs exited containers too.
// ==========================================================================================

// Where `run -d` keeps a container's record (runtime/record.hpp records_root, as root).
fs::path record_of(const std::string& id) {
  const char* root = std::getenv("MC_RECORDS_ROOT");
  return fs::path(root != nullptr && *root != '\0' ? root : "/var/lib/mycontainer") / "containers" /
         id;
}

std::size_t entries_in(const fs::path& dir) {
  std::error_code ec;
  std::size_t n = 0;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) ++n;
  return n;
}

class KeptUpper : public RunImage {
 protected:
  void TearDown() override {
    for (const auto& name : names_) mc({"rm", "-f", name});
  }
  RunResult mc(const std::vector<std::string>& args) {
    std::vector<std::string> argv{bin("mycontainer"), "--store", store_};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv);
  }
  // `run -d [FLAGS] IMAGE SCRIPT` as root (the image's user cannot write /data): its id.
  std::string detach(const std::string& name, const std::string& script,
                     const std::vector<std::string>& flags = {}) {
    names_.push_back(name);
    std::vector<std::string> args{"run", "-d", "--net", "none", "-u", "0", "--name", name};
    args.insert(args.end(), flags.begin(), flags.end());
    args.insert(args.end(), {kRef, script});
    const RunResult r = mc(args);
    EXPECT_EQ(r.status, 0) << r.err;
    return trimmed(r.out);
  }
  bool logs_become(const std::string& name, const std::string& want) {
    return wait_until([&] { return mc({"logs", name}).out == want; });
  }
  std::string image_id() {
    const RunResult r = mc({"image", "inspect", kRef});
    return r.status == 0 ? nlohmann::json::parse(r.out)[0]["Id"].get<std::string>() : "";
  }
  std::vector<std::string> names_;
};

// Each run appends a line to /data/runs and says how many there are.
std::string counting_script(const std::string& seconds) {
  return "echo run >> /data/runs; echo $(wc -l < /data/runs) runs; exec sleep " + seconds;
}

TEST_F(KeptUpper, StopStartAndRestartKeepTheFilesRmRemovesThem) {
  const std::string name = unique_name("img-keep"), seconds = unique_sleep_seconds();
  const std::string id = detach(name, counting_script(seconds));
  ASSERT_EQ(id.size(), 64u);
  ASSERT_TRUE(logs_become(name, "1 runs\n")) << mc({"logs", name}).out;
  // The upper layer is the record's, not the state's; and not volatile (overlayfs.rst: a
  // volatile upper is not to be mounted again).
  const fs::path upper = record_of(id) / "overlay/upper";
  EXPECT_EQ(read_file((upper / "data/runs").string()), "run\n");
  EXPECT_FALSE(fs::exists(state_dir_of(id) / "overlay"));
  const RunResult root = mc({"exec", name, "grep", " / / ", "/proc/self/mountinfo"});
  EXPECT_TRUE(contains(root.out, " overlay ")) << root.out << root.err;
  EXPECT_FALSE(contains(root.out, "volatile")) << root.out;

  ASSERT_EQ(mc({"stop", "-t", "1", name}).status, 0);
  EXPECT_FALSE(fs::exists(state_dir_of(id)));
  EXPECT_TRUE(fs::exists(upper / "data/runs"));
  ASSERT_EQ(mc({"start", name}).status, 0);
  EXPECT_TRUE(logs_become(name, "1 runs\n2 runs\n")) << mc({"logs", name}).out;
  ASSERT_EQ(mc({"restart", "-t", "1", name}).status, 0);
  EXPECT_TRUE(logs_become(name, "1 runs\n2 runs\n3 runs\n")) << mc({"logs", name}).out;

  // Another container of the image has a fresh upper layer of its own.
  const RunResult other = mc({"run", "--net", "none", "-u", "0", "--name", unique_name("img-other"),
                              kRef, "cat /data/runs 2>/dev/null || echo clean"});
  EXPECT_EQ(other.status, 0) << other.err;
  EXPECT_EQ(other.out, "clean\n");

  ASSERT_EQ(mc({"rm", "-f", name}).status, 0);
  EXPECT_FALSE(fs::exists(record_of(id))) << "record or upper layer left";
  EXPECT_FALSE(fs::exists(state_dir_of(id)));
  EXPECT_EQ(host_mounts_of(id, store_), "");
  EXPECT_TRUE(wait_until([&] { return pids_matching("sleep " + seconds).empty(); }));
}

// The monitor killed (SIGKILL), then `cleanup`: the state in /run is gone, as after a reboot.
// The upper layer is the record's: `start` finds the container's files.
TEST_F(KeptUpper, AKilledMonitorAndCleanupLeaveTheFilesForStart) {
  const std::string name = unique_name("img-kmon"), seconds = unique_sleep_seconds();
  const std::string id = detach(name, counting_script(seconds));
  ASSERT_TRUE(logs_become(name, "1 runs\n")) << mc({"logs", name}).out;
  const RunResult inspect = mc({"inspect", name});
  const pid_t monitor = nlohmann::json::parse(inspect.out)[0]["State"]["MonitorPid"].get<pid_t>();
  ASSERT_GT(monitor, 0) << inspect.out;
  ASSERT_EQ(::kill(monitor, SIGKILL), 0);
  ASSERT_TRUE(wait_until([&] { return ::kill(monitor, 0) != 0; }));
  EXPECT_EQ(mc({"cleanup"}).status, 0);
  EXPECT_FALSE(fs::exists(state_dir_of(id)));
  EXPECT_TRUE(wait_until([&] { return pids_matching("sleep " + seconds).empty(); }));
  EXPECT_TRUE(fs::exists(record_of(id) / "overlay/upper/data/runs"));

  ASSERT_EQ(mc({"start", name}).status, 0);
  EXPECT_TRUE(logs_become(name, "1 runs\n2 runs\n")) << mc({"logs", name}).out;
  ASSERT_EQ(mc({"rm", "-f", name}).status, 0);
  EXPECT_FALSE(fs::exists(record_of(id)));
  EXPECT_EQ(host_mounts_of(id, store_), "");
}

// --rm: never started again, so nothing is kept: its upper layer is in memory, in its own
// mount namespace, and goes with it, record and all.
TEST_F(KeptUpper, RunDetachedWithRmKeepsNoUpperLayer) {
  const std::string name = unique_name("img-drm"), seconds = unique_sleep_seconds();
  const std::string id = detach(name, "echo x > /data/f; exec sleep " + seconds, {"--rm"});
  std::vector<int> sleeping;
  ASSERT_TRUE(wait_until([&] { return !(sleeping = pids_matching("sleep " + seconds)).empty(); }));
  EXPECT_TRUE(wait_until(
      [&] { return fs::exists(fmt::format("/proc/{}/root/data/f", sleeping.front())); }));
  EXPECT_FALSE(fs::exists(state_dir_of(id) / "overlay"));
  EXPECT_FALSE(fs::exists(record_of(id) / "overlay"));
  ASSERT_EQ(mc({"stop", "-t", "1", name}).status, 0);
  EXPECT_TRUE(wait_until([&] { return !fs::exists(record_of(id)); }));
  EXPECT_FALSE(fs::exists(state_dir_of(id)));
}

// docker's rmi with an exited container of the image (not removed: `start` runs it again):
// refused without -f, by name and by id, with docker's words and exit code (1). -f takes the
// name and the image, but the layers stay for the container: `start` still runs it; its `rm`
// takes them.
TEST_F(KeptUpper, RmiWeighsAnExitedContainerAndForceKeepsItsLayers) {
  const std::string name = unique_name("img-rmi");
  const std::string id = detach(name, "echo hi");
  ASSERT_EQ(mc({"wait", name}).out, "0\n");
  const std::string image = image_id();
  ASSERT_FALSE(image.empty());
  const std::string short_image = image.substr(7, 12), short_id = id.substr(0, 12);
  RunResult r = mc({"rmi", kRef});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, fmt::format("mycontainer: conflict: unable to remove repository reference "
                               "\"{}\" (must force) - container {} is using its referenced image "
                               "{}\n",
                               kRef, short_id, short_image));
  r = mc({"rmi", image});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, fmt::format("mycontainer: conflict: unable to delete {} (must be forced) - "
                               "image is being used by stopped container {}\n",
                               short_image, short_id));
  EXPECT_EQ(image_id(), image) << "refused, yet changed";

  r = mc({"rmi", "-f", kRef});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, fmt::format("Untagged: {}\nDeleted: {}\n", kRef, image));
  EXPECT_EQ(entries_in(fs::path(store_) / "images"), 0u);
  EXPECT_EQ(entries_in(fs::path(store_) / "layers"), 2u) << "the container's layers went";
  r = mc({"start", "-a", name});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "hi\n");
  ASSERT_EQ(mc({"rm", name}).status, 0);
  EXPECT_EQ(entries_in(fs::path(store_) / "layers"), 0u) << "rm left the deleted image's layers";
  EXPECT_EQ(entries_in(fs::path(store_) / "blobs/sha256"), 0u);
}

// A running container holds its image against everything: rmi -f by id is refused ("cannot
// be forced"); rmi -f by name takes the name only, and the image stays without one until it
// is removed by id (docker's dangling image).
TEST_F(KeptUpper, RmiOfAnImageARunningContainerUses) {
  const std::string name = unique_name("img-rmir"), seconds = unique_sleep_seconds();
  const std::string id = detach(name, "exec sleep " + seconds);
  const std::string image = image_id();
  ASSERT_FALSE(image.empty());
  RunResult r = mc({"rmi", "-f", image});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, fmt::format("mycontainer: conflict: unable to delete {} (cannot be forced) - "
                               "image is being used by running container {}\n",
                               image.substr(7, 12), id.substr(0, 12)));
  r = mc({"rmi", "-f", kRef});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, fmt::format("Untagged: {}\n", kRef));
  EXPECT_EQ(entries_in(fs::path(store_) / "images"), 1u);
  ASSERT_EQ(mc({"rm", "-f", name}).status, 0);
  r = mc({"rmi", image});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, fmt::format("Deleted: {}\n", image));
  EXPECT_EQ(entries_in(fs::path(store_) / "layers"), 0u);
}

// --userns as root: the store is root's and 0700, which the container's root (host uid
// 1000000) cannot enter: the child's own mount of the overlay failed with
// "fsconfig('lowerdir+ STORE/layers/HEX'): Permission denied". The runtime mounts it instead,
// the layers idmapped into the container's user namespace (runtime/overlay.hpp,
// make_overlay_for_user_namespace): the image's files show with the image's owners (root's
// as 0, app's as 1234), what the container writes belongs to its root (0 inside, the mapped
// uid on the host), the layers stay as they were, the store stays 0700, and nothing is left.
TEST_F(RunImage, WithUsernsTheImagesOwnersShowAndWritesAreTheMappedRoots) {
  if (!ctr::kernel_at_least(6, 15)) {
    // Before Linux 6.15 overlayfs takes no detached layers (the VM's kernel): one line that
    // says so, exit 125, and nothing made.
    const HostSnapshot before = HostSnapshot::take();
    const RunResult r = run({bin("mycontainer"), "--store", store_, "run", "--net", "none",
                             "--userns", kRef, "/bin/true"});
    EXPECT_EQ(r.status, 125) << r.err;
    EXPECT_TRUE(contains(r.err, "needs Linux 6.15 or later")) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_EQ("", diff(before, HostSnapshot::take()));
    return;
  }
  const std::string name = unique_name("img-userns"), seconds = unique_sleep_seconds();
  const HostSnapshot before = HostSnapshot::take();
  Background runtime({bin("mycontainer"), "--store", store_, "run", "--net", "none", "--userns",
                      "-u", "0", "--name", name, kRef,
                      "cat /data/keep; stat -c '%u:%g' /etc/passwd /data; echo w > /data/new; "
                      "stat -c '%u:%g' /data/new; touch /etc/passwd && echo root-writes; "
                      "cat /proc/self/uid_map; exec /bin/sleep " +
                          seconds});
  ASSERT_TRUE(wait_until([&] { return !pids_matching("/bin/sleep " + seconds).empty(); }))
      << runtime.wait().err;
  // On the host: the upper layer's files belong to the mapped root; the directory above it is
  // the runtime's (host root resolves it when it mounts: no one else may swap it), and the
  // store is still root's alone.
  const fs::path overlay = state_dir_of(name) / "overlay";
  struct stat st {};
  ASSERT_TRUE(wait_until([&] { return ::stat((overlay / "upper/data/new").c_str(), &st) == 0; }));
  EXPECT_EQ(st.st_uid, 1000000U);
  ASSERT_EQ(::stat(overlay.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 0U);
  EXPECT_EQ(st.st_mode & 07777, 0711U);
  ASSERT_EQ(::stat(store_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700U);
  kill_sleepers(seconds);
  const RunResult ended = runtime.wait();
  EXPECT_EQ(ended.status, 128 + SIGKILL) << ended.err;
  EXPECT_EQ(ended.out, "kept\n0:0\n0:0\n0:0\nroot-writes\n         0    1000000      65536\n")
      << ended.err;
  // The layer that has /data/keep got nothing: the write went to the upper layer.
  EXPECT_EQ(run({"/bin/sh", "-c", "ls " + store_ + "/layers/*/data/new 2>/dev/null"}).out, "");
  EXPECT_FALSE(fs::exists(state_dir_of(name)));
  EXPECT_EQ(host_mounts_of(name, store_), "");
  EXPECT_EQ("", diff(before, HostSnapshot::take()));
}

// The refusal before Linux 6.15 comes before the runtime makes anything (engine.cpp): no state
// directory, no child. Checked on any kernel: `setarch --uname-2.6` has uname(2) report a 2.6
// release to the runtime (personality(2) UNAME26). --explain narrates each step: none may
// come before the refusal. `run -d` too, before its record.
TEST_F(RunImage, WithUsernsOnAnOldKernelIsRefusedBeforeAnythingIsMade) {
  for (const bool detached : {false, true}) {
    SCOPED_TRACE(detached ? "run -d" : "run");
    const HostSnapshot before = HostSnapshot::take();
    std::vector<std::string> argv{"/usr/bin/setarch", "--uname-2.6", bin("mycontainer"),
                                  "--store",          store_,        "run",
                                  "--explain",        "--net",       "none",
                                  "--userns"};
    if (detached) argv.emplace_back("-d");
    argv.insert(argv.end(), {kRef, "/bin/true"});
    const RunResult r = run(argv);
    ASSERT_NE(r.status, 127) << "setarch (util-linux) is missing: " << r.err;
    EXPECT_EQ(r.status, 125) << r.err;
    EXPECT_TRUE(contains(r.err, "needs Linux 6.15 or later (")) << r.err;
    ASSERT_FALSE(r.err.empty());
    // What it narrates first only reads (the image's /etc/passwd); nothing is made.
    for (const char* made : {"mkdir", "clone", "state.json", "cgroup"}) {
      EXPECT_FALSE(contains(r.err, made)) << made << " before the refusal:\n" << r.err;
    }
    EXPECT_TRUE(contains(lines_of(r.err).back(), "needs Linux 6.15")) << r.err;
    EXPECT_EQ("", diff(before, HostSnapshot::take()));
  }
}

TEST_F(RunImage, AMissingImageIsOneClearLine) {
  // No such image, and the pull of it fails (no registry): what to do instead, in one line.
  const RunResult r = run({bin("mycontainer"), "--store", store_, "run", "--net", "none", "ls"});
  EXPECT_EQ(r.status, 125);
  EXPECT_TRUE(contains(r.err, "image 'ls' is not in the store")) << r.err;
  EXPECT_TRUE(contains(r.err, "mycontainer run -- ls")) << r.err;
}

}  // namespace
}  // namespace mc::test
