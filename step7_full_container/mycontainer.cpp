// Step 7: mycontainer — steps 1-6 combined into one small container runtime.
//
//   mycontainer run [OPTIONS] [--] [COMMAND [ARG...]]   start a container
//   mycontainer spec [OPTIONS] [--] [COMMAND...]       print the config.json `run` would use
//   mycontainer run --config FILE                     run the container a config.json describes
//   mycontainer ps                                    list running containers
//   mycontainer cleanup                               remove what a killed runtime left
//
// This file only parses the command line and calls one command; each command is a file of
// its own (commands.hpp). run's options are in options.cpp; spec_from_flags.cpp turns them
// into the container's spec (the OCI config), and engine.cpp, which reads like the guide's
// chapter 7, runs it.
#include <string_view>
#include <vector>

#include "commands.hpp"
#include "ctr/cli.hpp"  // ctr::run_main, ctr::parse
#include "options.hpp"

int main(int argc, char** argv) {
  return ctr::run_main("mycontainer", [&] {
    CLI::App app{"mycontainer: a small container runtime, built in seven steps", "mycontainer"};
    app.require_subcommand(1);
    app.set_version_flag("--version", "mycontainer " MC_VERSION);

    mycontainer::RunOptions options;
    CLI::App* run = app.add_subcommand("run", "run a command in a new container");
    mycontainer::add_run_options(*run, options);
    mycontainer::RunOptions spec_options;
    std::string spec_output;
    CLI::App* spec_cmd =
        app.add_subcommand("spec", "print the config.json that `run` with these options would use");
    mycontainer::add_run_options(*spec_cmd, spec_options);
    spec_cmd->add_option("-o,--output", spec_output, "write it to FILE instead (never overwrites)");
    CLI::App* ps_cmd = app.add_subcommand("ps", "list containers");
    CLI::App* cleanup_cmd =
        app.add_subcommand("cleanup", "remove what killed runtimes left behind");
    // Everything after the first "--" is the container's command: split it off before CLI11
    // sees it, so that no level of subcommands can mistake it for its own arguments.
    int ours = argc;
    for (int i = 1; i < argc; ++i) {
      if (std::string_view(argv[i]) == "--") {
        ours = i;
        break;
      }
    }
    // `mycontainer` alone is `mycontainer run`: a shell in a container, as the guide's
    // `sudo ./container` promises for every step.
    std::vector<char*> args(argv, argv + ours);
    char run_word[] = "run";
    if (args.size() == 1) args.push_back(run_word);
    ctr::parse(app, static_cast<int>(args.size()), args.data());
    if (ours + 1 < argc) {
      options.common.command.assign(argv + ours + 1, argv + argc);
      spec_options.common.command = options.common.command;
    }

    if (ps_cmd->parsed()) return mycontainer::ps();
    if (cleanup_cmd->parsed()) return mycontainer::cleanup();
    if (spec_cmd->parsed()) return mycontainer::spec(*spec_cmd, spec_options, spec_output);
    return mycontainer::run(*run, options);
  });
}
