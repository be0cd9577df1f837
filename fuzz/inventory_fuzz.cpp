// The static adapter's inventory file.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "meshfed/controlplane/adapter.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)meshfed::controlplane::parse_inventory(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
