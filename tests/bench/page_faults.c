// What a page fault costs on this machine, against asking for the same pages in one call.
// The start of a container is short enough that page faults are a large part of it on a
// virtual machine (tests/bench/RESULTS.md, "Page faults and exceptions on the start path").
//
//   cc -O2 -o /tmp/page_faults tests/bench/page_faults.c && /tmp/page_faults FILE
//
// Prints the median of 21 rounds, in microseconds per fault or per page:
//   anonymous  256 new pages of memory written one by one (a fault each: the kernel zeroes a
//              page and maps it), against madvise(2) MADV_POPULATE_WRITE of the same range;
//   file       the first 5 MiB of FILE (any file in the page cache: the mycontainer binary)
//              read every 64 KiB (one fault maps the 16 pages around it, "fault-around"),
//              against MADV_POPULATE_READ of all 1280 pages.
// Linux 5.14 or later (MADV_POPULATE_*). No root needed.
#define _GNU_SOURCE
#include <fcntl.h>     // open(2)
#include <stdio.h>     // printf(3)
#include <stdlib.h>    // qsort(3)
#include <sys/mman.h>  // mmap(2), madvise(2)
#include <time.h>      // clock_gettime(2)
#include <unistd.h>    // close(2)

enum { kRounds = 21, kAnonPages = 256, kPage = 4096, kFileBytes = 5 << 20, kStride = 64 << 10 };

static double now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static int by_value(const void* a, const void* b) {
  const double x = *(const double*)a, y = *(const double*)b;
  return (x > y) - (x < y);
}

static double median(double* v) {
  qsort(v, kRounds, sizeof *v, by_value);
  return v[kRounds / 2];
}

// One round of each way for anonymous memory; the times go to touched[r] and populated[r].
static void anonymous_round(int r, double* touched, double* populated) {
  const size_t size = (size_t)kAnonPages * kPage;
  volatile char* a = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  double t = now_us();
  for (size_t i = 0; i < size; i += kPage) a[i] = 1;
  touched[r] = (now_us() - t) / kAnonPages;
  char* b = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  t = now_us();
  madvise(b, size, MADV_POPULATE_WRITE);
  populated[r] = (now_us() - t) / kAnonPages;
  munmap((void*)a, size);
  munmap(b, size);
}

// The same for the file: per fault (touched) and per page (populated).
static void file_round(int fd, int r, double* touched, double* populated) {
  volatile char* a = mmap(NULL, kFileBytes, PROT_READ, MAP_PRIVATE, fd, 0);
  char sum = 0;
  double t = now_us();
  for (size_t i = 0; i < kFileBytes; i += kStride) sum += a[i];
  touched[r] = (now_us() - t) / (kFileBytes / kStride);
  char* b = mmap(NULL, kFileBytes, PROT_READ, MAP_PRIVATE, fd, 0);
  t = now_us();
  madvise(b, kFileBytes, MADV_POPULATE_READ);
  populated[r] = (now_us() - t) / (kFileBytes / kPage);
  munmap((void*)a, kFileBytes);
  munmap(b, kFileBytes);
  (void)sum;
}

int main(int argc, char** argv) {
  if (argc != 2) return fprintf(stderr, "usage: %s FILE (5 MiB or more)\n", argv[0]), 2;
  const int fd = open(argv[1], O_RDONLY | O_CLOEXEC);
  if (fd < 0 || lseek(fd, 0, SEEK_END) < kFileBytes) return perror(argv[1]), 2;
  double at[kRounds], ap[kRounds], ft[kRounds], fp[kRounds];
  for (int r = 0; r < kRounds; ++r) {
    anonymous_round(r, at, ap);
    file_round(fd, r, ft, fp);
  }
  close(fd);
  printf("anonymous: %.2f us per fault, %.2f us per page populated\n", median(at), median(ap));
  printf("file:      %.2f us per fault (16 pages each), %.3f us per page populated\n", median(ft),
         median(fp));
  return 0;
}
