// Unpacking a layer safely (unpack.hpp).
//
// Why libarchive, and why not its archive_write_disk: libarchive reads every tar dialect
// (ustar, pax, GNU long names, sparse files) and every compression the OCI spec names, which
// a hand-written reader would get wrong in the corners. Its disk writer has
// ARCHIVE_EXTRACT_SECURE_SYMLINKS/NODOTDOT/NOABSOLUTEPATHS, but it resolves paths by name
// from the current directory (lstat then open: a window between check and use) and knows
// nothing of OCI whiteouts. So we read the entries with libarchive and create each one
// ourselves, relative to a descriptor of the layer's directory, with openat2(2)
// RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS: the kernel resolves every name as if the directory
// were "/", so "../x", "/etc/x", a symlink to "/" followed by a later entry, or a hardlink
// to "/etc/shadow" all stay inside it (containerd's archive package and umoci do the same in
// user space with securejoin).
#include "image/unpack.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>          // openat(2), AT_*
#include <linux/openat2.h>  // struct open_how, RESOLVE_*
#include <openssl/evp.h>    // EVP_Digest*: sha256
#include <sys/stat.h>       // mkdirat(2), mknodat(2), fchmodat(2), utimensat(2)
#include <sys/syscall.h>    // SYS_openat2
#include <sys/sysmacros.h>  // makedev(3)
#include <sys/xattr.h>      // fsetxattr(2)
#include <unistd.h>         // fchownat(2), symlinkat(2), linkat(2), unlinkat(2)

#include <array>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string_view>
#include <thread>
#include <vector>

#include "ctr/error.hpp"
#include "ctr/fd.hpp"

namespace mycontainer::image {
namespace {

constexpr std::string_view kWhiteoutPrefix = ".wh.";
constexpr std::string_view kOpaqueWhiteout = ".wh..wh..opq";  // image-spec layer.md

[[noreturn]] void refuse(const std::string& what) {
  throw ctr::UsageError("refusing layer: " + ctr::printable(what));
}

const char* error_of(archive* a) {
  const char* s = archive_error_string(a);
  return s ? s : "unexpected end of data";
}

// --- sha256 ---

class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new(), EVP_MD_CTX_free) {
    EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr);
  }
  void update(const void* data, std::size_t n) { EVP_DigestUpdate(ctx_.get(), data, n); }
  std::string digest() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx_.get(), md, &len);
    static const char* kHex = "0123456789abcdef";
    std::string out = "sha256:";
    for (unsigned i = 0; i < len; ++i) {
      out += kHex[md[i] >> 4];
      out += kHex[md[i] & 15];
    }
    return out;
  }

 private:
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx_;
};

// --- Reading: two archives in a chain, the first in a thread of its own -----------------
//
// The diff_id is the sha256 of the *uncompressed* tar. libarchive decompresses inside its
// tar reader, so we chain two readers: `raw` only decompresses (format "raw"), and `tar`
// reads its input from raw's output through read_cb. One pass over the data, as `tar -x`
// makes. `tar -xzf` runs gzip as a second process, so decompression and the writing of files
// overlap on two CPUs; we do the same with a thread: it decompresses and hashes into a few
// buffers ahead, while the main thread parses the tar and creates the files.

using Archive = std::unique_ptr<archive, decltype(&archive_read_free)>;

class Chain {
 public:
  Archive raw{archive_read_new(), archive_read_free};
  Archive tar{archive_read_new(), archive_read_free};
  const std::function<void(std::uint64_t)>* on_progress = nullptr;

  Chain() {
    // Not zeroed (make_unique_for_overwrite): every byte is written before it is read.
    for (auto& b : buffers_) b = std::make_unique_for_overwrite<char[]>(kBufferSize);
    for (std::size_t i = 0; i < buffers_.size(); ++i) free_.push_back(i);
  }
  ~Chain() {
    {
      const std::lock_guard lock(m_);
      stop_ = true;
    }
    cv_.notify_all();
    if (producer_.joinable()) producer_.join();
  }
  void start() {
    producer_ = std::thread([this] { produce(); });
  }

