// The image store: what `pull`, `load` and `import` write and what `run IMAGE`, `images`,
// `rmi` and `image inspect` read (docs/images.md).
//
// On disk, under the store's root (/var/lib/mycontainer as root, $XDG_DATA_HOME/mycontainer
// rootless, or `--store DIR`):
//
//   blobs/sha256/HEX    manifests, configs and compressed layers, named by their sha256,
//                       each verified while it was written (content addressing)
//   layers/HEX/         one layer unpacked, named by its diff_id (the sha256 of the
//                       uncompressed tar), OCI whiteouts turned into overlayfs whiteouts, so
//                       the layers stack as separate overlay lowerdirs
//   images/HEX.json     one image, named by its id (its config's digest): manifest digest,
//                       diff_ids, size, created
//   repositories.json   the names: "docker.io/library/alpine:latest" -> image id
//   tmp/                work in progress, same filesystem so rename(2) moves it into place
//   lock, gc.lock       flock(2) files (see Store::WriteLock)
//
// Crash safety: everything is written under tmp/ and renamed into place (a blob after its
// digest was checked and it was fsync'ed, a layer after its last entry); repositories.json
// and image records are replaced with rename(2). A killed writer leaves only tmp/ entries,
// which readers never look at and the next writer removes.
//
// Two libraries (the split of runc and podman, docs/images.md "Why two programs"):
//   mc_image        this header's read side and the index (no libarchive): linked into
//                   `mycontainer`, a static PIE that starts fast
//   mc_image_write  Store::load_layout and the unpacker, with libarchive and OpenSSL:
//                   linked only into `mycontainer-image` (load, import, pull), which
//                   `mycontainer` execs for those commands
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <stdexcept>  // std::runtime_error
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "ctr/fd.hpp"  // ctr::UniqueFd

namespace mycontainer::image {

// The annotation a container's state records its image id under (state.json "annotations"),
// and a detached container's config.json in its record: how `rmi` finds the containers of an
// image (ImageUser).
inline constexpr std::string_view kImageAnnotation = "io.mycontainer.image";

// --- References (docker's rules, distribution/reference) -----------------------------------

// "alpine"                     -> docker.io / library/alpine : latest
// "localhost:5000/a/b:v1"      -> localhost:5000 / a/b : v1
// "quay.io/x/y@sha256:HEX"     -> quay.io / x/y, digest sha256:HEX (no tag)
// The first path component is a registry when it has a '.' or a ':' or is "localhost".
struct Reference {
  std::string registry;    // "docker.io", "localhost:5000"
  std::string repository;  // "library/alpine": lowercase path components
  std::string tag;         // "latest" unless a digest alone was given
  std::string digest;      // "sha256:<64 hex>" or ""

  // "docker.io/library/alpine:latest", "quay.io/x/y@sha256:HEX" (tag and digest: both).
  std::string str() const;
  // "docker.io/library/alpine"
  std::string name() const { return registry + "/" + repository; }
  // How docker shows it in `images`: "alpine", "localhost:5000/a/b" (no docker.io/library/).
  std::string familiar_name() const;
};

// Parses and validates (lowercase repository, tag [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}, digest
// sha256 with 64 lowercase hex digits, total length <= 255). Throws ctr::UsageError with the
// reason: "invalid reference 'Alpine': repository name must be lowercase".
Reference parse_reference(std::string_view text);
// "sha256:<64 lowercase hex>"
bool is_digest(std::string_view text);

// --- Images --------------------------------------------------------------------------------

// (NOLINT: nlohmann::json's default constructor is not noexcept; an Image is only ever built
// where exceptions are handled.)
struct Image {                        // NOLINT(bugprone-exception-escape)
  std::string id;                     // the config's digest, "sha256:HEX"
  std::vector<std::string> names;     // full references, "docker.io/library/alpine:latest"
  std::string manifest_digest;        // "sha256:HEX"
  std::vector<std::string> diff_ids;  // the layers, bottom first ("sha256:HEX")
  nlohmann::json config;              // the image config (OCI image-spec config.md)
  std::uint64_t size = 0;             // unpacked bytes of all layers (docker's SIZE)
  std::string created;                // the config's "created" (RFC 3339) or ""
  // The short id docker shows: the first 12 hex digits.
  std::string short_id() const { return id.substr(7, 12); }
};

// What `run IMAGE` needs of an image (image_run.cpp), and no more: Store::find_to_run.
// (NOLINT: as Image.)
struct ImageToRun {                           // NOLINT(bugprone-exception-escape)
  std::string id;                             // "sha256:HEX"
  nlohmann::json config;                      // the image config: its "config" and "rootfs"
  std::vector<std::filesystem::path> layers;  // unpacked, absolute, bottom first
};

// A container made from an image, as `rmi` weighs it (docker's image_delete.go): running ones
// hold their image against everything, `rmi -f` included; a stopped one (exited, not removed:
// `start` runs it again) only against `rmi` without -f, and after `rmi -f` its layers stay
// in the store until it is removed.
struct ImageUser {
  std::string container;            // its id (a record's) or its name (a state's)
  std::string image_id;             // "sha256:HEX"
  bool running = false;             // else stopped
  std::vector<std::string> layers;  // its root's layer directories (this store's or another's)
};

// rmi's refusals, docker's "conflict: unable to ..." (exit code 1, docker's for them).
class ImageConflict : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// What load_layout reports, one event per step of a layer (the commands draw the lines).
struct Progress {
  std::string layer;        // the layer's blob digest
  std::string_view action;  // "Verifying", "Extracting", "Already exists", "Done"
  std::uint64_t done = 0;   // bytes so far
  std::uint64_t total = 0;  // bytes in all (0: unknown)
};
using ProgressFn = std::function<void(const Progress&)>;

class Store {
 public:
  // The store at root (made on first write, mode 0700).
  explicit Store(std::filesystem::path root = default_root());

