#include "gateway/http2_filter.hpp"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <set>
#include <vector>

namespace meshfed::gateway {
namespace {

constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
constexpr size_t kFrameHeaderBytes = 9;
constexpr size_t kMaxHeaderFields = 256;

enum FrameType : uint8_t {
  kData = 0,
  kHeaders = 1,
  kPriority = 2,
  kRstStream = 3,
  kSettings = 4,
  kPushPromise = 5,
  kWindowUpdate = 8,
  kContinuation = 9,
};
enum Flag : uint8_t { kEndStream = 0x1, kEndHeaders = 0x4, kPadded = 0x8, kPriorityFlag = 0x20 };
constexpr uint16_t kSettingsHeaderTableSize = 0x1;
constexpr uint16_t kSettingsMaxFrameSize = 0x5;

struct Frame {
  uint32_t length = 0;
  uint8_t type = 0;
  uint8_t flags = 0;
  uint32_t stream = 0;
  std::string_view payload;
  std::string_view whole;
};

void append_frame_header(std::string& out, size_t length, uint8_t type, uint8_t flags, uint32_t stream) {
  const char h[kFrameHeaderBytes] = {
      static_cast<char>(length >> 16), static_cast<char>(length >> 8), static_cast<char>(length),
      static_cast<char>(type),         static_cast<char>(flags),       static_cast<char>((stream >> 24) & 0x7f),
      static_cast<char>(stream >> 16), static_cast<char>(stream >> 8), static_cast<char>(stream)};
  out.append(h, sizeof h);
}

uint32_t read_u32(const char* p) {
  return (uint32_t(uint8_t(p[0])) << 24) | (uint32_t(uint8_t(p[1])) << 16) | (uint32_t(uint8_t(p[2])) << 8) |
         uint32_t(uint8_t(p[3]));
}

// An HPACK integer with an N-bit prefix (RFC 7541, 5.1).
void append_hpack_int(std::string& out, uint8_t first, int prefix_bits, size_t value) {
  const size_t max = (size_t{1} << prefix_bits) - 1;
  if (value < max) {
    out += static_cast<char>(first | value);
    return;
  }
  out += static_cast<char>(first | max);
  value -= max;
  while (value >= 128) {
    out += static_cast<char>((value & 0x7f) | 0x80);
    value >>= 7;
  }
  out += static_cast<char>(value);
}

// Literal header fields without indexing, new name, no Huffman (RFC 7541, 6.2.2): they leave
// every dynamic table as it was.
std::string literal_block(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string out;
  for (const auto& [name, value] : fields) {
    out += '\0';
    append_hpack_int(out, 0, 7, name.size());
    out += name;
    append_hpack_int(out, 0, 7, value.size());
    out += value;
  }
  return out;
}

// One header block as HEADERS and, past one frame, CONTINUATION frames.
void append_header_block(std::string& out, uint32_t stream, const std::string& block, bool end_stream) {
  size_t at = 0;
  bool first = true;
  do {
    const size_t n = std::min(kMaxHttp2FrameBytes, block.size() - at);
    const bool last = at + n == block.size();
    const uint8_t flags = (last ? kEndHeaders : 0) | (first && end_stream ? kEndStream : 0);
    append_frame_header(out, n, first ? kHeaders : kContinuation, flags, stream);
    out.append(block, at, n);
    at += n;
    first = false;
  } while (at < block.size());
}

void append_rst_stream(std::string& out, uint32_t stream, uint32_t code) {
  append_frame_header(out, 4, kRstStream, 0, stream);
  const char c[4] = {static_cast<char>(code >> 24), static_cast<char>(code >> 16), static_cast<char>(code >> 8),
                     static_cast<char>(code)};
  out.append(c, 4);
}

void append_window_update(std::string& out, uint32_t stream, uint32_t increment) {
  append_frame_header(out, 4, kWindowUpdate, 0, stream);
  const char c[4] = {static_cast<char>((increment >> 24) & 0x7f), static_cast<char>(increment >> 16),
                     static_cast<char>(increment >> 8), static_cast<char>(increment)};
  out.append(c, 4);
}

void write_u32(char* p, uint32_t v) {
  p[0] = static_cast<char>(v >> 24);
  p[1] = static_cast<char>(v >> 16);
  p[2] = static_cast<char>(v >> 8);
  p[3] = static_cast<char>(v);
}

// A SETTINGS frame as it may go on: SETTINGS_MAX_FRAME_SIZE at most kMaxHttp2FrameBytes and,
// from the service, SETTINGS_HEADER_TABLE_SIZE at most what our decoder will hold.
std::string lowered_settings(std::string_view whole, bool from_service) {
  std::string f(whole);
  for (size_t i = kFrameHeaderBytes; i + 6 <= f.size(); i += 6) {
    const uint16_t id = static_cast<uint16_t>((uint8_t(f[i]) << 8) | uint8_t(f[i + 1]));
    const uint32_t value = read_u32(f.data() + i + 2);
    if (id == kSettingsMaxFrameSize && value > kMaxHttp2FrameBytes) write_u32(f.data() + i + 2, kMaxHttp2FrameBytes);
    if (from_service && id == kSettingsHeaderTableSize && value > kMaxHeaderBlockBytes) {
      write_u32(f.data() + i + 2, kMaxHeaderBlockBytes);
    }
  }
  return f;
}

// The connection-specific fields HTTP/2 forbids (RFC 9113, 8.2.2).
bool connection_specific(std::string_view name) {
  return name == "connection" || name == "keep-alive" || name == "proxy-connection" || name == "transfer-encoding" ||
         name == "upgrade";
}

bool lowercase_token(std::string_view name) {
  if (name.empty()) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' || c == '!' ||
           c == '#' || c == '$' || c == '%' || c == '&' || c == '\'' || c == '*' || c == '+' || c == '^' || c == '`' ||
           c == '|' || c == '~';
  });
}

}  // namespace

