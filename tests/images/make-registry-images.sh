#!/usr/bin/env bash
# Makes, offline, the OCI image layout the pull tests push to their registry, with umoci:
#
#   tests/images/make-registry-images.sh ROOTFS LAYOUT_DIR
#
# Tags in LAYOUT_DIR (an OCI image layout, image-spec image-layout.md):
#   amd64     linux/amd64: the rootfs as one layer, then /etc/mc-platform ("amd64") as a second
#   arm64     linux/arm64/v8: the same rootfs, then /etc/mc-platform ("arm64")
#   multi     an image index of both, in the order arm64, amd64/v3 (pointing at the arm64
#             manifest: a client that takes a variant it cannot run gets the wrong file),
#             amd64: what docker and containerd pick for linux/amd64 is the last one
#   armonly   an image index with linux/arm64/v8 only
set -euo pipefail
export LC_ALL=C
[[ $# -eq 2 ]] || { echo "usage: $0 ROOTFS LAYOUT_DIR" >&2; exit 2; }
rootfs=$1 layout=$2
work=$(mktemp -d)
trap 'rm -rf -- "$work"' EXIT

# umoci unpack/repack: a bundle's rootfs changed, then the difference as a new layer.
umoci init --layout "$layout"
umoci new --image "$layout:base"
umoci config --image "$layout:base" --os linux --architecture amd64 --config.cmd /bin/sh \
  --config.env PATH=/usr/sbin:/usr/bin:/sbin:/bin
umoci unpack --image "$layout:base" "$work/bundle"
rm -rf -- "$work/bundle/rootfs"
cp -a -- "$rootfs" "$work/bundle/rootfs"
umoci repack --image "$layout:base" "$work/bundle"
rm -rf -- "$work/bundle"

for arch in amd64 arm64; do
  umoci config --image "$layout:base" --architecture "$arch" --tag "$arch"
  umoci unpack --image "$layout:$arch" "$work/bundle"
  printf '%s\n' "$arch" >"$work/bundle/rootfs/etc/mc-platform"
  umoci repack --image "$layout:$arch" "$work/bundle"
  rm -rf -- "$work/bundle"
done
umoci rm --image "$layout:base"

# The two indexes, written by hand: umoci makes image manifests only.
python3 - "$layout" <<'PY'
import hashlib, json, os, sys
layout = sys.argv[1]
index_path = os.path.join(layout, "index.json")
index = json.load(open(index_path))
by_tag = {m["annotations"]["org.opencontainers.image.ref.name"]: m for m in index["manifests"]}
def entry(tag, arch, variant=None):
    d = {k: by_tag[tag][k] for k in ("mediaType", "digest", "size")}
    d["platform"] = {"os": "linux", "architecture": arch}
    if variant:
        d["platform"]["variant"] = variant
    return d
def add_index(tag, manifests):
    blob = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                       "manifests": manifests}).encode()
    digest = hashlib.sha256(blob).hexdigest()
    with open(os.path.join(layout, "blobs", "sha256", digest), "wb") as f:
        f.write(blob)
    index["manifests"].append({"mediaType": "application/vnd.oci.image.index.v1+json",
                               "digest": "sha256:" + digest, "size": len(blob),
                               "annotations": {"org.opencontainers.image.ref.name": tag}})
add_index("multi", [entry("arm64", "arm64", "v8"), entry("arm64", "amd64", "v3"),
                    entry("amd64", "amd64")])
add_index("armonly", [entry("arm64", "arm64", "v8")])
with open(index_path, "w") as f:
    json.dump(index, f)
PY
