// Step 7: mycontainer — steps 1-6 combined into one small container runtime.
//
//   mycontainer run [OPTIONS] [--] [COMMAND [ARG...]]   start a container
//   mycontainer run [OPTIONS] IMAGE [COMMAND [ARG...]] start one from an image (options.cpp
//                                                     split_image_and_command: the rule)
//   mycontainer spec [OPTIONS] [--] [COMMAND...]       print the config.json `run` would use
//   mycontainer run --config FILE                     run the container a config.json describes
//   mycontainer ps                                    list running containers
//   mycontainer cleanup                               remove what a killed runtime left
//   mycontainer [--store DIR] images | rmi [-f] NAME... | image inspect NAME...
//   mycontainer [--store DIR] load -i FILE | import FILE NAME | pull REF   (mycontainer-image)
//
// And the OCI runtime's command line, as podman and containerd call runc (oci.hpp):
//
//   mycontainer [--root DIR] [--log FILE] [--log-format json] create --bundle DIR ID
//   mycontainer start ID | state ID | kill ID [SIGNAL] | delete [--force] ID | list | features
//   mycontainer exec [--process F | ...] ID [CMD...] | pause ID | resume ID | update ... ID
//   mycontainer ps [--format json] ID                 (ops.hpp)
//
// Two commands have both a docker-like and an OCI form; they are told apart by their flags:
//   run   is OCI's `run ID` when a global option (--root, --log, --log-format, --debug,
//         --systemd-cgroup) comes before it, or one of runc's run flags comes after it
//         (--bundle/-b, --pid-file, --console-socket, --keep, --no-pivot,
//         --no-new-keyring, --preserve-fds, --no-subreaper); otherwise the docker-like run.
//         -d/--detach alone is docker's `run -d` (runc's `run -d ID` needs --bundle here).
//   ps    with an ID is OCI's `ps ID` (the container's processes); without, docker's list
//         (-a, -q, --format), of `run -d` containers and foreground ones.
//
// The lifecycle commands (lifecycle.hpp) name a container docker's way: a name, a full id
// (64 hex digits) or a prefix of one id. Three words are the OCI runtime's too; the rule:
//   start, kill, exec   act on the container that `run -d` made (its record, in
//         /var/lib/mycontainer) when the word names one; otherwise they are the OCI commands
//         on the id under the state root (--root), as podman and containerd call them.
//         `kill -s SIG` is always docker's; docker's kill sends SIGKILL by default, OCI's
//         SIGTERM. `start -a` is docker's.
//   logs, stop, restart, wait, rm, inspect, rename   docker's only (OCI says `delete`).
// docker's errors about a container ("No such container: x") exit with 1, as docker's do.
//   spec  with --bundle/-b or --rootless writes runc's default config.json into the bundle;
//         otherwise it prints the config.json that `run` with the same flags would use.
//
// This file only parses the command line and calls one command; each command is a file of
// its own (commands.hpp, oci.hpp). run's options are in options.cpp; spec_from_flags.cpp turns
// them into the container's spec (the OCI config), and engine.cpp, which reads like the
// guide's chapter 7, runs it.
#include <filesystem>
#include <functional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "commands.hpp"
#include "ctr/cli.hpp"      // ctr::run_main, ctr::parse
#include "ctr/error.hpp"    // ctr::error_line
#include "image/store.hpp"  // mycontainer::image::Store (--store)
#include "lifecycle.hpp"
#include "runtime/memory.hpp"  // ctr::populate_heap
#include "runtime/record.hpp"  // mycontainer::LifecycleError
#include "runtime/state.hpp"   // ctr::container_dir
#include "oci.hpp"
#include "ops.hpp"
#include "options.hpp"

