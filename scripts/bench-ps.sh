#!/usr/bin/env bash
# `ps` with many detached containers, measured alone (#14, tests/bench/RESULTS.md): N fake
# records, all "running", in a records root of their own (MC_RECORDS_ROOT), an empty state
# root of their own (--root), so that nothing else on the host is listed.
#
#   scripts/bench-ps.sh [N] [BINARY...]     # default N=500, BINARY build/bin/mycontainer
#
# Every record's monitor is one live process (a python3 that sleeps): so each record costs
# what a live monitor costs. It holds a lock on each record's byte as mycontainer-monitor does
# (runtime/monitor_lock.hpp): an open file description lock (OFD), through a descriptor of its
# own for each byte, so that the kernel keeps N locks, as it does for N monitors (one process's
# POSIX locks on adjacent bytes would be merged into one, and each question about a byte would
# cost less than with real monitors). Each byte is locked twice: in the file of 16 that the
# byte chooses (monitors.lock.I, I = (byte >> 1) % 16), as monitors do now, and in the one
# monitors.lock of earlier versions, so that an older binary finds its locks too (each binary
# walks only the locks of the file it asks). Its pid and start time are in each record.json, so
# a mycontainer that checks /proc/PID/stat finds it alive too. The records are written as
# record.json and as lines of the index (runtime/record_index.hpp): each version of mycontainer
# reads what it knows.
#
# Each BINARY runs `ps` with 0 and with N records, under `perf stat -r REPEAT` (CPU time of
# the process, task-clock; wall time), ROUNDS rounds, the binaries alternating in each round
# so that the machine's changing load hits them alike; /bin/true is the floor (what starting
# any process costs here). Printed: the mean of each round, then the ratios to the first
# BINARY. BENCH_PS_ROUNDS (3) and BENCH_PS_REPEAT (30) change the counts. No root needed.
set -euo pipefail
export LC_ALL=C
# shellcheck source=scripts/lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

