// The peer API behind its router, for an authenticated peer (the TLS layer's part is tested
// end to end): whatever the request, a bounded answer about that peer's view only.
#include <filesystem>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_support.hpp"
#include "meshfed/api/peer_api.hpp"
#include "meshfed/pki/pki.hpp"
#include "meshfed/pki/signing.hpp"
#include "meshfed/federation/catalog.hpp"
#include "meshfed/store/peer_repository.hpp"

namespace {

using namespace meshfed;

// dmz is quarantined in the store, as an admin's quarantine leaves it.
std::unique_ptr<store::Database> store_with_dmz_quarantined() {
  auto db = fuzz::scratch_store();
  const Status st = db->transaction([](store::Writer& tx) -> Status {
    store::PeerRecord dmz;
    dmz.domain = "dmz";
    dmz.quarantined_since_ms = 1'800'000'000'000;
    return store::PeerRepository(tx).save(dmz);
  });
  if (!st) std::abort();
  return db;
}

// A broker key of a domain made for the run, to sign the catalog answers' audit head.
std::shared_ptr<const pki::Signer> broker_key() {
  char dir_template[] = "/tmp/meshfed-fuzz-pki-XXXXXX";
  const char* dir = ::mkdtemp(dir_template);
  if (!dir) std::abort();
  pki::InitOptions options;
  options.domain = "pci";
  auto signer = pki::init_domain(dir, options).ok()
                    ? pki::Signer::load(std::string(dir) + "/broker.pem", std::string(dir) + "/broker-key.pem")
                    : Result<pki::Signer>(make_error(ErrorCode::kInternal, "no pki"));
  std::filesystem::remove_all(dir);
  if (!signer) std::abort();
  return std::make_shared<const pki::Signer>(std::move(signer).value());
}

struct Broker {
  std::unique_ptr<store::Database> db = store_with_dmz_quarantined();
  std::shared_ptr<const pki::Signer> key = broker_key();
  federation::AuditHeadSigner audit_head{"pci", [this] { return key; }};
  ManualClock clock{from_unix_ms(1'800'000'000'000)};
  federation::Catalog catalog{*db, *db, clock};
  metrics::Registry registry;
  api::PeerApi peer{
      api::PeerApiDeps{catalog, registry, [] { return std::string("pci"); },
                       [] {
                         return federation::IngressAddress{"127.0.0.1", 15443};
                       },
                       [](const std::string& p) { return p == "internal" || p == "dmz"; },
                       [](const std::string& p) { return "# exported to " + p + "\n"; }, audit_head,
                       [](const std::string& p) -> Result<std::string> { return "{\"of\":\"" + p + "\"}"; }}};
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Broker broker;
  static const char* const kCallers[] = {"internal", "dmz", "stranger"};  // configured, quarantined, neither
  http::Request req;
  size_t who = 0;
  if (!fuzz::decode_call(data, size, 3, who, req)) return 0;
  req.peer = kCallers[who];
  // The connection's loop tries the quick answer first; the rest is built.
  const auto quick = broker.peer.answer_quickly(req);
  const auto res = quick ? *quick : broker.peer.handle(req);
  if (res.status < 100 || res.status > 599) {
    if (!res.waiting()) std::abort();
  }
  return 0;
}
