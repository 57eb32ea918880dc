// Step 7's image store (docs/images.md): reference parsing (unit), then import, load of an
// OCI archive made by umoci and of a hand-made `docker save` archive, whiteouts turned into
// overlayfs's, corrupt input refused with nothing left, SIGKILL during load, two loads at
// once, rmi refused while a container uses the image. Each test uses its own --store.
#include <signal.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <functional>  // std::function: each_string
#include <regex>       // the oracle of the hand-written grammar
#include <thread>

#include "image/store.hpp"
#include "image_fixtures.hpp"
#include "runtime/state.hpp"

namespace mc::test {
namespace {

using mycontainer::image::parse_reference;
using mycontainer::image::Store;

// --- References (docker's rules) ---

TEST(ImageReference, ShortNamesAreOfficialImagesOnDockerHub) {
  const auto r = parse_reference("alpine");
  EXPECT_EQ(r.registry, "docker.io");
  EXPECT_EQ(r.repository, "library/alpine");
  EXPECT_EQ(r.tag, "latest");
  EXPECT_EQ(r.str(), "docker.io/library/alpine:latest");
  EXPECT_EQ(r.familiar_name(), "alpine");
  EXPECT_EQ(parse_reference("user/app:1.0").str(), "docker.io/user/app:1.0");
  EXPECT_EQ(parse_reference("user/app").familiar_name(), "user/app");
}

TEST(ImageReference, RegistryHostPortTagAndDigest) {
  const auto r = parse_reference("localhost:5000/a/b:v1");
  EXPECT_EQ(r.registry, "localhost:5000");
  EXPECT_EQ(r.repository, "a/b");
  EXPECT_EQ(r.tag, "v1");
  EXPECT_EQ(parse_reference("localhost/x").registry, "localhost");
  EXPECT_EQ(parse_reference("quay.io/x/y").familiar_name(), "quay.io/x/y");
  const std::string d = "sha256:" + std::string(64, 'a');
  const auto p = parse_reference("quay.io/x/y@" + d);
  EXPECT_EQ(p.digest, d);
  EXPECT_EQ(p.tag, "");
  EXPECT_EQ(p.str(), "quay.io/x/y@" + d);
  EXPECT_EQ(parse_reference("index.docker.io/library/busybox").str(),
            "docker.io/library/busybox:latest");
}

TEST(ImageReference, InvalidOnesSayWhy) {
  expect_usage_error([] { parse_reference("Alpine"); }, "must be lowercase");
  expect_usage_error([] { parse_reference("alpine:bad tag"); }, "a tag is");
  expect_usage_error([] { parse_reference("alpine@sha256:abc"); }, "digest");
  expect_usage_error([] { parse_reference(""); }, "empty");
  expect_usage_error([] { parse_reference("a//b"); }, "name component");
  expect_usage_error([] { parse_reference("-a"); }, "name component");
  expect_usage_error([] { parse_reference(std::string(300, 'a')); }, "255");
}

// Every string of 0 to `max` characters of `alphabet`, to `f`.
void each_string(const std::string& alphabet, std::size_t max,
                 const std::function<void(const std::string&)>& f, std::string s = "") {
  f(s);
  if (s.size() == max) return;
  for (const char c : alphabet) each_string(alphabet, max, f, s + c);
}

bool parses(const std::string& text) {
  try {
    parse_reference(text);
    return true;
  } catch (const ctr::UsageError&) {
    return false;
  }
}

// image/reference.cpp matches docker's grammar by hand; docker's own regular expressions
// (distribution/reference regexp.go) are the oracle: every short string of the characters
// that matter is accepted by both, or by neither.
TEST(ImageReference, TheHandWrittenGrammarIsDockersRegularExpressions) {
  const std::regex component("[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*");
  const std::regex tag(R"([\w][\w.-]{0,127})");
  const std::regex registry(
      R"((?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?)");
  each_string("a0._-", 6, [&](const std::string& s) {
    EXPECT_EQ(parses("u/" + s), std::regex_match(s, component)) << "component '" << s << "'";
  });
  each_string("aZ_.-:", 5, [&](const std::string& s) {
    if (s.find(':') != std::string::npos) return;  // the tag is after the last ':'
    EXPECT_EQ(parses("u:" + s), std::regex_match(s, tag)) << "tag '" << s << "'";
  });
  EXPECT_TRUE(parses("u:" + std::string(128, 'a')));
  EXPECT_FALSE(parses("u:" + std::string(129, 'a')));
  // A first component with a '.' or a ':' is a registry (normalize.go splitDockerDomain).
  each_string("aF-.:1[]", 5, [&](const std::string& s) {
    if (s.find_first_of(".:") == std::string::npos) return;
    EXPECT_EQ(parses(s + "/x"), std::regex_match(s, registry)) << "registry '" << s << "'";
  });
  const std::string hex(64, 'e');
  EXPECT_TRUE(mycontainer::image::is_digest("sha256:" + hex));
  for (const std::string& bad :
       {"sha256:" + hex.substr(1), "sha256:" + hex + "0", "sha256:" + std::string(64, 'E'),
        "sha512:" + hex, "sha256:" + hex.substr(1) + "g", std::string("sha256:")}) {
    EXPECT_FALSE(mycontainer::image::is_digest(bad)) << bad;
  }
}

// --- The store, through the commands ---

class ImageStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { MC_REQUIRE_ROOT(); }
  TempDir work_{"mct-imgwork"};
  fs::path store_ = work_ / "store";

