// Store::load_layout: ingesting an OCI image layout (image-spec image-layout.md), in
// mc_image_write (libarchive, OpenSSL).
//
// Order, so that a failure or a SIGKILL anywhere leaves the store as it was:
//   1. everything is staged in tmp/load-XXXXXX/: each blob hashed and compared with the
//      descriptor that names it, each new layer unpacked and its diff_id compared with the
//      config's; any mismatch throws, and the staging directory goes
//   2. then each staged blob and layer is renamed into place (one rename(2) each: there or
//      not there, never half); one already there (another load) is kept, ours dropped
//   3. then the image record, then the names: only now does the image exist
// A kill between 2 and 3 leaves complete, verified blobs and layers that no image names:
// the next `rmi` removes them, nothing reads them.
#include <fcntl.h>   // open(2)
#include <unistd.h>  // geteuid(2), fsync(2)

#include <fstream>

#include "ctr/error.hpp"
#include "image/files.hpp"
#include "image/store.hpp"
#include "image/unpack.hpp"

namespace mycontainer::image {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr std::uintmax_t kMaxJsonBlob = 4 << 20;  // manifests and configs: small

const std::string kIndexType = "application/vnd.oci.image.index.v1+json";
const std::string kDockerListType = "application/vnd.docker.distribution.manifest.list.v2+json";

struct Staging {
  fs::path dir;
  ~Staging() { detail::remove_tree(dir); }
};

// A blob of the layout, checked against its descriptor (digest and size), copied into the
// staging directory (fsync'ed there, so the rename into place later is durable).
fs::path stage_blob(const fs::path& layout, const json& desc, const fs::path& staging) {
  const std::string digest = desc.at("digest").get<std::string>();
  const fs::path src = layout / "blobs/sha256" / detail::digest_hex(digest);
  const fs::path dst = staging / ("blob-" + detail::digest_hex(digest));
  if (fs::exists(dst)) return dst;
  std::error_code ec;
  if (!fs::is_regular_file(src, ec)) throw ctr::UsageError("blob " + digest + " is missing");
  fs::copy_file(src, dst);
  const auto [actual, size] = sha256_file(dst);
  if (actual != digest) {
    throw ctr::UsageError("blob " + digest + " is corrupt: its content hashes to " + actual);
  }
  if (desc.contains("size") && desc.at("size").get<std::uint64_t>() != size) {
    throw ctr::UsageError("blob " + digest + " has " + std::to_string(size) +
                          " bytes, its descriptor says " + desc.at("size").dump());
  }
  const ctr::UniqueFd fd(
      ctr::check(::open(dst.c_str(), O_RDONLY | O_CLOEXEC), "open", dst.string()));
  ctr::check(::fsync(fd.get()), "fsync", dst.string());
  return dst;
}

json read_json_blob(const fs::path& layout, const json& desc, const fs::path& staging) {
  if (desc.value("size", std::uint64_t{0}) > kMaxJsonBlob) {
    throw ctr::UsageError("blob " + desc.value("digest", "") + " is too large for JSON");
  }
  try {
    return json::parse(detail::read_file(stage_blob(layout, desc, staging)));
  } catch (const json::exception& e) {
    throw ctr::UsageError("blob " + desc.value("digest", "") + ": bad JSON: " + e.what());
  }
}

// index.json (or a nested index) -> the manifest for linux/amd64, or the only one.
json pick_manifest(const fs::path& layout, const json& index, const fs::path& staging) {
  const json& list = index.at("manifests");
  if (list.empty()) throw ctr::UsageError("the image index lists no manifest");
  for (const auto& desc : list) {
    const json platform = desc.value("platform", json::object());
    if (!platform.empty() &&
        (platform.value("os", "") != "linux" || platform.value("architecture", "") != "amd64")) {
      continue;
    }
    const std::string type = desc.value("mediaType", "");
    if (type == kIndexType || type == kDockerListType) {
      return pick_manifest(layout, read_json_blob(layout, desc, staging), staging);
    }
    json manifest = read_json_blob(layout, desc, staging);
    manifest["__digest"] = desc.at("digest");
    return manifest;
  }
  throw ctr::UsageError("the image has no manifest for linux/amd64");
}

// Moves a staged file or directory to its place; another load that got there first wins.
void move_into_place(const fs::path& from, const fs::path& to) {
  if (fs::exists(to)) return;
  std::error_code ec;
  fs::rename(from, to, ec);
  if (ec && !fs::exists(to)) throw fs::filesystem_error("rename", from, to, ec);
}

}  // namespace

