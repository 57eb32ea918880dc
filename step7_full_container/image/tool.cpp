// mycontainer-image's commands load and import (tool.hpp). Both turn their input into an OCI
// image layout in the store's tmp/ and hand it to Store::load_layout, which does the checking
// and the writing: one path into the store, whatever the input was (pull does the same).
#include "image/tool.hpp"

#include <fcntl.h>   // O_RDONLY
#include <unistd.h>  // isatty(3)

#include <cstdio>
#include <ctime>
#include <fstream>

#include <fmt/format.h>

#include "ctr/error.hpp"
#include "image/files.hpp"
#include "image/unpack.hpp"
#include "runtime/path.hpp"  // ctr::open_in_root

namespace mycontainer::image {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr std::string_view kManifestType = "application/vnd.oci.image.manifest.v1+json";
constexpr std::string_view kConfigType = "application/vnd.oci.image.config.v1+json";

// A temporary directory under the store's tmp/, removed on every way out.
struct TempDir {
  fs::path path;
  ~TempDir() { detail::remove_tree(path); }
};

std::string human(std::uint64_t bytes) {
  static const char* kUnits[] = {"B", "kB", "MB", "GB", "TB"};
  double size = static_cast<double>(bytes);
  int unit = 0;
  while (size >= 1000 && unit < 4) {
    size /= 1000;
    ++unit;
  }
  return fmt::format("{:.3g}{}", size, kUnits[unit]);
}

// The layer's tar media type, told by its first bytes (gzip 1f 8b, zstd 28 b5 2f fd).
std::string layer_media_type(const fs::path& file) {
  unsigned char magic[4] = {};
  if (FILE* f = std::fopen(file.c_str(), "rb")) {
    (void)std::fread(magic, 1, sizeof magic, f);
    std::fclose(f);
  }
  if (magic[0] == 0x1f && magic[1] == 0x8b) return "application/vnd.oci.image.layer.v1.tar+gzip";
  if (magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd) {
    return "application/vnd.oci.image.layer.v1.tar+zstd";
  }
  return "application/vnd.oci.image.layer.v1.tar";
}

// Puts a file into LAYOUT/blobs/sha256/ under its digest; returns its descriptor.
json add_blob(const fs::path& layout, const fs::path& file, std::string_view media_type) {
  const auto [digest, size] = sha256_file(file);
  const fs::path dst = layout / "blobs/sha256" / detail::digest_hex(digest);
  fs::create_directories(dst.parent_path());
  if (!fs::exists(dst)) fs::copy_file(file, dst);
  return {{"mediaType", media_type}, {"digest", digest}, {"size", size}};
}

json add_json_blob(const fs::path& layout, const json& value, std::string_view media_type) {
  const fs::path tmp = layout / "new.json";
  std::ofstream(tmp) << value.dump();
  json desc = add_blob(layout, tmp, media_type);
  fs::remove(tmp);
  return desc;
}

// Writes oci-layout and index.json for one manifest.
void finish_layout(const fs::path& layout, const json& manifest_desc) {
  std::ofstream(layout / "oci-layout") << R"({"imageLayoutVersion":"1.0.0"})";
  std::ofstream(layout / "index.json")
      << json{{"schemaVersion", 2}, {"manifests", json::array({manifest_desc})}}.dump();
}

// A file an archive named, opened inside the archive's directory (a symlink in a hostile
// archive cannot make us read the host's files) and copied out to dst.
void copy_in_root(const fs::path& root, const std::string& name, const fs::path& dst) {
  const ctr::UniqueFd in = ctr::open_in_root(root.string(), name, O_RDONLY);
  const ctr::UniqueFd out(ctr::check(
      ::open(dst.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600), "open", dst.string()));
  char buf[1 << 16];
  while (true) {
    const ssize_t n = ::read(in.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    ctr::check(n, "read", name);
    if (n == 0) break;
    ctr::check(::write(out.get(), buf, static_cast<size_t>(n)), "write", dst.string());
  }
}

// `docker save` (manifest.json: [{"Config", "RepoTags", "Layers"}]) -> an OCI layout in
// out, one per image of the archive; returns the layouts and their names.
std::vector<std::pair<fs::path, std::vector<Reference>>> docker_save_to_layouts(
    const fs::path& archive_dir, const fs::path& work) {
  json list;
  try {
    list = json::parse(detail::read_file(archive_dir / "manifest.json"));
  } catch (const std::exception& e) {
    throw ctr::UsageError(std::string("manifest.json: ") + e.what());
  }
  std::vector<std::pair<fs::path, std::vector<Reference>>> out;
  int n = 0;
  for (const auto& item : list) {
    const fs::path layout = work / ("layout" + std::to_string(n++));
    fs::create_directories(layout / "blobs/sha256");
    const fs::path staged = work / "file";
    copy_in_root(archive_dir, item.at("Config").get<std::string>(), staged);
    const json config_desc = add_blob(layout, staged, kConfigType);
    fs::remove(staged);
    json layers = json::array();
    for (const auto& layer : item.at("Layers")) {
      copy_in_root(archive_dir, layer.get<std::string>(), staged);
      layers.push_back(add_blob(layout, staged, layer_media_type(staged)));
      fs::remove(staged);
    }
    const json manifest = {{"schemaVersion", 2},
                           {"mediaType", kManifestType},
                           {"config", config_desc},
                           {"layers", layers}};
    finish_layout(layout, add_json_blob(layout, manifest, kManifestType));
    std::vector<Reference> names;
    for (const auto& tag : item.value("RepoTags", json::array())) {
      names.push_back(parse_reference(tag.get<std::string>()));
    }
    out.emplace_back(layout, names);
  }
  return out;
}

// The names an OCI archive carries: containerd's io.containerd.image.name, or
// org.opencontainers.image.ref.name when it is a whole reference (skopeo writes what it was
// given after "oci-archive:FILE:"; a bare tag names nothing).
std::vector<Reference> layout_names(const fs::path& layout) {
  std::vector<Reference> names;
  const json index = json::parse(detail::read_file(layout / "index.json"));
  for (const auto& desc : index.value("manifests", json::array())) {
    const json a = desc.value("annotations", json::object());
    std::string name = a.value("io.containerd.image.name", "");
    if (name.empty()) name = a.value("org.opencontainers.image.ref.name", "");
    if (name.empty()) continue;
    try {
      const Reference ref = parse_reference(name);
      if (name.find_first_of(":/@") != std::string::npos) names.push_back(ref);
    } catch (const ctr::UsageError&) {
    }
    break;
  }
  return names;
}

void print_loaded(const Image& image) {
  if (image.names.empty()) fmt::print("Loaded image ID: {}\n", image.id);
  for (const auto& name : image.names) fmt::print("Loaded image: {}\n", name);
}

}  // namespace

ProgressFn progress_printer(bool quiet) {
  if (quiet) return {};
  if (::isatty(STDOUT_FILENO)) {
    // On a terminal: one line per layer, redrawn in place ("\r") until the layer is done.
    return [](const Progress& p) {
      const std::string id = p.layer.substr(7, 12);
      if (p.action == "Extracting") {
        fmt::print("\r{}: Extracting {:>8} / {:<8}", id, human(p.done), human(p.total));
      } else {
        fmt::print("\r{}: {:<40}\n", id, p.action == "Done" ? "Pull complete" : p.action);
      }
      std::fflush(stdout);
    };
  }
  // Not a terminal (a log, a test): one line per layer, when it is done.
  return [](const Progress& p) {
    if (p.action == "Extracting") return;
    fmt::print("{}: {}\n", p.layer.substr(7, 12),
               p.action == "Done" ? "Loaded " + human(p.total) : std::string(p.action));
    std::fflush(stdout);
  };
}

int load(Store& store, const std::string& file, bool quiet) {
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) throw ctr::UsageError("load: no such file '" + file + "'");
  const Store::WriteLock hold = store.lock_for_write();
  TempDir work{store.make_temp_dir("archive")};
  const fs::path files = work.path / "files";
  fs::create_directory(files);
  // The archive's own files: no whiteouts, owners or devices (UnpackOptions), names inside.
  UnpackOptions options;
  options.whiteouts = false;
  options.as_root = false;
  unpack_layer(file, files, options);
  const ProgressFn progress = progress_printer(quiet);
  if (fs::exists(files / "oci-layout")) {
    print_loaded(store.load_layout(files, layout_names(files), progress));
  } else if (fs::exists(files / "manifest.json")) {
    for (const auto& [layout, names] : docker_save_to_layouts(files, work.path)) {
      print_loaded(store.load_layout(layout, names, progress));
    }
  } else {
    throw ctr::UsageError("load: '" + file +
                          "' is neither an OCI archive (oci-layout) nor a docker save archive "
                          "(manifest.json)");
  }
  return 0;
}

