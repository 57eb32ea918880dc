// mycontainer-image: the companion program that writes the image store (load, import, pull).
//
//   mycontainer-image [--store DIR] load -i FILE [-q]
//   mycontainer-image [--store DIR] import FILE NAME [-q]
//   mycontainer-image [--store DIR] pull REF [-q]
//
// `mycontainer load|import|pull ...` execs it. It is a program of its own because it needs
// libarchive (and libcurl for pull), which cannot be linked into the static PIE `mycontainer`
// here: a runtime is started for every container and must start fast, an image tool is not
// (runc and podman are split the same way; docs/images.md, "Why two programs").
#include <string>

#include "ctr/cli.hpp"  // ctr::run_main, ctr::parse
#include "image/store.hpp"
#include "image/tool.hpp"

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
    ctr::parse(app, argc, argv);

    if (!store_dir.empty()) mycontainer::image::Store::set_default_root(store_dir);
    mycontainer::image::Store store;
    if (load_cmd->parsed()) return mycontainer::image::load(store, file, quiet);
    if (import_cmd->parsed()) return mycontainer::image::import_rootfs(store, file, name, quiet);
    return mycontainer::image::pull(store, reference, quiet);
  });
}
