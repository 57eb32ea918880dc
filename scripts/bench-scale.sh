#!/usr/bin/env bash
# Many detached containers (#14, docs/lifecycle.md): N containers started with `run -d`,
# listed, stopped and removed, by mycontainer and by podman doing the same work.
#
#   sudo scripts/bench-scale.sh [N]        # default N=500; BENCH_SCALE_PODMAN=0 skips podman
#
# For each it reports: the start time of the first ten and of the last ten containers (does a
# start cost more when many run?), the monitor's memory per container (mycontainer-monitor,
# conmon: VmRSS of each, /proc/PID/status), `ps` while all N run (median of 20), and the time
# to stop and to remove them all; then it checks that nothing is left: no state directory,
# record, cgroup, monitor or container process of the run.
#
# The containers run /bin/sleep with --net none (the bridge's /24 has 253 addresses; the
# network's own costs are measured by scripts/bench.sh). podman runs with temporary storage,
# run root, tmpdir and configuration, and a cgroup parent beneath our own cgroup, as
# tests/engines does: /var/lib/containers and /run/libpod are checked to be unchanged.
set -euo pipefail
export LC_ALL=C
# shellcheck source=scripts/lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

N=${1:-500}
is_root || die "run it as root (sudo $0)"
MYCONTAINER=${MYCONTAINER:-$MC_BUILD_DIR/bin/mycontainer}
ROOTFS=${ROOTFS:-$MC_ROOTFS}
[[ -x $MYCONTAINER && -x $(dirname "$MYCONTAINER")/mycontainer-monitor ]] || die "build mycontainer and mycontainer-monitor first"
[[ -e $ROOTFS/bin/sh || -L $ROOTFS/bin/sh ]] || die "no rootfs at $ROOTFS (scripts/make-rootfs.sh --busybox rootfs)"
SLEEP=$((900000 + $$ % 10000)) # a number of seconds only our containers sleep: how we find them
TAG=mcscale-$$

now_ms() { echo $(($(date +%s%N) / 1000000)); }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
mean() { awk '{s+=$1} END {printf "%.1f\n", NR ? s/NR : 0}'; }
# rss_of NAME: the VmRSS, in kB, of each process whose command is NAME, one a line.
rss_of() {
  local pid
  for pid in $(pgrep -x "$1" || true); do
    awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true
  done
}

# measure KIND START_CMD... : starts N, lists, stops, removes; prints "key value" lines.
# The commands are functions below, one set per engine.
measure() {
  local kind=$1 i t0 t1
  local -a starts=()
  log "$kind: starting $N containers"
  for ((i = 0; i < N; i++)); do
    t0=$(now_ms)
    "${kind}_start" "$TAG-$i" >/dev/null
    t1=$(now_ms)
    starts+=($((t1 - t0)))
  done
  echo "first10_ms $(printf '%s\n' "${starts[@]:0:10}" | mean)"
  echo "last10_ms $(printf '%s\n' "${starts[@]: -10}" | mean)"
  echo "total_start_s $(printf '%s\n' "${starts[@]}" | awk '{s+=$1} END {printf "%.1f", s/1000}')"
  local running
  running=$(pgrep -fc "^/bin/sleep $SLEEP\$|^sleep $SLEEP\$" || true)
  echo "running $running"
  local monitor=${kind}_monitor_name
  echo "monitor_rss_kb_max $(rss_of "${!monitor}" | sort -n | tail -1)"
  echo "monitor_rss_kb_mean $(rss_of "${!monitor}" | mean)"
  # Its own pages (what each one more container costs; the program's text is shared).
  local pid
  echo "monitor_pss_dirty_kb_mean $(for pid in $(pgrep -x "${!monitor}"); do
    awk '/^Pss_Dirty:/ {print $2}' "/proc/$pid/smaps_rollup" 2>/dev/null
  done | mean)"
  local -a ps=()
  for ((i = 0; i < 20; i++)); do
    t0=$(date +%s%N)
    "${kind}_ps" >/dev/null
    t1=$(date +%s%N)
    ps+=($(((t1 - t0) / 1000)))
  done
  echo "ps_ms $(printf '%s\n' "${ps[@]}" | median | awk '{printf "%.2f", $1/1000}')"
  # What starting the program alone costs (the floor under ps): --version.
  local -a floor=()
  for ((i = 0; i < 20; i++)); do
    t0=$(date +%s%N)
    "${kind}_version" >/dev/null
    t1=$(date +%s%N)
    floor+=($(((t1 - t0) / 1000)))
  done
  echo "version_ms $(printf '%s\n' "${floor[@]}" | median | awk '{printf "%.2f", $1/1000}')"
  log "$kind: stopping them"
  t0=$(now_ms)
  "${kind}_stop"
  t1=$(now_ms)
  echo "stop_all_s $(awk -v d=$((t1 - t0)) 'BEGIN {printf "%.1f", d/1000}')"
  t0=$(now_ms)
  "${kind}_rm"
  t1=$(now_ms)
  echo "rm_all_s $(awk -v d=$((t1 - t0)) 'BEGIN {printf "%.1f", d/1000}')"
}

names() { for ((i = 0; i < N; i++)); do echo "$TAG-$i"; done; }

