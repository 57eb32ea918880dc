// mycontainer-image: the companion program that writes the image store (load, import, pull).
//
//   mycontainer-image [--store DIR] load -i FILE [-q]
//   mycontainer-image [--store DIR] import FILE NAME [-q]
//   mycontainer-image [--store DIR] pull [--explain] [--ca-file FILE] REF [-q]
//
// `mycontainer load|import|pull ...` execs it. It is a program of its own because it needs
// libarchive (and libcurl for pull), which cannot be linked into the static PIE `mycontainer`
// here: a runtime is started for every container and must start fast, an image tool is not
// (runc and podman are split the same way; docs/images.md, "Why two programs").
#include <unistd.h>  // geteuid(2)

#include <string>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "ctr/cli.hpp"      // ctr::run_main, ctr::parse
#include "ctr/narrate.hpp"  // --explain: ctr::set_narrator
#include "image/store.hpp"
#include "image/tool.hpp"
#include "image/unpack.hpp"

int main(int argc, char** argv) {
  return ctr::run_main("mycontainer-image", [&]() -> int {
    CLI::App app{"mycontainer-image: writes mycontainer's image store", "mycontainer-image"};
    app.require_subcommand(1);
    app.set_version_flag("--version", "mycontainer-image " MC_VERSION);
    std::string store_dir;
    app.add_option("--store", store_dir, "the image store (default: as mycontainer's)");
    bool quiet = false;
    std::string file, name, reference;
    CLI::App* load_cmd = app.add_subcommand("load", "load an OCI archive or a docker save archive");
    load_cmd->add_option("-i,--input", file, "the archive")->required();
    load_cmd->add_flag("-q,--quiet", quiet, "no progress");
    CLI::App* import_cmd = app.add_subcommand("import", "a root filesystem tarball as an image");
    import_cmd->add_option("file", file, "the tarball (gzip, zstd or none)")->required();
    import_cmd->add_option("name", name, "the image's name, e.g. myroot:1")->required();
    import_cmd->add_flag("-q,--quiet", quiet, "no progress");
    CLI::App* pull_cmd = app.add_subcommand("pull", "fetch an image from a registry");
    pull_cmd->add_option("reference", reference, "e.g. alpine, localhost:5000/a/b:1")->required();
    pull_cmd->add_flag("-q,--quiet", quiet, "no progress");
    std::string ca_file;
    pull_cmd
        ->add_option("--ca-file", ca_file, "trust these CA certificates (PEM), not the system's")
        ->check(CLI::ExistingFile);
    bool explain = false;
    pull_cmd->add_flag("--explain", explain, "show each request to the registry (stderr)");
    // For benchmarks and debugging (scripts/bench-images.sh): one layer into an empty
    // directory, exactly as the store unpacks it, with no store around it.
    std::string dest;
    CLI::App* unpack_cmd = app.add_subcommand("unpack", "unpack one layer into an empty DIR");
    unpack_cmd->add_option("layer", file, "the layer (tar, gzip or zstd)")->required();
    unpack_cmd->add_option("dir", dest, "an empty directory")->required();
    ctr::parse(app, argc, argv);
    if (unpack_cmd->parsed()) {
      mycontainer::image::UnpackOptions options;
      options.as_root = ::geteuid() == 0;
      const auto r = mycontainer::image::unpack_layer(file, dest, options);
      fmt::print("{}\n", r.diff_id);
      return 0;
    }

    if (!store_dir.empty()) mycontainer::image::Store::set_default_root(store_dir);
    mycontainer::image::Store store;
    if (load_cmd->parsed()) return mycontainer::image::load(store, file, quiet);
    if (import_cmd->parsed()) return mycontainer::image::import_rootfs(store, file, name, quiet);
    if (explain) ctr::set_narrator(ctr::stderr_narrator("mycontainer-image"));
    return mycontainer::image::pull(store, reference, quiet, ca_file);
  });
}
