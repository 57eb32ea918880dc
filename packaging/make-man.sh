#!/usr/bin/env bash
# Makes mycontainer(1) from the program's own help: help2man formats `mycontainer --help`,
# and every command's `mycontainer COMMAND --help` follows in a COMMANDS section.
#
#   packaging/make-man.sh BINARY VERSION OUT.1
set -euo pipefail
export LC_ALL=C
bin=$1 version=$2 out=$3
include=$(mktemp)
trap 'rm -f -- "$include"' EXIT

# The commands: CLI11 lists them under "Subcommands:" as "  NAME  description".
commands=$("$bin" --help | awk 'tolower($0) ~ /^subcommands:/ { on = 1; next } on && /^  [a-z]/ { print $1 } on && /^[^ ]/ { on = 0 }')
{
  echo '[COMMANDS]'
  for c in $commands; do
    echo ".SS $c"
    echo '.nf'
    "$bin" "$c" --help 2>&1 | sed -e 's/\\/\\e/g' -e 's/^\./\\\&./'
    echo '.fi'
  done
  cat <<'MAN'
[FILES]
.TP
.I /run/mycontainer
state of the containers (one directory each; \fB\-\-root\fR moves it)
[SEE ALSO]
.BR podman (1),
.BR containerd (8),
.BR ctr (8),
.BR runc (8),
.BR namespaces (7),
.BR cgroups (7),
.BR capabilities (7),
.BR seccomp (2)
.PP
The OCI runtime specification: https://github.com/opencontainers/runtime-spec
MAN
} >"$include"

help2man --no-info --no-discard-stderr --section 1 --version-string "$version" \
  --name "a small OCI container runtime, built step by step" --include "$include" \
  --output "$out" "$bin"
