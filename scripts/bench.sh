#!/usr/bin/env bash
# How long does a whole container take, from start to exit? `mycontainer run /bin/true`
# against runc and crun on the same root filesystem with the same isolation, and against
# a static clone + chroot + exec with the same namespaces (tests/bench/floor.c, built here):
# the floor, what the kernel alone costs.
#
#   sudo scripts/bench.sh            # warm: 5 blocks of 10 timed runs each, runtimes alternating
#   sudo scripts/bench.sh --cold     # cold: a pause of 250 ms before each start
#   sudo scripts/bench.sh --quick    # 10 runs each, 20 sequential: a quick look
#   sudo scripts/bench.sh --oci      # the OCI command line and podman (scripts/bench-oci.sh)
#   sudo scripts/bench.sh --image    # run IMAGE against --rootfs, same files (bench-image.sh)
#
# It measures, for each runtime:
#   - start-to-exit time of one container (hyperfine, no shell in between: -N), in blocks:
#     ten runs of every runtime in turn, the blocks one after another, the statistics over the
#     runs of all blocks. A burst of other work on a shared machine then lands on every
#     runtime alike, rather than on whichever was being measured at the time;
#   - warm (the default): starts back to back, as a script starting containers in a loop;
#     cold (--cold): each after a pause (hyperfine --prepare 'sleep 0.25'), as a user starting
#     one container now and then meets it. They differ because the kernel makes a process
#     that moves into a cgroup wait for an RCU grace period when no move came just before
#     (step7_full_container/README.md, "The cold start");
#   - 100 containers one after another, and 20 at once: total wall time (warm only);
#   - peak RSS (/usr/bin/time -f %M: the largest single process of the runtime's tree).
# It prints a markdown table (pasteable into README) and keeps the raw JSON and the table
# in build/bench/. The issue's targets: mycontainer <= 0.6x crun's median and <= 0.2x
# runc's; a bridge network with limits adds under 2 ms.
#
# A runtime that cannot run on this machine is left out, with the reason: crun refuses
# cgroup v1 "hybrid" machines whose cgroup2 tree has any controller. The host's cgroup
# mounts are never changed to make it run. With --crun-private-mountns (opt-in), crun alone
# is measured inside a private mount namespace where the cgroup2 tree is unmounted: the host
# is untouched, crun sees a pure v1 machine; the table marks that number.
#
# Nothing is left behind: the OCI bundle lives in a temporary directory removed on exit,
# every runc/crun container is deleted (`runc list` stays empty), no cgroup remains, and
# mycontainer's bridge goes again if this run created it.
set -euo pipefail
export LC_ALL=C # decimal points, not commas, in every number we print or parse
# shellcheck source=scripts/lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  cat <<EOF
usage: sudo $0 [--quick] [--cold] [--crun-private-mountns] [--oci | --image]

  --quick                 fewer runs (10 timed, 20 sequential containers)
  --cold                  a pause before each start (BENCH_PAUSE_MS, 250 ms): the start a
                          user meets; one container at a time only (no sequential, parallel
                          or RSS part)
  --oci                   the OCI command line instead (scripts/bench-oci.sh): create + start +
                          delete of /bin/true with runc, crun and mycontainer on one bundle, and
                          podman run --rm with each of them
  --image                 the start of a container from an image (run IMAGE: an overlay root)
                          against the same files with --rootfs, alternating (scripts/bench-image.sh)
  --crun-private-mountns  where crun refuses this machine's cgroup layout, measure it in a
                          private mount namespace without the cgroup2 tree (host untouched)

