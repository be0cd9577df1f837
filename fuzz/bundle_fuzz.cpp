// A peering bundle as an admin pastes it (POST /api/v1/peers will take it): the strict JSON
// parse with the admin API's limits, then the field-by-field check. What passes must read back
// to the same fingerprint, and match its own.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "meshfed/core/strict_json.hpp"
#include "meshfed/peering/bundle.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace meshfed;
  const auto doc = parse_strict_json(std::string_view(reinterpret_cast<const char*>(data), size), {}, "bundle");
  if (!doc) return 0;
  const auto bundle = peering::parse_bundle(*doc);
  if (!bundle) return 0;
  const auto again = peering::parse_bundle(peering::to_json(*bundle));
  if (!again || peering::fingerprint(*again) != peering::fingerprint(*bundle)) std::abort();
  if (!peering::fingerprint_matches(*bundle, peering::fingerprint(*bundle))) std::abort();
  return 0;
}
