// The ingress's HTTP/1.1 path for an export with L7 rules: a caller's bytes in, fed in pieces
// whose size the first byte picks, the service answering each request it is given. What the
// filter passes on must be requests the rules allow, and already in the form the filter writes:
// a second filter given those bytes passes them on unchanged and refuses nothing.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "gateway/http1_filter.hpp"

namespace {

using meshfed::gateway::FilterOutput;
using meshfed::gateway::Http1Filter;

const std::shared_ptr<const meshfed::policy::L7Rules>& rules() {
  static const auto r =
      std::make_shared<const meshfed::policy::L7Rules>(meshfed::policy::parse_l7(nlohmann::json::parse(R"({"http": [
        {"methods": ["GET", "HEAD"], "path": {"prefix": "/v1/"}},
        {"methods": ["POST"], "path": {"exact": "/v1/quotes"}}]})"))
                                                           .value());
  return r;
}

// Feeds `bytes` in pieces of `step`, answering every request with an empty 200; what went to
// the service, and whether anything was refused.
std::string run(std::string_view bytes, size_t step, bool& refused) {
  Http1Filter filter("fuzz-1", [] { return std::optional(rules()); });
  std::string upstream;
  auto take = [&](FilterOutput& out) {
    upstream += out.to_upstream;
    refused = refused || !out.refused.empty();
    for (const auto& r : out.refused) {
      if (r.status != 400 && r.status != 403 && r.status != 502) std::abort();
    }
  };
  for (size_t at = 0; at < bytes.size() && filter.want() == Http1Filter::Want::kClient;) {
    FilterOutput out;
    filter.from_client(bytes.substr(at, step), out);
    at += step;
    take(out);
    while (filter.want() == Http1Filter::Want::kUpstream) {
      FilterOutput answer;
      filter.from_upstream("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", answer);
      take(answer);
    }
  }
  return upstream;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t step = 1 + data[0] % 64;
  const std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  bool refused = false;
  const std::string passed = run(bytes, step, refused);
  bool refused_again = false;
  // Only whole requests reach this check: a body cut short by the input's end is passed on as
  // far as it came, and a second reading would wait for the rest just the same.
  if (run(passed, passed.size() + 1, refused_again) != passed || refused_again) std::abort();
  return 0;
}
