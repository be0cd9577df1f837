// A request target as the ingress will see it, and L7 rules as a requester writes them. The
// first line of the input is a target: its normal form must be a fixed point (normalising it
// again changes nothing) and hold no dot segment, empty segment or escaped unreserved byte. The
// rest is rules JSON: what parses must read back to the same rules, and matching the target
// against them must not crash.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "meshfed/core/strict_json.hpp"
#include "meshfed/policy/l7.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace meshfed;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto newline = input.find('\n');
  const std::string_view target = input.substr(0, newline);
  const auto normal = policy::normalize_path(target);
  if (normal) {
    const auto again = policy::normalize_path(*normal);
    if (!again || *again != *normal) std::abort();
    if (normal->find("/./") != std::string::npos || normal->find("/../") != std::string::npos ||
        normal->find("//") != std::string::npos || normal->find("%2E") != std::string::npos) {
      std::abort();
    }
  }
  if (newline == std::string_view::npos) return 0;
  const auto doc = parse_strict_json(input.substr(newline + 1), {}, "l7");
  if (!doc) return 0;
  const auto rules = policy::parse_l7(*doc);
  if (!rules) return 0;
  const auto back = policy::parse_l7(policy::to_json(*rules));
  if (!back || *back != *rules) std::abort();
  if (normal) (void)policy::allows_http(*rules, "GET", *normal);
  (void)policy::allows_grpc(*rules, target);
  return 0;
}
