// Unpacking a layer (mc_image_write): the one place where bytes from an image become files on
// the host, so the one place that must assume the image is hostile (SECURITY.md, "Images").
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

namespace mycontainer::image {

struct UnpackOptions {
  // OCI whiteouts (.wh.NAME, .wh..wh..opq) become overlayfs whiteouts (a layer of an image);
  // false: they are refused like any other odd name (the files of a `load` archive).
  bool whiteouts = true;
  // Keep owners, device nodes and xattrs as the archive says (only as root: a rootless
  // store owns every file, and cannot make device nodes).
  bool as_root = true;
  // Called now and then with the compressed bytes read so far.
  std::function<void(std::uint64_t)> on_progress;
};

struct UnpackResult {
  std::string diff_id;         // "sha256:HEX" of the uncompressed tar stream
  std::uint64_t tar_size = 0;  // bytes of the uncompressed tar stream
};

// Unpacks the tar (gzip, zstd or none: libarchive tells by the first bytes) in file into the
// existing, empty directory dest. Every entry is created relative to a descriptor of dest
// with openat2(2) RESOLVE_IN_ROOT, so nothing can land outside it; names with a ".."
// component are refused. Throws ctr::UsageError on a corrupt or hostile archive (dest is
// then half-filled: the caller removes it).
UnpackResult unpack_layer(const std::filesystem::path& file, const std::filesystem::path& dest,
                          const UnpackOptions& options);

// The sha256 of file's uncompressed content (gzip, zstd or none), without unpacking: the
// diff_id `import` writes into its config. Throws ctr::UsageError when it is not readable.
UnpackResult hash_uncompressed(const std::filesystem::path& file);

// The sha256 of a file, "sha256:HEX", and its size.
std::pair<std::string, std::uint64_t> sha256_file(const std::filesystem::path& file);

}  // namespace mycontainer::image
