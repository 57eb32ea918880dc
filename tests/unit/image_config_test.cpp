// runtime/image_config: how an image's config (Env, Entrypoint, Cmd, WorkingDir, User) and
// run's flags make the process, with docker's rules; runtime/spec: the root-layers annotation;
// runtime/overlay: open_in_layers, which reads the image's /etc/passwd through its layers.
// Pure unit tests: no root, no mounts.
#include "runtime/image_config.hpp"

#include <sys/stat.h>  // mkdir(2)
#include <unistd.h>    // symlink(2)

#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "ctr/error.hpp"
#include "ctr/fd.hpp"  // ctr::read_all
#include "runtime/overlay.hpp"
#include "runtime/spec.hpp"

namespace {

using mycontainer::apply_image_config;
using mycontainer::ImageConfig;
using mycontainer::ImageOverrides;
using nlohmann::json;
using Strings = std::vector<std::string>;

const Strings kDefaults = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                           "HOSTNAME=c1", "HOME=/root", "container=mycontainer"};

ImageConfig nginx_like() {
  return {.env = {"PATH=/opt/bin:/usr/bin:/bin", "NGINX_VERSION=1.25"},
          .entrypoint = {"/docker-entrypoint.sh"},
          .cmd = {"nginx", "-g", "daemon off;"},
          .working_dir = "/srv",
          .user = "www"};
}

// ============================== the image config blob ==============================

TEST(ImageConfigRead, ReadsTheConfigObject) {
  const json blob = json::parse(R"({"architecture": "amd64", "os": "linux",
    "config": {"Env": ["A=1"], "Entrypoint": ["/e"], "Cmd": ["c", "d"],
               "WorkingDir": "/w", "User": "1000:1000", "Labels": {"x": "y"}},
    "rootfs": {"type": "layers", "diff_ids": []}})");
  EXPECT_EQ(mycontainer::image_config_from_json(blob), (ImageConfig{.env = {"A=1"},
                                                                    .entrypoint = {"/e"},
                                                                    .cmd = {"c", "d"},
                                                                    .working_dir = "/w",
                                                                    .user = "1000:1000"}));
}

TEST(ImageConfigRead, AbsentAndNullAreEmpty) {
  EXPECT_EQ(mycontainer::image_config_from_json(json::parse(R"({"os": "linux"})")), ImageConfig{});
  EXPECT_EQ(mycontainer::image_config_from_json(
                json::parse(R"({"config": {"Entrypoint": null, "Cmd": null}})")),
            ImageConfig{});
}

