// Step 7, the image store rootless (#13, docs/images.md "Rootless"): an ordinary user with a
// range in /etc/subuid imports and loads images into its own store ($XDG_DATA_HOME/mycontainer),
// lists them, runs them in the foreground and detached, and removes them. The image is made
// offline by the test (image_fixtures.hpp): the project's rootfs as the bottom layer, a layer
// of its own above with a whiteout, an opaque directory, a set-user-ID file, a FIFO and a
// device node. Both sides: what the user sees, and that every file of the store is the user's,
// that the device node was not made, and that root's store and state are untouched.
//
// Making the user needs root: the tests skip without it, and fail under MC_REQUIRE_ROOT=1.
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "background.hpp"
#include "image_fixtures.hpp"
#include "mycontainer.hpp"
#include "rootless_user.hpp"

namespace mc::test {
namespace {

namespace fs = std::filesystem;
constexpr const char* kRef = "localhost/mct-rootless:1";
constexpr const char* kImported = "localhost/mct-rootless-imported:1";

// What root's store holds: its index and the names in its directories (to prove the user's
// commands wrote nothing there).
std::string root_store_listing() {
  const fs::path root = "/var/lib/mycontainer";
  std::string out = read_file((root / "repositories.json").string());
  for (const char* sub : {"images", "layers", "blobs/sha256", "tmp"}) {
    for (const auto& name : names_in(root / sub)) out += std::string(sub) + "/" + name + "\n";
  }
  return out;
}

class RootlessImage : public ::testing::Test {
 protected:
  void SetUp() override {
    MC_REQUIRE_ROOT();
    user_ = RootlessUserEnvironment::get();
    if (const auto why = subordinate_ids_missing(user_)) MC_SKIP_OR_FAIL(*why);
    home_.emplace(user_);
    root_before_ = root_store_listing();
    // The image, made by root in a directory the user may read.
    fs::permissions(work_.path(), fs::perms(0755));
    ASSERT_EQ(sh("tar -C " + rootfs() + " -czf " + rootfs_tgz().string() + " .").status, 0);
    const fs::path top = work_ / "top.tgz";
    write_tar(top, {{"data", 'd', "", 0755},
                    {"data/keep", 'f', "kept\n"},
                    {"data/.wh.gone", 'f', ""},  // deletes nothing below: a whiteout all the same
                    {"opaque", 'd', "", 0755},
                    {"opaque/.wh..wh..opq", 'f', ""},
                    {"opaque/only", 'f', "only\n"},
                    {"bin/suid", 'f', "#!/bin/sh\necho suid\n", 04755},
                    {"fifo", 'p', "", 0600},
                    {"dev/evil", 'c', "", 0666, {}, 1, 3}});
    make_layout(work_ / "layout", {rootfs_tgz(), top}, kRef,
                {{"config",
                  {{"Cmd", {"/bin/sh", "-c", "cat /data/keep; ls /opaque; id -u"}},
                   {"Env", {"FROM_IMAGE=yes"}}}}});
    ASSERT_EQ(sh("tar -C " + (work_ / "layout").string() + " -cf " + archive().string() +
                 " . && chmod 0644 " + archive().string() + " " + rootfs_tgz().string())
                  .status,
              0);
  }
  void TearDown() override {
    if (!home_) return;
    for (const auto& name : names_) mc({"rm", "-f", name});
    EXPECT_TRUE(wait_until([&] { return names_in(home_->state_root() / "containers").empty(); }))
        << "state left";
    EXPECT_EQ(names_in(home_->data_root() / "containers"), std::vector<std::string>{})
        << "records left";
    EXPECT_TRUE(wait_until([&] {
      return processes_mentioning(home_->state_root().string()).empty();
    })) << "a monitor or runtime of the user's still runs";
    EXPECT_EQ(root_store_listing(), root_before_) << "root's store changed";
  }

