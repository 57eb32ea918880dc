// Images the image tests make themselves, offline: tar layers written entry by entry with
// libarchive's writer (hostile ones included), OCI image layouts around them, and temporary
// stores. Header-only; the tests that include it link mc_image_write (libarchive, sha256).
#pragma once

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "image/unpack.hpp"  // sha256_file, hash_uncompressed
#include "support.hpp"
#include "temp_dir.hpp"  // TempDir

namespace mc::test {

namespace fs = std::filesystem;

// Test tables list the fields they need ({"name", 'f', "data"}) and leave the rest at their
// defaults on purpose: GCC's -Wmissing-field-initializers would flag every such line.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
struct TarEntry {
  std::string name;
  char type = 'f';   // f file, d dir, l symlink, h hardlink, c char device, p fifo
  std::string data;  // file content, or the symlink/hardlink target
  mode_t mode = 0644;
  std::vector<std::pair<std::string, std::string>> xattrs;
  unsigned rdev_major = 0, rdev_minor = 0;
};

// Writes entries as a pax tar, compressed with "gzip", "zstd" or "" (none).
inline void write_tar(const fs::path& out, const std::vector<TarEntry>& entries,
                      const std::string& compression = "gzip") {
  archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  if (compression == "gzip") archive_write_add_filter_gzip(a);
  if (compression == "zstd") archive_write_add_filter_zstd(a);
  if (archive_write_open_filename(a, out.c_str()) != ARCHIVE_OK) {
    throw std::runtime_error(archive_error_string(a));
  }
  for (const auto& t : entries) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, t.name.c_str());
    archive_entry_set_perm(e, t.mode);
    archive_entry_set_mtime(e, 1700000000, 0);
    switch (t.type) {
      case 'd':
        archive_entry_set_filetype(e, AE_IFDIR);
        break;
      case 'l':
        archive_entry_set_filetype(e, AE_IFLNK);
        archive_entry_set_symlink(e, t.data.c_str());
        break;
      case 'h':
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_hardlink(e, t.data.c_str());
        break;
      case 'c':
        archive_entry_set_filetype(e, AE_IFCHR);
        archive_entry_set_rdevmajor(e, t.rdev_major);
        archive_entry_set_rdevminor(e, t.rdev_minor);
        break;
      case 'p':
        archive_entry_set_filetype(e, AE_IFIFO);
        break;
      default:
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_size(e, static_cast<la_int64_t>(t.data.size()));
    }
    for (const auto& [k, v] : t.xattrs)
      archive_entry_xattr_add_entry(e, k.c_str(), v.data(), v.size());
    archive_write_header(a, e);
    if (t.type == 'f') archive_write_data(a, t.data.data(), t.data.size());
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
}

// A file into LAYOUT/blobs/sha256/; its descriptor.
inline nlohmann::json add_blob(const fs::path& layout, const fs::path& file,
                               const std::string& type) {
  const auto [digest, size] = mycontainer::image::sha256_file(file);
  fs::create_directories(layout / "blobs/sha256");
  fs::copy_file(file, layout / "blobs/sha256" / digest.substr(7),
                fs::copy_options::overwrite_existing);
  return {{"mediaType", type}, {"digest", digest}, {"size", size}};
}

inline nlohmann::json add_json(const fs::path& layout, const nlohmann::json& j,
                               const std::string& type) {
  const fs::path tmp = layout / "tmp.json";
  std::ofstream(tmp) << j.dump();
  auto desc = add_blob(layout, tmp, type);
  fs::remove(tmp);
  return desc;
}

// An OCI image layout at dir with these layer files (bottom first), named `ref_name`
// (org.opencontainers.image.ref.name, "" for none). config_extra is merged into the config.
inline void make_layout(const fs::path& dir, const std::vector<fs::path>& layers,
                        const std::string& ref_name = "",
                        const nlohmann::json& config_extra = nlohmann::json::object()) {
  fs::create_directories(dir / "blobs/sha256");
  nlohmann::json diff_ids = nlohmann::json::array(), descs = nlohmann::json::array();
  for (const auto& l : layers) {
    diff_ids.push_back(mycontainer::image::hash_uncompressed(l).diff_id);
    descs.push_back(add_blob(dir, l, "application/vnd.oci.image.layer.v1.tar+gzip"));
  }
  nlohmann::json config = {{"architecture", "amd64"},
                           {"os", "linux"},
                           {"created", "2026-01-02T03:04:05Z"},
                           {"config", {{"Cmd", {"/bin/sh"}}}},
                           {"rootfs", {{"type", "layers"}, {"diff_ids", diff_ids}}}};
  config.merge_patch(config_extra);
  const nlohmann::json manifest = {
      {"schemaVersion", 2},
      {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
      {"config", add_json(dir, config, "application/vnd.oci.image.config.v1+json")},
      {"layers", descs}};
  auto mdesc = add_json(dir, manifest, "application/vnd.oci.image.manifest.v1+json");
  if (!ref_name.empty()) mdesc["annotations"] = {{"org.opencontainers.image.ref.name", ref_name}};
  std::ofstream(dir / "oci-layout") << R"({"imageLayoutVersion":"1.0.0"})";
  std::ofstream(dir / "index.json")
      << nlohmann::json{{"schemaVersion", 2}, {"manifests", {mdesc}}}.dump();
}

// `mycontainer --store STORE ARGS...`
inline RunResult mc_image(const fs::path& store, std::vector<std::string> args,
                          const RunOptions& options = {}) {
  args.insert(args.begin(), {bin("mycontainer"), "--store", store.string()});
  return run(args, options);
}

// Every file under dir, relative ("" when none): what a store's tmp/ must be after a load.
inline std::vector<std::string> entries_under(const fs::path& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    out.push_back(fs::relative(it->path(), dir).string());
  }
  return out;
}

}  // namespace mc::test
