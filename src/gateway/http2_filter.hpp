// The ingress's HTTP/2 (h2c inside meshfed's tunnel) and gRPC filter for an export with L7
// rules, without I/O. Frames pass through as they are, except request header blocks: each is
// decoded (nghttp2's HPACK), judged against the rules in force when it arrives, and either
// re-encoded for the service (literal fields only, so the service's decoder never depends on
// the caller's encoder) or answered here and never forwarded: gRPC PERMISSION_DENIED
// (trailers-only), HTTP 403 problem+json, or 400 for a request with no single reading
// (invalid or repeated pseudo-headers, connection-specific fields). A refused stream's later
// frames are dropped, and its DATA is given back to the caller's connection window, so a
// refusal never starves the connection. Our answers are literal fields too: the caller's
// decoder stays in step with the service's encoder. SETTINGS pass with two values lowered:
// the largest frame (both ways) and the service's header table (what our decoder holds).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "gateway/http1_filter.hpp"  // FilterOutput, Refusal
#include "meshfed/policy/l7.hpp"

namespace meshfed::gateway {

// Each side's SETTINGS_MAX_FRAME_SIZE is lowered to this on its way to the other, so that a
// connection holds at most one such frame at a time; a larger frame ends the connection.
inline constexpr size_t kMaxHttp2FrameBytes = 16384;
inline constexpr size_t kMaxHeaderBlockBytes = 64 * 1024;  // one request's header block, compressed
inline constexpr size_t kMaxRefusedStreamsKept = 1024;     // whose late frames are still dropped

class Http2Filter {
 public:
  using Rules = Http1Filter::Rules;

  Http2Filter(std::string export_id, Rules rules);
  ~Http2Filter();

  // Whether the connection must end (after what is out is sent): a broken frame or header block.
  bool closed() const;
  void from_client(std::string_view bytes, FilterOutput& out);
  void from_upstream(std::string_view bytes, FilterOutput& out);

 private:
  struct Impl;  // nghttp2's HPACK state, kept to one translation unit
  std::unique_ptr<Impl> impl_;
};

}  // namespace meshfed::gateway
