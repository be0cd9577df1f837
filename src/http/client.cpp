#include "meshfed/http/client.hpp"

#include <utility>  // before Asio: GCC 12 + Boost 1.74 need std::exchange declared

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <arpa/inet.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>

#include <atomic>
#include <optional>
#include <thread>

#include "meshfed/config/config.hpp"
#include "meshfed/http/tls.hpp"

namespace meshfed::http {
namespace {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;
}  // namespace

std::string ClientResponse::header(const std::string& name) const {
  auto it = headers.find(name);
  return it == headers.end() ? "" : it->second;
}

bool parse_https_url(const std::string& url, std::string& host, uint16_t& port) {
  bool tls = false;
  return parse_http_url(url, tls, host, port) && tls;
}

bool parse_http_url(const std::string& url, bool& tls, std::string& host, uint16_t& port) {
  tls = url.rfind("https://", 0) == 0;
  if (!tls && url.rfind("http://", 0) != 0) return false;
  std::string rest = url.substr(tls ? 8 : 7);
  if (auto slash = rest.find('/'); slash != std::string::npos) rest = rest.substr(0, slash);
  auto ep = config::parse_endpoint(rest);
  if (!ep) return false;
  host = ep->host;
  port = ep->port;
  return true;
}

struct HttpsClient::Impl {
  ClientOptions options;
  std::atomic<int> fd{-1};  // of the open connection, for abort() and the watchdog
  std::atomic<bool> aborted{false};

  // SO_RCVTIMEO does not bound Asio's blocking reads (on EAGAIN they poll again), so a server
  // that accepts and then says nothing would hold the caller forever. A watchdog thread shuts
  // the socket down when a request's deadline passes.
  using Clock = std::chrono::steady_clock;
  Mutex watch_mu;
  CondVar watch_cv;
  std::optional<Clock::time_point> watch_deadline GUARDED_BY(watch_mu);
  bool watch_stop GUARDED_BY(watch_mu) = false;
  std::atomic<bool> timed_out{false};
  std::thread watchdog;

  ~Impl() {
    {
      MutexLock lock(watch_mu);
      watch_stop = true;
    }
    watch_cv.notify_all();
    if (watchdog.joinable()) watchdog.join();
  }

  void arm(Clock::time_point deadline) {
    MutexLock lock(watch_mu);
    watch_deadline = deadline;
    timed_out = false;
    if (!watchdog.joinable()) watchdog = std::thread([this] { watch(); });
    watch_cv.notify_all();
  }

  void disarm() {
    MutexLock lock(watch_mu);
    watch_deadline.reset();
    watch_cv.notify_all();
  }

  void watch() {
    MutexLock lock(watch_mu);
    while (!watch_stop) {
      if (!watch_deadline) {
        watch_cv.wait(watch_mu);
        continue;
      }
      const auto deadline = *watch_deadline;
      const auto rearmed = [&]() REQUIRES(watch_mu) { return watch_stop || watch_deadline != deadline; };
      while (!rearmed() && watch_cv.wait_until(watch_mu, deadline)) {
      }
      if (rearmed()) continue;
      timed_out = true;
      watch_deadline.reset();
      if (const int f = fd.load(); f >= 0) ::shutdown(f, SHUT_RDWR);
    }
  }

  std::shared_ptr<TlsContext> ctx;
  std::string refused_certificate;  // why the last handshake refused the server, in words
  asio::io_context io;
  std::optional<beast::ssl_stream<tcp::socket>> stream;  // HTTPS
  std::optional<tcp::socket> plain;                      // HTTP (`options.plain`)
  beast::flat_buffer buffer;

  bool connected() const { return stream || plain; }
  void drop() {
    stream.reset();
    plain.reset();
  }
  tcp::socket& socket() { return plain ? *plain : stream->next_layer(); }

