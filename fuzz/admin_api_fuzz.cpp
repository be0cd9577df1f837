// The admin API behind its router: a request in, a response out, no sockets. The first byte
// picks who calls (nobody, a requester, an approver, a viewer, the gateway, an admin); the
// rest is the request. State accumulates across runs, so sequences reach deep transitions.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_support.hpp"
#include "meshfed/api/admin_api.hpp"
#include "meshfed/controlplane/adapter.hpp"
#include "meshfed/federation/imports.hpp"
#include "meshfed/workflow/export_workflow.hpp"
#include "unit/api/fake_broker.hpp"
#include "unit/workflow/fake_adapter.hpp"

namespace {

using namespace meshfed;

struct Broker {
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
  testing::FakeBroker around{
      {{"alice", "requester"}, {"bob", "approver"}, {"victor", "viewer"}, {"gw", "gateway"}, {"root", "admin"}}};
  std::vector<std::string> tokens = [this] {
    std::vector<std::string> t;
    for (const auto& name : {"alice", "bob", "victor", "gw", "root"}) t.push_back(around.tokens_by_name.at(name));
    return t;
  }();
  api::AdminApi admin{
      api::AdminApiDeps{wf, adapter, registry, imports, around, around, around, around, nullptr, &around, &around}};
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
