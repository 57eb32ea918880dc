#include "runtime/image_config.hpp"

#include <fmt/format.h>

#include "ctr/error.hpp"     // ctr::UsageError
#include "runtime/spec.hpp"  // SpecError

namespace mycontainer {

namespace {

std::vector<std::string> strings(const nlohmann::json& config, const char* key) {
  const auto it = config.find(key);
  if (it == config.end() || it->is_null()) return {};
  std::vector<std::string> out;
  if (it->is_array()) {
    for (const auto& v : *it) {
      if (!v.is_string()) break;
      out.push_back(v.get<std::string>());
    }
    if (out.size() == it->size()) return out;
  }
  throw SpecError(fmt::format("image config: {} must be an array of strings", key));
}

std::string string(const nlohmann::json& config, const char* key) {
  const auto it = config.find(key);
  if (it == config.end() || it->is_null()) return "";
  if (!it->is_string()) throw SpecError(fmt::format("image config: {} must be a string", key));
  return it->get<std::string>();
}

}  // namespace

ImageConfig image_config_from_json(const nlohmann::json& blob) {
  if (!blob.is_object()) throw SpecError("image config: not a JSON object");
  const auto it = blob.find("config");
  if (it == blob.end() || it->is_null()) return {};
  if (!it->is_object()) throw SpecError("image config: config must be an object");
  const nlohmann::json& c = *it;
  return {.env = strings(c, "Env"),
          .entrypoint = strings(c, "Entrypoint"),
          .cmd = strings(c, "Cmd"),
          .working_dir = string(c, "WorkingDir"),
          .user = string(c, "User")};
}

void set_env(std::vector<std::string>& env, const std::string& kv) {
  const std::string key = kv.substr(0, kv.find('=')) + "=";
  std::erase_if(env, [&](const std::string& e) { return e.rfind(key, 0) == 0; });
  env.push_back(kv);
}

ImageProcess apply_image_config(const ImageConfig& config, const std::vector<std::string>& defaults,
                                const ImageOverrides& flags, const std::string& image) {
  ImageProcess p;
  // Entrypoint, then Cmd: --entrypoint drops the image's Cmd as well (docker's rule).
  const std::vector<std::string>& entrypoint =
      flags.entrypoint ? *flags.entrypoint : config.entrypoint;
  const std::vector<std::string>& cmd =
      !flags.args.empty() || flags.entrypoint ? flags.args : config.cmd;
  p.args = entrypoint;
  p.args.insert(p.args.end(), cmd.begin(), cmd.end());
  if (p.args.empty()) {
    throw ctr::UsageError(
        fmt::format("image '{}' has no Entrypoint and no Cmd: give the command after the image "
                    "(mycontainer run {} /bin/sh)",
                    image, image));
  }
  p.env = defaults;
  for (const auto& kv : config.env) {
    if (kv.find('=') != std::string::npos && kv[0] != '=') set_env(p.env, kv);
  }
  for (const auto& kv : flags.env) set_env(p.env, kv);
  // A relative WorkingDir (docker build allows it in old images) is taken from "/".
  if (flags.workdir) {
    p.cwd = *flags.workdir;
  } else if (!config.working_dir.empty()) {
    p.cwd = config.working_dir[0] == '/' ? config.working_dir : "/" + config.working_dir;
  }
  p.user = flags.user ? *flags.user : config.user;
  return p;
}

}  // namespace mycontainer
