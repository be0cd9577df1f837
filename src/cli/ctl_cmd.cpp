// meshfed ctl: the command-line client of the admin API. Aligned tables for people, -o json
// (the API's own documents) for scripts. URL, token and CA from flags or MESHFED_URL,
// MESHFED_TOKEN and MESHFED_CA_FILE.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <functional>
#include <fstream>
#include <iostream>

#include "exit_codes.hpp"
#include "meshfed/cli/cli.hpp"
#include "meshfed/core/strict_json.hpp"
#include "meshfed/core/text.hpp"
#include "meshfed/http/client.hpp"
#include "meshfed/http/message.hpp"
#include "output.hpp"

namespace meshfed::cli {
namespace {

using nlohmann::json;

struct CtlOptions {
  std::string url;
  std::string token;
  std::string token_file;
  std::string ca_file;
};

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

// Prints a table with columns sized to their widest cell.
void print_table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width(header.size());
  for (size_t i = 0; i < header.size(); ++i) width[i] = header[i].size();
  for (const auto& r : rows) {
    for (size_t i = 0; i < r.size() && i < width.size(); ++i) width[i] = std::max(width[i], r[i].size());
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string out;
    for (size_t i = 0; i < cells.size(); ++i) {
      out += cells[i];
      if (i + 1 < cells.size()) out += std::string(width[i] - cells[i].size() + 2, ' ');
    }
    std::cout << out << "\n";
  };
  line(header);
  for (const auto& r : rows) line(r);
}

// A value of the API's answer as a table cell. Strings may be a peer's or a stranger's words
// (a last_error, a reason): escaped as in the log, so that no terminal sequence or bidi mark
// reaches the operator's terminal (-o json keeps them as sent).
std::string text(const json& j) {
  if (j.is_null()) return "-";
  if (j.is_string()) return escape_for_log(j.get<std::string>(), std::string::npos);
  if (j.is_array()) {
    std::string s;
    for (const auto& x : j) s += (s.empty() ? "" : ",") + text(x);
    return s.empty() ? "-" : s;
  }
  return j.dump();
}

class Ctl {
 public:
  Ctl(const CtlOptions& o, Invocation& run) : o_(o), run_(run) {}

  // Sends the request; reports the failure and returns nullopt when it fails.
  std::optional<json> call(const std::string& method, const std::string& target, const json* body = nullptr,
                           const std::map<std::string, std::string>& extra = {}) {
    std::string host;
    uint16_t port = 0;
    if (!http::parse_https_url(o_.url, host, port)) {
      return failed(run_.out.usage("ctl", "--url: expected https://host:port, got \"" + o_.url + "\""));
    }
    std::string token = o_.token;
    if (token.empty() && !o_.token_file.empty()) {
      auto read = read_secret_file(o_.token_file);
      if (!read)
        return failed(run_.out.fail("ctl", make_error(read.error().code, "--token-file: " + read.error().message)));
      token = *read;
    }
    if (token.empty())
      return failed(run_.out.usage("ctl", "no token: pass --token, --token-file or set MESHFED_TOKEN"));
    if (o_.ca_file.empty()) {
      return failed(run_.out.usage(
          "ctl", "no CA to verify the broker: pass --ca-file or set MESHFED_CA_FILE (the domain's ca.pem)"));
    }
    auto client = http::HttpsClient::create(http::ClientOptions::verifying(host, port, o_.ca_file));
    if (!client) return failed(run_.out.fail("ctl", client.error()));
    std::map<std::string, std::string> headers = extra;
    headers["Authorization"] = "Bearer " + token;
    std::string payload;
    if (body) {
      headers["Content-Type"] = "application/json";
      payload = body->dump();
    }
    auto res = (*client)->request(method, target, headers, payload);
    if (!res) {
      // A refused certificate stays what it is (exit 1); anything else on the way is worth a retry.
      const ErrorCode code =
          res.error().code == ErrorCode::kUntrusted ? ErrorCode::kUntrusted : ErrorCode::kUnavailable;
      return failed(run_.out.fail("ctl", make_error(code, res.error().message)));
    }
    json parsed = json::parse(res->body, nullptr, false);
    if (res->status >= 400) return failed(run_.out.api_failure(res->status, parsed, res->body));
    return parsed;
  }

