// The ingress's HTTP/2 path for a gRPC export with L7 rules: a caller's frames in (after the
// preface, fed in pieces whose size the first byte picks) and the service's answers interleaved.
// Every header block the filter passes to the service must decode on its own (literal fields,
// no table the service would have to share with the caller) and name a method the rules allow.
#include <nghttp2/nghttp2.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "gateway/http2_filter.hpp"

namespace {

using meshfed::gateway::FilterOutput;
using meshfed::gateway::Http2Filter;

const std::shared_ptr<const meshfed::policy::L7Rules>& rules() {
  static const auto r = std::make_shared<const meshfed::policy::L7Rules>(
      meshfed::policy::parse_l7(nlohmann::json::parse(R"({"grpc": ["payments.v1.Rates/Get", "payments.v1.Quotes/*"]})"))
          .value());
  return r;
}

// Each HEADERS block in `frames` decoded with a fresh decoder per block: its :path must be allowed.
void check_passed(const std::string& frames) {
  for (size_t at = 0; at + 9 <= frames.size();) {
    const auto* p = reinterpret_cast<const uint8_t*>(frames.data() + at);
    const size_t len = (size_t(p[0]) << 16) | (size_t(p[1]) << 8) | p[2];
    if (at + 9 + len > frames.size()) break;
    if (p[3] == 1 && (p[4] & 0x4)) {  // a whole block in one frame (what the filter writes when short)
      nghttp2_hd_inflater* inflater = nullptr;
      nghttp2_hd_inflate_new(&inflater);
      const uint8_t* in = p + 9;
      size_t left = len;
      bool trailers = true;
      for (;;) {
        nghttp2_nv nv;
        int flags = 0;
        const auto n = nghttp2_hd_inflate_hd2(inflater, &nv, &flags, in, left, 1);
        if (n < 0) std::abort();  // the service could not read what we wrote
        in += n;
        left -= static_cast<size_t>(n);
        if (flags & NGHTTP2_HD_INFLATE_EMIT) {
          const std::string_view name(reinterpret_cast<const char*>(nv.name), nv.namelen);
          const std::string_view value(reinterpret_cast<const char*>(nv.value), nv.valuelen);
          if (name == ":path") {
            trailers = false;
            if (!meshfed::policy::allows_grpc(*rules(), value)) std::abort();
          }
        }
        if (flags & NGHTTP2_HD_INFLATE_FINAL) break;
        if (!(flags & NGHTTP2_HD_INFLATE_EMIT) && left == 0) break;
      }
      (void)trailers;
      nghttp2_hd_inflate_del(inflater);
    }
    at += 9 + len;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t step = 1 + data[0] % 64;
  const std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  Http2Filter filter("fuzz-1", [] { return std::optional(rules()); });
  std::string upstream;
  FilterOutput first;
  filter.from_client("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", first);
  for (size_t at = 0; at < bytes.size() && !filter.closed(); at += step) {
    FilterOutput out;
    filter.from_client(bytes.substr(at, step), out);
    upstream += out.to_upstream;
    // The service answers with a SETTINGS frame between the caller's pieces.
    filter.from_upstream(std::string("\0\0\0\x04\0\0\0\0\0", 9), out);
  }
  check_passed(upstream);
  return 0;
}
