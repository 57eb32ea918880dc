// The registry client's pure parts (step7_full_container/image/registry.hpp): the
// WWW-Authenticate parser, where a registry name is served, and containerd's platform choice.
#include "image/registry.hpp"

#include <gtest/gtest.h>

namespace {

using namespace mycontainer::registry;
using nlohmann::json;

TEST(WwwAuthenticate, DockerHubsBearerChallenge) {
  const auto c = parse_www_authenticate(
      R"(Bearer realm="https://auth.docker.io/token",service="registry.docker.io",)"
      R"(scope="repository:library/alpine:pull")");
  ASSERT_EQ(1u, c.size());
  EXPECT_EQ("bearer", c[0].scheme);
  EXPECT_EQ("https://auth.docker.io/token", c[0].params.at("realm"));
  EXPECT_EQ("registry.docker.io", c[0].params.at("service"));
  EXPECT_EQ("repository:library/alpine:pull", c[0].params.at("scope"));
}

TEST(WwwAuthenticate, CommasAndEscapesInQuotedValuesAndSeveralChallenges) {
  const auto c = parse_www_authenticate(
      R"(Basic realm="a, \"quoted\" realm" , BEARER Realm = "https://x/t" ,)"
      R"( scope="repository:a/b:pull,push repository:c:pull",error=insufficient_scope)");
  ASSERT_EQ(2u, c.size());
  EXPECT_EQ("basic", c[0].scheme);
  EXPECT_EQ(R"(a, "quoted" realm)", c[0].params.at("realm"));
  EXPECT_EQ("bearer", c[1].scheme);
  EXPECT_EQ("https://x/t", c[1].params.at("realm"));
  EXPECT_EQ("repository:a/b:pull,push repository:c:pull", c[1].params.at("scope"));
  EXPECT_EQ("insufficient_scope", c[1].params.at("error"));
}

TEST(WwwAuthenticate, JunkNeverThrows) {
  for (const char* h : {"", ",,,", "=", "Bearer", "Bearer realm", "Bearer realm=\"unterminated",
                        "\"\"\"", "Negotiate abc==", "  ,Bearer ,,realm=x"}) {
    EXPECT_NO_THROW(parse_www_authenticate(h)) << h;
  }
  const auto n = parse_www_authenticate("Negotiate abc==");
  ASSERT_EQ(1u, n.size());
  EXPECT_EQ("negotiate", n[0].scheme);
}

TEST(RegistryUrl, DockerIoLoopbackAndTheRest) {
  EXPECT_EQ("https://registry-1.docker.io", registry_base_url("docker.io"));
  EXPECT_EQ("http://localhost:5000", registry_base_url("localhost:5000"));
  EXPECT_EQ("http://127.0.0.1:5000", registry_base_url("127.0.0.1:5000"));
  EXPECT_EQ("http://[::1]:5000", registry_base_url("[::1]:5000"));
  EXPECT_EQ("https://quay.io", registry_base_url("quay.io"));
  EXPECT_EQ("https://10.0.0.1:5000", registry_base_url("10.0.0.1:5000"));
  // A name that only starts with "localhost" is not loopback (".invalid": RFC 6761, never
  // resolves; no test contacts any of these names, it only formats the URL).
  EXPECT_EQ("https://localhost.invalid", registry_base_url("localhost.invalid"));
}

json index_of(std::initializer_list<json> platforms) {
  json m = json::array();
  for (const auto& p : platforms) m.push_back({{"digest", "sha256:x"}, {"platform", p}});
  return {{"manifests", m}};
}

TEST(Platform, ContainerdsChoiceForLinuxAmd64) {
  const Platform want = wanted_platform();
  const json arm = {{"os", "linux"}, {"architecture", "arm64"}, {"variant", "v8"}};
  const json v3 = {{"os", "linux"}, {"architecture", "amd64"}, {"variant", "v3"}};
  const json plain = {{"os", "linux"}, {"architecture", "amd64"}};
  const json v1 = {{"os", "linux"}, {"architecture", "amd64"}, {"variant", "v1"}};
  const json x86 = {{"os", "Linux"}, {"architecture", "x86_64"}};
  const json i386 = {{"os", "linux"}, {"architecture", "386"}};
  const json win = {{"os", "windows"}, {"architecture", "amd64"}};
  const json unknown = {{"os", "unknown"}, {"architecture", "unknown"}};  // attestations
  EXPECT_EQ(2u, pick_platform(index_of({arm, v3, plain}), want));
  EXPECT_EQ(1u, pick_platform(index_of({unknown, v1, plain}), want)) << "v1 is amd64";
  EXPECT_EQ(0u, pick_platform(index_of({x86}), want)) << "normalised";
  EXPECT_EQ(1u, pick_platform(index_of({i386, plain}), want)) << "amd64 before 386";
  EXPECT_EQ(0u, pick_platform(index_of({i386, win}), want)) << "386 runs on amd64";
  EXPECT_EQ(std::nullopt, pick_platform(index_of({arm, v3, win, unknown}), want));
  EXPECT_EQ(std::nullopt, pick_platform(json::object(), want));
  EXPECT_EQ("linux/arm64/v8, linux/amd64/v3, windows/amd64, unknown/unknown",
            list_platforms(index_of({arm, v3, win, unknown})));
}

TEST(Digest, OnlyLowercaseSha256) {
  EXPECT_TRUE(valid_digest("sha256:" + std::string(64, 'a')));
  EXPECT_FALSE(valid_digest("sha256:" + std::string(64, 'A')));
  EXPECT_FALSE(valid_digest("sha256:" + std::string(63, 'a')));
  EXPECT_FALSE(valid_digest("sha512:" + std::string(64, 'a')));
  EXPECT_FALSE(valid_digest("sha256:../../../../etc/passwd" + std::string(37, 'a')));
}

}  // namespace
