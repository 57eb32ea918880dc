// The commands of mycontainer-image, the companion program that writes the store (load,
// import, pull): one function per command, mycontainer-image's main (image_main.cpp) parses
// the command line and calls one. Each returns the exit code; bad input throws
// ctr::UsageError (one line, exit 125).
#pragma once

#include <string>

#include "image/store.hpp"

namespace mycontainer::image {

// How progress is shown: a line per layer and step when stdout is not a terminal, a live
// line per layer on a terminal (as docker), nothing with quiet.
ProgressFn progress_printer(bool quiet);

// `load -i FILE`: an OCI image layout as a tar (skopeo copy ... oci-archive:) or a `docker
// save` archive (manifest.json). Prints "Loaded image: NAME" per name (docker's words).
int load(Store& store, const std::string& file, bool quiet);
// `import FILE NAME`: a root filesystem tarball as a one-layer image with a minimal config.
int import_rootfs(Store& store, const std::string& file, const std::string& name, bool quiet);
// `pull REF` (pull.cpp, branch img-pull).
int pull(Store& store, const std::string& reference, bool quiet);

}  // namespace mycontainer::image
