# shellcheck shell=bash
# Shared helpers for the scripts in scripts/. Source it, do not run it:
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# The sourcing script sets `set -euo pipefail` itself.

if [[ -n "${MC_LIB_LOADED:-}" ]]; then
  return 0
fi
MC_LIB_LOADED=1

# Top of the source tree, wherever the checkout lives and whoever calls us.
MC_ROOT="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"

# The Debian/Ubuntu packages that building and running the seven steps needs (try.sh installs
# only these), and every package the project needs to build and test (setup.sh, test.sh, CI).
# shellcheck disable=SC2034  # used by the scripts that source this file
MC_APT_STEP_PACKAGES=(
  build-essential cmake pkg-config
  libcli11-dev libfmt-dev nlohmann-json3-dev
  libnl-3-dev libnl-route-3-dev libseccomp-dev libcap-dev
  busybox-static iproute2 iptables uidmap util-linux procps
  # The one CMake build configures mycontainer-image too (libarchive, OpenSSL, libcurl).
  libarchive-dev libssl-dev libcurl4-openssl-dev
)
# shellcheck disable=SC2034  # used by the scripts that source this file
MC_APT_PACKAGES=(
  "${MC_APT_STEP_PACKAGES[@]}"
  libgtest-dev libgmock-dev libbenchmark-dev
  strace # the fault tests deliver SIGKILL at a chosen system call with it
  # The engines suite (tests/engines/): podman and containerd drive the runtime, runc is the
  # reference; help2man makes the man page, dpkg-dev lets cpack make the .deb.
  podman conmon containerd runc crun help2man dpkg-dev man-db bash-completion
  # Images (docs/images.md): the image tests build images with umoci and skopeo, offline, and
  # the pull tests start docker-registry with a python3 proxy in front (token flow, redirects).
  umoci skopeo docker-registry python3
)

# The root filesystem every step uses when no --rootfs is given (git-ignored).
MC_ROOTFS="$MC_ROOT/rootfs"

# The CMake build the scripts use; MC_BUILD_DIR=... picks another (e.g. build-asan).
MC_BUILD_DIR=$(realpath -m -- "${MC_BUILD_DIR:-$MC_ROOT/build}")

log() { printf '==> %s\n' "$*" >&2; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}
is_root() { [[ $EUID -eq 0 ]]; }

# Prints, one per line, the packages among "$@" that are not installed.
missing_packages() {
  local pkg status
  for pkg in "$@"; do
    # shellcheck disable=SC2016  # ${db:Status-Status} is dpkg-query's format, not ours
    status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null) || status=
    [[ $status == installed ]] || printf '%s\n' "$pkg"
  done
}

# ensure_packages PKG...: installs those of PKG... that are missing, as root, without prompts.
ensure_packages() {
  command -v dpkg-query >/dev/null 2>&1 ||
    die "dpkg-query not found: these scripts install packages on Debian/Ubuntu only; install these yourself: $*"
  local missing=()
  mapfile -t missing < <(missing_packages "$@")
  if ((${#missing[@]} == 0)); then
    return 0
  fi
  is_root ||
    die "missing packages: ${missing[*]}; run this script with sudo (in a root shell, without the word sudo), or: sudo apt-get install ${missing[*]}"
  if [[ -z "${MC_APT_UPDATED:-}" ]]; then
    log "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update || die "apt-get update failed (output above)"
    export MC_APT_UPDATED=1 # child scripts need not update again
  fi
  log "installing: ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" ||
    die "apt-get install failed (output above)"
}

# mc_as_builder BUILD_DIR CMD...: runs CMD as the user who called sudo, so that
# `sudo scripts/try.sh` does not leave a root-owned build/ the learner cannot rebuild.
# Falls back to running CMD as the current user whenever that would not work.
mc_as_builder() {
  local build_dir=$1
  shift
  local user=${SUDO_USER:-}
  if is_root && [[ -n $user && $user != root ]] && command -v runuser >/dev/null 2>&1 &&
    [[ $(stat -c %U -- "$MC_ROOT") == "$user" ]] &&
    { [[ ! -e $build_dir ]] || [[ $(stat -c %U -- "$build_dir") == "$user" ]]; }; then
    runuser -u "$user" -- "$@"
  else
    "$@"
  fi
}

# ensure_configured [BUILD_DIR]: runs CMake's configure step once, if BUILD_DIR has none
# yet: the asan preset for build-asan/ (CMakePresets.json), RelWithDebInfo for any other.
ensure_configured() {
  local build_dir=${1:-$MC_BUILD_DIR}
  [[ ! -f $build_dir/CMakeCache.txt ]] || return 0
  if [[ $build_dir == "$MC_ROOT/build-asan" ]]; then
    log "configuring $build_dir (the asan preset: AddressSanitizer + UBSan)"
    mc_as_builder "$build_dir" cmake -S "$MC_ROOT" --preset asan
  else
    log "configuring $build_dir (RelWithDebInfo)"
    mc_as_builder "$build_dir" cmake -S "$MC_ROOT" -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo
  fi
}

# shellcheck disable=SC2034  # used by setup.sh
# The seven step programs: what try.sh builds (the tests and benchmarks are built by test.sh).
MC_STEP_TARGETS=(simple_container container_with_pid container_with_mount container_with_uts
  container_with_network container_with_cgroups mycontainer)

# ensure_build [BUILD_DIR [TARGET...]]: configures (once) and builds TARGETs, or the whole
# tree; returns non-zero if either fails (also when called as `ensure_build || ...`, where
# set -e is off).
ensure_build() {
  local build_dir=${1:-$MC_BUILD_DIR}
  local target_args=()
  (($# > 1)) && target_args=(--target "${@:2}")
  ensure_configured "$build_dir" || return
  log "building in $build_dir${target_args[*]:+ (${*:2})}"
  mc_as_builder "$build_dir" cmake --build "$build_dir" -j"$(nproc)" "${target_args[@]}" || return
}

# ensure_rootfs: builds the default busybox rootfs if there is none; as root, also
# adds the device nodes a rootfs built without root is missing.
ensure_rootfs() {
  if [[ ! -e $MC_ROOTFS/bin/sh && ! -L $MC_ROOTFS/bin/sh ]]; then
    "$MC_ROOT/scripts/make-rootfs.sh" --busybox "$MC_ROOTFS"
  elif is_root && [[ ! -c $MC_ROOTFS/dev/null ]]; then
    "$MC_ROOT/scripts/make-rootfs.sh" --devices-only "$MC_ROOTFS"
  fi
}