  fs::path rootfs_tgz() const { return work_ / "rootfs.tgz"; }
  fs::path archive() const { return work_ / "image.tar"; }
  fs::path store() const { return home_->data_root(); }
  RunResult mc(const std::vector<std::string>& args) {
    std::vector<std::string> command{bin("mycontainer")};
    command.insert(command.end(), args.begin(), args.end());
    return run(user_argv(user_, command, home_->env()));
  }
  // The directory of the image's top layer in the user's store.
  fs::path top_layer() {
    const auto r = mc({"image", "inspect", kRef});
    EXPECT_EQ(r.status, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    return j.at(0).at("GraphDriver").at("Data").at("LayerDirs").back().get<std::string>();
  }
  // Files under dir that are not the user's ("" when all are).
  std::string not_the_users(const fs::path& dir) {
    std::string out;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(dir, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      struct stat st {};
      if (::lstat(it->path().c_str(), &st) == 0 &&
          (st.st_uid != user_.uid || st.st_gid != user_.gid)) {
        out += fmt::format("{} {}:{}\n", it->path().string(), st.st_uid, st.st_gid);
      }
    }
    return out;
  }

  RootlessUser user_;
  std::optional<RootlessHome> home_;
  TempDir work_{"mct-rlimg"};
  std::string root_before_;
  std::vector<std::string> names_;
};

TEST_F(RootlessImage, LoadImportListAndRemoveInTheUsersOwnStore) {
  const auto load = mc({"load", "-i", archive().string()});
  ASSERT_EQ(load.status, 0) << load.err;
  EXPECT_TRUE(contains(load.out, std::string("Loaded image: ") + kRef)) << load.out;
  const auto import = mc({"import", rootfs_tgz().string(), kImported});
  ASSERT_EQ(import.status, 0) << import.err;
  EXPECT_TRUE(contains(import.out, "sha256:")) << import.out;
  const auto images = mc({"images"});
  ASSERT_EQ(images.status, 0) << images.err;
  EXPECT_TRUE(contains(images.out, "localhost/mct-rootless ")) << images.out;
  EXPECT_TRUE(contains(images.out, "localhost/mct-rootless-imported ")) << images.out;
  // Root's `images` does not list them: the user's store is its own.
  EXPECT_FALSE(contains(run({bin("mycontainer"), "images"}).out, "mct-rootless")) << "root's";

  // The store: in XDG_DATA_HOME, every file the user's, its root closed to others (its layers
  // hold the image's set-user-ID files).
  struct stat st {};
  ASSERT_EQ(::stat(store().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  EXPECT_TRUE(fs::exists(store() / "repositories.json"));
  EXPECT_EQ(not_the_users(store()), "");
  EXPECT_EQ(names_in(store() / "tmp"), std::vector<std::string>{});

  // The import shares the load's bottom layer (the same tarball): one directory, two layers.
  EXPECT_EQ(names_in(store() / "layers").size(), 2u);

  // rmi: by name, then the other; nothing of them left.
  const auto rmi = mc({"rmi", kRef});
  EXPECT_EQ(rmi.status, 0) << rmi.err;
  EXPECT_TRUE(contains(rmi.out, std::string("Untagged: ") + kRef)) << rmi.out;
  EXPECT_TRUE(contains(rmi.out, "Deleted: sha256:")) << rmi.out;
  EXPECT_EQ(names_in(store() / "layers").size(), 1u) << "the imported image keeps its layer";
  EXPECT_EQ(mc({"rmi", kImported}).status, 0);
  EXPECT_EQ(names_in(store() / "layers"), std::vector<std::string>{});
  EXPECT_EQ(names_in(store() / "images"), std::vector<std::string>{});
  EXPECT_EQ(names_in(store() / "blobs/sha256"), std::vector<std::string>{});
  EXPECT_EQ(names_in(store() / "tmp"), std::vector<std::string>{});
}

// What an unprivileged unpacker can and cannot make: no device node (mknod(2) needs
// CAP_MKNOD in the host's namespace), whiteouts still (a 0/0 character device is allowed),
// the opaque directory marked with user.overlay.opaque (for -o userxattr), the set-user-ID
// bit and the FIFO as the image says, every owner the user (no chown(2)).
TEST_F(RootlessImage, TheUnpackerMakesNoDeviceAndKeepsModesAsTheImageSays) {
  ASSERT_EQ(mc({"load", "-q", "-i", archive().string()}).status, 0);
  const fs::path top = top_layer();
  EXPECT_FALSE(fs::exists(top / "dev/evil")) << "a device node in a rootless store";
  struct stat st {};
  ASSERT_EQ(::lstat((top / "data/gone").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0)) << "not a whiteout";
  char value[4] = {};
  EXPECT_EQ(::getxattr((top / "opaque").c_str(), "user.overlay.opaque", value, sizeof value), 1);
  EXPECT_EQ(::getxattr((top / "opaque").c_str(), "trusted.overlay.opaque", value, sizeof value),
            -1);
  ASSERT_EQ(::lstat((top / "bin/suid").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 04755u);
  EXPECT_EQ(st.st_uid, user_.uid) << "set-user-ID of the user, never of root";
  ASSERT_EQ(::lstat((top / "fifo").c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  EXPECT_EQ(not_the_users(store()), "");
}

TEST_F(RootlessImage, RunAndRunDetachedFromTheUsersStore) {
  ASSERT_EQ(mc({"load", "-q", "-i", archive().string()}).status, 0);
  // run IMAGE: the image's command, its layers merged (the opaque directory hides the
  // rootfs's nothing, the whiteout stays hidden), root inside, the user outside.
  const std::string name = unique_name("mctrli");
  const auto r = mc({"run", "--rm", "--name", name, kRef});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "kept\nonly\n0\n");
  const auto env = mc(
      {"run", "--rm", kRef, "/bin/sh", "-c", "echo $FROM_IMAGE; test -e /data/gone || echo gone"});
  EXPECT_EQ(env.status, 0) << env.err;
  EXPECT_EQ(env.out, "yes\ngone\n");
  // A change in the container goes to its own upper directory, never into the layer.
  const auto write =
      mc({"run", "--rm", kRef, "/bin/sh", "-c", "echo changed > /data/keep; cat /data/keep"});
  EXPECT_EQ(write.out, "changed\n") << write.err;
  EXPECT_EQ(read_file((top_layer() / "data/keep").string()), "kept\n");

  // run -d IMAGE: ps names the image, exec runs in it; rmi is refused while it runs.
  const std::string detached = unique_name("mctrli"), seconds = unique_sleep_seconds();
  names_.push_back(detached);
  const auto d = mc({"run", "-d", "--name", detached, kRef, "/bin/sleep", seconds});
  ASSERT_EQ(d.status, 0) << d.err;
  EXPECT_TRUE(wait_until([&] {
    return contains(mc({"ps", "--format", "{{.Names}} {{.Image}}"}).out,
                    detached + " " + kRef + "\n");
  })) << mc({"ps"}).out;
  const auto exec = mc({"exec", detached, "cat", "/data/keep"});
  EXPECT_EQ(exec.status, 0) << exec.err;
  EXPECT_EQ(exec.out, "kept\n");
  const auto refused = mc({"rmi", kRef});
  EXPECT_EQ(refused.status, 1) << refused.out;  // docker's conflict, its exit code
  EXPECT_TRUE(contains(refused.err, "is using its referenced image")) << refused.err;
  EXPECT_EQ(count_lines(refused.err), 1u) << refused.err;
  const auto rm = mc({"rm", "-f", detached});
  EXPECT_EQ(rm.status, 0) << rm.err;
  EXPECT_TRUE(pids_matching("/bin/sleep " + seconds).empty());
  const auto rmi = mc({"rmi", kRef});
  EXPECT_EQ(rmi.status, 0) << rmi.err;
  EXPECT_EQ(names_in(store() / "layers"), std::vector<std::string>{});
}

}  // namespace
}  // namespace mc::test
