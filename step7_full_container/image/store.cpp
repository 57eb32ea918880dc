// The store's read side and its index (store.hpp): no libarchive, so `mycontainer` (a static
// PIE) can list, inspect and remove images and find an image's layers for `run IMAGE`.
#include "image/store.hpp"

#include <sys/stat.h>  // stat(2)
#include <unistd.h>    // geteuid(2)

#include <algorithm>
#include <cerrno>
#include <cstdlib>  // getenv(3), mkdtemp(3)
#include <map>
#include <set>

#include <fmt/format.h>

#include "ctr/error.hpp"
#include "ctr/fd.hpp"  // ctr::read_file
#include "image/files.hpp"

namespace mycontainer::image {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

fs::path& default_root_override() {
  static fs::path root;
  return root;
}

// repositories.json: {"names": {"docker.io/library/alpine:latest": "sha256:..."}}; none
// before the first image is named.
std::map<std::string, std::string> read_names(const fs::path& root) {
  std::map<std::string, std::string> names;
  const fs::path file = root / "repositories.json";
  const std::optional<std::string> text = ctr::read_file(file.string());
  if (!text) {
    if (errno == ENOENT || errno == ENOTDIR) return names;
    throw ctr::SyscallError(errno, "read", file.string());
  }
  const json j = json::parse(*text);
  for (const auto& [name, id] : j.at("names").items()) names[name] = id.get<std::string>();
  return names;
}

void write_names(const fs::path& root, const std::map<std::string, std::string>& names) {
  json j;
  j["names"] = json::object();
  for (const auto& [name, id] : names) j["names"][name] = id;
  detail::write_file_atomic(root / "repositories.json", j.dump(2) + "\n", root / "tmp");
}

// One image record (images/HEX.json) and its config blob; nullopt if half there.
std::optional<Image> read_image(const Store& store, const fs::path& record,
                                const std::map<std::string, std::string>& names) {
  try {
    const json r = json::parse(detail::read_file(record));
    Image image;
    image.id = r.at("id").get<std::string>();
    image.manifest_digest = r.at("manifest_digest").get<std::string>();
    for (const auto& layer : r.at("layers")) image.diff_ids.push_back(layer.at("diff_id"));
    image.size = r.value("size", std::uint64_t{0});
    image.config = json::parse(detail::read_file(store.blob_path(image.id)));
    image.created = image.config.value("created", std::string());
    for (const auto& [name, id] : names) {
      if (id == image.id) image.names.push_back(name);
    }
    return image;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// name_or_id as a reference ("alpine", "alpine:3.19", NAME@sha256:...); nullopt when it is
// none (an id, or a prefix of one: find() tries those next).
std::optional<Reference> as_reference(std::string_view name_or_id) {
  try {
    return parse_reference(name_or_id);
  } catch (const ctr::UsageError&) {
    return std::nullopt;
  }
}

// The id that repositories.json gives `ref`; nullopt when none, or when it is no digest (a
// hand-edited or hostile file: it must not become a path outside images/).
std::optional<std::string> id_of_name(const std::map<std::string, std::string>& names,
                                      const Reference& ref) {
  const auto it = names.find(ref.str());
  if (it == names.end() || !is_digest(it->second)) return std::nullopt;
  return it->second;
}

// An image config with only what `run` uses of it: a parse callback (nlohmann's
// parser_callback_t) drops every other top-level key ("history", "architecture", ...) as it is
// read, before any of it is stored.
json parse_config_to_run(const std::string& text) {
  return json::parse(text, [](int depth, json::parse_event_t event, const json& parsed) {
    return event != json::parse_event_t::key || depth != 1 || parsed == "config" ||
           parsed == "rootfs";
  });
}

// The image `id` names, as run uses it (Store::find_to_run); nullopt when its record is not
// there or its config does not say its layers (then find() decides).
std::optional<ImageToRun> read_to_run(const Store& store, const std::string& id) {
  try {
    const fs::path record = store.root() / "images" / (detail::digest_hex(id) + ".json");
    struct stat st {};
    if (::stat(record.c_str(), &st) != 0) return std::nullopt;
    ImageToRun image{.id = id,
                     .config = parse_config_to_run(detail::read_file(store.blob_path(id))),
                     .layers = {}};
    for (const auto& diff_id : image.config.at("rootfs").at("diff_ids")) {
      image.layers.push_back(store.root() / "layers" /
                             detail::digest_hex(diff_id.get<std::string>()));
    }
    return image;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

bool is_hex(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

}  // namespace

Store::Store(fs::path root) : root_(std::move(root)) {}

fs::path Store::default_root() {
  if (!default_root_override().empty()) return default_root_override();
  if (::geteuid() == 0) return "/var/lib/mycontainer";
  // XDG Base Directory Specification: $XDG_DATA_HOME, default $HOME/.local/share.
  if (const char* data = std::getenv("XDG_DATA_HOME"); data && *data == '/') {
    return fs::path(data) / "mycontainer";
  }
  const char* home = std::getenv("HOME");
  if (!home || *home != '/') {
    throw ctr::UsageError("no image store: set HOME or XDG_DATA_HOME, or give --store DIR");
  }
  return fs::path(home) / ".local/share/mycontainer";
}

void Store::set_default_root(const fs::path& root) {
  default_root_override() = fs::absolute(root);
}

fs::path Store::blob_path(std::string_view digest) const {
  return root_ / "blobs/sha256" / detail::digest_hex(digest);
}

std::vector<Image> Store::images() const {
  std::vector<Image> out;
  std::error_code ec;
  if (!fs::is_directory(root_ / "images", ec)) return out;
  const auto names = read_names(root_);
  for (const auto& entry : fs::directory_iterator(root_ / "images")) {
    if (entry.path().extension() != ".json") continue;
    if (auto image = read_image(*this, entry.path(), names)) out.push_back(std::move(*image));
  }
  std::sort(out.begin(), out.end(), [](const Image& a, const Image& b) {
    return a.created != b.created ? a.created > b.created : a.id < b.id;
  });
  return out;
}

std::optional<Image> Store::find(std::string_view name_or_id) const {
  // A name first (docker's order): "alpine" is the image named alpine:latest even if some
  // image's id starts with the hex digits "a1p..." (it cannot: 'l' is no hex digit).
  const std::optional<Reference> ref = as_reference(name_or_id);
  // A name with a tag, as `run IMAGE` mostly gets: repositories.json says which record, and
  // only that one is read (`run` starts no slower with a hundred images in the store).
  if (ref && ref->digest.empty()) {
    const auto names = read_names(root_);
    if (const auto id = id_of_name(names, *ref)) {
      const fs::path record = root_ / "images" / (detail::digest_hex(*id) + ".json");
      if (auto image = read_image(*this, record, names)) return image;
    }
  }
  const auto all = images();
  if (ref) {
    for (const auto& image : all) {
      if (!ref->digest.empty()) {
        // NAME@sha256:... names the manifest, in a repository the image has a name in.
        const bool in_repo = std::any_of(image.names.begin(), image.names.end(), [&](auto& n) {
          return parse_reference(n).name() == ref->name();
        });
        if (image.manifest_digest == ref->digest && in_repo) return image;
      } else if (std::count(image.names.begin(), image.names.end(), ref->str())) {
        return image;
      }
    }
  }
  // Then an id: "sha256:HEX", or a prefix of HEX (at least 4 digits, as docker's truncindex).
  std::string_view prefix = name_or_id;
  if (prefix.starts_with("sha256:")) prefix.remove_prefix(7);
  if (prefix.size() < 4 || prefix.size() > 64 || !is_hex(prefix)) return std::nullopt;
  std::optional<Image> found;
  for (const auto& image : all) {
    if (std::string_view(image.id).substr(7).starts_with(prefix)) {
      if (found) {
        throw ctr::UsageError("image id prefix '" + std::string(prefix) +
                              "' is ambiguous: it matches " + found->short_id() + " and " +
                              image.short_id() + "; give more digits");
      }
      found = image;
    }
  }
  return found;
}

std::optional<ImageToRun> Store::find_to_run(std::string_view name_or_id) const {
  if (const auto ref = as_reference(name_or_id); ref && ref->digest.empty()) {
    if (const auto id = id_of_name(read_names(root_), *ref)) {
      if (auto image = read_to_run(*this, *id)) return image;
    }
  }
  std::optional<Image> image = find(name_or_id);
  if (!image) return std::nullopt;
  return ImageToRun{
      .id = image->id, .config = std::move(image->config), .layers = layer_dirs(*image)};
}

std::vector<fs::path> Store::layer_dirs(const Image& image) const {
  std::vector<fs::path> dirs;
  for (const auto& diff_id : image.diff_ids) {
    dirs.push_back(root_ / "layers" / detail::digest_hex(diff_id));
  }
  return dirs;
}

Store::WriteLock Store::lock_for_write() const {
  fs::create_directories(root_);
  fs::permissions(root_, fs::perms::owner_all, fs::perm_options::replace);
  fs::create_directories(tmp_dir());
  // Alone (an exclusive lock granted at once): every tmp/ entry is a dead writer's; clean it.
  if (auto alone = detail::lock_file(root_ / "gc.lock", true, true)) {
    for (const auto& entry : fs::directory_iterator(tmp_dir())) detail::remove_tree(entry.path());
  }
  return WriteLock(detail::lock_file(root_ / "gc.lock", false));
}

fs::path Store::make_temp_dir(std::string_view what) const {
  fs::create_directories(tmp_dir());
  std::string name = (tmp_dir() / (std::string(what) + "-XXXXXX")).string();
  ctr::check(::mkdtemp(name.data()) ? 0 : -1, "mkdtemp", name);
  return name;
}

void Store::tag(const Image& image, const Reference& name) {
  const auto lock = detail::lock_file(root_ / "lock", true);
  auto names = read_names(root_);
  names[name.str()] = image.id;
  write_names(root_, names);
}

namespace {

// docker's short form of an id (stringid.TruncateID): 12 hex digits, without "sha256:". A
// container without a record (`run IMAGE` in the foreground) is shown by its name.
std::string truncated(std::string_view id) {
  if (id.starts_with("sha256:")) id.remove_prefix(7);
  return std::string(id.size() == 64 && is_hex(id) ? id.substr(0, 12) : id);
}

const ImageUser* first_user(const std::vector<ImageUser>& users, const Image& image,
                            std::optional<bool> running = std::nullopt) {
  for (const auto& u : users) {
    if (u.image_id == image.id && (!running || u.running == *running)) return &u;
  }
  return nullptr;
}

// docker's checkImageDeleteConflict, in its order: several names and a stopped container are
// soft conflicts (force overrides them), a running container a hard one (nothing does).
struct Conflict {
  bool hard = false;
  bool used = false;  // a container has the image
  std::string why;
};
std::optional<Conflict> delete_conflict(const Image& image, std::size_t names_left, bool force,
                                        const std::vector<ImageUser>& users) {
  if (!force && names_left > 1) {
    return Conflict{false, false, "image is referenced in multiple repositories"};
  }
  if (const ImageUser* u = first_user(users, image, true)) {
    return Conflict{true, true,
                    "image is being used by running container " + truncated(u->container)};
  }
  if (const ImageUser* u = first_user(users, image, false); u && !force) {
    return Conflict{false, true,
                    "image is being used by stopped container " + truncated(u->container)};
  }
  return std::nullopt;
}

[[noreturn]] void refuse(const Image& image, const Conflict& c) {
  throw ImageConflict(fmt::format("conflict: unable to delete {} ({}) - {}", image.short_id(),
                                  c.hard ? "cannot be forced" : "must be forced", c.why));
}

}  // namespace

std::vector<std::string> Store::remove(std::string_view name_or_id, bool force,
                                       const std::vector<ImageUser>& users) {
  // No writer may run while we decide what is unused: an exclusive gc.lock.
  std::error_code ec;
  if (!fs::is_directory(root_ / "images", ec)) {
    throw ctr::UsageError("no such image: " + ctr::printable(name_or_id));
  }
  const auto gc = detail::lock_file(root_ / "gc.lock", true);
  const auto lock = detail::lock_file(root_ / "lock", true);
  const auto image = find(name_or_id);
  if (!image) throw ctr::UsageError("no such image: " + ctr::printable(name_or_id));

  std::vector<std::string> lines;
  auto names = read_names(root_);
  const std::optional<Reference> ref = as_reference(name_or_id);
  const bool by_name = ref && names.count(ref->str()) && names[ref->str()] == image->id;
  if (by_name) {
    // Its last name, while a container uses it: the image would be left without a name for
    // the container to show; docker asks for -f.
    const ImageUser* user = first_user(users, *image);
    if (!force && image->names.size() == 1 && user) {
      throw ImageConflict(fmt::format(
          "conflict: unable to remove repository reference \"{}\" (must force) - container {} "
          "is using its referenced image {}",
          ctr::printable(name_or_id), truncated(user->container), image->short_id()));
    }
    names.erase(ref->str());
    write_names(root_, names);
    lines.push_back("Untagged: " + ref->str());
    // Other names keep the image; a running container keeps it too, nameless (docker's
    // "dangling" image: `images` shows <none>, `rmi ID` removes it once the container is gone).
    if (image->names.size() > 1 || first_user(users, *image, true)) return lines;
  } else if (auto c = delete_conflict(*image, image->names.size(), force, users)) {
    refuse(*image, *c);
  }
  for (const auto& name : image->names) {
    if (names.erase(name) > 0) lines.push_back("Untagged: " + name);
  }
  write_names(root_, names);
  // The record goes first: from then on the image is gone even if we are killed below, and
  // what follows is only garbage collection.
  fs::remove(root_ / "images" / (detail::digest_hex(image->id) + ".json"));
  detail::fsync_dir(root_ / "images");
  lines.push_back("Deleted: " + image->id);
  remove_unused(users);
  return lines;
}

void Store::collect_garbage(const std::vector<ImageUser>& users) {
  std::error_code ec;
  if (!fs::is_directory(root_ / "images", ec)) return;
  const auto gc = detail::lock_file(root_ / "gc.lock", true);
  const auto lock = detail::lock_file(root_ / "lock", true);
  remove_unused(users);
}

// Every blob and layer no image record names, and no container's root (`rmi -f` of an
// image a stopped container has: it keeps its layers until it is removed). Under both locks.
void Store::remove_unused(const std::vector<ImageUser>& users) {
  std::set<std::string> blobs, layers;
  for (const auto& u : users) {
    for (const auto& l : u.layers) layers.insert(fs::path(l).filename().string());
  }
  for (const auto& entry : fs::directory_iterator(root_ / "images")) {
    try {
      const json r = json::parse(detail::read_file(entry.path()));
      blobs.insert(detail::digest_hex(r.at("id").get<std::string>()));
      blobs.insert(detail::digest_hex(r.at("manifest_digest").get<std::string>()));
      for (const auto& l : r.at("layers")) {
        blobs.insert(detail::digest_hex(l.at("digest").get<std::string>()));
        layers.insert(detail::digest_hex(l.at("diff_id").get<std::string>()));
      }
    } catch (const std::exception&) {
      return;  // an unreadable record: keep everything rather than guess
    }
  }
  std::error_code ec;
  for (const auto& [dir, keep] :
       {std::pair{root_ / "layers", &layers}, std::pair{root_ / "blobs/sha256", &blobs}}) {
    if (!fs::is_directory(dir, ec)) continue;
    for (const auto& entry : fs::directory_iterator(dir)) {
      if (keep->count(entry.path().filename().string())) continue;
      // Renamed into tmp/ first: the name disappears at once (rename(2) is atomic), the
      // slow removal of the files happens where nobody looks.
      const fs::path doomed = make_temp_dir("rm") / "x";
      fs::rename(entry.path(), doomed);
      detail::remove_tree(doomed.parent_path());
    }
  }
}

}  // namespace mycontainer::image