  Status connect() {
    drop();
    buffer.clear();
    beast::error_code ec;
    tcp::resolver resolver(io);
    auto results = resolver.resolve(options.host, std::to_string(options.port), ec);
    if (ec) return make_error(ErrorCode::kUnavailable, "cannot resolve " + options.host + ": " + ec.message());
    if (options.plain) {
      plain.emplace(io);
    } else {
      stream.emplace(io, *ctx);
    }
    auto& sock = socket();
    // Each attempt's socket is published before its connect starts, so that abort() and the
    // watchdog can break a connect that the network never answers.
    ec = asio::error::host_not_found;
    for (const auto& entry : results) {
      sock.close(ec);
      sock.open(entry.endpoint().protocol(), ec);
      if (ec) continue;
      fd = sock.native_handle();
      if (aborted) break;
      sock.connect(entry.endpoint(), ec);
      if (!ec || aborted || timed_out) break;
    }
    if (ec || aborted) {
      const std::string where = options.host + ":" + std::to_string(options.port);
      if (timed_out) {
        return make_error(ErrorCode::kUnavailable, "no connection to " + where + " within the " +
                                                       std::to_string(options.connect_timeout.count()) +
                                                       " s connect deadline");
      }
      return make_error(ErrorCode::kUnavailable, "cannot connect to " + where + ": " + ec.message());
    }
    timeval tv{static_cast<time_t>(options.timeout.count()), 0};
    ::setsockopt(sock.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(sock.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sock.set_option(tcp::no_delay(true), ec);
    if (options.plain) return {};
    // SNI only for names; verification covers names and IP addresses alike.
    beast::error_code addr_ec;
    asio::ip::make_address(options.host, addr_ec);
    if (addr_ec) SSL_set_tlsext_host_name(stream->native_handle(), options.host.c_str());
    if (!options.configure_tls) {
      expect_name(stream->native_handle(), options.host, !addr_ec);
      refused_certificate.clear();
      // A failed handshake keeps no peer certificate: the one refused is described here.
      stream->set_verify_callback([this](bool preverified, asio::ssl::verify_context& vc) {
        X509_STORE_CTX* store = vc.native_handle();
        if (!preverified && refused_certificate.empty() && X509_STORE_CTX_get_error_depth(store) == 0) {
          refused_certificate =
              describe_refusal(X509_STORE_CTX_get_error(store), X509_STORE_CTX_get_current_cert(store));
        }
        return preverified;
      });
    }
    stream->handshake(asio::ssl::stream_base::client, ec);
    if (ec && timed_out) {
      stream.reset();
      return make_error(ErrorCode::kUnavailable,
                        "no TLS handshake with " + options.host + ":" + std::to_string(options.port) + " within the " +
                            std::to_string(options.connect_timeout.count()) + " s connect deadline");
    }
    if (ec) {
      // A certificate we refused is a verdict, not an outage: retrying cannot change it.
      const bool refused = !options.configure_tls && (!refused_certificate.empty() ||
                                                      SSL_get_verify_result(stream->native_handle()) != X509_V_OK);
      const std::string why = options.configure_tls ? ec.message() : verification_failure(stream->native_handle(), ec);
      stream.reset();
      return make_error(refused ? ErrorCode::kUntrusted : ErrorCode::kUnavailable,
                        "TLS handshake with " + options.host + ":" + std::to_string(options.port) + " failed: " + why);
    }
    return {};
  }

  // OpenSSL checks the name itself (not a callback), so that a mismatch is its own error code.
  static void expect_name(SSL* ssl, const std::string& host, bool is_address) {
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    if (is_address) {
      X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str());
    } else {
      X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size());
    }
  }

  // Why the server's certificate was refused, in words an operator can act on: which names it
  // has, which CA file it was checked against, when it expired.
  std::string verification_failure(SSL* ssl, const beast::error_code& ec) const {
    if (!refused_certificate.empty()) return refused_certificate;
    const long result = SSL_get_verify_result(ssl);
    if (result == X509_V_OK) return ec.message();
    return describe_refusal(static_cast<int>(result), nullptr);
  }

  std::string describe_refusal(int result, const X509* cert) const {
    switch (result) {
      case X509_V_ERR_HOSTNAME_MISMATCH:
      case X509_V_ERR_IP_ADDRESS_MISMATCH:
        return "the server's certificate is not for \"" + options.host + "\"; it names " + names_of(cert) +
               " (connect by one of those, or re-issue it with meshfed pki issue --dns/--ip)";
      case X509_V_ERR_CERT_HAS_EXPIRED:
        return "the server's certificate expired at " + not_after_of(cert);
      case X509_V_ERR_CERT_NOT_YET_VALID:
        return "the server's certificate is not valid yet";
      case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
      case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
      case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
      case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
        return "the server's certificate is not signed by the CA in " + options.ca_file.string() +
               " (is it that domain's ca.pem?)";
      default:
        return std::string("certificate verify failed: ") + X509_verify_cert_error_string(result);
    }
  }

