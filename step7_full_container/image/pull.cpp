// `mycontainer pull REF` (run by mycontainer-image): the registry client (registry.hpp) fetches
// the image into a fresh directory under the store's tmp/, as an OCI image layout; the store
// ingests it with load_layout, which checks every digest again and unpacks the layers. What
// it prints is docker's:
//
//   Using default tag: latest
//   latest: Pulling from library/alpine
//   4abcf2066143: Pull complete
//   Digest: sha256:c5b1261d...
//   Status: Downloaded newer image for alpine:latest
//   docker.io/library/alpine:latest
//
// On a terminal each layer has a live line ("Downloading [=====>    ] 1.2MB/3.4MB"); otherwise
// one line per layer when it is done.
#include <unistd.h>  // isatty(3)

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <fmt/core.h>

#include "image/registry.hpp"
#include "image/store.hpp"
#include "image/tool.hpp"

namespace mycontainer::image {

namespace fs = std::filesystem;
namespace reg = mycontainer::registry;

namespace {

// docker's short form of a layer: the first 12 hex digits of its digest.
std::string short_digest(std::string_view digest) {
  return std::string(digest.substr(digest.find(':') + 1, 12));
}

// "1.088MB", "512kB", as docker writes sizes (go-units HumanSize: decimal, 4 significant).
std::string human(std::uint64_t bytes) {
  static const char* kUnits[] = {"B", "kB", "MB", "GB", "TB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1000 && u < 4) {
    v /= 1000;
    ++u;
  }
  return fmt::format("{:.4g}{}", v, kUnits[u]);
}

// "[=====>          ]": docker's 50-character bar.
std::string bar(std::uint64_t done, std::uint64_t total) {
  const int width = 50;
  const int filled = total ? static_cast<int>(done * width / total) : 0;
  std::string out = "[" + std::string(filled, '=');
  if (filled < width) out += ">" + std::string(width - filled - 1, ' ');
  return out + "]";
}

// The per-layer lines. On a terminal every layer keeps its own line, rewritten in place (the
// cursor moves up to it with ESC[nA, the line is cleared with ESC[2K: console_codes(4)), as
// docker's jsonmessage does; otherwise a line is printed only when a layer is finished.
class Lines {
 public:
  explicit Lines(bool quiet) : quiet_(quiet), tty_(!quiet && ::isatty(STDOUT_FILENO)) {}

  void set(const std::string& digest, const std::string& text, bool finished) {
    if (quiet_ || done_.count(digest)) return;  // a finished line stays as it is
    if (finished) done_.insert(digest);
    // A live line is redrawn at most every 100 ms: a 1 GB layer arrives in 60000 pieces.
    // A new state ("Downloading" after "Pulling fs layer") is always drawn.
    const auto now = std::chrono::steady_clock::now();
    std::string state = text.substr(0, text.find(' '));
    if (!finished && state == last_state_[digest] && now - last_draw_[digest] < kRedraw) return;
    last_draw_[digest] = now;
    last_state_[digest] = std::move(state);
    auto [it, added] = row_.try_emplace(digest, row_.size());
    const std::string line = short_digest(digest) + ": " + text;
    if (tty_) {
      if (added) {
        std::fputs((line + "\n").c_str(), stdout);
      } else {
        const std::size_t up = row_.size() - it->second;
        std::fputs(fmt::format("\x1b[{}A\r\x1b[2K{}\x1b[{}B\r", up, line, up).c_str(), stdout);
      }
      std::fflush(stdout);
    } else if (finished) {
      std::fputs((line + "\n").c_str(), stdout);
      std::fflush(stdout);
    }
  }

