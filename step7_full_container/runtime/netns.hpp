// A network namespace made before its process (NEW in step 7): step 5 moves the container's
// end of the veth pair into the child's namespace once the child exists; step 7 makes the
// namespace first and creates the veth's peer directly inside it (VethPair::create_in_netns,
// bridge.hpp), which spares the kernel a move between namespaces.
#pragma once

#include "ctr/fd.hpp"  // UniqueFd

namespace ctr {

// A new network namespace, for a child not started yet: unshare(CLONE_NEWNET) moves this
// process into a new one, we open it (/proc/self/ns/net), and go back to the one we were in
// with setns(2). The descriptor keeps the namespace alive with nobody in it: a veth can be
// created in it (VethPair::create_in_netns) before the child exists, and the child joins it
// (join_netns). It belongs to our user namespace (user_namespaces(7)): not for a child that
// gets a user namespace of its own. Narrated.
UniqueFd make_netns();

// setns(fd, CLONE_NEWNET): the calling thread joins that network namespace
// (`nsenter --net=FILE`). Narrated.
void join_netns(const UniqueFd& netns);

}  // namespace ctr
