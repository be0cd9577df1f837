// The admin API behind its router: a request in, a response out, no sockets. The first byte
// picks who calls (nobody, a requester, an approver, a viewer, the gateway, an admin); the
// rest is the request. State accumulates across runs, so sequences reach deep transitions.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_support.hpp"
#include "meshfed/api/admin_api.hpp"
#include "meshfed/api/auth.hpp"
#include "meshfed/controlplane/adapter.hpp"
#include "meshfed/federation/imports.hpp"
#include "meshfed/routing/route_builder.hpp"
#include "meshfed/metrics/selector.hpp"
#include "meshfed/workflow/export_workflow.hpp"
#include "unit/workflow/fake_adapter.hpp"

namespace {

using namespace meshfed;

struct Broker {
  Broker() {
    nlohmann::json entries = nlohmann::json::array();
    for (const auto& [name, role] : std::vector<std::pair<std::string, std::string>>{
             {"alice", "requester"}, {"bob", "approver"}, {"victor", "viewer"}, {"gw", "gateway"}, {"root", "admin"}}) {
      auto t = api::create_token(name, {role});
      tokens.push_back(t->token);
      entries.push_back(nlohmann::json::parse(t->file_entry));
    }
    store = std::make_shared<const api::TokenStore>(api::TokenStore::parse(entries.dump()).value());
  }
  std::unique_ptr<store::Database> db = fuzz::scratch_store();
  ManualClock clock{from_unix_ms(1'800'000'000'000)};
  testing::FakeAdapter adapter;  // payments-api and ledger
  workflow::ExportWorkflow wf{*db, clock, adapter,
                              workflow::WorkflowSettings{"pci", "pci", {"internal", "dmz"}, 3600, 7200, 600}};
  federation::ImportManager imports{*db, clock, adapter, [] {
                                      federation::ImportSettings s;
                                      s.peers["internal"] = {"internal", "internal", config::ImportPolicy::kManual, 4};
                                      return s;
                                    }()};
  metrics::Registry registry;
  routing::RouteTableHolder routes{1000};
  std::vector<std::string> tokens;
  std::shared_ptr<const api::TokenStore> store;
  api::AdminApi admin{api::AdminApiDeps{wf, adapter, registry, [this] { return store; },
                                        [] {
                                          return api::Readiness{true, {{"store", "ok"}}};
                                        },
                                        imports, nullptr, nullptr, [this] { return routes.current(); },
                                        [](const std::vector<std::string>& match) -> Result<std::string> {
                                          auto selectors = metrics::parse_match_params(match);
                                          if (!selectors) return selectors.error();
                                          return std::string();
                                        }}};
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Broker broker;
  http::Request req;
  size_t who = 0;
  if (!fuzz::decode_call(data, size, broker.tokens.size() + 1, who, req)) return 0;
  if (who > 0) req.headers["authorization"] = "Bearer " + broker.tokens[who - 1];
  const auto res = broker.admin.handle(req);
  if (res.status < 100 || res.status > 599) std::abort();
  if (res.status >= 400 && res.content_type != "application/problem+json") std::abort();  // every error is problem+json
  return 0;
}
