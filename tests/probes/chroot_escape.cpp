// Probe: the classic chroot escape, run inside a container by the step tests.
//
//   chroot_escape DIR MARKER
//
// A process that is root in a chroot can make a second chroot below its working directory:
// its working directory is then *outside* its root, and `..` walks up past the old root to
// the real one (chroot(2) NOTES). If that works, MARKER (a file the test made on the host,
// outside the rootfs) becomes readable. Prints ESCAPED or CONTAINED. Harmless either way:
// it only reads the marker.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: chroot_escape DIR MARKER\n");
    return 2;
  }
  if (::chdir("/") != 0 || ::chroot(argv[1]) != 0) {  // working directory now outside the root
    std::perror("chroot");
    std::puts("CONTAINED");
    return 0;
  }
  for (int i = 0; i < 256; ++i) {
    if (::chdir("..") != 0) break;
  }
  if (::chroot(".") != 0) std::perror("chroot(.)");
  struct stat st {};
  std::puts(::stat(argv[2], &st) == 0 ? "ESCAPED" : "CONTAINED");
  return 0;
}