  // The test rootfs as a gzip tarball.
  fs::path rootfs_tgz() {
    fs::path out = work_ / "rootfs.tgz";
    if (!fs::exists(out)) {
      EXPECT_EQ(sh("tar -C " + rootfs() + " -czf " + out.string() + " .").status, 0);
    }
    return out;
  }
  // What tmp/ holds; empty after every command.
  std::vector<std::string> leftovers() { return entries_under(store_ / "tmp"); }
  // Every blob's name is the sha256 of its content.
  void expect_blobs_verified() {
    for (const auto& e : fs::directory_iterator(store_ / "blobs/sha256")) {
      EXPECT_EQ(mycontainer::image::sha256_file(e.path()).first,
                "sha256:" + e.path().filename().string());
    }
  }
};

TEST_F(ImageStoreTest, ImportListsInspectsAndUnpacksOnce) {
  auto r = mc_image(store_, {"import", rootfs_tgz().string(), "myroot:1"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("sha256:"), std::string::npos);
  r = mc_image(store_, {"images"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("REPOSITORY"), std::string::npos);
  EXPECT_NE(r.out.find("myroot"), std::string::npos) << r.out;
  r = mc_image(store_, {"image", "inspect", "myroot:1"});
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0]["RepoTags"][0], "docker.io/library/myroot:1");
  const std::string dir = j[0]["GraphDriver"]["Data"]["LayerDirs"][0];
  EXPECT_TRUE(fs::exists(fs::path(dir) / "bin/busybox")) << dir;
  // The same tarball again under another name: the layer is reused, not unpacked twice.
  r = mc_image(store_, {"import", rootfs_tgz().string(), "other"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(std::distance(fs::directory_iterator(store_ / "layers"), fs::directory_iterator()), 1);
  EXPECT_EQ(leftovers(), std::vector<std::string>{});
  expect_blobs_verified();
}

TEST_F(ImageStoreTest, UmociLayersWhiteoutsAndAnOpaqueDirectory) {
  // Layer 1: the rootfs plus /d/a and /f1; layer 2 deletes both and adds /d/b (umoci writes
  // .wh.a and .wh.f1). Layer 3, by hand: /d made opaque (.wh..wh..opq) with /d/c.
  const fs::path oci = work_ / "oci";
  const fs::path b = work_ / "bundle";
  const std::string u = "umoci --log error ";
  const auto made =
      sh(u + "init --layout " + oci.string() + " && " + u + "new --image " + oci.string() + ":t");
  ASSERT_EQ(made.status, 0) << made.err;
  const auto unpacked =
      sh(u + "unpack --rootless --image " + oci.string() + ":t " + b.string() + " >/dev/null");
  ASSERT_EQ(unpacked.status, 0) << unpacked.err;
  ASSERT_EQ(sh("cp -a " + rootfs() + "/. " + b.string() + "/rootfs/ && mkdir " + b.string() +
               "/rootfs/d && echo a > " + b.string() + "/rootfs/d/a && echo 1 > " + b.string() +
               "/rootfs/f1")
                .status,
            0);
  ASSERT_EQ(sh(u + "repack --image " + oci.string() + ":t " + b.string()).status, 0);
  fs::remove_all(b);
  ASSERT_EQ(sh(u + "unpack --rootless --image " + oci.string() + ":t " + b.string() + " >/dev/null")
                .status,
            0);
  ASSERT_EQ(sh("rm " + b.string() + "/rootfs/d/a " + b.string() + "/rootfs/f1 && echo b > " +
               b.string() + "/rootfs/d/b")
                .status,
            0);
  ASSERT_EQ(sh(u + "repack --image " + oci.string() + ":t " + b.string()).status, 0);
  // Collect umoci's two layers, add ours, and make the final layout.
  const auto index = nlohmann::json::parse(read_file((oci / "index.json").string()));
  const auto manifest = nlohmann::json::parse(read_file(
      (oci / "blobs/sha256" / index["manifests"][0]["digest"].get<std::string>().substr(7))
          .string()));
  std::vector<fs::path> layers;
  for (const auto& l : manifest["layers"])
    layers.push_back(oci / "blobs/sha256" / l["digest"].get<std::string>().substr(7));
  ASSERT_EQ(layers.size(), 2u);
  const fs::path opq = work_ / "opq.tar.zst";
  write_tar(opq, {{"d", 'd', "", 0755}, {"d/.wh..wh..opq", 'f', ""}, {"d/c", 'f', "c\n"}}, "zstd");
  layers.push_back(opq);
  const fs::path layout = work_ / "layout";
  make_layout(layout, layers, "localhost/umoci/test:1");
  ASSERT_EQ(sh("tar -C " + layout.string() + " -cf " + (work_ / "oci.tar").string() + " .").status,
            0);

  const auto r = mc_image(store_, {"load", "-i", (work_ / "oci.tar").string()});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("Loaded image: localhost/umoci/test:1"), std::string::npos) << r.out;
  // Not a terminal: one line per layer.
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 4) << r.out;

  const auto image = Store(store_).find("localhost/umoci/test:1");
  ASSERT_TRUE(image);
  const auto dirs = Store(store_).layer_dirs(*image);
  ASSERT_EQ(dirs.size(), 3u);
  EXPECT_EQ(read_file((dirs[0] / "d/a").string()), "a\n");
  struct stat st {};
  // .wh.a and .wh.f1 -> character devices 0/0 (overlayfs.rst "whiteouts").
  for (const char* gone : {"d/a", "f1"}) {
    ASSERT_EQ(::lstat((dirs[1] / gone).c_str(), &st), 0) << gone;
    EXPECT_TRUE(S_ISCHR(st.st_mode)) << gone;
    EXPECT_EQ(st.st_rdev, makedev(0, 0)) << gone;
  }
  EXPECT_FALSE(fs::exists(dirs[1] / "d/.wh.a"));
  // .wh..wh..opq -> trusted.overlay.opaque=y on d, and no .wh. file left.
  char value[8] = {};
  ASSERT_EQ(::getxattr((dirs[2] / "d").c_str(), "trusted.overlay.opaque", value, sizeof value), 1);
  EXPECT_EQ(value[0], 'y');
  EXPECT_FALSE(fs::exists(dirs[2] / "d/.wh..wh..opq"));
  EXPECT_EQ(read_file((dirs[2] / "d/c").string()), "c\n");
  EXPECT_EQ(leftovers(), std::vector<std::string>{});
  expect_blobs_verified();
}

TEST_F(ImageStoreTest, HandMadeDockerSaveArchive) {
  const fs::path dir = work_ / "save";
  fs::create_directories(dir / "l1");
  write_tar(dir / "l1/layer.tar", {{"hello", 'f', "from docker save\n"}}, "");
  const std::string diff_id = mycontainer::image::hash_uncompressed(dir / "l1/layer.tar").diff_id;
  const nlohmann::json config = {{"architecture", "amd64"},
                                 {"os", "linux"},
                                 {"config", {{"Cmd", {"/hello"}}}},
                                 {"rootfs", {{"type", "layers"}, {"diff_ids", {diff_id}}}}};
  std::ofstream(dir / "cfg.json") << config.dump();
  std::ofstream(dir / "manifest.json")
      << nlohmann::json::array(
             {{{"Config", "cfg.json"}, {"RepoTags", {"saved:1"}}, {"Layers", {"l1/layer.tar"}}}})
             .dump();
  ASSERT_EQ(sh("tar -C " + dir.string() + " -cf " + (work_ / "save.tar").string() + " .").status,
            0);
  const auto r = mc_image(store_, {"load", "-i", (work_ / "save.tar").string()});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("Loaded image: docker.io/library/saved:1"), std::string::npos) << r.out;
  const auto image = Store(store_).find("saved:1");
  ASSERT_TRUE(image);
  EXPECT_EQ(image->config["config"]["Cmd"][0], "/hello");
  EXPECT_EQ(read_file((Store(store_).layer_dirs(*image)[0] / "hello").string()),
            "from docker save\n");
}

