// The registry client (registry.hpp): libcurl for HTTP, OpenSSL's EVP for sha256.
#include "image/registry.hpp"

#include <curl/curl.h>    // curl_easy_*(3): one handle, reused for keep-alive
#include <fcntl.h>        // open(2)
#include <openssl/evp.h>  // EVP_Digest*(3): sha256 while bytes arrive
#include <unistd.h>       // write(2), fdatasync(2), close(2)

#include <algorithm>  // std::ranges::all_of
#include <cctype>     // std::tolower, std::isxdigit
#include <cerrno>     // errno
#include <cstring>    // std::strerror
#include <fstream>    // std::ifstream
#include <memory>     // std::unique_ptr
#include <mutex>      // std::once_flag
#include <system_error>

#include "ctr/error.hpp"    // ctr::printable
#include "ctr/narrate.hpp"  // ctr::narrate: each request is shown by --explain

namespace mycontainer::registry {

namespace fs = std::filesystem;
using nlohmann::json;

// Manifests and indexes are small; a registry that sends more is broken or hostile. 4 MiB is
// the limit the distribution spec asks registries to accept ("Pushing manifests").
constexpr std::size_t kMaxManifestBytes = 4 << 20;
constexpr std::size_t kMaxTokenBytes = 1 << 20;
constexpr std::size_t kMaxErrorBytes = 64 << 10;

// ============================================================================================
// Pure parts
// ============================================================================================

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool is_space(char c) {
  return c == ' ' || c == '\t';
}

// RFC 7230 section 3.2.6: token characters.
bool is_tchar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// A cursor over a header value.
struct Scanner {
  std::string_view s;
  std::size_t i = 0;
  bool done() const { return i >= s.size(); }
  void skip_space() {
    while (!done() && is_space(s[i])) ++i;
  }
  std::string token() {
    const std::size_t start = i;
    while (!done() && is_tchar(s[i])) ++i;
    return std::string(s.substr(start, i - start));
  }
  // A quoted-string (RFC 7230 section 3.2.6), backslash escapes undone; i is on the '"'.
  std::string quoted() {
    std::string out;
    for (++i; !done() && s[i] != '"'; ++i) {
      if (s[i] == '\\' && i + 1 < s.size()) ++i;
      out += s[i];
    }
    if (!done()) ++i;  // the closing quote
    return out;
  }
};

}  // namespace

// challenge = auth-scheme [ 1*SP ( token68 / #auth-param ) ]; auth-param = token BWS "=" BWS
// ( token / quoted-string ). Challenges and parameters share the comma as separator: a
// token followed by a space (not by "=") starts the next challenge.
std::vector<Challenge> parse_www_authenticate(std::string_view header) {
  std::vector<Challenge> out;
  Scanner sc{header};
  while (!sc.done()) {
    sc.skip_space();
    if (!sc.done() && sc.s[sc.i] == ',') {
      ++sc.i;
      continue;
    }
    std::string word = sc.token();
    if (word.empty()) {  // junk: skip one character and try again
      ++sc.i;
      continue;
    }
    sc.skip_space();
    if (!sc.done() && sc.s[sc.i] == '=' && !out.empty()) {
      // A parameter of the current challenge.
      ++sc.i;
      sc.skip_space();
      std::string value = (!sc.done() && sc.s[sc.i] == '"') ? sc.quoted() : sc.token();
      out.back().params.emplace(lower(word), std::move(value));
      continue;
    }
    out.push_back(Challenge{lower(word), {}});
    // token68 (a bare "Basic abc=="): kept as the parameter "" so it is not lost.
    const std::size_t mark = sc.i;
    std::string t68 = sc.token();
    sc.skip_space();
    if (!t68.empty() && (sc.done() || sc.s[sc.i] == ',')) {
      out.back().params.emplace("", std::move(t68));
    } else {
      sc.i = mark;
    }
  }
  return out;
}

