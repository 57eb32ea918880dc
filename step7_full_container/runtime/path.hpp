// Resolving paths inside a container's root safely, and mounting onto what was resolved.
//
// A container image is untrusted input: it can plant a symlink where the runtime is about to
// mount something (`/proc -> /host/etc`, `dev -> ../../..`). Resolve the path with the host's
// root as "/" and the mount lands outside the rootfs: runc CVE-2019-19921 (a volume raced
// /proc into a symlink, so the AppArmor/LSM label writes went elsewhere) and CVE-2021-30465
// (swapping a directory for a symlink between check and mount let a container mount host
// paths). The fix both times: resolve once, with the rootfs as the root of the lookup, hold
// the result as a file descriptor, and mount onto "/proc/self/fd/N", which names exactly that
// object whatever happens to the path afterwards.
#pragma once

#include <fcntl.h>  // O_PATH, O_CLOEXEC

#include <optional>  // std::optional
#include <string>    // std::string

#include "ctr/fd.hpp"

namespace ctr {

// Opens `path` as seen from inside `root`: "/" and ".." never climb above root, and symlinks
// (absolute ones too) are resolved as if root were "/". Uses openat2(2) with
// RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS, so /proc/self/fd/N-style links cannot jump out
// either; on kernels before 5.6 (no openat2) falls back to open_in_root_no_symlinks().
// `flags` are open(2) flags (O_PATH by default; O_CLOEXEC is always added). Narrated.
// Throws SyscallError("openat2", root + path): ENOENT when missing, ELOOP, ENOTDIR...
UniqueFd open_in_root(const std::string& root, const std::string& path, int flags = O_PATH);

// The same, but a path that is not there (ENOENT) is an answer, not an error: std::nullopt,
// and no exception (docker's masked paths name files only some machines have).
std::optional<UniqueFd> open_in_root_if_present(const std::string& root, const std::string& path,
                                                int flags = O_PATH);

// The root for a run of lookups: open(root, O_PATH|O_DIRECTORY). Each call above opens its
// root anew (and closes it), two system calls per path; a loop over many paths below one
// root (the masked paths: twenty) holds it open instead and passes it to the overloads below.
// Open it after anything is mounted on the root itself: a descriptor keeps naming what was
// there when it was opened (the note at mount_on_fd).
UniqueFd open_root_dir(const std::string& root);

// open_in_root and open_in_root_if_present below an open root (`root_fd`, from
// open_root_dir(root); `root` names it in messages and for the fallback).
UniqueFd open_in_root(const UniqueFd& root_fd, const std::string& root, const std::string& path,
                      int flags = O_PATH);
std::optional<UniqueFd> open_in_root_if_present(const UniqueFd& root_fd, const std::string& root,
                                                const std::string& path, int flags = O_PATH);

// The fallback: walks `path` one component at a time below root with O_NOFOLLOW, ".." is
// resolved by name (it cannot leave root), and any symlink on the way is refused with ELOOP.
// Stricter than open_in_root (a rootfs with /dev -> /something fails), but never wrong.
UniqueFd open_in_root_no_symlinks(const std::string& root, const std::string& path,
                                  int flags = O_PATH);

// "/proc/self/fd/N": a path naming exactly the object the descriptor refers to.
std::string fd_path(int fd);

// mount(2) onto the object `target` refers to (through fd_path), narrated; `shown_as` is the
// path a learner would recognise, used in errors ("mount('/rootfs/dev'): ...").
// Note: the descriptor keeps naming the object *under* the new mount; open the path again to
// reach what was mounted on top.
void mount_on_fd(const std::string& source, const UniqueFd& target, const std::string& shown_as,
                 const std::string& fstype, unsigned long flags, const std::string& data = {});

// Remounts the bind mount at `target` with add_flags (MS_NODEV...) on top of the flags it
// has; remount_bind_read_only below explains why they are kept.
void remount_bind(const UniqueFd& target, const std::string& shown_as, unsigned long add_flags);

// mount_setattr(2) with AT_RECURSIVE: sets `attr_set` (MOUNT_ATTR_NODEV...) on the mount at
// `target` and on every mount below it, which a remount cannot reach (a volume of the host's
// "/" brings the host's /dev along). Linux 5.12; on older kernels only `target` itself is
// changed, by remount_bind. Narrated.
void mount_setattr_recursive(const UniqueFd& target, const std::string& shown_as,
                             uint64_t attr_set);

// Remounts the bind mount at `target` read-only, adding `extra_flags` (MS_NOSUID...).
// It keeps every flag the mount already has: in a user namespace, flags set by a more
// privileged mount namespace are locked, and a remount that would clear one fails with EPERM
// (mount(2) EPERM, mount_namespaces(7) "locked" mounts). So read them with fstatvfs(3) first.
void remount_bind_read_only(const UniqueFd& target, const std::string& shown_as,
                            unsigned long extra_flags = 0);

}  // namespace ctr
