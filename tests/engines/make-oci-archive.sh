#!/usr/bin/env bash
# Makes an OCI image archive (image-spec "image-layout", tarred) from a root filesystem
# directory, offline: one uncompressed layer, a config, a manifest and an index. No registry,
# no daemon, nothing but tar, sha256sum and printf: the files an image is made of, by hand.
#
#   tests/engines/make-oci-archive.sh ROOTFS OUT.tar [NAME]   # NAME default mct-busybox:latest
#
# `ctr image import OUT.tar` reads the index's io.containerd.image.name annotation as the
# image's name; `skopeo copy oci-archive:OUT.tar ...` and `podman load` read it too.
# See the OCI image spec: image-layout.md, manifest.md, config.md.
set -euo pipefail
export LC_ALL=C

[[ $# -ge 2 ]] || { echo "usage: $0 ROOTFS OUT.tar [NAME]" >&2; exit 2; }
rootfs=$1 out=$2 name=${3:-mct-busybox:latest}
[[ -d $rootfs ]] || { echo "error: '$rootfs' is not a directory" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf -- "$work"' EXIT
blobs=$work/blobs/sha256
mkdir -p -- "$blobs"

# add_blob FILE: moves FILE into blobs/sha256/<its digest>; prints "DIGEST SIZE".
add_blob() {
  local digest size
  digest=$(sha256sum -- "$1" | cut -d' ' -f1)
  size=$(stat -c %s -- "$1")
  mv -- "$1" "$blobs/$digest"
  printf 'sha256:%s %s\n' "$digest" "$size"
}

# The layer: the root filesystem as an uncompressed tar, owned by root, in a stable order.
# Uncompressed, its digest is also its "diff id" (config.md: rootfs.diff_ids).
tar -C "$rootfs" --sort=name --numeric-owner --owner=0 --group=0 -cf "$work/layer" .
read -r layer layer_size < <(add_blob "$work/layer")

# The config: what to run by default, and the layers' diff ids.
arch=$(dpkg --print-architecture 2>/dev/null || echo amd64)
printf '{"architecture":"%s","os":"linux","config":{"Cmd":["/bin/sh"],"Env":["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]},"rootfs":{"type":"layers","diff_ids":["%s"]}}' \
  "$arch" "$layer" >"$work/config"
read -r config config_size < <(add_blob "$work/config")

printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%s}]}' \
  "$config" "$config_size" "$layer" "$layer_size" >"$work/manifest"
read -r manifest manifest_size < <(add_blob "$work/manifest")

# The index names the manifest: containerd's annotation carries a full name, the OCI one a tag.
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%s,"annotations":{"io.containerd.image.name":"docker.io/library/%s","org.opencontainers.image.ref.name":"%s"}}]}' \
  "$manifest" "$manifest_size" "$name" "${name##*:}" >"$work/index.json"
printf '{"imageLayoutVersion":"1.0.0"}' >"$work/oci-layout"

tar -C "$work" --sort=name --numeric-owner --owner=0 --group=0 -cf "$out" oci-layout index.json blobs