environment:
  BENCH_RUNS=N         timed runs per command and block (default 10)
  BENCH_ROUNDS=N       blocks of every runtime in turn (default 5, --cold 3, --quick 1)
  BENCH_WARMUP=N       warm-up runs per block (default 2; --cold 0)
  BENCH_PAUSE_MS=N     --cold: the pause before each start (default 250)
  BENCH_PARALLEL_REPEATS=N  times the containers-at-once burst is repeated, median
                       reported (default 3)
  BENCH_SEQUENTIAL=N   containers one after another (default 100, --quick 20)
  BENCH_PARALLEL=N     containers at once (default 20)
  BENCH_RSS_RUNS=N     runs per peak-RSS measurement, median reported (default 5)
  MYCONTAINER=PATH     the binary (default \$MC_BUILD_DIR/bin/mycontainer)
  MYCONTAINER_BASELINE=PATH  another mycontainer binary (an older build) measured side by
                       side with the same arguments, in the same rounds: the table gives
                       the ratio of the two, which a change must leave unchanged
  MYCONTAINER_ARGS     its arguments (default: run --rootfs ROOTFS --net none -- /bin/true)
  MYCONTAINER_NET_ARGS with a bridge network and limits
                       (default: run --rootfs ROOTFS -m 64m --cpus 1 --pids-limit 100 -- /bin/true)
  ROOTFS=DIR           root filesystem for every runtime (default: the project's rootfs)
  MC_BUILD_DIR=DIR     build directory (default: build); results go to DIR/bench
  BENCH_BUILD=0        do not build first (use the binaries as they are)
  BENCH_PODMAN_RUNS=N  --oci: podman run --rm runs per runtime (default 20, --quick 5)
  BENCH_IMAGE=REF      --image: also 'run REF /bin/true' (an image in the store)
  BENCH_STATE_TMPFS=1  --image: the state root on a tmpfs (as /run is on most distributions),
                       in a private mount namespace
EOF
}

quick=0
cold=0
crun_private_mountns=0
oci=0
image=0
while (($#)); do
  case $1 in
    --quick) quick=1 ;;
    --cold) cold=1 ;;
    --crun-private-mountns) crun_private_mountns=1 ;;
    --oci) oci=1 ;;
    --image) image=1 ;;
    -h | --help)
      usage
      exit 0
      ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
  shift
done

# Blocks of ten: short enough that the runtimes alternate many times in one run.
RUNS=${BENCH_RUNS:-10}
if ((quick)); then
  WARMUP=${BENCH_WARMUP:-2} SEQUENTIAL=${BENCH_SEQUENTIAL:-20} ROUNDS=${BENCH_ROUNDS:-1}
elif ((cold)); then
  WARMUP=${BENCH_WARMUP:-0} SEQUENTIAL=${BENCH_SEQUENTIAL:-100} ROUNDS=${BENCH_ROUNDS:-3}
else
  WARMUP=${BENCH_WARMUP:-2} SEQUENTIAL=${BENCH_SEQUENTIAL:-100} ROUNDS=${BENCH_ROUNDS:-5}
