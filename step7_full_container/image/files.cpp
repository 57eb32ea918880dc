#include "image/files.hpp"

#include <fcntl.h>     // open(2)
#include <sys/file.h>  // flock(2)
#include <sys/stat.h>  // fchmod(2)
#include <unistd.h>    // fsync(2), write(2)

#include <cstdlib>  // mkstemp(3)
#include <fstream>
#include <sstream>

#include "ctr/error.hpp"
#include "image/store.hpp"

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
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ctr::SyscallError(errno ? errno : ENOENT, "open", path.string());
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
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

std::string digest_hex(std::string_view digest) {
  if (!is_digest(digest)) {
    throw ctr::UsageError("invalid digest '" + ctr::printable(digest) + "'");
  }
  return std::string(digest.substr(7));
}

}  // namespace mycontainer::image::detail
