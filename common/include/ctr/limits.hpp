// What a container may use (memory, CPU time, processes), and the parsers that turn --memory,
// --cpus and --pids into those numbers, with docker's units and rules. The cgroup files that
// enforce them are Cgroup's business (cgroup.hpp).
#pragma once

#include <cstdint>      // uint64_t
#include <optional>     // std::optional
#include <string>       // std::string
#include <string_view>  // std::string_view

namespace ctr {

// What a container may use; an empty optional means "no limit".
struct Limits {
  std::optional<uint64_t> memory_bytes = {};  // memory.max (v2), memory.limit_in_bytes (v1)
  std::optional<double> cpus = {};            // CPUs' worth of time: 0.5 = half of one CPU
  std::optional<uint64_t> pids = {};          // most processes and threads at once
  // Memory plus swap (OCI linux.resources.memory.swap, as podman and containerd send it): -1
  // unlimited swap; unset: memory_bytes, i.e. no swap at all (docker's --memory alone).
  std::optional<int64_t> memory_swap_bytes = {};
  // The CPU's relative weight under contention (OCI linux.resources.cpu.shares, 2..262144,
  // 1024 the default): v1 cpu.shares, v2 cpu.weight converted (1..10000).
  std::optional<uint64_t> cpu_shares = {};
};

// The CFS period we use: the quota is cpus * kCpuPeriodUsec microseconds per period
// (cpu.max in cgroup-v2.rst "CPU Interface Files"; cpu.cfs_period_us in cgroup-v1/cfs).
inline constexpr uint64_t kCpuPeriodUsec = 100000;
// Docker refuses memory limits below 6 MiB: the runtime's own child needs a few MiB in the
// cgroup before it execs the command, and would be OOM-killed in confusing places.
inline constexpr uint64_t kMinMemoryBytes = uint64_t{6} * 1024 * 1024;
// The kernel's PID_MAX_LIMIT on 64-bit (include/linux/threads.h): pids.max above it is moot.
inline constexpr uint64_t kMaxPidsLimit = 4194304;

// "1048576", "512k", "64m", "1g", "1.5g", "64MiB", "64mb" -> bytes. Binary units like docker
// (k = 1024); suffixes b, k, m, g, t, case-insensitive, optionally followed by "b" or "ib".
// Fractions round down to whole bytes. Throws UsageError on empty, negative, garbage or
// overflow; `what` names the value in the message ("memory size").
uint64_t parse_size(std::string_view text, std::string_view what = "size");
// The other way: 67108864 -> "64 MiB", 1536 -> "1.5 KiB", 100 -> "100 B".
std::string format_size(uint64_t bytes);
// parse_size() for --memory: also refuses less than kMinMemoryBytes.
uint64_t parse_memory_limit(std::string_view text);
// "0.5", "2" -> CPUs, from 0.01 (a quota of 1 ms, the kernel's minimum) to the number of
// online CPUs, like docker's --cpus. Throws UsageError otherwise.
double parse_cpus(std::string_view text);
double parse_cpus(std::string_view text, unsigned online_cpus);
// "100" -> 100: a positive whole number up to kMaxPidsLimit. Leave the limit out for no
// limit (docker's -1). Throws UsageError otherwise.
uint64_t parse_pids_limit(std::string_view text);

}  // namespace ctr
