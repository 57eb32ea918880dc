#!/usr/bin/env bash
# The checks CI runs besides the test suite (.ci/run runs --lint and --asan, then scripts/test.sh):
#
#   sudo scripts/check.sh               # all of them
#   scripts/check.sh --lint             # the source checks only (no root, no test run)
#   sudo scripts/check.sh --asan [ARG]  # the sanitizer suite only; ARGs go to ctest
#
# Source checks, the style DESIGN.md promises; any finding fails:
#   clang-format --dry-run -Werror  every C++ file in git, against .clang-format
#   shell scripts                   shellcheck over scripts/*.sh and .ci/run
#   clang-tidy                      every project source that build/compile_commands.json
#                                   lists (configures build/ if needed), with the checks
#                                   .clang-tidy names (bugprone, clang-analyzer, performance)
# The sanitizer suite: the asan preset (AddressSanitizer + UndefinedBehaviorSanitizer, in
# build-asan/) built, and the test suite run under it (scripts/test.sh, without the VM, and
# without the engines and docs suites: check_asan says why). A UBSan finding stops the process that hit it (halt_on_error), so it fails its test
# instead of scrolling by.
#
# Every part runs even when one before it failed, says how long it took, and the exit status
# is non-zero if any part failed. It installs clang-format, clang-tidy and shellcheck when
# missing (needs root). Typical times on a 2-core machine: format and shellcheck a few
# seconds, clang-tidy ~14 minutes, sanitizer build 7-20 minutes from scratch, its suite 10-22
# minutes (README.md, "Tests", has what CI takes and why).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

usage() { sed -n '2,6s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }

lint=1
asan=1
case ${1:-} in
  --lint) asan=0 && shift ;;
  --asan) lint=0 && shift ;;
  -h | --help) usage && exit 0 ;;
esac
if ((lint && !asan && $# > 0)); then
  usage >&2
  die "--lint takes no arguments"
fi

failed=()
# part NAME CMD...: runs CMD, logs how long it took, and remembers a failure.
part() {
  local name=$1
  shift
  log "$name"
  local start=$SECONDS rc=0
  "$@" || rc=$?
  if ((rc == 0)); then
    log "$name: passed in $((SECONDS - start)) s"
  else
    log "$name: FAILED (exit $rc) after $((SECONDS - start)) s"
    failed+=("$name")
  fi
}

# The C++ sources and headers git knows, and the shell scripts.
cxx_files() { git -C "$MC_ROOT" ls-files -z -- '*.cpp' '*.hpp' '*.h' '*.cc'; }

check_format() (
  cd -- "$MC_ROOT"
  cxx_files | xargs -0 clang-format --dry-run -Werror
)

check_shell() (
  cd -- "$MC_ROOT"
  # -x: follow `source scripts/lib.sh`, as the scripts' shellcheck directives say.
  shellcheck -x scripts/*.sh .ci/run
)

check_tidy() {
  local build_dir=$MC_ROOT/build
  ensure_configured "$build_dir" || return
  # The project's own translation units, as compiled (build/compile_commands.json); headers
  # are checked through them (.clang-tidy's HeaderFilterRegex). One clang-tidy per file, as
  # many at once as there are cores; each prints its findings in one piece, without the
  # counts of what it suppressed in system headers.
  local db=$build_dir/compile_commands.json file sources=()
  while IFS= read -r -d '' file; do
    if grep -qF "\"file\": \"$MC_ROOT/$file\"" "$db"; then sources+=("$MC_ROOT/$file"); fi
  done < <(git -C "$MC_ROOT" ls-files -z -- '*.cpp' '*.cc')
  log "clang-tidy: ${#sources[@]} files"
  # The tests' compile commands name GCC's precompiled header (tests/CMakeLists.txt), which
  # clang cannot read: clang-tidy gets the commands without it, and parses the headers each
  # test includes itself.
  local tidy_db
  tidy_db=$(mktemp -d "${TMPDIR:-/tmp}/mc-tidy.XXXXXX")
  sed -E 's# -Winvalid-pch##g; s# -include [^ ]*/cmake_pch\.hxx##g' "$db" >"$tidy_db/compile_commands.json"
  local rc=0
  # shellcheck disable=SC2016  # $1 and $out belong to the inner bash
  printf '%s\0' "${sources[@]}" | xargs -0 -n 1 -P "$(nproc)" bash -c '
    out=$(clang-tidy --quiet -p "$0" "$1" 2>&1) && exit 0
    grep -v -e "^[0-9]* warnings* generated" <<<"$out"
    exit 1' "$tidy_db" || rc=$?
  rm -rf -- "$tidy_db"
  return "$rc"
}

check_asan() {
  # The sanitizers' own defaults, except that UBSan stops at its first finding (by default it
  # prints and goes on, and the test that caused it would pass).
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
  # Without arguments: every suite but two that add time and no code under test. engines/
  # drives the same create/start/exec paths that steps_step7_oci*_test run directly, through
  # podman and containerd (minutes of their start-up); docs/ runs the READMEs' commands,
  # which the step suites already cover. The normal run (scripts/test.sh) runs both.
  local args=("$@")
  ((${#args[@]} > 0)) || args=(-LE 'engines|docs')
  MC_BUILD_DIR=$MC_ROOT/build-asan MC_SKIP_VM=1 "$MC_ROOT/scripts/test.sh" "${args[@]}"
}

if ((lint)); then
  ensure_packages clang-format clang-tidy shellcheck
  part "clang-format --dry-run -Werror" check_format
  part "shellcheck scripts/*.sh .ci/run" check_shell
  part "clang-tidy (.clang-tidy)" check_tidy
fi
if ((asan)); then
  part "the test suite under AddressSanitizer + UBSan (build-asan/)" check_asan "$@"
fi

if ((${#failed[@]} > 0)); then
  die "failed: $(printf '%s; ' "${failed[@]}")"
fi
log "all checks passed"