struct Http2Filter::Impl {
  using Fields = std::vector<std::pair<std::string, std::string>>;

  Impl(std::string export_id, Rules rules) : export_id_(std::move(export_id)), rules_(std::move(rules)) {
    if (nghttp2_hd_inflate_new(&inflater_) != 0) closed_ = true;
  }
  ~Impl() {
    if (inflater_) nghttp2_hd_inflate_del(inflater_);
  }

  // --- caller to service -----------------------------------------------------------------------

  void from_client(std::string_view bytes, FilterOutput& out) {
    client_in_.append(bytes);
    if (!preface_seen_) {
      const size_t n = std::min(client_in_.size(), kPreface.size());
      if (client_in_.compare(0, n, kPreface.substr(0, n)) != 0) return fail(out, "not an HTTP/2 connection preface");
      if (client_in_.size() < kPreface.size()) return;
      out.to_upstream.append(kPreface);
      client_in_.erase(0, kPreface.size());
      preface_seen_ = true;
    }
    size_t at = 0;
    while (!closed_) {
      Frame f;
      if (!next_frame(client_in_, at, f, out)) break;
      at += f.whole.size();
      client_frame(f, out);
    }
    client_in_.erase(0, at);
  }

  void client_frame(const Frame& f, FilterOutput& out) {
    if (block_stream_ && f.type != kContinuation) return fail(out, "a header block interrupted");
    switch (f.type) {
      case kHeaders: {
        std::string_view fragment = f.payload;
        if (f.flags & kPadded) {
          const size_t pad = fragment.empty() ? 0 : uint8_t(fragment.front());
          if (fragment.empty() || pad + 1 > fragment.size()) return fail(out, "bad HEADERS padding");
          fragment = fragment.substr(1, fragment.size() - 1 - pad);
        }
        if (f.flags & kPriorityFlag) {
          if (fragment.size() < 5) return fail(out, "bad HEADERS priority");
          fragment.remove_prefix(5);
        }
        if (f.stream == 0 || f.stream % 2 == 0) return fail(out, "HEADERS on a stream a caller cannot open");
        block_stream_ = f.stream;
        block_end_stream_ = f.flags & kEndStream;
        block_.assign(fragment);
        if (f.flags & kEndHeaders) header_block(out);
        return;
      }
      case kContinuation:
        if (!block_stream_ || f.stream != block_stream_) return fail(out, "CONTINUATION without its HEADERS");
        block_.append(f.payload);
        if (block_.size() > kMaxHeaderBlockBytes) return fail(out, "header block too large");
        if (f.flags & kEndHeaders) header_block(out);
        return;
      case kData:
        if (refused_.count(f.stream)) {
          // Dropped: the caller's connection window gets back what the service will never see.
          if (f.length > 0) {
            std::string update;
            append_window_update(update, 0, f.length);
            to_caller(std::move(update), out);
          }
          return;
        }
        out.to_upstream.append(f.whole);
        return;
      case kPriority:  // allowed on any stream, even one the service never heard of
        out.to_upstream.append(f.whole);
        return;
      case kPushPromise:  // a header block the filter would not judge; only servers push
        return fail(out, "PUSH_PROMISE from a caller");
      case kSettings:
        out.to_upstream += lowered_settings(f.whole, false);
        return;
      default:
        if (f.stream != 0 && refused_.count(f.stream)) return;  // the service never saw this stream
        out.to_upstream.append(f.whole);
    }
  }

