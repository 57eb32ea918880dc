#include "runtime/netns.hpp"

#include <fcntl.h>  // open(2)
#include <sched.h>  // unshare(2), setns(2), CLONE_NEWNET

#include <fmt/format.h>  // fmt::format

#include "ctr/error.hpp"    // check
#include "ctr/narrate.hpp"  // narrate

namespace ctr {

UniqueFd make_netns() {
  UniqueFd ours(
      check(::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC), "open", "/proc/self/ns/net"));
  check(::unshare(CLONE_NEWNET), "unshare", "CLONE_NEWNET");
  UniqueFd made(check(::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC), "open",
                      "/proc/self/ns/net (the new one)"));
  check(::setns(ours.get(), CLONE_NEWNET), "setns", "back to our own network namespace");
  narrate({.call = "unshare(CLONE_NEWNET); open(/proc/self/ns/net); setns(back)",
           .result = fmt::format("fd {}: a network namespace with nobody in it yet", made.get()),
           .shell = "ip netns add NAME   # the same, kept by a bind mount instead of a descriptor",
           .man = "unshare(2), setns(2), network_namespaces(7)"});
  return made;
}

void join_netns(const UniqueFd& netns) {
  check(::setns(netns.get(), CLONE_NEWNET), "setns", "CLONE_NEWNET");
  narrate({.call = fmt::format("setns({}, CLONE_NEWNET)", netns.get()),
           .result = "joined the network namespace the parent made",
           .shell = "nsenter --net=/var/run/netns/NAME",
           .man = "setns(2)"});
}

}  // namespace ctr