Image Store::load_layout(const fs::path& dir, const std::vector<Reference>& names,
                         const ProgressFn& progress) {
  const WriteLock hold = lock_for_write();
  for (const char* sub : {"blobs/sha256", "layers", "images"}) fs::create_directories(root_ / sub);
  Staging staging{make_temp_dir("load")};

  std::error_code ec;
  if (!fs::is_regular_file(dir / "oci-layout", ec) ||
      !fs::is_regular_file(dir / "index.json", ec)) {
    throw ctr::UsageError("'" + dir.string() +
                          "' is not an OCI image layout (no oci-layout or index.json)");
  }
  json index, manifest, config;
  try {
    index = json::parse(detail::read_file(dir / "index.json"));
  } catch (const json::exception& e) {
    throw ctr::UsageError(std::string("index.json: ") + e.what());
  }
  manifest = pick_manifest(dir, index, staging.dir);
  const std::string manifest_digest = manifest.at("__digest");
  manifest.erase("__digest");
  const json& config_desc = manifest.at("config");
  config = read_json_blob(dir, config_desc, staging.dir);
  const std::string id = config_desc.at("digest");
  const json& layers = manifest.at("layers");
  const json diff_ids = config.at("rootfs").at("diff_ids");
  if (diff_ids.size() != layers.size()) {
    throw ctr::UsageError("the config names " + std::to_string(diff_ids.size()) +
                          " layers, the manifest " + std::to_string(layers.size()));
  }

  json record = {{"id", id}, {"manifest_digest", manifest_digest}, {"layers", json::array()}};
  std::uint64_t total = 0;
  const bool as_root = ::geteuid() == 0;
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const json& desc = layers[i];
    const std::string digest = desc.at("digest");
    const std::string diff_id = diff_ids[i];
    const std::uint64_t size = desc.value("size", std::uint64_t{0});
    const fs::path blob = stage_blob(dir, desc, staging.dir);
    const fs::path final_layer = root_ / "layers" / detail::digest_hex(diff_id);
    std::uint64_t tar_size = 0;
    if (fs::exists(final_layer)) {
      if (progress) progress({digest, "Already exists", size, size});
      // The uncompressed size is in the record of an image that has the layer; the blob's
      // size is close enough when it is not.
      tar_size = size;
    } else {
      if (progress) progress({digest, "Extracting", 0, size});
      const fs::path dest = staging.dir / ("layer-" + detail::digest_hex(diff_id));
      fs::create_directory(dest);
      UnpackOptions options;
      options.as_root = as_root;
      options.on_progress = [&](std::uint64_t done) {
        if (progress) progress({digest, "Extracting", done, size});
      };
      const UnpackResult r = unpack_layer(blob, dest, options);
      if (r.diff_id != diff_id) {
        throw ctr::UsageError("layer " + digest + " unpacks to " + r.diff_id +
                              ", the config says " + diff_id);
      }
      tar_size = r.tar_size;
      if (progress) progress({digest, "Done", size, size});
    }
    total += tar_size;
    record["layers"].push_back({{"digest", digest},
                                {"diff_id", diff_id},
                                {"size", size},
                                {"media_type", desc.value("mediaType", "")},
                                {"tar_size", tar_size}});
  }
  record["size"] = total;

  // 2. Into place.
  detail::fsync_dir(staging.dir);
  for (const auto& entry : fs::directory_iterator(staging.dir)) {
    const std::string name = entry.path().filename().string();
    if (name.starts_with("blob-"))
      move_into_place(entry.path(), root_ / "blobs/sha256" / name.substr(5));
    if (name.starts_with("layer-"))
      move_into_place(entry.path(), root_ / "layers" / name.substr(6));
  }
  // The manifest's own bytes: kept so `image inspect` and a later push can show them.
  detail::fsync_dir(root_ / "blobs/sha256");
  detail::fsync_dir(root_ / "layers");
  // 3. The record, then the names.
  detail::write_file_atomic(root_ / "images" / (detail::digest_hex(id) + ".json"),
                            record.dump(2) + "\n", tmp_dir());
  Image image;
  image.id = id;
  for (const auto& name : names) tag(image, name);
  return *find(id);
}

}  // namespace mycontainer::image
