// A registry for the pull tests, started by the test on 127.0.0.1 and stopped afterwards:
// Debian's docker-registry (distribution 2.8) with a config written here (filesystem storage
// in a temporary directory, a free port), images pushed to it with skopeo from an OCI layout
// that umoci made offline from the project's rootfs (make-registry-images.sh), and
// registry_proxy.py in front of it for the token flow, redirects, slow and broken answers.
// Nothing talks to any other address.
#pragma once

#include <netinet/in.h>  // sockaddr_in
#include <sys/socket.h>  // socket(2), bind(2), connect(2)
#include <unistd.h>      // close(2)

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "background.hpp"  // mc::test::Background, wait_until
#include "support.hpp"

namespace mc::test::images {

namespace fs = std::filesystem;

// Options for the slow tools (umoci, skopeo): two minutes.
inline RunOptions slow_run() {
  RunOptions o;
  o.timeout = std::chrono::seconds(120);
  return o;
}

// A TCP port on 127.0.0.1 that nothing listens on right now (bind to port 0, read it back).
inline int free_port() {
  const int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  const bool ok = ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
                  ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) == 0;
  ::close(s);
  return ok ? ntohs(a.sin_port) : 0;
}

// True when something accepts connections on 127.0.0.1:port.
inline bool listening(int port) {
  const int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = ::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(s);
  return ok;
}

// A temporary directory, removed with its contents at the end (also when the test failed).
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/mct-registry-XXXXXX";
    if (::mkdtemp(tmpl) != nullptr) path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// What the tests need installed; "" when everything is there.
inline std::string missing_registry_tools() {
  std::string missing;
  for (const char* p :
       {"/usr/bin/docker-registry", "/usr/bin/skopeo", "/usr/bin/umoci", "/usr/bin/python3"}) {
    if (::access(p, X_OK) != 0) missing += std::string(missing.empty() ? "" : ", ") + p;
  }
  return missing.empty() ? "" : "not installed: " + missing + " (scripts/setup.sh installs them)";
}

// docker-registry on 127.0.0.1:port(), storage under a temporary directory.
class LocalRegistry {
 public:
  LocalRegistry() {
    port_ = free_port();
    const std::string config = dir_.path() + "/config.yml";
    std::ofstream(config) << "version: 0.1\n"
                          << "log:\n  level: error\n  accesslog:\n    disabled: true\n"
                          << "storage:\n  filesystem:\n    rootdirectory: " << storage() << "\n"
                          << "http:\n  addr: 127.0.0.1:" << port_ << "\n";
    proc_ = std::make_unique<Background>(
        std::vector<std::string>{"/usr/bin/docker-registry", "serve", config});
    if (!wait_until([&] { return listening(port_); })) error_ = "docker-registry did not start";
  }
  ~LocalRegistry() {
    if (proc_) {
      proc_->signal(SIGTERM);
      proc_->wait(std::chrono::seconds(10));
    }
  }
  const std::string& error() const { return error_; }
  int port() const { return port_; }
  std::string host() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string storage() const { return dir_.path() + "/storage"; }
  // The file docker-registry keeps a blob's bytes in (registry/storage/paths.go).
  std::string blob_data(const std::string& digest) const {
    const std::string hex = digest.substr(7);
    return storage() + "/docker/registry/v2/blobs/sha256/" + hex.substr(0, 2) + "/" + hex + "/data";
  }
  std::string log() { return proc_ ? proc_->err() : ""; }

  // skopeo copy oci:LAYOUT:TAG docker://HOST/REPO:TAG (--all: an index with its manifests).
  RunResult push(const std::string& layout, const std::string& tag, const std::string& repo) {
    // As root, skopeo keeps a blob-info cache in the host's /var/lib/containers/cache, with no
    // option to move it: it runs in a mount namespace of its own, over a tmpfs /var/lib, so
    // that the host's containers storage is never written.
    return run({"/usr/bin/unshare", "--mount", "--propagation", "private", "/bin/sh", "-c",
                "mount -t tmpfs tmpfs /var/lib && exec /usr/bin/skopeo \"$@\"", "skopeo", "copy",
                "--all", "--quiet", "--dest-tls-verify=false", "oci:" + layout + ":" + tag,
                "docker://" + host() + "/" + repo + ":" + tag},
               slow_run());
  }

 private:
  TempDir dir_;
  int port_ = 0;
  std::unique_ptr<Background> proc_;
  std::string error_;
};

// registry_proxy.py in front of a registry (its modes: see the script).
class Proxy {
 public:
  // tls: {certificate, key} files for the TLS token listener (mode tlstoken).
  Proxy(const LocalRegistry& upstream, const std::string& mode,
        const std::vector<std::string>& tls = {}) {
    log_ = dir_.path() + "/requests.log";
    std::vector<std::string> argv = {"/usr/bin/python3",
                                     source_dir() + "/tests/images/registry_proxy.py",
                                     "--upstream",
                                     "http://" + upstream.host(),
                                     "--mode",
                                     mode,
                                     "--log",
                                     log_};
    if (tls.size() == 2) argv.insert(argv.end(), {"--tls-cert", tls[0], "--tls-key", tls[1]});
    proc_ = std::make_unique<Background>(argv);
    wait_until([&] { return proc_->out().find('\n') != std::string::npos || !proc_->running(); });
    std::istringstream(proc_->out()) >> port_ >> storage_port_;
    if (port_ == 0) error_ = "registry_proxy.py did not start: " + proc_->err();
  }
  const std::string& error() const { return error_; }
  std::string host() const { return "127.0.0.1:" + std::to_string(port_); }
  // The requests so far, one a line: "registry GET /v2/... auth=...".
  std::string requests() const { return read_file(log_); }

 private:
  TempDir dir_;
  std::string log_;
  std::unique_ptr<Background> proc_;
  int port_ = 0;
  int storage_port_ = 0;
  std::string error_;
};

}  // namespace mc::test::images
