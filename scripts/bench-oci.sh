# shellcheck shell=bash
# shellcheck disable=SC2153,SC2154  # RUNS, BUNDLE, quick...: set by bench.sh, which sources this
# `scripts/bench.sh --oci`: the OCI command line, as the engines use it. Sourced by bench.sh
# once its bundle exists (it uses bench.sh's RUNS, WARMUP, ROOTFS, MYCONTAINER, BUNDLE, OUT,
# in_private_mountns, log, warn, die).
#
#   1. create + start + delete --force of a container running /bin/true, what podman and
#      containerd call for every container: runc, crun and mycontainer, on the same bundle, each
#      with its own state directory (--root). The runtimes take turns run by run, so that a
#      burst of other work on a shared machine lands on all of them alike.
#      Goal (#12): mycontainer at most 0.5x crun's median.
#   2. `podman run --rm IMAGE /bin/true` with each runtime (podman with its own temporary
#      storage and configuration, as tests/engines does; the host's podman is not touched).
#      Goal (#12): podman with mycontainer at most podman with crun.
#
# crun refuses a cgroup v1 "hybrid" machine whose cgroup2 tree has controllers. With
# --crun-private-mountns, the whole measurement (every runtime) runs in a private mount
# namespace where the cgroup2 tree is unmounted: all runtimes see the same machine, the host's
# mounts are untouched. Without it, crun is left out, with the reason.
#
# Nothing is left behind: every container, cgroup, mount and /run directory the runs make is
# removed on exit by tests/engines/cleanup.sh, as after the engines tests.

OCI_ID=mcbench-oci
PODMAN_RUNS=${BENCH_PODMAN_RUNS:-$((quick ? 5 : 20))}

# The directory and janitor: cleanup.sh (tests/engines) knows /tmp/mct-engines-* directories.
ENG=$(mktemp -d /tmp/mct-engines-XXXXXX)
chmod 755 "$ENG"
oci_cleanup() { "$MC_ROOT/tests/engines/cleanup.sh" "$ENG" || true; }

