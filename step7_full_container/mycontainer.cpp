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
//         (--bundle/-b, --pid-file, --console-socket, --detach/-d, --keep, --no-pivot,
//         --no-new-keyring, --preserve-fds, --no-subreaper); otherwise the docker-like run.
//   ps    with an ID is OCI's `ps ID` (the container's processes); without, the list.
//   spec  with --bundle/-b or --rootless writes runc's default config.json into the bundle;
//         otherwise it prints the config.json that `run` with the same flags would use.
//
// This file only parses the command line and calls one command; each command is a file of
// its own (commands.hpp, oci.hpp). run's options are in options.cpp; spec_from_flags.cpp turns
// them into the container's spec (the OCI config), and engine.cpp, which reads like the
// guide's chapter 7, runs it.
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "commands.hpp"
#include "ctr/cli.hpp"      // ctr::run_main, ctr::parse
#include "ctr/error.hpp"    // ctr::error_line
#include "image/store.hpp"  // mycontainer::image::Store (--store)
#include "oci.hpp"
#include "ops.hpp"
#include "options.hpp"

namespace {

// The words of runc's command line that only the OCI `run ID` has (see the top).
bool oci_run_requested(int argc, char** argv) {
  static const std::set<std::string_view> kGlobal = {"--root", "--log", "--log-format", "--debug",
                                                     "--systemd-cgroup"};
  static const std::set<std::string_view> kRunFlags = {"-b",
                                                       "--bundle",
                                                       "--pid-file",
                                                       "--console-socket",
                                                       "-d",
                                                       "--detach",
                                                       "--keep",
                                                       "--no-pivot",
                                                       "--no-new-keyring",
                                                       "--preserve-fds",
                                                       "--no-subreaper"};
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

}  // namespace

int main(int argc, char** argv) {
  mycontainer::GlobalOptions global;
  return ctr::run_main("mycontainer", [&]() -> int {
    try {
      CLI::App app{"mycontainer: a small container runtime, built in seven steps", "mycontainer"};
      app.require_subcommand(1);
      app.set_version_flag("--version", "mycontainer " MC_VERSION);
      // runc's global options: they come before the command.
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

      const bool oci_run = oci_run_requested(argc, argv);
      mycontainer::RunOptions options;
      mycontainer::CreateOptions run_oci;
      CLI::App* run = app.add_subcommand("run", "run a command in a new container");
      if (oci_run) {
        add_create_options(*run, run_oci);
        run->add_flag("-d,--detach", run_oci.detach, "return once the command runs");
        run->add_flag("--keep", run_oci.keep, "keep the container's state after it ends");
        bool no_subreaper = false;
        run->add_flag("--no-subreaper", no_subreaper, "accepted (mycontainer waits itself)");
      } else {
        mycontainer::add_run_options(*run, options);
      }
      mycontainer::RunOptions spec_options;
      std::string spec_output;
      std::string spec_bundle;
      bool spec_rootless = false;
      CLI::App* spec_cmd = app.add_subcommand(
          "spec", "print the config.json that `run` with these options would use");
      mycontainer::add_run_options(*spec_cmd, spec_options);
      spec_cmd->add_option("-o,--output", spec_output,
                           "write it to FILE instead (never overwrites)");
      spec_cmd->add_option("-b,--bundle", spec_bundle,
                           "runc's form: write a default config.json into DIR");
      spec_cmd->add_flag("--rootless", spec_rootless,
                         "runc's form: a default config.json for a rootless container");

      std::string ps_id;
      std::string ps_format = "table";
      CLI::App* ps_cmd = app.add_subcommand("ps", "list containers, or the processes of one (ID)");
      ps_cmd->add_option("id", ps_id, "an OCI container's id: its processes");
      ps_cmd->add_option("-f,--format", ps_format, "with ID: table or json")
          ->check(CLI::IsMember({"table", "json"}));
      CLI::App* cleanup_cmd =
          app.add_subcommand("cleanup", "remove what killed runtimes left behind");

      // --- The OCI commands (oci.hpp) ---
      mycontainer::CreateOptions create;
      CLI::App* create_cmd = app.add_subcommand("create", "OCI: create a container from a bundle");
      add_create_options(*create_cmd, create);
      std::string id;
      CLI::App* start_cmd = app.add_subcommand("start", "OCI: run a created container's command");
      start_cmd->add_option("id", id, "the container's id")->required();
      CLI::App* state_cmd = app.add_subcommand("state", "OCI: print a container's state (JSON)");
      state_cmd->add_option("id", id, "the container's id")->required();
      std::string signal = "SIGTERM";
      bool kill_all = false;
      CLI::App* kill_cmd = app.add_subcommand("kill", "OCI: send a signal to a container");
      kill_cmd->add_flag("-a,--all", kill_all, "to every process of its cgroup");
      kill_cmd->add_option("id", id, "the container's id")->required();
      kill_cmd->add_option("signal", signal, "a number or a name, with or without SIG")
          ->capture_default_str();
      bool force = false;
      CLI::App* delete_cmd = app.add_subcommand("delete", "OCI: remove a container");
      delete_cmd->add_flag("-f,--force", force, "kill it first if it still runs");
      delete_cmd->add_option("id", id, "the container's id")->required();
      std::string list_format = "table";
      bool quiet = false;
      CLI::App* list_cmd = app.add_subcommand("list", "OCI: list the containers under --root");
      list_cmd->add_option("-f,--format", list_format, "table or json")
          ->check(CLI::IsMember({"table", "json"}));
      list_cmd->add_flag("-q,--quiet", quiet, "ids only");
      CLI::App* features_cmd =
          app.add_subcommand("features", "OCI: what this runtime supports (JSON, as runc 1.1)");

      // --- The operations on an existing container (ops.hpp) ---
      mycontainer::ExecOptions exec;
      CLI::App* exec_cmd =
          app.add_subcommand("exec", "OCI: run one more process in a running container");
      mycontainer::add_exec_options(*exec_cmd, exec);
      // `exec ID sh -c 'x'`: everything after the id is the command, flags included (runc's
      // rule), so CLI11 stops at the first word it does not know.
      exec_cmd->prefix_command();
      CLI::App* pause_cmd = app.add_subcommand("pause", "OCI: freeze every process of a container");
      pause_cmd->add_option("id", id, "the container's id")->required();
      CLI::App* resume_cmd = app.add_subcommand("resume", "OCI: thaw a paused container");
      resume_cmd->add_option("id", id, "the container's id")->required();
      mycontainer::UpdateOptions update;
      CLI::App* update_cmd =
          app.add_subcommand("update", "OCI: new resource limits for a running container");
      mycontainer::add_update_options(*update_cmd, update);

      // --- Images (images.cpp, docs/images.md) ---
      CLI::App* images_cmd = app.add_subcommand("images", "list the images in the store");
      std::vector<std::string> image_names;
      bool rmi_force = false;
      CLI::App* rmi_cmd =
          app.add_subcommand("rmi", "remove images (refused while a container uses one)");
      rmi_cmd->add_flag("-f,--force", rmi_force, "remove an image with several names at once");
      rmi_cmd->add_option("name", image_names, "a name, an id or an id prefix")->required();
      CLI::App* image_cmd = app.add_subcommand("image", "images: `image inspect NAME...`");
      image_cmd->require_subcommand(1);
      CLI::App* inspect_cmd = image_cmd->add_subcommand("inspect", "an image's details (JSON)");
      inspect_cmd->add_option("name", image_names, "a name, an id or an id prefix")->required();
      // These three are mycontainer-image's: their words go to it as they are (its --help too).
      std::vector<CLI::App*> tool_cmds;
      for (const auto* word : {"load", "import", "pull"}) {
        CLI::App* cmd = app.add_subcommand(
            word, std::string("images: ") + word + " (run by mycontainer-image; see its --help)");
        cmd->prefix_command();
        cmd->set_help_flag();
        tool_cmds.push_back(cmd);
      }

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
      std::vector<std::string> after_dashes;
      if (ours + 1 < argc) after_dashes.assign(argv + ours + 1, argv + argc);
      options.common.command = after_dashes;
      spec_options.common.command = after_dashes;
      // (No command and no image: /bin/sh, decided with the image in finish_run_options.)
      mycontainer::apply_global_options(global);
      if (!store.empty()) mycontainer::image::Store::set_default_root(store);

      if (images_cmd->parsed()) return mycontainer::images();
      if (rmi_cmd->parsed()) return mycontainer::rmi(image_names, rmi_force);
      if (inspect_cmd->parsed()) return mycontainer::image_inspect(image_names);
      for (CLI::App* cmd : tool_cmds) {
        if (!cmd->parsed()) continue;
        std::vector<std::string> words = cmd->remaining();
        if (!after_dashes.empty()) words.push_back("--");
        words.insert(words.end(), after_dashes.begin(), after_dashes.end());
        mycontainer::run_image_tool(cmd->get_name(), words);
      }

      if (create_cmd->parsed()) return mycontainer::oci_create(create);
      if (start_cmd->parsed()) return mycontainer::oci_start(id);
      if (state_cmd->parsed()) return mycontainer::oci_state(id);
      if (kill_cmd->parsed()) return mycontainer::oci_kill(id, signal, kill_all);
      if (delete_cmd->parsed()) return mycontainer::oci_delete(id, force);
      if (list_cmd->parsed()) return mycontainer::oci_list(list_format, quiet);
      if (features_cmd->parsed()) return mycontainer::oci_features();
      if (exec_cmd->parsed()) {
        for (const auto& word : exec_cmd->remaining()) exec.args.push_back(word);
        exec.args.insert(exec.args.end(), after_dashes.begin(), after_dashes.end());
        return mycontainer::oci_exec(exec);
      }
      if (pause_cmd->parsed()) return mycontainer::oci_pause(id);
      if (resume_cmd->parsed()) return mycontainer::oci_resume(id);
      if (update_cmd->parsed()) return mycontainer::oci_update(update);
      if (ps_cmd->parsed()) {
        if (!ps_id.empty()) return mycontainer::oci_ps(ps_id, ps_format, after_dashes);
        return mycontainer::ps();
      }
      if (cleanup_cmd->parsed()) return mycontainer::cleanup();
      if (spec_cmd->parsed()) {
        if (!spec_bundle.empty() || spec_rootless) {
          return mycontainer::oci_spec(spec_bundle.empty() ? "." : spec_bundle, spec_rootless);
        }
        return mycontainer::spec(*spec_cmd, spec_options, spec_output);
      }
      if (oci_run) return mycontainer::oci_run(run_oci);
      return mycontainer::run(*run, options);
    } catch (const ctr::ExitRequest&) {
      throw;
    } catch (const std::exception& e) {
      // The engines read a failed command's reason from --log (runc's convention); stderr
      // gets it too, from run_main.
      mycontainer::log_error(ctr::error_line(e));
      throw;
    }
  });
}