bool is_loopback_registry(std::string_view registry) {
  std::string_view host = registry;
  if (host.starts_with('[')) {
    host = host.substr(1, host.find(']') - 1);
  } else if (const auto colon = host.rfind(':'); colon != std::string_view::npos) {
    host = host.substr(0, colon);
  }
  return host == "localhost" || host == "::1" || host.starts_with("127.");
}

std::string registry_base_url(std::string_view registry) {
  // docker.io is a name, not a server: docker's default registry is served by
  // registry-1.docker.io (docker/docker registry/config.go, DefaultRegistryHost).
  if (registry == "docker.io" || registry == "index.docker.io") {
    return "https://registry-1.docker.io";
  }
  return (is_loopback_registry(registry) ? "http://" : "https://") + std::string(registry);
}

Platform wanted_platform() {
  return {"linux", "amd64", ""};
}

namespace {

// containerd's platforms.Normalize for the fields we compare.
Platform normalize(Platform p) {
  p.os = lower(p.os);
  p.architecture = lower(p.architecture);
  if (p.architecture == "x86_64" || p.architecture == "x86-64") p.architecture = "amd64";
  if (p.architecture == "i386") p.architecture = "386";
  if (p.architecture == "amd64" && p.variant == "v1") p.variant = "";
  return p;
}

Platform platform_of(const json& entry) {
  const json& p = entry.contains("platform") && entry["platform"].is_object() ? entry["platform"]
                                                                              : json::object();
  return normalize({p.value("os", ""), p.value("architecture", ""), p.value("variant", "")});
}

// The platforms containerd's platforms.Only(want) accepts, best first. For amd64 that is
// amd64 itself (no variant: a v2 or v3 image may use instructions an older CPU lacks), then
// 386, which every amd64 Linux kernel runs.
std::vector<Platform> acceptable(const Platform& want) {
  std::vector<Platform> v{normalize(want)};
  if (v[0].architecture == "amd64") v.push_back({v[0].os, "386", ""});
  return v;
}

}  // namespace

std::optional<std::size_t> pick_platform(const json& index, const Platform& want) {
  if (!index.contains("manifests") || !index["manifests"].is_array()) return std::nullopt;
  const json& list = index["manifests"];
  for (const Platform& ok : acceptable(want)) {
    for (std::size_t i = 0; i < list.size(); ++i) {
      const Platform p = platform_of(list[i]);
      if (p.os == ok.os && p.architecture == ok.architecture && p.variant == ok.variant) return i;
    }
  }
  return std::nullopt;
}

std::string list_platforms(const json& index) {
  std::string out;
  if (!index.contains("manifests") || !index["manifests"].is_array()) return out;
  for (const json& entry : index["manifests"]) {
    const Platform p = platform_of(entry);
    if (p.os.empty() && p.architecture.empty()) continue;
    if (!out.empty()) out += ", ";
    out += p.os + "/" + p.architecture + (p.variant.empty() ? "" : "/" + p.variant);
  }
  return out.empty() ? "none" : out;
}

bool valid_digest(std::string_view digest) {
  constexpr std::string_view kPrefix = "sha256:";
  if (!digest.starts_with(kPrefix) || digest.size() != kPrefix.size() + 64) return false;
  return std::ranges::all_of(digest.substr(kPrefix.size()), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');  // lowercase only (image-spec)
  });
}

// ============================================================================================
// sha256 and HTTP
// ============================================================================================

namespace {

// sha256 over bytes as they arrive (EVP_DigestInit_ex(3)).
class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new()) {
    if (!ctx_ || EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) != 1) {
      throw std::runtime_error("sha256: cannot initialise OpenSSL's digest");
    }
  }
  void update(const char* data, std::size_t n) { EVP_DigestUpdate(ctx_.get(), data, n); }
  // "sha256:<hex>"
  std::string digest() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx_.get(), md, &len);
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out = "sha256:";
    for (unsigned int i = 0; i < len; ++i) {
      out += kHex[md[i] >> 4];
      out += kHex[md[i] & 15];
    }
    return out;
  }

 private:
  struct Free {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
  };
  std::unique_ptr<EVP_MD_CTX, Free> ctx_;
};

