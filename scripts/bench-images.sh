#!/usr/bin/env bash
# How fast does the image store unpack a layer? `mycontainer-image unpack` (libarchive, each
# entry created with openat2 RESOLVE_IN_ROOT, the uncompressed stream hashed for its diff_id)
# against `tar -xzf` of the same 50 MB layer, side by side in one hyperfine run. Goal:
# within 1.2x of tar (tests/bench/RESULTS.md, "Images").
#
#   sudo scripts/bench-images.sh          # 10 runs each (BENCH_RUNS=N for another count)
#
# The layer is made here from the host's /usr/lib (regular files, symlinks, directories: a
# real layer's mix) and cut at about 50 MB uncompressed; everything lives in a temporary
# directory removed on exit.
set -euo pipefail
export LC_ALL=C
# shellcheck source=scripts/lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

runs=${BENCH_RUNS:-10}
tool="$MC_ROOT/build/bin/mycontainer-image"
[[ -x $tool ]] || die "build it first: ninja -C build mycontainer-image"
command -v hyperfine >/dev/null || die "hyperfine is not installed (apt install hyperfine)"

work=$(mktemp -d /tmp/mc-bench-images.XXXXXX)
trap 'rm -rf -- "$work"' EXIT

# About 50 MB of /usr/lib, in find's order (as a layer lists them): directories, files and
# symlinks, up to 50 MB of file data.
(cd /usr/lib && find . -xdev \( -type f -o -type l -o -type d \) -printf '%s\t%p\n' |
  awk -F'\t' '{ total += $1 } total <= 56000000 { print $2 }') >"$work/list"
tar -C /usr/lib --no-recursion -T "$work/list" -cf "$work/layer.tar"
gzip -1 -c "$work/layer.tar" >"$work/layer.tar.gz"
echo "layer: $(($(stat -c %s "$work/layer.tar") / 1000000)) MB uncompressed," \
  "$(($(stat -c %s "$work/layer.tar.gz") / 1000000)) MB gzip, $(wc -l <"$work/list") entries"

hyperfine -N --warmup 1 --runs "$runs" --export-json "$work/result.json" \
  --prepare "sh -c 'rm -rf $work/out && mkdir $work/out'" \
  -n "tar -xzf" "tar -xzf $work/layer.tar.gz -C $work/out" \
  -n "mycontainer-image unpack" "$tool unpack $work/layer.tar.gz $work/out"

python3 - "$work/result.json" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
tar, ours = r["tar -xzf"]["median"], r["mycontainer-image unpack"]["median"]
print(f"\n| | median |\n|---|---|\n| tar -xzf | {tar*1000:.1f} ms |\n"
      f"| mycontainer-image unpack | {ours*1000:.1f} ms |\n| ratio | {ours/tar:.2f}x |")
PY
