#include "runtime/memory.hpp"

#include <malloc.h>    // mallopt, mallinfo2
#include <sys/mman.h>  // madvise, MADV_POPULATE_WRITE
#include <unistd.h>    // sbrk, sysconf

#include <cstdint>
#include <cstdlib>

namespace ctr {

void populate_heap(std::size_t bytes) noexcept {
  // malloc grows its heap with brk(2) by what a request needs plus M_TOP_PAD (128 KiB by
  // default), and gives the top back once more than M_TRIM_THRESHOLD of it is free
  // (mallopt(3)). With these, the next growth takes the whole heap and free() keeps it.
  const int size = static_cast<int>(bytes);
  mallopt(M_TOP_PAD, size);
  mallopt(M_TRIM_THRESHOLD, 2 * size);
  // A request one byte larger than the free top of the heap (mallinfo2's keepcost) makes
  // malloc grow it now. `volatile`: the compiler may not drop the pair as unused.
  void* volatile grow = std::malloc(mallinfo2().keepcost + 1);
  std::free(grow);

  // The main heap is one range that ends at the program break (sbrk(0)) and is `arena` bytes
  // long (mallinfo2(3)); madvise wants its start on a page boundary. (Under AddressSanitizer
  // malloc is not glibc's: arena is 0, and nothing happens.)
  char* const end = static_cast<char*>(::sbrk(0));
  char* start = end - mallinfo2().arena;
  const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  start -= reinterpret_cast<std::uintptr_t>(start) & (page - 1);
  // EINVAL before Linux 5.14: the pages then fault in one by one, as without this call.
  (void)::madvise(start, static_cast<std::size_t>(end - start), MADV_POPULATE_WRITE);
}

}  // namespace ctr