  // The next block of the uncompressed stream: its size, 0 at the end, -1 on an error
  // (error() says which). The block stays valid until the next call (libarchive's rule for a
  // read callback).
  la_ssize_t next(const void** out) {
    std::unique_lock lock(m_);
    if (current_ >= 0) free_.push_back(static_cast<std::size_t>(current_));
    current_ = -1;
    cv_.notify_all();
    cv_.wait(lock, [&] { return !full_.empty() || done_; });
    if (full_.empty()) return error_.empty() ? 0 : -1;
    const auto [index, n] = full_.front();
    full_.pop_front();
    current_ = static_cast<long>(index);
    *out = buffers_[index].get();
    return n;
  }
  const std::string& error() const { return error_; }
  std::uint64_t compressed_bytes() const { return compressed_.load(); }
  // Only once next() returned 0: the producer is done with them.
  std::string digest() { return sha_.digest(); }
  std::uint64_t size() const { return size_; }

 private:
  static constexpr std::size_t kBufferSize = 1 << 20;

  void produce() {
    while (true) {
      std::size_t index = 0;
      {
        std::unique_lock lock(m_);
        cv_.wait(lock, [&] { return !free_.empty() || stop_; });
        if (stop_) return;
        index = free_.front();
        free_.pop_front();
      }
      const la_ssize_t n = archive_read_data(raw.get(), buffers_[index].get(), kBufferSize);
      if (n > 0) {
        sha_.update(buffers_[index].get(), static_cast<std::size_t>(n));
        size_ += static_cast<std::uint64_t>(n);
        compressed_ = static_cast<std::uint64_t>(archive_filter_bytes(raw.get(), -1));
      }
      const std::lock_guard lock(m_);
      if (n <= 0) {
        if (n < 0) error_ = error_of(raw.get());
        done_ = true;
        cv_.notify_all();
        return;
      }
      full_.emplace_back(index, n);
      cv_.notify_all();
    }
  }

  std::array<std::unique_ptr<char[]>, 4> buffers_;
  std::deque<std::size_t> free_;
  std::deque<std::pair<std::size_t, la_ssize_t>> full_;
  long current_ = -1;
  bool done_ = false, stop_ = false;
  std::string error_;
  std::mutex m_;
  std::condition_variable cv_;
  std::thread producer_;
  Sha256 sha_;
  std::uint64_t size_ = 0;
  std::atomic<std::uint64_t> compressed_{0};
};

la_ssize_t read_cb(archive*, void* data, const void** out) {
  auto* c = static_cast<Chain*>(data);
  const la_ssize_t n = c->next(out);
  if (n < 0) {
    archive_set_error(c->tar.get(), EIO, "%s", c->error().c_str());
    return -1;
  }
  if (c->on_progress && *c->on_progress) (*c->on_progress)(c->compressed_bytes());
  return n;
}

void open_raw(Chain& c, const std::filesystem::path& file) {
  archive* raw = c.raw.get();
  archive_read_support_filter_gzip(raw);
  archive_read_support_filter_zstd(raw);
  archive_read_support_format_raw(raw);
  archive_entry* entry = nullptr;
  if (archive_read_open_filename(raw, file.c_str(), 1 << 20) != ARCHIVE_OK ||
      archive_read_next_header(raw, &entry) != ARCHIVE_OK) {
    refuse(file.string() + ": " + error_of(raw));
  }
  c.start();
}

// Reads what is left of the uncompressed stream (the zero blocks after the tar's end), so
// the hash covers all of it, and checks the compressed stream ended cleanly.
void drain(Chain& c) {
  const void* ignored = nullptr;
  while (true) {
    const la_ssize_t n = c.next(&ignored);
    if (n < 0) refuse("corrupt data: " + c.error());
    if (n == 0) return;
  }
}

// --- Writing: everything relative to the layer's directory --------------------------------

// openat2(2) with RESOLVE_IN_ROOT: path as seen from inside dirfd, which acts as "/".
int openat2_in_root(int dirfd, const std::string& path, int flags) {
  open_how how{};
  how.flags = static_cast<unsigned long long>(flags | O_CLOEXEC);
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  return static_cast<int>(::syscall(SYS_openat2, dirfd, path.c_str(), &how, sizeof how));
}

