// The tokens file.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "meshfed/api/auth.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)meshfed::api::TokenStore::parse(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
