#include "meshfed/http/tls.hpp"

#include <utility>  // before Asio: GCC 12 + Boost 1.74 need std::exchange declared

#include <boost/asio/ssl/context.hpp>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>

namespace meshfed::http {
namespace {

namespace ssl = boost::asio::ssl;

// TLS 1.2 suites limited to forward-secret AEAD; TLS 1.3 suites are all AEAD.
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:"
    "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305";

Error tls_error(const std::string& what) {
  std::string detail;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    detail += (detail.empty() ? "" : "; ") + std::string(buf);
  }
  return make_error(ErrorCode::kInvalidArgument, what + (detail.empty() ? "" : ": " + detail));
}

// Why `file` cannot be read, or empty. OpenSSL reports an unreadable key as three library
// codes; an operator needs the OS's reason (typically the service user lacking the group).
std::string unreadable_because(const std::filesystem::path& file) {
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::strerror(errno);
  struct stat st {};
  const bool regular = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
  ::close(fd);
  return regular ? "" : "not a regular file";
}

// The certificate chain and its key, each error naming the setting and the file.
Status use_certificate_and_key(SSL_CTX* native, const std::string& setting, const std::filesystem::path& cert_file,
                               const std::filesystem::path& key_file) {
  for (const auto& [name, file] : {std::pair{"cert_file", &cert_file}, std::pair{"key_file", &key_file}}) {
    if (auto why = unreadable_because(*file); !why.empty()) {
      return make_error(ErrorCode::kInvalidArgument,
                        setting + "." + name + ": cannot read " + file->string() + ": " + why);
    }
  }
  ERR_clear_error();
  if (SSL_CTX_use_certificate_chain_file(native, cert_file.c_str()) != 1) {
    return tls_error(setting + ".cert_file: no PEM certificate chain in " + cert_file.string());
  }
  // Read apart from the use, which checks it against the certificate: a key that does not parse
  // and a key of another certificate are different mistakes. No passphrase prompt: a service
  // has no terminal, and an encrypted key is refused instead of blocking the start.
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_file(key_file.c_str(), "r"), &BIO_free);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      bio ? PEM_read_bio_PrivateKey(
                bio.get(), nullptr, [](char*, int, int, void*) { return 0; }, nullptr)
          : nullptr,
      &EVP_PKEY_free);
  if (!key) {
    return tls_error(setting + ".key_file: no unencrypted PEM private key in " + key_file.string());
  }
  if (SSL_CTX_use_PrivateKey(native, key.get()) != 1 || SSL_CTX_check_private_key(native) != 1) {
    return tls_error(setting + ".key_file: " + key_file.string() + " is not the key of " + cert_file.string());
  }
  return {};
}

// The context, owning `keep_alive` too: one allocation holding both, handed out as the
// context (aliasing constructor).
std::shared_ptr<ssl::context> owning(std::shared_ptr<ssl::context> ctx, std::shared_ptr<const void> keep_alive) {
  if (!keep_alive) return ctx;
  auto both = std::make_shared<std::pair<std::shared_ptr<const void>, std::shared_ptr<ssl::context>>>(
      std::move(keep_alive), std::move(ctx));
  return std::shared_ptr<ssl::context>(both, both->second.get());
}

// Key exchange on curves only: a client offering only FFDHE (ffdhe8192 costs the server
// ~120 ms of CPU per handshake) finds no common group and is refused at once.
constexpr const char* kGroups = "X25519:P-256:P-384";

// Where each server connection counts the KeyUpdates it received.
int key_updates_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

// OpenSSL's message callback, before it acts on each message. Past the cap the connection is
// marked as closed by the client: the read in progress ends at the next record it asks for, and
// the server's usual end-of-stream path closes the socket.
void count_key_updates(int write_p, int, int content_type, const void* buf, size_t len, SSL* ssl, void*) {
  if (write_p || content_type != SSL3_RT_HANDSHAKE || len < 1 ||
      static_cast<const unsigned char*>(buf)[0] != SSL3_MT_KEY_UPDATE) {
    return;
  }
  const auto seen = reinterpret_cast<intptr_t>(SSL_get_ex_data(ssl, key_updates_index())) + 1;
  SSL_set_ex_data(ssl, key_updates_index(), reinterpret_cast<void*>(seen));
  if (seen > kMaxKeyUpdatesPerConnection) SSL_set_shutdown(ssl, SSL_get_shutdown(ssl) | SSL_RECEIVED_SHUTDOWN);
}

}  // namespace

Result<std::shared_ptr<TlsContext>> make_server_context(const ServerTlsOptions& o) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  SSL_CTX* native = ctx->native_handle();
  SSL_CTX_set_min_proto_version(native, o.tls13_only ? TLS1_3_VERSION : TLS1_2_VERSION);
  SSL_CTX_set_options(native, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  if (SSL_CTX_set_cipher_list(native, kTls12Ciphers) != 1) return tls_error("cannot set cipher list");
  if (SSL_CTX_set1_groups_list(native, kGroups) != 1) return tls_error("cannot set key exchange groups");
  MESHFED_RETURN_IF_ERROR(use_certificate_and_key(native, o.setting, o.cert_file, o.key_file));
  SSL_CTX_set_msg_callback(native, count_key_updates);
  if (!o.resumption) {
    SSL_CTX_set_num_tickets(native, 0);
    SSL_CTX_set_options(native, SSL_OP_NO_TICKET);
    SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_OFF);
  }
  if (o.configure) o.configure(native);
  return owning(std::move(ctx), o.keep_alive);
}

Result<std::shared_ptr<TlsContext>> make_client_context(const ClientTlsOptions& o) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  SSL_CTX* native = ctx->native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  if (SSL_CTX_set_cipher_list(native, kTls12Ciphers) != 1) return tls_error("cannot set cipher list");
  if (SSL_CTX_set1_groups_list(native, kGroups) != 1) return tls_error("cannot set key exchange groups");
  ERR_clear_error();
  if (o.configure) {
    SSL_CTX_set_min_proto_version(native, TLS1_3_VERSION);  // peer connections are TLS 1.3
    o.configure(native);
  } else {
    if (o.ca_file.empty()) return make_error(ErrorCode::kInvalidArgument, "a CA file is required to verify the server");
    if (auto why = unreadable_because(o.ca_file); !why.empty()) {
      return make_error(ErrorCode::kInvalidArgument, "cannot read CA file " + o.ca_file.string() + ": " + why);
    }
    if (SSL_CTX_load_verify_locations(native, o.ca_file.c_str(), nullptr) != 1) {
      return tls_error("cannot load CA file " + o.ca_file.string());
    }
    SSL_CTX_set_verify(native, SSL_VERIFY_PEER, nullptr);
  }
  if (!o.cert_file.empty()) {
    MESHFED_RETURN_IF_ERROR(use_certificate_and_key(native, o.setting, o.cert_file, o.key_file));
  }
  return owning(std::move(ctx), o.keep_alive);
}

}  // namespace meshfed::http
