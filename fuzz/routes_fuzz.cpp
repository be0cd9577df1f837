// The routing table a separate gateway process reads from its broker's route watch.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

#include "meshfed/gateway/routes.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto t = meshfed::gateway::parse_routes(std::string_view(reinterpret_cast<const char*>(data), size));
  if (t) (void)meshfed::gateway::to_json(*t).dump();
  return 0;
}
