# shellcheck shell=bash
# shellcheck disable=SC2153,SC2154  # RUNS, ROUNDS, WARMUP, ROOTFS, MYCONTAINER, WORK, OUT: bench.sh's
# `scripts/bench.sh --image`: the start of a container from an image against the start of the
# same files with --rootfs, side by side in one run (#13, goal: the overlay adds at most
# 0.5 ms). Sourced by bench.sh (it uses RUNS, ROUNDS, WARMUP, ROOTFS, MYCONTAINER, WORK, OUT,
# log, die).
#
# The image is the rootfs itself: a tarball of ROOTFS, `mycontainer import`ed into a store of
# this run's own (WORK/store), one layer. Both commands run /bin/true with --net none:
#
#   mycontainer run --net none --rootfs ROOTFS /bin/true
#   mycontainer --store WORK/store run --net none mcbench-rootfs /bin/true
#
# so what differs is all that an image adds: the store's lookup and the image's config, the
# container's upper and work directories, the overlay's mount, the files reached through it,
# its teardown and the removal of the directories at the end.
#
# Alternating (scripts/bench-alternate.py): one run of each in turn, RUNS x ROUNDS rounds, so
# that a burst of other work on a shared machine lands on both; the table's last column is
# the median of the per-round differences, the figure to trust under load.
#
#   MYCONTAINER_BASELINE=PATH  another build's two commands in the same rounds (before/after)
#   BENCH_IMAGE=REF            also `run REF /bin/true` from the default store
#   BENCH_STATE_TMPFS=1        the state root (/run/mycontainer, where the upper and work
#                              directories are made) on a tmpfs, as /run is on most
#                              distributions: in a private mount namespace, the host's own
#                              /run/mycontainer untouched

image_mode() {
  local store=$WORK/store ref=mcbench-rootfs:latest baseline=${MYCONTAINER_BASELINE:-}
  log "importing $ROOTFS as the image $ref (store $store)"
  tar -C "$ROOTFS" -cf "$WORK/rootfs.tar" .
  "$MYCONTAINER" --store "$store" import "$WORK/rootfs.tar" "$ref" >/dev/null ||
    die "mycontainer import failed (is mycontainer-image built?)"

  local -a args=()
  local bin label
  for bin in "$MYCONTAINER" ${baseline:+"$baseline"}; do
    label=""
    [[ $bin == "$MYCONTAINER" ]] || label=" (baseline)"
    [[ -x $bin ]] || die "no executable $bin"
    args+=(-n "run --rootfs DIR$label" "$bin run --net none --rootfs $ROOTFS /bin/true")
    args+=(-n "run IMAGE$label" "$bin --store $store run --net none $ref /bin/true")
  done
  if [[ -n ${BENCH_IMAGE:-} ]]; then
    args+=(-n "run $BENCH_IMAGE" "$MYCONTAINER run --net none $BENCH_IMAGE /bin/true")
  fi

  local -a runner=(python3 "$MC_ROOT/scripts/bench-alternate.py" --runs "$((RUNS * ROUNDS))"
    --warmup "$WARMUP" --json "$OUT/image.json" "${args[@]}")
  log "image: $((${#args[@]} / 3)) commands alternating, $((RUNS * ROUNDS)) rounds"
  if [[ ${BENCH_STATE_TMPFS:-0} == 1 ]]; then
    # A private copy of the mount table (unshare(1) --propagation private): the tmpfs exists
    # only for the benchmark's processes and goes with them.
    # shellcheck disable=SC2016  # expanded by the inner bash
    unshare --mount --propagation private -- bash -c \
      'mkdir -p /run/mycontainer && mount -t tmpfs -o mode=0700 mcbench /run/mycontainer &&
       exec "$@"' bash "${runner[@]}" | tee "$OUT/image-table.md"
  else
    "${runner[@]}" | tee "$OUT/image-table.md"
  fi
}