  // Under -o json the answer is printed as the API sent it, instead of a table.
  bool json_output() const { return run_.out.json(); }
  void emit(const nlohmann::json& doc) const { run_.out.print(doc, {}); }
  // A list: for scripts the items as the API sent them, for people a table of one row each.
  void show_list(const json& items, const std::vector<std::string>& header,
                 const std::function<std::vector<std::string>(const json&)>& row_of) const {
    if (json_output()) return emit(items);
    std::vector<std::vector<std::string>> rows;
    for (const auto& item : items) rows.push_back(row_of(item));
    print_table(header, rows);
  }

 private:
  std::nullopt_t failed(int exit_code) {
    run_.exit_code = exit_code;
    return std::nullopt;
  }

  const CtlOptions& o_;
  Invocation& run_;
};

// Every item of a paginated list, following `next` until the last page.
std::optional<json> fetch_all(Ctl& c, const std::string& target) {
  json all = json::array();
  std::string after;
  const char sep = target.find('?') == std::string::npos ? '?' : '&';
  for (;;) {
    auto page =
        c.call("GET", target + sep + "limit=1000" + (after.empty() ? "" : "&after=" + http::percent_encode(after)));
    if (!page) return std::nullopt;
    for (auto& item : (*page)["items"]) all.push_back(std::move(item));
    if ((*page)["next"].is_null()) return all;
    after = (*page)["next"].get<std::string>();
  }
}

// When an export ends, or "-" once it has ended some other way (revoked, rejected, ...): a
// terminal export has no expiry to speak of.
std::string expiry_of(const json& e) {
  const std::string state = e.value("state", "");
  if (state != "pending" && state != "approved") return "-";
  return text(e["expires_at"]);
}

// An export's L7 rules, one line each ("GET,HEAD prefix /v1/rates/", "grpc payments.v1.Rates/Get"),
// or "none (TCP)".
std::vector<std::string> l7_lines(const json& l7) {
  if (!l7.is_object()) return {"none (TCP: any bytes)"};
  std::vector<std::string> out;
  for (const auto& name : l7.value("grpc", json::array())) out.push_back("grpc " + text(name));
  for (const auto& rule : l7.value("http", json::array())) {
    const json path = rule.value("path", json::object());
    const char* kind = path.contains("exact") ? "exact" : "prefix";
    out.push_back(text(rule.value("methods", json::array())) + " " + kind + " " + text(path.value(kind, json())));
  }
  return out;
}

// The "l7:" lines of an export or an import: what its peer may call.
void print_l7(const json& export_or_import) {
  const auto rules = l7_lines(export_or_import.value("l7", json()));
  for (size_t i = 0; i < rules.size(); ++i) {
    std::cout << (i ? "                " : "l7:             ") << rules[i] << "\n";
  }
}

void print_export(const json& e) {
  std::cout << "id:             " << text(e["id"]) << "\n"
            << "state:          " << text(e["state"]) << (e.value("target_missing", false) ? " (target missing)" : "")
            << "\n"
            << "service:        " << text(e["mesh"]) << "/" << text(e["service"]) << ":" << text(e["port"]) << " ("
            << text(e["protocol"]) << ")\n"
            << "alias:          " << text(e["alias"]) << "\n"
            << "peers:          " << text(e["peers"]) << "\n"
            << "sni:            " << text(e["sni"]) << "\n";
  print_l7(e);
  if (e.value("l7_change", json()).is_object()) {
    const auto proposed = l7_lines(e["l7_change"]["l7"]);
    for (size_t i = 0; i < proposed.size(); ++i) {
      std::cout << (i ? "                " : "l7 proposed:    ") << proposed[i] << "\n";
    }
    std::cout << "                by " << text(e["l7_change"]["proposed_by"]) << ", waiting for another approver\n";
  }
  std::cout << "requested:      " << text(e["requested_at"]) << " by " << text(e["requested_by"]) << ": "
            << text(e["reason"]) << "\n"
            << "decided by:     " << text(e["decided_by"]) << "\n"
            << "approved at:    " << text(e["approved_at"]) << "\n"
            << "expires at:     " << expiry_of(e) << "\n"
            << "version:        " << text(e["version"]) << "\n"
            << "history:\n";
  std::vector<std::vector<std::string>> rows;
  for (const auto& h : e["history"]) {
    rows.push_back({text(h["time"]), text(h["actor"]), text(h["action"]), text(h["to"]), text(h["comment"])});
  }
  print_table({"TIME", "ACTOR", "ACTION", "STATE", "COMMENT"}, rows);
}

// The peer's current error with its time (a peer that answers again has none).
std::string last_error_of(const json& peer) {
  if (!peer.value("last_error", json()).is_string()) return "-";
  return text(peer["last_error_at"]) + " " + text(peer["last_error"]);
}

void print_import(const json& i) {
  const auto endpoint = [](const json& e) { return e.is_object() ? text(e["host"]) + ":" + text(e["port"]) : "-"; };
  std::cout << "id:             " << text(i["id"]) << "\n"
            << "state:          " << text(i["state"])
            << (i.value("reason", "").empty() ? "" : " (" + text(i["reason"]) + ")") << "\n"
            << "peer:           " << text(i["peer"]) << " (export " << text(i["export_id"]) << ")\n"
            << "service:        " << text(i["alias"]) << ":" << text(i["port"]) << " (" << text(i["protocol"]) << ")\n"
            << "sni:            " << text(i["sni"]) << "\n";
  print_l7(i);
  std::cout << "peer ingress:   " << endpoint(i["ingress"]) << "\n"
            << "local egress:   " << endpoint(i["local"]) << "\n"
            << "first seen:     " << text(i["first_seen"]) << "\n"
            << "last seen:      " << text(i["last_seen"]) << "\n"
            << "approved at:    " << text(i["approved_at"]) << "\n"
            << "expires at:     " << text(i["expires_at"]) << "\n"
            << "version:        " << text(i["version"]) << "\n";
}

constexpr size_t kMaxJsonArgBytes = 256 * 1024;  // a bundle's four CAs of 16 KiB fit many times over

// A JSON object given on the command line (`value` starts with '{') or in the file `value`
// names, at most kMaxJsonArgBytes; the usage error, naming `flag`, otherwise.
std::optional<json> read_json_arg(const std::string& value, const std::string& flag, Invocation& run) {
  std::string text;
  if (!value.empty() && value.front() == '{') {
    text = value;
  } else {
    std::ifstream in(value, std::ios::binary);
    if (!in) {
      run.exit_code = run.out.usage("ctl", flag + ": cannot read " + value);
      return std::nullopt;
    }
    text.resize(kMaxJsonArgBytes + 1);
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    text.resize(static_cast<size_t>(in.gcount()));
  }
  if (text.size() > kMaxJsonArgBytes) {
    run.exit_code = run.out.usage("ctl", flag + ": larger than 256 KiB");
    return std::nullopt;
  }
  auto doc = parse_strict_json(text, {kMaxJsonArgBytes, 8}, flag);
  if (!doc || !doc->is_object()) {
    run.exit_code = run.out.usage("ctl", flag + ": expected a JSON object" + (doc ? "" : ": " + doc.error().message));
    return std::nullopt;
  }
  return std::move(doc).value();
}

// A bundle file as `meshfed peer bundle -o json` or `ctl peers bundle -o json` wrote it
// ({bundle, fingerprint}), or the bundle alone. Its fingerprint is never taken from the file:
// the one that counts is the one read aloud by the other domain's admin.
std::optional<json> read_bundle_file(const std::string& file, Invocation& run) {
  auto doc = read_json_arg(file, "--bundle", run);
  if (doc && doc->contains("bundle")) return (*doc)["bundle"];
  return doc;
}

void show_peer(const json& p) {
  std::cout << text(p["domain"]) << ": " << text(p["state"]);
  if (p.contains("peering")) std::cout << "  (fingerprint " << text(p["peering"]["fingerprint"]) << ")";
  std::cout << "\n";
}

// ctl peers bundle|add|approve|rollover|remove: peering through the admin API, four-eyes on each side.
void add_peering_commands(CLI::App& peers, const std::shared_ptr<CtlOptions>& o, Invocation& run) {
  peers.add_subcommand("bundle", "Print this domain's peering bundle and its fingerprint, from the broker")
      ->footer(
          "Example: meshfed ctl peers bundle -o json > pci-bundle.json\n"
          "Mail the file; read the fingerprint to the other domain's admin by another channel.")
      ->callback([o, &run] {
        Ctl c(*o, run);
        auto j = c.call("GET", "/api/v1/peering/bundle");
        if (!j) return;
        if (c.json_output()) return c.emit(*j);
        std::cout << (*j)["bundle"].dump(2) << "\n\nFingerprint (read it to the other domain's admin):\n  "
                  << text((*j)["fingerprint"]) << "\n";
      });

  struct AddArgs {
    std::string bundle_file, fingerprint, import_policy = "manual", reason;
    std::optional<int64_t> max_exports, max_egress_ports;
  };
  auto a = std::make_shared<AddArgs>();
  auto* add =
      peers.add_subcommand("add", "Propose another domain as a peer, by its bundle and the fingerprint you were read");
  add->add_option("--bundle", a->bundle_file, "the other domain's bundle file")->required();
  add->add_option("--fingerprint", a->fingerprint, "the fingerprint its admin read to you (not the file's)")
      ->required();
  add->add_option("--import-policy", a->import_policy, "manual (each import accepted by hand) or auto")
      ->check(CLI::IsMember({"manual", "auto"}));
  add->add_option("--max-exports", a->max_exports, "the most exports its catalog may carry (default 1000)");
  add->add_option("--max-egress-ports", a->max_egress_ports, "the most egress ports its imports may hold");
  add->add_option("--reason", a->reason, "why this domain should become a peer")->required();
  add->footer(
      "Example: meshfed ctl peers add --bundle pci-bundle.json --fingerprint \"3f1a 09bc ...\" --reason \"CHG-2231\"\n"
      "Another admin then runs: meshfed ctl peers approve pci");
  add->callback([o, a, &run] {
    auto bundle = read_bundle_file(a->bundle_file, run);
    if (!bundle) return;
    Ctl c(*o, run);
    json body = {{"bundle", *bundle},
                 {"fingerprint", a->fingerprint},
                 {"import_policy", a->import_policy},
                 {"reason", a->reason}};
    if (a->max_exports) body["max_exports"] = *a->max_exports;
    if (a->max_egress_ports) body["max_egress_ports"] = *a->max_egress_ports;
    auto j = c.call("POST", "/api/v1/peers", &body);
    if (!j) return;
    if (c.json_output()) return c.emit(*j);
    show_peer(*j);
  });

  auto domain = std::make_shared<std::string>();
  auto comment = std::make_shared<std::string>();
  auto* approve = peers.add_subcommand("approve", "Approve a peer another admin proposed");
  approve->add_option("domain", *domain, "peer domain")->required();
  approve->add_option("--comment", *comment, "a note for the audit log");
  approve->footer("Example: meshfed ctl peers approve pci --comment \"fingerprint compared with Ana by phone\"");
  approve->callback([o, domain, comment, &run] {
    Ctl c(*o, run);
    json body = json::object();
    if (!comment->empty()) body["comment"] = *comment;
    auto j = c.call("POST", "/api/v1/peers/" + http::percent_encode(*domain) + "/approve", &body);
    if (!j) return;
    if (c.json_output()) return c.emit(*j);
    show_peer(*j);
  });

  struct RolloverArgs {
    std::string domain, bundle_file, fingerprint, reason;
  };
  auto ro = std::make_shared<RolloverArgs>();
  auto* rollover = peers.add_subcommand(
      "rollover", "Propose a peer's new bundle (its CA rollover); another admin approves it with peers approve");
  rollover->add_option("domain", ro->domain, "peer domain")->required();
  rollover->add_option("--bundle", ro->bundle_file, "the peer's new bundle file")->required();
  rollover->add_option("--fingerprint", ro->fingerprint, "the fingerprint its admin read to you (not the file's)")
      ->required();
  rollover->add_option("--reason", ro->reason, "why the bundle changes")->required();
  rollover->footer(
      "Example: meshfed ctl peers rollover pci --bundle pci-next.json --fingerprint \"9c04 ...\" --reason \"CA "
      "rollover\"\nAnother admin then runs: meshfed ctl peers approve pci");
  rollover->callback([o, ro, &run] {
    auto bundle = read_bundle_file(ro->bundle_file, run);
    if (!bundle) return;
    Ctl c(*o, run);
    json body = {{"bundle", *bundle}, {"fingerprint", ro->fingerprint}, {"reason", ro->reason}};
    auto j = c.call("PUT", "/api/v1/peers/" + http::percent_encode(ro->domain) + "/bundle", &body);
    if (!j) return;
    if (c.json_output()) return c.emit(*j);
    std::cout << ro->domain << ": new bundle proposed (fingerprint "
              << text((*j)["peering"]["next_bundle"]["fingerprint"]) << ")\n";
  });

  auto removed = std::make_shared<std::string>();
  auto reason = std::make_shared<std::string>();
  auto* remove = peers.add_subcommand("remove", "Remove a peer added through the API: its imports and connections end");
  remove->add_option("domain", *removed, "peer domain")->required();
  remove->add_option("--reason", *reason, "why")->required();
  remove->footer("Example: meshfed ctl peers remove pci --reason \"contract ended\"");
  remove->callback([o, removed, reason, &run] {
    Ctl c(*o, run);
    json body = {{"reason", *reason}};
    auto j = c.call("DELETE", "/api/v1/peers/" + http::percent_encode(*removed), &body);
    if (!j) return;
    if (c.json_output()) return c.emit(*j);
    std::cout << *removed << ": removed\n";
  });
}

}  // namespace

