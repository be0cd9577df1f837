#include "gateway/http1_filter.hpp"

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <nlohmann/json.hpp>

#include <limits>

namespace meshfed::gateway {
namespace {

namespace http = boost::beast::http;
using error_code = boost::system::error_code;

// Bodies stream through, never held. (Boost 1.74's `body_limit(boost::none)` refuses every
// body with a length: it compares the length with the empty optional.)
constexpr uint64_t kUnlimited = std::numeric_limits<uint64_t>::max();

std::string_view reason_phrase(int status) {
  switch (status) {
    case 400:
      return "Bad Request";
    case 403:
      return "Forbidden";
    default:
      return "Bad Gateway";
  }
}

// A problem+json answer naming the export, so the caller knows whose rules said no.
std::string problem_response(int status, const std::string& detail, const std::string& export_id, bool close) {
  const std::string body = problem_body(status, detail, export_id);
  std::string r = "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason_phrase(status)) +
                  "\r\nContent-Type: application/problem+json\r\nContent-Length: " + std::to_string(body.size()) +
                  "\r\n";
  if (close) r += "Connection: close\r\n";
  return r + "\r\n" + body;
}

// obs-fold (a field line continued on the next): read one way by us, another by the service.
bool has_obs_fold(std::string_view header) {
  return header.find("\r\n ") != std::string_view::npos || header.find("\r\n\t") != std::string_view::npos;
}

// One message read without being kept: a request's line and fields are views into the bytes
// given to put() (the header arrives whole in one put), valid until those bytes are dropped;
// body bytes are counted, never copied, and go on from the input as they came.
template <bool isRequest>
class MessageReader : public http::basic_parser<isRequest> {
 public:
  struct Field {
    http::field name;
    std::string_view name_string;
    std::string_view value;
  };

  // `fields` (a request's) is the connection's, reused from request to request; a response's
  // fields are not kept (nullptr): they pass as they are.
  MessageReader(std::vector<Field>* fields, uint32_t header_limit) : fields_(fields) {
    if (fields_) fields_->clear();
    this->header_limit(header_limit);
    this->body_limit(kUnlimited);  // streamed through, never held
  }

  http::verb method = http::verb::unknown;
  std::string_view method_string;
  std::string_view target;
  int version = 0;
  unsigned status = 0;
  const std::vector<Field>& fields() const { return *fields_; }
  const Field* find(http::field name) const {
    for (const auto& f : *fields_) {
      if (f.name == name) return &f;
    }
    return nullptr;
  }

 private:
  void on_request_impl(http::verb m, std::string_view m_string, std::string_view t, int v, error_code&) override {
    method = m;
    method_string = m_string;
    target = t;
    version = v;
  }
  void on_response_impl(int code, std::string_view, int v, error_code&) override {
    status = static_cast<unsigned>(code);
    version = v;
  }
  void on_field_impl(http::field name, std::string_view name_string, std::string_view value, error_code&) override {
    if (fields_) fields_->push_back({name, name_string, value});
  }
  void on_header_impl(error_code&) override {}
  void on_body_init_impl(const boost::optional<uint64_t>&, error_code&) override {}
  size_t on_body_impl(std::string_view body, error_code&) override { return body.size(); }
  void on_chunk_header_impl(uint64_t, std::string_view, error_code&) override {}
  size_t on_chunk_body_impl(uint64_t, std::string_view body, error_code&) override { return body.size(); }
  void on_finish_impl(error_code&) override {}

  std::vector<Field>* fields_;
};

}  // namespace

std::string loggable_path(std::string_view path) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string r;
  for (const char c : path.substr(0, kMaxDeniedPathBytes)) {
    const auto b = static_cast<unsigned char>(c);
    if (b > 0x20 && b < 0x7f && c != '"' && c != '\\') {
      r += c;
    } else {
      r += {'%', kHex[b >> 4], kHex[b & 15]};
    }
  }
  return path.size() > kMaxDeniedPathBytes ? r + "..." : r;
}

std::string problem_body(int status, const std::string& detail, const std::string& export_id) {
  return nlohmann::json{{"type", "about:blank"},
                        {"title", reason_phrase(status)},
                        {"status", status},
                        {"detail", detail},
                        {"export", export_id}}
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);  // never throws on a caller's bytes
}

