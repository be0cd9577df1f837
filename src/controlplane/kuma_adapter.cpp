#include "meshfed/controlplane/kuma_adapter.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <optional>
#include <variant>

#include "meshfed/controlplane/mesh_resources.hpp"
#include "meshfed/core/backoff.hpp"
#include "meshfed/core/strict_json.hpp"
#include "meshfed/core/text.hpp"
#include "kuma_inventory.hpp"
#include "meshfed/http/client.hpp"

namespace meshfed::controlplane {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr auto kBackoffMin = 500ms;
constexpr auto kBackoffMax = 30s;

// A failed call: `kind` is the metric label (transport, unauthorized, rejected, not_found,
// server), `message` what the control plane said (its /std-errors detail and fields).
// Kuma is inside our domain, but its answers are still bounded: a list page is at most 1000 items.
constexpr JsonLimits kKumaAnswerLimits{64 * 1024 * 1024, 64};

struct CallError {
  std::string kind;
  std::string message;
  int status = 0;
};

std::string describe_std_error(const std::string& body, int status) {
  const auto parsed = parse_strict_json(body, kKumaAnswerLimits, "Kuma's answer");
  const json j = parsed ? *parsed : json();
  if (!j.is_object()) return "HTTP " + std::to_string(status) + (body.empty() ? "" : ": " + body.substr(0, 200));
  std::string out = j.value("title", "HTTP " + std::to_string(status));
  if (j.contains("detail") && j["detail"].is_string()) out += ": " + j["detail"].get<std::string>();
  if (j.contains("invalid_parameters") && j["invalid_parameters"].is_array()) {
    for (const auto& p : j["invalid_parameters"]) out += "; " + p.value("field", "?") + ": " + p.value("reason", "?");
  }
  return out;
}

std::string kind_of(int status) {
  if (status == 401 || status == 403) return "unauthorized";
  if (status == 404) return "not_found";
  if (status >= 500) return "server";
  return "rejected";
}

// What meshfed sets in a resource's spec, to compare with what the control plane returns (which
// may add schema defaults elsewhere): drift is a difference here.
json managed_part(const json& spec) {
  json out = json::object();
  for (const char* key : {"match", "endpoints", "targetRef", "rules", "from"}) {
    if (spec.contains(key)) out[key] = spec[key];
  }
  return out;
}

// Every resource of a list that carries meshfed's labels. Filtered here rather than with
// filter[labels.*], which Kuma only has from 2.10 on.
std::map<std::string, json> managed_by_name(std::vector<json> items) {
  std::map<std::string, json> out;
  for (auto& r : items) {
    if (!is_managed(r)) continue;
    std::string name = r.value("name", "");  // before the move: json's operator= takes its argument by value
    out[std::move(name)] = std::move(r);
  }
  return out;
}

// Maps a major.minor version string to a comparable number (2.12 -> 212).
int version_number(const std::string& v) {
  const auto parts = split(v, '.');
  if (parts.size() < 2) return 0;
  const auto major = parse_int(parts[0]);
  std::string minor_digits;
  for (char c : parts[1]) {
    if (!std::isdigit(static_cast<unsigned char>(c))) break;
    minor_digits += c;
  }
  const auto minor = parse_int(minor_digits);
  return major && minor ? static_cast<int>(*major * 100 + *minor) : 0;
}

}  // namespace

// One connection to the control plane's API, with the token and the URL's base.
struct KumaAdapter::Client {
  std::unique_ptr<http::HttpsClient> http;
  http::InterruptibleRequests* requests = nullptr;  // the adapter's: stop() breaks off a call in flight
  std::string token;
  std::string base;                 // scheme://host:port, stripped from absolute `next` links
  const WriteTerm* term = nullptr;  // replicas: the round's term, which every write carries

