// A peer's catalog answer, end to end on the importing side: the whole check, then, when it
// passes, the apply on a scratch store (state machine, ports, audit), as the watcher does it.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string_view>
#include <variant>

#include "fuzz_support.hpp"
#include "meshfed/controlplane/adapter.hpp"
#include "meshfed/core/clock.hpp"
#include "meshfed/federation/catalog_check.hpp"
#include "meshfed/federation/imports.hpp"
#include "unit/workflow/fake_adapter.hpp"

namespace {

using namespace meshfed;

struct Importer {
  std::unique_ptr<store::Database> db = fuzz::scratch_store();
  ManualClock clock{from_unix_ms(1'800'000'000'000)};
  testing::FakeAdapter adapter;  // applies nothing: the control plane is not what is fuzzed here
  federation::ImportManager imports{*db, clock, adapter, [] {
                                      federation::ImportSettings s;
                                      s.peers["dmz"] = {"dmz", "dmz", config::ImportPolicy::kAuto, 4};
                                      s.egress_ports = config::PortRange{16000, 16015};
                                      s.egress_host = "127.0.0.1";
                                      return s;
                                    }()};
};

Result<std::vector<std::string>> no_names(const std::string& host) {
  if (host == "ingress.dmz.example") return std::vector<std::string>{"10.10.0.5"};
  return make_error(ErrorCode::kUnavailable, "cannot resolve " + host);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // State carries over between inputs (sequences reach deeper transitions), but not forever:
  // every accepted catalog adds rows and audit entries, and a store that only grows slowed a
  // campaign from 2,400 to 900 inputs a second. A fresh one every 10,000 inputs.
  static std::unique_ptr<Importer> fresh;
  static uint64_t runs = 0;
  if (!fresh || ++runs % 10'000 == 0) {
    const auto old = fresh ? fresh->db->file().parent_path() : std::filesystem::path();
    fresh.reset();
    if (!old.empty()) std::filesystem::remove_all(old);
    fresh = std::make_unique<Importer>();
  }
  Importer& importer = *fresh;
  static const federation::CatalogRules rules{
      "dmz", "dmz", 64, {*Cidr::parse("10.10.0.0/24"), *Cidr::parse("127.0.0.0/8")}};
  auto checked =
      federation::check_catalog(rules, std::string_view(reinterpret_cast<const char*>(data), size), no_names);
  if (auto* answer = std::get_if<federation::CatalogAnswer>(&checked)) {
    if (!importer.imports.apply_catalog("dmz", *answer)) std::abort();  // a checked answer always applies
  } else {
    (void)importer.imports.refuse_catalog("dmz", std::get<federation::CatalogRefusal>(checked));
  }
  return 0;
}