std::string sha256_of(std::string_view bytes) {
  Sha256 h;
  h.update(bytes.data(), bytes.size());
  return h.digest();
}

// Where a response body goes: a string (manifests, tokens, errors) or a file, hashed.
struct Sink {
  std::size_t limit = 0;  // more bytes than this aborts the transfer
  std::string* text = nullptr;
  int fd = -1;
  Sha256* hash = nullptr;
  std::function<void(std::uint64_t)> on_bytes = {};
  std::uint64_t written = 0;
  std::string failure = {};  // why the sink stopped the transfer
};

struct Response {
  long status = 0;
  std::map<std::string, std::string> headers;  // names lowercased; repeated ones joined ", "
  std::string error_body;                      // the body of a non-2xx answer (capped)
  std::string url;                             // the last URL, after redirects
};

// A libcurl easy handle (curl_easy_init(3)), reused for every request of one pull so the
// connection to the registry stays open (HTTP keep-alive).
class Http {
 public:
  explicit Http(const FetchOptions& options) : handle_(curl_easy_init()) {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    if (!handle_) throw RegistryError("libcurl: cannot create a handle");
    ca_file_ = options.ca_file;
  }
  Http(const Http&) = delete;
  Http& operator=(const Http&) = delete;
  ~Http() { curl_easy_cleanup(handle_); }