  static Result<std::unique_ptr<Client>> create(const config::KumaControlPlane& cfg, const std::string& token,
                                                http::InterruptibleRequests& requests) {
    bool tls = false;
    std::string host;
    uint16_t port = 0;
    if (!http::parse_http_url(cfg.url, tls, host, port)) {
      return make_error(ErrorCode::kInvalidArgument, "control_plane.url: expected http(s)://host:port, got " + cfg.url);
    }
    http::ClientOptions o = http::ClientOptions::verifying(host, port, cfg.ca_file);
    o.plain = !tls;
    o.timeout = std::chrono::seconds(15);
    if (tls && cfg.ca_file.empty()) {
      return make_error(ErrorCode::kInvalidArgument, "control_plane.ca_file is needed to verify " + cfg.url);
    }
    MESHFED_ASSIGN_OR_RETURN(auto c, http::HttpsClient::create(o));
    auto out = std::make_unique<Client>();
    out->http = std::move(c);
    out->requests = &requests;
    out->token = token;
    out->base = cfg.url.substr(0, cfg.url.find('/', cfg.url.find("://") + 3));
    return out;
  }

  std::map<std::string, std::string> headers(bool with_body, bool write) const {
    std::map<std::string, std::string> h{{"Accept", "application/json"}};
    if (!token.empty()) h["Authorization"] = "Bearer " + token;
    if (with_body) h["Content-Type"] = "application/json";
    if (write && term) h["X-Meshfed-Term"] = std::to_string(term->term);
    return h;
  }

  // The answer's status and JSON body, or why there is none.
  std::variant<std::pair<int, json>, CallError> call(const std::string& method, const std::string& path,
                                                     const std::optional<json>& body = std::nullopt) {
    const bool write = method != "GET";
    if (write && term && !term->may_write()) {
      return CallError{"fenced",
                       method + " " + path + " not sent: leadership term " + std::to_string(term->term) +
                           " is over or not yet writing",
                       0};
    }
    auto res = requests->request(*http, method, path, headers(body.has_value(), write), body ? body->dump() : "");
    if (!res) return CallError{"transport", res.error().message, 0};
    if (res->status >= 400 && res->status != 404) {
      return CallError{kind_of(res->status), method + " " + path + ": " + describe_std_error(res->body, res->status),
                       res->status};
    }
    if (res->body.empty()) return std::pair{res->status, json::object()};
    auto j = parse_strict_json(res->body, kKumaAnswerLimits, "answer");
    if (!j) return CallError{"server", method + " " + path + ": " + j.error().message, res->status};
    return std::pair{res->status, std::move(j).value()};
  }

  // Every item of a list, following `next` links.
  std::variant<std::vector<json>, CallError> list(std::string path) {
    std::vector<json> items;
    for (int pages = 0; pages < 10000; ++pages) {
      auto r = call("GET", path);
      if (auto* e = std::get_if<CallError>(&r)) return *e;
      auto& [status, page] = std::get<std::pair<int, json>>(r);
      if (status == 404)
        return CallError{"not_found", "GET " + path + ": " + describe_std_error(page.dump(), 404), 404};
      if (!page.contains("items") || !page["items"].is_array()) {
        return CallError{"server", "GET " + path + ": a list without items", status};
      }
      for (auto& i : page["items"]) items.push_back(std::move(i));
      if (!page.contains("next") || !page["next"].is_string()) return items;
      std::string next = page["next"];
      // `next` is absolute, built from our Host header: keep our scheme and host, take its path.
      const auto scheme_end = next.find("://");
      path = scheme_end == std::string::npos ? next : next.substr(next.find('/', scheme_end + 3));
    }
    return CallError{"server", "GET " + path + ": more than 10000 pages", 0};
  }
};

namespace {

// Deletes the managed resources under `base` that are no longer wanted, counting with
// `count`; returns the first failure.
template <class ApiClient, class Count>
std::optional<CallError> delete_unwanted(ApiClient& c, const std::string& base,
                                         const std::map<std::string, json>& managed,
                                         const std::set<std::string>& wanted, Count count) {
  std::optional<CallError> first;
  for (const auto& [name, r] : managed) {
    if (wanted.count(name)) continue;
    auto del = c.call("DELETE", base + "/" + name);
    if (auto* e = std::get_if<CallError>(&del)) {
      count("errors_" + e->kind);
      if (!first) first = *e;
      continue;
    }
    count("deleted");
    spdlog::info("kuma: deleted {}/{}", base, name);
  }
  return first;
}

}  // namespace