# --- mycontainer ---
# shellcheck disable=SC2034  # read through ${kind}_monitor_name
mycontainer_monitor_name=mycontainer-mon # pgrep -x matches the first 15 characters (comm)
mycontainer_start() { "$MYCONTAINER" run -d --rootfs "$ROOTFS" --net none --name "$1" -- /bin/sleep "$SLEEP"; }
mycontainer_ps() { "$MYCONTAINER" ps; }
mycontainer_version() { "$MYCONTAINER" --version; }
# shellcheck disable=SC2046  # one word per name
mycontainer_stop() { "$MYCONTAINER" stop -t 1 $(names) >/dev/null; }
# shellcheck disable=SC2046
mycontainer_rm() { "$MYCONTAINER" rm -f $(names) >/dev/null; }

# --- podman, with its own temporary everything ---
# shellcheck disable=SC2034  # read through ${kind}_monitor_name
podman_monitor_name=conmon
P=""
podman_setup() {
  P=$(mktemp -d /tmp/mct-engines-XXXXXX)
  chmod 755 "$P"
  mkdir -p "$P/tmp" "$P/netconf"
  cat >"$P/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$P/events.log"
tmp_dir = "$P/tmp"
static_dir = "$P/root/libpod"
volume_path = "$P/root/volumes"
lock_type = "file"
num_locks = 4096
[network]
network_config_dir = "$P/netconf"
EOF
  printf '[storage]\ndriver = "vfs"\nrunroot = "%s/runroot"\ngraphroot = "%s/root"\n' "$P" "$P" >"$P/storage.conf"
  echo 'unqualified-search-registries = []' >"$P/registries.conf"
  export CONTAINERS_CONF=$P/containers.conf CONTAINERS_STORAGE_CONF=$P/storage.conf \
    CONTAINERS_REGISTRIES_CONF=$P/registries.conf TMPDIR=$P/tmp
  # A cgroup parent beneath our own cgroup, in every tree (the deepest path of ours).
  local deepest=/ p mount
  while IFS=: read -r _ _ p; do if ((${#p} > ${#deepest})); then deepest=$p; fi; done </proc/self/cgroup
  [[ $deepest == / ]] && deepest=
  PARENT=$deepest/$TAG-podman
  for mount in /sys/fs/cgroup/*/; do
    [[ -d $mount$deepest ]] || continue
    mkdir -p "$mount$PARENT"
    echo "$mount$PARENT" >>"$P/cgroups"
    for f in cpuset.cpus cpuset.mems; do
      [[ -f $mount$PARENT/$f ]] && cat "$mount$deepest/$f" >"$mount$PARENT/$f"
    done
  done
  tar -C "$ROOTFS" -cf "$P/rootfs.tar" .
  for d in /var/lib/containers /var/lib/containers/cache; do
    if [[ ! -e $d ]]; then mkdir "$d" && echo "$d" >>"$P/run-dirs"; fi
  done
  mkdir -p "$P/blob-cache"
  # shellcheck disable=SC2016
  unshare --mount --propagation private -- sh -c 'mount --bind "$0" /var/lib/containers/cache && exec "$@"' \
    "$P/blob-cache" podman --root "$P/root" --runroot "$P/runroot" --cgroup-manager cgroupfs \
    --events-backend file import "$P/rootfs.tar" localhost/mct-busybox >/dev/null
}
# runc: crun refuses this machine's cgroup v1 hybrid layout (bench-oci.sh says more).
podman_() { podman --root "$P/root" --runroot "$P/runroot" --runtime runc --cgroup-manager cgroupfs --events-backend file "$@"; }
podman_start() { podman_ run -d --network none --cgroup-parent "$PARENT" --name "$1" localhost/mct-busybox sleep "$SLEEP"; }
podman_ps() { podman_ ps; }
podman_version() { podman --version; }
# shellcheck disable=SC2046
podman_stop() { podman_ stop -t 1 $(names) >/dev/null; }
# shellcheck disable=SC2046
podman_rm() { podman_ rm -f $(names) >/dev/null; }
podman_cleanup() {
  [[ -n $P ]] || return 0
  "$MC_ROOT/tests/engines/cleanup.sh" "$P" || true
}

# What the host had of podman's before: must be the same after.
host_podman_state() { { ls -la --time-style=+%s /var/lib/containers /run/libpod /run/containers 2>&1 || true; } | md5sum; }

# --- nothing left ---
leftovers() {
  local left=0
  if pgrep -f "sleep $SLEEP\$" >/dev/null; then echo "left: container processes" >&2; left=1; fi
  if "$MYCONTAINER" ps -a --format '{{.Names}}' | grep -q "^$TAG-"; then
    echo "left: records" >&2
    left=1
  fi
  if find /sys/fs/cgroup -maxdepth 8 -name "$TAG*" -print -quit 2>/dev/null | grep -q .; then
    echo "left: cgroups" >&2
    left=1
  fi
  echo "leftovers $left"
}

trap podman_cleanup EXIT
OUT=$MC_BUILD_DIR/bench/scale-$N.txt
mkdir -p "$(dirname "$OUT")"
before=$(host_podman_state)
{
  echo "# mycontainer"
  measure mycontainer
  leftovers
  if [[ ${BENCH_SCALE_PODMAN:-1} != 0 ]] && command -v podman >/dev/null; then
    trap podman_cleanup EXIT # this block is a subshell (| tee): its own trap
    podman_setup
    echo "# podman $(podman --version | awk '{print $3}') (runc, conmon)"
    measure podman
    podman_cleanup # our cgroup parent goes too: then nothing named $TAG may be left
    P=""
    leftovers
  fi
  after=$(host_podman_state)
  [[ $before == "$after" ]] && echo "host_podman_state unchanged" || echo "host_podman_state CHANGED"
  echo "machine $(nproc) CPUs, Linux $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%Y-%m-%d)"
} | tee "$OUT"