TEST_F(ImageStoreTest, CorruptBlobAndBadGzipAreRefusedWithNothingLeft) {
  const fs::path good = work_ / "good.tgz";
  write_tar(good, {{"a", 'f', std::string(100000, 'x')}});
  // 1. A layer whose bytes do not match its digest.
  make_layout(work_ / "l1", {good});
  const std::string hex = mycontainer::image::sha256_file(good).first.substr(7);
  {
    std::fstream f(work_ / "l1/blobs/sha256" / hex,
                   std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(20);
    f.put('\x42');
  }
  ASSERT_EQ(
      sh("tar -C " + (work_ / "l1").string() + " -cf " + (work_ / "l1.tar").string() + " .").status,
      0);
  auto r = mc_image(store_, {"load", "-i", (work_ / "l1.tar").string()});
  EXPECT_EQ(r.status, 125);
  EXPECT_NE(r.err.find("is corrupt"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  // 2. A truncated gzip stream, with a digest that matches its (truncated) bytes.
  const fs::path cut = work_ / "cut.tgz";
  fs::copy_file(good, cut);
  fs::resize_file(cut, fs::file_size(good) / 2);
  fs::create_directories(work_ / "l2");
  make_layout(work_ / "l2", {good});
  // Same layout, but the layer replaced by the cut one (the config's diff_id stays).
  auto m_index = nlohmann::json::parse(read_file((work_ / "l2/index.json").string()));
  const std::string mhex = m_index["manifests"][0]["digest"].get<std::string>().substr(7);
  auto manifest = nlohmann::json::parse(read_file((work_ / "l2/blobs/sha256" / mhex).string()));
  manifest["layers"][0] =
      add_blob(work_ / "l2", cut, "application/vnd.oci.image.layer.v1.tar+gzip");
  m_index["manifests"][0] =
      add_json(work_ / "l2", manifest, "application/vnd.oci.image.manifest.v1+json");
  std::ofstream(work_ / "l2/index.json") << m_index.dump();
  ASSERT_EQ(
      sh("tar -C " + (work_ / "l2").string() + " -cf " + (work_ / "l2.tar").string() + " .").status,
      0);
  r = mc_image(store_, {"load", "-i", (work_ / "l2.tar").string()});
  EXPECT_EQ(r.status, 125);
  EXPECT_NE(r.err.find("refusing layer"), std::string::npos) << r.err;
  // 3. Not an archive at all.
  std::ofstream(work_ / "junk") << "junk";
  r = mc_image(store_, {"load", "-i", (work_ / "junk").string()});
  EXPECT_EQ(r.status, 125);
  // Nothing of any of them in the store.
  for (const char* sub : {"blobs/sha256", "layers", "images", "tmp"}) {
    EXPECT_EQ(entries_under(store_ / sub), std::vector<std::string>{}) << sub;
  }
}

// A 40 MB uncompressed layer, so that a load takes long enough to be killed in the middle.
fs::path big_archive(const TempDir& work) {
  const fs::path layer = work / "big.tar";
  std::string data(40 << 20, '\0');
  for (std::size_t i = 0; i < data.size(); i += 4096) data[i] = static_cast<char>(i / 4096);
  write_tar(layer, {{"big", 'f', data}}, "");
  make_layout(work / "biglayout", {layer}, "localhost/big:1");
  fs::path out = work / "big-oci.tar";
  sh("tar -C " + (work / "biglayout").string() + " -cf " + out.string() + " .");
  return out;
}

TEST_F(ImageStoreTest, SigkillDuringLoadThenLoadAgain) {
  const fs::path archive = big_archive(work_);
  for (int delay_ms : {30, 150, 400}) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      const std::string mc = bin("mycontainer");
      ::execl(mc.c_str(), mc.c_str(), "--store", store_.c_str(), "load", "-q", "-i",
              archive.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    // Whatever was done, the store reads: no image half there, every blob whole.
    EXPECT_NO_THROW(Store(store_).images());
    if (fs::exists(store_ / "blobs/sha256")) expect_blobs_verified();
  }
  const auto r = mc_image(store_, {"load", "-i", archive.string()});
  ASSERT_EQ(r.status, 0) << r.err;
  ASSERT_TRUE(Store(store_).find("localhost/big:1"));
  EXPECT_EQ(
      fs::file_size(Store(store_).layer_dirs(*Store(store_).find("localhost/big:1"))[0] / "big"),
      40u << 20);
  expect_blobs_verified();
  // The dead loads' work is gone: the second load found itself alone and cleaned tmp/.
  EXPECT_EQ(leftovers(), std::vector<std::string>{});
}

TEST_F(ImageStoreTest, TwoLoadsOfOneImageAtOnce) {
  const fs::path archive = big_archive(work_);
  RunResult a, b;
  std::thread t1([&] { a = mc_image(store_, {"load", "-i", archive.string()}); });
  std::thread t2([&] { b = mc_image(store_, {"load", "-i", archive.string()}); });
  t1.join();
  t2.join();
  EXPECT_EQ(a.status, 0) << a.err;
  EXPECT_EQ(b.status, 0) << b.err;
  EXPECT_EQ(Store(store_).images().size(), 1u);
  EXPECT_EQ(std::distance(fs::directory_iterator(store_ / "layers"), fs::directory_iterator()), 1);
  expect_blobs_verified();
  EXPECT_EQ(leftovers(), std::vector<std::string>{});
}

TEST_F(ImageStoreTest, RmiRefusedWhileAContainerUsesTheImage) {
  ASSERT_EQ(mc_image(store_, {"import", rootfs_tgz().string(), "inuse:1"}).status, 0);
  const auto image = Store(store_).find("inuse:1");
  ASSERT_TRUE(image);
  // A container's state, as `run IMAGE` writes it: the image id in its annotations.
  const fs::path state_root = work_ / "state";
  ctr::ContainerState state;
  state.name = "user1";
  state.runtime_pid = ::getpid();
  state.runtime_start_time = ctr::process_start_time(::getpid());
  state.annotations[std::string(mycontainer::image::kImageAnnotation)] = image->id;
  fs::create_directories(state_root / "containers/user1");
  std::ofstream(state_root / "containers/user1/state.json") << ctr::to_json(state);
  auto r = run({bin("mycontainer"), "--root", state_root.string(), "--store", store_.string(),
                "rmi", "inuse:1"});
  EXPECT_EQ(r.status, 1);  // docker's code for a conflict
  EXPECT_EQ(r.err,
            "mycontainer: conflict: unable to remove repository reference \"inuse:1\" "
            "(must force) - container user1 is using its referenced image " +
                image->short_id() + "\n");
  EXPECT_TRUE(Store(store_).find("inuse:1"));
  fs::remove_all(state_root / "containers/user1");
  r = run({bin("mycontainer"), "--root", state_root.string(), "--store", store_.string(), "rmi",
           "inuse:1"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("Untagged: docker.io/library/inuse:1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Deleted: " + image->id), std::string::npos) << r.out;
  for (const char* sub : {"blobs/sha256", "layers", "images", "tmp"}) {
    EXPECT_EQ(entries_under(store_ / sub), std::vector<std::string>{}) << sub;
  }
}

TEST_F(ImageStoreTest, RmiUnknownNamesAndTags) {
  ASSERT_EQ(mc_image(store_, {"import", rootfs_tgz().string(), "one:1"}).status, 0);
  // A second name for the same image (each import makes a new image: its config says when).
  Store(store_).tag(*Store(store_).find("one:1"), parse_reference("one:2"));
  auto r = mc_image(store_, {"rmi", "nosuch"});
  EXPECT_EQ(r.status, 125);
  EXPECT_NE(r.err.find("no such image: nosuch"), std::string::npos) << r.err;
  // Two names on one image: its id alone is refused without -f; a name only untags.
  const std::string id = Store(store_).find("one:1")->short_id();
  r = mc_image(store_, {"rmi", id});
  EXPECT_EQ(r.status, 1);  // docker's code for a conflict
  EXPECT_EQ(r.err, "mycontainer: conflict: unable to delete " + id +
                       " (must be forced) - image is referenced in multiple repositories\n");
  r = mc_image(store_, {"rmi", "one:2"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "Untagged: docker.io/library/one:2\n");
  EXPECT_TRUE(Store(store_).find("one:1"));
  r = mc_image(store_, {"rmi", "-f", id});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(Store(store_).images().empty());
}

TEST(ImageStoreFind, AmbiguousIdPrefixes) {
  // Two image records made by hand whose ids share the prefix "abcd".
  TempDir store("mct-imgfind");
  fs::create_directories(store / "images");
  fs::create_directories(store / "blobs/sha256");
  for (const char* tail : {"1", "2"}) {
    const std::string hex = "abcd" + std::string(59, '0') + tail;
    std::ofstream(store / "blobs/sha256" / hex) << R"({"created":"2026-01-01T00:00:00Z"})";
    std::ofstream(store / "images" / (hex + ".json")) << nlohmann::json{
        {"id", "sha256:" + hex},
        {"manifest_digest", "sha256:" + hex},
        {"layers", nlohmann::json::array()}}.dump();
  }
  const Store s(store.path());
  EXPECT_EQ(s.images().size(), 2u);
  expect_usage_error([&] { s.find("abcd"); }, "ambiguous");
  EXPECT_TRUE(s.find("abcd" + std::string(59, '0') + "1"));
  EXPECT_TRUE(s.find("sha256:abcd" + std::string(59, '0') + "2"));
  EXPECT_FALSE(s.find("abce"));
  EXPECT_FALSE(s.find("nosuch"));
}

// A name is looked up in repositories.json and only its record read (what `run IMAGE` does);
// the image still has all its names. A name whose id is no digest (a hand-edited or hostile
// repositories.json) or whose record is missing finds nothing rather than a path outside
// images/ or an error.
TEST(ImageStoreFind, ByNameFromTheIndex) {
  TempDir store("mct-imgfind");
  fs::create_directories(store / "images");
  fs::create_directories(store / "blobs/sha256");
  const std::string hex = "ef01" + std::string(60, '0');
  std::ofstream(store / "blobs/sha256" / hex) << R"({"created":"2026-01-01T00:00:00Z"})";
  std::ofstream(store / "images" / (hex + ".json")) << nlohmann::json{
      {"id", "sha256:" + hex},
      {"manifest_digest", "sha256:" + hex},
      {"layers", nlohmann::json::array()}}.dump();
  std::ofstream(store / "repositories.json") << nlohmann::json{
      {"names",
       {{"docker.io/library/one:1", "sha256:" + hex},
        {"docker.io/library/one:2", "sha256:" + hex},
        {"docker.io/library/evil:1", "../../etc/passwd"},
        {"docker.io/library/gone:1",
         "sha256:" + std::string(64, 'a')}}}}.dump();
  const Store s(store.path());
  const auto one = s.find("one:2");
  ASSERT_TRUE(one);
  EXPECT_EQ(one->id, "sha256:" + hex);
  EXPECT_EQ(one->names,
            (std::vector<std::string>{"docker.io/library/one:1", "docker.io/library/one:2"}));
  EXPECT_EQ(one->created, "2026-01-01T00:00:00Z");
  EXPECT_FALSE(s.find("evil"));
  EXPECT_FALSE(s.find("gone"));
  EXPECT_TRUE(s.find("ef01"));  // an id prefix still works
}

// What `run IMAGE` reads on every start (Store::find_to_run): repositories.json and the config
// blob, whose rootfs.diff_ids name the layers; the record is only looked for (an empty one
// does not matter, a missing one means no image), and of the config only "config" and
// "rootfs" are kept. An id prefix, or a config that does not name its layers, takes find()'s
// way (the record's layers).
TEST(ImageStoreFind, ToRunReadsTheNameAndTheConfigOnly) {
  TempDir store("mct-imgfind");
  fs::create_directories(store / "images");
  fs::create_directories(store / "blobs/sha256");
  const std::string hex = "ab12" + std::string(60, '0');
  const std::string bare = "cd34" + std::string(60, '0');
  const std::string layer = "sha256:" + std::string(64, 'e');
  const std::string record_layer = "sha256:" + std::string(64, 'f');
  std::ofstream(store / "blobs/sha256" / hex) << nlohmann::json{
      {"architecture", "amd64"},
      {"config", {{"Cmd", {"/bin/sh"}}}},
      {"history", {{{"created_by", "RUN make"}}}},
      {"rootfs",
       {{"type", "layers"}, {"diff_ids", {layer}}}}}.dump();
  std::ofstream(store / "blobs/sha256" / bare) << R"({"config":{}})";
  for (const auto& id : {hex, bare}) {
    std::ofstream(store / "images" / (id + ".json"))
        << nlohmann::json{{"id", "sha256:" + id},
                          {"manifest_digest", "sha256:" + id},
                          {"layers", {{{"digest", record_layer}, {"diff_id", record_layer}}}}}
               .dump();
  }
  std::ofstream(store / "repositories.json") << nlohmann::json{
      {"names",
       {{"docker.io/library/app:1", "sha256:" + hex},
        {"docker.io/library/bare:1", "sha256:" + bare},
        {"docker.io/library/evil:1",
         "../../etc/passwd"}}}}.dump();
  const Store s(store.path());
  const auto app = s.find_to_run("app:1");
  ASSERT_TRUE(app);
  EXPECT_EQ(app->id, "sha256:" + hex);
  EXPECT_EQ(app->layers, (std::vector<fs::path>{store / "layers" / std::string(64, 'e')}));
  EXPECT_EQ(app->config.at("config").at("Cmd"), nlohmann::json({"/bin/sh"}));
  EXPECT_FALSE(app->config.contains("history")) << app->config.dump();
  EXPECT_FALSE(app->config.contains("architecture")) << app->config.dump();

  // No "rootfs" in its config: the record's layers, through find().
  const auto bare_image = s.find_to_run("bare:1");
  ASSERT_TRUE(bare_image);
  EXPECT_EQ(bare_image->layers, (std::vector<fs::path>{store / "layers" / std::string(64, 'f')}));
  EXPECT_TRUE(s.find_to_run("ab12"));  // an id prefix: find()'s way
  EXPECT_FALSE(s.find_to_run("evil"));

  std::ofstream(store / "images" / (hex + ".json"), std::ios::trunc).flush();
  EXPECT_TRUE(s.find_to_run("app:1")) << "the record is only looked for, not read";
  fs::remove(store / "images" / (hex + ".json"));
  EXPECT_FALSE(s.find_to_run("app:1")) << "no record, no image";
}

}  // namespace
}  // namespace mc::test
