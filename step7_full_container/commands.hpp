// One function per `mycontainer` command, each in its own file (runc's layout: one file per
// command over one library). mycontainer.cpp parses the command line and calls one of them.
#pragma once

namespace mycontainer {

int ps();       // ps.cpp
int cleanup();  // cleanup.cpp

}  // namespace mycontainer
