#!/usr/bin/env bash
# How fast does `mycontainer load` take an image archive, against `podman load` of the same
# archive? Side by side in one hyperfine run (#13, "load against podman load").
#
#   sudo scripts/bench-load.sh          # 10 runs each (BENCH_RUNS=N for another count)
#
# The archive: one layer of about 50 MB of the host's /usr/lib (as scripts/bench-images.sh
# makes it), as an OCI archive made here by hand (blob, config, manifest, index.json).
# podman runs with storage, run root, tmp dir and configuration of its own in a temporary
# directory (overlay driver, as a root podman uses; --cgroup-manager cgroupfs): the host's
# podman storage is never touched. Both commands run in a private mount namespace (unshare),
# so that whatever either mounts goes with it; the stores are emptied before every run, and
# everything is removed on exit.
set -euo pipefail
export LC_ALL=C
# shellcheck source=scripts/lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

runs=${BENCH_RUNS:-10}
mycontainer="$MC_ROOT/build/bin/mycontainer"
[[ -x $mycontainer ]] || die "build it first: ninja -C build mycontainer mycontainer-image"
command -v hyperfine >/dev/null || die "hyperfine is not installed (apt install hyperfine)"
command -v podman >/dev/null || die "podman is not installed"

work=$(mktemp -d /tmp/mc-bench-load.XXXXXX)
[[ -d $work && $work == /tmp/mc-bench-load.* ]] || die "no temporary directory"
made=() # directories of the host this script made (removed again on exit)
cleanup() {
  rm -rf -- "$work"
  local d
  for d in "${made[@]}"; do rmdir -- "$d" 2>/dev/null || true; done
}
trap cleanup EXIT

# The layer, as scripts/bench-images.sh makes it.
(cd /usr/lib && find . -xdev \( -type f -o -type l -o -type d \) -printf '%s\t%p\n' |
  awk -F'\t' '{ total += $1 } total <= 56000000 { print $2 }') >"$work/list"
tar -C /usr/lib --no-recursion -T "$work/list" -cf "$work/layer.tar"
gzip -1 -c "$work/layer.tar" >"$work/layer.tar.gz"

# A one-layer OCI image layout (image-spec image-layout.md), then its archive.
layout=$work/layout
mkdir -p "$layout/blobs/sha256"
# blob FILE MEDIATYPE: copies FILE in under its digest, prints its descriptor.
blob() {
  local hex
  hex=$(sha256sum "$1" | cut -d' ' -f1)
  cp "$1" "$layout/blobs/sha256/$hex"
  jq -cn --arg t "$2" --arg d "sha256:$hex" --argjson s "$(stat -c %s "$1")" \
    '{mediaType: $t, digest: $d, size: $s}'
}
diff_id=sha256:$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
jq -cn --arg d "$diff_id" \
  '{architecture: "amd64", os: "linux", config: {}, rootfs: {type: "layers", diff_ids: [$d]}}' \
  >"$work/config.json"
config_desc=$(blob "$work/config.json" application/vnd.oci.image.config.v1+json)
layer_desc=$(blob "$work/layer.tar.gz" application/vnd.oci.image.layer.v1.tar+gzip)
jq -cn --argjson c "$config_desc" --argjson l "$layer_desc" \
  '{schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json", config: $c,
    layers: [$l]}' >"$work/manifest.json"
manifest_desc=$(blob "$work/manifest.json" application/vnd.oci.image.manifest.v1+json)
jq -cn --argjson m "$manifest_desc" \
  '{schemaVersion: 2, manifests: [$m + {annotations:
    {"org.opencontainers.image.ref.name": "localhost/mc-bench-load:1"}}]}' >"$layout/index.json"
echo '{"imageLayoutVersion": "1.0.0"}' >"$layout/oci-layout"
tar -C "$layout" -cf "$work/image.tar" .
echo "archive: $(($(stat -c %s "$work/image.tar") / 1000000)) MB, one layer of" \
  "$(($(stat -c %s "$work/layer.tar") / 1000000)) MB uncompressed, $(wc -l <"$work/list") entries"

# podman's configuration, all of it in $work (as scripts/bench-oci.sh does).
p=$work/podman
mkdir -p "$p/tmp" "$p/netconf" "$p/blob-cache"
printf '%s\n' '[engine]' 'cgroup_manager = "cgroupfs"' 'events_logger = "file"' \
  "events_logfile_path = \"$p/events.log\"" "tmp_dir = \"$p/tmp\"" \
  "static_dir = \"$p/root/libpod\"" "volume_path = \"$p/root/volumes\"" \
  '[network]' "network_config_dir = \"$p/netconf\"" >"$p/containers.conf"
printf '%s\n' '[storage]' 'driver = "overlay"' "runroot = \"$p/runroot\"" \
  "graphroot = \"$p/root\"" >"$p/storage.conf"
echo 'unqualified-search-registries = []' >"$p/registries.conf"
# containers/image caches blob digests in /var/lib/containers/cache whatever --root says: in
# podman's private mount namespace that directory is a bind mount of ours.
for d in /var/lib/containers /var/lib/containers/cache; do
  if [[ ! -e $d ]]; then
    mkdir "$d"
    made=("$d" "${made[@]}")
  fi
done
printf '%s\n' '#!/bin/sh' 'set -e' \
  "mount --bind '$p/blob-cache' /var/lib/containers/cache" \
  "export CONTAINERS_CONF='$p/containers.conf' CONTAINERS_STORAGE_CONF='$p/storage.conf'" \
  "export CONTAINERS_REGISTRIES_CONF='$p/registries.conf' TMPDIR='$p/tmp'" \
  "exec podman --root '$p/root' --runroot '$p/runroot' --cgroup-manager cgroupfs \\" \
  "  --events-backend file load -q -i '$work/image.tar'" >"$work/podman-load.sh"
printf '%s\n' '#!/bin/sh' \
  "exec '$mycontainer' --store '$work/store' load -q -i '$work/image.tar'" >"$work/mc-load.sh"
chmod +x "$work/podman-load.sh" "$work/mc-load.sh"
# The stores, emptied before every run (podman's in its own namespace: its overlay driver
# may have mounted there).
printf '%s\n' '#!/bin/sh' "rm -rf '$work/store' '$p/root' '$p/runroot'" \
  "rm -rf '$p/blob-cache' && mkdir '$p/blob-cache'" >"$work/empty.sh"
chmod +x "$work/empty.sh"

private="unshare --mount --propagation private"
hyperfine -N --warmup 1 --runs "$runs" --export-json "$work/load.json" \
  --prepare "$private $work/empty.sh" \
  -n "podman load" "$private $work/podman-load.sh" \
  -n "mycontainer load" "$private $work/mc-load.sh"
"$work/empty.sh"

python3 - "$work/load.json" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
p, ours = r["podman load"], r["mycontainer load"]
def cpu(x): return f"{x['user']:.2f} + {x['system']:.2f} s"
print(f"\n| | median | user + sys CPU (mean) |\n|---|---:|---:|\n"
      f"| `podman load` | {p['median']*1000:.1f} ms | {cpu(p)} |\n"
      f"| `mycontainer load` | {ours['median']*1000:.1f} ms | {cpu(ours)} |\n"
      f"| ratio | {ours['median']/p['median']:.2f}x | |")
PY