// "./usr//bin/ls" -> "usr/bin/ls"; leading "/" dropped (the name is inside the layer anyway);
// a ".." component refused: no layer a real tool makes has one.
std::string clean_name(const char* raw) {
  if (!raw) refuse("an entry without a name");
  std::string out;
  std::string_view rest(raw);
  while (!rest.empty()) {
    const auto slash = rest.find('/');
    const std::string_view part = rest.substr(0, slash);
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
    if (part.empty() || part == ".") continue;
    if (part == "..") refuse(std::string("'") + raw + "': a name with '..'");
    if (!out.empty()) out += '/';
    out += part;
  }
  return out;
}

struct DeferredDir {
  std::string path;
  mode_t mode;
  std::array<timespec, 2> times;  // atime, mtime (utimensat(2))
};

// How many syscalls an entry costs (what `strace -c` of scripts/bench-images.sh counts): a
// regular file is openat + write(s) + fchown + futimens + close, as GNU tar makes it; fchmod
// only where creating it could not give the mode already; no lookup before a create (the
// create says EEXIST when an earlier entry has the name). What is never saved is the
// containment: every parent directory is opened with openat2(2) RESOLVE_IN_ROOT (the last few
// kept open, see parent_fd), every name created relative to it and never followed
// (O_NOFOLLOW, AT_SYMLINK_NOFOLLOW, or a call that does not follow a last component at all).
class Writer {
 public:
  Writer(const std::filesystem::path& dest, const UnpackOptions& options)
      : options_(options),
        root_(ctr::check(::open(dest.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC), "open",
                         dest.string())),
        umask_(current_umask()),
        modes_predictable_(modes_predictable(root_.get())) {}

  void entry(archive* tar, archive_entry* e) {
    const std::string name = clean_name(archive_entry_pathname(e));
    if (name.empty()) {  // "./": the layer's root directory itself
      deferred_.push_back({"", archive_entry_perm(e), times_of(e)});
      root_mode_set_ = true;
      return;
    }
    const auto slash = name.rfind('/');
    const std::string parent = slash == std::string::npos ? "" : name.substr(0, slash);
    const std::string base = name.substr(slash == std::string::npos ? 0 : slash + 1);
    if (std::string_view(base).starts_with(kWhiteoutPrefix)) {
      whiteout(parent, base);
      return;
    }
    if (const char* link = archive_entry_hardlink(e)) {
      hardlink(parent, base, clean_name(link));
      return;
    }
    switch (archive_entry_filetype(e)) {
      case AE_IFDIR:
        directory(parent, name, base, e);
        break;
      case AE_IFREG:
        regular(tar, parent, base, e);
        break;
      case AE_IFLNK:
        symlink(parent, base, e);
        break;
      case AE_IFCHR:
      case AE_IFBLK:
      case AE_IFIFO:
        special(parent, base, e);
        break;
      default:
        refuse("'" + name + "': unknown file type");
    }
  }

  // Directories get their mode and times last: creating entries in them changed their
  // mtime, and a 0555 directory would refuse its own entries to a rootless owner.
  void finish() {
    if (!root_mode_set_) ctr::check(::fchmod(root_.get(), 0755), "fchmod", "layer root");
    for (auto it = deferred_.rbegin(); it != deferred_.rend(); ++it) {
      const ctr::UniqueFd fd(it->path.empty()
                                 ? ::fcntl(root_.get(), F_DUPFD_CLOEXEC, 0)
                                 : openat2_in_root(root_.get(), it->path, O_RDONLY | O_DIRECTORY));
      if (!fd) continue;
      // mkdirat gave it kDirMode less the umask: most directories want exactly that.
      if (it->path.empty() || !created_with(kDirMode, it->mode)) ::fchmod(fd.get(), it->mode);
      ::futimens(fd.get(), it->times.data());
    }
  }

 private:
  static constexpr mode_t kDirMode = 0755;  // every directory's mode until finish()
  static constexpr std::size_t kKeptParents = 8;

