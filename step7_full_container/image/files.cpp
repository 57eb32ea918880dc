#include "image/files.hpp"

#include <fcntl.h>     // open(2)
#include <sys/file.h>  // flock(2)
#include <sys/stat.h>  // fchmod(2)
#include <unistd.h>    // fsync(2), write(2)

#include <cstdlib>  // mkstemp(3)
#include <optional>

#include "ctr/error.hpp"
#include "ctr/fd.hpp"  // ctr::read_file
#include "image/store.hpp"
#include "runtime/path.hpp"  // ctr::open_in_root

namespace mycontainer::image::detail {

void fsync_dir(const std::filesystem::path& dir) {
  const ctr::UniqueFd fd(
      ctr::check(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC), "open", dir.string()));
  ctr::check(::fsync(fd.get()), "fsync", dir.string());
}

void write_file_atomic(const std::filesystem::path& path, std::string_view text,
                       const std::filesystem::path& tmp_dir) {
  std::filesystem::create_directories(tmp_dir);
  std::string name = (tmp_dir / (path.filename().string() + ".XXXXXX")).string();
  const ctr::UniqueFd fd(ctr::check(::mkostemp(name.data(), O_CLOEXEC), "mkostemp", name));
  try {
    for (std::size_t off = 0; off < text.size();) {
      const ssize_t n = ::write(fd.get(), text.data() + off, text.size() - off);
      if (n < 0 && errno == EINTR) continue;
      ctr::check(n, "write", name);
      off += static_cast<std::size_t>(n);
    }
    ctr::check(::fchmod(fd.get(), 0644), "fchmod", name);
    // rename(2) alone can leave an empty file after a power cut (ext4 "auto_da_alloc" aside):
    // the data must be on disk before the name points at it.
    ctr::check(::fsync(fd.get()), "fsync", name);
    ctr::check(::rename(name.c_str(), path.c_str()), "rename", path.string());
  } catch (...) {
    ::unlink(name.c_str());
    throw;
  }
  fsync_dir(path.parent_path());
}

std::string read_file(const std::filesystem::path& path) {
  // open(2) and read(2), not an std::ifstream: `run IMAGE` reads two of these files on every
  // start, and a stream's buffers and locale cost more than the read itself.
  std::optional<std::string> text = ctr::read_file(path.string());
  if (!text) throw ctr::SyscallError(errno, "read", path.string());
  return std::move(*text);
}

ctr::UniqueFd lock_file(const std::filesystem::path& path, bool exclusive, bool nonblock) {
  ctr::UniqueFd fd(ctr::check(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600),
                              "open", path.string()));
  const int op = (exclusive ? LOCK_EX : LOCK_SH) | (nonblock ? LOCK_NB : 0);
  while (::flock(fd.get(), op) < 0) {
    if (errno == EINTR) continue;
    if (nonblock && errno == EWOULDBLOCK) return {};
    throw ctr::SyscallError(errno, "flock", path.string());
  }
  return fd;
}

void remove_tree(const std::filesystem::path& path) noexcept {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
  if (!ec) return;
  // Make every directory ours to empty (u+rwx), then try again. Symlinks are not followed:
  // recursive_directory_iterator does not descend into them by default.
  std::filesystem::permissions(path, std::filesystem::perms::owner_all,
                               std::filesystem::perm_options::add, ec);
  for (auto it = std::filesystem::recursive_directory_iterator(path, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_directory(ec) && !it->is_symlink(ec)) {
      std::filesystem::permissions(it->path(), std::filesystem::perms::owner_all,
                                   std::filesystem::perm_options::add, ec);
    }
  }
  std::filesystem::remove_all(path, ec);
}

namespace {

// Calls f(data, n) for every block of the file fd.
template <typename F>
void read_blocks(int fd, const std::string& name, F&& f) {
  char buf[1 << 16];
  while (true) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    ctr::check(n, "read", name);
    if (n == 0) return;
    f(buf, static_cast<std::size_t>(n));
  }
}

}  // namespace

std::string read_in_root(const std::filesystem::path& root, const std::string& name) {
  const ctr::UniqueFd in = ctr::open_in_root(root.string(), name, O_RDONLY);
  std::string out;
  read_blocks(in.get(), name, [&](const char* data, std::size_t n) { out.append(data, n); });
  return out;
}

void copy_in_root(const std::filesystem::path& root, const std::string& name,
                  const std::filesystem::path& dst) {
  const ctr::UniqueFd in = ctr::open_in_root(root.string(), name, O_RDONLY);
  const ctr::UniqueFd out(ctr::check(
      ::open(dst.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600), "open", dst.string()));
  read_blocks(in.get(), name, [&](const char* data, std::size_t n) {
    for (std::size_t done = 0; done < n;) {
      const ssize_t w = ::write(out.get(), data + done, n - done);
      if (w < 0 && errno == EINTR) continue;
      ctr::check(w, "write", dst.string());
      done += static_cast<std::size_t>(w);
    }
  });
}

std::string digest_hex(std::string_view digest) {
  if (!is_digest(digest)) {
    throw ctr::UsageError("invalid digest '" + ctr::printable(digest) + "'");
  }
  return std::string(digest.substr(7));
}

}  // namespace mycontainer::image::detail
