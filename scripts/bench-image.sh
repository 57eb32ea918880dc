# shellcheck shell=bash
# shellcheck disable=SC2153,SC2154  # RUNS, ROUNDS, WARMUP, ROOTFS, MYCONTAINER, WORK, OUT: bench.sh's
# `scripts/bench.sh --image`: the start of a container whose root is an image's layers (an
# overlay: runtime/overlay.hpp) against the same container on a plain --rootfs directory,
# side by side in the same rounds. Sourced by bench.sh (it uses RUNS, ROUNDS, WARMUP, ROOTFS,
# MYCONTAINER, WORK, OUT, log, die).
#
# Both run /bin/true with --net none from a config.json that `mycontainer spec` wrote, so the
# only difference is the root: the image's root has two layers (the rootfs, and a small layer
# above it), and the runtime makes the container's upper and work directories, mounts the
# overlay in the container's mount namespace, and removes the directories at the end.
# With BENCH_IMAGE=REF (an image in the store, `mycontainer load`), `run REF /bin/true` is
# measured too: the store lookup and the image config on top.
# Goal (#13): the overlay adds at most 0.5 ms to the median.

image_mode() {
  local layer=$WORK/layer spec
  mkdir -p "$layer/app"
  echo 1 >"$layer/app/version"
  spec=$("$MYCONTAINER" spec --rootfs "$ROOTFS" --net none -- /bin/true)
  printf '%s\n' "$spec" >"$WORK/rootfs.json"
  jq --arg layers "$(jq -cn --arg a "$ROOTFS" --arg b "$layer" '[$a, $b]')" \
    '.annotations["io.mycontainer.root.layers"] = $layers' <<<"$spec" >"$WORK/image.json"
  local -a names=("run --rootfs DIR" "run, root of 2 image layers") cmds=(
    "$MYCONTAINER run --config $WORK/rootfs.json"
    "$MYCONTAINER run --config $WORK/image.json"
  )
  if [[ -n ${BENCH_IMAGE:-} ]]; then
    names+=("run $BENCH_IMAGE")
    cmds+=("$MYCONTAINER run --net none $BENCH_IMAGE /bin/true")
  fi
  local round i args=()
  for ((i = 0; i < ${#cmds[@]}; i++)); do args+=(-n "${names[i]}" "${cmds[i]}"); done
  for ((round = 1; round <= ROUNDS; round++)); do
    log "image round $round/$ROUNDS: ${#cmds[@]} commands, $RUNS runs each"
    hyperfine -N --style basic --warmup "$WARMUP" --runs "$RUNS" \
      --export-json "$OUT/hyperfine-image-$round.json" "${args[@]}" >/dev/null
  done
  # Medians over the runs of every round, and the difference to --rootfs.
  jq -rs --arg base "run --rootfs DIR" '
    [.[].results[]] | group_by(.command) | map({command: .[0].command,
      times: (map(.times[]) | sort)}) | map(.median = .times[(.times | length) / 2 | floor])
    | (map(select(.command == $base))[0].median) as $b
    | (map(select(.command == $base))[0].times[0]) as $bmin
    | "| start of one container (/bin/true) | median | vs --rootfs | fastest | vs --rootfs |",
      "|---|---:|---:|---:|---:|",
      (.[] | "| \(.command) | \(.median * 1000 * 1000 | round / 1000) ms | \(
        if .command == $base then "" else "+\((.median - $b) * 1000 * 1000 | round / 1000) ms" end) | \(
        .times[0] * 1000 * 1000 | round / 1000) ms | \(
        if .command == $base then "" else "+\((.times[0] - $bmin) * 1000 * 1000 | round / 1000) ms" end) |")
  ' "$OUT"/hyperfine-image-*.json | tee "$OUT/image-table.md"
}
