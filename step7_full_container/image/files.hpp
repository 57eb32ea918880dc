// Small file helpers the store's two libraries share (not part of the store's API).
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "ctr/fd.hpp"  // ctr::UniqueFd

namespace mycontainer::image::detail {

// Writes text to path atomically: a temporary file in tmp_dir (same filesystem), fsync(2),
// rename(2) over path, fsync of path's directory. Readers see the old file or the new one.
void write_file_atomic(const std::filesystem::path& path, std::string_view text,
                       const std::filesystem::path& tmp_dir);
// The whole file; throws ctr::SyscallError.
std::string read_file(const std::filesystem::path& path);
// fsync(2) of a directory, so a rename(2) in it survives a power cut.
void fsync_dir(const std::filesystem::path& dir);
// flock(2) on ROOT/NAME (created), shared or exclusive; blocking unless nonblock, in which
// case an empty fd means "someone else holds it".
ctr::UniqueFd lock_file(const std::filesystem::path& path, bool exclusive, bool nonblock = false);
// Removes a tree, making directories writable first where needed (a layer may hold 0555
// directories that a rootless owner cannot empty otherwise). Never throws.
void remove_tree(const std::filesystem::path& path) noexcept;
// "sha256:HEX" -> "HEX"; throws ctr::UsageError if not a digest.
std::string digest_hex(std::string_view digest);

}  // namespace mycontainer::image::detail