  // Whether what we create below `root` gets the mode we ask for less the umask. Not where a
  // default ACL replaces the umask (acl(5), "OBJECT CREATION AND DEFAULT ACLs"), nor below a
  // set-group-ID directory, whose new subdirectories inherit the bit (mkdir(2)).
  static bool modes_predictable(int root) {
    struct stat st {};
    ctr::check(::fstat(root, &st), "fstat", "layer root");
    return (st.st_mode & S_ISGID) == 0 &&
           ::fgetxattr(root, "system.posix_acl_default", nullptr, 0) < 0;
  }
  static mode_t current_umask() {
    const mode_t mask = ::umask(0);  // umask(2): the only way to read it is to set it
    ::umask(mask);
    return mask;
  }
  // True when creating with `mode` already gave `wanted` (the umask applied, no default ACL in
  // the way), so no fchmod is needed. Never for set-user-ID, set-group-ID or sticky: those
  // are set after fchown, which clears them (chown(2)).
  bool created_with(mode_t mode, mode_t wanted) const {
    return modes_predictable_ && (wanted & ~mode_t{0777}) == 0 && (mode & ~umask_) == wanted;
  }

  static timespec to_ts(time_t s, long ns) { return timespec{s, ns}; }
  static std::array<timespec, 2> times_of(archive_entry* e) {
    return {to_ts(archive_entry_atime_is_set(e) ? archive_entry_atime(e) : archive_entry_mtime(e),
                  archive_entry_atime_is_set(e) ? archive_entry_atime_nsec(e)
                                                : archive_entry_mtime_nsec(e)),
            to_ts(archive_entry_mtime(e), archive_entry_mtime_nsec(e))};
  }

  // The directory that holds an entry, created (0755, fixed later by its own entry) when the
  // archive did not list it first. The last few are kept open: a layer lists a directory's
  // entries together, but its subdirectories' entries come in between (find(1)'s order), and
  // the walk returns to the parent after each. All are forgotten whenever a name is removed
  // or a symlink made (forget_parents): a kept descriptor must never stand for a path that
  // now resolves elsewhere. So a descriptor from here is used until the next removal only.
  int parent_fd(const std::string& path) {
    if (path.empty()) return root_.get();
    for (const auto& [kept_path, kept_fd] : parents_) {
      if (kept_path == path) return kept_fd.get();
    }
    int fd = openat2_in_root(root_.get(), path, O_RDONLY | O_DIRECTORY);
    if (fd < 0 && errno == ENOENT) {
      const auto slash = path.rfind('/');
      const std::string up = slash == std::string::npos ? "" : path.substr(0, slash);
      const std::string base = path.substr(slash == std::string::npos ? 0 : slash + 1);
      if (::mkdirat(parent_fd(up), base.c_str(), kDirMode) < 0 && errno != EEXIST) {
        ctr::check(-1, "mkdirat", path);
      }
      fd = openat2_in_root(root_.get(), path, O_RDONLY | O_DIRECTORY);
    }
    ctr::check(fd, "openat2", path);
    if (parents_.size() == kKeptParents) parents_.erase(parents_.begin());  // the oldest
    parents_.emplace_back(path, ctr::UniqueFd(fd));
    return fd;
  }
  void forget_parents() { parents_.clear(); }

