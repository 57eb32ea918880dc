// What the security tests compare on the host before and after an attack, and how.
//
// The attacks must leave the host exactly as it was: its mount table, its host name, its
// network interfaces. The full HostSnapshot also lists cgroups, runtime state and veth pairs,
// which every container creates and removes, its own and those of other test suites running
// at the same time on the same host: those are left out here (the runtime's own cleanup is
// the business of the step suites), and a difference that vanishes within a few seconds
// (another suite's container ending) does not count.
#pragma once

#include <chrono>
#include <sstream>
#include <string>
#include <thread>

#include "support.hpp"

namespace mc::test {

// diff() without the lines about cgroups, runtime state and per-container veth pairs.
inline std::string attack_relevant(const std::string& full_diff) {
  std::istringstream in(full_diff);
  std::string out;
  for (std::string line; std::getline(in, line);) {
    const bool transient = line.find("cgroup ") == 1 || line.find("state ") == 1 ||
                           line.rfind("+link veth", 0) == 0 || line.rfind("-link veth", 0) == 0 ||
                           line.rfind("+link ceth", 0) == 0 || line.rfind("-link ceth", 0) == 0;
    if (!transient) out += line + "\n";
  }
  return out;
}

// The relevant difference between `before` and now, retried for up to 3 s while it is not
// empty (a mount of another suite's step-2 container comes and goes).
inline std::string settled_host_diff(const HostSnapshot& before) {
  std::string d;
  for (int i = 0; i < 30; ++i) {
    d = attack_relevant(diff(before, HostSnapshot::take()));
    if (d.empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return d;
}

}  // namespace mc::test
