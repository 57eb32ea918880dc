#!/usr/bin/env bash
# Builds the root filesystem the containers run in. See --help.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  cat <<EOF
usage: scripts/make-rootfs.sh [--busybox | --alpine VERSION | --from-tar FILE] [DEST]
       scripts/make-rootfs.sh --devices-only [DEST]

Builds a root filesystem for the containers in DEST (default: $MC_ROOTFS).

  --busybox          (default, no network needed) a small rootfs made from Debian's
                     busybox-static: /bin/busybox, one symlink per applet, /etc basics
  --alpine VERSION   Alpine's minirootfs, e.g. --alpine 3.19.1, downloaded from
                     dl-cdn.alpinelinux.org and checked against its .sha256
  --from-tar FILE    any rootfs tarball, e.g. from: docker export \$(docker create alpine) >a.tar
  --devices-only     only add the device nodes (null, zero, full, random, urandom, tty)
                     to an existing DEST/dev; needs root
  -h, --help         this text

The new rootfs is built beside DEST and renamed into place at the end, so an
interrupted run leaves the old one untouched. Re-running replaces DEST, but only
if make-rootfs.sh made it and nothing is mounted below it. As root it also creates
the device nodes in DEST/dev that steps 1-6 (which do not mount /dev) rely on.
EOF
}

ALPINE_MIRROR=https://dl-cdn.alpinelinux.org/alpine
MARKER=etc/mycontainer-rootfs # written into every rootfs this script makes

mode=busybox
alpine_version=
tarball=
dest=
while (($#)); do
  case $1 in
    --busybox) mode=busybox ;;
    --alpine)
      (($# >= 2)) || die "--alpine needs a VERSION, e.g. --alpine 3.19.1"
      mode=alpine alpine_version=$2
      shift
      ;;
    --alpine=*) mode=alpine alpine_version=${1#*=} ;;
    --from-tar)
      (($# >= 2)) || die "--from-tar needs a FILE"
      mode=tar tarball=$2
      shift
      ;;
    --from-tar=*) mode=tar tarball=${1#*=} ;;
    --devices-only) mode=devices ;;
    -h | --help)
      usage
      exit 0
      ;;
    --)
      shift
      break
      ;;
    -*) die "unknown option '$1' (see --help)" ;;
    *)
      [[ -z $dest ]] || die "only one DEST, got '$dest' and '$1' (see --help)"
      dest=$1
      ;;
  esac
  shift
