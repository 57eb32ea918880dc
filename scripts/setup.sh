#!/usr/bin/env bash
# Makes this machine ready to build and run every step: Debian packages, the CMake
# build in build/, and the busybox rootfs in rootfs/. Safe to re-run: it only does
# what is missing. Installing packages needs root; the rest does not.
#
#   sudo scripts/setup.sh                     # first time: everything, tests included
#   scripts/setup.sh --quiet --steps-only     # what try.sh calls: the seven step programs only
#
# --quiet prints one line per phase that has work to do (nothing when nothing is missing) and
# keeps the full output of apt and the build in a log file, shown if a phase fails.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

quiet=0
steps_only=0
for arg in "$@"; do
  case $arg in
    -q | --quiet) quiet=1 ;;
    --steps-only) steps_only=1 ;;
    -h | --help)
      sed -n '2,10s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
      exit 0
      ;;
    *) die "unknown argument '$arg' (usage: scripts/setup.sh [--quiet] [--steps-only])" ;;
  esac
done

build_dir=$MC_BUILD_DIR
summary=()
packages=("${MC_APT_PACKAGES[@]}")
targets=()
if ((steps_only)); then
  packages=("${MC_APT_STEP_PACKAGES[@]}")
  targets=("${MC_STEP_TARGETS[@]}")
fi

# What is missing decides whether --quiet may stay silent.
missing=()
if command -v dpkg-query >/dev/null 2>&1; then
  mapfile -t missing < <(missing_packages "${packages[@]}")
fi
configured=0
[[ -f $build_dir/CMakeCache.txt ]] && configured=1
rootfs_state=present
if [[ ! -e $MC_ROOTFS/bin/sh && ! -L $MC_ROOTFS/bin/sh ]]; then
  rootfs_state=missing
elif is_root && [[ ! -c $MC_ROOTFS/dev/null ]]; then
  rootfs_state=no-devices
fi

# quietly PHASE CMD...: runs CMD with its output in the log; says PHASE first when there is
# work to do (NOTE: always), and shows the end of the log if CMD fails.
setup_log=""
quietly() {
  local phase=$1
  shift
  if ((!quiet)); then
    "$@"
    return
  fi
  if [[ -z $setup_log ]]; then
    setup_log=$(mktemp "${TMPDIR:-/tmp}/mycontainer-setup.XXXXXX.log")
  fi
  [[ -z $phase ]] || log "$phase (full output: $setup_log)"
  # A subshell: a `die` inside CMD ends CMD, and we still show the log.
  if ! ("$@") >>"$setup_log" 2>&1; then
    tail -n 30 -- "$setup_log" >&2
    die "$phase failed: the last lines are above, everything is in $setup_log"
  fi
}

# 1. Packages.
if ((${#missing[@]})); then
  quietly "installing ${#missing[@]} Debian packages" ensure_packages "${packages[@]}"
  summary+=("packages: installed ${missing[*]}")
else
  summary+=("packages: all ${#packages[@]} present")
fi

# 2. Build: with --steps-only, just the seven programs (the tests come with test.sh).
# The first build says so; a rebuild is silent (its failure still shows the log).
phase=""
((configured)) || phase="building the ${targets[*]:+step }programs (the first time takes a few minutes)"
quietly "$phase" ensure_build "$build_dir" "${targets[@]}" ||
  die "the build failed (output above); fix it, then re-run scripts/setup.sh"
if ((quiet)) && [[ -n $setup_log ]]; then
  rm -f -- "$setup_log"
fi
built=()
for bin in simple_container container_with_pid container_with_mount container_with_uts \
  container_with_network container_with_cgroups mycontainer; do
  [[ -x $build_dir/bin/$bin ]] && built+=("$bin")
done
((configured)) && what="built" || what="configured and built"
summary+=("build: $what in ${build_dir#"$MC_ROOT"/}/ (step binaries: ${built[*]:-none yet})")

# 3. Root filesystem.
case $rootfs_state in
  missing) quietly "making the BusyBox root filesystem in ${MC_ROOTFS#"$MC_ROOT"/}/" ensure_rootfs ;;
  no-devices) quietly "adding device nodes to ${MC_ROOTFS#"$MC_ROOT"/}/dev" ensure_rootfs ;;
esac
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
