#include "runtime/overlay.hpp"

#include <fcntl.h>        // open(2), O_* flags
#include <sys/mount.h>    // mount(2), FSCONFIG_*, FSMOUNT_*, MOVE_MOUNT_*, MOUNT_ATTR_*, mount_attr
#include <sys/stat.h>     // mkdir(2), chmod(2), fstat(2)
#include <sys/syscall.h>  // SYS_fsopen, SYS_fsconfig, SYS_fsmount, SYS_move_mount
#include <sys/sysmacros.h>  // major(3), minor(3)
#include <unistd.h>         // chown(2), fchdir(2), syscall(2)

#include <algorithm>  // std::reverse
#include <cstdint>    // std::uint64_t
#include <cerrno>
#include <cstdlib>   // std::getenv
#include <malloc.h>  // mallopt(3)
#include <system_error>

#include <fmt/format.h>
#include <fmt/ranges.h>  // fmt::join

#include "ctr/error.hpp"     // ctr::check, ctr::SyscallError, ctr::UsageError
#include "ctr/narrate.hpp"   // ctr::narrate
#include "ctr/uts.hpp"       // ctr::kernel_at_least, ctr::kernel_release
#include "runtime/path.hpp"  // ctr::fd_path, ctr::open_in_root_if_present

namespace ctr {

namespace {

// mount(2)'s data is copied into one page (mount(2): "data ... interpreted by the different
// filesystems"; fs/namespace.c copy_mount_options copies at most PAGE_SIZE).
constexpr std::size_t kMountDataMax = 4096;

// The layers top first: the order overlayfs takes them in.
std::vector<std::string> top_first(const std::vector<std::string>& bottom_first) {
  std::vector<std::string> out(bottom_first);
  std::reverse(out.begin(), out.end());
  return out;
}

// What the kernel said about a failed fsconfig(2): it queues messages ("e overlayfs: ...")
// that a read(2) of the file system context descriptor returns, one per read (fsopen(2)).
std::string kernel_messages(int fs_fd) {
  std::string out;
  char buf[512];
  for (ssize_t n; (n = ::read(fs_fd, buf, sizeof buf - 1)) > 0;) {
    out += (out.empty() ? "" : "; ") + std::string(buf, static_cast<std::size_t>(n));
  }
  return out;
}

// overlayfs refused in a user namespace: kernels before 5.11 do not allow it at all.
[[noreturn]] void refuse_in_user_namespace(int err) {
  throw UsageError(fmt::format(
      "overlayfs cannot be mounted in this user namespace ({}; Linux {}: overlayfs in a user "
      "namespace needs 5.11 or later): run as root, or run a directory with --rootfs DIR",
      std::strerror(err), kernel_release()));
}

// fsconfig(2) of one key of the overlay being made: a string (a layer, upperdir...) or, with
// no value, a flag. The kernel's own words about a refusal (read from the context) go into
// the error.
void fsconfig_set(const UniqueFd& fs, const char* key, const std::string* value) {
  const unsigned cmd = value != nullptr ? FSCONFIG_SET_STRING : FSCONFIG_SET_FLAG;
  if (::syscall(SYS_fsconfig, fs.get(), cmd, key, value ? value->c_str() : nullptr, 0) == 0) return;
  const int err = errno;
  const std::string said = kernel_messages(fs.get());
  throw SyscallError(
      err, "fsconfig",
      fmt::format("{} {}{}{}", key, value ? *value : "", said.empty() ? "" : ": ", said));
}

// Linux 6.8+: the new mount API, one "lowerdir+" per layer (overlayfs.rst, "Multiple lower
// layers": "lowerdir+" appends a layer below those given so far, so the top one comes first).
void mount_with_fsconfig(const OverlayDirs& dirs, const UniqueFd& target,
                         const std::string& shown_as, bool in_user_namespace) {
  const int raw = static_cast<int>(::syscall(SYS_fsopen, "overlay", FSOPEN_CLOEXEC));
  if (raw < 0 && errno == EPERM && in_user_namespace) refuse_in_user_namespace(errno);
  const UniqueFd fs(check(raw, "fsopen", "overlay"));
  const auto set = [&](const char* key, const std::string* value) { fsconfig_set(fs, key, value); };
  for (const auto& layer : top_first(dirs.lower)) set("lowerdir+", &layer);
  set("upperdir", &dirs.upper);
  set("workdir", &dirs.work);
  if (dirs.volatile_upper) set("volatile", nullptr);
  if (in_user_namespace) set("userxattr", nullptr);
  if (::syscall(SYS_fsconfig, fs.get(), FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) != 0) {
    const int err = errno;
    if (err == EPERM && in_user_namespace) refuse_in_user_namespace(err);
    throw SyscallError(err, "fsconfig",
                       "FSCONFIG_CMD_CREATE overlay: " + kernel_messages(fs.get()));
  }
  // A detached mount, nodev from its first moment, then moved onto the root's mount point.
  const UniqueFd mnt(
      check(static_cast<int>(::syscall(SYS_fsmount, fs.get(), FSMOUNT_CLOEXEC, MOUNT_ATTR_NODEV)),
            "fsmount", "overlay"));
  check(static_cast<int>(::syscall(SYS_move_mount, mnt.get(), "", target.get(), "",
                                   MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH)),
        "move_mount", shown_as);
  if (narrating()) {
    narrate({.call = fmt::format("fsopen(\"overlay\"); fsconfig(\"lowerdir+\", ...) x {} (top "
                                 "first); fsconfig(\"upperdir\", \"{}\"); fsconfig(\"workdir\", "
                                 "\"{}\"){}{}; fsmount(MOUNT_ATTR_NODEV); move_mount(-> {})",
                                 dirs.lower.size(), dirs.upper, dirs.work,
                                 dirs.volatile_upper ? "; fsconfig(\"volatile\")" : "",
                                 in_user_namespace ? "; fsconfig(\"userxattr\")" : "", shown_as),
             .result = "ok",
             .shell = overlay_shell_command(dirs, shown_as),
             .man = "fsopen(2), fsconfig(2), fsmount(2), move_mount(2); overlayfs.rst"});
  }
}

// Before 6.8: mount(2), each layer named by a descriptor's number relative to /proc/self/fd
// (our working directory while mounting): "lowerdir=14:13:12", whatever the layers' paths.
void mount_with_short_names(const OverlayDirs& dirs, const UniqueFd& target,
                            const std::string& shown_as, bool in_user_namespace) {
  std::vector<UniqueFd> layers;
  std::vector<std::string> names;
  for (const auto& layer : top_first(dirs.lower)) {
    layers.emplace_back(
        check(::open(layer.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC), "open", layer));
    names.push_back(std::to_string(layers.back().get()));
  }
  const std::string data = fmt::format(
      "lowerdir={},upperdir={},workdir={}{}{}", fmt::join(names, ":"), dirs.upper, dirs.work,
      dirs.volatile_upper ? ",volatile" : "", in_user_namespace ? ",userxattr" : "");
  if (data.size() >= kMountDataMax) {
    throw UsageError(
        fmt::format("{} layers do not fit in mount(2)'s one page of options even "
                    "with short names; Linux 6.8+ mounts any number",
                    dirs.lower.size()));
  }
  const UniqueFd back(check(::open(".", O_PATH | O_DIRECTORY | O_CLOEXEC), "open", "."));
  check(::chdir("/proc/self/fd"), "chdir", "/proc/self/fd");
  const int rc =
      ::mount("overlay", fd_path(target.get()).c_str(), "overlay", MS_NODEV, data.c_str());
  const int err = errno;
  [[maybe_unused]] const int back_rc = ::fchdir(back.get());
  if (rc != 0 && err == EPERM && in_user_namespace) refuse_in_user_namespace(err);
  if (rc != 0) throw SyscallError(err, "mount", shown_as);
  narrate({.call = fmt::format("chdir(\"/proc/self/fd\"); mount(\"overlay\", \"{}\", \"overlay\", "
                               "MS_NODEV, \"{}\")",
                               shown_as, data),
           .result = "ok",
           .shell = overlay_shell_command(dirs, shown_as),
           .man = "mount(2); overlayfs.rst"});
}

// The process's umask: umask(2) only reads it by setting it (no other thread runs yet).
mode_t current_umask() {
  const mode_t mask = ::umask(0);
  ::umask(mask);
  return mask;
}

// Gives the directory `path`, just made by mkdir(2) with `mode`, that mode and owner uid:gid.
// mkdir(2) creates it with mode & ~umask: a chmod(2) only where the umask took bits away (not
// under the usual 022).
void own_dir(const std::filesystem::path& path, uid_t uid, gid_t gid, mode_t mode, mode_t umask) {
  if ((mode & umask) != 0) check(::chmod(path.c_str(), mode), "chmod", path.string());
  if (uid != ::geteuid() || gid != ::getegid()) {
    check(::chown(path.c_str(), uid, gid), "chown", path.string());
  }
}

// Makes `path` an empty directory owned by uid:gid, with `mode`.
void make_owned_dir(const std::filesystem::path& path, uid_t uid, gid_t gid, mode_t mode,
                    mode_t umask) {
  check(::mkdir(path.c_str(), mode), "mkdir", path.string());
  own_dir(path, uid, gid, mode, umask);
}

// A kept directory (ContainerOverlay's `kept`): made as make_owned_dir does on the container's
// first run, taken as it is on later ones (its mode too: the upper directory's root is the
// container's "/", which it may have chmod'ed). It must be a directory of uid's, not a symbolic
// link: overlayfs would follow one wherever it points (lstat(2), which does not follow).
void keep_owned_dir(const std::filesystem::path& path, uid_t uid, gid_t gid, mode_t mode,
                    mode_t umask) {
  if (::mkdir(path.c_str(), mode) == 0) return own_dir(path, uid, gid, mode, umask);
  if (errno != EEXIST) throw SyscallError(errno, "mkdir", path.string());
  struct stat st {};
  check(::lstat(path.c_str(), &st), "lstat", path.string());
  if (!S_ISDIR(st.st_mode) || st.st_uid != uid) {
    throw UsageError(fmt::format(
        "'{}' is not a directory of uid {}: the container's kept upper layer was changed from "
        "outside; remove the container (rm) and run its image again",
        path.string(), uid));
  }
}

// The tmpfs under an in-memory upper (OverlayDirs::upper_in_memory): a new tmpfs, nodev like
// the overlay, made as a detached mount (fsopen(2), fsmount(2)) so that its two directories
// are made through its descriptor before anyone can see it, then moved onto the mount point.
// Returns the tmpfs's root, where the overlay goes on top (mounting on a mount's root stacks
// the new mount over it: mount_namespaces(7)). What the container writes lives in this tmpfs,
// in memory, charged to the container's memory cgroup like any tmpfs page it writes
// (Documentation/admin-guide/cgroup-v1/memory.rst, "shmem"); it goes when the last mount
// referring to it does: the overlay's, when the container's mount namespace ends.
UniqueFd mount_upper_tmpfs(const OverlayDirs& dirs, const UniqueFd& target,
                           const std::string& shown_as) {
  const UniqueFd fs(
      check(static_cast<int>(::syscall(SYS_fsopen, "tmpfs", FSOPEN_CLOEXEC)), "fsopen", "tmpfs"));
  const std::string mode = "0700";  // its root: only the overlay ever looks at it
  check(static_cast<int>(
            ::syscall(SYS_fsconfig, fs.get(), FSCONFIG_SET_STRING, "mode", mode.c_str(), 0)),
        "fsconfig", "tmpfs mode");
  // The bound of what the container can write (engine.cpp upper_size): tmpfs refuses a page
  // past it with ENOSPC, as a full disk would.
  if (!dirs.upper_size.empty()) {
    check(static_cast<int>(::syscall(SYS_fsconfig, fs.get(), FSCONFIG_SET_STRING, "size",
                                     dirs.upper_size.c_str(), 0)),
          "fsconfig", "tmpfs size=" + dirs.upper_size);
  }
  check(
      static_cast<int>(::syscall(SYS_fsconfig, fs.get(), FSCONFIG_CMD_CREATE, nullptr, nullptr, 0)),
      "fsconfig", "FSCONFIG_CMD_CREATE tmpfs");
  UniqueFd mnt(
      check(static_cast<int>(::syscall(SYS_fsmount, fs.get(), FSMOUNT_CLOEXEC, MOUNT_ATTR_NODEV)),
            "fsmount", "tmpfs"));
  // upper: the merged root's "/" (0755, see ContainerOverlay::create); work: overlayfs's.
  // mkdirat(2) applies the umask: a chmod only where it took bits away (not under the usual
  // 022), as own_dir does.
  const mode_t umask = current_umask();
  for (const auto& [name, dir_mode] : {std::pair{"upper", 0755}, std::pair{"work", 0700}}) {
    const auto mode = static_cast<mode_t>(dir_mode);
    check(::mkdirat(mnt.get(), name, mode), "mkdirat", name);
    if ((mode & umask) != 0) check(::fchmodat(mnt.get(), name, mode, 0), "fchmodat", name);
  }
  check(static_cast<int>(::syscall(SYS_move_mount, mnt.get(), "", target.get(), "",
                                   MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH)),
        "move_mount", shown_as);
  const std::string size = dirs.upper_size.empty() ? "" : ",size=" + dirs.upper_size;
  narrate({.call = fmt::format("fsopen(\"tmpfs\"); fsconfig(\"mode\", \"0700\"){}; "
                               "fsmount(MOUNT_ATTR_NODEV); mkdirat(\"upper\"), mkdirat(\"work\"); "
                               "move_mount(-> {})",
                               dirs.upper_size.empty()
                                   ? ""
                                   : fmt::format("; fsconfig(\"size\", \"{}\")", dirs.upper_size),
                               shown_as),
           .result = "ok",
           .shell = fmt::format("mount -t tmpfs -o nodev,mode=0700{3} tmpfs {0} && mkdir {1} {2}",
                                shown_as, dirs.upper, dirs.work, size),
           .man = "fsopen(2), fsmount(2), move_mount(2); tmpfs(5)"});
  return mnt;
}

}  // namespace

std::string overlay_shell_command(const OverlayDirs& dirs, const std::string& target) {
  return fmt::format("mount -t overlay overlay -o nodev,lowerdir={},upperdir={},workdir={}{} {}",
                     fmt::join(top_first(dirs.lower), ":"), dirs.upper, dirs.work,
                     dirs.volatile_upper ? ",volatile" : "", target);
}

void mount_overlay(const OverlayDirs& dirs, const UniqueFd& target, const std::string& shown_as,
                   bool in_user_namespace) {
  if (dirs.lower.empty()) throw UsageError("an overlay root needs at least one layer");
  // MC_OVERLAY_MOUNT2=1: the pre-6.8 way on any kernel, so that the tests check it here too.
  // An in-memory upper: the tmpfs first, on the mount point; the overlay then on the tmpfs.
  UniqueFd tmpfs;
  if (dirs.upper_in_memory) tmpfs = mount_upper_tmpfs(dirs, target, shown_as);
  const UniqueFd& onto = dirs.upper_in_memory ? tmpfs : target;
  const char* force_mount2 = std::getenv("MC_OVERLAY_MOUNT2");
  if (kernel_at_least(6, 8) && (force_mount2 == nullptr || std::string(force_mount2) != "1")) {
    mount_with_fsconfig(dirs, onto, shown_as, in_user_namespace);
  } else {
    mount_with_short_names(dirs, onto, shown_as, in_user_namespace);
  }
}

namespace {

// One layer, as the container's user namespace should see it: a copy of its mount
// (open_tree(2) OPEN_TREE_CLONE: detached, in no mount namespace, gone with its last
// descriptor), read-only, idmapped with the container's user namespace (mount_setattr(2)
// MOUNT_ATTR_IDMAP): a file that host uid 0 owns on disk shows, through this mount, as the
// host uid that the container's root is (1000000), which the container sees as 0.
UniqueFd idmapped_layer(const std::string& layer, const UniqueFd& userns) {
  UniqueFd tree(check(static_cast<int>(::syscall(SYS_open_tree, AT_FDCWD, layer.c_str(),
                                                 OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC)),
                      "open_tree", layer));
  struct mount_attr attr {};
  attr.attr_set = MOUNT_ATTR_IDMAP | MOUNT_ATTR_RDONLY | MOUNT_ATTR_NODEV;
  attr.userns_fd = static_cast<std::uint64_t>(userns.get());
  check(static_cast<int>(
            ::syscall(SYS_mount_setattr, tree.get(), "", AT_EMPTY_PATH, &attr, sizeof attr)),
        "mount_setattr", layer + " (MOUNT_ATTR_IDMAP)");
  return tree;
}

}  // namespace

void require_overlay_for_user_namespace() {
  if (!kernel_at_least(6, 15)) {
    throw UsageError(fmt::format(
        "run IMAGE with --userns needs Linux 6.15 or later (overlayfs layers given as detached "
        "idmapped mounts; this is {}): run without --userns, or run a directory with --rootfs",
        kernel_release()));
  }
}

UniqueFd make_overlay_for_user_namespace(const OverlayDirs& dirs, const UniqueFd& userns,
                                         const std::string& shown_as) {
  require_overlay_for_user_namespace();
  std::vector<UniqueFd> layers;
  const UniqueFd fs(check(static_cast<int>(::syscall(SYS_fsopen, "overlay", FSOPEN_CLOEXEC)),
                          "fsopen", "overlay"));
  const auto set = [&](const char* key, const std::string* value) { fsconfig_set(fs, key, value); };
  // Each layer by its descriptor's name (/proc/self/fd/N, a magic link to the detached
  // mount): the path the kernel resolves here is ours, never one the container could reach.
  for (const auto& layer : top_first(dirs.lower)) {
    layers.push_back(idmapped_layer(layer, userns));
    const std::string name = fd_path(layers.back().get());
    set("lowerdir+", &name);
  }
  set("upperdir", &dirs.upper);
  set("workdir", &dirs.work);
  if (dirs.volatile_upper) set("volatile", nullptr);
  if (::syscall(SYS_fsconfig, fs.get(), FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) != 0) {
    const int err = errno;
    throw SyscallError(err, "fsconfig",
                       "FSCONFIG_CMD_CREATE overlay: " + kernel_messages(fs.get()));
  }
  UniqueFd mnt(
      check(static_cast<int>(::syscall(SYS_fsmount, fs.get(), FSMOUNT_CLOEXEC, MOUNT_ATTR_NODEV)),
            "fsmount", "overlay"));
  narrate({.call = fmt::format("open_tree(LAYER, OPEN_TREE_CLONE); mount_setattr(MOUNT_ATTR_IDMAP"
                               "|MOUNT_ATTR_RDONLY, the container's user namespace) x {}; "
                               "fsopen(\"overlay\"); fsconfig(\"lowerdir+\", "
                               "\"/proc/self/fd/N\") x {}; fsconfig(\"upperdir\", \"{}\"); "
                               "fsconfig(\"workdir\", \"{}\"); fsmount(MOUNT_ATTR_NODEV) -> fd "
                               "{}, for {}",
                               layers.size(), layers.size(), dirs.upper, dirs.work, mnt.get(),
                               shown_as),
           .result = "ok",
           .shell = "(no mount(8) equivalent: a detached mount, sent to the container's child)",
           .man = "open_tree(2), mount_setattr(2) MOUNT_ATTR_IDMAP, fsopen(2), fsmount(2); "
                  "overlayfs.rst"});
  return mnt;
}

void move_overlay_into_place(const UniqueFd& mounted, const UniqueFd& target,
                             const std::string& shown_as) {
  check(static_cast<int>(::syscall(SYS_move_mount, mounted.get(), "", target.get(), "",
                                   MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH)),
        "move_mount", shown_as);
  narrate({.call = fmt::format("move_mount(fd {} -> {})", mounted.get(), shown_as),
           .result = "ok",
           .shell = "(the runtime's overlay, received over the handshake)",
           .man = "move_mount(2)"});
}

ContainerOverlay ContainerOverlay::create(const std::filesystem::path& dir,
                                          std::vector<std::string> layers, uid_t owner_uid,
                                          gid_t owner_gid, const std::filesystem::path& kept,
                                          const std::filesystem::path& in_memory_at) {
  ContainerOverlay o;
  o.dir_ = dir;  // from here on the destructor removes what was made (in `dir` only)
  o.dirs_.lower = std::move(layers);
  if (!in_memory_at.empty() && kept.empty()) {
    o.make_in_memory(in_memory_at);
    return o;
  }
  o.mount_point_ = mount_point_in(dir).string();
  const bool keep = !kept.empty();
  const std::filesystem::path base = keep ? kept : dir / "overlay";
  // The container's root, remapped (--userns), must reach its upper directory and the mount
  // point through directories that are ours and 0700 (the state directory; a kept upper's
  // record directory): let it pass (0711: it still lists nothing).
  if (owner_uid != ::geteuid()) {
    check(::chmod(dir.c_str(), 0711), "chmod", dir.string());
    if (keep)
      check(::chmod(kept.parent_path().c_str(), 0711), "chmod", kept.parent_path().string());
  }
  const auto make = keep ? keep_owned_dir : make_owned_dir;
  const mode_t umask = current_umask();
  // BASE itself stays ours (0711 when the container's root is another uid): with --userns the
  // runtime, as host root, resolves BASE/upper when it mounts the overlay
  // (make_overlay_for_user_namespace); were BASE the container root's, a process of that uid
  // could rename a symbolic link to any host directory into its place, and the container
  // would write there.
  if (owner_uid != ::geteuid()) {
    make(base, ::geteuid(), ::getegid(), 0711, umask);
  } else {
    make(base, owner_uid, owner_gid, 0700, umask);
  }
  o.dirs_.upper = (base / "upper").string();
  o.dirs_.work = (base / "work").string();
  o.dirs_.volatile_upper = !keep && kernel_at_least(5, 10);  // thrown away at the end: no syncs
  // The merged root takes the owner and mode of upper's own root directory (overlayfs.rst:
  // a merged directory's attributes are the upper one's): 0755, or only root could enter "/".
  make(o.dirs_.upper, owner_uid, owner_gid, 0755, umask);
  make(o.dirs_.work, owner_uid, owner_gid, 0700, umask);
  check(::mkdir(o.mount_point_.c_str(), 0755), "mkdir", o.mount_point_);
  narrate({.call = fmt::format("mkdir(\"{}\"), mkdir(\"{}\"), mkdir(\"{}\"){}", o.dirs_.upper,
                               o.dirs_.work, o.mount_point_,
                               keep ? " (upper and work kept: made once, used by every run)" : ""),
           .result = "ok",
           .shell = fmt::format("mkdir -p {} {} {}", o.dirs_.upper, o.dirs_.work, o.mount_point_),
           .man = "mkdir(2); overlayfs.rst (upperdir, workdir)"});
  return o;
}

// In memory (OverlayDirs::upper_in_memory): on the host nothing but the shared mount point,
// made by the first such container (mkdir(2) EEXIST afterwards: one failed call, no disk);
// the child makes the rest on its tmpfs. Nothing to sync (a tmpfs has no disk): not volatile,
// and so no marker directories either.
void ContainerOverlay::make_in_memory(const std::filesystem::path& at) {
  in_memory_ = true;
  mount_point_ = at.string();
  dirs_.upper_in_memory = true;
  dirs_.upper = mount_point_ + "/upper";
  dirs_.work = mount_point_ + "/work";
  if (::mkdir(mount_point_.c_str(), 0755) != 0) {
    if (errno != EEXIST) throw SyscallError(errno, "mkdir", mount_point_);
    // Ours and a directory (lstat(2): a symbolic link put there would be followed by every
    // child's mount): the state root is root's 0700, so only root could have changed it.
    struct stat st {};
    check(::lstat(mount_point_.c_str(), &st), "lstat", mount_point_);
    if (!S_ISDIR(st.st_mode) || st.st_uid != ::geteuid()) {
      throw UsageError(
          fmt::format("'{}' is not a directory of uid {}: remove it (it is the mount "
                      "point of every image's root, made again when missing)",
                      mount_point_, ::geteuid()));
    }
  }
  narrate({.call = fmt::format("mkdir(\"{}\") (or there already: shared)", mount_point_),
           .result = "ok",
           .shell = fmt::format("mkdir -p {}", mount_point_),
           .man = "mkdir(2); the upper and work directories: on a tmpfs the child mounts there, "
                  "in its own mount namespace"});
}

ContainerOverlay::ContainerOverlay(ContainerOverlay&& other) noexcept
    : dir_(std::move(other.dir_)),
      dirs_(std::move(other.dirs_)),
      mount_point_(std::move(other.mount_point_)),
      in_memory_(other.in_memory_),
      held_(std::move(other.held_)),
      giving_back_(std::move(other.giving_back_)) {
  other.dir_.clear();
}

ContainerOverlay& ContainerOverlay::operator=(ContainerOverlay&& other) noexcept {
  if (this != &other) {
    give_back();
    dir_ = std::move(other.dir_);
    dirs_ = std::move(other.dirs_);
    mount_point_ = std::move(other.mount_point_);
    in_memory_ = other.in_memory_;
    held_ = std::move(other.held_);
    giving_back_ = std::move(other.giving_back_);
    other.dir_.clear();
  }
  return *this;
}

ContainerOverlay::~ContainerOverlay() {
  give_back();
}

std::jthread ContainerOverlay::give_back_in_background() {
  if (dir_.empty() || giving_back_.joinable()) return {};
  // The thread's one free(3) (of its own start-up state) would give it a malloc arena of its
  // own, a 64 MiB mapping made and unmapped for one small block: it shares ours instead
  // (mallopt(3) M_ARENA_MAX; this is the runtime's only other thread).
  ::mallopt(M_ARENA_MAX, 1);
  // The thread owns what it gives back; `dir_` stays set so that give_back() waits for it.
  try {
    if (in_memory_) {
      // Nothing of it on the host: the thread only drops the mount, and the caller joins it
      // when it likes (after removing the state directory: nothing of ours is in it).
      std::jthread dropping([mounted = std::move(held_)]() mutable noexcept { mounted.reset(); });
      dir_.clear();
      return dropping;
    }
    giving_back_ = std::thread([mounted = std::move(held_), dir = dir_]() mutable noexcept {
      // close(2): our reference was the last, overlayfs's teardown runs now, in this
      // thread (the grace period: see the class comment); then its directories go.
      mounted.reset();
      remove_dirs(dir, false);
    });
    return {};
  } catch (const std::system_error&) {
    // No thread (EAGAIN): the mount went with the lambda; the destructor removes the rest.
  }
  return {};
}

void ContainerOverlay::give_back() noexcept {
  if (giving_back_.joinable()) {
    giving_back_.join();
  } else if (!dir_.empty()) {
    held_.reset();  // the mount first: its upper directory is about to go
    remove_dirs(dir_, in_memory_);
  }
  held_.reset();  // release()d: the container keeps its overlay, we keep no reference to it
  dir_.clear();
}

void ContainerOverlay::remove_dirs(const std::filesystem::path& dir, bool in_memory) noexcept {
  // In memory: nothing was on the host but the shared mount point, which stays.
  if (!in_memory) remove_overlay_dirs(dir);
}

bool remove_overlay_dirs(const std::filesystem::path& dir) noexcept {
  namespace fs = std::filesystem;
  std::error_code ec;
  // work/work (and, after a crash, work/index or leftovers of an interrupted copy up): 000;
  // a volatile mount's marker work/work/incompat/volatile too.
  for (const char* sub :
       {"overlay/work/work", "overlay/work/work/incompat", "overlay/work/work/incompat/volatile",
        "overlay/work/index", "overlay/work"}) {
    ::chmod((dir / sub).c_str(), 0700);  // missing or not ours: remove_all will say
  }
  fs::remove_all(dir / "overlay", ec);
  bool ok = !ec;
  // The mount point: empty on the host (the overlay was mounted in the container's own mount
  // namespace). rmdir, not remove_all: should it ever be a mount here, nothing below is
  // deleted through it.
  if (::rmdir((dir / "rootfs").c_str()) != 0 && errno != ENOENT) ok = false;
  return ok;
}

std::optional<UniqueFd> open_in_layers(const std::vector<std::string>& layers,
                                       const std::string& path) {
  for (auto layer = layers.rbegin(); layer != layers.rend(); ++layer) {
    // O_PATH|O_NOFOLLOW: a whiteout (a device) is looked at, never opened; a symlink is
    // the link itself.
    const auto found = open_in_root_if_present(*layer, path, O_PATH | O_NOFOLLOW);
    if (!found) continue;
    struct stat st {};
    check(::fstat(found->get(), &st), "fstat", *layer + path);
    // A whiteout: the file was deleted in this layer, nothing below counts.
    if (S_ISCHR(st.st_mode) && major(st.st_rdev) == 0 && minor(st.st_rdev) == 0) {
      return std::nullopt;
    }
    if (!S_ISREG(st.st_mode)) return std::nullopt;
    const std::string via = fd_path(found->get());
    return UniqueFd(check(::open(via.c_str(), O_RDONLY | O_CLOEXEC), "open", *layer + path));
  }
  return std::nullopt;
}

}  // namespace ctr
