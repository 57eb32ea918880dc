// Hostile image layers, against the store's unpacker (step7_full_container/image/unpack.cpp,
// SECURITY.md "Images"): a layer must never write outside its directory, whatever its names,
// symlinks and hardlinks say; device nodes, setuid bits and xattrs are kept as the image says
// (as root), except overlayfs's own xattrs, which only whiteouts may produce. Rootless (an
// ordinary user loading into its own store): the same containment, no device nodes, every
// file the user's.
//
// Each test loads one layer through `mycontainer load` into a temporary store, and checks
// both sides: the refusal (exit 125, one line) or the containment (the file is inside the
// layer), and that the host target is untouched and nothing is left in the store.
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "image/store.hpp"
#include "image_fixtures.hpp"
#include "rootless_user.hpp"

namespace mc::test {
namespace {

using mycontainer::image::Store;

class ImageExtractAttack : public ::testing::Test {
 protected:
  void SetUp() override { MC_REQUIRE_ROOT(); }
  TempDir work_{"mct-imgatk"};
  fs::path store_ = work_ / "store";
  // Where a hostile layer aims: a directory outside the store, made by the test.
  TempDir outside_{"mct-imgatk-out"};

  // Rootless (ImageExtractAttackRootless): the user that loads; root when none.
  std::optional<RootlessUser> user_;