# Our own cgroup as one path valid in every tree (the deepest path of /proc/self/cgroup, if
# every other lies above it): the engines take one cgroup parent for all trees, which must be
# beneath our cgroup in each (the cgroups rule of this project).
own_cgroup_everywhere() {
  local deepest=/ p
  while IFS=: read -r _ _ p; do
    if ((${#p} > ${#deepest})); then deepest=$p; fi
  done </proc/self/cgroup
  while IFS=: read -r _ _ p; do
    [[ $p == / || $p == "$deepest" || $deepest == "$p"/* ]] || return 1
  done </proc/self/cgroup
  if [[ $deepest == / ]]; then deepest=; fi
  printf '%s\n' "$deepest"
}

# make_cgroup_parent PATH: PATH in every cgroup tree, each directory made noted in
# $ENG/cgroups (the janitor removes exactly those); cpuset gets its parent's CPUs and nodes.
make_cgroup_parent() {
  local mount dir part parent f
  while read -r mount; do
    dir=$mount
    IFS=/ read -ra parts <<<"${1#/}"
    for part in "${parts[@]}"; do
      parent=$dir dir=$dir/$part
      if [[ -d $dir ]]; then continue; fi
      mkdir "$dir"
      echo "$dir" >>"$ENG/cgroups"
      for f in cpuset.cpus cpuset.mems; do
        if [[ -f $dir/$f ]]; then cat "$parent/$f" >"$dir/$f"; fi
      done
    done
  done < <(findmnt -rn -t cgroup,cgroup2 -o TARGET)
}

# The stats of a file of times in ms, one a line: "median mean min max n".
oci_stats() {
  sort -n "$1" | awk '{ v[NR] = $1; s += $1 } END {
    m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    printf "%.2f %.2f %.2f %.2f %d\n", m, s / NR, v[1], v[NR], NR }'
}

# oci_measure OUTDIR RUNS WARMUP KIND NAME=COMMAND...: runs each contender's COMMAND (a shell
# line) RUNS times, taking turns, after WARMUP untimed rounds; times in OUTDIR/NAME.times (ms),
# failures' stderr in OUTDIR/NAME.err. Self-contained, to run in a private mount namespace.
oci_measure() {
  local out=$1 runs=$2 warmup=$3 i c name cmd t0 t1
  shift 3
  for ((i = -warmup; i < runs; i++)); do
    for c in "$@"; do
      name=${c%%=*} cmd=${c#*=}
      t0=$EPOCHREALTIME
      # eval, not bash -c: no extra process in the timed part.
      if eval "$cmd" </dev/null >/dev/null 2>"$out/$name.last"; then
        t1=$EPOCHREALTIME
        if ((i >= 0)); then
          awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", (b - a) * 1000 }' >>"$out/$name.times"
        fi
      else
        cat "$out/$name.last" >>"$out/$name.err"
      fi
    done
  done
}

oci_mode() {
  # Instead of bench.sh's cleanup (its `crun list` would make /run/crun again after ours):
  # ours, then bench.sh's work directory. This mode makes no bridge.
  trap 'rc=$?; oci_cleanup; rm -rf -- "$WORK"; exit $rc' EXIT
  # /run directories the runtimes and podman make by default: removed again at the end (if
  # empty) when they are new.
  local d
  for d in /run/containers /run/containers/networks /run/runc /run/crun; do
    [[ -e $d ]] || echo "$d" >>"$ENG/run-dirs"
  done
  local own parent
  own=$(own_cgroup_everywhere) || die "no cgroup path lies beneath our cgroup in every tree: no cgroup parent for the runtimes"
  parent=$own/mcbench-$$
  make_cgroup_parent "$parent"
  local out=$ENG/results
  mkdir -p "$out"

  # The bundle: bench.sh's (mycontainer's own seccomp profile, capabilities...), in a cgroup
  # beneath ours.
  local bundle=$ENG/bundle
  mkdir -p "$bundle"
  jq --arg cg "$parent/$OCI_ID" '.linux.cgroupsPath = $cg' "$BUNDLE/config.json" >"$bundle/config.json"

  local -a runtimes=() contenders=()
  local rt path
  for rt in runc crun mycontainer; do
    if [[ $rt == mycontainer ]]; then path=$MYCONTAINER; else path=$(command -v "$rt" || true); fi
    if [[ -z $path || ! -x $path ]]; then
      warn "$rt left out: not found"
      continue
    fi
    runtimes+=("$rt")
    mkdir -p "$ENG/root-$rt"
    contenders+=("$rt=$(printf '%q --root %q create --bundle %q %q && %q --root %q start %q && %q --root %q delete --force %q' \
      "$path" "$ENG/root-$rt" "$bundle" "$OCI_ID" "$path" "$ENG/root-$rt" "$OCI_ID" "$path" "$ENG/root-$rt" "$OCI_ID")")
  done

  # crun on a hybrid machine: everyone in a private mount namespace, or crun left out.
  local runner=() note=""
  if [[ " ${runtimes[*]} " == *" crun "* ]]; then
    local err
    if ! err=$(crun --root "$ENG/root-crun" run --bundle "$bundle" "$OCI_ID-trial" </dev/null 2>&1 >/dev/null); then
      crun --root "$ENG/root-crun" delete --force "$OCI_ID-trial" >/dev/null 2>&1 || true
      if ((crun_private_mountns)) && [[ $err == *hybrid* ]]; then
        runner=(in_private_mountns)
        note="every runtime measured in a private mount namespace without the cgroup2 tree (crun refuses this host: ${err##*: })"
      else
        warn "crun left out: ${err##*: } (--crun-private-mountns measures all in a private mount namespace)"
        OCI_SKIP_CRUN=1
        echo "${err##*: } (--crun-private-mountns measures it)" >"$out/crun.skipped"
        cp "$out/crun.skipped" "$out/podman-crun.skipped"
        runtimes=("${runtimes[@]/crun/}")
        local kept=() c
        for c in "${contenders[@]}"; do [[ $c == crun=* ]] || kept+=("$c"); done
        contenders=("${kept[@]}")
      fi
    fi
  fi

  log "create + start + delete of /bin/true: ${#contenders[@]} runtimes, $RUNS runs each, taking turns"
  # shellcheck disable=SC2016  # expanded by the inner bash
  "${runner[@]}" bash -c "$(declare -f oci_measure)"'; oci_measure "$@"' oci_measure \
    "$out" "$RUNS" "$WARMUP" "${contenders[@]}"

  podman_mode "$parent" "$out" "${runner[@]}"

  local report=$OUT/oci-results.md
  {
    echo "## The OCI command line: create + start + delete, and podman run --rm"
    echo
    echo "Machine: $(nproc) CPUs, Linux $(uname -r); load average at the end: $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%Y-%m-%d)."
    echo "Versions: $(runc --version | head -n 1), $(crun --version | head -n 1), $(podman --version 2>/dev/null)."
    [[ -n $note ]] && echo "Note: $note."
    echo
    oci_table "create + start + delete --force of \`/bin/true\` (same bundle, $RUNS runs each, taking turns)" "$out" ""
    echo
    oci_table "\`podman run --rm IMAGE /bin/true\` ($PODMAN_RUNS runs each, taking turns)" "$out" podman-
    echo
    echo "Goals (#12): mycontainer ÷ crun ≤ 0.5 for create + start + delete; podman with mycontainer ≤ podman with crun (ratio ≤ 1)."
  } >"$report"
  echo
  cat -- "$report"
  log "this table: $report"
}

# oci_table TITLE DIR PREFIX: a markdown table of DIR/PREFIX{runc,crun,mycontainer}.times.
oci_table() {
  local title=$1 dir=$2 prefix=$3 rt median mean min max n mc=""
  echo "$title:"
  echo
  echo "| Runtime | Median | Mean | Min | Max | Runs | mycontainer ÷ this |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  [[ -s $dir/${prefix}mycontainer.times ]] && read -r mc _ < <(oci_stats "$dir/${prefix}mycontainer.times")
  for rt in runc crun mycontainer; do
    local f=$dir/$prefix$rt.times
    if [[ ! -s $f ]]; then
      local why="not measured"
      [[ -s $dir/$prefix$rt.skipped ]] && why="left out: $(cat "$dir/$prefix$rt.skipped")"
      [[ -s $dir/$prefix$rt.err ]] && why="failed: $(grep -v '^[[:space:]]*$' "$dir/$prefix$rt.err" | tail -n 1)"
      echo "| $rt | $why | | | | | |"
      continue
    fi
    read -r median mean min max n < <(oci_stats "$f")
    local ratio=""
    [[ -n $mc ]] && ratio=$(awk -v a="$mc" -v b="$median" 'BEGIN { printf "%.2f", a / b }')
    echo "| $rt | $median ms | $mean ms | $min ms | $max ms | $n | $ratio |"
    if [[ -s $dir/$prefix$rt.err ]]; then
      echo "|  ($rt: $(grep -c . "$dir/$prefix$rt.err") lines of errors, last: $(tail -n 1 "$dir/$prefix$rt.err")) | | | | | | |"
    fi
  done
}

# podman_mode PARENT OUTDIR [RUNNER...]: podman run --rm with each runtime, taking turns.
podman_mode() {
  local parent=$1 out=$2
  shift 2
  if ! command -v podman >/dev/null; then
    warn "podman not installed: its part left out"
    return 0
  fi
  local p=$ENG/podman
  mkdir -p "$p/tmp" "$p/netconf"
  cat >"$p/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$p/events.log"
tmp_dir = "$p/tmp"
static_dir = "$p/root/libpod"
volume_path = "$p/root/volumes"
lock_type = "file"
[engine.runtimes]
mycontainer = ["$MYCONTAINER"]
[network]
network_config_dir = "$p/netconf"
EOF
  printf '[storage]\ndriver = "vfs"\nrunroot = "%s/runroot"\ngraphroot = "%s/root"\n' "$p" "$p" >"$p/storage.conf"
  echo 'unqualified-search-registries = []' >"$p/registries.conf"
  export CONTAINERS_CONF=$p/containers.conf CONTAINERS_STORAGE_CONF=$p/storage.conf \
    CONTAINERS_REGISTRIES_CONF=$p/registries.conf TMPDIR=$p/tmp
  local -a podman_argv=(podman --root "$p/root" --runroot "$p/runroot" --cgroup-manager cgroupfs
    --events-backend file)
  local podman_cmd # the same, as a line for oci_measure's eval
  podman_cmd=$(printf '%q ' "${podman_argv[@]}")
  tar -C "$ROOTFS" -cf "$p/rootfs.tar" .
  # containers/image caches blob digests in /var/lib/containers/cache whatever --root says:
  # the import runs in a private mount namespace where that directory is ours (the host's
  # cache is never written; the directory is made, and removed again, if missing).
  for d in /var/lib/containers /var/lib/containers/cache; do
    if [[ ! -e $d ]]; then
      mkdir "$d"
      echo "$d" >>"$ENG/run-dirs"
    fi
  done
  mkdir -p "$p/blob-cache"
  # shellcheck disable=SC2016  # expanded by the inner sh
  unshare --mount --propagation private -- sh -c 'mount --bind "$0" /var/lib/containers/cache && exec "$@"' \
    "$p/blob-cache" "${podman_argv[@]}" import "$p/rootfs.tar" localhost/mct-busybox >/dev/null 2>&1 || {
    warn "podman import failed: its part left out"
    return 0
  }
  local -a contenders=()
  local rt flags
  flags=$(printf -- '--network none --cgroup-parent %q --ulimit nofile=20000:20000 --ulimit nproc=32768:32768' "$parent")
  for rt in runc crun mycontainer; do
    [[ $rt == mycontainer && ! -x $MYCONTAINER ]] && continue
    [[ $rt == crun && -n ${OCI_SKIP_CRUN:-} ]] && continue
    command -v "$rt" >/dev/null || [[ $rt == mycontainer ]] || continue
    contenders+=("podman-$rt=$podman_cmd--runtime $rt run --rm $flags localhost/mct-busybox /bin/true")
  done
  log "podman run --rm: ${#contenders[@]} runtimes, $PODMAN_RUNS runs each, taking turns"
  # shellcheck disable=SC2016  # expanded by the inner bash
  "$@" bash -c "$(declare -f oci_measure)"'; oci_measure "$@"' oci_measure \
    "$out" "$PODMAN_RUNS" 1 "${contenders[@]}"
  "${podman_argv[@]}" rm -a -f -t 0 >/dev/null 2>&1 || true
}
