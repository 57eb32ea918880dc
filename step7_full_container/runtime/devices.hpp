// The container's /dev: a fresh tmpfs with the handful of devices every program expects, so
// nothing else of the host's /dev (disks, /dev/mem, /dev/kmsg, the host's terminals) exists
// inside. What docker and runc build (OCI runtime spec, config-linux.md "Default Devices").
//
// See it: `ls -l /dev /dev/pts` in a container, against the same on the host.
#pragma once

#include <string>  // std::string
#include <vector>  // std::vector

namespace ctr {

// A character device every container gets (devices(7) lists the numbers).
struct DeviceNode {
  std::string name;  // below /dev
  unsigned major = 0;
  unsigned minor = 0;
};
// null 1:3, zero 1:5, full 1:7, random 1:8, urandom 1:9, tty 5:0.
const std::vector<DeviceNode>& default_devices();

// Fills ROOTFS/dev, a tmpfs already mounted there (the engine mounts it from the spec's
// mounts): the default devices plus `extra` (the spec's linux.devices), bind-mounted from
// the host's /dev as below, the link ptmx -> pts/ptmx, and fd, stdin, stdout, stderr ->
// /proc/self/fd/... Throws SyscallError (EXDEV when ROOTFS/dev is not a tmpfs).
void populate_dev(const std::string& rootfs, const std::vector<DeviceNode>& extra = {});

// Builds ROOTFS/dev; call it before pivot_root, in the container's mount namespace, with
// mounts already private. In order:
//   /dev         tmpfs "mode=755,size=65536k", nosuid, nodev, strictatime (not noexec:
//                mmap(PROT_EXEC) of /dev/zero must keep working)
//   null zero full random urandom tty
//                an empty file with the host's device bind-mounted onto it, as rootless
//                runtimes do (the host's /dev is still reachable: we run before pivot_root).
//                Each is a mount of its own, so it works on the nodev tmpfs, while a node
//                the container makes there with mknod cannot be opened.
//   pts          a *new* devpts instance "newinstance,ptmxmode=0666,mode=0620,gid=5": the
//                container's terminals only, never the host's (devpts in filesystems(5));
//                without gid=5 in a user namespace, where group 5 may not be mapped
//   ptmx         -> pts/ptmx, so opening /dev/ptmx allocates in that instance
//   shm          tmpfs "mode=1777,size=65536k", nosuid, nodev, noexec (POSIX shared memory)
//   mqueue       only if `mqueue`: an mqueue file system shows the IPC namespace of whoever
//                mounts it, so only when the container has its own (mq_overview(7))
//   fd -> /proc/self/fd, stdin/stdout/stderr -> /proc/self/fd/0, 1, 2
// ROOTFS/dev is resolved inside the rootfs (open_in_root, path.hpp): a symlink planted in the
// image cannot send the tmpfs elsewhere. Narrated; throws SyscallError.
void setup_dev(const std::string& rootfs, bool in_user_namespace, bool mqueue = false);

}  // namespace ctr
