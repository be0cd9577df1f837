// The Prometheus text parser (metrics sources and peers' /federation/v1/metrics); what parses
// must also write out.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "meshfed/metrics/exposition.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto families = meshfed::metrics::parse_exposition(std::string_view(reinterpret_cast<const char*>(data), size));
  if (families) {
    std::string out;
    meshfed::metrics::write_exposition(*families, out);
  }
  return 0;
}