  // /var/lib/mycontainer as root; $XDG_DATA_HOME/mycontainer (default
  // ~/.local/share/mycontainer) rootless; or what set_default_root() was given.
  static std::filesystem::path default_root();
  // `mycontainer --store DIR`: default_root() returns DIR from now on. mycontainer passes it
  // on to mycontainer-image with the same option.
  static void set_default_root(const std::filesystem::path& root);

  const std::filesystem::path& root() const noexcept { return root_; }
  // ROOT/tmp: on the store's filesystem, so what is made there can be renamed into place.
  std::filesystem::path tmp_dir() const { return root_ / "tmp"; }

  // --- Reading (no lock needed: every file is replaced whole with rename(2)) ---

  // An image by name ("alpine", "alpine:3.19", "localhost:5000/a/b", a full reference or
  // NAME@sha256:...), by id ("sha256:HEX") or by a prefix of at least 4 hex digits of its id.
  // nullopt if none; throws ctr::UsageError if an id prefix matches several images.
  std::optional<Image> find(std::string_view name_or_id) const;
  // find() as `run IMAGE` needs it, on every start: by a name with a tag, two files are read,
  // not three (repositories.json, then the image's config blob, whose rootfs.diff_ids name
  // its layers: load_layout checked each against the layer it unpacked, so the record's
  // list is the same), and the record is only looked for (it is what makes the image
  // exist). Of the config only "config" and "rootfs" are kept (a registry's image has a
  // "history" as long as its Dockerfile). Anything else (an id, NAME@sha256:..., a config that
  // does not say its layers) goes through find(). nullopt if none; throws as find() does.
  std::optional<ImageToRun> find_to_run(std::string_view name_or_id) const;
  // Every image, newest first.
  std::vector<Image> images() const;
  // The unpacked layers' directories, absolute, bottom first (overlay wants the top first
  // in lowerdir: reverse them).
  std::vector<std::filesystem::path> layer_dirs(const Image& image) const;
  // The path of a blob, whether or not it exists.
  std::filesystem::path blob_path(std::string_view digest) const;

  // --- Writing ---

  // A writer's hold on the store: shared flock(2) on ROOT/gc.lock. While one is held, no
  // other process cleans tmp/ or removes unreferenced layers and blobs. load_layout takes one
  // itself; `pull` takes one before it downloads into make_temp_dir() and keeps it until
  // load_layout returns. The first writer to find itself alone removes stale tmp/ entries.
  class WriteLock {
   public:
    WriteLock() = default;
    explicit WriteLock(ctr::UniqueFd fd) : fd_(std::move(fd)) {}

   private:
    ctr::UniqueFd fd_;
  };
  WriteLock lock_for_write() const;
  // A fresh directory under tmp_dir() (mkdtemp(3)), "tmp/WHAT-XXXXXX". The caller removes it
  // (or leaves it to the next writer's cleaning).
  std::filesystem::path make_temp_dir(std::string_view what) const;

  // Ingests an OCI image layout directory (image-layout.md: oci-layout, index.json,
  // blobs/sha256/...), the image of index.json's first manifest for linux/amd64 (or its only
  // one). Every blob's digest and size is checked against the descriptor that names it, each
  // layer is unpacked once (a layer already in the store is reused), then names (which may be
  // empty) point at the image. Throws ctr::UsageError on bad input (wrong digest, corrupt
  // layer, hostile entry), leaving nothing of this image in the store. Safe to run twice at
  // once for the same image. Defined in mc_image_write (only mycontainer-image links it).
  Image load_layout(const std::filesystem::path& dir, const std::vector<Reference>& names,
                    const ProgressFn& progress = {});

  // Points name at the image (moving it from the image that had it, as docker tag does).
  void tag(const Image& image, const Reference& name);
  // `rmi NAME`: removes the name; when the image has no name left (or NAME was its id, or
  // force), the image record, then every layer and blob no image and no container in `users`
  // uses any more. docker's rules (daemon/images/image_delete.go), refusals as ImageConflict:
  //   NAME, the image's only name, while a container uses it: refused without force; with
  //     force the name goes, and the image too unless a running container uses it
  //   an id: refused while a container runs it (force or not), while a stopped one has it or
  //     it has several names (without force)
  // Returns the lines docker prints: "Untagged: NAME", "Deleted: sha256:HEX".
  std::vector<std::string> remove(std::string_view name_or_id, bool force,
                                  const std::vector<ImageUser>& users);
  // Removes every layer and blob that no image record and no container in `users` uses: what
  // `rm` calls when it removed the last container of an image that `rmi -f` deleted.
  void collect_garbage(const std::vector<ImageUser>& users);

 private:
  void remove_unused(const std::vector<ImageUser>& users);

  std::filesystem::path root_;
};

}  // namespace mycontainer::image
