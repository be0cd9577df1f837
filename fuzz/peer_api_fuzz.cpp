// The peer API behind its router, for an authenticated peer (the TLS layer's part is tested
// end to end): whatever the request, a bounded answer about that peer's view only.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_support.hpp"
#include "meshfed/api/peer_api.hpp"
#include "meshfed/federation/catalog.hpp"

namespace {

using namespace meshfed;

struct Broker {
  std::unique_ptr<store::Database> db = fuzz::scratch_store();
  ManualClock clock{from_unix_ms(1'800'000'000'000)};
  federation::Catalog catalog{*db, clock};
  metrics::Registry registry;
  api::PeerApi peer{api::PeerApiDeps{catalog, registry, [] { return std::string("pci"); },
                                     [] {
                                       return federation::IngressAddress{"127.0.0.1", 15443};
                                     },
                                     [](const std::string& p) { return p == "internal" || p == "dmz"; },
                                     [](const std::string& p) -> Result<bool> { return p == "dmz"; },
                                     [](const std::string& p) { return "# exported to " + p + "\n"; }}};
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Broker broker;
  static const char* const kCallers[] = {"internal", "dmz", "stranger"};  // configured, quarantined, neither
  http::Request req;
  size_t who = 0;
  if (!fuzz::decode_call(data, size, 3, who, req)) return 0;
  req.peer = kCallers[who];
  const auto res = broker.peer.handle(req);
  if (res.status < 100 || res.status > 599) {
    if (!res.waiting()) std::abort();
  }
  return 0;
}
