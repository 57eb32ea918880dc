// A container's root made of image layers: an overlay file system (overlayfs) of the image's
// read-only layer directories, with an upper and a work directory of the container's own.
//
// How overlayfs merges them (Documentation/filesystems/overlayfs.rst):
//   lowerdir  the image's layers, read-only. The mount option lists them TOP FIRST
//             ("lowerdir=top:middle:bottom"); a name in a higher layer hides the same name
//             below it, and directories of the same name are merged.
//   upperdir  where every change the container makes goes: a new file is created here, a
//             changed lower file is first copied up here whole ("copy up"), a deleted lower
//             file leaves a "whiteout" here (a character device 0/0 with the file's name), and
//             a directory deleted and made again is marked "opaque" (the xattr
//             trusted.overlay.opaque = "y"): nothing below it shows through.
//   workdir   an empty directory on the same file system as upperdir, which overlayfs uses to
//             prepare a copy up before it renames it into place (atomic to the container).
// The same two markers in a lower layer hide what is below it: that is how an image layer
// says "this file was deleted" (the OCI layer's ".wh.NAME" and ".wh..wh..opq", turned into
// whiteouts and opaque directories when the layer is unpacked).
//
// The layers are shared by every container of the image and never written; each container's
// upper and work directories are its own, made before it starts and removed when it ends (a
// detached container's: when it is removed, `rm`; they outlive its runs, see `kept` below).
#pragma once

#include <sys/types.h>  // uid_t, gid_t

#include <filesystem>  // std::filesystem::path
#include <optional>    // std::optional
#include <string>      // std::string
#include <thread>      // std::thread, std::jthread: give_back_in_background
#include <vector>      // std::vector

#include "ctr/fd.hpp"  // ctr::UniqueFd