namespace {

// Steps 1-6 taught `./container -- CMD` and `./container --explain -- CMD`: step 7 takes the
// same words as `run`'s. A first word that is neither a command nor an option is most likely
// a command meant for the container: say how to run it instead of CLI11's "A subcommand is
// required".
void accept_the_steps_form(const CLI::App& app, std::vector<char*>& args, char* run_word) {
  if (args.size() < 2) return;
  const std::string_view first(args[1]);
  static const std::set<std::string_view> kOwnOptions = {
      "--root",  "--log",     "--log-format", "--debug", "--systemd-cgroup",
      "--store", "--version", "--help",       "-h"};
  const bool option = first.rfind('-', 0) == 0;
  if (first == "--" || (option && kOwnOptions.count(first.substr(0, first.find('='))) == 0)) {
    args.insert(args.begin() + 1, run_word);
    return;
  }
  if (option)
    return;  // one of ours (--root DIR ..., --store DIR run ...): CLI11 reads it, and the command
             // after it
  // get_subcommand(NAME) throws when there is none: the filter asks without an exception, which
  // costs about 0.1 ms in a static binary (its unwind tables are searched).
  const std::string name(first);
  const bool command =
      !app.get_subcommands([&](const CLI::App* s) { return s->check_name(name); }).empty();
  if (!command) {
    throw ctr::UsageError(fmt::format(
        "'{}' is not a mycontainer command; to run it in a container: mycontainer run -- {} "
        "(mycontainer --help lists the commands)",
        first, first));
  }
}

// The words of runc's command line that only the OCI `run ID` has (see the top).
bool oci_run_requested(int argc, char** argv) {
  static const std::set<std::string_view> kGlobal = {"--root", "--log", "--log-format", "--debug",
                                                     "--systemd-cgroup"};
  static const std::set<std::string_view> kRunFlags = {
      "-b",         "--bundle",         "--pid-file",     "--console-socket", "--keep",
      "--no-pivot", "--no-new-keyring", "--preserve-fds", "--no-subreaper"};
  bool global = false;
  int i = 1;
  for (; i < argc && std::string_view(argv[i]) != "run"; ++i) {
    const std::string_view word(argv[i]);
    if (kGlobal.count(word.substr(0, word.find('=')))) global = true;
  }
  if (i == argc) return false;
  if (global) return true;
  for (++i; i < argc && std::string_view(argv[i]) != "--"; ++i) {
    const std::string_view word(argv[i]);
    if (kRunFlags.count(word.substr(0, word.find('=')))) return true;
  }
  return false;
}

// Where the container's command starts: everything after the first "--" is split off before
// CLI11 sees it, so that no level of subcommands can mistake it for its own arguments.
int first_dashes(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--") return i;
  }
  return argc;
}

std::vector<std::string> after_first_dashes(int argc, char** argv) {
  const int dashes = first_dashes(argc, argv);
  if (dashes + 1 >= argc) return {};
  return {argv + dashes + 1, argv + argc};
}

// create's flags, which `run ID` has too.
void add_create_options(CLI::App& cmd, mycontainer::CreateOptions& o) {
  cmd.add_option("-b,--bundle", o.bundle, "the bundle: the directory with config.json")
      ->capture_default_str();
  cmd.add_option("--pid-file", o.pid_file, "write the container's first pid to FILE");
  cmd.add_option("--console-socket", o.console_socket,
                 "with process.terminal: send the terminal's master to this unix socket");
  cmd.add_flag("--no-pivot", o.no_pivot, "change root with MS_MOVE and chroot, not pivot_root");
  cmd.add_flag("--no-new-keyring", o.no_new_keyring,
               "accepted: mycontainer makes no session keyring anyway");
  cmd.add_option("--preserve-fds", o.preserve_fds,
                 "pass descriptors 3 to 3+N-1 on to the container")
      ->check(CLI::NonNegativeNumber);
  cmd.add_option("id", o.id, "the container's id")->required();
}

// A command's --help flag: what CLI::App's own is (names, description).
struct HelpFlag {
  std::string names;
  std::string description;
};

// Makes the command `name` of `parent`. Its options, and its --help, are made by `options` only
// if the command line names it: CLI11 calls a command's preparse_callback once, when it meets
// its name, before it parses the command's own words. Every command must exist for parsing and
// for `mycontainer --help` (which lists names and descriptions only), but only the one run needs
// its options: making every command's options (with their help flags) was half of the
// instructions of an empty `mycontainer ps` (#14, tests/bench/RESULTS.md, session 10).
CLI::App* command(CLI::App& parent, const HelpFlag& help, std::string name, std::string description,
                  std::function<void(CLI::App&)> options = {}) {
  CLI::App* cmd = parent.add_subcommand(std::move(name), std::move(description));
  cmd->preparse_callback([cmd, &help, options = std::move(options)](std::size_t) {
    cmd->set_help_flag(help.names, help.description);
    if (options) options(*cmd);
  });
  return cmd;
}

}  // namespace

