// bench_ipam: what one address allocation costs when N containers already hold addresses.
//
// A container's start takes an address from ctr::Ipam (common/include/ctr/ipam.hpp). The
// cost must not grow with the number of running containers (issue 14: "with 500 containers,
// a start's network phase within 10% of the first one's"). Each benchmark fills a temporary
// lease directory with N leases held by this (live) process, as N running containers'
// runtimes would, then times allocate() + release() of one more.
//
//   build/bin/bench_ipam          # no root needed: the leases live in a temporary directory
//
// Also counted: the addresses allocate() looked at (probes per allocation).
#include <benchmark/benchmark.h>  // Google Benchmark (libbenchmark-dev)
#include <stdlib.h>               // mkdtemp(3)

#include <filesystem>  // std::filesystem
#include <string>      // std::string
#include <vector>      // std::vector

#include "ctr/ipam.hpp"  // ctr::Ipam, ctr::Lease

namespace {

namespace fs = std::filesystem;

fs::path make_temp_dir() {
  std::string pattern = (fs::temp_directory_path() / "mc-bench-ipam-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  return pattern;
}

// N containers hold addresses of 10.48.0.0/16 (65,533 hosts: room for any N here), taken by
// the allocator itself, then each iteration allocates one more and gives it back.
void BM_AllocateWithLeases(benchmark::State& state) {
  const fs::path dir = make_temp_dir();
  {
    ctr::Ipam ipam(ctr::parse_subnet("10.48.0.0/16"), dir);
    std::vector<ctr::Lease> held;
    held.reserve(static_cast<size_t>(state.range(0)));
    for (int64_t i = 0; i < state.range(0); ++i) held.push_back(ipam.allocate());
    for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores): the loop variable
      ctr::Lease lease = ipam.allocate();
      benchmark::DoNotOptimize(lease.address());
    }
  }
  fs::remove_all(dir);
}
BENCHMARK(BM_AllocateWithLeases)->Arg(0)->Arg(200)->Arg(500)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
