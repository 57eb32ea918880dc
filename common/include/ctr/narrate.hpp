// The narration hook: library code never prints; it reports what it does here, and a step
// prints the reports when the learner passes --explain.
//
//   ctr::narrate({.call = "clone(CLONE_NEWPID|SIGCHLD)", .result = "pid 4242",
//                 .shell = "unshare --pid --fork", .man = "clone(2)"});
#pragma once

#include <functional>  // std::function
#include <string>      // std::string

namespace ctr {

struct Event {
  std::string call;    // the call with its arguments, as a learner would write it
  std::string result;  // what it returned ("ok", "pid 4242", "fd 5")
  std::string shell;   // the equivalent shell command, if there is one
  std::string man;     // the man page to read, "clone(2)"
};

using Narrator = std::function<void(const Event&)>;

// Installs the narrator (or none: the default, which drops events).
void set_narrator(Narrator narrator);
// Reports one event to the narrator, if any. Never throws.
void narrate(const Event& event) noexcept;
// True when a narrator is installed, to skip building expensive event strings.
bool narrating() noexcept;
// A narrator that prints events to stderr, dimmed, one per line: what --explain uses.
Narrator stderr_narrator(std::string prefix);

}  // namespace ctr