  // Loads one layer made of entries; the result of `mycontainer load`.
  RunResult load(const std::vector<TarEntry>& entries) {
    const fs::path layer = work_ / "layer.tgz";
    write_tar(layer, entries);
    make_layout(work_ / "layout", {layer}, "localhost/attack:1");
    sh("tar -C " + (work_ / "layout").string() + " -cf " + (work_ / "a.tar").string() +
       " . && chmod 0644 " + (work_ / "a.tar").string());
    if (user_) {
      return run(user_argv(*user_, {bin("mycontainer"), "--store", store_.string(), "load", "-i",
                                    (work_ / "a.tar").string()}));
    }
    return mc_image(store_, {"load", "-i", (work_ / "a.tar").string()});
  }
  fs::path layer_dir() {
    const auto image = Store(store_).find("localhost/attack:1");
    if (!image) return {};
    return Store(store_).layer_dirs(*image).at(0);
  }
  void expect_refused_and_nothing_left(const RunResult& r, const std::string& why) {
    EXPECT_EQ(r.status, 125) << r.out << r.err;
    EXPECT_NE(r.err.find(why), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    for (const char* sub : {"layers", "images", "tmp"}) {
      EXPECT_EQ(entries_under(store_ / sub), std::vector<std::string>{}) << sub;
    }
  }
  void expect_outside_untouched() {
    EXPECT_EQ(entries_under(outside_.path()), std::vector<std::string>{});
  }
};

TEST_F(ImageExtractAttack, DotDotNameIsRefused) {
  const std::string rel = "../../../../../../.." + outside_.path().string() + "/pwned";
  expect_refused_and_nothing_left(load({{rel, 'f', "x"}}), "a name with '..'");
  expect_outside_untouched();
}

TEST_F(ImageExtractAttack, AbsoluteNameStaysInsideTheLayer) {
  const auto r = load({{outside_.path().string() + "/pwned", 'f', "x"}});
  ASSERT_EQ(r.status, 0) << r.err;
  expect_outside_untouched();
  EXPECT_EQ(read_file((layer_dir() / outside_.path().relative_path() / "pwned").string()), "x");
}

TEST_F(ImageExtractAttack, WritingThroughASymlinkStaysInside) {
  // "link" points at the host directory (absolute) and at it again by "../" (relative);
  // later entries write through them. RESOLVE_IN_ROOT resolves both inside the layer.
  const std::string up = "../../../../../../../.." + outside_.path().string();
  const auto r = load({{"abs", 'l', outside_.path().string()},
                       {"rel", 'l', up},
                       {outside_.path().relative_path().string(), 'd', "", 0755},
                       {"abs/pwned1", 'f', "1"},
                       {"rel/pwned2", 'f', "2"}});
  ASSERT_EQ(r.status, 0) << r.err;
  expect_outside_untouched();
  const fs::path inside = layer_dir() / outside_.path().relative_path();
  EXPECT_EQ(read_file((inside / "pwned1").string()), "1");
  EXPECT_EQ(read_file((inside / "pwned2").string()), "2");
  // The symlinks themselves are kept as the image says: they are only ever followed inside.
  EXPECT_EQ(fs::read_symlink(layer_dir() / "abs"), outside_.path());
}

TEST_F(ImageExtractAttack, SymlinkToAMissingHostDirectoryIsRefused) {
  const auto r = load({{"link", 'l', outside_.path().string()}, {"link/pwned", 'f', "x"}});
  expect_refused_and_nothing_left(r, "openat2");
  expect_outside_untouched();
}

TEST_F(ImageExtractAttack, HardlinkToAHostFileIsRefused) {
  const fs::path secret = outside_ / "secret";
  std::ofstream(secret) << "host secret";
  for (const std::string& target : {secret.string(), "../../../../../../.." + secret.string()}) {
    const auto r = load({{"stolen", 'h', target}});
    EXPECT_EQ(r.status, 125) << target;
    for (const char* sub : {"layers", "images", "tmp"}) {
      EXPECT_EQ(entries_under(store_ / sub), std::vector<std::string>{}) << sub;
    }
  }
  EXPECT_EQ(fs::hard_link_count(secret), 1u);
  EXPECT_EQ(read_file(secret.string()), "host secret");
}

TEST_F(ImageExtractAttack, HardlinkThroughASymlinkStaysInside) {
  const fs::path secret = outside_ / "secret";
  std::ofstream(secret) << "host secret";
  // "dir" -> the host directory; "stolen" hardlinks "dir/secret": the layer has no such file.
  const auto r = load({{"dir", 'l', outside_.path().string()}, {"stolen", 'h', "dir/secret"}});
  EXPECT_EQ(r.status, 125) << r.out;
  EXPECT_EQ(fs::hard_link_count(secret), 1u);
}

TEST_F(ImageExtractAttack, NameWithANulIsCutThereAndStaysInside) {
  // A ustar header whose name field is "ok\0/../../x": the name ends at the NUL.
  const fs::path layer = work_ / "nul.tar";
  char block[1024] = {};
  const auto put = [&](std::size_t at, std::string_view text) {
    std::copy(text.begin(), text.end(), block + at);
  };
  put(0, std::string_view("ok\0/../../../../pwned", 21));
  put(100, "0000644");
  put(108, "0000000");
  put(116, "0000000");
  put(124, "00000000001");
  put(136, "00000000000");
  block[156] = '0';
  put(257, std::string_view("ustar\0"
                            "00",
                            8));
  std::memset(block + 148, ' ', 8);
  unsigned sum = 0;
  for (int i = 0; i < 512; ++i) sum += static_cast<unsigned char>(block[i]);
  std::snprintf(block + 148, 8, "%06o", sum);
  block[512] = 'x';
  std::string tar(block, sizeof block);
  tar += std::string(1024, '\0');
  std::ofstream(layer, std::ios::binary) << tar;
  make_layout(work_ / "layout", {layer}, "localhost/attack:1");
  sh("tar -C " + (work_ / "layout").string() + " -cf " + (work_ / "a.tar").string() + " .");
  const auto r = mc_image(store_, {"load", "-i", (work_ / "a.tar").string()});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(read_file((layer_dir() / "ok").string()), "x");
  EXPECT_FALSE(fs::exists(work_ / "pwned"));
  EXPECT_FALSE(fs::exists(store_ / "pwned"));
}

TEST_F(ImageExtractAttack, DevicesSetuidAndXattrsAsTheImageSays) {
  const auto r = load({{"null", 'c', "", 0666, {}, 1, 3},
                       {"suid", 'f', "#!/bin/sh\n", 04755},
                       {"tagged", 'f', "x", 0644, {{"user.origin", "image"}}}});
  ASSERT_EQ(r.status, 0) << r.err;
  struct stat st {};
  ASSERT_EQ(::lstat((layer_dir() / "null").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(st.st_rdev, makedev(1, 3));
  ASSERT_EQ(::lstat((layer_dir() / "suid").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 04755u);
  char value[16] = {};
  EXPECT_EQ(::getxattr((layer_dir() / "tagged").c_str(), "user.origin", value, sizeof value), 5);
  EXPECT_STREQ(value, "image");
}

// The unpacker creates a file with its final mode where the umask allows (no fchmod after),
// and leaves a directory's 0755 from mkdir where the image wants that: whatever the caller's
// umask, every mode must still be the image's.
TEST_F(ImageExtractAttack, ModesAsTheImageSaysWhateverTheUmask) {
  const mode_t old_umask = ::umask(077);
  const auto r = load({{"ro", 'f', "x", 0444},
                       {"none", 'f', "x", 0},
                       {"open", 'f', "x", 0777},
                       {"sticky", 'd', "", 01777},
                       {"priv", 'd', "", 0700},
                       {"priv/x", 'f', "y", 0640},
                       {"plain", 'd', "", 0755},
                       {"plain/y", 'f', "z", 0644}});
  ::umask(old_umask);
  ASSERT_EQ(r.status, 0) << r.err;
  const std::vector<std::pair<std::string, mode_t>> want{
      {"ro", 0444},   {"none", 0},      {"open", 0777},  {"sticky", 01777},
      {"priv", 0700}, {"priv/x", 0640}, {"plain", 0755}, {"plain/y", 0644}};
  for (const auto& [name, mode] : want) {
    struct stat st {};
    ASSERT_EQ(::lstat((layer_dir() / name).c_str(), &st), 0) << name;
    EXPECT_EQ(st.st_mode & 07777, mode) << name;
  }
}

// tar's rule: a later entry of the same name replaces the earlier one, in a subdirectory as
// at the top (the unpacker keeps a few parent directories open, and must not keep using one
// across a removal: it once failed here with "openat('f'): Bad file descriptor").
TEST_F(ImageExtractAttack, ALaterEntryReplacesAnEarlierOneInASubdirectory) {
  const auto r = load({{"d", 'd', "", 0755},
                       {"d/f", 'f', "first"},
                       {"d/f", 'f', "second"},
                       {"d/l", 'l', "f"},
                       {"d/l", 'l', "g"},
                       {"d/h", 'f', "x"},
                       {"d/h", 'h', "d/f"},
                       {"d/e", 'd', "", 0755},
                       {"d/e", 'f', "now a file"}});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(read_file((layer_dir() / "d/f").string()), "second");
  EXPECT_EQ(fs::read_symlink(layer_dir() / "d/l"), "g");
  EXPECT_EQ(fs::hard_link_count(layer_dir() / "d/f"), 2u);
  EXPECT_EQ(read_file((layer_dir() / "d/e").string()), "now a file");
  expect_outside_untouched();
}

TEST_F(ImageExtractAttack, OverlayXattrsFromTheImageAreRefused) {
  // trusted.overlay.redirect / opaque set by the image would steer overlayfs: only our
  // whiteout conversion may write overlay's xattrs.
  for (const char* key :
       {"trusted.overlay.opaque", "trusted.overlay.redirect", "user.overlay.opaque"}) {
    const auto r = load({{"d", 'd', "", 0755, {{key, "y"}}}});
    expect_refused_and_nothing_left(r, "overlayfs's own xattr");
  }
}

TEST_F(ImageExtractAttack, WhiteoutNamesCannotEscape) {
  // ".wh.." would whiteout the parent directory's parent: refused.
  expect_refused_and_nothing_left(load({{"d/.wh..", 'f', ""}}), "bad whiteout");
  expect_outside_untouched();
}

TEST_F(ImageExtractAttack, ABlobThatIsASymlinkToAHostFileIsNotRead) {
  // The archive's config blob is a symlink to a host file with exactly the config's bytes:
  // followed, its digest would check out and the store would copy the host's file.
  const fs::path layer = work_ / "layer.tgz";
  write_tar(layer, {{"a", 'f', "x"}});
  const fs::path layout = work_ / "layout";
  make_layout(layout, {layer}, "localhost/attack:1");
  const auto index = nlohmann::json::parse(read_file((layout / "index.json").string()));
  const auto manifest = nlohmann::json::parse(read_file(
      (layout / "blobs/sha256" / index["manifests"][0]["digest"].get<std::string>().substr(7))
          .string()));
  const fs::path config =
      layout / "blobs/sha256" / manifest["config"]["digest"].get<std::string>().substr(7);
  fs::copy_file(config, outside_ / "host-file");
  fs::remove(config);
  fs::create_symlink(outside_ / "host-file", config);
  sh("tar -C " + layout.string() + " -cf " + (work_ / "a.tar").string() + " .");
  const auto r = mc_image(store_, {"load", "-i", (work_ / "a.tar").string()});
  expect_refused_and_nothing_left(r, "missing from the layout");
  EXPECT_EQ(entries_under(store_ / "blobs/sha256"), std::vector<std::string>{});
}

// ==========================================================================================
// Rootless: the same unpacker run by an ordinary user into its own store. What the user may
// write is all the user's files: a layer that escaped would reach them, so the target
// directory here is the user's (an escape would succeed, and show). The user cannot make
// device nodes (mknod(2) needs CAP_MKNOD in the host's namespace) nor chown: no device
// nodes, every file the user's, set-user-ID bits as the image says (of the user, in a store
// only the user can enter), overlayfs's xattrs refused as they are for root.
// ==========================================================================================

class ImageExtractAttackRootless : public ImageExtractAttack {
 protected:
  void SetUp() override {
    ImageExtractAttack::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    user_ = RootlessUserEnvironment::get();
    for (const fs::path& dir : {work_.path(), outside_.path()}) {
      ASSERT_EQ(::chown(dir.c_str(), user_->uid, user_->gid), 0) << dir;
    }
  }
};

TEST_F(ImageExtractAttackRootless, NamesSymlinksAndHardlinksStayInside) {
  const std::string up = "../../../../../../../.." + outside_.path().string();
  EXPECT_EQ(load({{up + "/pwned", 'f', "x"}}).status, 125);
  const auto r = load({{"abs", 'l', outside_.path().string()},
                       {"rel", 'l', up},
                       {outside_.path().relative_path().string(), 'd', "", 0755},
                       {"abs/pwned1", 'f', "1"},
                       {"rel/pwned2", 'f', "2"}});
  ASSERT_EQ(r.status, 0) << r.err;
  expect_outside_untouched();
  EXPECT_EQ(read_file((layer_dir() / outside_.path().relative_path() / "pwned1").string()), "1");
  // A hardlink to a file of the user's outside the layer: refused, the file not linked.
  const fs::path secret = outside_ / "secret";
  std::ofstream(secret) << "the user's";
  ASSERT_EQ(::chown(secret.c_str(), user_->uid, user_->gid), 0);
  EXPECT_EQ(load({{"stolen", 'h', secret.string()}}).status, 125);
  EXPECT_EQ(fs::hard_link_count(secret), 1u);
}

TEST_F(ImageExtractAttackRootless, NoDeviceNodesAndSetuidAsTheImageSays) {
  const auto r = load({{"null", 'c', "", 0666, {}, 1, 3},
                       {"fifo", 'p', "", 0600},
                       {"suid", 'f', "#!/bin/sh\n", 04755},
                       {"sgid", 'f', "#!/bin/sh\n", 02755},
                       {"plain", 'f', "x", 0755}});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_FALSE(fs::exists(layer_dir() / "null")) << "a device node made rootless";
  struct stat st {};
  ASSERT_EQ(::lstat((layer_dir() / "fifo").c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  for (const auto& [name, mode] : std::vector<std::pair<std::string, mode_t>>{
           {"suid", 04755}, {"sgid", 02755}, {"plain", 0755}}) {
    ASSERT_EQ(::lstat((layer_dir() / name).c_str(), &st), 0) << name;
    EXPECT_EQ(st.st_mode & 07777, mode) << name;
    EXPECT_EQ(st.st_uid, user_->uid) << name;
    EXPECT_EQ(st.st_gid, user_->gid) << name;
  }
  // The store's root: closed to everyone else, who could otherwise run the user's
  // set-user-ID files.
  ASSERT_EQ(::stat(store_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
}

TEST_F(ImageExtractAttackRootless, OverlayXattrsFromTheImageAreRefused) {
  // Rootless, overlayfs reads user.overlay.* (-o userxattr): the image must not set those
  // either, on a directory or a file.
  for (const char* key :
       {"user.overlay.opaque", "user.overlay.redirect", "trusted.overlay.opaque"}) {
    expect_refused_and_nothing_left(load({{"d", 'd', "", 0755, {{key, "y"}}}}),
                                    "overlayfs's own xattr");
    expect_refused_and_nothing_left(load({{"f", 'f', "x", 0644, {{key, "y"}}}}),
                                    "overlayfs's own xattr");
  }
}

}  // namespace
}  // namespace mc::test
