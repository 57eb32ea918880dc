// The heap a command is about to use, asked for in one system call instead of one page fault
// per page (#16 warm start, #14 ps).
//
// malloc(3) gets its heap from the kernel as a range of addresses only: each page becomes
// memory when it is first written, through a page fault (a trap into the kernel, which
// zeroes a page and maps it). On bare metal a fault costs about a microsecond; on a virtual
// machine each one may also exit to the hypervisor. Measured here with
// tests/bench/page_faults.c: 10 to 11 µs a fault, against 0.5 to 0.6 µs a page for
// madvise(2) MADV_POPULATE_WRITE (Linux 5.14), which makes a whole range present at once.
// A `mycontainer run` wrote about 60 new heap pages, one fault each, and `ps` with 500
// containers about 60 too (tests/bench/RESULTS.md, "Page faults and exceptions").
//
// populate_heap() has malloc take a heap of at least `bytes` from the kernel now (mallopt(3)
// M_TOP_PAD: each growth of the heap adds that much) and keep it (M_TRIM_THRESHOLD: free()
// does not give it back), then populates all of it. The price is memory the command might
// not have touched (at most `bytes` more resident). On an older kernel madvise says EINVAL
// and the pages fault in one by one, as without this call.
#pragma once

#include <cstddef>

namespace ctr {

// Best effort: never fails, only does less on kernels without MADV_POPULATE_WRITE.
void populate_heap(std::size_t bytes) noexcept;

}  // namespace ctr
