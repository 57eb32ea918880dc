// Mounts: the wrappers a container needs to build its own file system view.
// Each is named after its man page: mount(2), umount2(2), pivot_root(2), chroot(2).
#pragma once

#include <sys/mount.h>  // MS_* flags, MNT_DETACH

#include <string>  // std::string

namespace ctr {

// mount(2), narrated; throws SyscallError with the target in the message.
void mount(const std::string& source, const std::string& target, const std::string& fstype,
           unsigned long flags, const std::string& data = {});
// For --explain: MS_* flags as names ("MS_BIND|MS_REC"), and the mount(8) command that does
// what mount(2) with these arguments does ("mount -t proc -o nosuid,nodev,noexec proc /proc").
std::string mount_flags_to_string(unsigned long flags);
std::string mount_shell_command(const std::string& source, const std::string& target,
                                const std::string& fstype, unsigned long flags,
                                const std::string& data = "");
// umount2(2), narrated; throws.
void umount2(const std::string& target, int flags);
// chroot(2) then chdir("/"): without the chdir the old working directory stays outside.
void chroot(const std::string& path);
// chdir(2), narrated; throws.
void chdir(const std::string& path);

// Makes every mount below / private (MS_REC|MS_PRIVATE), so nothing we mount or unmount
// in this mount namespace propagates back to the host (mount_namespaces(7), "shared subtrees").
void make_mounts_private();
// Bind-mounts source onto target (MS_BIND|MS_REC); read-only needs a second remount.
void bind_mount(const std::string& source, const std::string& target, bool read_only = false);
// A fresh procfs at target: it shows the PID namespace of the process that mounts it (proc(5)).
void mount_proc(const std::string& target);
// A fresh sysfs at target: it shows the network devices of the mounter's network namespace.
void mount_sysfs(const std::string& target, bool read_only = false);
// A tmpfs at target with the given options ("mode=755,size=65536k").
void mount_tmpfs(const std::string& target, const std::string& options, unsigned long flags = 0);

// Switches the root of this mount namespace to new_root and detaches the old one, so no
// path leads back to the host's files (pivot_root(2) NOTES: the `pivot_root(".", ".")`
// idiom stacks the old root on top of the new one, then umount2(MNT_DETACH) removes it).
// new_root must be a mount point: bind-mount it onto itself first.
void pivot_root(const std::string& new_root);

// True if path is a mount point in this process's mount namespace (/proc/self/mountinfo).
bool is_mount_point(const std::string& path);

}  // namespace ctr
