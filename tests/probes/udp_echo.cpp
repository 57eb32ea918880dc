// probe_udp_echo PORT [COUNT]: a UDP server for the published-port tests (busybox has none).
// Answers each datagram with "echo: " and its bytes, COUNT times (default 1), then exits.
// Built static (tests/CMakeLists.txt) so it runs in the busybox rootfs.
#include <netinet/in.h>  // sockaddr_in
#include <sys/socket.h>  // socket(2), bind(2), recvfrom(2), sendto(2)

#include <cstdio>   // std::perror
#include <cstdlib>  // std::atoi
#include <string>   // std::string

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(std::atoi(argv[1])));
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    std::perror("udp_echo: bind");
    return 1;
  }
  std::puts("listening");
  std::fflush(stdout);
  for (int n = argc > 2 ? std::atoi(argv[2]) : 1; n > 0; --n) {
    char buf[512];
    sockaddr_in from{};
    socklen_t len = sizeof from;
    const ssize_t got =
        ::recvfrom(fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
    if (got < 0) return 1;
    const std::string reply = "echo: " + std::string(buf, static_cast<size_t>(got));
    ::sendto(fd, reply.data(), reply.size(), 0, reinterpret_cast<sockaddr*>(&from), len);
  }
  return 0;
}