std::string refusal_detail(int status, const std::string& export_id, const std::string& method, const std::string& path,
                           const std::string& reason) {
  return status == 403 ? "export " + export_id + " does not allow " + method + " " + path + ": " + reason : reason;
}

struct Http1Filter::Impl {
  using RequestReader = MessageReader<true>;
  using ResponseReader = MessageReader<false>;

  Impl(std::string export_id, Rules rules) : export_id_(std::move(export_id)), rules_(std::move(rules)) {}

  void from_client(std::string_view bytes, FilterOutput& out);
  void from_upstream(std::string_view bytes, FilterOutput& out);
  void client_ended(FilterOutput& out);
  void upstream_ended(FilterOutput& out);
  void run(FilterOutput& out);
  void next_request();
  void read_request(FilterOutput& out);
  void read_response(FilterOutput& out);
  void expect_response();
  // Judges a request whose header is complete: forward it, answer it, or end.
  void judge(std::string_view raw_header, FilterOutput& out);
  // Passes (to `to`) or drops body bytes of the message `parser` reads; false on a framing error.
  template <class Parser>
  bool pass_body(Parser& parser, std::string& in, size_t& asked_at, std::string* to);
  void refuse(int status, std::string method, std::string path, std::string reason, FilterOutput& out);

  std::string export_id_;
  Rules rules_;
  Want want_ = Want::kClient;
  std::string client_in_;                     // read from the caller, not yet taken
  std::string upstream_in_;                   // read from the service, not yet taken
  std::vector<RequestReader::Field> fields_;  // the current request's (views into client_in_)
  std::optional<RequestReader> request_;
  std::optional<ResponseReader> response_;
  std::string method_;       // the current request's, kept past its header bytes
  bool forwarding_ = false;  // the current request's bytes go to the service (not dropped)
  bool head_request_ = false;
  bool upgrade_requested_ = false;
  bool keep_alive_ = true;  // the caller's last request kept the connection
  bool client_ended_ = false;
  // How much of each side's bytes the parser had when it last asked for more: Beast's parser
  // must be given more than that before its next put (it asserts otherwise).
  size_t client_asked_at_ = 0;
  size_t upstream_asked_at_ = 0;
  // How far each side's bytes were searched for the end of a header, so a header trickled in
  // byte by byte is searched once.
  size_t client_scanned_ = 0;
  size_t upstream_scanned_ = 0;
};

// Whether `in` holds a whole header (up to its empty line; one ending in bare LFs too, for the
// parser to refuse). Beast's parser is given headers only whole: given a start line without all
// its fields, it takes the start line and asks for more, and the views it handed out would then
// point at bytes that are gone. `scanned` is how far `in` was searched before.
bool holds_whole_header(std::string_view in, size_t& scanned) {
  const size_t from = scanned > 3 ? scanned - 3 : 0;
  scanned = in.size();
  const std::string_view rest = in.substr(from);
  return rest.find("\r\n\r\n") != std::string_view::npos || rest.find("\n\n") != std::string_view::npos;
}

// Beast's put() for a body, called only with more bytes than it last asked more for; in a chunked body,
// after it asked, with at least 5 (Boost 1.74 asserts that a final chunk it has seen comes back
// with its CRLF CRLF whole: "0\r\n" then "0\r\n\r" trips it).
template <class Parser>
size_t put_more(Parser& parser, const std::string& in, size_t& asked_at, error_code& ec) {
  constexpr size_t kFinalChunkBytes = 5;  // "0\r\n\r\n"
  const bool chunk_pending = asked_at > 0 && parser.is_header_done() && parser.chunked();
  if (in.size() <= asked_at || (chunk_pending && in.size() < kFinalChunkBytes)) {
    ec = http::error::need_more;
    return 0;
  }
  const size_t n = parser.put(boost::asio::buffer(in), ec);
  asked_at = ec == http::error::need_more && n == 0 ? in.size() : 0;
  return n;
}

void Http1Filter::Impl::from_client(std::string_view bytes, FilterOutput& out) {
  client_in_.append(bytes);
  run(out);
}

void Http1Filter::Impl::from_upstream(std::string_view bytes, FilterOutput& out) {
  upstream_in_.append(bytes);
  run(out);
}

void Http1Filter::Impl::client_ended(FilterOutput& out) {
  client_ended_ = true;
  // Waiting for a response, the caller's half-close lets it finish; otherwise the exchange is over.
  if (want_ == Want::kClient) want_ = Want::kClose;
  run(out);
}

