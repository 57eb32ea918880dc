#!/usr/bin/env bash
# Runs test executables inside a small VM whose kernel mounts cgroup v2 only, as most
# machines do today, to prove the cgroup v2 code on a real v2 kernel (the host may be v1).
#
#   sudo scripts/vm-test.sh                          # the default tests (VM_TESTS below)
#   sudo scripts/vm-test.sh --all                    # every suite (VM_ALL_TESTS below)
#   sudo scripts/vm-test.sh unit_cgroup_test         # names in the build's bin/, or paths
#   sudo scripts/vm-test.sh 'steps_step7_test:Step7/Step7ChildMode.*'   # NAME:GTEST_FILTER
#   MC_BUILD_DIR=build-asan sudo scripts/vm-test.sh  # another build directory
#
# How: Debian's own kernel (the linux-image .deb, downloaded with apt-get and unpacked into
# a cache, never installed on the host) boots under qemu with an initramfs that holds
# busybox as the whole userland, the build's bin/ at the same absolute path as on the host
# (the tests find binaries through the compile-time MC_BIN_DIR), the shared libraries they
# need, the test rootfs at /rootfs, and the kernel modules for veth, bridges and overlayfs.
# Its /init mounts cgroup2 alone, runs each test and prints one line per test executable,
#   VM-TEST: unit_cgroup_test PASS (12 s)
# then one last line,
#   VM-RESULT: 3 passed, 0 failed
# and powers off. This script streams the console, and exits 0 only when that last line
# says that something passed and nothing failed. KVM is used when it works, else software
# emulation (slower, same result).
#
# Environment: VM_TESTS (default test list), VM_ALL_TESTS (what --all runs), VM_ACCEL (kvm, tcg or auto), VM_TIMEOUT
# (seconds for the whole run: 1500, with --all 5400), VM_TEST_TIMEOUT (per test executable,
# 1200), VM_MEMORY (MiB, 1536), VM_CACHE (where the kernel is kept), VM_KERNEL_PACKAGE (default: what
# linux-image-amd64 depends on), VM_MODULES, VM_HOST_TOOLS (host programs to add, with their
# libraries), VM_MORE_TOOLS (more of them, not for the default list), VM_DISK_MB (the size
# of /tmp's disk, not for the default list), VM_GTEST_ARGS (added to every test's command line).
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