void add_ctl_commands(CLI::App& app, Invocation& run) {
  auto o = std::make_shared<CtlOptions>();
  auto* ctl = app.add_subcommand("ctl", "Command-line client of a broker's admin API");
  ctl->require_subcommand(1);
  ctl->footer(
      "Example: MESHFED_TOKEN=$(cat ~/.meshfed/token) MESHFED_CA_FILE=/etc/meshfed/pci/pki/ca.pem "
      "meshfed ctl exports list --state pending");
  ctl->fallthrough();  // ctl options may follow the subcommand: meshfed ctl exports list --json
  o->url = env_or("MESHFED_URL", "https://127.0.0.1:9440");
  o->token = env_or("MESHFED_TOKEN", "");
  o->ca_file = env_or("MESHFED_CA_FILE", "");
  ctl->add_option("--url", o->url, "admin API URL (MESHFED_URL)")->capture_default_str();
  ctl->add_option("--token", o->token, "bearer token (MESHFED_TOKEN)");
  ctl->add_option("--token-file", o->token_file, "file holding the bearer token");
  ctl->add_option("--ca-file", o->ca_file, "the domain CA that signed the broker certificate (MESHFED_CA_FILE)");

  auto* services = ctl->add_subcommand("services", "List the local inventory");
  services->footer("Example: meshfed ctl services");
  services->callback([o, &run] {
    Ctl c(*o, run);
    auto j = c.call("GET", "/api/v1/services");
    if (!j) return;
    if (c.json_output()) return c.emit(*j);
    std::vector<std::vector<std::string>> rows;
    for (const auto& s : (*j)["items"]) {
      std::string ports;
      for (const auto& p : s["ports"])
        ports += (ports.empty() ? "" : ",") + text(p["port"]) + "/" + text(p["protocol"]);
      rows.push_back({text(s["mesh"]), text(s["name"]), s["zone"].get<std::string>().empty() ? "-" : text(s["zone"]),
                      text(s["address"]), ports});
    }
    print_table({"MESH", "NAME", "ZONE", "ADDRESS", "PORTS"}, rows);
  });

  auto* exports = ctl->add_subcommand("exports", "Request, decide on and inspect exports");
  exports->require_subcommand(1);
  exports->footer("Example: meshfed ctl exports list --state pending");
  exports->fallthrough();

  auto state = std::make_shared<std::string>();
  auto* list = exports->add_subcommand("list", "List exports");
  list->add_option("--state", *state, "only this state");
  list->footer("Example: meshfed ctl exports list --state approved -o json");
  list->callback([o, state, &run] {
    Ctl c(*o, run);
    auto fetched = fetch_all(c, "/api/v1/exports" + (state->empty() ? "" : "?state=" + http::percent_encode(*state)));
    if (!fetched) return;
    c.show_list(*fetched, {"ID", "STATE", "SERVICE", "PEERS", "REQUESTED_BY", "EXPIRES_AT"}, [](const json& e) {
      return std::vector<std::string>{text(e["id"]),
                                      text(e["state"]) + (e.value("target_missing", false) ? "!" : ""),
                                      text(e["mesh"]) + "/" + text(e["service"]) + ":" + text(e["port"]),
                                      text(e["peers"]),
                                      text(e["requested_by"]),
                                      expiry_of(e)};
    });
  });

  auto id = std::make_shared<std::string>();
  auto* show = exports->add_subcommand("show", "Show one export with its history");
  show->add_option("id", *id, "export id")->required();
  show->footer("Example: meshfed ctl exports show payments-api-x1y2z3w4");
  show->callback([o, id, &run] {
    Ctl c(*o, run);
    auto j = c.call("GET", "/api/v1/exports/" + http::percent_encode(*id));
    if (!j) return;
    if (c.json_output()) return c.emit(*j);
    print_export(*j);
  });

  struct RequestArgs {
    std::string mesh = "default", service, zone, alias, reason, l7;
    int port = 0;
    std::vector<std::string> peers, metrics;
    int64_t ttl = 0;
    bool proxy_protocol = false;
  };
  auto r = std::make_shared<RequestArgs>();
  auto* request = exports->add_subcommand("request", "Request an export of one service port to peer domains");
  request->add_option("--mesh", r->mesh, "mesh")->capture_default_str();
  request->add_option("--service", r->service, "service name")->required();
  request->add_option("--port", r->port, "service port")->required();
  request->add_option("--zone", r->zone, "zone, where the control plane has zones");
  request->add_option("--peer", r->peers, "peer domain allowed to import it (repeatable)")->required();
  request->add_option("--alias", r->alias, "name the peers see (default: the service name)");
  request->add_option("--metric", r->metrics, "metric name or prefix* that may leave with it (repeatable)");
  request->add_option("--ttl", r->ttl, "seconds the approval lasts (default: exports.default_ttl_s)")
      ->check(CLI::PositiveNumber);
  request->add_flag("--proxy-protocol", r->proxy_protocol, "send a PROXY v2 header to the service");
  request->add_option("--l7", r->l7,
                      "what the peer may call on an http, http2 or grpc port: the rules as JSON, or a file holding "
                      "them (docs/operations.md, L7 rules)");
  request->add_option("--reason", r->reason, "why the service should leave the domain")->required();
  request->footer(
      "Example: meshfed ctl exports request --service payments-api --port 8443 --peer internal "
      "--metric 'http_requests_*' --reason \"checkout in internal needs payments\"");
  request->callback([o, r, &run] {
    Ctl c(*o, run);
    json body = {{"mesh", r->mesh},   {"service", r->service}, {"port", r->port},
                 {"peers", r->peers}, {"reason", r->reason},   {"proxy_protocol", r->proxy_protocol}};
    if (!r->zone.empty()) body["zone"] = r->zone;
    if (!r->alias.empty()) body["alias"] = r->alias;
    if (!r->metrics.empty()) body["metrics"] = r->metrics;
    if (r->ttl > 0) body["ttl_s"] = r->ttl;
    if (!r->l7.empty()) {
      auto rules = read_json_arg(r->l7, "--l7", run);
      if (!rules) return;
      body["l7"] = std::move(*rules);
    }
    auto j = c.call("POST", "/api/v1/exports", &body);
    if (!j) return;
    if (c.json_output()) return c.emit(*j);
    std::cout << "requested " << text((*j)["id"]) << " (pending approval by another person)\n";
  });

  struct L7ChangeArgs {
    std::string id, l7, comment, if_match;
  };
  auto l7c = std::make_shared<L7ChangeArgs>();
  auto* change_l7 = exports->add_subcommand(
      "change-l7", "Propose new L7 rules for an approved export; another approver approves them (approve-l7)");
  change_l7->add_option("id", l7c->id, "export id")->required();
  change_l7->add_option("--l7", l7c->l7, "the new rules as JSON, or a file holding them")->required();
  change_l7->add_option("--comment", l7c->comment, "why");
  change_l7->add_option("--if-match", l7c->if_match, "only if the export is still at this version");
  change_l7->footer(
      "Example: meshfed ctl exports change-l7 rates-x1y2z3w4 --l7 "
      "'{\"http\": [{\"methods\": [\"GET\"], \"path\": {\"prefix\": \"/v2/rates/\"}}]}' --comment \"API v2\"");
  change_l7->callback([o, l7c, &run] {
    Ctl c(*o, run);
    auto rules = read_json_arg(l7c->l7, "--l7", run);
    if (!rules) return;
    json body = {{"l7", std::move(*rules)}};
    if (!l7c->comment.empty()) body["comment"] = l7c->comment;
    std::map<std::string, std::string> headers;
    if (!l7c->if_match.empty()) headers["If-Match"] = "\"" + l7c->if_match + "\"";
    auto j = c.call("POST", "/api/v1/exports/" + http::percent_encode(l7c->id) + "/l7", &body, headers);
    if (!j) return;
    if (c.json_output()) return c.emit(*j);
    std::cout << text((*j)["id"]) << ": new L7 rules proposed (version " << text((*j)["version"])
              << "), waiting for another approver\n";
  });

  // Plain pairs, not structured bindings: clang before 16 cannot capture those in a lambda.
  for (const auto& verb : {std::pair<std::string, std::string>{"approve", "approve"},
                           {"reject", "reject"},
                           {"extend", "extend"},
                           {"revoke", "revoke"},
                           {"cancel", "cancel"},
                           {"approve-l7", "l7/approve"},
                           {"reject-l7", "l7/reject"}}) {
    const std::string action = verb.first;
    const std::string path = verb.second;
    struct DecideArgs {
      std::string id, comment, if_match;
      int64_t ttl = 0;
      bool shorten = false;
    };
    auto d = std::make_shared<DecideArgs>();
    auto* cmd = exports->add_subcommand(
        action, action.ends_with("-l7") ? action.substr(0, action.size() - 3) + " an export's proposed L7 rules"
                                        : action + " an export");
    cmd->add_option("id", d->id, "export id")->required();
    cmd->add_option("--comment", d->comment, "why");
    cmd->add_option("--if-match", d->if_match, "only if the export is still at this version");
    if (action != "extend") {
      cmd->footer("Example: meshfed ctl exports " + action + " payments-api-x1y2z3w4 --comment \"ticket SEC-42\"");
    } else {
      cmd->add_option("--ttl", d->ttl, "seconds from now (default: the export's ttl)")->check(CLI::PositiveNumber);
      cmd->add_flag("--shorten", d->shorten, "allow the new expiry to be earlier than the current one");
      cmd->footer(
          "Example: meshfed ctl exports extend payments-api-x1y2z3w4 --ttl 2592000 --comment \"another month\"");
    }
    cmd->callback([o, d, action, path, &run] {
      Ctl c(*o, run);
      if (action == "extend" && d->ttl > 0 && !d->shorten) {
        // An "extend" that would end the export sooner is almost always a typo in --ttl.
        auto current = c.call("GET", "/api/v1/exports/" + http::percent_encode(d->id));
        if (!current) return;
        const auto until = parse_rfc3339(expiry_of(*current));
        const auto asked = std::chrono::system_clock::now() + std::chrono::seconds(d->ttl);
        if (until && asked < *until) {
          run.exit_code = run.out.fail("extend", make_error(ErrorCode::kFailedPrecondition,
                                                            "--ttl " + std::to_string(d->ttl) + " would end " + d->id +
                                                                " before its current expiry " + expiry_of(*current) +
                                                                "; add --shorten to shorten it"));
          return;
        }
      }
      json body = json::object();
      if (!d->comment.empty()) body["comment"] = d->comment;
      if (d->ttl > 0) body["ttl_s"] = d->ttl;
      std::map<std::string, std::string> headers;
      if (!d->if_match.empty()) headers["If-Match"] = "\"" + d->if_match + "\"";
      auto j = c.call("POST", "/api/v1/exports/" + http::percent_encode(d->id) + "/" + path, &body, headers);
      if (!j) return;
      if (c.json_output()) return c.emit(*j);
      std::cout << text((*j)["id"]) << ": " << text((*j)["state"]) << " (version " << text((*j)["version"]) << ")"
                << (expiry_of(*j) == "-" ? "" : ", expires " + expiry_of(*j)) << "\n";
    });
  }

  auto* imports = ctl->add_subcommand("imports", "Imports from peers: list, show, accept, reject");
  imports->fallthrough();
  imports->footer("Example: meshfed ctl imports  (the same as: meshfed ctl imports list)");
  auto import_list = [o, &run] {
    Ctl c(*o, run);
    auto fetched = fetch_all(c, "/api/v1/imports");
    if (!fetched) return;
    c.show_list(*fetched, {"ID", "STATE", "ALIAS", "LOCAL", "EXPIRES_AT", "REASON"}, [](const json& i) {
      const std::string local = i["local"].is_null() ? "-" : text(i["local"]["host"]) + ":" + text(i["local"]["port"]);
      return std::vector<std::string>{
          text(i["id"]), text(i["state"]),      text(i["alias"]) + ":" + text(i["port"]),
          local,         text(i["expires_at"]), i["reason"].get<std::string>().empty() ? "-" : text(i["reason"])};
    });
  };
  imports->callback([imports, import_list] {
    if (imports->get_subcommands().empty()) import_list();
  });
  imports->add_subcommand("list", "List imports")
      ->footer("Example: meshfed ctl imports list -o json")
      ->callback(import_list);
  auto import_id = std::make_shared<std::string>();
  auto* import_show = imports->add_subcommand("show", "Show one import");
  import_show->add_option("id", *import_id, "import id (<peer>.<export id>)")->required();
  import_show->footer("Example: meshfed ctl imports show pci.payments-api-x1y2z3w4");
  import_show->callback([o, import_id, &run] {
    Ctl c(*o, run);
    auto j = c.call("GET", "/api/v1/imports/" + http::percent_encode(*import_id));
    if (!j) return;
    if (c.json_output()) return c.emit(*j);
    print_import(*j);
  });
  for (const std::string action : {"accept", "reject"}) {
    auto id_arg = std::make_shared<std::string>();
    auto comment = std::make_shared<std::string>();
    auto* cmd = imports->add_subcommand(action, action + " a pending import from a manual peer");
    cmd->add_option("id", *id_arg, "import id")->required();
    cmd->add_option("--comment", *comment, "why (kept in the audit log)");
    cmd->footer("Example: meshfed ctl imports " + action + " pci.payments-api-x1y2z3w4 --comment \"ticket NET-7\"");
    cmd->callback([o, id_arg, comment, action, &run] {
      Ctl c(*o, run);
      json body = json::object();
      if (!comment->empty()) body["comment"] = *comment;
      auto j = c.call("POST", "/api/v1/imports/" + http::percent_encode(*id_arg) + "/" + action, &body);
      if (!j) return;
      if (c.json_output()) return c.emit(*j);
      std::cout << text((*j)["id"]) << ": " << text((*j)["state"]) << "\n";
    });
  }

  auto* peers = ctl->add_subcommand("peers", "Peers: their state, adding and removing them, and quarantine");
  peers->fallthrough();
  peers->footer("Example: meshfed ctl peers  (the same as: meshfed ctl peers list)");
  auto peer_list = [o, &run] {
    Ctl c(*o, run);
    auto j = c.call("GET", "/api/v1/peers");
    if (!j) return;
    c.show_list((*j)["items"], {"DOMAIN", "SOURCE", "STATE", "LAST_SUCCESS", "REVISION", "IMPORTS", "LAST_ERROR"},
                [](const json& p) {
                  std::string counts;
                  const json per_state = p.value("imports", json::object());
                  for (const auto& [import_state, n] : per_state.items())
                    counts += (counts.empty() ? "" : ",") + import_state + "=" + text(n);
                  return std::vector<std::string>{text(p["domain"]),
                                                  text(p["source"]),
                                                  text(p["state"]),
                                                  text(p.value("last_success", json())),
                                                  text(p.value("revision", json())),
                                                  counts.empty() ? "-" : counts,
                                                  last_error_of(p)};
                });
  };
  peers->callback([peers, peer_list] {
    if (peers->get_subcommands().empty()) peer_list();
  });
  peers->add_subcommand("list", "List peers")->footer("Example: meshfed ctl peers list -o json")->callback(peer_list);
  for (const std::string action : {"quarantine", "release"}) {
    auto domain = std::make_shared<std::string>();
    auto reason = std::make_shared<std::string>();
    auto* cmd = peers->add_subcommand(action, action == "quarantine" ? "Cut a peer off at once" : "Undo a quarantine");
    cmd->add_option("domain", *domain, "peer domain")->required();
    cmd->add_option("--reason", *reason, "why")->required();
    cmd->footer("Example: meshfed ctl peers " + action + " dmz --reason \"incident 7781\"");
    cmd->callback([o, domain, reason, action, &run] {
      Ctl c(*o, run);
      json body = {{"reason", *reason}};
      auto j = c.call("POST", "/api/v1/peers/" + http::percent_encode(*domain) + "/" + action, &body);
      if (!j) return;
      if (c.json_output()) return c.emit(*j);
      std::cout << *domain << ": " << text((*j)["state"]) << "\n";
    });
  }

  add_peering_commands(*peers, o, run);

  ctl->add_subcommand("replicas", "The domain's brokers that share its store, and which one leads")
      ->footer("Example: meshfed ctl replicas")
      ->callback([o, &run] {
        Ctl c(*o, run);
        auto j = c.call("GET", "/api/v1/replicas");
        if (!j) return;
        c.show_list((*j)["items"], {"ID", "ROLE", "ADDRESS", "LAST_HEARTBEAT"}, [](const json& replica) {
          return std::vector<std::string>{text(replica["id"]), text(replica["role"]), text(replica["address"]),
                                          text(replica["last_heartbeat"])};
        });
      });

  auto since = std::make_shared<int64_t>(0);
  auto* audit_cmd = ctl->add_subcommand("audit", "Show audit entries");
  audit_cmd->add_option("--since", *since, "only entries after this sequence number");
  audit_cmd->footer("Example: meshfed ctl audit --since 40");
  audit_cmd->callback([o, since, &run] {
    Ctl c(*o, run);
    auto fetched = fetch_all(c, "/api/v1/audit?since=" + std::to_string(*since));
    if (!fetched) return;
    c.show_list(*fetched, {"SEQ", "TIME", "ACTOR", "ACTION", "OBJECT", "HASH"}, [](const json& e) {
      return std::vector<std::string>{text(e["seq"]),    text(e["time"]),   text(e["actor"]),
                                      text(e["action"]), text(e["object"]), text(e["hash"]).substr(0, 16)};
    });
  });
}

}  // namespace meshfed::cli
