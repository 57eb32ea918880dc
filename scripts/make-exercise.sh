#!/usr/bin/env bash
# Makes the exercise of one step: a copy of the step's source in which the code this step adds
# (what its `NEW in step N` comments mark) is replaced by TODO comments saying what to write.
# The step's Makefile calls it (`make exercise`); `make check` then builds the copy and runs
# the step's tests against it.
#
#   scripts/make-exercise.sh STEP_DIR [OUT_FILE]
#
# The markers are read, never written twice: what the step adds is what its comments say.
#   code;  // NEW in step N: what        -> // TODO(step N): what
#   // --- Title --- NEW in step N       -> the comment stays; the code below it, up to the
#   // NEW in step N: why ...               next blank line or comment, becomes
#                                           // TODO(step N): write the code this comment describes
# A comment that only explains ("NEW in step 3: nothing to unmount") is followed by a blank
# line in the sources, so it has no code to remove.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

(($# >= 1 && $# <= 2)) || die "usage: scripts/make-exercise.sh STEP_DIR [OUT_FILE]"
[[ -d $1 ]] || die "'$1' is not a directory: pass a step's folder, e.g. step4_uts_namespace"
step_dir=$(cd -- "$1" && pwd -P)
number=$(basename -- "$step_dir" | sed -n 's/^step\([1-6]\)_.*/\1/p')
[[ -n $number ]] || die "'$step_dir' is not one of steps 1-6 (step 7 is a runtime, not an exercise)"
mapfile -t sources < <(find "$step_dir" -maxdepth 1 -name '*.cpp' ! -name '*.exercise.cpp')
((${#sources[@]} == 1)) || die "expected one .cpp file in $step_dir, found ${#sources[@]}"
source_file=${sources[0]}
out=${2:-${source_file%.cpp}.exercise.cpp}

awk -v n="$number" '
function indent_of(s) { match(s, /^[ \t]*/); return substr(s, 1, RLENGTH) }
function is_comment(s) { return s ~ /^[ \t]*\/\// }
BEGIN { marker = "NEW in step " n "([^0-9]|$)"; removing = 0; todos = 0 }
{
  line = $0
  if (removing) {
    # The code of a marked block runs up to a blank line, a comment, or a closing brace that
    # ends the enclosing block (less indented than the marker).
    if (line ~ /^[ \t]*$/ || is_comment(line) || length(indent_of(line)) < length(block_indent)) {
      removing = 0
    } else {
      next
    }
  }
  if (is_comment(line) && line ~ marker) {
    print line
    # The rest of this comment paragraph, then the code it describes.
    while ((getline next_line) > 0 && is_comment(next_line)) print next_line
    block_indent = indent_of(line)
    if (next_line ~ /^[ \t]*$/ || length(indent_of(next_line)) < length(block_indent)) {
      print next_line
      next
    }
    print block_indent "// TODO(step " n "): write the code this comment describes"
    todos++
    removing = 1
    next
  }
  if (!is_comment(line) && line ~ ("//.*" marker)) {
    text = line
    sub(/^.*\/\/[ \t]*/, "", text)
    sub("NEW in step " n ":?[ \t]*", "", text)
    print indent_of(line) "// TODO(step " n "): " (text == "" ? "write this line" : text)
    todos++
    next
  }
  print line
}
END { if (todos == 0) exit 3 }
' "$source_file" >"$out" || {
  rc=$?
  rm -f -- "$out"
  ((rc == 3)) && die "no 'NEW in step $number' marker in $source_file"
  die "could not write $out"
}
log "wrote ${out#"$MC_ROOT"/}: $(grep -c "TODO(step $number)" "$out") TODOs; write them, then run: make check"