KumaAdapter::KumaAdapter(config::KumaControlPlane cfg, std::string token)
    : loop_(Settings{std::move(cfg), std::move(token)}) {}

KumaAdapter::~KumaAdapter() { stop(); }

void KumaAdapter::start() {
  loop_.start([this] { run(); });
}

void KumaAdapter::stop() {
  loop_.stop([this] { requests_.stop(); });
}

void KumaAdapter::wake() { loop_.wake(); }

void KumaAdapter::reconfigure(config::KumaControlPlane cfg, std::string token) {
  loop_.reconfigure(Settings{std::move(cfg), std::move(token)});
}

Status KumaAdapter::refresh_inventory(bool force) {
  if (force) wake();
  MutexLock lock(mu_);
  if (!inventory_ && !last_error_.empty()) return make_error(ErrorCode::kUnavailable, last_error_);
  return {};
}

std::shared_ptr<const Inventory> KumaAdapter::inventory() const {
  MutexLock lock(mu_);
  return inventory_ ? inventory_ : std::make_shared<const Inventory>();
}

std::vector<ApplyResult> KumaAdapter::apply(const DesiredState& desired) {
  std::vector<ApplyResult> out;
  {
    MutexLock lock(mu_);
    const bool changed =
        desired.imports.size() != imports_.size() ||
        !std::equal(desired.imports.begin(), desired.imports.end(), imports_.begin(), [](auto& a, auto& b) {
          return a.id == b.id && a.alias == b.alias && a.local_host == b.local_host && a.local_port == b.local_port &&
                 a.port == b.port && a.protocol == b.protocol;
        });
    imports_ = desired.imports;
    for (const auto& i : desired.imports) {
      const auto it = results_.find(i.id);
      out.push_back(it != results_.end() ? it->second : ApplyResult{ApplyResult::Kind::kImport, i.id, true, ""});
    }
    if (!changed) return out;
  }
  wake();
  return out;
}

void KumaAdapter::set_exports(std::vector<DesiredExport> exports) {
  {
    MutexLock lock(mu_);
    exports_ = std::move(exports);
  }
  wake();
}

void KumaAdapter::set_writes(std::optional<WriteTerm> term) {
  {
    MutexLock lock(mu_);
    writes_ = term.has_value();
    term_ = std::move(term);
  }
  wake();
}

void KumaAdapter::on_results_changed(std::function<void()> listener) {
  MutexLock lock(mu_);
  results_listener_ = std::move(listener);
}

Health KumaAdapter::health() const {
  MutexLock lock(mu_);
  Health h;
  h.inventory_errors = inventory_errors_;
  h.events = events_;
  h.ready = inventory_ != nullptr;
  const std::string cp =
      "kuma " + (version_.empty() ? std::string("(version unknown)") : version_) + " at " + loop_.settings().cfg.url;
  if (!inventory_) {
    h.detail = "no inventory from " + cp + (last_error_.empty() ? " yet" : ": " + last_error_);
  } else if (!last_error_.empty()) {
    h.detail = "using the last good inventory (" + std::to_string(inventory_->services.size()) + " services); " + cp +
               ": " + last_error_;
  } else {
    h.detail = "inventory from " + cp + " (" + std::to_string(inventory_->services.size()) + " services)";
  }
  return h;
}

void KumaAdapter::count(const std::string& event) {
  MutexLock lock(mu_);
  ++events_[event];
}