  static std::string names_of(const X509* cert) {
    if (!cert) return "nothing";
    std::string out;
    auto* sans = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
    for (int i = 0; sans && i < sk_GENERAL_NAME_num(sans); ++i) {
      const GENERAL_NAME* gn = sk_GENERAL_NAME_value(sans, i);
      std::string name;
      if (gn->type == GEN_DNS) {
        name = "DNS:" + std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(gn->d.dNSName)),
                                    static_cast<size_t>(ASN1_STRING_length(gn->d.dNSName)));
      } else if (gn->type == GEN_IPADD) {
        char text[INET6_ADDRSTRLEN] = {};
        const int len = ASN1_STRING_length(gn->d.iPAddress);
        const int family = len == 4 ? AF_INET : len == 16 ? AF_INET6 : 0;
        if (family && ::inet_ntop(family, ASN1_STRING_get0_data(gn->d.iPAddress), text, sizeof text)) {
          name = std::string("IP:") + text;
        }
      }
      if (!name.empty()) out += (out.empty() ? "" : ", ") + name;
    }
    GENERAL_NAMES_free(sans);
    return out.empty() ? "no DNS name or IP address" : out;
  }

  static std::string not_after_of(const X509* cert) {
    if (!cert) return "an unknown time";
    BIO* bio = BIO_new(BIO_s_mem());
    ASN1_TIME_print(bio, X509_get0_notAfter(cert));
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio, &data);
    std::string text(data, static_cast<size_t>(n));
    BIO_free(bio);
    return text;
  }

  Result<ClientResponse> once(const std::string& method, const std::string& target,
                              const std::map<std::string, std::string>& headers, const std::string& body,
                              bool& retryable) {
    if (plain) return exchange(*plain, method, target, headers, body, retryable);
    std::string certificate = server_certificate();  // before the exchange, which may drop the stream
    auto res = exchange(*stream, method, target, headers, body, retryable);
    if (res) res->server_certificate = std::move(certificate);
    return res;
  }

  std::string server_certificate() {
    X509* cert = SSL_get0_peer_certificate(stream->native_handle());
    unsigned char* der = nullptr;
    const int n = cert ? i2d_X509(cert, &der) : 0;
    if (n <= 0) return {};
    std::string out(reinterpret_cast<const char*>(der), static_cast<size_t>(n));
    OPENSSL_free(der);
    return out;
  }

  template <class Stream>
  Result<ClientResponse> exchange(Stream& s, const std::string& method, const std::string& target,
                                  const std::map<std::string, std::string>& headers, const std::string& body,
                                  bool& retryable) {
    retryable = false;
    bhttp::request<bhttp::string_body> req{bhttp::string_to_verb(method), target, 11};
    req.set(bhttp::field::host, options.host);
    req.set(bhttp::field::user_agent, "meshfed/" MESHFED_VERSION);
    for (const auto& [k, v] : headers) req.set(k, v);
    req.body() = body;
    req.keep_alive(true);
    req.prepare_payload();
    beast::error_code write_ec;
    bhttp::write(s, req, write_ec);
    // A server may answer early (413) and stop reading; its answer is still worth reading.
    beast::error_code ec;
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(options.body_limit);
    // `timeout` bounds the whole response, not each read: a server trickling a byte at a time
    // must not hold the caller forever. Each read may wait only for what is left.
    const auto deadline = std::chrono::steady_clock::now() + options.timeout;
    while (!ec && !parser.is_done()) {
      const auto left =
          std::chrono::duration_cast<std::chrono::microseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        drop();
        return make_error(ErrorCode::kUnavailable, "response not complete within the " +
                                                       std::to_string(options.timeout.count()) + " s deadline");
      }
      timeval tv{static_cast<time_t>(left.count() / 1000000), static_cast<suseconds_t>(left.count() % 1000000)};
      ::setsockopt(socket().native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      bhttp::read_some(s, buffer, parser, ec);
    }
    if (ec == bhttp::error::body_limit) {
      drop();
      return make_error(ErrorCode::kPayloadTooLarge,
                        "response body exceeds the " + std::to_string(options.body_limit) + "-byte limit");
    }
    if (ec) {
      retryable = write_ec || ec == bhttp::error::end_of_stream || ec == asio::ssl::error::stream_truncated;
      return make_error(ErrorCode::kUnavailable, write_ec ? "cannot send request: " + write_ec.message()
                                                          : "cannot read response: " + ec.message());
    }
    auto msg = parser.release();
    ClientResponse out;
    out.status = static_cast<int>(msg.result_int());
    for (const auto& f : msg) {
      std::string name(f.name_string());
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      out.headers[name] = std::string(f.value());
    }
    out.body = std::move(msg.body());  // a catalog can be tens of megabytes: no copy
    if (!msg.keep_alive()) drop();
    return out;
  }
};