  // A later entry replaces an earlier one of the same name (tar's rule).
  void remove_existing(const std::string& parent, const std::string& base) {
    const int dir = parent_fd(parent);
    struct stat st {};
    if (::fstatat(dir, base.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) return;
    if (S_ISDIR(st.st_mode)) {
      if (::unlinkat(dir, base.c_str(), AT_REMOVEDIR) < 0) {
        refuse("'" + base + "': replaces a directory that is not empty");
      }
    } else {
      ctr::check(::unlinkat(dir, base.c_str(), 0), "unlinkat", base);
    }
    forget_parents();
  }

  // Creates `base` in `parent` with make(dirfd) (a syscall's result, errno set on -1). Where
  // an earlier entry has the name (EEXIST), that one is removed and make tried once more:
  // one syscall per entry in the usual case instead of a look first.
  template <typename Make>
  int create(const std::string& parent, const std::string& base, Make make) {
    int r = make(parent_fd(parent));
    if (r < 0 && errno == EEXIST) {
      remove_existing(parent, base);
      r = make(parent_fd(parent));
    }
    return r;
  }

  // As root: the owner and the xattrs the image gives. Rootless: neither (every file is the
  // user's, who may set only user.* xattrs), but a layer carrying overlayfs's own xattrs is
  // refused all the same: a rootless overlay (-o userxattr) reads user.overlay.*.
  void owner_and_xattrs(int fd, const std::string& name, archive_entry* e) {
    if (options_.as_root) {
      ctr::check(::fchown(fd, static_cast<uid_t>(archive_entry_uid(e)),
                          static_cast<gid_t>(archive_entry_gid(e))),
                 "fchown", name);
    }
    archive_entry_xattr_reset(e);
    const char* key = nullptr;
    const void* value = nullptr;
    size_t size = 0;
    while (archive_entry_xattr_next(e, &key, &value, &size) == ARCHIVE_OK) {
      const std::string_view k(key);
      // overlayfs reads its own xattrs (opaque, redirect, metacopy, origin) from the layer
      // directories: only our whiteout conversion may set them, never the image.
      if (k.starts_with("trusted.overlay.") || k.starts_with("user.overlay.")) {
        refuse("'" + name + "': carries overlayfs's own xattr " + std::string(k));
      }
      if (!options_.as_root) continue;
      // A default ACL on a directory decides the modes of what is created below it.
      if (k == "system.posix_acl_default") modes_predictable_ = false;
      if (::fsetxattr(fd, key, value, size, 0) < 0 && errno != ENOTSUP) {
        ctr::check(-1, "fsetxattr", name + " " + std::string(k));
      }
    }
  }

  void regular(archive* tar, const std::string& parent, const std::string& base, archive_entry* e) {
    // Created with its final mode where the umask leaves it so (then no fchmod below); 0600
    // where the mode has set-user-ID and the like, which only fchmod after fchown can keep.
    const mode_t perm = archive_entry_perm(e);
    const bool exact = created_with(perm & 0777, perm);
    const mode_t create_mode = exact ? perm : 0600;
    const ctr::UniqueFd fd(ctr::check(
        create(parent, base,
               [&](int dir) {
                 return ::openat(dir, base.c_str(),
                                 O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, create_mode);
               }),
        "openat", base));
    const void* block = nullptr;
    size_t size = 0;
    la_int64_t offset = 0;
    la_int64_t end = 0;
    while (true) {
      const int r = archive_read_data_block(tar, &block, &size, &offset);
      if (r == ARCHIVE_EOF) break;
      if (r != ARCHIVE_OK) refuse(std::string("corrupt data: ") + error_of(tar));
      const char* p = static_cast<const char*>(block);
      for (size_t done = 0; done < size;) {
        const ssize_t n = ::pwrite(fd.get(), p + done, size - done,
                                   static_cast<off_t>(offset + static_cast<la_int64_t>(done)));
        if (n < 0 && errno == EINTR) continue;
        ctr::check(n, "write", base);
        done += static_cast<size_t>(n);
      }
      end = offset + static_cast<la_int64_t>(size);
    }
    // A sparse file's hole at the end has no data block: the size says how long it is.
    if (archive_entry_size(e) > end) {
      ctr::check(::ftruncate(fd.get(), archive_entry_size(e)), "ftruncate", base);
    }
    owner_and_xattrs(fd.get(), base, e);
    // After fchown (which clears set-user-ID: chown(2)), so setuid bits stay as the image says.
    if (!exact) ctr::check(::fchmod(fd.get(), perm), "fchmod", base);
    const auto t = times_of(e);
    ::futimens(fd.get(), t.data());
  }

  void directory(const std::string& parent, const std::string& name, const std::string& base,
                 archive_entry* e) {
    int dir = parent_fd(parent);
    if (::mkdirat(dir, base.c_str(), kDirMode) < 0) {
      if (errno != EEXIST) ctr::check(-1, "mkdirat", name);
      // Made already (as a parent of an earlier entry, or listed twice): kept. Anything else
      // of that name is replaced.
      struct stat st {};
      if (::fstatat(dir, base.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(st.st_mode)) {
        remove_existing(parent, base);
        dir = parent_fd(parent);
        ctr::check(::mkdirat(dir, base.c_str(), kDirMode), "mkdirat", name);
      }
    }
    if (archive_entry_xattr_count(e) > 0) {
      const ctr::UniqueFd fd(
          ctr::check(::openat(dir, base.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC),
                     "openat", name));
      owner_and_xattrs(fd.get(), name, e);
    } else if (options_.as_root) {
      // No xattrs to set: fchownat by name, the last component not followed.
      ctr::check(::fchownat(dir, base.c_str(), static_cast<uid_t>(archive_entry_uid(e)),
                            static_cast<gid_t>(archive_entry_gid(e)), AT_SYMLINK_NOFOLLOW),
                 "fchownat", name);
    }
    deferred_.push_back({name, archive_entry_perm(e), times_of(e)});
  }

  void symlink(const std::string& parent, const std::string& base, archive_entry* e) {
    const char* target = archive_entry_symlink(e);
    if (!target) refuse("'" + base + "': a symlink without a target");
    // The target is stored as the image says: it is only ever followed inside the layer
    // (by us, with RESOLVE_IN_ROOT) or inside the container's root (by the kernel).
    ctr::check(
        create(parent, base, [&](int dir) { return ::symlinkat(target, dir, base.c_str()); }),
        "symlinkat", base);
    const int dir = parent_fd(parent);
    if (options_.as_root) {
      ::fchownat(dir, base.c_str(), static_cast<uid_t>(archive_entry_uid(e)),
                 static_cast<gid_t>(archive_entry_gid(e)), AT_SYMLINK_NOFOLLOW);
    }
    const auto t = times_of(e);
    ::utimensat(dir, base.c_str(), t.data(), AT_SYMLINK_NOFOLLOW);
    forget_parents();  // a kept path may lead through this name now
  }

  void hardlink(const std::string& parent, const std::string& base, const std::string& target) {
    // The target is looked up inside the layer like any name: "/etc/shadow" or a path
    // through a symlink to "/" still means the layer's own file, if it has one.
    const auto slash = target.rfind('/');
    const std::string tdir = slash == std::string::npos ? "" : target.substr(0, slash);
    const std::string tbase = target.substr(slash == std::string::npos ? 0 : slash + 1);
    const ctr::UniqueFd dir(tdir.empty()
                                ? ::fcntl(root_.get(), F_DUPFD_CLOEXEC, 0)
                                : openat2_in_root(root_.get(), tdir, O_PATH | O_DIRECTORY));
    if (!dir) refuse("'" + base + "': a hardlink to '" + target + "', which is not in the layer");
    struct stat st {};
    if (::fstatat(dir.get(), tbase.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0 || S_ISDIR(st.st_mode)) {
      refuse("'" + base + "': a hardlink to '" + target + "', which is not a file of the layer");
    }
    // flags 0: a symlink target is linked itself, never followed (linkat(2)).
    ctr::check(
        create(parent, base,
               [&](int to) { return ::linkat(dir.get(), tbase.c_str(), to, base.c_str(), 0); }),
        "linkat", base);
  }

  void special(const std::string& parent, const std::string& base, archive_entry* e) {
    const mode_t type = archive_entry_filetype(e);
    // Device nodes only as root: a rootless store cannot make them (mknod(2) EPERM), and
    // the device cgroup decides what a container may open anyway.
    if (type != AE_IFIFO && !options_.as_root) return;
    ctr::check(create(parent, base,
                      [&](int dir) {
                        return ::mknodat(dir, base.c_str(), type | archive_entry_perm(e),
                                         type == AE_IFIFO ? 0 : archive_entry_rdev(e));
                      }),
               "mknodat", base);
    if (options_.as_root) {
      const int dir = parent_fd(parent);
      ::fchownat(dir, base.c_str(), static_cast<uid_t>(archive_entry_uid(e)),
                 static_cast<gid_t>(archive_entry_gid(e)), AT_SYMLINK_NOFOLLOW);
      ::fchmodat(dir, base.c_str(), archive_entry_perm(e), 0);
    }
  }

  // OCI whiteouts (image-spec layer.md "Whiteouts") -> overlayfs's (filesystems/overlayfs.rst
  // "whiteouts and opaque directories"): since the layers are stacked as separate lowerdirs,
  // each must carry overlay's own markers.
  //   .wh.NAME      -> NAME as a character device 0/0: "NAME is deleted" in the layers below
  //   .wh..wh..opq  -> xattr overlay.opaque="y" on the directory: hides the whole directory
  //                    below (trusted.overlay.* as root, user.overlay.* for a rootless
  //                    overlay mounted with -o userxattr)
  void whiteout(const std::string& parent, const std::string& base) {
    if (!options_.whiteouts) refuse("'" + base + "': a whiteout outside an image layer");
    if (base == kOpaqueWhiteout) {
      const char* key = options_.as_root ? "trusted.overlay.opaque" : "user.overlay.opaque";
      ctr::check(::fsetxattr(parent_fd(parent), key, "y", 1, 0), "fsetxattr", parent + " " + key);
      return;
    }
    if (std::string_view(base).starts_with(".wh..wh.")) return;  // aufs's own (.wh..wh.plnk)
    const std::string name = base.substr(kWhiteoutPrefix.size());
    if (name.empty() || name == "." || name == "..") refuse("'" + base + "': a bad whiteout");
    // mknod of a 0/0 character device is allowed without CAP_MKNOD (Linux 5.8+: whiteouts).
    ctr::check(
        create(parent, name,
               [&](int dir) { return ::mknodat(dir, name.c_str(), S_IFCHR | 0, makedev(0, 0)); }),
        "mknodat", parent + "/" + name);
  }

  const UnpackOptions& options_;
  ctr::UniqueFd root_;
  std::vector<std::pair<std::string, ctr::UniqueFd>> parents_;  // kept open, oldest first
  std::vector<DeferredDir> deferred_;
  mode_t umask_;
  bool modes_predictable_;
  bool root_mode_set_ = false;
};

}  // namespace

UnpackResult unpack_layer(const std::filesystem::path& file, const std::filesystem::path& dest,
                          const UnpackOptions& options) {
  Chain c;
  c.on_progress = &options.on_progress;
  open_raw(c, file);
  archive* tar = c.tar.get();
  archive_read_support_format_tar(tar);
  if (archive_read_open(tar, &c, nullptr, read_cb, nullptr) != ARCHIVE_OK) {
    refuse(file.string() + ": " + error_of(tar));
  }
  Writer writer(dest, options);
  archive_entry* e = nullptr;
  while (true) {
    const int r = archive_read_next_header(tar, &e);
    if (r == ARCHIVE_EOF) break;
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
      refuse(std::string("corrupt layer: ") + error_of(tar));
    }
    writer.entry(tar, e);
  }
  drain(c);
  writer.finish();
  return {c.digest(), c.size()};
}

UnpackResult hash_uncompressed(const std::filesystem::path& file) {
  Chain c;
  open_raw(c, file);
  drain(c);
  return {c.digest(), c.size()};
}

std::pair<std::string, std::uint64_t> sha256_file(const std::filesystem::path& file) {
  const ctr::UniqueFd fd(
      ctr::check(::open(file.c_str(), O_RDONLY | O_CLOEXEC), "open", file.string()));
  Sha256 sha;
  std::vector<char> buf(1 << 20);
  std::uint64_t size = 0;
  while (true) {
    const ssize_t n = ::read(fd.get(), buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    ctr::check(n, "read", file.string());
    if (n == 0) break;
    sha.update(buf.data(), static_cast<std::size_t>(n));
    size += static_cast<std::uint64_t>(n);
  }
  return {sha.digest(), size};
}

}  // namespace mycontainer::image
