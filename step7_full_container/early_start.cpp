// The program's first instructions: its own data asked for in one go, before the C library
// starts (#16, the warm start). Linked into mycontainer as a static PIE only: the ELF entry
// point is mycontainer_start below (-Wl,--entry, CMakeLists.txt), which jumps on to the C
// library's _start with the stack and registers the kernel gave it.
//
// Why. A static PIE is loaded at a random address and relocates itself before main (glibc's
// _dl_relocate_static_pie): it writes the address it was loaded at into each of the ~6400
// pointers of its data (vtables, the GOT: R_X86_64_RELATIVE relocations, `readelf -r`).
// Those pages are the program file's, mapped private: the first write to each one traps
// (a page fault that copies it, copy-on-write), and so does the first touch of each page of
// its .bss and of the stack below what the kernel set up. About 45 faults before main, of
// 150 in a `run --net none /bin/true`, at 10 to 16 µs each on this virtual machine, where
// every fault exits to the hypervisor (tests/bench/RESULTS.md, "Page faults and exceptions").
// madvise(2) MADV_POPULATE_WRITE (Linux 5.14) makes a whole range present and writable in one
// call, at about half a microsecond a page; MADV_POPULATE_READ maps what the relocation
// reads (the relocation table, in the first segment). On an older kernel both say EINVAL and
// the pages fault in one by one, as without this file.
//
// Where nothing is set up yet: no relocation applied (a pointer stored in the data is still
// the link-time value; only addresses the code computes relative to itself are right, as
// the linker's hidden __ehdr_start is), no thread pointer (so no errno, no stack protector),
// no C library. Hence the system call by hand, and no call into anything else.
#include <elf.h>          // Elf64_Ehdr, Elf64_Phdr, PT_LOAD, PF_W
#include <sys/mman.h>     // MADV_POPULATE_READ, MADV_POPULATE_WRITE
#include <sys/syscall.h>  // SYS_madvise

#include <cstdint>

#if defined(__x86_64__)

namespace {

constexpr std::uintptr_t kPage = 4096;  // x86-64's base page
// How much of the stack below the entry's stack pointer: `run` goes about 30 KiB deep.
constexpr std::uintptr_t kStackBytes = std::uintptr_t{64} * 1024;

// madvise(2), as a bare system call: the C library's wrapper would set errno on failure, and
// errno lives where the thread pointer points, which is not set up yet. A failure is only
// the faults coming back, one by one.
__attribute__((no_stack_protector)) inline void populate(std::uintptr_t start, std::uintptr_t end,
                                                         long advice) {
  start &= ~(kPage - 1);
  long ret;
  asm volatile("syscall"
               : "=a"(ret)
               : "a"(SYS_madvise), "D"(start), "S"(end - start), "d"(advice)
               : "rcx", "r11", "memory");
}

// --- The read-only data after relocation, flushed from the TLB in one go ---
// Once relocated, glibc makes that data read-only (RELRO, mprotect(2) in _dl_protect_relro),
// and the kernel then flushes each of its pages from the TLB: one at a time up to 33 pages
// (x86's tlb_single_page_flush_ceiling), the whole TLB in one flush above that. On this
// virtual machine each one-page flush is a trip to the hypervisor: mprotect of 18 present
// pages took 315 µs, of 34 pages 45 µs, and nothing was slower afterwards
// (tests/bench/RESULTS.md, "Warm start, session 10"). Ours is 18 pages: these zeros, in a
// section that the linker places in that region (its default script takes every
// .data.rel.ro.*), make it larger than the ceiling. They cost 96 KiB of the file and of
// memory, and about 10 µs to populate above. The protection itself is unchanged.
__attribute__((section(".data.rel.ro.mycontainer_relro_pad"), used)) char relro_pad[24 * kPage];

}  // namespace

extern "C" {

// This program's ELF header, where it was loaded: defined by the linker (ld(1), "__ehdr_start"),
// hidden, so the compiler reaches it relative to the instruction pointer, with no relocation.
// A PIE's first segment starts at address 0, so its address is the load address.
extern const Elf64_Ehdr __ehdr_start  // NOLINT(bugprone-reserved-identifier): ld's own name
    __attribute__((visibility("hidden")));

__attribute__((used, visibility("hidden"), no_stack_protector)) void mycontainer_populate(
    std::uintptr_t stack_pointer) {
  const auto* header = reinterpret_cast<const char*>(&__ehdr_start);
  const auto base = reinterpret_cast<std::uintptr_t>(header);
  const auto* segments = reinterpret_cast<const Elf64_Phdr*>(header + __ehdr_start.e_phoff);
  bool first = true;
  for (int i = 0; i < __ehdr_start.e_phnum; ++i) {
    const Elf64_Phdr& s = segments[i];
    if (s.p_type != PT_LOAD) continue;
    const std::uintptr_t start = base + s.p_vaddr;
    if ((s.p_flags & PF_W) != 0) {
      populate(start, start + s.p_memsz, MADV_POPULATE_WRITE);  // data, relocated data, .bss
    } else if (first) {
      populate(start, start + s.p_filesz, MADV_POPULATE_READ);  // headers, relocation table
    }
    first = false;
  }
  // The stack: the kernel made its mapping 128 KiB deeper than the arguments (execve(2)).
  populate(stack_pointer - kStackBytes, stack_pointer, MADV_POPULATE_WRITE);
}

}  // extern "C"

// The entry point. The kernel starts the program here with the stack pointer on argc (16-byte
// aligned) and, in %rdx, a function for atexit (0 for a static program); glibc's _start
// expects both unchanged. %r12 and %r13 keep them across the call (the callee saves them,
// x86-64 psABI); .cfi_undefined rip marks the outermost frame for debuggers and unwinders.
asm(R"(
    .text
    .globl mycontainer_start
    .hidden mycontainer_start
    .type mycontainer_start, @function
mycontainer_start:
    .cfi_startproc
    .cfi_undefined rip
    endbr64
    mov %rdx, %r12
    mov %rsp, %r13
    mov %rsp, %rdi
    and $-16, %rsp
    call mycontainer_populate
    mov %r13, %rsp
    mov %r12, %rdx
    jmp _start
    .cfi_endproc
    .size mycontainer_start, . - mycontainer_start
)");

#endif  // __x86_64__