  // A complete header block: a new request, or the trailers of one under way.
  void header_block(FilterOutput& out) {
    const uint32_t stream = std::exchange(block_stream_, 0);
    Fields fields;
    if (!inflate(fields)) return fail(out, "header block that does not decode");
    if (stream <= last_stream_) {
      if (refused_.count(stream)) return;  // trailers of a refused request
      for (const auto& field : fields) {
        if (!field.first.empty() && field.first.front() == ':') return fail(out, "pseudo-header in trailers");
      }
      append_header_block(out.to_upstream, stream, literal_block(fields), block_end_stream_);
      return;
    }
    last_stream_ = stream;
    judge(stream, std::move(fields), out);
  }

  bool inflate(Fields& fields) {
    auto* in = reinterpret_cast<const uint8_t*>(block_.data());
    size_t left = block_.size();
    for (;;) {
      nghttp2_nv nv;
      int flags = 0;
      const ssize_t n = nghttp2_hd_inflate_hd2(inflater_, &nv, &flags, in, left, 1);
      if (n < 0) return false;
      in += n;
      left -= static_cast<size_t>(n);
      if (flags & NGHTTP2_HD_INFLATE_EMIT) {
        if (fields.size() == kMaxHeaderFields) return false;
        fields.emplace_back(std::string(reinterpret_cast<const char*>(nv.name), nv.namelen),
                            std::string(reinterpret_cast<const char*>(nv.value), nv.valuelen));
      }
      if (flags & NGHTTP2_HD_INFLATE_FINAL) {
        nghttp2_hd_inflate_end_headers(inflater_);
        return true;
      }
      if (!(flags & NGHTTP2_HD_INFLATE_EMIT) && left == 0) return false;
    }
  }

