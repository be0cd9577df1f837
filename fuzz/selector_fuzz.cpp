// /federate's match[] selectors, RE2 included; each line is one selector, matched against a
// fixed sample so that the regexes run too.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "meshfed/metrics/selector.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<std::string> match;
  std::string current;
  for (size_t i = 0; i < size; ++i) {
    if (data[i] == '\n') {
      match.push_back(std::move(current));
      current.clear();
    } else {
      current += static_cast<char>(data[i]);
    }
  }
  match.push_back(std::move(current));
  auto selectors = meshfed::metrics::parse_match_params(match);
  if (!selectors) return 0;
  meshfed::metrics::Sample s;
  s.name = "envoy_cluster_upstream_rq_total";
  s.labels = {{"service", "payments-api"}, {"envoy_response_code_class", "2"}};
  for (const auto& sel : *selectors) (void)sel.matches(s);
  return 0;
}
