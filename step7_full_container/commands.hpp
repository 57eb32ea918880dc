// One function per `mycontainer` command, each in its own file (runc's layout: one file per
// command over one library). mycontainer.cpp parses the command line and calls one of them.
#pragma once

#include <string>

#include <CLI/CLI.hpp>

#include "options.hpp"

namespace mycontainer {

int run(const CLI::App& run, RunOptions& options);                               // run.cpp
int spec(const CLI::App& spec, RunOptions& options, const std::string& output);  // spec_command.cpp
int ps();                                                                        // ps.cpp
int cleanup();                                                                   // cleanup.cpp

}  // namespace mycontainer