namespace ctr {

struct OverlayDirs {
  std::vector<std::string> lower;  // the image's layers, BOTTOM FIRST (as an image lists them)
  std::string upper;               // the container's own: its changes
  std::string work;                // empty, on upper's file system
  // "volatile" (Linux 5.10+): overlayfs skips every sync of the upper file system, the one it
  // makes when the overlay is unmounted included. A container's upper directory is thrown
  // away when it ends, so nothing needs to reach the disk; without it the end of every
  // container waited for a syncfs(2) of the whole file system that holds the state directory
  // (tens of ms on a busy disk: tests/bench/RESULTS.md, "A root of image layers"). The kernel
  // added the option for exactly this (commit c86243b090bc, "ovl: provide a mount option
  // volatile"); podman mounts `run --rm` containers so (podman PR 10220), CRI-O all of its
  // containers. overlayfs.rst, "Volatile mount".
  bool volatile_upper = false;
  // The upper and work directories are made by the child, on a tmpfs it mounts on the mount
  // point itself, in its own mount namespace; the overlay is then mounted on top of that tmpfs
  // (mount_overlay). Nothing of the container's root is on the host's disk: the
  // host has one empty directory (the mount point), and the tmpfs, the directories and every
  // file the container wrote go with the container's mount namespace, whoever ends it (a
  // SIGKILL of the runtime too). `upper` and `work` name the directories as the child sees them
  // under that tmpfs. A foreground container's (ContainerOverlay, `in_memory`).
  bool upper_in_memory = false;
  // That tmpfs's size (tmpfs(5) "size="): bytes, or "N%" of the RAM; "" for tmpfs's default.
  // What the container writes past it fails with ENOSPC, in the container alone.
  std::string upper_size;
};

// Mounts the overlay of `dirs` onto the directory `target` (shown as `shown_as`), with
// MOUNT_ATTR_NODEV (see engine.cpp mount_root). `in_user_namespace`: the mount is made by the
// root of a user namespace, which cannot use the trusted.* xattrs (they need CAP_SYS_ADMIN in
// the initial user namespace, xattr(7)): overlayfs then keeps its markers in user.overlay.*
// ("userxattr", Linux 5.11+). With dirs.upper_in_memory, a tmpfs goes onto `target` first,
// with upper and work in it, and the overlay onto that tmpfs.
//
// The mount data of mount(2) is at most one page (4096 bytes): "lowerdir=" with 100 layer
// paths of 80 characters does not fit. So, in order:
//   Linux 6.8+  the new mount API: fsopen("overlay"), one fsconfig(FSCONFIG_SET_STRING,
//               "lowerdir+", LAYER) per layer (no length limit), fsmount(2), move_mount(2).
//   older       mount(2) with short names: each layer opened as a directory descriptor, and
//               the names given relative to /proc/self/fd ("lowerdir=12:11:10"), a few
//               characters per layer (containerd's overlay snapshotter does the same with its
//               small snapshot numbers and a chdir into its snapshot directory).
// (MC_OVERLAY_MOUNT2=1 in the environment takes the second way on any kernel: for the tests.)
// Narrated; throws SyscallError ("mount('/run/mycontainer/.../rootfs'): ..."); where the
// kernel refuses overlayfs in a user namespace (before 5.11), a UsageError that says so.
void mount_overlay(const OverlayDirs& dirs, const UniqueFd& target, const std::string& shown_as,
                   bool in_user_namespace);

// With --userns as root: the overlay made by the runtime, not by the container's child. The
// image store is root's and 0700 (store.hpp): the container's root, an unprivileged host uid,
// can reach neither the layers nor, in overlayfs, what they hold (overlayfs checks the
// mounter's credentials for every access to a layer: overlayfs.rst "Permission model"). So
// the runtime, still host root, mounts it: each layer an idmapped copy of its mount
// (open_tree(2) OPEN_TREE_CLONE + mount_setattr(2) MOUNT_ATTR_IDMAP with `userns`, the
// container's user namespace: what host root owns shows as the container's root, as the image
// says), the upper and work directories those of ContainerOverlay (owned by the container's
// root), all in a detached mount (fsmount(2)) that the child moves onto its root's mount
// point (move_overlay_into_place). The store stays 0700; nothing of it is a path the
// container could name. Needs Linux 6.15 (overlayfs takes detached layers: clone_private_mount
// in fs/namespace.c); a UsageError that says so before. Narrated; throws SyscallError.
// require_overlay_for_user_namespace() is that check alone: the runtime makes it before it
// makes anything (the state directory, the child), so that a refusal leaves nothing to undo.
void require_overlay_for_user_namespace();
UniqueFd make_overlay_for_user_namespace(const OverlayDirs& dirs, const UniqueFd& userns,
                                         const std::string& shown_as);
// In the child: move_mount(2) of that detached overlay onto `target` (shown as `shown_as`).
void move_overlay_into_place(const UniqueFd& mounted, const UniqueFd& target,
                             const std::string& shown_as);

// The mount(8) command that mounts the same overlay: for --explain.
std::string overlay_shell_command(const OverlayDirs& dirs, const std::string& target);

// A container's overlay directories, under `dir` (the container's state directory):
//   DIR/overlay/upper, DIR/overlay/work   made empty now, owned by `owner` (the host uid and gid
//                                         that the container's root maps to: it writes there)
//   DIR/rootfs                            the mount point of the merged root
// mounted "volatile" (OverlayDirs::volatile_upper) where the kernel has it, and removed with
// everything in them by the destructor (the mount itself is in the container's mount namespace and
// ended with it). `cleanup` removes what a killed runtime left with remove_overlay_dirs.
//
// Where the container's end waits (tests/bench/RESULTS.md, "A root of image layers"): the
// overlay's superblock is torn down when the last reference to its mount goes, and overlayfs
// then releases its private mounts of the layers with kern_unmount_array(), which waits for an
// expedited RCU grace period (fs/namespace.c): every CPU must pass a quiescent state, a
// fraction of a millisecond on an idle machine, several on a busy one. Left alone, that
// reference is the container's mount namespace, and the wait lands in the exit of its last
// process, which the runtime waits for. So the runtime holds the mount itself (hold(): a
// descriptor of the merged root, sent by the child once it mounted it), and gives everything
// back on a thread of its own (give_back_in_background()): the grace period and the removal of
// the directories then run beside the rest of the runtime's teardown (the cgroup), not after it.
//
// `in_memory_at` (a container whose upper layer is thrown away at its end, not in a user
// namespace): upper and work are on a tmpfs that the child mounts on that directory
// (OverlayDirs::upper_in_memory), and the host has nothing of the container's root at all.
// That took the host's disk out of every start and end: on ext4 without a journal, mounted
// with `discard`, each directory made and removed cost a block trim that the removal waited
// for (tests/bench/RESULTS.md, "Fourth round"). The directory is one for every such
// container, STATE_ROOT/rootfs (in_memory_mount_point), made once and never removed: each
// child mounts on it in its own mount namespace (mounts in one namespace are not seen from
// another, mount_namespaces(7)), so on the host it stays empty, whoever runs. A directory per
// container cost one more mkdir and rmdir, half a millisecond on that disk (RESULTS.md,
// "session 9").
//
// `kept` (a detached container's RECORD/overlay, spec.hpp kAnnotationRootUpper): upper and work
// are KEPT/upper and KEPT/work instead, made on the container's first run and used again as
// they are by every later one (`start`, `restart`: what it wrote is still there). Never
// volatile: overlayfs.rst ("Volatile mount") leaves a marker, work/work/incompat/volatile,
// and refuses the next mount while it is there ("a strong indicator that user should throw
// away upper and work directories"), and a crash could lose what a volatile mount wrote:
// docker keeps a container's files over a reboot. Never removed here either: only with the
// record (`rm`, lifecycle.cpp). Only the mount point is the state directory's.
class ContainerOverlay {
 public:
  ContainerOverlay() = default;
  static ContainerOverlay create(const std::filesystem::path& dir, std::vector<std::string> layers,
                                 uid_t owner_uid, gid_t owner_gid,
                                 const std::filesystem::path& kept = {},
                                 const std::filesystem::path& in_memory_at = {});
  ContainerOverlay(ContainerOverlay&& other) noexcept;
  ContainerOverlay& operator=(ContainerOverlay&& other) noexcept;
  ContainerOverlay(const ContainerOverlay&) = delete;
  ContainerOverlay& operator=(const ContainerOverlay&) = delete;
  ~ContainerOverlay();