HttpsClient::HttpsClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpsClient::~HttpsClient() = default;

void HttpsClient::abort() {
  impl_->aborted = true;
  const int fd = impl_->fd.load();
  if (fd >= 0) ::shutdown(fd, SHUT_RDWR);
}

Result<std::unique_ptr<HttpsClient>> HttpsClient::create(const ClientOptions& options) {
  if (options.plain) {
    auto impl = std::make_unique<Impl>();
    impl->options = options;
    return std::unique_ptr<HttpsClient>(new HttpsClient(std::move(impl)));
  }
  MESHFED_ASSIGN_OR_RETURN(auto ctx, make_client_context({options.ca_file, options.cert_file, options.key_file,
                                                          options.configure_tls, options.keep_alive}));
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->ctx = std::move(ctx);
  return std::unique_ptr<HttpsClient>(new HttpsClient(std::move(impl)));
}

Result<ClientResponse> HttpsClient::request(const std::string& method, const std::string& target,
                                            const std::map<std::string, std::string>& headers,
                                            const std::string& body) {
  const auto deadline = Impl::Clock::now() + impl_->options.timeout;
  impl_->arm(deadline);
  struct Disarm {
    Impl& impl;
    ~Disarm() {
      impl.disarm();
      impl.aborted = false;  // an abort() that came too late to matter is not kept for the next request
    }
  } disarm{*impl_};
  const auto aborted = [] { return make_error(ErrorCode::kCancelled, "request aborted"); };
  for (int attempt = 0;; ++attempt) {
    if (!impl_->connected()) impl_->fd = -1;
    const bool fresh = !impl_->connected();
    if (fresh) {
      impl_->arm(std::min(deadline, Impl::Clock::now() + impl_->options.connect_timeout));
      auto st = impl_->connect();
      if (impl_->aborted) return aborted();
      MESHFED_RETURN_IF_ERROR(st);
      impl_->arm(deadline);
    }
    // abort() sets the flag before it looks for the socket: one that came while connecting
    // found none to shut down, and is seen here instead of after a whole long-poll.
    if (impl_->aborted) {
      impl_->drop();
      return aborted();
    }
    bool retryable = false;
    auto res = impl_->once(method, target, headers, body, retryable);
    if (res.ok()) return res;
    impl_->drop();
    // A kept-alive connection the server closed meanwhile is retried once on a new one;
    // a request broken off by abort() is not.
    if (impl_->aborted) return aborted();
    if (impl_->timed_out.exchange(false)) {
      return make_error(ErrorCode::kUnavailable, "no complete response from " + impl_->options.host + ":" +
                                                     std::to_string(impl_->options.port) + " within the " +
                                                     std::to_string(impl_->options.timeout.count()) + " s deadline");
    }
    if (!retryable || fresh || attempt > 0) return res;
  }
}

Result<ClientResponse> InterruptibleRequests::request(HttpsClient& client, const std::string& method,
                                                      const std::string& target,
                                                      const std::map<std::string, std::string>& headers,
                                                      const std::string& body) {
  {
    MutexLock lock(mu_);
    if (stopped_) return make_error(ErrorCode::kCancelled, "stopping");
    in_flight_ = &client;
  }
  auto res = client.request(method, target, headers, body);
  MutexLock lock(mu_);
  in_flight_ = nullptr;  // before the caller may destroy the client
  return res;
}

void InterruptibleRequests::interrupt() {
  MutexLock lock(mu_);
  if (in_flight_) in_flight_->abort();
}

void InterruptibleRequests::stop() {
  MutexLock lock(mu_);
  stopped_ = true;
  if (in_flight_) in_flight_->abort();
}

}  // namespace meshfed::http