 private:
  bool quiet_;
  bool tty_;
  std::map<std::string, std::size_t> row_;  // digest -> its line, in first-seen order
  std::set<std::string> done_;
  std::map<std::string, std::chrono::steady_clock::time_point> last_draw_;
  std::map<std::string, std::string> last_state_;
  static constexpr std::chrono::milliseconds kRedraw{100};
};

// Removes a directory at scope exit (a pull's work directory under tmp/, whatever happened).
struct RemoveAll {
  fs::path dir;
  ~RemoveAll() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

// Whether the user named a tag (docker says "Using default tag: latest" when not).
bool names_a_tag(std::string_view text) {
  const auto slash = text.rfind('/');
  const auto colon = text.rfind(':');
  return text.find('@') != std::string_view::npos ||
         (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash));
}

}  // namespace

int pull(Store& store, const std::string& text, bool quiet, const std::string& ca_file) {
  const Reference ref = parse_reference(text);
  const std::string familiar = ref.familiar_name();
  if (!quiet && !names_a_tag(text)) std::puts("Using default tag: latest");
  const std::string reference = ref.digest.empty() ? ref.tag : ref.digest;
  if (!quiet) {
    // docker shows the repository without docker.io/ ("library/alpine").
    const std::string repo = ref.registry == "docker.io" ? ref.repository : ref.name();
    std::printf("%s: Pulling from %s\n", reference.c_str(), repo.c_str());
    std::fflush(stdout);
  }
  const std::optional<Image> before = store.find(ref.str());

  // Hold the store against cleaning while the download sits in tmp/ (store.hpp, WriteLock).
  const Store::WriteLock hold = store.lock_for_write();
  RemoveAll work{store.make_temp_dir("pull")};
  Lines lines(quiet);
  reg::FetchOptions options;
  options.ca_file = ca_file;
  options.existing_blob = [&](const std::string& digest) -> std::optional<fs::path> {
    fs::path p = store.blob_path(digest);
    std::error_code ec;
    return fs::is_regular_file(p, ec) ? std::optional(p) : std::nullopt;
  };
  options.progress = [&](const reg::BlobProgress& p) {
    if (!p.is_layer) return;  // docker shows layers only
    switch (p.state) {
      case reg::BlobState::kWaiting:
        return lines.set(p.digest, "Pulling fs layer", false);
      case reg::BlobState::kAlreadyExists:
        return lines.set(p.digest, "Already exists", true);
      case reg::BlobState::kDownloading:
        return lines.set(p.digest,
                         fmt::format("Downloading {} {}/{}", bar(p.done, p.total), human(p.done),
                                     human(p.total)),
                         false);
      case reg::BlobState::kVerifying:
        return lines.set(p.digest, "Verifying Checksum", false);
      case reg::BlobState::kDownloadComplete:
        return lines.set(p.digest, "Download complete", false);
    }
  };
  const reg::FetchResult got =
      reg::fetch({ref.registry, ref.repository, reference}, work.dir / "layout", options);

  const Image image = store.load_layout(work.dir / "layout", {ref}, [&](const Progress& p) {
    if (p.action == "Extracting") {
      lines.set(
          p.layer,
          fmt::format("Extracting {} {}/{}", bar(p.done, p.total), human(p.done), human(p.total)),
          false);
    } else if (p.action == "Done") {
      lines.set(p.layer, "Pull complete", true);
    } else if (p.action == "Already exists") {
      lines.set(p.layer, "Already exists", true);
    }
  });
  // A layer the store had unpacked already reports nothing more: finish its line.
  for (const auto& layer : got.layers) lines.set(layer, "Already exists", true);

  if (!quiet) {
    const std::string shown = familiar + (ref.digest.empty() ? ":" + ref.tag : "@" + ref.digest);
    std::printf("Digest: %s\n", got.digest.c_str());
    if (before && before->id == image.id) {
      std::printf("Status: Image is up to date for %s\n", shown.c_str());
    } else {
      std::printf("Status: Downloaded newer image for %s\n", shown.c_str());
    }
  }
  std::printf("%s\n", ref.str().c_str());
  return 0;
}

}  // namespace mycontainer::image