fi
PARALLEL=${BENCH_PARALLEL:-20}
PARALLEL_REPEATS=${BENCH_PARALLEL_REPEATS:-3}
RSS_RUNS=${BENCH_RSS_RUNS:-5}
PAUSE_MS=${BENCH_PAUSE_MS:-250}
for v in RUNS ROUNDS WARMUP SEQUENTIAL PARALLEL PARALLEL_REPEATS RSS_RUNS PAUSE_MS; do
  [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a whole number, not '${!v}'"
done
((RUNS >= 2)) || die "BENCH_RUNS must be at least 2 (hyperfine needs two runs for a deviation)"
((ROUNDS >= 1)) || die "BENCH_ROUNDS must be at least 1"
((PARALLEL_REPEATS >= 1)) || die "BENCH_PARALLEL_REPEATS must be at least 1"

is_root || die "runc, crun and mycontainer need root here: run sudo $0"

# === Tools, build, root filesystem ===========================================================

ensure_packages runc crun hyperfine time jq util-linux
if [[ ${BENCH_BUILD:-1} == 0 ]]; then
  log "BENCH_BUILD=0: not building, using the binaries in $MC_BUILD_DIR"
elif ! ensure_build "$MC_BUILD_DIR"; then
  warn "the build failed (output above): benchmarking with the binaries that exist"
fi
ensure_rootfs
ROOTFS=$(realpath -- "${ROOTFS:-$MC_ROOTFS}")
[[ -x $ROOTFS/bin/true || -L $ROOTFS/bin/true ]] || die "no /bin/true in the root filesystem $ROOTFS"

MYCONTAINER=${MYCONTAINER:-$MC_BUILD_DIR/bin/mycontainer}
# The lead settles mycontainer's exact flags; these match the runc/crun bundle below.
# No --name: mycontainer picks a unique one per run (20 run at once below).
MYCONTAINER_ARGS=${MYCONTAINER_ARGS:-"run --rootfs $ROOTFS --net none -- /bin/true"}
MYCONTAINER_NET_ARGS=${MYCONTAINER_NET_ARGS:-"run --rootfs $ROOTFS -m 64m --cpus 1 --pids-limit 100 -- /bin/true"}

OUT=$MC_BUILD_DIR/bench
mkdir -p -- "$OUT"
rm -f -- "$OUT"/hyperfine-*.json
WORK=$(mktemp -d /tmp/mcbench.XXXXXX)
BUNDLE=$WORK/bundle
ID=mcbench-$$ # prefix of every runc/crun container id, and so of their cgroups

# === Cleanup, on every exit ==================================================================

# mycontainer's default bridge: shared infrastructure it creates on first use and leaves in
# place, like docker0. If this run created it, it goes again, unless a container holds an
# address on it (a lease file in /run/mycontainer/ipam).
BRIDGE=ctr0
bridge_existed=0
ip link show "$BRIDGE" >/dev/null 2>&1 && bridge_existed=1

cleanup() {
  local rc=$? id rt
  trap - EXIT INT TERM
  if ((!bridge_existed)) && ip link show "$BRIDGE" >/dev/null 2>&1 &&
    [[ -z $(find /run/mycontainer/ipam -type f 2>/dev/null) ]]; then
    ip link delete "$BRIDGE" 2>/dev/null || true
  fi
  for rt in runc crun; do
    command -v "$rt" >/dev/null 2>&1 || continue
    while read -r id; do
      if [[ $id == "$ID"* ]]; then "$rt" delete --force "$id" >/dev/null 2>&1 || true; fi
    done < <("$rt" list -q 2>/dev/null || true)
  done
  rm -rf -- "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# === The OCI bundle: runc's default spec, made to match what `mycontainer run` sets up =====

# mycontainer's own config for the benchmarked run: `mycontainer spec` prints the OCI
# config.json that `mycontainer run` with the same flags builds (step7_full_container/
# spec_from_flags.cpp). Its seccomp profile (docker's allow list), its capabilities and its
# sysctls go into the runc/crun bundle as they are, so all three load the same filter and
# start with the same privileges: nothing here is a copy to keep in step by hand.
mycontainer_spec() {
  "$MYCONTAINER" spec --rootfs "$ROOTFS" --net none -- /bin/true
}

make_bundle() {
  mkdir -p -- "$BUNDLE"
  (cd -- "$BUNDLE" && runc spec)
  local spec
  spec=$(mycontainer_spec) || die "'$MYCONTAINER spec' failed: is mycontainer built?"
  # Kept from runc's default: pid, network, ipc, uts and mount namespaces, the masked and
  # read-only paths, /proc /dev /dev/pts /dev/shm /dev/mqueue /sys /sys/fs/cgroup mounts,
  # no_new_privileges, the default device rules and a cgroup named after the container id.
  # Added to match mycontainer: a cgroup namespace, and from `mycontainer spec` docker's
  # capabilities less CAP_NET_RAW (runc's spec keeps 3), the seccomp allow list and the
  # sysctls (net.ipv4.ping_group_range); a writable root (mycontainer's default; --read-only
  # is opt-in there too).
  jq --arg root "$ROOTFS" --argjson mc "$spec" '
      .root = {path: $root, readonly: false}
    | .hostname = "bench"
    | .process.terminal = false
    | .process.args = ["/bin/true"]
    | .process.capabilities = $mc.process.capabilities
    | .linux.namespaces |= (if any(.type == "cgroup") then . else . + [{type: "cgroup"}] end)
    | .linux.seccomp = $mc.linux.seccomp
    | .linux.sysctl = ((.linux.sysctl // {}) + ($mc.linux.sysctl // {}))' \
    "$BUNDLE/config.json" >"$BUNDLE/config.json.new"
  mv -- "$BUNDLE/config.json.new" "$BUNDLE/config.json"
}

# === The contenders ==========================================================================

# Each contender is a command line with MCBENCH_ID where a container id goes; a fixed id
# works for runs one after another, because `runc run` and `crun run` delete the container when it
# exits (without --detach; there is no --rm to ask for it). Runs at once get distinct ids.
declare -A LABEL=() CMDLINE=() NOTE=()
ORDER=()
add_contender() { # KEY LABEL COMMAND-LINE...
  local key=$1 label=$2
  shift 2
  LABEL[$key]=$label
  CMDLINE[$key]=$(printf '%q ' "$@")
  CMDLINE[$key]=${CMDLINE[$key]% }
  ORDER+=("$key")
}
# words KEY ID: the command line of KEY, with ID for MCBENCH_ID, into the array WORDS.
words() {
  local line=${CMDLINE[$1]//MCBENCH_ID/$2}
  eval "WORDS=($line)"
}

# try KEY: one trial run; on failure prints why (the last line of its output) and returns 1.
try() {
  local key=$1 out
  words "$key" "$ID-trial-$key"
  if out=$("${WORDS[@]}" </dev/null 2>&1); then
    return 0
  fi
  TRIAL_ERROR=$(printf '%s\n' "$out" | grep -v '^[[:space:]]*$' | tail -n 1)
  return 1
}

EXCLUDED=()
exclude() { # KEY REASON
  EXCLUDED+=("${LABEL[$1]}: $2")
  warn "${LABEL[$1]} left out: $2"
  local i
  for i in "${!ORDER[@]}"; do [[ ${ORDER[$i]} == "$1" ]] && unset 'ORDER[i]'; done
  ORDER=("${ORDER[@]}")
}

# in_private_mountns CMD...: runs CMD in a new mount namespace where the cgroup2 trees are
# unmounted (a private copy of the host's mount table: the host's own mounts stay as they are).
in_private_mountns() {
  # shellcheck disable=SC2016  # expanded by the inner bash
  unshare --mount --propagation private -- bash -c '
    while read -r m; do umount "$m"; done < <(findmnt -rn -t cgroup2 -o TARGET)
    exec "$@"' bash "$@"
}

log "making the OCI bundle in $BUNDLE (root: $ROOTFS)"
make_bundle

# --image: run IMAGE against --rootfs on the same files, then stop.
if ((image)); then
  # shellcheck source=scripts/bench-image.sh
  source "$MC_ROOT/scripts/bench-image.sh"
  image_mode
  exit 0
fi

# --oci: the OCI command line (create + start + delete) and podman run --rm, then stop.
if ((oci)); then
  # shellcheck source=scripts/bench-oci.sh
  source "$MC_ROOT/scripts/bench-oci.sh"
  oci_mode
  exit 0
fi

read -ra mc_args <<<"$MYCONTAINER_ARGS"
read -ra mc_net_args <<<"$MYCONTAINER_NET_ARGS"
add_contender mycontainer "mycontainer" "$MYCONTAINER" "${mc_args[@]}"
add_contender mycontainer_net "mycontainer, bridge + limits" "$MYCONTAINER" "${mc_net_args[@]}"
# Same arguments, another build: in the same rounds as the rest, so that a burst of other
# work on the machine lands on both alike (two separate runs of bench.sh would not compare).
BASELINE=${MYCONTAINER_BASELINE:-}
[[ -z $BASELINE ]] || add_contender baseline "mycontainer (baseline)" "$BASELINE" "${mc_args[@]}"
add_contender runc "runc" runc run -b "$BUNDLE" MCBENCH_ID
add_contender crun "crun" crun run -b "$BUNDLE" MCBENCH_ID
# The floor: the same namespaces, one clone, mounts made private, a chroot into the same
# rootfs and one exec of its /bin/true; no /proc, no cgroup, no hardening. A static program
# (tests/bench/floor.c): the dynamic `unshare` binary spent 0.4-0.7 ms more than that in its
# loader and libraries, and "x floor" would not have meant what it says. Without a C
# compiler that can link statically, `unshare`, and the table says so.
FLOOR=$OUT/floor
if cc -static -O2 -o "$FLOOR" "$MC_ROOT/tests/bench/floor.c" 2>"$WORK/floor.log"; then
  add_contender floor "static clone+chroot+exec (floor)" "$FLOOR" "$ROOTFS"
else
  warn "could not build the static floor ($(tail -n 1 "$WORK/floor.log")): unshare instead"
  add_contender floor "unshare (floor, dynamic)" unshare --pid --fork --mount --uts --ipc --net \
    --cgroup --root="$ROOTFS" /bin/true
fi

if [[ ! -x $MYCONTAINER ]]; then
  exclude mycontainer "not built yet (no $MYCONTAINER)"
  exclude mycontainer_net "not built yet"
else
  for key in mycontainer mycontainer_net; do
    try "$key" || exclude "$key" "its trial run failed: $TRIAL_ERROR"
  done
fi
if [[ -n $BASELINE ]]; then
  if [[ ! -x $BASELINE ]]; then
    exclude baseline "no executable $BASELINE"
  else
    try baseline || exclude baseline "its trial run failed: $TRIAL_ERROR"
  fi
fi
try runc || exclude runc "its trial run failed: $TRIAL_ERROR"
crun_wrapped=0
if ! try crun; then
  if ((crun_private_mountns)) && [[ $TRIAL_ERROR == *hybrid* ]]; then
    crun_wrapped=1
    NOTE[crun]="measured in a private mount namespace without the cgroup2 tree (it refuses this host: $TRIAL_ERROR)"
    LABEL[crun]="crun †"
    log "crun refuses this host ($TRIAL_ERROR): measuring it in a private mount namespace"
  else
    exclude crun "it refuses to run here: $TRIAL_ERROR${TRIAL_ERROR:+ }(never edit the host's cgroup mounts for it; --crun-private-mountns measures it in a private mount namespace)"
  fi
fi
try floor || exclude floor "its trial run failed: $TRIAL_ERROR"
((${#ORDER[@]} > 0)) || die "nothing can run here"

# === 1. One container, start to exit: hyperfine ==============================================

LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg) # other work on the machine skews every number
HF_OPTS=(--warmup "$WARMUP" --runs "$RUNS")
# (grep reads a captured string: with pipefail, `cmd | grep -q` fails when grep's early exit
# kills cmd with SIGPIPE.)
if grep -q -- '--shell=none' <<<"$(hyperfine --help 2>/dev/null)"; then
  HF_OPTS+=(-N) # no shell between hyperfine and the runtime (hyperfine >= 1.13)
else
  warn "this hyperfine has no -N: it runs commands through a shell and subtracts its cost"
fi
[[ -t 1 ]] || HF_OPTS+=(--style basic)
# Cold: the pause before each timed run is hyperfine's --prepare, outside the timing.
MODE_NOTE=""
if ((cold)); then
  HF_OPTS+=(--prepare "sleep $(awk -v ms="$PAUSE_MS" 'BEGIN { printf "%.3f", ms / 1000 }')")
  MODE_NOTE=", a pause of $PAUSE_MS ms before each"
fi

for ((round = 1; round <= ROUNDS; round++)); do
  for key in "${ORDER[@]}"; do
    words "$key" "$ID-$key"
    cmd=$(printf '%q ' "${WORDS[@]}")
    log "hyperfine, block $round of $ROUNDS ($RUNS runs$MODE_NOTE): ${LABEL[$key]}"
    runner=()
    ((crun_wrapped)) && [[ $key == crun ]] && runner=(in_private_mountns)
    "${runner[@]}" hyperfine "${HF_OPTS[@]}" --command-name "${LABEL[$key]}" \
      --export-json "$OUT/hyperfine-$key-$round.json" "${cmd% }"
  done
done

# Statistics in milliseconds over the runs of every round, from hyperfine's JSON (its
# "times"): median mean stddev min max. The standard deviation is the sample one, as
# hyperfine's.
stats() {
  jq -rs '[.[].results[0].times[]] | sort | length as $n
    | (add / $n) as $mean
    | [ (if $n % 2 == 1 then .[($n - 1) / 2] else (.[$n / 2 - 1] + .[$n / 2]) / 2 end),
        $mean,
        (if $n > 1 then ((map((. - $mean) * (. - $mean)) | add) / ($n - 1) | sqrt) else 0 end),
        .[0], .[-1] ]
    | map(. * 1000) | @tsv' "$OUT"/hyperfine-"$1"-*.json
}
declare -A MEDIAN=()
for key in "${ORDER[@]}"; do
  read -r "MEDIAN[$key]" _ < <(stats "$key")
done

# === 2. Many containers: one after another, and at once ======================================

# measure_many SEQUENTIAL PARALLEL REPEATS RSS_RUNS TMPFILE ID COMMAND...: runs COMMAND (with
# MCBENCH_ID replaced by ID, or by ID-N for the runs at once) SEQUENTIAL times one after
# another, then PARALLEL times at once (REPEATS bursts, the median kept), then RSS_RUNS times
# under /usr/bin/time. Prints "SECONDS-SEQUENTIAL SECONDS-AT-ONCE MEDIAN-PEAK-RSS-KIB
# FAILED-RUNS", the seconds to the microsecond ($EPOCHREALTIME): 20 starts at once take
# tens of milliseconds, which a table in hundredths of a second could not compare.
# Self-contained (no globals), so that `declare -f` can carry it into another shell
# (in_private_mountns).
measure_many() {
  local n=$1 p=$2 reps=$3 r=$4 tmp=$5 id=$6
  shift 6
  local -a cmd=("$@") rss=() bursts=()
  local i j pid start seq fails=0
  since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.6f", b - a }'; }
  median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

  start=$EPOCHREALTIME
  for ((i = 0; i < n; i++)); do
    "${cmd[@]//MCBENCH_ID/$id}" </dev/null >/dev/null 2>&1 || fails=$((fails + 1))
  done
  seq=$(since "$start")

  for ((j = 0; j < reps; j++)); do
    local -a pids=()
    start=$EPOCHREALTIME
    for ((i = 0; i < p; i++)); do
      "${cmd[@]//MCBENCH_ID/$id-$i}" </dev/null >/dev/null 2>&1 &
      pids+=($!)
    done
    for pid in "${pids[@]}"; do wait "$pid" || fails=$((fails + 1)); done
    bursts+=("$(since "$start")")
  done

  for ((i = 0; i < r; i++)); do
    /usr/bin/time -f %M -o "$tmp" "${cmd[@]//MCBENCH_ID/$id}" </dev/null >/dev/null 2>&1 ||
      fails=$((fails + 1))
    rss+=("$(tail -n 1 "$tmp")")
  done
  printf '%s %s %s %s\n' "$seq" "$(printf '%s\n' "${bursts[@]}" | median)" \
    "$(printf '%s\n' "${rss[@]}" | median)" "$fails"
}

declare -A SEQ=() PAR=() RSS=() FAILS=()
for key in "${ORDER[@]}"; do
  ((cold)) && break                         # one start after a pause: nothing at once
  [[ $key == mycontainer_net ]] && continue # the bridge variant: its delta only
  log "${LABEL[$key]}: $SEQUENTIAL one after another, $PARALLEL at once, peak RSS"
  eval "cmd=(${CMDLINE[$key]})"
  args=("$SEQUENTIAL" "$PARALLEL" "$PARALLEL_REPEATS" "$RSS_RUNS" "$WORK/rss" "$ID-$key" "${cmd[@]}")
  if ((crun_wrapped)) && [[ $key == crun ]]; then
    # shellcheck disable=SC2016  # expanded by the inner bash
    result=$(in_private_mountns bash -c "$(declare -f measure_many)"'; measure_many "$@"' \
      measure_many "${args[@]}")
  else
    result=$(measure_many "${args[@]}")
  fi
  read -r "SEQ[$key]" "PAR[$key]" "RSS[$key]" "FAILS[$key]" <<<"$result"
  ((FAILS[$key] == 0)) || warn "${LABEL[$key]}: ${FAILS[$key]} runs failed"
done

# === 3. Where mycontainer's time goes (its own --timings) ====================================

TIMINGS=""
if [[ " ${ORDER[*]} " == *" mycontainer "* ]] &&
  grep -q -- '--timings' <<<"$("$MYCONTAINER" run --help 2>/dev/null)"; then
  words mycontainer x
  # --timings goes right after "run" (before "--"). Cold: after the same pause.
  if ((cold)); then sleep "$(awk -v ms="$PAUSE_MS" 'BEGIN { print ms / 1000 }')"; fi
  TIMINGS=$("${WORDS[0]}" "${WORDS[1]}" --timings "${WORDS[@]:2}" </dev/null 2>&1 || true)
fi

# === The report ==============================================================================

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
ratio3() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
verdict() { # RATIO LIMIT: judged on the ratio to three places (0.203 is not <= 0.2)
  awk -v r="$1" -v l="$2" 'BEGIN { print (r <= l ? "met" : "NOT met") }'
}

cgroup_layout() {
  local v2 ctrls
  v2=$(findmnt -rn -t cgroup2 -o TARGET | head -n 1)
  if findmnt -rn -t cgroup >/dev/null; then
    ctrls=$(cat "$v2/cgroup.controllers" 2>/dev/null || true)
    printf 'v1 hybrid (v1 trees: %s; cgroup2 at %s with controllers: %s)' \
      "$(findmnt -rn -t cgroup -o TARGET | xargs -n1 basename | paste -sd, -)" \
      "${v2:-none}" "${ctrls:-none}"
  else
    printf 'v2 (%s, controllers: %s)' "$v2" "$(cat "$v2/cgroup.controllers")"
  fi
}

{
  if ((cold)); then
    echo "## Start to exit of \`/bin/true\` in a container, cold: a pause of $PAUSE_MS ms before each start"
  else
    echo "## Start to exit of \`/bin/true\` in a container, warm: starts back to back"
  fi
  echo
  echo "Machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), Linux $(uname -r), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo); cgroup $(cgroup_layout)."
  echo "Versions: $(runc --version | head -n 1), $(crun --version | head -n 1), $(hyperfine --version). Root filesystem: the project's busybox rootfs."
  echo "hyperfine ${HF_OPTS[*]}, $ROUNDS blocks of $RUNS runs of every runtime in turn (statistics over all $((RUNS * ROUNDS)) runs of each); $(date -u +%Y-%m-%d); load average at the start: $LOAD_AT_START, at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
  echo
  echo "| Runtime | Median | Mean ± σ | Min | mycontainer ÷ this | × floor |"
  echo "|---|---:|---:|---:|---:|---:|"
  for key in "${ORDER[@]}"; do
    read -r median mean sd min _ < <(stats "$key")
    vs_mc=""
    [[ -n ${MEDIAN[mycontainer]:-} ]] && vs_mc=$(ratio "${MEDIAN[mycontainer]}" "$median")
    vs_floor=""
    [[ -n ${MEDIAN[floor]:-} ]] && vs_floor=$(ratio "$median" "${MEDIAN[floor]}")
    printf '| %s | %.2f ms | %.2f ± %.2f ms | %.2f ms | %s | %s |\n' \
      "${LABEL[$key]}" "$median" "$mean" "$sd" "$min" "$vs_mc" "$vs_floor"
  done
  echo
  for key in "${!NOTE[@]}"; do echo "† ${LABEL[$key]%% †}: ${NOTE[$key]}."; done
  for line in "${EXCLUDED[@]}"; do echo "Not measured: $line."; done
  [[ ${#NOTE[@]} -gt 0 || ${#EXCLUDED[@]} -gt 0 ]] && echo
  if [[ -n $BASELINE ]]; then
    echo "Baseline: $BASELINE, with mycontainer's arguments."
    echo
  fi
  if ((cold)); then
    targets="crun:0.4"
    echo "Targets (issue 16), cold: mycontainer ÷ crun ≤ 0.4."
  else
    targets="crun:0.4 runc:0.15"
    echo "Targets (issue 16), warm: mycontainer ÷ crun ≤ 0.4, mycontainer ÷ runc ≤ 0.15; bridge + limits under 2 ms more."
  fi
  echo
  if [[ -n ${MEDIAN[mycontainer]:-} ]]; then
    for peer in $targets; do
      key=${peer%%:*} limit=${peer#*:}
      if [[ -n ${MEDIAN[$key]:-} ]]; then
        r=$(ratio3 "${MEDIAN[mycontainer]}" "${MEDIAN[$key]}")
        echo "- mycontainer ÷ ${LABEL[$key]} = $r (target ≤ $limit): $(verdict "$r" "$limit")"
      else
        echo "- mycontainer ÷ $key: not measured ($key did not run here)"
      fi
    done
    if [[ -n ${MEDIAN[baseline]:-} ]]; then
      echo "- mycontainer ÷ baseline = $(ratio3 "${MEDIAN[mycontainer]}" "${MEDIAN[baseline]}") (1 = unchanged)"
    fi
    if [[ -n ${MEDIAN[mycontainer_net]:-} ]]; then
      d=$(awk -v a="${MEDIAN[mycontainer_net]}" -v b="${MEDIAN[mycontainer]}" 'BEGIN { printf "%.2f", a - b }')
      echo "- bridge network + limits: +$d ms (target < 2 ms): $(awk -v d="$d" 'BEGIN { print (d < 2 ? "met" : "NOT met") }')"
    fi
  else
    echo "- not checked: mycontainer did not run."
  fi
  echo
  if ((!cold)); then
    echo "| Runtime | $SEQUENTIAL one after another | per container | $PARALLEL at once | Peak RSS |"
    echo "|---|---:|---:|---:|---:|"
    for key in "${ORDER[@]}"; do
      [[ -n ${SEQ[$key]:-} ]] || continue
      printf '| %s | %.3f s | %.2f ms | %.1f ms | %.1f MiB |\n' "${LABEL[$key]}" "${SEQ[$key]}" \
        "$(awk -v s="${SEQ[$key]}" -v n="$SEQUENTIAL" 'BEGIN { print s * 1000 / n }')" \
        "$(awk -v s="${PAR[$key]}" 'BEGIN { print s * 1000 }')" \
        "$(awk -v k="${RSS[$key]}" 'BEGIN { print k / 1024 }')"
    done
    echo
    echo "$PARALLEL at once: the median of $PARALLEL_REPEATS bursts. Peak RSS: /usr/bin/time's maximum"
    echo "resident set size, the largest single process of the runtime's process tree (median of $RSS_RUNS runs)."
  fi
  if [[ -n $TIMINGS ]]; then
    echo
    echo "Where mycontainer's time goes (\`mycontainer run --timings\`, one run):"
    echo
    echo '```'
    printf '%s\n' "$TIMINGS"
    echo '```'
  fi
} >"$OUT/results.md"

# Everything else as JSON too, beside hyperfine's files.
for key in "${ORDER[@]}"; do
  jq -n --arg key "$key" --arg name "${LABEL[$key]}" --arg cmd "${CMDLINE[$key]}" \
    --arg note "${NOTE[$key]:-}" --arg median "${MEDIAN[$key]}" \
    --arg seq "${SEQ[$key]:-}" --arg par "${PAR[$key]:-}" --arg rss "${RSS[$key]:-}" \
    --arg fails "${FAILS[$key]:-}" --argjson n "$SEQUENTIAL" --argjson p "$PARALLEL" \
    '{key: $key, name: $name, command: $cmd, note: $note, median_ms: ($median | tonumber),
      sequential: {containers: $n, seconds: ($seq | tonumber? // null)},
      parallel: {containers: $p, seconds: ($par | tonumber? // null)},
      peak_rss_kib: ($rss | tonumber? // null), failed_runs: ($fails | tonumber? // null)}'
done | jq -s --args '{runtimes: ., excluded: $ARGS.positional}' "${EXCLUDED[@]}" \
  >"$OUT/summary.json"

echo
cat -- "$OUT/results.md"
echo
log "raw results: $OUT/hyperfine-*.json, $OUT/summary.json; this table: $OUT/results.md"

# === Left behind? ============================================================================

left=$( (runc list -q; crun list -q) 2>/dev/null | grep -c "^$ID" || true)
cgroups=$(find /sys/fs/cgroup -maxdepth 6 -type d -name "$ID*" 2>/dev/null | wc -l)
if ((left > 0 || cgroups > 0)); then
  warn "left behind: $left runc/crun containers, $cgroups cgroups named $ID* (the exit trap deletes the containers)"
fi
