// Linked only with the static libraries (common/CMakeLists.txt, MC_STATIC_LIBS), which link
// with -Wl,--wrap=getaddrinfo,--wrap=getprotobyname,--wrap=getprotobynumber.
//
// Why: libnl's addr.o and utils.o, which we need for netlink, also hold nl_addr_info() and
// nl_str2ip_proto()/nl_ip_proto2str(), which we never call. They call getaddrinfo(3) and
// getprotobyname(3), and in a static program those go through glibc's NSS plugins, which it
// can only load from the exact glibc it was linked with: ld warns "Using 'getaddrinfo' in
// statically linked applications requires at runtime the shared libraries from the glibc
// version used for linking" at every link. --wrap (ld(1)) sends libnl's references to the
// functions below instead, so glibc's are not linked at all: no warning, and no name service
// in the runtime. Nothing of ours resolves names: addresses and protocols are numbers here.
#include <netdb.h>  // getaddrinfo(3), getprotobyname(3), EAI_NONAME

// The names are ld's: --wrap=SYMBOL resolves SYMBOL to __wrap_SYMBOL (reserved identifiers,
// on purpose).
// NOLINTBEGIN(bugprone-reserved-identifier)
extern "C" {

// "The name does not resolve": what getaddrinfo says for a name it cannot find.
int __wrap_getaddrinfo(const char* /*node*/, const char* /*service*/,
                       const struct addrinfo* /*hints*/, struct addrinfo** result) {
  if (result != nullptr) *result = nullptr;
  return EAI_NONAME;
}

// "No such protocol" (libnl then accepts a number: nl_str2ip_proto).
struct protoent* __wrap_getprotobyname(const char* /*name*/) {
  return nullptr;
}
struct protoent* __wrap_getprotobynumber(int /*proto*/) {
  return nullptr;
}

}  // extern "C"
// NOLINTEND(bugprone-reserved-identifier)