done
if (($#)); then
  [[ -z $dest && $# -eq 1 ]] || die "only one DEST (see --help)"
  dest=$1
fi
dest=$(realpath -m -- "${dest:-$MC_ROOTFS}")
[[ $dest != / ]] || die "refusing to use / as DEST"

# Prints the mount points at or below $1, as the kernel lists them in mountinfo
# (field 5, with spaces and the like escaped as \040 octal).
mounts_below() {
  local dir=$1 mp
  # shellcheck disable=SC2034  # the fields before the mount point are skipped
  while read -r _id _parent _dev _root mp _rest; do
    mp=$(printf '%b' "$mp")
    if [[ $mp == "$dir" || $mp == "$dir"/* ]]; then
      printf '%s\n' "$mp"
    fi
  done </proc/self/mountinfo
}

refuse_if_mounted() {
  local mounted
  mounted=$(mounts_below "$1")
  [[ -z $mounted ]] ||
    die "refusing to touch $1: something is mounted below it ($(tr '\n' ' ' <<<"$mounted" | sed 's/ $//')); unmount it first"
}

# make_devices ROOT: the device nodes steps 1-6 use from the rootfs itself.
make_devices() {
  local root=$1 name major minor
  if ! is_root; then
    log "not root: skipping the device nodes in $dest/dev (steps 1-6 need /dev/null there;" \
      "sudo scripts/make-rootfs.sh --devices-only $dest adds them later)"
    return 0
  fi
  mkdir -p -- "$root/dev"
  while read -r name major minor; do
    if [[ -c $root/dev/$name ]]; then
      continue
    fi
    # A regular file here is usually `echo > /dev/null` run in a rootfs without nodes.
    rm -f -- "$root/dev/$name"
    mknod -m 0666 "$root/dev/$name" c "$major" "$minor"
  done <<'EOF'
null 1 3
zero 1 5
full 1 7
random 1 8
urandom 1 9
tty 5 0
EOF
  # Where the kernel's /proc is mounted, these give /dev/stdin and friends.
  local link target
  for link in fd:/proc/self/fd stdin:/proc/self/fd/0 stdout:/proc/self/fd/1 stderr:/proc/self/fd/2; do
    target=${link#*:} link=${link%%:*}
    [[ -e $root/dev/$link || -L $root/dev/$link ]] || ln -s "$target" "$root/dev/$link"
  done
  log "device nodes: /dev/{null,zero,full,random,urandom,tty} created"
}

if [[ $mode == devices ]]; then
  is_root || die "--devices-only creates device nodes with mknod: run it with sudo"
  [[ -d $dest ]] || die "$dest does not exist: build it first (scripts/make-rootfs.sh)"
  refuse_if_mounted "$dest"
  log "adding device nodes to $dest/dev"
  make_devices "$dest"
  exit 0
fi

# Refuse early, before any work, if DEST cannot be replaced.
if [[ -e $dest || -L $dest ]]; then
  [[ -d $dest && ! -L $dest ]] || die "$dest exists and is not a directory; move it away first"
  refuse_if_mounted "$dest"
  if [[ -n $(ls -A -- "$dest") && ! -f $dest/$MARKER ]]; then
    die "$dest exists but make-rootfs.sh did not make it (no /$MARKER); move it away first"
  fi
fi

# Everything temporary is listed here and removed on any exit.
tmp="" dl="" old=""
cleanup() {
  local rc=$?
  [[ -z $dl ]] || rm -rf -- "$dl"
  [[ -z $tmp ]] || rm -rf --one-file-system -- "$tmp"
  if [[ -n $old && -d $old ]]; then
    if [[ ! -e $dest ]]; then
      mv -T -- "$old" "$dest" # the swap failed half-way: put the old rootfs back
    else
      rm -rf --one-file-system -- "$old"
    fi
  fi
  return "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# download URL FILE: curl or wget; returns 2 on an HTTP error, 1 on anything else.
download() {
  local url=$1 out=$2 rc=0
  if command -v curl >/dev/null 2>&1; then
    curl -fsL --connect-timeout 20 -o "$out" "$url" || rc=$?
    ((rc == 0)) && return 0
    ((rc == 22)) && return 2
    return 1
  elif command -v wget >/dev/null 2>&1; then
    wget -q -T 20 -O "$out" "$url" || rc=$?
    ((rc == 0)) && return 0
    ((rc == 8)) && return 2
    return 1
  fi
  die "need curl or wget to download $url (or use --busybox)"
}

# fetch_alpine: downloads and verifies the minirootfs into $dl; sets tarball.
fetch_alpine() {
  [[ $alpine_version =~ ^([0-9]+\.[0-9]+)\.[0-9]+$ ]] ||
    die "--alpine wants a full release number such as 3.19.1, not '$alpine_version'"
  local branch=v${BASH_REMATCH[1]} arch file url rc
  arch=$(uname -m)
  [[ $arch != armv7l ]] || arch=armv7
  file=alpine-minirootfs-$alpine_version-$arch.tar.gz
  url=$ALPINE_MIRROR/$branch/releases/$arch/$file
  dl=$(mktemp -d "${TMPDIR:-/tmp}/mc-alpine.XXXXXX")
  log "downloading $url"
  for f in "$file" "$file.sha256"; do
    rc=0
    download "$url${f#"$file"}" "$dl/$f" || rc=$?
    case $rc in
      0) ;;
      2) die "cannot download $url${f#"$file"}: the server has no such file (is '$alpine_version' an Alpine release for $arch?)" ;;
      *) die "cannot download $url${f#"$file"}: no network? use --busybox" ;;
    esac
  done
  log "checking $file against $file.sha256"
  (cd -- "$dl" && sha256sum --check --status -- "$file.sha256") ||
    die "$file does not match its published sha256; not using it"
  tarball=$dl/$file
}

# unpack FILE ROOT: any tarball whose top is the root of the filesystem.
unpack() {
  local file=$1 root=$2
  [[ -f $file ]] || die "no such file: $file"
  log "unpacking $file"
  if is_root; then
    tar -xpf "$file" -C "$root" --numeric-owner || die "tar could not unpack $file"
  else
    tar -xf "$file" -C "$root" || die "tar could not unpack $file (some entries need root: try sudo)"
  fi
  [[ -e $root/bin/sh || -L $root/bin/sh ]] ||
    die "$file does not look like a root filesystem: it has no bin/sh at its top (make it with: tar -C DIR -cf FILE .)"
}

# build_busybox ROOT: /bin/busybox, a symlink per applet, and a minimal /etc.
build_busybox() {
  local root=$1 bb=${MC_BUSYBOX:-/bin/busybox}
  if [[ ! -x $bb ]]; then
    ensure_packages busybox-static
  fi
  [[ -x $bb ]] || die "$bb not found: install busybox-static"
  # The container has no C library, so busybox must be the static build.
  if ldd "$bb" >/dev/null 2>&1; then
    die "$bb is dynamically linked and cannot run in the rootfs: install busybox-static"
  fi
  local version
  version=$("$bb" --help 2>&1 | sed -n '1s/^BusyBox v\([^ ]*\).*/\1/p') || true
  log "busybox rootfs from $bb (BusyBox ${version:-unknown version})"

  mkdir -p -- "$root"/{bin,sbin,usr/bin,usr/sbin,etc}
  cp -- "$bb" "$root/bin/busybox"
  chmod 0755 "$root/bin/busybox"
  local applet count=0
  while read -r applet; do
    [[ -n $applet && $applet != */* && $applet != busybox ]] || continue
    ln -s busybox "$root/bin/$applet"
    count=$((count + 1))
  done < <("$bb" --list)
  [[ -e $root/bin/sh ]] || die "$bb has no sh applet"
  ln -s ../../bin/busybox "$root/usr/bin/env" # for #!/usr/bin/env scripts
  log "$count applets linked in /bin"

  printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' \
    'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' >"$root/etc/passwd"
  printf '%s\n' 'root:x:0:' 'nogroup:x:65534:' >"$root/etc/group"
  echo rootfs >"$root/etc/hostname"
  echo '127.0.0.1 localhost' >"$root/etc/hosts"
  cat >"$root/etc/os-release" <<EOF
NAME="mycontainer busybox rootfs"
ID=mycontainer-busybox
VERSION_ID="${version:-unknown}"
PRETTY_NAME="mycontainer busybox rootfs (BusyBox ${version:-unknown})"
EOF
}

# finish_rootfs ROOT: what every rootfs needs whatever it came from.
finish_rootfs() {
  local root=$1
  mkdir -p -- "$root"/{proc,sys,dev,tmp,root,run,var/tmp,mnt,etc}
  chmod 1777 "$root/tmp" "$root/var/tmp"
  chmod 0700 "$root/root"
  # Keep what a tarball brings; fill in only what is missing or empty.
  [[ -s $root/etc/hostname ]] || echo rootfs >"$root/etc/hostname"
  [[ -s $root/etc/hosts ]] || echo '127.0.0.1 localhost' >"$root/etc/hosts"
  # The mount point of the container's own resolv.conf (run bind-mounts it, as docker does):
  # a rootless run cannot create it in a rootfs that root owns (openat(2) EACCES).
  [[ -e $root/etc/resolv.conf ]] || : >"$root/etc/resolv.conf"
  make_devices "$root"
  printf 'made by scripts/make-rootfs.sh (%s) on %s\n' "$source_desc" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    >"$root/$MARKER"
}

case $mode in
  busybox) source_desc="--busybox" ;;
  alpine)
    source_desc="--alpine $alpine_version"
    fetch_alpine # before anything is created beside DEST
    ;;
  tar)
    source_desc="--from-tar $tarball"
    [[ -f $tarball ]] || die "no such file: $tarball"
    tarball=$(realpath -- "$tarball")
    ;;
esac

parent=$(dirname -- "$dest")
name=$(basename -- "$dest")
mkdir -p -- "$parent"
tmp=$(mktemp -d "$parent/.$name.new.XXXXXX")
chmod 0755 "$tmp"
log "building $dest ($source_desc) in $tmp"

case $mode in
  busybox) build_busybox "$tmp" ;;
  alpine | tar) unpack "$tarball" "$tmp" ;;
esac
finish_rootfs "$tmp"

# Swap it into place: two renames on one filesystem, the old one removed last.
if [[ -e $dest ]]; then
  log "replacing the existing $dest"
  old=$(mktemp -d "$parent/.$name.old.XXXXXX")
  mv -T -- "$dest" "$old"
fi
mv -T -- "$tmp" "$dest"
tmp=
if [[ -n $old ]]; then
  rm -rf --one-file-system -- "$old"
  old=
fi
log "rootfs ready: $dest"