TEST(ImageConfigRead, WrongTypesNameTheField) {
  const auto error = [](const char* text) {
    try {
      mycontainer::image_config_from_json(json::parse(text));
    } catch (const mycontainer::SpecError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(error(R"({"config": {"Cmd": "sh"}})"), "image config: Cmd must be an array of strings");
  EXPECT_EQ(error(R"({"config": {"Env": [1]}})"), "image config: Env must be an array of strings");
  EXPECT_EQ(error(R"({"config": {"User": 0}})"), "image config: User must be a string");
  EXPECT_EQ(error("[]"), "image config: not a JSON object");
}

// ============================== docker's rules ==============================

TEST(ImageConfigApply, ImageAloneGivesEntrypointPlusCmd) {
  const auto p = apply_image_config(nginx_like(), kDefaults, {}, "nginx");
  EXPECT_EQ(p.args, (Strings{"/docker-entrypoint.sh", "nginx", "-g", "daemon off;"}));
  EXPECT_EQ(p.cwd, "/srv");
  EXPECT_EQ(p.user, "www");
}

TEST(ImageConfigApply, ArgsAfterTheImageReplaceCmdOnly) {
  const auto p = apply_image_config(nginx_like(), kDefaults, {.args = {"nginx", "-t"}}, "nginx");
  EXPECT_EQ(p.args, (Strings{"/docker-entrypoint.sh", "nginx", "-t"}));
}

TEST(ImageConfigApply, EntrypointFlagDropsTheImagesCmd) {
  EXPECT_EQ(
      apply_image_config(nginx_like(), kDefaults, {.entrypoint = Strings{"/bin/sh"}}, "n").args,
      Strings{"/bin/sh"});
  EXPECT_EQ(apply_image_config(nginx_like(), kDefaults,
                               {.entrypoint = Strings{"/bin/sh"}, .args = {"-c", "id"}}, "n")
                .args,
            (Strings{"/bin/sh", "-c", "id"}));
  // --entrypoint "": no entrypoint at all; the command is what follows the image.
  EXPECT_EQ(
      apply_image_config(nginx_like(), kDefaults, {.entrypoint = Strings{}, .args = {"ls"}}, "n")
          .args,
      Strings{"ls"});
}

TEST(ImageConfigApply, CmdOnlyImage) {
  const ImageConfig busybox{.cmd = {"sh"}};
  EXPECT_EQ(apply_image_config(busybox, kDefaults, {}, "busybox").args, Strings{"sh"});
  EXPECT_EQ(apply_image_config(busybox, kDefaults, {.args = {"echo", "hi"}}, "busybox").args,
            (Strings{"echo", "hi"}));
}

TEST(ImageConfigApply, NoCommandAnywhereIsOneClearError) {
  try {
    apply_image_config(ImageConfig{}, kDefaults, {}, "scratchy");
    FAIL() << "no error";
  } catch (const ctr::UsageError& e) {
    EXPECT_EQ(std::string(e.what()),
              "image 'scratchy' has no Entrypoint and no Cmd: give the command after the image "
              "(mycontainer run scratchy /bin/sh)");
  }
  // --entrypoint "" and nothing after the image: nothing to run either.
  EXPECT_THROW(apply_image_config(nginx_like(), kDefaults, {.entrypoint = Strings{}}, "n"),
               ctr::UsageError);
}

TEST(ImageConfigApply, EnvDefaultsThenImageThenFlags) {
  const auto p =
      apply_image_config(nginx_like(), kDefaults, {.env = {"NGINX_VERSION=2", "EXTRA=x"}}, "nginx");
  EXPECT_EQ(p.env, (Strings{"HOSTNAME=c1", "HOME=/root", "container=mycontainer",
                            "PATH=/opt/bin:/usr/bin:/bin", "NGINX_VERSION=2", "EXTRA=x"}));
}

TEST(ImageConfigApply, EnvKeysMatchWholeNames) {
  // PATHX= does not replace PATH=; a malformed image entry (no '=') is skipped.
  const ImageConfig c{.env = {"PATHX=1", "BROKEN"}, .cmd = {"sh"}};
  const auto p = apply_image_config(c, {"PATH=/bin"}, {}, "i");
  EXPECT_EQ(p.env, (Strings{"PATH=/bin", "PATHX=1"}));
}

TEST(ImageConfigApply, WorkdirFlagWinsAndRelativeWorkingDirIsFromRoot) {
  EXPECT_EQ(apply_image_config(nginx_like(), kDefaults, {.workdir = "/tmp"}, "n").cwd, "/tmp");
  ImageConfig c{.cmd = {"sh"}, .working_dir = "app"};
  EXPECT_EQ(apply_image_config(c, kDefaults, {}, "i").cwd, "/app");
  c.working_dir.clear();
  EXPECT_EQ(apply_image_config(c, kDefaults, {}, "i").cwd, "/");
}

TEST(ImageConfigApply, UserFlagWins) {
  EXPECT_EQ(apply_image_config(nginx_like(), kDefaults, {.user = "0"}, "n").user, "0");
  EXPECT_EQ(apply_image_config(ImageConfig{.cmd = {"sh"}}, kDefaults, {}, "i").user, "");
}

// ============================== the root-layers annotation ==============================

json minimal_with_layers(const json& layers) {
  json j = json::parse(R"({"ociVersion": "1.2.0", "root": {"path": "rootfs"},
                           "process": {"args": ["sh"], "cwd": "/"}})");
  j["annotations"]["io.mycontainer.root.layers"] =
      layers.is_string() ? layers : json(layers.dump());
  return j;
}

TEST(RootLayersAnnotation, ReadIntoTheTypedFieldAndWrittenBack) {
  const json j = minimal_with_layers(json::array({"/l/bottom", "/l/top"}));
  const mycontainer::Spec spec = mycontainer::spec_from_json(j);
  EXPECT_EQ(spec.root_layers, (Strings{"/l/bottom", "/l/top"}));
  EXPECT_FALSE(spec.annotations.count("io.mycontainer.root.layers"));
  const json written = mycontainer::spec_to_json(spec);
  EXPECT_EQ(written["annotations"]["io.mycontainer.root.layers"], R"(["/l/bottom","/l/top"])");
  EXPECT_EQ(mycontainer::spec_from_json(written), spec);
}

TEST(RootLayersAnnotation, RefusesWhatIsNotAListOfAbsoluteDirectories) {
  for (const json& bad : {json("/l/one"), json(json::array().dump()),
                          json(json::array({"relative"}).dump()), json(json::array({1}).dump())}) {
    EXPECT_THROW(mycontainer::spec_from_json(minimal_with_layers(bad)), mycontainer::SpecError)
        << bad;
  }
}

// ============================== open_in_layers ==============================

class Layers : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("mc-layers-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    for (const char* l : {"l0/etc", "l1/etc", "l2/etc"})
      std::filesystem::create_directories(dir_ / l);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void write(const std::string& rel, const std::string& text) { std::ofstream(dir_ / rel) << text; }
  Strings layers() const {
    return {(dir_ / "l0").string(), (dir_ / "l1").string(), (dir_ / "l2").string()};
  }
  std::string read(const std::string& path) {
    auto fd = ctr::open_in_layers(layers(), path);
    return fd ? ctr::read_all(fd->get()) : "(none)";
  }
  std::filesystem::path dir_;
};

TEST_F(Layers, TheTopMostLayerWithTheFileDecides) {
  write("l0/etc/passwd", "bottom");
  EXPECT_EQ(read("/etc/passwd"), "bottom");
  write("l1/etc/passwd", "middle");
  EXPECT_EQ(read("/etc/passwd"), "middle");
  EXPECT_EQ(read("/etc/group"), "(none)");
}

TEST_F(Layers, AWhiteoutHidesWhatIsBelow) {
  write("l0/etc/passwd", "bottom");
  // A whiteout is a character device 0/0: only root may make one (mknod(2)).
  if (::mknod((dir_ / "l2/etc/passwd").c_str(), S_IFCHR | 0600, 0) != 0) {
    GTEST_SKIP() << "mknod needs root";
  }
  EXPECT_EQ(read("/etc/passwd"), "(none)");
}

TEST_F(Layers, ASymlinkIsNotFollowedOutOfItsLayer) {
  write("l0/etc/passwd", "bottom");
  ASSERT_EQ(::symlink("/etc/passwd", (dir_ / "l2/etc/passwd").c_str()), 0);
  EXPECT_EQ(read("/etc/passwd"), "(none)");  // not the host's, and not followed at all
}

}  // namespace