N=${1:-500}
shift || true
binaries=("$@")
((${#binaries[@]})) || binaries=("$MC_BUILD_DIR/bin/mycontainer")
ROUNDS=${BENCH_PS_ROUNDS:-3}
REPEAT=${BENCH_PS_REPEAT:-30}
[[ $N =~ ^[0-9]+$ ]] || die "N must be a number (usage: scripts/bench-ps.sh [N] [BINARY...])"
for b in "${binaries[@]}"; do [[ -x $b ]] || die "not a program: $b"; done
command -v perf >/dev/null || die "perf is needed (apt-get install linux-perf)"
command -v python3 >/dev/null || die "python3 is needed (the records' monitor)"

tmp=$(mktemp -d /tmp/mc-bench-ps-XXXXXX)
holder=""
finish() {
  [[ -n $holder ]] && kill "$holder" 2>/dev/null
  rm -rf -- "$tmp"
}
trap finish EXIT
mkdir -p "$tmp/state" "$tmp/empty" "$tmp/records/containers"
: >"$tmp/records/monitors.lock"
for ((i = 0; i < 16; i++)); do : >"$tmp/records/monitors.lock.$i"; done

# The lock bytes, one per record (any distinct numbers: these are fake monitors).
seq 1000001 $((1000000 + N)) >"$tmp/bytes"
# The monitor: locks each byte (a read lock, F_OFD_SETLK, as the monitor takes: fcntl(2)) on
# a descriptor of its own, in the byte's file and in the old single file, says so, sleeps.
python3 -c '
import fcntl, os, resource, struct, sys, time
_, most = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (most, most))
fds = []
for line in open(sys.argv[2]):
    byte = int(line)
    for path in (f"{sys.argv[1]}.{(byte >> 1) % 16}", sys.argv[1]):
        fd = os.open(path, os.O_RDONLY)
        # struct flock: l_type, l_whence (short), l_start, l_len (off_t), l_pid (int)
        lock = struct.pack("hhqqi4x", fcntl.F_RDLCK, os.SEEK_SET, byte, 1, 0)
        fcntl.fcntl(fd, fcntl.F_OFD_SETLK, lock)
        fds.append(fd)
print("ready", flush=True)
time.sleep(100000)
' "$tmp/records/monitors.lock" "$tmp/bytes" >"$tmp/holder.out" &
holder=$!
for _ in $(seq 100); do
  grep -q ready "$tmp/holder.out" 2>/dev/null && break
  sleep 0.1
done
grep -q ready "$tmp/holder.out" || die "the monitor stand-in did not start"
# proc(5) field 22, the start time: the fields after the command's closing parenthesis.
start_time=$(sed 's/.*) //' "/proc/$holder/stat" | cut -d' ' -f20)
now=$(date +%s%N)

log "making $N records in $tmp/records"
printf 'mycontainer-index 1\n' >"$tmp/records/index"
dirs=()
for ((i = 1; i <= N; i++)); do
  printf -v id '%064x' "$i"
  dirs+=("$tmp/records/containers/$id")
done
((N == 0)) || mkdir "${dirs[@]}"
i=0
while read -r byte; do
  i=$((i + 1))
  printf -v id '%064x' "$i" # builtins only: a fork costs milliseconds on a loaded machine
  name=bench-$i
  created=$((now - i * 1000000000))
  printf '{"id":"%s","name":"%s","image":"/srv/rootfs","command":["/bin/sleep","900000"],"created_ns":%s,"auto_remove":false,"stop_timeout":10,"ports":["8080:80/tcp"],"status":"running","pid":%s,"monitor_pid":%s,"monitor_start_time":%s,"monitor_lock":%s,"started_ns":%s,"finished_ns":0,"exit_code":0,"restart_count":0}' \
    "$id" "$name" "$created" "$holder" "$holder" "$start_time" "$byte" "$created" \
    >"$tmp/records/containers/$id/record.json"
  printf '%s\t%s\t/srv/rootfs\t%s\t0\t10\trunning\t%s\t%s\t%s\t%s\t%s\t0\t0\t0\t1\t8080:80/tcp\t2\t/bin/sleep\t900000\n' \
    "$id" "$name" "$created" "$holder" "$holder" "$start_time" "$byte" "$created" \
    >>"$tmp/records/index"
done <"$tmp/bytes"

# The same listing from every binary (the times in CREATED and STATUS aside, which move).
fields='{{.ID}}|{{.Image}}|{{.Command}}|{{.Ports}}|{{.Names}}|{{.State}}'
for k in "${!binaries[@]}"; do
  MC_RECORDS_ROOT=$tmp/records "${binaries[$k]}" --root "$tmp/state" ps --format "$fields" >"$tmp/out.$k"
  cmp -s "$tmp/out.0" "$tmp/out.$k" || warn "${binaries[$k]} lists the records unlike ${binaries[0]}"
done
lines=$(wc -l <"$tmp/out.0")
((lines == N)) || warn "ps listed $lines containers, not $N"

# measure RECORDS CMD...: "cpu_ms wall_ms" of CMD, the means of perf stat -r REPEAT.
measure() {
  local records=$1
  shift
  MC_RECORDS_ROOT=$records perf stat -r "$REPEAT" -o "$tmp/perf" "$@" >/dev/null 2>&1
  awk '/task-clock/ {cpu = $1} /seconds time elapsed/ {wall = $1 * 1000}
       END {printf "%.2f %.2f\n", cpu, wall}' "$tmp/perf"
}

log "measuring: ${#binaries[@]} binaries, $ROUNDS rounds of perf stat -r $REPEAT, load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-8s %-40s %8s %12s %12s\n' round program records "cpu_ms" "wall_ms"
declare -A sum_cpu sum_wall
for ((round = 1; round <= ROUNDS; round++)); do
  read -r cpu wall < <(measure "$tmp/empty" /bin/true)
  printf '%-8s %-40s %8s %12s %12s\n' "$round" /bin/true - "$cpu" "$wall"
  sum_cpu[floor]=$(awk -v a="${sum_cpu[floor]:-0}" -v b="$cpu" 'BEGIN {print a + b}')
  sum_wall[floor]=$(awk -v a="${sum_wall[floor]:-0}" -v b="$wall" 'BEGIN {print a + b}')
  for k in "${!binaries[@]}"; do
    for records in 0 "$N"; do
      root=$tmp/records
      ((records == 0)) && root=$tmp/empty
      read -r cpu wall < <(measure "$root" "${binaries[$k]}" --root "$tmp/state" ps)
      printf '%-8s %-40s %8s %12s %12s\n' "$round" "${binaries[$k]}" "$records" "$cpu" "$wall"
      sum_cpu[$k.$records]=$(awk -v a="${sum_cpu[$k.$records]:-0}" -v b="$cpu" 'BEGIN {print a + b}')
      sum_wall[$k.$records]=$(awk -v a="${sum_wall[$k.$records]:-0}" -v b="$wall" 'BEGIN {print a + b}')
    done
  done
done

mean() { awk -v s="$1" -v n="$ROUNDS" 'BEGIN {printf "%.2f", s / n}'; }
echo
printf 'means of %s rounds (load now %s)\n' "$ROUNDS" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-40s %8s %10s %10s %12s %12s\n' program records cpu_ms wall_ms "cpu ÷ 1st" "wall ÷ 1st"
printf '%-40s %8s %10s %10s\n' "/bin/true (floor)" - "$(mean "${sum_cpu[floor]}")" "$(mean "${sum_wall[floor]}")"
for k in "${!binaries[@]}"; do
  for records in 0 "$N"; do
    printf '%-40s %8s %10s %10s %12s %12s\n' "${binaries[$k]}" "$records" \
      "$(mean "${sum_cpu[$k.$records]}")" "$(mean "${sum_wall[$k.$records]}")" \
      "$(awk -v a="${sum_cpu[$k.$records]}" -v b="${sum_cpu[0.$records]}" 'BEGIN {printf "%.2f", a / b}')" \
      "$(awk -v a="${sum_wall[$k.$records]}" -v b="${sum_wall[0.$records]}" 'BEGIN {printf "%.2f", a / b}')"
  done
done