  // GET url with the extra header lines; a 2xx body goes to sink. Throws RegistryError when
  // no HTTP answer came (refused, DNS, TLS, timeout) or the sink refused the bytes.
  Response get(const std::string& url, const std::vector<std::string>& header_lines, Sink& sink,
               bool loopback_redirects) {
    Transfer t{&sink, {}};
    curl_slist* list = nullptr;
    for (const auto& h : header_lines) list = curl_slist_append(list, h.c_str());
    std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> owned(list, curl_slist_free_all);
    char errbuf[CURL_ERROR_SIZE] = {};

    curl_easy_reset(handle_);
    curl_easy_setopt(handle_, CURLOPT_URL, url.c_str());
    curl_easy_setopt(handle_, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(handle_, CURLOPT_USERAGENT, "mycontainer/" MC_VERSION);
    curl_easy_setopt(handle_, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(handle_, CURLOPT_NOSIGNAL, 1L);
    // Blob GETs are usually answered 307 with a storage URL (S3, a CDN). libcurl does not
    // send our Authorization header to another host or port on a redirect (CVE-2018-1000007,
    // CVE-2022-27776), so the registry's token never reaches the storage server. Redirects
    // stay on https, unless the registry itself is a loopback one (a test's).
    curl_easy_setopt(handle_, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(handle_, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(handle_, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(handle_, CURLOPT_REDIR_PROTOCOLS_STR,
                     loopback_redirects ? "http,https" : "https");
    // Give up on a dead connection instead of hanging: 30 s to connect, and less than one
    // byte a second for a minute aborts.
    curl_easy_setopt(handle_, CURLOPT_CONNECTTIMEOUT, 30L);
    curl_easy_setopt(handle_, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(handle_, CURLOPT_LOW_SPEED_TIME, 60L);
    if (!ca_file_.empty()) curl_easy_setopt(handle_, CURLOPT_CAINFO, ca_file_.c_str());
    curl_easy_setopt(handle_, CURLOPT_HEADERFUNCTION, &Http::on_header);
    curl_easy_setopt(handle_, CURLOPT_HEADERDATA, &t);
    curl_easy_setopt(handle_, CURLOPT_WRITEFUNCTION, &Http::on_body);
    curl_easy_setopt(handle_, CURLOPT_WRITEDATA, &t);

    const CURLcode rc = curl_easy_perform(handle_);
    if (!sink.failure.empty()) throw RegistryError(sink.failure);
    if (rc != CURLE_OK) {
      throw RegistryError("cannot reach " + url + ": " +
                          (errbuf[0] ? std::string(errbuf) : curl_easy_strerror(rc)));
    }
    curl_easy_getinfo(handle_, CURLINFO_RESPONSE_CODE, &t.response.status);
    char* last = nullptr;
    curl_easy_getinfo(handle_, CURLINFO_EFFECTIVE_URL, &last);
    if (last) t.response.url = last;
    return std::move(t.response);
  }

 private:
  struct Transfer {
    Sink* sink;
    Response response;
    long status = 0;  // of the response being received (a redirect's, then the final one's)
  };

  // One header line (CURLOPT_HEADERFUNCTION(3)): a status line starts a new response.
  static std::size_t on_header(char* data, std::size_t size, std::size_t n, void* p) {
    auto& t = *static_cast<Transfer*>(p);
    std::string_view line(data, size * n);
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
    if (line.starts_with("HTTP/")) {
      t.response.headers.clear();
      const auto sp = line.find(' ');
      t.status = sp == std::string_view::npos ? 0 : std::atol(line.data() + sp + 1);
    } else if (const auto colon = line.find(':'); colon != std::string_view::npos) {
      std::string name = lower(line.substr(0, colon));
      std::string_view value = line.substr(colon + 1);
      while (!value.empty() && is_space(value.front())) value.remove_prefix(1);
      auto& slot = t.response.headers[name];
      slot += (slot.empty() ? "" : ", ") + std::string(value);
    }
    return size * n;
  }

  // Body bytes (CURLOPT_WRITEFUNCTION(3)). Returning fewer bytes than given aborts.
  static std::size_t on_body(char* data, std::size_t size, std::size_t n, void* p) {
    auto& t = *static_cast<Transfer*>(p);
    Sink& s = *t.sink;
    const std::size_t len = size * n;
    if (t.status < 200 || t.status > 299) {  // an error page: kept for the message
      auto& body = t.response.error_body;
      body.append(data, std::min(len, kMaxErrorBytes - std::min(kMaxErrorBytes, body.size())));
      return len;
    }
    if (s.written + len > s.limit) {
      s.failure = "the registry sent more than the " + std::to_string(s.limit) +
                  " bytes expected for " + t.response.url;
      return 0;
    }
    if (s.text) s.text->append(data, len);
    if (s.fd >= 0) {
      for (std::size_t off = 0; off < len;) {
        const ssize_t w = ::write(s.fd, data + off, len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) {
          s.failure = std::string("write(blob): ") + std::strerror(errno);
          return 0;
        }
        off += static_cast<std::size_t>(w);
      }
    }
    if (s.hash) s.hash->update(data, len);
    s.written += len;
    if (s.on_bytes) s.on_bytes(s.written);
    return len;
  }

  CURL* handle_;
  std::string ca_file_;
};

// "MANIFEST_UNKNOWN: manifest unknown" from a registry's error body (distribution-spec,
// "Error Codes"), or "" when it is not one.
std::string registry_error_text(const std::string& body) {
  const json j = json::parse(body, nullptr, false);
  if (!j.is_object() || !j.contains("errors") || !j["errors"].is_array() || j["errors"].empty()) {
    return "";
  }
  const json& e = j["errors"][0];
  if (!e.is_object()) return "";
  std::string out = e.value("code", "");
  const std::string message = e.value("message", "");
  if (!message.empty()) out += (out.empty() ? "" : ": ") + message;
  return ctr::printable(out);
}

std::string media_type_of(const Response& r, const json& body) {
  std::string type;
  if (body.is_object() && body.contains("mediaType") && body["mediaType"].is_string()) {
    type = body["mediaType"];
  }
  if (type.empty()) {
    auto it = r.headers.find("content-type");
    if (it != r.headers.end()) type = it->second.substr(0, it->second.find(';'));
  }
  return type;
}

// ============================================================================================
// A pull
// ============================================================================================

class Session {
 public:
  Session(const Target& target, const FetchOptions& options)
      : target_(target),
        options_(options),
        base_(registry_base_url(target.registry)),
        loopback_(is_loopback_registry(target.registry)),
        http_(options) {}

  std::string name() const { return target_.registry + "/" + target_.repository; }

  // GET base/v2/<repo>/<what>, answering one Bearer challenge on the way.
  Response get(const std::string& what, const std::vector<std::string>& headers, Sink& sink) {
    const std::string url = base_ + "/v2/" + target_.repository + "/" + what;
    Response r = once(url, headers, sink);
    if (r.status == 401 && !tried_auth_) {
      tried_auth_ = true;
      authenticate(r);
      r = once(url, headers, sink);
    }
    if (r.status == 401) {
      const std::string why = registry_error_text(r.error_body);
      throw RegistryError("unauthorized: " + name() + " refused an anonymous pull" +
                          (why.empty() ? "" : " (" + why + ")"));
    }
    return r;
  }

 private:
  Response once(const std::string& url, std::vector<std::string> headers, Sink& sink) {
    if (!token_.empty()) headers.push_back("Authorization: Bearer " + token_);
    Response r = http_.get(url, headers, sink, loopback_);
    if (ctr::narrating()) {
      std::string shown;
      for (const auto& h : headers) {
        shown +=
            " -H '" + (h.starts_with("Authorization:") ? "Authorization: Bearer <token>" : h) + "'";
      }
      ctr::narrate({.call = "GET " + url,
                    .result = std::to_string(r.status),
                    .shell = "curl -L" + shown + " " + url,
                    .man = "distribution-spec"});
    }
    return r;
  }

  // A 401: read the challenge and get a token (docker's token spec, "How to authenticate").
  void authenticate(const Response& r) {
    auto it = r.headers.find("www-authenticate");
    const auto challenges =
        parse_www_authenticate(it == r.headers.end() ? std::string_view{} : it->second);
    for (const Challenge& c : challenges) {
      if (c.scheme == "bearer") return bearer(c);
    }
    for (const Challenge& c : challenges) {
      if (c.scheme == "basic") {
        throw RegistryError("unauthorized: " + target_.registry +
                            " asks for a user name and password (Basic auth); mycontainer only "
                            "pulls anonymously");
      }
    }
    throw RegistryError("unauthorized: " + target_.registry +
                        " answered 401 without a Bearer challenge");
  }

  // GET realm?service=...&scope=... -> {"token": ...} (or "access_token", the OAuth2 name;
  // docker accepts both). The scope is the challenge's, else pull on our repository.
  void bearer(const Challenge& c) {
    auto param = [&](const std::string& k) {
      auto it = c.params.find(k);
      return it == c.params.end() ? std::string() : it->second;
    };
    const std::string realm = param("realm");
    if (realm.empty()) throw RegistryError("unauthorized: the Bearer challenge names no realm");
    // The token travels in the clear over http: only to a loopback realm.
    const bool https = realm.starts_with("https://");
    const bool loop_http = realm.starts_with("http://") &&
                           is_loopback_registry(realm.substr(7, realm.find('/', 7) - 7));
    if (!https && !loop_http) {
      throw RegistryError("unauthorized: refusing the token realm '" + ctr::printable(realm) +
                          "' (not https)");
    }
    std::string scope = param("scope");
    if (scope.empty()) scope = "repository:" + target_.repository + ":pull";
    std::string url = realm + (realm.find('?') == std::string::npos ? "?" : "&");
    const std::string service = param("service");
    if (!service.empty()) url += "service=" + escape(service) + "&";
    url += "scope=" + escape(scope);

    std::string body;
    Sink sink{.limit = kMaxTokenBytes, .text = &body};
    const Response r = http_.get(url, {}, sink, loop_http);
    ctr::narrate({.call = "GET " + url,
                  .result = std::to_string(r.status) + " (a token)",
                  .shell = "curl '" + url + "'",
                  .man = "docker token spec"});
    if (r.status != 200) {
      throw RegistryError("unauthorized: the token server " + ctr::printable(realm) + " answered " +
                          std::to_string(r.status));
    }
    const json j = json::parse(body, nullptr, false);
    if (j.is_object() && j.contains("token") && j["token"].is_string()) {
      token_ = j["token"];
    } else if (j.is_object() && j.contains("access_token") && j["access_token"].is_string()) {
      token_ = j["access_token"];
    }
    // A token goes into a header line: no line breaks or other control characters.
    if (token_.empty() || std::ranges::any_of(token_, [](char ch) {
          return static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f;
        })) {
      throw RegistryError("unauthorized: the token server " + ctr::printable(realm) +
                          " sent no usable token");
    }
  }

  std::string escape(const std::string& s) {
    char* e = curl_easy_escape(nullptr, s.c_str(), static_cast<int>(s.size()));
    std::string out = e ? e : "";
    curl_free(e);
    return out;
  }

  Target target_;
  const FetchOptions& options_;
  std::string base_;
  bool loopback_;
  Http http_;
  std::string token_;
  bool tried_auth_ = false;
};

// What a non-2xx answer means, as one line.
[[noreturn]] void fail(const Response& r, const std::string& what) {
  std::string why = registry_error_text(r.error_body);
  if (why.empty()) why = "HTTP " + std::to_string(r.status);
  if (r.status == 404) throw RegistryError("not found: " + what + " (" + why + ")");
  throw RegistryError(what + ": " + why);
}

// A manifest as received: its bytes (written to the layout as they are), its media type and
// digest. Its parsed JSON is kept beside it by the caller.
struct Manifest {
  std::string bytes;
  std::string media_type;
  std::string digest;
};

bool is_index_type(std::string_view t) {
  return t == kOciIndex || t == kDockerList;
}
bool is_manifest_type(std::string_view t) {
  return t == kOciManifest || t == kDockerManifest;
}

// GET a manifest, checked: size, JSON, digest (the one asked for, and the one the registry
// says in Docker-Content-Digest).
Manifest get_manifest(Session& s, const std::string& reference, const std::string& what,
                      json& doc) {
  static const std::string kAccept = "Accept: " + std::string(kOciIndex) + ", " +
                                     std::string(kDockerList) + ", " + std::string(kOciManifest) +
                                     ", " + std::string(kDockerManifest);
  Manifest m;
  Sink sink{.limit = kMaxManifestBytes, .text = &m.bytes};
  const Response r = s.get("manifests/" + reference, {kAccept}, sink);
  if (r.status != 200) fail(r, "manifest for " + what);
  m.digest = sha256_of(m.bytes);
  if (reference.starts_with("sha256:") && m.digest != reference) {
    throw RegistryError("wrong digest: the manifest asked for as " + reference + " has digest " +
                        m.digest);
  }
  auto said = r.headers.find("docker-content-digest");
  if (said != r.headers.end() && said->second.starts_with("sha256:") && said->second != m.digest) {
    throw RegistryError("wrong digest: the registry says the manifest of " + what + " is " +
                        ctr::printable(said->second) + ", its bytes hash to " + m.digest);
  }
  doc = json::parse(m.bytes, nullptr, false);
  if (!doc.is_object()) throw RegistryError("bad manifest for " + what + ": not a JSON object");
  m.media_type = media_type_of(r, doc);
  if (m.media_type.starts_with("application/vnd.docker.distribution.manifest.v1") ||
      doc.value("schemaVersion", 0) == 1) {
    throw RegistryError("unsupported manifest for " + what +
                        ": docker schema 1 (deprecated); push it again with a newer tool");
  }
  return m;
}

// A descriptor (image-spec/descriptor.md) checked enough to name a file: digest, size.
struct Blob {
  std::string digest;
  std::uint64_t size = 0;
  bool is_layer = true;
};

Blob blob_of(const json& d, bool is_layer, const std::string& what) {
  if (!d.is_object() || !d.contains("digest") || !d["digest"].is_string() ||
      !valid_digest(d["digest"].get<std::string>()) || !d.contains("size") ||
      !d["size"].is_number_unsigned()) {
    throw RegistryError("bad manifest for " + what + ": a descriptor without a sha256 digest " +
                        "and a size");
  }
  return {d["digest"], d["size"], is_layer};
}

// Closes an fd at scope exit.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

void report(const FetchOptions& o, const Blob& b, BlobState state, std::uint64_t done) {
  if (o.progress) o.progress({b.digest, b.is_layer, state, done, b.size});
}

// One blob into dir/HEX: linked from the store if it has it, else downloaded into HEX.partial,
// verified (size and sha256), flushed and renamed. Returns the bytes downloaded.
std::uint64_t get_blob(Session& s, const Blob& b, const fs::path& dir, const FetchOptions& o) {
  const fs::path final_path = dir / b.digest.substr(7);
  if (fs::exists(final_path)) return 0;  // listed twice (a config that is also a layer)
  if (o.existing_blob) {
    if (auto have = o.existing_blob(b.digest)) {
      std::error_code ec;
      fs::create_hard_link(*have, final_path, ec);  // same filesystem: the store's tmp dir
      if (ec) fs::copy_file(*have, final_path, ec);
      if (!ec) {
        report(o, b, BlobState::kAlreadyExists, b.size);
        return 0;
      }
    }
  }
  const fs::path partial = final_path.string() + ".partial";
  Fd out{::open(partial.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)};
  if (out.fd < 0) {
    throw RegistryError("open('" + partial.string() + "'): " + std::strerror(errno));
  }
  Sha256 hash;
  Sink sink{.limit = b.size, .fd = out.fd, .hash = &hash};
  sink.on_bytes = [&](std::uint64_t n) { report(o, b, BlobState::kDownloading, n); };
  report(o, b, BlobState::kDownloading, 0);
  const Response r = s.get("blobs/" + b.digest, {}, sink);
  if (r.status != 200) fail(r, "blob " + b.digest + " of " + s.name());
  report(o, b, BlobState::kVerifying, sink.written);
  if (sink.written != b.size) {
    throw RegistryError("wrong size: blob " + b.digest + " is " + std::to_string(sink.written) +
                        " bytes, the manifest says " + std::to_string(b.size));
  }
  if (const std::string got = hash.digest(); got != b.digest) {
    throw RegistryError("wrong digest: blob " + b.digest + " of " + s.name() + " hashes to " + got);
  }
  // The store renames it on: the bytes must be on disk before any name says "verified".
  if (::fdatasync(out.fd) != 0) {
    throw RegistryError("fdatasync('" + partial.string() + "'): " + std::strerror(errno));
  }
  fs::rename(partial, final_path);
  report(o, b, BlobState::kDownloadComplete, b.size);
  return sink.written;
}

// A manifest without an index says its platform only in the config (config.md: "os",
// "architecture", "variant"): refused before any layer is downloaded when it is not one this
// machine runs, as docker does ("does not match the specified platform").
void check_config_platform(const fs::path& blob_dir, const Blob& config, const std::string& what) {
  std::ifstream in(blob_dir / config.digest.substr(7));
  const json c = json::parse(in, nullptr, false);
  if (!c.is_object()) throw RegistryError("bad config for " + what + ": not a JSON object");
  if (!c.contains("architecture") && !c.contains("os")) return;
  const json as_index = {{"manifests", json::array({{{"platform", c}}})}};
  if (!pick_platform(as_index, wanted_platform())) {
    throw RegistryError("no matching manifest for linux/amd64 in " + what + " (it is for " +
                        ctr::printable(list_platforms(as_index)) + ")");
  }
}

void write_file(const fs::path& path, std::string_view bytes) {
  const fs::path partial = path.string() + ".partial";
  Fd out{::open(partial.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)};
  if (out.fd < 0 || ::write(out.fd, bytes.data(), bytes.size()) != ssize_t(bytes.size())) {
    throw RegistryError("write('" + partial.string() + "'): " + std::strerror(errno));
  }
  fs::rename(partial, path);
}

// The linux/amd64 manifest an index names (fetched by digest, checked); platform gets the
// index entry's platform.
Manifest pick_from_index(Session& session, const json& index, const std::string& what,
                         json& platform, json& doc) {
  const auto i = pick_platform(index, wanted_platform());
  if (!i) {
    throw RegistryError("no matching manifest for linux/amd64 in " + what +
                        " (it has: " + ctr::printable(list_platforms(index)) + ")");
  }
  const json& entry = index["manifests"][*i];
  const Blob d = blob_of(entry, false, what);
  Manifest image = get_manifest(session, d.digest, what, doc);
  if (image.bytes.size() != d.size) {
    throw RegistryError("wrong size: manifest " + d.digest + " of " + what);
  }
  platform = entry.value("platform", json::object());
  return image;
}

}  // namespace

FetchResult fetch(const Target& target, const fs::path& layout_dir, const FetchOptions& options) {
  const std::string what = target.registry + "/" + target.repository +
                           (target.reference.starts_with("sha256:") ? "@" : ":") + target.reference;
  Session session(target, options);
  FetchResult result;

  // 1. The reference: an image manifest, or an index of them (one per platform).
  json top_doc;
  const Manifest top = get_manifest(session, target.reference, what, top_doc);
  result.digest = top.digest;
  result.media_type = top.media_type;
  json platform;
  const bool is_index =
      is_index_type(top.media_type) || (top.media_type.empty() && top_doc.contains("manifests"));
  json doc = top_doc;
  const Manifest image = is_index ? pick_from_index(session, top_doc, what, platform, doc) : top;
  if (!is_manifest_type(image.media_type) &&
      !(image.media_type.empty() && doc.contains("layers"))) {
    throw RegistryError("unsupported manifest for " + what + ": media type '" +
                        ctr::printable(image.media_type) + "'");
  }
  result.manifest_digest = image.digest;

  // 2. Its config and layers, each checked, in manifest order.
  if (!doc.contains("layers") || !doc["layers"].is_array()) {
    throw RegistryError("bad manifest for " + what + ": no layers");
  }
  std::vector<Blob> blobs{blob_of(doc.value("config", json()), false, what)};
  for (const json& l : doc["layers"]) blobs.push_back(blob_of(l, true, what));

  // 3. The layout: blobs first, index.json last, so a layout with an index.json is complete.
  const fs::path blob_dir = layout_dir / "blobs" / "sha256";
  fs::create_directories(blob_dir);
  for (const Blob& b : blobs) {
    if (b.is_layer) result.layers.push_back(b.digest);
    report(options, b, BlobState::kWaiting, 0);
  }
  for (const Blob& b : blobs) {
    result.downloaded_bytes += get_blob(session, b, blob_dir, options);
    if (&b == &blobs.front() && platform.empty()) check_config_platform(blob_dir, b, what);
  }
  write_file(blob_dir / image.digest.substr(7), image.bytes);
  write_file(layout_dir / "oci-layout", R"({"imageLayoutVersion":"1.0.0"})");
  json entry = {
      {"mediaType", image.media_type.empty() ? std::string(kOciManifest) : image.media_type},
      {"digest", image.digest},
      {"size", image.bytes.size()}};
  if (!platform.empty()) entry["platform"] = platform;
  json annotations = {{"io.mycontainer.image.repo-digest",
                       target.registry + "/" + target.repository + "@" + top.digest}};
  if (!target.reference.starts_with("sha256:")) {
    annotations["org.opencontainers.image.ref.name"] = target.reference;
  }
  entry["annotations"] = annotations;
  const json index = {{"schemaVersion", 2},
                      {"mediaType", std::string(kOciIndex)},
                      {"manifests", json::array({entry})}};
  write_file(layout_dir / "index.json", index.dump());
  return result;
}

}  // namespace mycontainer::registry
