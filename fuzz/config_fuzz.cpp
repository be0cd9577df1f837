// The config file: strict JSON and every key's rules; never a crash, whatever the bytes.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "meshfed/config/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto c = meshfed::config::parse_config(text, "/etc/meshfed");
  if (!c) (void)meshfed::config::format_errors(c.error());
  return 0;
}