  void judge(uint32_t stream, Fields fields, FilterOutput& out) {
    std::string method, path, scheme, content_type;
    int methods = 0, paths = 0, schemes = 0, authorities = 0;
    bool regular_seen = false;
    std::string malformed;
    for (const auto& [name, value] : fields) {
      if (!name.empty() && name.front() == ':') {
        if (regular_seen) malformed = "pseudo-header after a regular field";
        if (name == ":method") {
          ++methods;
          method = value;
        } else if (name == ":path") {
          ++paths;
          path = value;
        } else if (name == ":scheme") {
          ++schemes;
          scheme = value;
        } else if (name == ":authority") {
          ++authorities;
        } else {
          malformed = "pseudo-header " + loggable_path(name);
        }
        continue;
      }
      regular_seen = true;
      if (!lowercase_token(name)) malformed = "field name not a lowercase token";
      if (connection_specific(name) || (name == "te" && value != "trailers"))
        malformed = "connection-specific field " + loggable_path(name);
      if (name == "content-type") content_type = value;
    }
    grpc_ = content_type.starts_with("application/grpc");
    if (malformed.empty() && (methods != 1 || paths != 1 || schemes != 1 || authorities > 1)) {
      malformed = "not exactly one :method, :path and :scheme";
    }
    if (malformed.empty() && method == "CONNECT") malformed = "CONNECT";
    if (!malformed.empty()) return refuse_stream(stream, 400, method.empty() ? "-" : method, path, malformed, out);

    const auto rules = rules_();
    std::string forwarded_path = path;
    std::string why;
    if (!rules) {
      why = "export no longer admits the caller";
    } else if (*rules && !(*rules)->grpc.empty()) {
      if (!policy::allows_grpc(**rules, path)) why = "outside the export's rules";
    } else {
      const auto normal = policy::judged_path(path);
      if (!normal) return refuse_stream(stream, 400, method, path, normal.error().message, out);
      if (*rules && !policy::allows_http(**rules, method, *normal)) why = "outside the export's rules";
      const auto query = path.find('?');
      forwarded_path = *normal + (query == std::string::npos ? "" : path.substr(query));
      path = *normal;
    }
    if (!why.empty()) return refuse_stream(stream, 403, method, path, why, out);
    for (auto& [name, value] : fields) {
      if (name == ":path") value = forwarded_path;
    }
    append_header_block(out.to_upstream, stream, literal_block(fields), block_end_stream_);
  }

  // Answers `stream` here: the service never hears of it.
  void refuse_stream(uint32_t stream, int status, std::string method, std::string path, std::string reason,
                     FilterOutput& out) {
    if (refused_.size() == kMaxRefusedStreamsKept) refused_.erase(refused_.begin());
    refused_.insert(stream);
    // The caller's bytes go into a log line, a header and JSON: printable ASCII only.
    method = method.empty() ? "-" : loggable_path(method);
    std::string shown = loggable_path(path);
    const std::string detail = refusal_detail(status, export_id_, method, shown, reason);
    std::string answer;
    if (grpc_ && status == 403) {
      // Trailers-only: PERMISSION_DENIED (7), as a gRPC server answers a call it refuses.
      append_header_block(answer, stream,
                          literal_block({{":status", "200"},
                                         {"content-type", "application/grpc"},
                                         {"grpc-status", "7"},
                                         {"grpc-message", detail}}),
                          true);
    } else {
      const std::string body = problem_body(status, detail, export_id_);
      append_header_block(answer, stream,
                          literal_block({{":status", std::to_string(status)},
                                         {"content-type", "application/problem+json"},
                                         {"content-length", std::to_string(body.size())}}),
                          false);
      append_frame_header(answer, body.size(), kData, kEndStream, stream);
      answer += body;
    }
    // The caller may still be sending its request: it can stop (RFC 9113, 8.1).
    if (!block_end_stream_) append_rst_stream(answer, stream, 0);
    to_caller(std::move(answer), out);
    out.refused.push_back({status, std::move(method), std::move(shown), std::move(reason)});
  }

  // Frames of ours for the caller: after the service's header block under way, never inside it.
  void to_caller(std::string frames, FilterOutput& out) {
    if (!service_block_open_) {
      out.to_client += frames;
    } else if (held_answers_.size() + frames.size() > kMaxHeaderBlockBytes) {
      fail(out, "answers piling up behind a header block of the service");  // bounded like a block
    } else {
      held_answers_ += frames;
    }
  }

