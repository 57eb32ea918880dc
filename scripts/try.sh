#!/usr/bin/env bash
# Runs one step's container on the default rootfs, setting things up first if needed.
#
#   sudo scripts/try.sh                 # the highest step built: a shell, or a demo without a tty
#   sudo scripts/try.sh 3               # step 3
#   sudo scripts/try.sh 5 -- ip addr    # step 5, running `ip addr` in the container
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

usage() { sed -n '2,6s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }

# Index = step number.
binaries=("" simple_container container_with_pid container_with_mount container_with_uts
  container_with_network container_with_cgroups mycontainer)

orig_args=("$@")
step=""
if (($#)) && [[ $1 != -- ]]; then
  case $1 in
    -h | --help)
      usage
      exit 0
      ;;
    [1-7]) step=$1 ;;
    *) die "STEP must be a number from 1 to 7, not '$1' (usage: sudo scripts/try.sh [STEP] [-- COMMAND...])" ;;
  esac
  shift
fi
cmd=()
if (($#)); then
  [[ $1 == -- ]] || die "put the command after --, e.g.: sudo scripts/try.sh ${step:-7} -- ls /"
  shift
  (($#)) || die "no COMMAND after --"
  cmd=("$@")
fi

is_root || die "containers need root: run it with sudo (sudo scripts/try.sh${orig_args[*]:+ ${orig_args[*]}})"

bin_dir=$MC_BUILD_DIR/bin
any_binary() {
  local b
  for b in "${binaries[@]:1}"; do
    [[ -x $bin_dir/$b ]] && return 0
  done
  return 1
}

if ! "$MC_ROOT/scripts/setup.sh" --quiet --steps-only; then
  any_binary || die "no step binary built: the build failed (output above)"
  die "the build failed (output above): fix it, then try again"
fi

if [[ -z $step ]]; then
  for ((n = 7; n >= 1; n--)); do
    if [[ -x $bin_dir/${binaries[n]} ]]; then
      step=$n
      break
    fi
  done
  [[ -n $step ]] || die "no step binary built in $bin_dir yet (expected e.g. ${binaries[1]}); check the build output of scripts/setup.sh"
fi
bin=$bin_dir/${binaries[step]}
[[ -x $bin ]] || die "step $step is not built: $bin does not exist"

if ((${#cmd[@]} == 0)); then
  if [[ -t 0 ]]; then
    cmd=(/bin/sh)
  else
    # What each step isolates, shown with the commands that make sense up to it.
    demo='echo "--- ls /"; ls /; echo "--- PID of this shell: $$"'
    ((step >= 2)) && demo+='; echo "--- ps"; ps'
    ((step >= 3)) && demo+='; echo "--- mount | head"; mount | head'
    ((step >= 4)) && demo+='; echo "--- hostname"; hostname'
    ((step >= 5)) && demo+='; echo "--- ip addr"; ip addr'
    ((step >= 6)) && demo+='; echo "--- cat /proc/self/cgroup"; cat /proc/self/cgroup'
    cmd=(/bin/sh -c "$demo")
  fi
fi

if ((step == 7)); then
  # With a terminal, give the container one of its own (-t -i): job control and ^C work.
  tty_flags=()
  [[ -t 0 && -t 1 ]] && tty_flags=(-t -i)
  argv=("$bin" run "${tty_flags[@]}" --rootfs "$MC_ROOTFS" -- "${cmd[@]}")
else
  argv=("$bin" --rootfs "$MC_ROOTFS" -- "${cmd[@]}")
fi
if [[ -n ${demo:-} ]]; then
  log "step $step (${binaries[step]}): a demo of what it isolates; run your own command with: sudo scripts/try.sh $step -- COMMAND"
else
  log "step $step: ${argv[*]}"
fi
exec "${argv[@]}"
