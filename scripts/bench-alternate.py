#!/usr/bin/env python3
"""Start-to-exit times of a few commands, measured alternately: one run of each in turn.

    bench-alternate.py [--runs N] [--warmup N] [--json FILE] -n NAME 'CMD ARGS' -n NAME 'CMD ...'

hyperfine runs all the runs of one command, then all of the next: on a shared machine a
burst of someone else's work then lands on one command only. Here every round runs each
command once (the order reversed every other round), so a burst lands on all of them alike,
and the difference of two commands in the same round (the "paired" difference) cancels most
of what the machine's load adds. The table gives, for each command, the median and the
fastest run, the difference of its median to the first command's, and the median of the
per-round differences (the figure to trust on a loaded machine).

Commands are split like a shell would (shlex) but no shell runs them: posix_spawn, then
wait4, timed with the monotonic clock, their output to /dev/null. A command that fails stops
the benchmark with its exit status.
"""

import argparse
import json
import os
import shlex
import statistics
import sys
import time


def run_once(argv):
    """Runs argv to its end; returns its wall time and its CPU time (user + system, its
    waited-for children included: wait4(2)), in seconds."""
    devnull = os.open(os.devnull, os.O_RDWR)
    try:
        actions = [(os.POSIX_SPAWN_DUP2, devnull, 1), (os.POSIX_SPAWN_DUP2, devnull, 2)]
        start = time.perf_counter_ns()
        pid = os.posix_spawnp(argv[0], argv, os.environ, file_actions=actions)
        _, status, usage = os.wait4(pid, 0)
        elapsed = time.perf_counter_ns() - start
    finally:
        os.close(devnull)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.exit(f"error: '{shlex.join(argv)}' exited with {code}: run it alone to see why")
    return elapsed / 1e9, usage.ru_utime + usage.ru_stime


def ms(seconds):
    return f"{seconds * 1000:.3f} ms"


def table(names, times, cpu):
    """Markdown: median, fastest, the differences to the first command, and CPU time."""
    base = times[0]
    lines = [
        "| start to exit | median | fastest | median - first's | per-round difference (median) "
        "| CPU time (median) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, t, c in zip(names, times, cpu):
        if t is base:
            lines.append(f"| {name} | {ms(statistics.median(t))} | {ms(min(t))} | | "
                         f"| {ms(statistics.median(c))} |")
            continue
        diff = statistics.median(t) - statistics.median(base)
        paired = statistics.median(a - b for a, b in zip(t, base))
        lines.append(
            f"| {name} | {ms(statistics.median(t))} | {ms(min(t))} | {diff * 1000:+.3f} ms "
            f"| {paired * 1000:+.3f} ms | {ms(statistics.median(c))} |"
        )
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50, help="timed rounds (default 50)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed rounds first (default 3)")
    parser.add_argument("--json", help="also write the times here (seconds, per command)")
    parser.add_argument("-n", nargs=2, action="append", metavar=("NAME", "COMMAND"),
                        required=True, help="a command to measure, and its name in the table")
    args = parser.parse_args()
    names = [n for n, _ in args.n]
    commands = [shlex.split(c) for _, c in args.n]
    times = [[] for _ in commands]
    cpu = [[] for _ in commands]
    load_before = os.getloadavg()[0]
    for round_ in range(args.warmup + args.runs):
        order = list(range(len(commands)))
        if round_ % 2:
            order.reverse()
        for i in order:
            elapsed, cpu_time = run_once(commands[i])
            if round_ >= args.warmup:
                times[i].append(elapsed)
                cpu[i].append(cpu_time)
    load_after = os.getloadavg()[0]
    print(table(names, times, cpu))
    print(f"\n{args.runs} rounds (+{args.warmup} warm-up), load average {load_before:.1f} "
          f"at the start, {load_after:.1f} at the end")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump({"load": [load_before, load_after],
                       "results": [{"command": n, "times": t, "cpu": c}
                                   for n, t, c in zip(names, times, cpu)]},
                      out)


if __name__ == "__main__":
    main()
