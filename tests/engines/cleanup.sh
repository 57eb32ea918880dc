#!/usr/bin/env bash
# The janitor of one engines test run: removes everything the run made, whether the test ended
# normally, failed, or was killed (even with SIGKILL).
#
#   cleanup.sh --wait DIR    # started by the test at its beginning: waits until its stdin
#                            # closes (the test process ended, however it ended), then cleans
#   cleanup.sh DIR           # cleans now
#
# DIR is the run's temporary directory. What to clean is written there by the test:
#   DIR/cgroups       one cgroup directory per line, made by the test (its cgroup parent in
#                     every tree, and the parents of it it had to make): removed deepest first,
#                     with whatever podman, conmon, containerd or a runtime made beneath, after
#                     killing the processes inside.
#   DIR/run-dirs      directories under /run the engines make by default (/run/containers/
#                     networks, /run/containerd/s...) that did not exist before the run:
#                     removed if empty.
# And every process whose command line names DIR (podman, conmon, containerd and its shims,
# the runtime wrappers) is killed, every mount under DIR is unmounted, and DIR is removed.
set -uo pipefail

wait_first=0
if [[ ${1:-} == --wait ]]; then
  wait_first=1
  shift
fi
dir=${1:?usage: cleanup.sh [--wait] DIR}
[[ $dir == /tmp/mct-engines-* ]] || { echo "cleanup.sh: refusing '$dir'" >&2; exit 2; }
if ((wait_first)); then
  # Our stdin is a pipe whose other end only the test holds: end of file = the test is gone.
  cat >/dev/null
fi

# Processes that name DIR on their command line, other than this script (and its subshells).
named_pids() {
  local pid args
  for pid in $(pgrep -f -- "$dir"); do
    args=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || continue
    [[ $args == *cleanup.sh* ]] || echo "$pid"
  done
}
kill_named() {
  local pid
  for pid in $(named_pids); do kill "-$1" "$pid" 2>/dev/null; done
}

# containerd first, politely (it stops its shims' event streams), then everyone else.
if [[ -f $dir/containerd/pid ]]; then
  kill -TERM "$(cat "$dir/containerd/pid")" 2>/dev/null
fi
kill_named TERM
for _ in $(seq 50); do
  [[ -z $(named_pids) ]] && break
  sleep 0.1
done
kill_named KILL

# Cgroups: kill what is inside (container processes do not name DIR), then rmdir deepest first.
remove_cgroup_tree() {
  local d=$1 pid
  [[ -d $d ]] || return 0
  for _ in $(seq 100); do
    while read -r pid; do kill -KILL "$pid" 2>/dev/null; done < <(find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null)
    # A frozen (paused) container cannot die: thaw it (v1 freezer, v2 cgroup.freeze).
    find "$d" -name freezer.state -exec sh -c 'echo THAWED >"$1"' _ {} \; 2>/dev/null
    find "$d" -name cgroup.freeze -exec sh -c 'echo 0 >"$1"' _ {} \; 2>/dev/null
    find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
    [[ -d $d ]] || return 0
    sleep 0.05
  done
  echo "cleanup.sh: could not remove cgroup $d" >&2
}
if [[ -f $dir/cgroups ]]; then
  tac "$dir/cgroups" | while read -r cg; do remove_cgroup_tree "$cg"; done
fi

# Mounts under DIR (overlay/shm/rootfs mounts of a container an engine did not tear down),
# deepest first.
findmnt -rn -o TARGET | grep -E "^$dir(/|$)" | sort -r | while read -r m; do
  umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
done

if [[ -f $dir/run-dirs ]]; then
  tac "$dir/run-dirs" | while read -r d; do rmdir -- "$d" 2>/dev/null; done
fi
rm -rf -- "$dir"