# The test executables run in the VM when none are named on the command line: what CI runs,
# 5 to 9 minutes of software emulation on a 2-core machine (README.md "Tests on cgroup v2"). The cgroup unit tests; the step 6 suite; the step 7 suite (limits, the cgroup view,
# rootless limits in a delegated cgroup, the hardening) without its 50-containers-at-once test
# (IPAM, not cgroups: 130-200 s emulated), and its spec suite; the login-session suite (the
# runtime started from a cgroup that also holds a shell, as `sudo` in a terminal is: limits
# enforced, the container's cgroup beneath /sys/fs/cgroup/mycontainer); the attack suite (its
# attacks on /proc/sysrq-trigger, /proc/kcore... run here: Debian's kernel has them); the
# fault suite (kills, cleanup, OOM, fork bombs on v2). Names are looked up in the build's
# bin/; NAME:FILTER runs only the tests FILTER names (--gtest_filter, "-" excludes); a glob
# that matches nothing (a suite not built) is skipped.
VM_TESTS=${VM_TESTS:-"unit_cgroup_test steps_step6* steps_step7_test:-Step7.FiftyContainersInParallel* steps_step7_spec_test steps_step7_lifecycle_test steps_login_session_test security_attacks_test faults_faults_test"}
# --all: every test executable of the build (every suite: unit, steps 1-7, security, faults,
# and whatever suite is added later), in name order, but for the engines and the README
# suites (below). About 25 minutes under TCG here.
VM_ALL_TESTS=${VM_ALL_TESTS:-"*_test"}
# Kernel modules loaded at boot (with what they depend on): the containers' network and
# overlay root. Everything cgroup-related is built into Debian's kernel.
# loop: block devices (/dev/loop0...) for the attacks that make a node of one and open it.
VM_MODULES=${VM_MODULES:-"veth bridge br_netfilter overlay tun nf_tables nft_chain_nat nft_masq nft_compat iptable_filter iptable_nat xt_MASQUERADE xt_conntrack xt_nat xt_addrtype xt_tcpudp xt_comment loop"}
# Host programs the tests call that busybox lacks or does too little of (iproute2's ip,
# iptables for NAT), copied with their libraries; a missing one is skipped with a warning.
# The others are what the suites run on the host side by absolute path: setpriv (rootless
# runs), unshare, strace (the fault tests' SIGKILL at a chosen system call), useradd and
# userdel (the rootless tests' user), ldd (with bash, its interpreter).
VM_HOST_TOOLS=${VM_HOST_TOOLS:-"ip iptables setpriv unshare strace useradd userdel nologin ldd bash"}
# Added when the run is not the default list (--all, or suites named): what the other suites
# call by absolute path. The image suites: umoci (images made offline), skopeo (pushes),
# docker-registry, python3 (the tests' registry proxy, with the standard library it imports),
# openssl (the HTTPS test's certificate), script (a pull on a terminal); newuidmap and
# newgidmap (setuid: the rootless image and lifecycle suites' users); util-linux's setsid
# (--ctty, which busybox's lacks). A path is taken as it is (python3: not a pyenv shim).
VM_MORE_TOOLS=${VM_MORE_TOOLS:-"umoci skopeo docker-registry /usr/bin/python3 openssl script setsid newuidmap newgidmap realpath setarch"}
# And with them a disk for /tmp (VM_DISK_MB, sparse; an ext4 file system): the root is a tmpfs,
# which takes user.* extended attributes only since Linux 6.6, and the image suites store
# the image's xattrs in layers below /tmp (security_image_extract_test).
VM_DISK_MB=${VM_DISK_MB:-4096}
all=0
if [[ ${1:-} == --all ]]; then
  all=1
  shift
  (($# == 0)) || die "--all runs every suite: name no tests with it"
fi
VM_TIMEOUT=${VM_TIMEOUT:-$((all ? 5400 : 1500))}
VM_TEST_TIMEOUT=${VM_TEST_TIMEOUT:-1200}
VM_MEMORY=${VM_MEMORY:-1536}
VM_CACHE=${VM_CACHE:-$MC_ROOT/.cache/vm}
VM_GTEST_ARGS=${VM_GTEST_ARGS:-""}

is_root || die "building the VM image needs root (device nodes in the rootfs): run it with sudo"
ensure_packages qemu-system-x86 busybox-static binutils # binutils: objcopy, strip

bin_dir=$MC_BUILD_DIR/bin
[[ -d $bin_dir ]] || die "no build at $MC_BUILD_DIR: build first (cmake --build $MC_BUILD_DIR)"
[[ -e $MC_ROOTFS/bin/sh || -L $MC_ROOTFS/bin/sh ]] || ensure_rootfs

# --- The tests to run --------------------------------------------------------------------
tests=()
patterns=("$@")
more=$((all || $# > 0)) # not the default list: VM_MORE_TOOLS and the disk too
if ((all)); then
  read -r -a patterns <<<"$VM_ALL_TESTS"
elif (($# == 0)); then
  read -r -a patterns <<<"$VM_TESTS"
fi
for pattern in "${patterns[@]}"; do
  filter="" # NAME:FILTER: the filter rides along after a colon, to the VM's /init
  if [[ $pattern == *:* ]]; then
    filter=${pattern#*:} pattern=${pattern%%:*}
  fi
  if [[ $pattern == */* ]]; then
    [[ -x $pattern ]] || die "not an executable: $pattern"
    tests+=("$(realpath -- "$pattern")${filter:+:$filter}")
    continue
  fi
  found=0
  for t in "$bin_dir"/$pattern; do
    [[ -x $t && -f $t ]] || continue
    [[ ${t##*/} != bench* ]] || continue # benchmarks measure; they test nothing
    # --all leaves out the engines suite (podman, containerd): the VM's userland is busybox
    # with a few host tools, not podman, conmon, containerd, their shims, runc, crun and
    # their configuration (README.md "Tests on cgroup v2"). Named explicitly, it runs (and
    # fails on what is missing).
    if ((all)) && [[ ${t##*/} == engines_* ]]; then
      log "--all: ${t##*/} left out (the engines are not in the VM's userland)"
      continue
    fi
    # And the README suite: its samples are what the development machine printed (its cgroup
    # v1 paths, its host name, procps' ps and pgrep, capsh, a cmake build), which a busybox
    # VM on cgroup v2 cannot print. docs_exercise_test runs.
    if ((all)) && [[ ${t##*/} == docs_readme_test ]]; then
      log "--all: ${t##*/} left out (its samples are the development machine's output)"
      continue
    fi
    tests+=("$t${filter:+:$filter}")
    found=1
  done
  # A glob that matches nothing is fine (a suite not written yet); a plain name is not.
  ((found)) || [[ $pattern == *[*?]* ]] || die "no test executable '$pattern' in $bin_dir (build it first)"
done
((${#tests[@]})) || die "no test executables to run"

# --- The kernel: Debian's, from its .deb -------------------------------------------------
mkdir -p -- "$VM_CACHE"
if [[ -z ${VM_KERNEL_PACKAGE:-} ]]; then
  VM_KERNEL_PACKAGE=$(apt-cache depends linux-image-amd64 2>/dev/null |
    awk '/Depends: linux-image-[0-9]/ { print $2; exit }') || true
  if [[ -z $VM_KERNEL_PACKAGE ]]; then
    log "apt-get update (to find the kernel package)"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq || die "apt-get update failed"
    VM_KERNEL_PACKAGE=$(apt-cache depends linux-image-amd64 |
      awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
  fi
  [[ -n $VM_KERNEL_PACKAGE ]] || die "cannot tell which package linux-image-amd64 depends on"
fi
kernel_dir=$VM_CACHE/$VM_KERNEL_PACKAGE
if [[ ! -d $kernel_dir/boot ]]; then
  log "downloading $VM_KERNEL_PACKAGE (apt-get download; not installed on this machine)"
  rm -rf -- "$kernel_dir" "$VM_CACHE"/download
  mkdir -p -- "$VM_CACHE"/download
  # apt's sandbox user cannot write into a root-owned directory: download as root, quietly.
  (cd -- "$VM_CACHE"/download && apt-get download -o APT::Sandbox::User=root "$VM_KERNEL_PACKAGE") ||
    die "apt-get download $VM_KERNEL_PACKAGE failed"
  dpkg-deb -x "$VM_CACHE"/download/*.deb "$kernel_dir.tmp"
  mv -- "$kernel_dir.tmp" "$kernel_dir"
  rm -rf -- "$VM_CACHE"/download
fi
kernels=("$kernel_dir"/boot/vmlinuz-*)
vmlinuz=${kernels[0]}
[[ -f $vmlinuz ]] || die "no kernel in $kernel_dir/boot: remove $kernel_dir and run again"
kver=${vmlinuz##*/vmlinuz-}
modules_dir=$kernel_dir/lib/modules/$kver

# --- The initramfs -------------------------------------------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/mc-vm.XXXXXX")
qemu_pid=
cleanup() {
  [[ -z $qemu_pid ]] || kill -KILL "$qemu_pid" 2>/dev/null || true
  rm -rf -- "$work"
}
trap cleanup EXIT
root=$work/root
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,var/tmp,var/lib,run,root,lib/modules}
chmod 1777 "$root/tmp" "$root/var/tmp"
cp /bin/busybox "$root/bin/busybox"

# Copies an executable or library to the same path in the image, with the libraries it
# loads (as ldd lists them), the dynamic loader included.
declare -A copied=()
copy_with_libs() {
  local file=$1 dest lib
  [[ -z ${copied[$file]:-} ]] || return 0
  copied[$file]=1
  dest=$root$file
  mkdir -p -- "$(dirname -- "$dest")"
  cp -L -- "$file" "$dest"
  # Debug info is most of a test binary's size and useless in the VM.
  strip --strip-debug -- "$dest" 2>/dev/null || true
  while read -r lib; do
    [[ -n $lib && -e $lib ]] && copy_with_libs "$lib"
  done < <(ldd -- "$file" 2>/dev/null | awk '/=> \// { print $3 } /^\t\/[^ ]+ \(/ { print $1 }')
}

# Every program in bin/ except other test suites and benchmarks; then the chosen tests.
for f in "$bin_dir"/*; do
  [[ -f $f && -x $f ]] || continue
  case ${f##*/} in
  unit_* | steps_* | security_* | faults_* | bench*) ;;
  *) copy_with_libs "$f" ;;
  esac
done
for t in "${tests[@]}"; do copy_with_libs "${t%%:*}"; done
# Debian's static busybox runs its own applets first, whatever PATH says ("prefer applets"),
# so `sh -c "ip ..."` would never reach the ip copied below: /bin/sh is the host's dash.
if [[ -x /bin/dash ]]; then
  copy_with_libs /bin/dash
  ln -sf dash "$root/bin/sh"
fi
# Host tools go into /usr/sbin, first in the VM's PATH, ahead of busybox's applets of the
# same name. A multi-call program (xtables-nft-multi) is linked under the tool's name.
tools=$VM_HOST_TOOLS
((more == 0)) || tools+=" $VM_MORE_TOOLS"
for tool in $tools; do
  if [[ $tool == /* ]]; then
    path=$tool tool=${tool##*/}
    [[ -x $path ]] || { warn "VM_HOST_TOOLS: '$path' not found on this machine: skipped" && continue; }
  elif ! path=$(PATH=$PATH:/usr/sbin:/sbin command -v -- "$tool"); then
    warn "VM_HOST_TOOLS: '$tool' not found on this machine: skipped"
    continue
  fi
  real=$(realpath -- "$path")
  copy_with_libs "$real"
  # Where the tests look for it too ("/usr/bin/setpriv", "/bin/bash"): the host's path, which
  # on a merged-/usr host is /usr/bin/X behind the /bin symlink.
  for alias in "$path" "/usr/bin/$tool" "/bin/$tool"; do
    [[ $alias != "$real" && -e $alias && ! -e $root$alias ]] || continue
    mkdir -p -- "$root$(dirname -- "$alias")"
    ln -s -- "$real" "$root$alias"
  done
  [[ $real == "/usr/sbin/$tool" || -e $root/usr/sbin/$tool ]] || ln -sf -- "$real" "$root/usr/sbin/$tool"
  # iptables loads its match and target modules with dlopen(3), which ldd cannot see.
  if [[ $tool == iptables* && -d /usr/lib/x86_64-linux-gnu/xtables ]]; then
    for so in /usr/lib/x86_64-linux-gnu/xtables/*.so; do copy_with_libs "$so"; done
  fi
  # openssl reads its configuration file before anything else.
  if [[ $tool == openssl && -e /usr/lib/ssl/openssl.cnf ]]; then
    mkdir -p "$root/usr/lib/ssl" && cp -L -- /usr/lib/ssl/openssl.cnf "$root/usr/lib/ssl/"
  fi
  # cp drops the set-user-ID bit: newuidmap and newgidmap need it (run by the test's user).
  [[ ! -u $real ]] || chmod u+s -- "$root$real"
  # python3: its standard library (its modules in C with their libraries), without what
  # no test imports (the test suite, tkinter, the static library...).
  if [[ ${real##*/} == python3.* && -d /usr/lib/${real##*/} ]]; then
    (cd /usr/lib && tar -c --exclude=test --exclude=idlelib --exclude=tkinter \
      --exclude=turtledemo --exclude=ensurepip --exclude=lib2to3 --exclude='config-*' \
      --exclude=site-packages --exclude=dist-packages --exclude=__pycache__ -- "${real##*/}") |
      tar -x -C "$root/usr/lib"
    for so in "/usr/lib/${real##*/}"/lib-dynload/*.so; do copy_with_libs "$so"; done
  fi
done
# skopeo refuses to copy without a signature policy; the host's says what it accepts.
if ((more)) && [[ -f /etc/containers/policy.json ]]; then
  mkdir -p "$root/etc/containers"
  cp -- /etc/containers/policy.json "$root/etc/containers/"
fi
# The docs suites read the sources (READMEs, scripts/make-exercise.sh) where the build was
# configured from: the tracked files, at the same path.
source_dir=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$MC_BUILD_DIR/CMakeCache.txt" 2>/dev/null) || true
if ((more)) && [[ -n $source_dir && -e $source_dir/.git ]]; then
  git -C "$source_dir" ls-files -z | (cd -- "$source_dir" && tar -c --null -T -) |
    (mkdir -p -- "$root$source_dir" && tar -x -C "$root$source_dir")
  # The READMEs' commands use the rootfs where setup.sh puts it: /init2 binds /rootfs there.
  mkdir -p -- "$root$source_dir/rootfs"
  echo "$source_dir/rootfs" >"$root/etc/vm-rootfs-bind"
fi

# The test root filesystem (device nodes included: we are root).
cp -a -- "$MC_ROOTFS" "$root/rootfs"

# Kernel modules, dependencies first. A module's dependencies are in its .modinfo section
# ("depends=llc,stp"); modules.dep is made by depmod at install time, so the .deb lacks it.
declare -A module_path=() loaded=()
while IFS= read -r ko; do
  name=${ko##*/}
  name=${name%.ko}
  module_path[${name//-/_}]=$ko
done < <(find "$modules_dir" -name '*.ko')
module_order=()
add_module() {
  local name=${1//-/_} ko dep deps info
  [[ -z ${loaded[$name]:-} ]] || return 0
  loaded[$name]=1
  ko=${module_path[$name]:-}
  # A soft dependency names an algorithm ("crc32c", or "crypto-crc32c" as ext4 says); its
  # plain C module is NAME_generic.
  name=${name#crypto_}
  [[ -n $ko ]] || ko=${module_path[$name]:-${module_path[${name}_generic]:-}}
  if [[ -z $ko ]]; then
    grep -q "/$name.ko" "$modules_dir/modules.builtin" 2>/dev/null ||
      warn "kernel module $name not in $VM_KERNEL_PACKAGE: skipped"
    return 0
  fi
  info=$(objcopy -O binary --only-section=.modinfo -- "$ko" /dev/stdout | tr '\0' '\n')
  # "softdep=pre: crc32c" (libcrc32c): loaded first, or the module's symbols are missing.
  deps="$(sed -n 's/^softdep=pre: *//p' <<<"$info" | sed 's/ *post:.*//') "
  deps+=$(sed -n 's/^depends=//p' <<<"$info")
  for dep in ${deps//,/ }; do add_module "$dep"; done
  cp -- "$ko" "$root/lib/modules/$name.ko"
  module_order+=("$name")
}
# The disk for /tmp (see VM_DISK_MB), unless the build sits below /tmp (it would hide it).
disk=()
below_tmp=0
for f in "$bin_dir" "$source_dir" "${tests[@]}"; do [[ $f != /tmp/* ]] || below_tmp=1; done
if ((more && !below_tmp)) && command -v mkfs.ext4 >/dev/null; then
  truncate -s "${VM_DISK_MB}M" -- "$work/tmp.img"
  mkfs.ext4 -q -F -- "$work/tmp.img"
  disk=(-drive "file=$work/tmp.img,if=virtio,format=raw")
  VM_MODULES+=" virtio_pci virtio_blk ext4"
elif ((more)); then
  warn "/tmp in the VM stays on its tmpfs (the build is below /tmp, or no mkfs.ext4): no user.* xattrs there"
fi
for m in $VM_MODULES; do add_module "$m"; done
printf '%s\n' "${module_order[@]}" >"$root/etc/vm-modules"

printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' \
  >"$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
# useradd and userdel keep the shadow files in step with passwd and group.
printf 'root:*:19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\n' >"$root/etc/shadow"
printf 'root:*::\nnogroup:*::\n' >"$root/etc/gshadow"
chmod 600 "$root/etc/shadow" "$root/etc/gshadow"
[[ ! -f /etc/login.defs ]] || cp -- /etc/login.defs "$root/etc/login.defs"
# useradd gives a new user a range of subordinate ids only where these files exist: the
# rootless image and lifecycle suites' users need one (newuidmap), the default list does not.
((more == 0)) || touch "$root/etc/subuid" "$root/etc/subgid"
# umoci unpack --rootless bind-mounts /etc/resolv.conf into the bundle's config: it must exist.
((more == 0)) || echo "# the VM has no network beyond its own bridges" >"$root/etc/resolv.conf"
echo mc-vm >"$root/etc/hostname"
printf '%s\n' "${tests[@]}" >"$root/etc/vm-tests"

# Stage 1: the kernel unpacks the initramfs into "rootfs", a mount that pivot_root(2) cannot
# leave (EINVAL: "the current root is on the rootfs", pivot_root(2) NOTES), and every container
# step pivot_roots. So move everything onto a tmpfs and switch_root there first.
cat >"$root/init" <<'EOF'
#!/bin/busybox sh
bb=/bin/busybox
$bb mkdir /newroot
$bb mount -t tmpfs -o size=90% tmpfs /newroot
for d in /*; do
  # switch_root insists that the old root still has /init (a sanity check), so keep it.
  [ "$d" = /newroot ] || [ "$d" = /init ] && continue
  $bb mv "$d" /newroot/
  [ "$d" = /bin ] && bb=/newroot/bin/busybox
done
exec $bb switch_root /newroot /init2
EOF
# Stage 2: PID 1 of the test VM.
cat >"$root/init2" <<EOF
#!/bin/busybox sh
/bin/busybox --install -s
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TMPDIR=/tmp
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
# What udev would add: bash's process substitution <(...) opens /dev/fd/N.
ln -s /proc/self/fd /dev/fd
mount -t tmpfs tmpfs /dev/shm
# No tmpfs on /tmp: the root is a tmpfs already, and the build sits at its host path, which
# may well be below /tmp (CI clones anywhere).
chmod 1777 /tmp
mount -t tmpfs tmpfs /run
hostname mc-vm
ip link set lo up 2>/dev/null
for m in \$(cat /etc/vm-modules); do insmod /lib/modules/\$m.ko || echo "vm: insmod \$m failed"; done
[ ! -f /etc/vm-rootfs-bind ] || mount --bind /rootfs "\$(cat /etc/vm-rootfs-bind)"
# The disk the script made for /tmp (ext4: user.* xattrs), when it made one.
if [ -b /dev/vda ]; then
  mount -t ext4 /dev/vda /tmp && chmod 1777 /tmp || echo "vm: cannot mount /dev/vda on /tmp"
fi

# cgroup v2 only (cgroup_no_v1=all on the kernel command line): one tree, every controller.
mount -t cgroup2 cgroup2 /sys/fs/cgroup
for c in \$(cat /sys/fs/cgroup/cgroup.controllers); do
  echo "+\$c" >/sys/fs/cgroup/cgroup.subtree_control || echo "vm: cannot enable \$c"
done
# Like a systemd service with Delegate=yes: the tests get a cgroup of their own,
# /sys/fs/cgroup/mc-tests, and run in its leaf mycontainer-runtime (the name ctr::Cgroup
# gives the leaf a runtime moves itself into), so mc-tests holds no process and can enable
# controllers for the containers' cgroups beside the leaf (cgroup-v2.rst "No Internal
# Process Constraint"). This shell moves itself, and every test inherits the leaf.
mkdir -p /sys/fs/cgroup/mc-tests/mycontainer-runtime
echo \$\$ >/sys/fs/cgroup/mc-tests/mycontainer-runtime/cgroup.procs
for c in \$(cat /sys/fs/cgroup/mc-tests/cgroup.controllers); do
  echo "+\$c" >/sys/fs/cgroup/mc-tests/cgroup.subtree_control || echo "vm: cannot enable \$c in mc-tests"
done

export MC_REQUIRE_ROOT=1 MC_ROOTFS=/rootfs GTEST_COLOR=no
echo "vm: kernel \$(uname -r), cgroup controllers: \$(cat /sys/fs/cgroup/mc-tests/cgroup.subtree_control)"
passed=0
failed=0
set -f # the filters hold * and ?: no file name expansion from here on
for t in \$(cat /etc/vm-tests); do
  exe=\${t%%:*}
  filter=""
  case \$t in *:*) filter="--gtest_filter=\${t#*:}" ;; esac
  name=\${exe##*/}
  echo "vm: running \$name \$filter"
  start=\$(date +%s)
  timeout -s KILL $VM_TEST_TIMEOUT "\$exe" \$filter $VM_GTEST_ARGS </dev/null
  rc=\$?
  took=\$((\$(date +%s) - start))
  if [ \$rc -eq 0 ]; then
    passed=\$((passed + 1))
    echo "VM-TEST: \$name PASS (\$took s)"
  else
    failed=\$((failed + 1))
    echo "VM-TEST: \$name FAIL exit \$rc (\$took s)"
  fi
done
echo "VM-RESULT: \$passed passed, \$failed failed"
sync
poweroff -f
EOF
chmod 755 "$root/init" "$root/init2"

log "packing the initramfs"
initramfs=$work/initramfs.gz
(cd -- "$root" && find . | busybox cpio -o -H newc 2>/dev/null | gzip -1) >"$initramfs"
log "initramfs: $(du -h -- "$initramfs" | cut -f1), kernel $kver, tests: $(printf '%s ' "${tests[@]##*/}")"

# --- Boot ---------------------------------------------------------------------------------
# KVM where it really works, else TCG (software emulation: slower, same result). An open
# /dev/kvm is not proof: under nested virtualisation a guest can hang before its first line
# (seen on this project's CI machines). So boot a one-line initramfs under KVM first, and
# remember the answer until the host reboots. VM_ACCEL=kvm or tcg skips the probe.
kvm_works() {
  [[ -r /dev/kvm && -w /dev/kvm ]] || return 1
  local boot_id answer probe=$work/probe
  boot_id=$(cat /proc/sys/kernel/random/boot_id 2>/dev/null) || boot_id=unknown
  answer=$VM_CACHE/kvm-works.$boot_id
  if [[ ! -e $answer ]]; then
    rm -f -- "$VM_CACHE"/kvm-works.*
    mkdir -p "$probe/bin"
    cp /bin/busybox "$probe/bin/"
    printf '#!/bin/busybox sh\n/bin/busybox echo KVM-PROBE-OK\n/bin/busybox poweroff -f\n' >"$probe/init"
    chmod 755 "$probe/init"
    (cd -- "$probe" && find . | busybox cpio -o -H newc 2>/dev/null | gzip -1) >"$work/probe.gz"
    (timeout -s KILL 30 qemu-system-x86_64 -accel kvm -cpu max -m 256 -nographic -no-reboot \
      -kernel "$vmlinuz" -initrd "$work/probe.gz" -append "console=ttyS0 quiet panic=-1" \
      </dev/null >"$work/probe.log" 2>&1) 2>/dev/null || true
    if grep -q KVM-PROBE-OK "$work/probe.log"; then
      echo yes >"$answer"
    else
      echo no >"$answer"
    fi
  fi
  [[ $(cat -- "$answer") == yes ]]
}
case ${VM_ACCEL:-auto} in
kvm | tcg) accel=(-accel "$VM_ACCEL") ;;
*) if kvm_works; then accel=(-accel kvm); else accel=(-accel tcg); fi ;;
esac
log "accelerator: ${accel[1]}"
console=$work/console.log
: >"$console"
log "booting the VM (timeout ${VM_TIMEOUT}s)"
started=$(date +%s)
qemu-system-x86_64 "${accel[@]}" -cpu max -smp 2 -m "$VM_MEMORY" -nographic -no-reboot \
  -kernel "$vmlinuz" -initrd "$initramfs" "${disk[@]}" \
  -append "console=ttyS0 quiet panic=-1 cgroup_no_v1=all systemd.unified_cgroup_hierarchy=1" \
  </dev/null >"$console" 2>&1 &
qemu_pid=$!
# Stream the console as it comes; stop when qemu exits or the time is up.
tail -n +1 -f --pid="$qemu_pid" -- "$console" &
tail_pid=$!
timed_out=0
while kill -0 "$qemu_pid" 2>/dev/null; do
  if (($(date +%s) - started > VM_TIMEOUT)); then
    timed_out=1
    kill -KILL "$qemu_pid" 2>/dev/null || true
    break
  fi
  # poweroff -f should end qemu; give it a little time after the result line, then end it.
  if grep -q '^VM-RESULT:' "$console" 2>/dev/null; then
    for _ in $(seq 30); do kill -0 "$qemu_pid" 2>/dev/null || break; sleep 1; done
    kill -KILL "$qemu_pid" 2>/dev/null || true
    break
  fi
  sleep 1
done
wait "$qemu_pid" 2>/dev/null || true
qemu_pid=
wait "$tail_pid" 2>/dev/null || true
took=$(($(date +%s) - started))

result=$(tr -d '\r' <"$console" | grep -E '^VM-RESULT: [0-9]+ passed, [0-9]+ failed$' | tail -n 1) || true
((timed_out)) && warn "the VM did not finish within ${VM_TIMEOUT}s: killed"
if [[ -z $result ]]; then
  die "no VM-RESULT line from the VM after ${took}s (boot failure or timeout; console above)"
fi
passed=$(sed -E 's/^VM-RESULT: ([0-9]+) passed.*/\1/' <<<"$result")
failed=$(sed -E 's/.* ([0-9]+) failed$/\1/' <<<"$result")
log "VM run took ${took}s"
printf '%s\n' "$result"
((failed == 0 && passed > 0))
