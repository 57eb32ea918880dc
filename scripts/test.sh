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

# A test that fails and then passes when ctest runs it once more (--repeat until-pass:2) does
# not fail the run, since the machines are shared and noisy; it is named at the end as flaky,
# to be looked at. A test that fails twice fails the run, and is named at the very end too
# (after the VM's output, where CI's log is cut).
ctest_args=(--test-dir "$MC_BUILD_DIR" --output-on-failure -j2 --repeat until-pass:2 "$@")
log "ctest ${ctest_args[*]}"
ctest_rc=0
start=$SECONDS
ctest "${ctest_args[@]}" | tee "$ctest_log" || ctest_rc=$?
log "ctest: $((SECONDS - start)) s"

# name_tests PATTERN: the test names on ctest's result lines that match PATTERN, one line.
name_tests() { sed -nE "$1" "$ctest_log" | sort -u | tr '\n' ' '; }
report_tests() {
  # A retry's result line has no "N/M" count before "Test #".
  local flaky failed
  flaky=$(name_tests 's/^ +Test +#[0-9]+: ([^ ]+) \.* +Passed.*/\1/p')
  failed=$(name_tests '/^The following tests FAILED:/,/^$/s/^\s+[0-9]+ - ([^ ]+) .*/\1/p')
  [[ -z $flaky ]] || log "flaky (failed once, passed on the second try): $flaky"
  [[ -z $failed ]] || log "failed tests: $failed"
}

if ((run_vm)); then
  log "scripts/vm-test.sh: the privileged suites in a cgroup-v2 VM"
  vm_rc=0
  vm_args=()
  [[ ${MC_VM_ALL:-0} != 1 ]] || vm_args=(--all)
  start=$SECONDS
  "$vm" "${vm_args[@]}" || vm_rc=$?
  log "scripts/vm-test.sh: $((SECONDS - start)) s"
  summary=$(grep -E '^[0-9]+% tests passed' "$ctest_log" | tail -n 1) || true
  report_tests
  if ((vm_rc == 0)); then
    log "scripts/vm-test.sh passed"
    # End as ctest does, with its summary line.
    [[ -z $summary ]] || printf '%s\n' "$summary"
  else
    [[ -z $summary ]] || printf 'host: %s\n' "$summary"
    printf 'error: scripts/vm-test.sh failed (exit %d)\n' "$vm_rc" >&2
    exit 1
  fi
else
  report_tests
fi
exit "$ctest_rc"