int import_rootfs(Store& store, const std::string& file, const std::string& name, bool quiet) {
  const Reference ref = parse_reference(name);
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) throw ctr::UsageError("import: no such file '" + file + "'");
  const Store::WriteLock hold = store.lock_for_write();
  TempDir work{store.make_temp_dir("import")};
  const fs::path layout = work.path / "layout";
  fs::create_directories(layout / "blobs/sha256");
  const json layer = add_blob(layout, file, layer_media_type(file));
  const UnpackResult tar = hash_uncompressed(file);
  char now[32];
  const std::time_t t = std::time(nullptr);
  std::strftime(now, sizeof now, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  // A minimal image config (image-spec config.md): what `docker import` writes.
  const json config = {{"architecture", "amd64"},
                       {"os", "linux"},
                       {"created", now},
                       {"config", json::object()},
                       {"rootfs", {{"type", "layers"}, {"diff_ids", {tar.diff_id}}}},
                       {"history", {{{"created", now}, {"created_by", "mycontainer import"}}}}};
  const json manifest = {{"schemaVersion", 2},
                         {"mediaType", kManifestType},
                         {"config", add_json_blob(layout, config, kConfigType)},
                         {"layers", json::array({layer})}};
  finish_layout(layout, add_json_blob(layout, manifest, kManifestType));
  const Image image = store.load_layout(layout, {ref}, progress_printer(quiet));
  fmt::print("{}\n", image.id);
  return 0;
}

}  // namespace mycontainer::image