  // The mounted overlay (an O_PATH descriptor of its root): held until the directories go.
  void hold(UniqueFd mounted) noexcept { held_ = std::move(mounted); }
  // Drops the held mount and removes the directories on a thread of its own (see above); the
  // destructor waits for it. Without it, the destructor does the same itself. In memory
  // there are no directories: the thread, which only drops the mount, is returned, and its
  // owner joins it last (after the state directory went: its removal and the grace period
  // overlap); otherwise an empty one.
  [[nodiscard]] std::jthread give_back_in_background();

  // DIR/rootfs: where create(DIR, ...) has the overlay mounted (on disk: kept, or --userns).
  static std::filesystem::path mount_point_in(const std::filesystem::path& dir) {
    return dir / "rootfs";
  }
  // STATE_ROOT/rootfs: the mount point of every root in memory (`in_memory_at`, see above).
  static std::filesystem::path in_memory_mount_point(const std::filesystem::path& state_root) {
    return state_root / "rootfs";
  }
  const OverlayDirs& dirs() const { return dirs_; }
  const std::string& mount_point() const { return mount_point_; }
  explicit operator bool() const { return !dir_.empty(); }
  // The directories outlive us: OCI create under `run -d` hands the container over, and
  // whoever removes its state removes them too (remove_overlay_dirs, cleanup.cpp).
  void release() noexcept { dir_.clear(); }

 private:
  void give_back() noexcept;  // waits for the thread, or drops the mount and removes the dirs
  void make_in_memory(const std::filesystem::path& at);
  static void remove_dirs(const std::filesystem::path& dir, bool in_memory) noexcept;

  std::filesystem::path dir_;  // "" when none
  OverlayDirs dirs_;
  std::string mount_point_;
  bool in_memory_ = false;  // upper and work on the child's tmpfs: nothing on the host is ours
  UniqueFd held_;
  std::thread giving_back_;
};

// Removes DIR/overlay and DIR/rootfs (a container's state directory, see ContainerOverlay; or
// a detached container's record directory, whose overlay is its kept one). overlayfs makes
// work/work with mode 000: an unprivileged owner could not list it to remove it, so it is
// made searchable first. Never throws; false if something stayed.
bool remove_overlay_dirs(const std::filesystem::path& dir) noexcept;

// Opens `path` as the merged root of `layers` (bottom first) would show it, without mounting:
// the top-most layer that has it decides (opened O_RDONLY there with open_in_root: a symlink
// in the layer cannot lead out of it), a whiteout (a character device 0/0) in a higher layer
// hides it. nullopt when no layer has it. For reading the image's /etc/passwd and /etc/group
// (`-u NAME`) before the container exists. A file that is a symlink into another layer is not
// followed there: it is reported as missing.
std::optional<UniqueFd> open_in_layers(const std::vector<std::string>& layers,
                                       const std::string& path);

}  // namespace ctr