void KumaAdapter::run() {
  Backoff backoff(kBackoffMin, kBackoffMax);
  // One client (one kept-alive connection, one TLS context) for as long as the settings hold.
  std::unique_ptr<Client> client;
  Settings settings;
  bool changed = false;
  while (loop_.next_round(settings, changed)) {
    std::chrono::milliseconds pause = settings.cfg.poll_interval;
    if (changed || !client) {
      auto made = Client::create(settings.cfg, settings.token, requests_);
      client = made ? std::move(made).value() : nullptr;
      if (!made) {
        MutexLock lock(mu_);
        last_error_ = made.error().message;
      }
    }
    if (!client) {
      // Settings that make no client yet (say, a CA file still missing): reported, tried next round.
    } else if (round(*client, settings.cfg)) {
      backoff.reset();
    } else {
      pause = std::min(pause, backoff.next());
    }
    if (fenced_) pause = std::min<std::chrono::milliseconds>(pause, kFencedRetry);
    loop_.sleep_until(std::chrono::steady_clock::now() + pause);
  }
}

bool KumaAdapter::round(Client& c, const config::KumaControlPlane& cfg) {
  count("reconcile_runs");
  std::vector<DesiredImport> imports;
  std::vector<DesiredExport> exports;
  bool writes = true;
  std::optional<WriteTerm> term;
  {
    MutexLock lock(mu_);
    imports = imports_;
    exports = exports_;
    writes = writes_;
    term = term_;
  }
  c.term = term ? &*term : nullptr;
  fenced_ = false;
  if (writes && term) {
    // A term not writing yet (its first lease) or no longer current writes nothing this round,
    // and the next round comes soon: a new leader starts writing as soon as it may.
    Status st = term->may_write() ? term->confirm()
                                  : make_error(ErrorCode::kUnavailable, "the term's lease does not let it write now");
    if (!st) {
      count("rounds_fenced");
      spdlog::debug("kuma: not writing this round (term {}): {}", term->term, st.error().message);
      writes = false;
      fenced_ = true;
    }
  }
  spdlog::debug("kuma: reconciling {} imports and {} exports with {}", imports.size(), exports.size(), cfg.url);
  std::string error;
  std::map<std::string, ApplyResult> results;
  try {
    if (auto st = poll_inventory(c, cfg); !st) error = st.error().message;
    if (writes) {
      if (auto st = reconcile_imports(c, cfg, imports, results); !st && error.empty()) error = st.error().message;
      if (auto st = reconcile_exports(c, cfg, exports); !st && error.empty()) error = st.error().message;
    }
  } catch (const json::exception& e) {
    // A field of a type the contract does not allow, read by a path that does not check it:
    // this round fails like a failed call, and the adapter's thread lives on.
    count("errors_invalid_answer");
    error = std::string("an answer that does not follow the Kuma API: ") + e.what();
  }
  std::function<void()> tell;
  {
    MutexLock lock(mu_);
    if (!error.empty() && error != last_error_) spdlog::warn("kuma: {}", error);
    if (error.empty() && !last_error_.empty()) spdlog::info("kuma: {} answers again", cfg.url);
    last_error_ = error;
    bool changed = false;
    for (auto& [id, r] : results) {
      auto it = results_.find(id);
      changed = changed || it == results_.end() || it->second.applied != r.applied || it->second.reason != r.reason;
    }
    // Keep what this round could not find out (a failed call) from the previous round.
    for (auto& [id, r] : results) results_[id] = r;
    std::erase_if(results_, [&](const auto& kv) {
      return std::none_of(imports.begin(), imports.end(), [&](const auto& i) { return i.id == kv.first; });
    });
    if (changed) tell = results_listener_;
  }
  if (tell) tell();
  return error.empty();
}