void Http1Filter::Impl::upstream_ended(FilterOutput& out) {
  if (want_ == Want::kUpstream && response_) {
    error_code ec;
    if (response_->is_header_done() && response_->need_eof()) {
      response_->put_eof(ec);  // a response whose end is the end of the connection
    } else if (!response_->is_header_done()) {
      refuse(502, "-", "-", "the service closed the connection before answering", out);
      return;
    }
  }
  want_ = Want::kClose;
}

void Http1Filter::Impl::run(FilterOutput& out) {
  for (;;) {
    const Want before = want_;
    const size_t client_before = client_in_.size();
    const size_t upstream_before = upstream_in_.size();
    if (want_ == Want::kClient) {
      read_request(out);
    } else if (want_ == Want::kUpstream) {
      read_response(out);
    } else {
      if (want_ == Want::kTunnel) {  // what was read ahead belongs to the new protocol
        out.to_upstream += std::exchange(client_in_, {});
        out.to_client += std::exchange(upstream_in_, {});
      }
      return;
    }
    if (want_ == before && client_in_.size() == client_before && upstream_in_.size() == upstream_before) return;
  }
}

void Http1Filter::Impl::next_request() {
  request_.emplace(&fields_, kMaxRequestHeaderBytes);
  client_asked_at_ = 0;
  client_scanned_ = 0;
  forwarding_ = false;
  head_request_ = false;
  upgrade_requested_ = false;
}

void Http1Filter::Impl::read_request(FilterOutput& out) {
  if (!request_) {
    if (client_in_.empty()) return;
    next_request();
  }
  if (!request_->is_header_done()) {
    if (!holds_whole_header(client_in_, client_scanned_)) {
      if (client_in_.size() > kMaxRequestHeaderBytes) refuse(400, "-", "-", "request header too large", out);
      return;
    }
    error_code ec;
    const size_t n = request_->put(boost::asio::buffer(client_in_), ec);
    if (ec) return refuse(400, "-", "-", "unreadable request: " + ec.message(), out);
    judge(std::string_view(client_in_).substr(0, n), out);  // before the bytes its views see go
    client_in_.erase(0, n);
    if (want_ != Want::kClient) return;
  }
  if (!pass_body(*request_, client_in_, client_asked_at_, forwarding_ ? &out.to_upstream : nullptr)) {
    return refuse(400, method_, "-", "unreadable request body", out);
  }
  if (!request_->is_done()) return;
  if (forwarding_) {
    want_ = Want::kUpstream;
    expect_response();
    return;
  }
  request_.reset();  // refused and read to its end: the connection goes on
  if (!keep_alive_) want_ = Want::kClose;
}

void Http1Filter::Impl::judge(std::string_view raw_header, FilterOutput& out) {
  const RequestReader& req = *request_;
  method_.assign(req.method_string);
  const std::string_view target = req.target;
  keep_alive_ = req.keep_alive();
  if (has_obs_fold(raw_header)) return refuse(400, method_, loggable_path(target), "obs-fold in a header field", out);
  if (req.version != 11 && req.version != 10) {
    return refuse(400, method_, loggable_path(target), "HTTP version other than 1.0 or 1.1", out);
  }
  if (req.find(http::field::transfer_encoding) && (req.find(http::field::content_length) || !req.chunked())) {
    return refuse(400, method_, loggable_path(target), "Transfer-Encoding other than chunked, or with Content-Length",
                  out);
  }
  auto path = policy::judged_path(target);
  if (!path) return refuse(400, method_, loggable_path(target), path.error().message, out);

  const auto* upgrade = req.find(http::field::upgrade);
  upgrade_requested_ = upgrade != nullptr;
  const auto rules = rules_();
  std::string why;
  if (!rules) {
    why = "export no longer admits the caller";
  } else if (*rules && !policy::allows_http(**rules, method_, *path)) {
    why = "outside the export's rules";
  } else if (upgrade && !boost::beast::iequals(upgrade->value, "websocket")) {
    why = "upgrade other than websocket";
  }
  const auto* expect = req.find(http::field::expect);
  const bool expects_continue = expect && boost::beast::iequals(expect->value, "100-continue");
  const bool has_body = req.chunked() || req.content_length().value_or(0) > 0;
  if (!why.empty()) {
    // The body is read and dropped, unless the caller waits for a 100 before sending it.
    if (expects_continue && has_body) keep_alive_ = false;
    refuse(403, method_, loggable_path(*path), why, out);
    if (want_ == Want::kClient && !keep_alive_) want_ = Want::kClose;
    return;
  }

  head_request_ = req.method == http::verb::head;
  forwarding_ = true;
  std::string& up = out.to_upstream;
  up += method_;
  up += ' ';
  up += *path;
  if (const auto q = target.find('?'); q != std::string_view::npos) up += target.substr(q);
  up += req.version == 11 ? " HTTP/1.1\r\n" : " HTTP/1.0\r\n";
  for (const auto& f : req.fields()) {
    if (f.name == http::field::expect && expects_continue) continue;  // answered here
    up += f.name_string;
    up += ": ";
    up += f.value;
    up += "\r\n";
  }
  up += "\r\n";
  if (expects_continue && has_body) out.to_client += "HTTP/1.1 100 Continue\r\n\r\n";
}

