#!/usr/bin/env bash
# The one command that runs the whole test suite, on a fresh Debian/Ubuntu machine too:
#
#   sudo scripts/test.sh                       # everything (root: the privileged tests run)
#   scripts/test.sh                            # as a user: privileged tests skip
#   sudo scripts/test.sh -L unit -R Fd         # extra arguments go to ctest
#
# It installs missing packages (needs root), builds build/, makes rootfs/, runs ctest,
# then scripts/vm-test.sh if it exists (skip it with MC_SKIP_VM=1; MC_VM_ALL=1 runs every
# suite in the VM, scripts/vm-test.sh --all, instead of its default list). MC_REQUIRE_ROOT=1
# in the environment turns privileged skips into failures (.ci/run sets it; note that
# sudo drops the environment: use sudo MC_REQUIRE_ROOT=1 scripts/test.sh). MC_BUILD_DIR
# picks another build directory than build/.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

ensure_packages "${MC_APT_PACKAGES[@]}"
start=$SECONDS
ensure_build "$MC_BUILD_DIR"
log "build: $((SECONDS - start)) s" # each part says how long it took (.ci/run adds them up)
ensure_rootfs

if [[ ${MC_REQUIRE_ROOT:-0} == 1 ]]; then
  log "MC_REQUIRE_ROOT=1: a skipped privileged test counts as a failure"
fi
ctest_log=$(mktemp "${TMPDIR:-/tmp}/mc-ctest.XXXXXX")
trap 'rm -f -- "$ctest_log"' EXIT

vm=$MC_ROOT/scripts/vm-test.sh
run_vm=0
if [[ ${MC_SKIP_VM:-0} == 1 ]]; then
  [[ ! -x $vm ]] || log "MC_SKIP_VM=1: scripts/vm-test.sh will not run"
elif (($# > 0)); then
  [[ ! -x $vm ]] || log "ctest arguments given: scripts/vm-test.sh will not run (run it on its own)"
elif [[ -x $vm ]]; then
  run_vm=1
fi

log "ctest --test-dir ${MC_BUILD_DIR#"$MC_ROOT"/} --output-on-failure -j2 $*"
ctest_rc=0
start=$SECONDS
ctest --test-dir "$MC_BUILD_DIR" --output-on-failure -j2 "$@" | tee "$ctest_log" || ctest_rc=$?
log "ctest: $((SECONDS - start)) s"

if ((run_vm)); then
  log "scripts/vm-test.sh: the privileged suites in a cgroup-v2 VM"
  vm_rc=0
  vm_args=()
  [[ ${MC_VM_ALL:-0} != 1 ]] || vm_args=(--all)
  start=$SECONDS
  "$vm" "${vm_args[@]}" || vm_rc=$?
  log "scripts/vm-test.sh: $((SECONDS - start)) s"
  summary=$(grep -E '^[0-9]+% tests passed' "$ctest_log" | tail -n 1) || true
  if ((vm_rc == 0)); then
    log "scripts/vm-test.sh passed"
    # End as ctest does, with its summary line.
    [[ -z $summary ]] || printf '%s\n' "$summary"
  else
    [[ -z $summary ]] || printf 'host: %s\n' "$summary"
    printf 'error: scripts/vm-test.sh failed (exit %d)\n' "$vm_rc" >&2
    exit 1
  fi
fi
exit "$ctest_rc"