Status KumaAdapter::poll_inventory(Client& c, const config::KumaControlPlane& cfg) {
  auto fail = [&](const CallError& e) -> Status {
    MutexLock lock(mu_);
    ++inventory_errors_;
    ++events_["errors_" + e.kind];
    return make_error(ErrorCode::kUnavailable, "inventory: " + e.message);
  };
  auto index = c.call("GET", "/");
  if (auto* e = std::get_if<CallError>(&index)) return fail(*e);
  const std::string version = std::get<std::pair<int, json>>(index).second.value("version", "");
  {
    MutexLock lock(mu_);
    if (version != version_) {
      const int v = version_number(version);
      spdlog::info("kuma: control plane {} at {}: {}", version.empty() ? "(no version)" : version, cfg.url,
                   v >= 212   ? "MeshTrafficPermission rules with SPIFFE IDs"
                   : v >= 209 ? "MeshTrafficPermission 'from' with kuma.io/service (before 2.12)"
                              : "older than 2.9, which meshfed does not support: MeshServices may be missing");
      version_ = version;
    }
  }
  auto inv = std::make_shared<Inventory>();
  std::vector<std::string> skipped;
  auto add = [&](KumaServices found) {
    std::move(found.services.begin(), found.services.end(), std::back_inserter(inv->services));
    std::move(found.skipped.begin(), found.skipped.end(), std::back_inserter(skipped));
  };
  for (const auto& mesh : cfg.meshes) {
    auto m = c.call("GET", "/meshes/" + mesh);
    if (auto* e = std::get_if<CallError>(&m)) return fail(*e);
    auto& [status, mesh_doc] = std::get<std::pair<int, json>>(m);
    if (status == 404) return fail({"not_found", "mesh " + mesh + " does not exist", 404});
    std::string mode = "Disabled";
    if (mesh_doc.contains("meshServices") && mesh_doc["meshServices"].is_object()) {
      mode = mesh_doc["meshServices"].value("mode", "Disabled");
    }
    if (version_number(version) >= 300) mode = "Exclusive";  // 3.0 always has MeshServices
    if (mode != "Disabled") {
      auto list = c.list("/meshes/" + mesh + "/meshservices?size=100");
      if (auto* e = std::get_if<CallError>(&list)) return fail(*e);
      add(services_from_mesh_services(mesh, std::get<std::vector<json>>(list), cfg.ingress_zone));
      continue;
    }
    // No MeshServices in this mesh: the services are the Dataplanes' kuma.io/service tags,
    // reached through the mesh's VIP and port 80.
    auto list = c.list("/meshes/" + mesh + "/dataplanes?size=100");
    if (auto* e = std::get_if<CallError>(&list)) return fail(*e);
    add(services_from_dataplanes(mesh, std::get<std::vector<json>>(list)));
  }
  MutexLock lock(mu_);
  if (skipped != skipped_) {
    // Said once per change, not every poll: the same odd item stays odd until someone fixes it.
    // A page of odd items is up to a thousand: the first few name the problem, the count the size.
    constexpr size_t kNamed = 20;
    for (size_t i = 0; i < skipped.size() && i < kNamed; ++i)
      spdlog::warn("kuma: inventory: left out {}", escape_for_log(skipped[i]));
    if (skipped.size() > kNamed) spdlog::warn("kuma: inventory: and {} more left out", skipped.size() - kNamed);
    skipped_ = std::move(skipped);
  }
  inventory_ = std::move(inv);
  return {};
}

