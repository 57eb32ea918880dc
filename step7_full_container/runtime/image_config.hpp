// `run IMAGE [CMD...]`: what an image's config says about the process (OCI image-spec
// config.md "config": Env, Entrypoint, Cmd, WorkingDir, User), and how run's flags override
// it, with docker's rules. A pure function of its inputs: the unit tests check every rule.
//
//   args     Entrypoint + Cmd. Words after the image replace Cmd; --entrypoint replaces
//            Entrypoint and drops the image's Cmd (docker run --entrypoint: "overwrite the
//            default ENTRYPOINT of the image"; Cmd then comes only from the command line);
//            --entrypoint "" clears it. Neither at all: an error that says what to add.
//   env      the runtime's defaults (PATH, HOSTNAME, HOME, container=), then the image's Env,
//            then -e: a later KEY= replaces an earlier one with the same KEY.
//   cwd      -w, else WorkingDir, else "/".
//   user     -u, else User, else root ("" here: resolved later, inside the image's layers).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace mycontainer {

struct ImageConfig {
  std::vector<std::string> env = {};         // "KEY=VALUE"
  std::vector<std::string> entrypoint = {};  // may be empty
  std::vector<std::string> cmd = {};         // may be empty
  std::string working_dir = {};              // "" when unset
  std::string user = {};                     // "" when unset: "1000", "app", "app:staff"
  bool operator==(const ImageConfig&) const = default;
};

// The image config blob (application/vnd.oci.image.config.v1+json, or docker's): its
// "config" object; absent fields (and a null "config") are empty. Throws SpecError when a
// field has the wrong type ("image config: Env must be an array of strings").
ImageConfig image_config_from_json(const nlohmann::json& blob);

// What the command line says (each optional: absent = not given).
struct ImageOverrides {
  std::vector<std::string> env = {};                        // -e, already KEY=VALUE
  std::optional<std::vector<std::string>> entrypoint = {};  // --entrypoint ({} for "")
  std::vector<std::string> args = {};                       // the words after the image
  std::optional<std::string> workdir = {};                  // -w
  std::optional<std::string> user = {};                     // -u
};

struct ImageProcess {
  std::vector<std::string> args;
  std::vector<std::string> env;
  std::string cwd = "/";
  std::string user;  // "" = root
  bool operator==(const ImageProcess&) const = default;
};

// The rules above. `defaults`: the runtime's environment before the image's. `image` names
// the image in the error when there is no command. Throws ctr::UsageError.
ImageProcess apply_image_config(const ImageConfig& config, const std::vector<std::string>& defaults,
                                const ImageOverrides& flags, const std::string& image);

// env with `kv` ("KEY=VALUE") set: any earlier KEY= is removed, kv goes last.
void set_env(std::vector<std::string>& env, const std::string& kv);

}  // namespace mycontainer
