// The image commands of `mycontainer` (commands.hpp): `images`, `rmi`, `image inspect`, which
// only read the store (image/store.hpp), and `load`, `import`, `pull`, which write it and are
// run by the companion program mycontainer-image (docs/images.md, "Why two programs").
#include <spawn.h>     // posix_spawn(3)
#include <sys/wait.h>  // waitpid(2)
#include <unistd.h>    // execv(2), readlink(2), environ

#include <algorithm>  // std::max
#include <cstring>    // strerror(3)
#include <ctime>      // timegm(3), strptime(3)

#include <fmt/format.h>

#include "commands.hpp"
#include "ctr/error.hpp"
#include "image/store.hpp"
#include "lifecycle.hpp"  // image_users: the containers that hold images

namespace mycontainer {
namespace {

using image::Image;
using image::Reference;
using image::Store;

// docker's units.HumanSizeWithPrecision(size, 3): decimal units, three significant digits.
std::string human_size(double size) {
  static const char* kUnits[] = {"B", "kB", "MB", "GB", "TB"};
  int unit = 0;
  while (size >= 1000 && unit < 4) {
    size /= 1000;
    ++unit;
  }
  return fmt::format("{:.3g}{}", size, kUnits[unit]);
}

// docker's units.HumanDuration + " ago" ("2 weeks ago"); "" for an unknown time.
std::string human_age(const std::string& created) {
  std::tm tm{};
  if (created.empty() || !::strptime(created.c_str(), "%Y-%m-%dT%H:%M:%S", &tm)) return "N/A";
  const long s = static_cast<long>(std::time(nullptr) - ::timegm(&tm));
  const long m = s / 60, h = s / 3600;
  std::string d;
  if (s < 1)
    d = "Less than a second";
  else if (s == 1)
    d = "1 second";
  else if (s < 60)
    d = fmt::format("{} seconds", s);
  else if (m == 1)
    d = "About a minute";
  else if (m < 60)
    d = fmt::format("{} minutes", m);
  else if (h == 1)
    d = "About an hour";
  else if (h < 48)
    d = fmt::format("{} hours", h);
  else if (h < 24L * 7 * 2)
    d = fmt::format("{} days", h / 24);
  else if (h < 24L * 30 * 2)
    d = fmt::format("{} weeks", h / 24 / 7);
  else if (h < 24L * 365 * 2)
    d = fmt::format("{} months", h / 24 / 30);
  else
    d = fmt::format("{} years", h / 24 / 365);
  return d + " ago";
}

Image find_or_throw(const Store& store, const std::string& name) {
  auto image = store.find(name);
  if (!image) throw ctr::UsageError("no such image: " + ctr::printable(name));
  return *image;
}

}  // namespace

int images() {
  const Store store;
  fmt::print("{:<40} {:<12} {:<14} {:<16} {}\n", "REPOSITORY", "TAG", "IMAGE ID", "CREATED",
             "SIZE");
  for (const Image& image : store.images()) {
    std::vector<std::pair<std::string, std::string>> rows;
    for (const auto& name : image.names) {
      const Reference ref = image::parse_reference(name);
      rows.emplace_back(ref.familiar_name(), ref.tag.empty() ? "<none>" : ref.tag);
    }
    if (rows.empty()) rows.emplace_back("<none>", "<none>");
    for (const auto& [repo, tag] : rows) {
      fmt::print("{:<40} {:<12} {:<14} {:<16} {}\n", repo, tag, image.short_id(),
                 human_age(image.created), human_size(static_cast<double>(image.size)));
    }
  }
  return 0;
}

int rmi(const std::vector<std::string>& names, bool force) {
  Store store;
  int rc = 0;
  // docker's rule: every name is tried; one that fails is reported and the rest still go.
  for (const auto& name : names) {
    try {
      // The containers that hold images: running, and exited ones not yet removed.
      for (const auto& line : store.remove(name, force, image_users())) {
        fmt::print("{}\n", line);
      }
    } catch (const image::ImageConflict& e) {
      // docker's daemon answers a conflict with 409, its client exits with 1.
      fmt::print(stderr, "mycontainer: {}\n", ctr::error_line(e));
      rc = std::max(rc, 1);
    } catch (const ctr::UsageError& e) {
      fmt::print(stderr, "mycontainer: {}\n", ctr::error_line(e));
      rc = ctr::kExitRuntimeFailed;
    }
  }
  return rc;
}

int image_inspect(const std::vector<std::string>& names) {
  const Store store;
  nlohmann::json out = nlohmann::json::array();
  for (const auto& name : names) {
    const Image image = find_or_throw(store, name);
    nlohmann::json j;
    // The fields docker's `image inspect` has, under the same names.
    j["Id"] = image.id;
    j["RepoTags"] = nlohmann::json::array();
    j["RepoDigests"] = nlohmann::json::array();
    for (const auto& n : image.names) {
      const Reference ref = image::parse_reference(n);
      if (!ref.tag.empty()) j["RepoTags"].push_back(ref.str());
      j["RepoDigests"].push_back(ref.name() + "@" + image.manifest_digest);
    }
    j["Created"] = image.created;
    j["Size"] = image.size;
    j["Architecture"] = image.config.value("architecture", "");
    j["Os"] = image.config.value("os", "");
    j["Config"] = image.config.value("config", nlohmann::json::object());
    j["RootFS"] = {{"Type", "layers"}, {"Layers", image.diff_ids}};
    nlohmann::json dirs = nlohmann::json::array();
    for (const auto& d : store.layer_dirs(image)) dirs.push_back(d.string());
    j["GraphDriver"] = {{"Name", "overlay"}, {"Data", {{"LayerDirs", dirs}}}};
    out.push_back(j);
  }
  fmt::print("{}\n", out.dump(4));
  return 0;
}

void run_image_tool(const std::string& command, const std::vector<std::string>& args) {
  // The companion program lives next to our own binary (/proc/self/exe: the file we run
  // from, whatever PATH or argv[0] say), never looked up in PATH: a PATH entry the caller
  // controls must not choose what runs with our privileges.
  char self[4096];
  const ssize_t n =
      ctr::check(::readlink("/proc/self/exe", self, sizeof self - 1), "readlink", "/proc/self/exe");
  self[n] = '\0';
  const std::string tool = (std::filesystem::path(self).parent_path() / "mycontainer-image");
  std::vector<std::string> words = {tool, "--store", Store::default_root().string(), command};
  words.insert(words.end(), args.begin(), args.end());
  std::vector<char*> argv;
  argv.reserve(words.size() + 1);
  for (auto& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);
  ::execv(tool.c_str(), argv.data());
  const int err = errno;
  throw ctr::UsageError(
      fmt::format("cannot run {}: {} (it is built and installed beside "
                  "mycontainer: cmake --build build --target mycontainer-image)",
                  tool, std::strerror(err)));
}

int pull_missing_image(const std::string& name) {
  // docker run's words, on stderr: stdout belongs to the container that follows.
  fmt::print(stderr, "Unable to find image '{}' locally\n", name);
  char self[4096];
  const ssize_t n =
      ctr::check(::readlink("/proc/self/exe", self, sizeof self - 1), "readlink", "/proc/self/exe");
  self[n] = '\0';
  const std::string tool = (std::filesystem::path(self).parent_path() / "mycontainer-image");
  std::vector<std::string> words = {tool, "--store", Store::default_root().string(), "pull", name};
  std::vector<char*> argv;
  argv.reserve(words.size() + 1);
  for (auto& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);
  // posix_spawn(3), not fork(2): nothing of ours runs in the child before its exec. Its
  // stdout (the progress lines) goes to our stderr, as `docker run` shows a pull.
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, STDERR_FILENO, STDOUT_FILENO);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, tool.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw ctr::SyscallError(rc, "posix_spawn", tool);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return ctr::kExitSignalBase + WTERMSIG(status);
}

}  // namespace mycontainer