Status KumaAdapter::reconcile_imports(Client& c, const config::KumaControlPlane& cfg,
                                      const std::vector<DesiredImport>& imports,
                                      std::map<std::string, ApplyResult>& results) {
  const std::string base = "/meshes/" + cfg.import_mesh + "/meshexternalservices";
  auto all = c.list(base + "?size=1000");
  if (auto* e = std::get_if<CallError>(&all)) {
    count("errors_" + e->kind);
    return make_error(ErrorCode::kUnavailable, "imports: " + e->message);
  }
  const auto managed = managed_by_name(std::move(std::get<std::vector<json>>(all)));
  std::optional<CallError> first_error;
  std::set<std::string> wanted;
  for (const auto& i : imports) {
    const json doc = mesh_external_service(i, cfg.import_mesh);
    const std::string name = doc["name"];
    wanted.insert(name);
    const auto it = managed.find(name);
    if (it != managed.end() && managed_part(it->second.value("spec", json::object())) == managed_part(doc["spec"]) &&
        it->second.value("labels", json::object()).value("meshfed.io/import-id", "") == i.id) {
      results[i.id] = {ApplyResult::Kind::kImport, i.id, true, ""};
      continue;
    }
    if (it == managed.end()) {
      // Not ours by label: someone else's resource of that name must never be overwritten.
      auto existing = c.call("GET", base + "/" + name);
      if (auto* e = std::get_if<CallError>(&existing)) {
        count("errors_" + e->kind);
        if (!first_error) first_error = *e;
        continue;
      }
      if (std::get<std::pair<int, json>>(existing).first != 404) {
        results[i.id] = {ApplyResult::Kind::kImport, i.id, false,
                         "name clash: MeshExternalService " + name + " exists in mesh " + cfg.import_mesh +
                             " and is not managed by meshfed"};
        count("name_clashes");
        continue;
      }
    }
    auto put = c.call("PUT", base + "/" + name, doc);
    if (auto* e = std::get_if<CallError>(&put)) {
      count("errors_" + e->kind);
      if (e->kind == "rejected") {
        results[i.id] = {ApplyResult::Kind::kImport, i.id, false,
                         "control plane refused the MeshExternalService: " + e->message};
      } else if (!first_error) {
        first_error = *e;
      }
      continue;
    }
    count(it == managed.end() ? "created" : "drift_repaired");
    spdlog::info("kuma: {} MeshExternalService {} for import {}", it == managed.end() ? "created" : "repaired", name,
                 i.id);
    results[i.id] = {ApplyResult::Kind::kImport, i.id, true, ""};
  }
  if (auto e = delete_unwanted(c, base, managed, wanted, [this](const std::string& ev) { count(ev); });
      e && !first_error) {
    first_error = e;
  }
  if (first_error) return make_error(ErrorCode::kUnavailable, "imports: " + first_error->message);
  return {};
}

Status KumaAdapter::reconcile_exports(Client& c, const config::KumaControlPlane& cfg,
                                      const std::vector<DesiredExport>& exports) {
  std::string version;
  {
    MutexLock lock(mu_);
    version = version_;
  }
  IngressIdentity ingress;
  ingress.service = cfg.ingress_service;
  ingress.rules_form = version_number(version) >= 212;
  std::optional<CallError> first_error;
  for (const auto& mesh : cfg.meshes) {
    ingress.spiffe_id =
        cfg.ingress_spiffe_id.empty() ? "spiffe://" + mesh + "/" + cfg.ingress_service : cfg.ingress_spiffe_id;
    const std::string base = "/meshes/" + mesh + "/meshtrafficpermissions";
    auto all = c.list(base + "?size=1000");
    if (auto* e = std::get_if<CallError>(&all)) {
      count("errors_" + e->kind);
      return make_error(ErrorCode::kUnavailable, "exports: " + e->message);
    }
    const auto managed = managed_by_name(std::move(std::get<std::vector<json>>(all)));
    std::set<std::string> wanted;
    for (const auto& e : exports) {
      if (e.mesh != mesh) continue;
      const json doc = mesh_traffic_permission(e, ingress);
      const std::string name = doc["name"];
      wanted.insert(name);
      const auto it = managed.find(name);
      if (it != managed.end() && managed_part(it->second.value("spec", json::object())) == managed_part(doc["spec"]))
        continue;
      auto put = c.call("PUT", base + "/" + name, doc);
      if (auto* err = std::get_if<CallError>(&put)) {
        count("errors_" + err->kind);
        if (!first_error) first_error = *err;
        continue;
      }
      count(it == managed.end() ? "created" : "drift_repaired");
      spdlog::info("kuma: {} MeshTrafficPermission {} for export {}", it == managed.end() ? "created" : "repaired",
                   name, e.id);
    }
    if (auto e = delete_unwanted(c, base, managed, wanted, [this](const std::string& ev) { count(ev); });
        e && !first_error) {
      first_error = e;
    }
  }
  if (first_error) return make_error(ErrorCode::kUnavailable, "exports: " + first_error->message);
  return {};
}

}  // namespace meshfed::controlplane
