// The registry client (step7_full_container/image/registry.hpp) against a real registry:
// docker-registry started by the test on 127.0.0.1, images made offline with umoci and pushed
// with skopeo, registry_proxy.py in front for the token flow, redirects and broken answers
// (local_registry.hpp). fetch() writes an OCI image layout; each case checks what it wrote
// (every blob's sha256, the platform it chose) and what it asked the registry (the proxy's log).
#include <fcntl.h>

#include <fstream>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "image/registry.hpp"
#include "local_registry.hpp"
#include "rootless_user.hpp"  // RootlessUserEnvironment, user_argv, RootlessHome

namespace mc::test::images {
namespace {

using mycontainer::registry::BlobProgress;
using mycontainer::registry::BlobState;
using mycontainer::registry::fetch;
using mycontainer::registry::FetchOptions;
using mycontainer::registry::RegistryError;
using mycontainer::registry::Target;
using nlohmann::json;

constexpr const char* kRepo = "mc/busybox";

// sha256 of a file, as sha256sum prints it, "sha256:HEX".
std::string sha256_file(const std::string& path) {
  const auto r = run({"/usr/bin/sha256sum", path});
  return "sha256:" + r.out.substr(0, 64);
}

// The digest a tag has in the local layout the images were pushed from.
std::string layout_digest(const std::string& layout, const std::string& tag) {
  const json index = json::parse(read_file(layout + "/index.json"));
  for (const auto& m : index["manifests"]) {
    if (m["annotations"]["org.opencontainers.image.ref.name"] == tag) return m["digest"];
  }
  return "";
}

// Files under dir (relative names), sorted.
std::vector<std::string> files_under(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::recursive_directory_iterator(dir, ec)) {
    if (e.is_regular_file()) out.push_back(fs::relative(e.path(), dir).string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// The host's own container cache (podman's and skopeo's blob-info cache): each file's name,
// size and modification time, one per line. As root, skopeo writes there unless told
// otherwise, and the tests must never touch the host's podman storage (local_registry.hpp
// runs skopeo over a private /var/lib).
std::string host_container_cache() {
  std::string out;
  std::error_code ec;
  for (const auto& e : fs::recursive_directory_iterator("/var/lib/containers/cache", ec)) {
    const auto when = e.last_write_time(ec).time_since_epoch().count();
    const auto size = e.is_regular_file(ec) ? e.file_size(ec) : 0;
    out += fmt::format("{} {} {}\n", e.path().string(), size, when);
  }
  return out;
}

class RegistryTest : public ::testing::Test {
 protected:
  // One registry and one set of images for the whole suite: umoci and skopeo take seconds.
  static void SetUpTestSuite() {
    host_cache_before_ = host_container_cache();
    if (!missing_registry_tools().empty() || privileged_unavailable()) return;
    images_ = new TempDir();
    layout_ = images_->path() + "/layout";
    const auto made = run(
        {source_dir() + "/tests/images/make-registry-images.sh", rootfs(), layout_}, slow_run());
    if (made.status != 0) {
      setup_error_ = "make-registry-images.sh failed (" + std::to_string(made.status) +
                     "): " + made.err + made.out;
      return;
    }
    registry_ = new LocalRegistry();
    if (!registry_->error().empty()) {
      setup_error_ = registry_->error();
      return;
    }
    for (const char* tag : {"amd64", "arm64", "multi", "armonly"}) {
      const auto pushed = registry_->push(layout_, tag, kRepo);
      if (pushed.status != 0) setup_error_ += "skopeo copy " + std::string(tag) + ": " + pushed.err;
    }
  }
  static void TearDownTestSuite() {
    delete registry_;  // stops docker-registry, removes its storage
    delete images_;
    registry_ = nullptr;
    images_ = nullptr;
  }

  void SetUp() override {
    MC_REQUIRE_ROOT();  // umoci reads the rootfs's device nodes, which root made
    if (auto m = missing_registry_tools(); !m.empty()) MC_SKIP_OR_FAIL(m);
    ASSERT_EQ("", setup_error_);
  }

  // fetch() into a fresh directory under out_; the error message, "" on success.
  std::string try_fetch(const std::string& host, const std::string& repo, const std::string& ref,
                        const FetchOptions& options = {}) {
    layout_out_ = out_.path() + "/pull-" + std::to_string(++fetches_);
    try {
      result_ = fetch(Target{host, repo, ref}, layout_out_, options);
      return "";
    } catch (const RegistryError& e) {
      return e.what();
    }
  }

  static inline TempDir* images_ = nullptr;
  static inline LocalRegistry* registry_ = nullptr;
  static inline std::string layout_;
  static inline std::string setup_error_;
  static inline std::string host_cache_before_;
  TempDir out_;
  std::string layout_out_;
  int fetches_ = 0;
  mycontainer::registry::FetchResult result_;
};

// An index of arm64, amd64/v3 and amd64: the client takes plain amd64 (containerd's rule), and
// the layout it writes is complete and verified: every blob's name is its sha256.
// The suite's pushes (skopeo copy, in SetUpTestSuite) left the host's container cache as it was.
TEST_F(RegistryTest, PushesLeaveTheHostsContainerCacheAlone) {
  EXPECT_EQ(host_cache_before_, host_container_cache());
}

TEST_F(RegistryTest, IndexGivesTheAmd64ManifestAndAVerifiedLayout) {
  Proxy proxy(*registry_, "open");
  ASSERT_EQ("", proxy.error());
  ASSERT_EQ("", try_fetch(proxy.host(), kRepo, "multi"));

  EXPECT_EQ(layout_digest(layout_, "multi"), result_.digest) << "the digest of what the tag names";
  EXPECT_EQ(layout_digest(layout_, "amd64"), result_.manifest_digest) << "not the amd64 manifest";
  EXPECT_EQ("application/vnd.oci.image.index.v1+json", result_.media_type);
  ASSERT_EQ(2u, result_.layers.size());

  const json index = json::parse(read_file(layout_out_ + "/index.json"));
  ASSERT_EQ(1u, index["manifests"].size());
  EXPECT_EQ(result_.manifest_digest, index["manifests"][0]["digest"]);
  EXPECT_EQ("multi", index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"]);
  EXPECT_EQ("amd64", index["manifests"][0]["platform"]["architecture"]);
  EXPECT_EQ(R"({"imageLayoutVersion":"1.0.0"})", read_file(layout_out_ + "/oci-layout"));
  const auto blobs = files_under(layout_out_ + "/blobs/sha256");
  EXPECT_EQ(4u, blobs.size()) << "manifest, config, two layers";
  for (const auto& b : blobs) {
    EXPECT_EQ("sha256:" + b, sha256_file(layout_out_ + "/blobs/sha256/" + b)) << b;
  }
  // The top layer holds /etc/mc-platform: amd64's, not arm64's.
  const auto top =
      run({"/bin/tar", "-xzOf", layout_out_ + "/blobs/sha256/" + result_.layers.back().substr(7),
           "etc/mc-platform"});
  EXPECT_EQ("amd64\n", top.out) << top.err;

  // What was asked, in order: the index, the amd64 manifest by digest, config, layers; never
  // the arm64 manifest.
  const std::string log = proxy.requests();
  EXPECT_NE(std::string::npos, log.find("GET /v2/mc/busybox/manifests/multi auth=-")) << log;
  EXPECT_NE(std::string::npos, log.find("manifests/" + result_.manifest_digest)) << log;
  EXPECT_EQ(std::string::npos, log.find(layout_digest(layout_, "arm64"))) << log;
}

// Docker Hub's anonymous flow: 401 with a Bearer challenge (its scope has a comma), a token
// from the realm for exactly that service and scope, every later request with the token.
TEST_F(RegistryTest, BearerTokenFromTheChallengesRealm) {
  for (const char* mode : {"token", "access_token"}) {
    SCOPED_TRACE(mode);
    Proxy proxy(*registry_, mode);
    ASSERT_EQ("", proxy.error());
    ASSERT_EQ("", try_fetch(proxy.host(), kRepo, "amd64"));
    std::istringstream log(proxy.requests());
    std::vector<std::string> lines;
    for (std::string line; std::getline(log, line);) lines.push_back(line);
    ASSERT_GE(lines.size(), 6u) << proxy.requests();
    EXPECT_EQ("registry GET /v2/mc/busybox/manifests/amd64 auth=-", lines[0]);
    // service="mc test registry", scope="repository:mc/busybox:pull,push", URL-encoded.
    EXPECT_EQ(
        "registry GET /token?service=mc%20test%20registry&scope=repository%3Amc%2Fbusybox%3Apull%2C"
        "push auth=-",
        lines[1]);
    for (std::size_t i = 2; i < lines.size(); ++i) {
      EXPECT_NE(std::string::npos, lines[i].find(" auth=Bearer ")) << lines[i];
    }
    // The 401, the token, the manifest, the config, the layers.
    EXPECT_EQ(result_.layers.size() + 4, lines.size()) << "one token for the whole pull";
  }
}

// Blobs redirected to another server (S3, a CDN): followed, and the registry's token is not
// sent there.
TEST_F(RegistryTest, RedirectedBlobsDoNotGetTheToken) {
  Proxy proxy(*registry_, "token,redirect");
  ASSERT_EQ("", proxy.error());
  ASSERT_EQ("", try_fetch(proxy.host(), kRepo, "amd64"));
  const std::string log = proxy.requests();
  EXPECT_NE(std::string::npos, log.find("storage GET /storage/v2/mc/busybox/blobs/")) << log;
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with("storage ")) {
      EXPECT_TRUE(line.ends_with(" auth=-")) << line;
    }
  }
}

// Errors: one clear line each.
TEST_F(RegistryTest, ErrorsAreOneClearLine) {
  EXPECT_NE(std::string::npos,
            try_fetch(registry_->host(), "mc/nothing", "latest").find("not found: manifest for "))
      << "404";
  EXPECT_NE(std::string::npos,
            try_fetch(registry_->host(), kRepo, "no-such-tag").find("MANIFEST_UNKNOWN"));
  const std::string closed = "127.0.0.1:" + std::to_string(free_port());
  EXPECT_NE(std::string::npos, try_fetch(closed, kRepo, "amd64").find("cannot reach http://"));
  const std::string other = try_fetch(registry_->host(), kRepo, "armonly");
  EXPECT_NE(std::string::npos, other.find("no matching manifest for linux/amd64")) << other;
  EXPECT_NE(std::string::npos, other.find("linux/arm64/v8")) << other;
  // A lone manifest whose config says arm64: refused before any layer is fetched.
  {
    Proxy proxy(*registry_, "open");
    ASSERT_EQ("", proxy.error());
    const std::string arm = try_fetch(proxy.host(), kRepo, "arm64");
    EXPECT_NE(std::string::npos, arm.find("no matching manifest for linux/amd64")) << arm;
    EXPECT_NE(std::string::npos, arm.find("(it is for linux/arm64)")) << arm;
    std::istringstream log(proxy.requests());
    int blobs = 0;
    for (std::string line; std::getline(log, line);)
      blobs += line.find("/blobs/") != std::string::npos;
    EXPECT_EQ(1, blobs) << "only the config: " << proxy.requests();
  }
  {
    Proxy proxy(*registry_, "basic");
    ASSERT_EQ("", proxy.error());
    const std::string basic = try_fetch(proxy.host(), kRepo, "amd64");
    EXPECT_NE(std::string::npos, basic.find("Basic auth")) << basic;
  }
  {
    Proxy proxy(*registry_, "badjson");
    ASSERT_EQ("", proxy.error());
    const std::string bad = try_fetch(proxy.host(), kRepo, "amd64");
    EXPECT_NE(std::string::npos, bad.find("bad manifest")) << bad;
  }
  {
    Proxy proxy(*registry_, "baddigest");
    ASSERT_EQ("", proxy.error());
    const std::string bad = try_fetch(proxy.host(), kRepo, "amd64");
    EXPECT_NE(std::string::npos, bad.find("wrong digest: the registry says the manifest of "))
        << bad;
  }
  // A digest that is not the manifest's.
  const std::string wrong = try_fetch(registry_->host(), kRepo, "sha256:" + std::string(64, 'a'));
  EXPECT_NE(std::string::npos, wrong.find("not found")) << wrong;
}

// Blobs the store has are linked, not downloaded again.
TEST_F(RegistryTest, BlobsTheStoreHasAreNotDownloaded) {
  ASSERT_EQ("", try_fetch(registry_->host(), kRepo, "amd64"));
  const std::string first = layout_out_;
  Proxy proxy(*registry_, "open");
  ASSERT_EQ("", proxy.error());
  std::vector<BlobProgress> seen;
  FetchOptions o;
  o.existing_blob = [&](const std::string& d) -> std::optional<fs::path> {
    const fs::path p = first + "/blobs/sha256/" + d.substr(7);
    return fs::exists(p) ? std::optional(p) : std::nullopt;
  };
  o.progress = [&](const BlobProgress& p) { seen.push_back(p); };
  ASSERT_EQ("", try_fetch(proxy.host(), kRepo, "amd64", o));
  EXPECT_EQ(std::string::npos, proxy.requests().find("/blobs/")) << proxy.requests();
  EXPECT_EQ(0u, result_.downloaded_bytes);
  int exists = 0;
  for (const auto& p : seen) exists += p.state == BlobState::kAlreadyExists;
  EXPECT_EQ(3, exists) << "config and two layers";
  EXPECT_EQ(files_under(first), files_under(layout_out_));
}

// A blob whose bytes were changed in the registry's storage: refused, and nothing of it gets
// a final name in the layout. Its own registry: blobs are shared between repositories there.
TEST_F(RegistryTest, TamperedBlobIsRefused) {
  LocalRegistry reg;
  ASSERT_EQ("", reg.error());
  ASSERT_EQ(0, reg.push(layout_, "amd64", kRepo).status);
  ASSERT_EQ("", try_fetch(reg.host(), kRepo, "amd64"));
  const std::string layer = result_.layers.front();
  {
    std::fstream f(reg.blob_data(layer), std::ios::in | std::ios::out | std::ios::binary);
    ASSERT_TRUE(f.is_open()) << reg.blob_data(layer);
    f.seekp(100);
    f.put('\x5a');
  }
  const std::string err = try_fetch(reg.host(), kRepo, "amd64");
  EXPECT_NE(std::string::npos, err.find("wrong digest: blob " + layer)) << err;
  EXPECT_FALSE(fs::exists(layout_out_ + "/blobs/sha256/" + layer.substr(7)));
  EXPECT_FALSE(fs::exists(layout_out_ + "/index.json"));
}

// --- `mycontainer pull` (which runs mycontainer-image pull), into a store of the test's own --

// What docker prints, and the image is in the store; a second pull downloads nothing.
TEST_F(RegistryTest, PullPrintsDockersLinesAndStoresTheImage) {
  Proxy proxy(*registry_, "token");
  ASSERT_EQ("", proxy.error());
  TempDir store;
  auto mc = [&](const std::vector<std::string>& words) {
    std::vector<std::string> argv = {bin("mycontainer"), "--store", store.path()};
    argv.insert(argv.end(), words.begin(), words.end());
    return run(argv, slow_run());
  };
  const std::string name = proxy.host() + "/mc/busybox:multi";
  const auto first = mc({"pull", name});
  ASSERT_EQ(0, first.status) << first.out << first.err;
  std::istringstream lines(first.out);
  std::vector<std::string> out;
  for (std::string line; std::getline(lines, line);) out.push_back(line);
  ASSERT_EQ(6u, out.size()) << first.out;
  EXPECT_EQ("multi: Pulling from " + proxy.host() + "/mc/busybox", out[0]);
  EXPECT_TRUE(out[1].ends_with(": Pull complete")) << out[1];
  EXPECT_TRUE(out[2].ends_with(": Pull complete")) << out[2];
  EXPECT_EQ("Digest: " + layout_digest(layout_, "multi"), out[3]);
  EXPECT_EQ("Status: Downloaded newer image for " + name, out[4]);
  EXPECT_EQ(name, out[5]);
  EXPECT_EQ("", first.err);
  EXPECT_EQ(std::vector<std::string>{}, files_under(store.path() + "/tmp")) << "work left";

  const auto images = mc({"images"});
  EXPECT_NE(std::string::npos, images.out.find(proxy.host() + "/mc/busybox")) << images.out;

  const std::size_t asked = proxy.requests().size();
  const auto again = mc({"pull", name});
  ASSERT_EQ(0, again.status) << again.out << again.err;
  EXPECT_NE(std::string::npos, again.out.find("Status: Image is up to date for " + name))
      << again.out;
  EXPECT_EQ(std::string::npos, proxy.requests().substr(asked).find("/blobs/"))
      << "downloaded again: " << proxy.requests().substr(asked);
}

// Rootless (#13 "The store ... $XDG_DATA_HOME/mycontainer rootless"): an ordinary user pulls
// through the token flow into its own store, every file of which is the user's, lists the
// image and runs it; root's default store is not touched.
TEST_F(RegistryTest, RootlessPullGoesToTheUsersOwnStore) {
  const RootlessUser& user = RootlessUserEnvironment::get();
  if (const auto why = subordinate_ids_missing(user)) MC_SKIP_OR_FAIL(*why);
  const RootlessHome home(user);
  const std::string root_store = read_file("/var/lib/mycontainer/repositories.json");
  Proxy proxy(*registry_, "token");
  ASSERT_EQ("", proxy.error());
  auto mc = [&](const std::vector<std::string>& words) {
    std::vector<std::string> command{bin("mycontainer")};
    command.insert(command.end(), words.begin(), words.end());
    return run(user_argv(user, command, home.env()), slow_run());
  };
  const std::string name = proxy.host() + "/mc/busybox:amd64";
  const auto pulled = mc({"pull", name});
  ASSERT_EQ(0, pulled.status) << pulled.out << pulled.err;
  EXPECT_NE(std::string::npos, pulled.out.find("Status: Downloaded newer image for " + name))
      << pulled.out;
  EXPECT_NE(std::string::npos, proxy.requests().find("registry GET /token?")) << proxy.requests();

  const auto images = mc({"images"});
  EXPECT_NE(std::string::npos, images.out.find(proxy.host() + "/mc/busybox")) << images.out;
  std::string not_users;
  for (const auto& f : files_under(home.data_root().string())) {
    struct stat st {};
    const std::string path = home.data_root().string() + "/" + f;
    if (::lstat(path.c_str(), &st) == 0 && st.st_uid != user.uid) not_users += path + "\n";
  }
  EXPECT_EQ("", not_users);
  EXPECT_EQ(std::vector<std::string>{}, files_under(home.data_root().string() + "/tmp"));

  const auto ran = mc({"run", "--rm", name, "/bin/sh", "-c", "echo pulled; id -u"});
  EXPECT_EQ(0, ran.status) << ran.out << ran.err;
  EXPECT_EQ("pulled\n0\n", ran.out);
  EXPECT_EQ(0, mc({"rmi", name}).status);
  EXPECT_EQ(root_store, read_file("/var/lib/mycontainer/repositories.json"));
}

// Each error: exit 125, one line on stderr, nothing in the store.
TEST_F(RegistryTest, PullErrorsExit125AndLeaveNothing) {
  TempDir store;
  LocalRegistry tampered;
  ASSERT_EQ("", tampered.error());
  ASSERT_EQ(0, tampered.push(layout_, "amd64", kRepo).status);
  {
    const json m = json::parse(
        read_file(layout_ + "/blobs/sha256/" + layout_digest(layout_, "amd64").substr(7)));
    std::fstream f(tampered.blob_data(m["layers"][0]["digest"]),
                   std::ios::in | std::ios::out | std::ios::binary);
    ASSERT_TRUE(f.is_open());
    f.seekp(100);
    f.put('\x5a');
  }
  const std::string closed = "127.0.0.1:" + std::to_string(free_port());
  const std::vector<std::pair<std::string, std::string>> cases = {
      {registry_->host() + "/mc/nothing:latest", "not found: manifest for "},
      {closed + "/mc/busybox:amd64", "cannot reach http://" + closed},
      {registry_->host() + "/mc/busybox:armonly", "no matching manifest for linux/amd64"},
      {tampered.host() + "/mc/busybox:amd64", "wrong digest: blob sha256:"},
  };
  for (const auto& [name, message] : cases) {
    SCOPED_TRACE(name);
    const auto r = run({bin("mycontainer"), "--store", store.path(), "pull", name}, slow_run());
    EXPECT_EQ(125, r.status) << r.out << r.err;
    EXPECT_NE(std::string::npos, r.err.find(message)) << r.err;
    EXPECT_EQ(1, std::count(r.err.begin(), r.err.end(), '\n')) << r.err;
    for (const char* sub : {"blobs", "layers", "images", "tmp"}) {
      EXPECT_EQ(std::vector<std::string>{}, files_under(store.path() + "/" + sub)) << sub;
    }
  }
}

// SIGKILL in the middle of a download (a slow registry): no partial blob under a final name,
// and the next pull succeeds and cleans up what the killed one left in tmp/.
TEST_F(RegistryTest, SigkillDuringPullThenPullAgain) {
  TempDir store;
  Proxy slow(*registry_, "slow");
  ASSERT_EQ("", slow.error());
  Background pull(
      {bin("mycontainer"), "--store", store.path(), "pull", slow.host() + "/mc/busybox:amd64"});
  // Wait until a layer is being written (a *.partial file with bytes in it under tmp/).
  const bool downloading = wait_until([&] {
    for (const auto& f : files_under(store.path() + "/tmp")) {
      std::error_code ec;
      if (f.ends_with(".partial") && fs::file_size(store.path() + "/tmp/" + f, ec) > 8192) {
        return true;
      }
    }
    return false;
  });
  ASSERT_TRUE(downloading) << pull.out() << pull.err();
  pull.signal(SIGKILL);
  EXPECT_EQ(128 + SIGKILL, pull.wait().status);
  EXPECT_EQ(std::vector<std::string>{}, files_under(store.path() + "/blobs"));
  EXPECT_EQ(std::vector<std::string>{}, files_under(store.path() + "/images"));

  const auto again = run({bin("mycontainer"), "--store", store.path(), "pull",
                          registry_->host() + "/mc/busybox:amd64"},
                         slow_run());
  ASSERT_EQ(0, again.status) << again.out << again.err;
  EXPECT_EQ(std::vector<std::string>{}, files_under(store.path() + "/tmp")) << "left by the kill";
  for (const auto& b : files_under(store.path() + "/blobs/sha256")) {
    EXPECT_EQ("sha256:" + b, sha256_file(store.path() + "/blobs/sha256/" + b)) << b;
  }
}

// Two pulls of one image at once: both succeed, one image in the store.
TEST_F(RegistryTest, TwoPullsAtOnce) {
  TempDir store;
  const std::string name = registry_->host() + "/mc/busybox:multi";
  Background a({bin("mycontainer"), "--store", store.path(), "pull", name});
  Background b({bin("mycontainer"), "--store", store.path(), "pull", name});
  const auto ra = a.wait(std::chrono::seconds(120));
  const auto rb = b.wait(std::chrono::seconds(120));
  EXPECT_EQ(0, ra.status) << ra.out << ra.err;
  EXPECT_EQ(0, rb.status) << rb.out << rb.err;
  EXPECT_EQ(1u, files_under(store.path() + "/images").size());
  EXPECT_EQ(std::vector<std::string>{}, files_under(store.path() + "/tmp"));
  for (const auto& f : files_under(store.path() + "/blobs/sha256")) {
    EXPECT_EQ("sha256:" + f, sha256_file(store.path() + "/blobs/sha256/" + f)) << f;
  }
}

// https with a certificate of the test's own making (openssl, for 127.0.0.1): the token server
// of the challenge serves TLS. Refused against the system's CAs; pulled with --ca-file.
TEST_F(RegistryTest, HttpsWithTheTestsOwnCertificateAuthority) {
  TempDir tls;
  const std::string cert = tls.path() + "/cert.pem", key = tls.path() + "/key.pem";
  const auto made = run({"/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                         "-days", "1", "-subj", "/CN=127.0.0.1", "-addext",
                         "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert});
  ASSERT_EQ(0, made.status) << made.err;
  Proxy proxy(*registry_, "tlstoken", {cert, key});
  ASSERT_EQ("", proxy.error());
  TempDir store;
  const std::string name = proxy.host() + "/mc/busybox:amd64";
  const auto refused = run({bin("mycontainer"), "--store", store.path(), "pull", name}, slow_run());
  EXPECT_EQ(125, refused.status) << refused.out << refused.err;
  EXPECT_NE(std::string::npos, refused.err.find("cannot reach https://127.0.0.1:")) << refused.err;
  EXPECT_NE(std::string::npos, refused.err.find("certificate")) << refused.err;

  const auto pulled = run(
      {bin("mycontainer"), "--store", store.path(), "pull", "--ca-file", cert, name}, slow_run());
  EXPECT_EQ(0, pulled.status) << pulled.out << pulled.err;
  EXPECT_NE(std::string::npos, proxy.requests().find("registry GET /token?")) << proxy.requests();
}

// On a terminal (script(1) gives the pull one): a live line per layer, rewritten in place
// (ESC[nA up to it, ESC[2K to clear it), as docker draws it; each ends as "Pull complete".
TEST_F(RegistryTest, PullOnATerminalRedrawsALinePerLayer) {
  TempDir store;
  const std::string command = bin("mycontainer") + " --store " + store.path() + " pull " +
                              registry_->host() + "/mc/busybox:multi";
  const auto r = run({"/usr/bin/script", "-qfec", command, "/dev/null"}, slow_run());
  ASSERT_EQ(0, r.status) << r.out << r.err;
  EXPECT_NE(std::string::npos, r.out.find(": Pulling fs layer\r\n")) << r.out;
  EXPECT_NE(std::string::npos, r.out.find("\x1b[2A\r\x1b[2K")) << "no redraw of line 1 of 2";
  EXPECT_NE(std::string::npos, r.out.find(": Downloading [")) << r.out;
  EXPECT_EQ(2, [&] {
    int n = 0;
    for (auto at = r.out.find(": Pull complete"); at != std::string::npos;
         at = r.out.find(": Pull complete", at + 1)) {
      ++n;
    }
    return n;
  }()) << r.out;
  EXPECT_NE(std::string::npos, r.out.find("Status: Downloaded newer image for ")) << r.out;
}

}  // namespace
}  // namespace mc::test::images
