#!/usr/bin/env bash
# Makes this machine ready to build and run every step: Debian packages, the CMake
# build in build/, and the busybox rootfs in rootfs/. Safe to re-run: it only does
# what is missing. Installing packages needs root; the rest does not.
#
#   sudo scripts/setup.sh           # first time
#   scripts/setup.sh --quiet        # silent when nothing is missing (try.sh uses it)
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

quiet=0
case ${1:-} in
  "") ;;
  -q | --quiet) quiet=1 ;;
  -h | --help)
    sed -n '2,7s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
    exit 0
    ;;
  *) die "unknown argument '$1' (usage: scripts/setup.sh [--quiet])" ;;
esac

build_dir=$MC_BUILD_DIR
summary=()

# What is missing decides whether --quiet may stay silent.
missing=()
if command -v dpkg-query >/dev/null 2>&1; then
  mapfile -t missing < <(missing_packages "${MC_APT_PACKAGES[@]}")
fi
configured=0
[[ -f $build_dir/CMakeCache.txt ]] && configured=1
rootfs_state=present
if [[ ! -e $MC_ROOTFS/bin/sh && ! -L $MC_ROOTFS/bin/sh ]]; then
  rootfs_state=missing
elif is_root && [[ ! -c $MC_ROOTFS/dev/null ]]; then
  rootfs_state=no-devices
fi
if ((${#missing[@]} > 0 || configured == 0)) || [[ $rootfs_state != present ]]; then
  quiet=0
fi

# 1. Packages.
ensure_packages "${MC_APT_PACKAGES[@]}"
if ((${#missing[@]})); then
  summary+=("packages: installed ${missing[*]}")
else
  summary+=("packages: all ${#MC_APT_PACKAGES[@]} present")
fi

# 2. Build. Quietly, the build's output is shown only if it fails.
if ((quiet)); then
  build_log=$(mktemp "${TMPDIR:-/tmp}/mc-build.XXXXXX")
  trap 'rm -f -- "$build_log"' EXIT
  if ! ensure_build "$build_dir" >"$build_log" 2>&1; then
    cat -- "$build_log" >&2
    die "the build failed (output above); fix it, then re-run scripts/setup.sh"
  fi
else
  ensure_build "$build_dir" || die "the build failed (output above); fix it, then re-run scripts/setup.sh"
fi
built=()
for bin in simple_container container_with_pid container_with_mount container_with_uts \
  container_with_network container_with_cgroups mycontainer; do
  [[ -x $build_dir/bin/$bin ]] && built+=("$bin")
done
((configured)) && what="built" || what="configured and built"
summary+=("build: $what in ${build_dir#"$MC_ROOT"/}/ (step binaries: ${built[*]:-none yet})")

# 3. Root filesystem.
ensure_rootfs
case $rootfs_state in
  present) summary+=("rootfs: present in ${MC_ROOTFS#"$MC_ROOT"/}/") ;;
  missing) summary+=("rootfs: built in ${MC_ROOTFS#"$MC_ROOT"/}/") ;;
  no-devices) summary+=("rootfs: device nodes added to ${MC_ROOTFS#"$MC_ROOT"/}/dev") ;;
esac
if ! is_root && [[ ! -c $MC_ROOTFS/dev/null ]]; then
  summary+=("note: the rootfs has no /dev/null yet; sudo scripts/setup.sh adds it")
fi

if ((!quiet)); then
  log "setup done:"
  printf '    %s\n' "${summary[@]}" >&2
fi