void Http1Filter::Impl::expect_response() {
  response_.emplace(nullptr, kMaxResponseHeaderBytes);
  upstream_asked_at_ = 0;
  upstream_scanned_ = 0;
  if (head_request_) response_->skip(true);  // its length describes the body a GET would get
}

void Http1Filter::Impl::read_response(FilterOutput& out) {
  if (!response_->is_header_done()) {
    if (!holds_whole_header(upstream_in_, upstream_scanned_)) {
      if (upstream_in_.size() > kMaxResponseHeaderBytes) refuse(502, "-", "-", "response header too large", out);
      return;
    }
    error_code ec;
    const size_t n = response_->put(boost::asio::buffer(upstream_in_), ec);
    if (ec) return refuse(502, "-", "-", "unreadable response: " + ec.message(), out);
    out.to_client.append(upstream_in_, 0, n);
    upstream_in_.erase(0, n);
    const unsigned status = response_->status;
    if (status == 101) {
      want_ = upgrade_requested_ ? Want::kTunnel : Want::kClose;
      return;
    }
    if (status / 100 == 1) {  // an interim response; the final one follows
      expect_response();
      return;
    }
  }
  if (!pass_body(*response_, upstream_in_, upstream_asked_at_, &out.to_client)) {
    want_ = Want::kClose;  // part of it is out already: all the caller can be told is the end
    return;
  }
  if (!response_->is_done()) return;
  const bool keep = keep_alive_ && response_->keep_alive() && !client_ended_;
  response_.reset();
  request_.reset();
  want_ = keep ? Want::kClient : Want::kClose;
}

template <class Parser>
bool Http1Filter::Impl::pass_body(Parser& parser, std::string& in, size_t& asked_at, std::string* to) {
  while (!parser.is_done()) {
    error_code ec;
    const size_t n = put_more(parser, in, asked_at, ec);
    if (ec && ec != http::error::need_more) return false;
    if (to) to->append(in, 0, n);
    in.erase(0, n);
    if (n == 0) break;
  }
  return true;
}

void Http1Filter::Impl::refuse(int status, std::string method, std::string path, std::string reason,
                               FilterOutput& out) {
  const bool ends = status != 403;  // after 400 or 502 the stream cannot be read further
  out.to_client += problem_response(status, refusal_detail(status, export_id_, method, path, reason), export_id_,
                                    ends || !keep_alive_);
  out.refused.push_back({status, std::move(method), std::move(path), std::move(reason)});
  if (ends) want_ = Want::kClose;
}

Http1Filter::Http1Filter(std::string export_id, Rules rules)
    : impl_(std::make_unique<Impl>(std::move(export_id), std::move(rules))) {}
Http1Filter::~Http1Filter() = default;
Http1Filter::Want Http1Filter::want() const { return impl_->want_; }
void Http1Filter::from_client(std::string_view bytes, FilterOutput& out) { impl_->from_client(bytes, out); }
void Http1Filter::from_upstream(std::string_view bytes, FilterOutput& out) { impl_->from_upstream(bytes, out); }
void Http1Filter::client_ended(FilterOutput& out) { impl_->client_ended(out); }
void Http1Filter::upstream_ended(FilterOutput& out) { impl_->upstream_ended(out); }

}  // namespace meshfed::gateway