int main(int argc, char** argv) {
  // The heap every command uses (the option tables, the spec, the state), made present in one
  // call: about 60 page faults fewer, 0.7 to 1 ms of a container's start on a virtual machine
  // (runtime/memory.hpp, tests/bench/RESULTS.md "Page faults and exceptions").
  ctr::populate_heap(std::size_t{256} * 1024);
  mycontainer::GlobalOptions global;
  return ctr::run_main("mycontainer", [&]() -> int {
    try {
      CLI::App app{"mycontainer: a small container runtime, built in seven steps", "mycontainer"};
      app.require_subcommand(1);
      // Each command's options are made only if the command is run (command(), above): its
      // --help too, so the help flag is taken away while the commands are made (each would copy
      // it at once) and given back after them, first of mycontainer's own options as before.
      const HelpFlag help{app.get_help_ptr()->get_name(false, true),
                          app.get_help_ptr()->get_description()};
      app.set_help_flag();

      const bool oci_run = oci_run_requested(argc, argv);
      mycontainer::RunOptions options;
      mycontainer::CreateOptions run_oci;
      bool no_subreaper = false;
      CLI::App* run =
          command(app, help, "run", "run a command in a new container", [&](CLI::App& c) {
            if (oci_run) {
              add_create_options(c, run_oci);
              c.add_flag("-d,--detach", run_oci.detach, "return once the command runs");
              c.add_flag("--keep", run_oci.keep, "keep the container's state after it ends");
              c.add_flag("--no-subreaper", no_subreaper, "accepted (mycontainer waits itself)");
            } else {
              mycontainer::add_run_options(c, options);
            }
          });
      mycontainer::RunOptions spec_options;
      std::string spec_output;
      std::string spec_bundle;
      bool spec_rootless = false;
      CLI::App* spec_cmd = command(
          app, help, "spec", "print the config.json that `run` with these options would use",
          [&](CLI::App& c) {
            mycontainer::add_run_options(c, spec_options);
            c.add_option("-o,--output", spec_output, "write it to FILE instead (never overwrites)");
            c.add_option("-b,--bundle", spec_bundle,
                         "runc's form: write a default config.json into DIR");
            c.add_flag("--rootless", spec_rootless,
                       "runc's form: a default config.json for a rootless container");
          });

      std::string ps_id;
      std::string ps_format;
      mycontainer::PsOptions ps_list;
      CLI::App* ps_cmd = command(
          app, help, "ps", "list containers, or the processes of one (ID)", [&](CLI::App& c) {
            c.add_option("id", ps_id, "an OCI container's id: its processes");
            c.add_option("-f,--format", ps_format,
                         "with ID: table or json; without: '{{.Names}} {{.Status}}' (docker's "
                         "fields: ID Image Command CreatedAt Status Ports Names State)");
            c.add_flag("-a,--all", ps_list.all, "exited containers too");
            c.add_flag("-q,--quiet", ps_list.quiet, "ids only");
            c.add_flag("--no-trunc", ps_list.no_trunc, "full ids and commands");
          });

      // --- docker's lifecycle commands (lifecycle.hpp) ---
      std::vector<std::string> names;
      const auto add_names = [&](CLI::App& c) {
        c.add_option("names", names, "names or ids")->required();
      };
      std::string logs_name;
      bool logs_follow = false, logs_timestamps = false;
      std::string logs_tail = "all";
      CLI::App* logs_cmd =
          command(app, help, "logs", "what a detached container wrote", [&](CLI::App& c) {
            c.add_flag("-f,--follow", logs_follow, "go on until the container ends");
            c.add_option("-n,--tail", logs_tail, "the last N lines only (or all)");
            c.add_flag("-t,--timestamps", logs_timestamps, "each line with its time");
            c.add_option("name", logs_name, "a name or id (prefix)")->required();
          });
      int stop_timeout = 10;
      const CLI::Option* stop_t = nullptr;
      CLI::App* stop_cmd =
          command(app, help, "stop", "SIGTERM, then SIGKILL after -t seconds", [&](CLI::App& c) {
            stop_t =
                c.add_option("-t,--time", stop_timeout, "seconds (default: run's --stop-timeout)");
            add_names(c);
          });
      const CLI::Option* restart_t = nullptr;
      CLI::App* restart_cmd = command(app, help, "restart", "stop, then start", [&](CLI::App& c) {
        restart_t = c.add_option("-t,--time", stop_timeout, "seconds before SIGKILL");
        add_names(c);
      });
      CLI::App* wait_cmd =
          command(app, help, "wait", "wait until it ends; print its exit code", add_names);
      bool rm_force = false;
      CLI::App* rm_cmd = command(app, help, "rm", "remove stopped containers", [&](CLI::App& c) {
        c.add_flag("-f,--force", rm_force, "stop a running one first (SIGKILL)");
        add_names(c);
      });
      CLI::App* inspect_cmd =
          command(app, help, "inspect", "a container's record, as JSON", add_names);
      std::string rename_from, rename_to;
      CLI::App* rename_cmd =
          command(app, help, "rename", "give a container another name", [&](CLI::App& c) {
            c.add_option("old", rename_from, "its name or id")->required();
            c.add_option("new", rename_to, "the new name")->required();
          });
      std::string exit_id;
      int exit_code = 0;
      CLI::App* monitor_exit_cmd = command(
          app, help, "monitor-exit",
          "internal: the monitor records the end and removes what it had", [&](CLI::App& c) {
            c.add_option("id", exit_id)->required();
            c.add_option("code", exit_code)->required();
          });
      monitor_exit_cmd->group("");  // not in --help: only the monitor calls it
      CLI::App* cleanup_cmd =
          command(app, help, "cleanup", "remove what killed runtimes left behind");

      // --- The OCI commands (oci.hpp) ---
      mycontainer::CreateOptions create;
      CLI::App* create_cmd = command(app, help, "create", "OCI: create a container from a bundle",
                                     [&](CLI::App& c) { add_create_options(c, create); });
      std::string id;
      const auto add_id = [&](CLI::App& c) {
        c.add_option("id", id, "the container's id")->required();
      };
      bool start_attach = false;
      CLI::App* start_cmd = command(
          app, help, "start", "run a created (OCI) or an exited (docker) container's command",
          [&](CLI::App& c) {
            c.add_flag("-a,--attach", start_attach, "docker: follow its output, its exit code");
            c.add_option("id", id, "the container's id or name")->required();
          });
      CLI::App* state_cmd =
          command(app, help, "state", "OCI: print a container's state (JSON)", add_id);
      std::string signal = "SIGTERM";
      bool kill_all = false;
      std::string kill_signal;
      const CLI::Option* kill_s = nullptr;
      CLI::App* kill_cmd =
          command(app, help, "kill", "send a signal to a container", [&](CLI::App& c) {
            c.add_flag("-a,--all", kill_all, "to every process of its cgroup");
            kill_s = c.add_option("-s,--signal", kill_signal, "docker's form (default KILL)");
            add_id(c);
            c.add_option("signal", signal, "a number or a name, with or without SIG")
                ->capture_default_str();
          });
      bool force = false;
      CLI::App* delete_cmd =
          command(app, help, "delete", "OCI: remove a container", [&](CLI::App& c) {
            c.add_flag("-f,--force", force, "kill it first if it still runs");
            add_id(c);
          });
      std::string list_format = "table";
      bool quiet = false;
      CLI::App* list_cmd =
          command(app, help, "list", "OCI: list the containers under --root", [&](CLI::App& c) {
            c.add_option("-f,--format", list_format, "table or json")
                ->check(CLI::IsMember({"table", "json"}));
            c.add_flag("-q,--quiet", quiet, "ids only");
          });
      CLI::App* features_cmd =
          command(app, help, "features", "OCI: what this runtime supports (JSON, as runc 1.1)");

      // --- The operations on an existing container (ops.hpp) ---
      mycontainer::ExecOptions exec;
      CLI::App* exec_cmd =
          command(app, help, "exec", "OCI: run one more process in a running container",
                  [&](CLI::App& c) { mycontainer::add_exec_options(c, exec); });
      // `exec ID sh -c 'x'`: everything after the id is the command, flags included (runc's
      // rule), so CLI11 stops at the first word it does not know.
      exec_cmd->prefix_command();
      CLI::App* pause_cmd =
          command(app, help, "pause", "OCI: freeze every process of a container", add_id);
      CLI::App* resume_cmd = command(app, help, "resume", "OCI: thaw a paused container", add_id);
      mycontainer::UpdateOptions update;
      CLI::App* update_cmd =
          command(app, help, "update", "OCI: new resource limits for a running container",
                  [&](CLI::App& c) { mycontainer::add_update_options(c, update); });

      // --- Images (images.cpp, docs/images.md) ---
      CLI::App* images_cmd = command(app, help, "images", "list the images in the store");
      std::vector<std::string> image_names;
      const auto add_image_names = [&](CLI::App& c) {
        c.add_option("name", image_names, "a name, an id or an id prefix")->required();
      };
      bool rmi_force = false;
      CLI::App* rmi_cmd = command(
          app, help, "rmi", "remove images (refused while a container uses one)", [&](CLI::App& c) {
            c.add_flag("-f,--force", rmi_force, "remove an image with several names at once");
            add_image_names(c);
          });
      CLI::App* image_cmd = command(app, help, "image", "images: `image inspect NAME...`");
      image_cmd->require_subcommand(1);
      CLI::App* image_inspect_cmd =
          command(*image_cmd, help, "inspect", "an image's details (JSON)", add_image_names);
      // These three are mycontainer-image's: their words go to it as they are (its --help too),
      // so they have no options here, not even --help.
      std::vector<CLI::App*> tool_cmds;
      for (const auto* word : {"load", "import", "pull"}) {
        CLI::App* cmd = app.add_subcommand(
            word, std::string("images: ") + word + " (run by mycontainer-image; see its --help)");
        cmd->prefix_command();
        tool_cmds.push_back(cmd);
      }

      // mycontainer's own options, runc's global ones first: they come before the command.
      app.set_help_flag(help.names, help.description);
      app.set_version_flag("--version", "mycontainer " MC_VERSION);
      app.add_option("--root", global.root, "state directory (default /run/mycontainer)");
      app.add_option("--log", global.log, "write errors (and --debug lines) to FILE too");
      app.add_option("--log-format", global.log_format, "text or json (as runc writes them)")
          ->check(CLI::IsMember({"text", "json"}));
      app.add_flag("--debug", global.debug, "log every kernel operation");
      app.add_flag("--systemd-cgroup", global.systemd_cgroup,
                   "refused: mycontainer manages cgroups through cgroupfs only");
      // Ours, not runc's (so not in oci_run_requested's list): where images are kept.
      std::string store;
      app.add_option("--store", store,
                     "image store (default /var/lib/mycontainer; rootless "
                     "$XDG_DATA_HOME/mycontainer)");

      // Everything after the first "--" is the container's command (first_dashes).
      const int ours = first_dashes(argc, argv);
      // `mycontainer` alone is `mycontainer run`: a shell in a container, as the guide's
      // `sudo ./container` promises for every step.
      std::vector<char*> args(argv, argv + ours);
      char run_word[] = "run";
      if (args.size() == 1) args.push_back(run_word);
      accept_the_steps_form(app, args, run_word);
      ctr::parse(app, static_cast<int>(args.size()), args.data());
      const std::vector<std::string> after_dashes = after_first_dashes(argc, argv);
      options.common.command = after_dashes;
      spec_options.common.command = after_dashes;
      // (No command and no image: /bin/sh, decided with the image in finish_run_options.)
      mycontainer::apply_global_options(global);
      if (!store.empty()) mycontainer::image::Store::set_default_root(store);

      if (images_cmd->parsed()) return mycontainer::images();
      if (rmi_cmd->parsed()) return mycontainer::rmi(image_names, rmi_force);
      if (image_inspect_cmd->parsed()) return mycontainer::image_inspect(image_names);
      for (CLI::App* cmd : tool_cmds) {
        if (!cmd->parsed()) continue;
        std::vector<std::string> words = cmd->remaining();
        if (!after_dashes.empty()) words.push_back("--");
        words.insert(words.end(), after_dashes.begin(), after_dashes.end());
        mycontainer::run_image_tool(cmd->get_name(), words);
      }

      // start, kill, exec: docker's when the word names a `run -d` container, or names nothing
      // at all and no --root was given (then docker's "No such container", exit 1).
      const auto docker_word = [&](const std::string& word) {
        if (!mycontainer::docker_container(word).empty()) return true;
        if (!global.root.empty()) return false;
        std::error_code ec;
        return word.find('/') == std::string::npos &&
               !std::filesystem::exists(ctr::container_dir(word), ec);
      };
      if (create_cmd->parsed()) return mycontainer::oci_create(create);
      if (start_cmd->parsed()) {
        if (start_attach || docker_word(id)) {
          return mycontainer::docker_start({id}, start_attach);
        }
        return mycontainer::oci_start(id);
      }
      if (logs_cmd->parsed()) {
        return mycontainer::docker_logs(logs_name, logs_follow, logs_tail, logs_timestamps);
      }
      if (stop_cmd->parsed()) return mycontainer::docker_stop(names, stop_timeout, stop_t->count());
      if (restart_cmd->parsed()) {
        return mycontainer::docker_restart(names, stop_timeout, restart_t->count());
      }
      if (wait_cmd->parsed()) return mycontainer::docker_wait(names);
      if (rm_cmd->parsed()) return mycontainer::docker_rm(names, rm_force);
      if (inspect_cmd->parsed()) return mycontainer::docker_inspect(names);
      if (rename_cmd->parsed()) return mycontainer::docker_rename(rename_from, rename_to);
      if (monitor_exit_cmd->parsed()) return mycontainer::monitor_exit(exit_id, exit_code);
      if (state_cmd->parsed()) return mycontainer::oci_state(id);
      if (kill_cmd->parsed()) {
        if (kill_s->count() || docker_word(id)) {
          return mycontainer::docker_kill({id}, kill_s->count() ? kill_signal : "KILL");
        }
        return mycontainer::oci_kill(id, signal, kill_all);
      }
      if (delete_cmd->parsed()) return mycontainer::oci_delete(id, force);
      if (list_cmd->parsed()) return mycontainer::oci_list(list_format, quiet);
      if (features_cmd->parsed()) return mycontainer::oci_features();
      if (exec_cmd->parsed()) {
        for (const auto& word : exec_cmd->remaining()) exec.args.push_back(word);
        exec.args.insert(exec.args.end(), after_dashes.begin(), after_dashes.end());
        if (docker_word(exec.id)) {
          const std::string full = mycontainer::docker_container(exec.id);
          if (full.empty()) {
            throw mycontainer::LifecycleError("No such container: " + ctr::printable(exec.id));
          }
          mycontainer::check_running_for_exec(full);
          exec.id = full;
        }
        return mycontainer::oci_exec(exec);
      }
      if (pause_cmd->parsed()) return mycontainer::oci_pause(id);
      if (resume_cmd->parsed()) return mycontainer::oci_resume(id);
      if (update_cmd->parsed()) return mycontainer::oci_update(update);
      if (ps_cmd->parsed()) {
        if (!ps_id.empty()) {
          if (ps_format.empty()) ps_format = "table";
          if (ps_format != "table" && ps_format != "json") {
            throw ctr::UsageError("ps ID --format: table or json");
          }
          return mycontainer::oci_ps(ps_id, ps_format, after_dashes);
        }
        ps_list.format = ps_format;
        return mycontainer::docker_ps(ps_list);
      }
      if (cleanup_cmd->parsed()) return mycontainer::cleanup();
      if (spec_cmd->parsed()) {
        if (!spec_bundle.empty() || spec_rootless) {
          return mycontainer::oci_spec(spec_bundle.empty() ? "." : spec_bundle, spec_rootless);
        }
        return mycontainer::spec(*spec_cmd, spec_options, spec_output);
      }
      if (oci_run) return mycontainer::oci_run(run_oci);
      if (options.detach) return mycontainer::run_detached(*run, options);
      return mycontainer::run(*run, options);
    } catch (const ctr::ExitRequest&) {
      throw;
    } catch (const mycontainer::LifecycleError& e) {
      // docker's errors about a container: one line, exit code 1 (lifecycle.hpp).
      fmt::print(stderr, "mycontainer: Error: {}\n", e.what());
      mycontainer::log_error(e.what());
      throw ctr::ExitRequest{1};
    } catch (const std::exception& e) {
      // The engines read a failed command's reason from --log (runc's convention); stderr
      // gets it too, from run_main.
      mycontainer::log_error(ctr::error_line(e));
      throw;
    }
  });
}