  // --- service to caller -------------------------------------------------------------------------

  void from_upstream(std::string_view bytes, FilterOutput& out) {
    upstream_in_.append(bytes);
    size_t at = 0;
    while (!closed_) {
      Frame f;
      if (!next_frame(upstream_in_, at, f, out)) break;
      at += f.whole.size();
      if (f.type == kSettings) {
        const std::string settings = lowered_settings(f.whole, true);
        // The caller's encoder may use as large a table as the service allows: so may our decoder.
        for (size_t i = kFrameHeaderBytes; i + 6 <= settings.size() && !(f.flags & 0x1); i += 6) {
          const uint16_t id = static_cast<uint16_t>((uint8_t(settings[i]) << 8) | uint8_t(settings[i + 1]));
          if (id == kSettingsHeaderTableSize) {
            nghttp2_hd_inflate_change_table_size(inflater_, read_u32(settings.data() + i + 2));
          }
        }
        out.to_client += settings;
      } else {
        out.to_client.append(f.whole);
      }
      if (f.type == kHeaders || f.type == kContinuation) service_block_open_ = !(f.flags & kEndHeaders);
      if (!service_block_open_ && !held_answers_.empty()) out.to_client += std::exchange(held_answers_, {});
    }
    upstream_in_.erase(0, at);
  }

  // --- both --------------------------------------------------------------------------------------

  // The frame at `at` of `in`, if it is all there; a frame over the bound ends the connection.
  bool next_frame(const std::string& in, size_t at, Frame& f, FilterOutput& out) {
    if (in.size() - at < kFrameHeaderBytes) return false;
    const char* p = in.data() + at;
    f.length = (uint32_t(uint8_t(p[0])) << 16) | (uint32_t(uint8_t(p[1])) << 8) | uint32_t(uint8_t(p[2]));
    f.type = static_cast<uint8_t>(p[3]);
    f.flags = static_cast<uint8_t>(p[4]);
    f.stream = read_u32(p + 5) & 0x7fffffff;
    if (f.length > kMaxHttp2FrameBytes) {
      fail(out, "frame over " + std::to_string(kMaxHttp2FrameBytes) + " bytes");
      return false;
    }
    if (in.size() - at < kFrameHeaderBytes + f.length) return false;
    f.whole = std::string_view(p, kFrameHeaderBytes + f.length);
    f.payload = f.whole.substr(kFrameHeaderBytes);
    return true;
  }

  void fail(FilterOutput& out, const std::string& why) {
    if (closed_) return;
    closed_ = true;
    out.refused.push_back({400, "-", "-", "HTTP/2 connection ended: " + why});
  }

  std::string export_id_;
  Rules rules_;
  nghttp2_hd_inflater* inflater_ = nullptr;  // the caller's header blocks
  bool closed_ = false;
  bool preface_seen_ = false;
  std::string client_in_;
  std::string upstream_in_;
  uint32_t block_stream_ = 0;  // a header block under way from the caller
  bool block_end_stream_ = false;
  std::string block_;
  uint32_t last_stream_ = 0;    // the caller's highest stream so far
  bool grpc_ = false;           // the request being judged is a gRPC call
  std::set<uint32_t> refused_;  // streams answered here, never forwarded
  bool service_block_open_ = false;
  std::string held_answers_;
};

Http2Filter::Http2Filter(std::string export_id, Rules rules)
    : impl_(std::make_unique<Impl>(std::move(export_id), std::move(rules))) {}
Http2Filter::~Http2Filter() = default;
bool Http2Filter::closed() const { return impl_->closed_; }
void Http2Filter::from_client(std::string_view bytes, FilterOutput& out) { impl_->from_client(bytes, out); }
void Http2Filter::from_upstream(std::string_view bytes, FilterOutput& out) { impl_->from_upstream(bytes, out); }

}  // namespace meshfed::gateway
