// The registry client: what `mycontainer pull` asks a registry, over HTTPS with libcurl.
//
// The OCI distribution spec (distribution-spec/spec.md, "Pulling manifests", "Pulling
// blobs") is two kinds of GET:
//
//   GET /v2/<repository>/manifests/<tag or digest>   Accept: the four manifest media types
//   GET /v2/<repository>/blobs/<digest>              (often a redirect to a storage server)
//
// A tag may name an image index (one manifest per platform): the client picks linux/amd64
// the way containerd does (platforms.Only), then fetches that manifest by digest, then its
// config and layers. Every byte is checked against the sha256 digest that named it while it
// is written, so nothing unverified ever gets a final name.
//
// Docker Hub answers the first request with 401 and `WWW-Authenticate: Bearer realm=...,
// service=...,scope=...`: the client asks the realm for an anonymous token and retries
// (docker's token spec, distribution/docs/spec/auth/token.md).
//
// fetch() writes an OCI image layout (image-spec/image-layout.md) into a directory that the
// image store then ingests with load_layout(). Library code: it reports through the
// progress callback and throws RegistryError; it never prints.
#pragma once

#include <cstdint>      // std::uint64_t
#include <filesystem>   // std::filesystem::path
#include <functional>   // std::function
#include <map>          // std::map
#include <optional>     // std::optional
#include <stdexcept>    // std::runtime_error
#include <string>       // std::string
#include <string_view>  // std::string_view
#include <vector>       // std::vector

#include <nlohmann/json.hpp>  // manifests and indexes are JSON

namespace mycontainer::registry {

// A pull failed in a way the user must hear about: the message is one complete line
// ("manifest unknown: 127.0.0.1:5000/nope:latest (404)"). mycontainer exits 125.
class RegistryError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The media types a manifest request accepts, most specific first (image-spec/media-types.md,
// and docker's manifest-v2-2.md for the two docker ones).
inline constexpr std::string_view kOciIndex = "application/vnd.oci.image.index.v1+json";
inline constexpr std::string_view kDockerList =
    "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr std::string_view kOciManifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view kDockerManifest =
    "application/vnd.docker.distribution.manifest.v2+json";

// --- Pure parts (unit-tested without a network) ---------------------------------------------

// One challenge of a WWW-Authenticate header (RFC 7235 section 4.1): a scheme and its
// parameters, names lowercased, quoted values unquoted.
struct Challenge {
  std::string scheme;  // lowercased: "bearer", "basic"
  std::map<std::string, std::string> params;
};
// Parses a WWW-Authenticate value; commas inside quoted values (a scope of
// "repository:a:pull,push") stay in the value. Malformed parts are skipped, never thrown.
std::vector<Challenge> parse_www_authenticate(std::string_view header);

// Where a registry name is served: "https://registry-1.docker.io" for docker.io (docker's
// default registry), plain http only for loopback names (localhost, 127.0.0.0/8, [::1]), as
// docker treats loopback registries as insecure by default; https everywhere else.
std::string registry_base_url(std::string_view registry);
bool is_loopback_registry(std::string_view registry);

// An OCI platform (image-spec/image-index.md, "platform").
struct Platform {
  std::string os;
  std::string architecture;
  std::string variant;
};
// The platform this client pulls: linux/amd64.
Platform wanted_platform();
// The index entry to pull for `want`, by containerd's rules (platforms.Only): the OS and
// architecture normalised (x86_64 -> amd64, amd64/v1 -> amd64), an entry with no variant (or
// v1) first, then 386 as containerd's fallback for amd64; index order breaks ties. nullopt
// when none matches (the caller lists what the index has).
std::optional<std::size_t> pick_platform(const nlohmann::json& index, const Platform& want);
// "linux/arm64, linux/arm/v7": the platforms an index lists, for an error message.
std::string list_platforms(const nlohmann::json& index);

// "sha256:<64 hex>" -> true. Only sha256 is accepted (what every registry serves).
bool valid_digest(std::string_view digest);

// --- The client -----------------------------------------------------------------------------

// What to pull: registry host[:port], repository path ("library/alpine"), and a tag or a
// digest ("latest", "sha256:...").
struct Target {
  std::string registry;
  std::string repository;
  std::string reference;
};

// What fetch() reports, per blob, in order: docker's words for a layer's states.
enum class BlobState {
  kWaiting,          // listed in the manifest, not started
  kAlreadyExists,    // the store has it: not downloaded
  kDownloading,      // done/total bytes so far (reported often)
  kVerifying,        // all bytes in, digest being compared
  kDownloadComplete  // verified and renamed into the layout
};
struct BlobProgress {
  std::string digest;  // sha256:...
  bool is_layer = true;
  BlobState state = BlobState::kWaiting;
  std::uint64_t done = 0;
  std::uint64_t total = 0;
};

struct FetchOptions {
  // A file with CA certificates to trust instead of the system's (curl's CURLOPT_CAINFO).
  std::string ca_file;
  // Given a digest, the path of that blob if the store already holds it (verified): fetch()
  // links it into the layout instead of downloading it. Empty: download everything.
  std::function<std::optional<std::filesystem::path>(const std::string& digest)> existing_blob;
  std::function<void(const BlobProgress&)> progress;
};

struct FetchResult {
  std::string digest;           // of what the reference named: the index when it was one
  std::string manifest_digest;  // of the linux/amd64 image manifest
  std::string media_type;       // of what the reference named
  std::vector<std::string> layers;
  std::uint64_t downloaded_bytes = 0;
};

// Fetches `target` into `layout_dir` (created if missing, must be empty) as an OCI image
// layout: oci-layout, index.json naming the image manifest (annotated with the reference),
// blobs/sha256/HEX for the manifest, config and layers. Throws RegistryError; on a throw the
// directory may hold partial files (named *.partial): the caller removes it.
FetchResult fetch(const Target& target, const std::filesystem::path& layout_dir,
                  const FetchOptions& options = {});

}  // namespace mycontainer::registry
