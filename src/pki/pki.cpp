#include "meshfed/pki/pki.hpp"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "meshfed/core/cidr.hpp"
#include "meshfed/core/clock.hpp"
#include "meshfed/core/openssl_handles.hpp"
#include "meshfed/core/text.hpp"

namespace meshfed::pki {
namespace {

namespace fs = std::filesystem;

std::string openssl_error() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

Error ssl_error(const std::string& what) { return make_error(ErrorCode::kInternal, what + ": " + openssl_error()); }

PkeyPtr new_p256_key() { return PkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256")); }

bool add_ext(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509ExtensionPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
  return ext && X509_add_ext(cert, ext.get(), -1) == 1;
}

bool set_random_serial(X509* cert) {
  std::array<unsigned char, 16> bytes{};
  if (RAND_bytes(bytes.data(), bytes.size()) != 1) return false;
  bytes[0] &= 0x7f;  // positive
  BignumPtr bn(BN_bin2bn(bytes.data(), bytes.size(), nullptr));
  return bn && BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert)) != nullptr;
}

struct CertSpec {
  std::string common_name;
  std::string organization;
  std::chrono::seconds validity;
  std::chrono::seconds not_before{-300};  // backdated a little for clock differences between hosts
  bool is_ca = false;
  std::string key_usage;
  std::string ext_key_usage;  // empty: none
  std::string san;            // "URI:...,DNS:...,IP:..."
};

Result<X509Ptr> make_cert(const CertSpec& spec, EVP_PKEY* subject_key, X509* issuer_cert, EVP_PKEY* issuer_key) {
  X509Ptr cert(X509_new());
  if (!cert || X509_set_version(cert.get(), 2) != 1 || !set_random_serial(cert.get())) {
    return ssl_error("cannot create certificate");
  }
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), static_cast<long>(spec.not_before.count()));
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), static_cast<long>(spec.validity.count()));
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(spec.organization.c_str()), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(spec.common_name.c_str()), -1, -1, 0);
  X509* issuer = issuer_cert ? issuer_cert : cert.get();
  X509_set_issuer_name(cert.get(), X509_get_subject_name(issuer));
  if (X509_set_pubkey(cert.get(), subject_key) != 1) return ssl_error("cannot set public key");
  bool ok = add_ext(cert.get(), issuer, NID_basic_constraints,
                    spec.is_ca ? "critical,CA:TRUE,pathlen:0" : "critical,CA:FALSE") &&
            add_ext(cert.get(), issuer, NID_key_usage, "critical," + spec.key_usage) &&
            add_ext(cert.get(), issuer, NID_subject_key_identifier, "hash") &&
            (spec.is_ca || add_ext(cert.get(), issuer, NID_authority_key_identifier, "keyid:always")) &&
            (spec.ext_key_usage.empty() || add_ext(cert.get(), issuer, NID_ext_key_usage, spec.ext_key_usage)) &&
            (spec.san.empty() ||
             add_ext(cert.get(), issuer, NID_subject_alt_name, spec.is_ca ? spec.san : "critical," + spec.san));
  if (!ok) return ssl_error("cannot add certificate extensions");
  if (X509_sign(cert.get(), issuer_key, EVP_sha256()) <= 0) return ssl_error("cannot sign certificate");
  return cert;
}

Status write_file(const fs::path& path, const std::string& data, mode_t mode) {
  // Write to a temporary file and rename, so that a crash never leaves half a key behind.
  const fs::path tmp = path.string() + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0)
    return make_error(ErrorCode::kInvalidArgument, "cannot write " + tmp.string() + ": " + std::strerror(errno));
  ::fchmod(fd, mode);
  size_t off = 0;
  while (off < data.size()) {
    const ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      ::close(fd);
      return make_error(ErrorCode::kInternal, "cannot write " + tmp.string() + ": " + std::strerror(errno));
    }
    off += static_cast<size_t>(n);
  }
  ::fsync(fd);
  ::close(fd);
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) return make_error(ErrorCode::kInternal, "cannot rename " + tmp.string() + ": " + ec.message());
  return {};
}

std::string pem_of(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), cert);
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

std::string pem_of(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

// Why the last fopen (inside BIO_new_file) failed.
std::string os_reason() { return errno ? std::strerror(errno) : "unreadable"; }

Result<X509Ptr> load_cert(const fs::path& file) {
  errno = 0;
  BioPtr bio(BIO_new_file(file.c_str(), "r"));
  if (!bio) return make_error(ErrorCode::kInvalidArgument, "cannot read " + file.string() + ": " + os_reason());
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) return make_error(ErrorCode::kInvalidArgument, file.string() + " holds no PEM certificate");
  return cert;
}

Result<PkeyPtr> load_key(const fs::path& file) {
  errno = 0;
  BioPtr bio(BIO_new_file(file.c_str(), "r"));
  if (!bio) return make_error(ErrorCode::kInvalidArgument, "cannot read " + file.string() + ": " + os_reason());
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) return make_error(ErrorCode::kInvalidArgument, file.string() + " holds no PEM private key");
  return key;
}

std::string asn1_time_text(const ASN1_TIME* t) {
  std::tm tm{};
  if (ASN1_TIME_to_tm(t, &tm) != 1) return "?";
  return format_rfc3339(from_unix_ms(static_cast<int64_t>(timegm(&tm)) * 1000));
}

std::string name_text(X509_NAME* n) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  X509_NAME_print_ex(bio.get(), n, 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

std::string san_value(const std::string& trust_domain, LeafRole role, const LeafOptions& o) {
  std::string san = "URI:" + spiffe_id(trust_domain, role);
  for (const auto& d : o.dns_names) san += ",DNS:" + d;
  for (const auto& ip : o.ip_addresses) san += ",IP:" + ip;
  return san;
}

Status issue_with(const std::string& domain, const std::string& trust_domain, X509* ca, EVP_PKEY* ca_key, LeafRole role,
                  const LeafOptions& o, const fs::path& out) {
  PkeyPtr key = new_p256_key();
  if (!key) return ssl_error("cannot generate key");
  CertSpec spec;
  spec.common_name = std::string(to_string(role)) + "." + domain + ".meshfed";
  spec.organization = "meshfed " + domain;
  spec.validity = o.validity;
  spec.key_usage = "digitalSignature";
  switch (role) {
    case LeafRole::kBroker:
      spec.ext_key_usage = "serverAuth,clientAuth";
      break;
    case LeafRole::kIngress:
      spec.ext_key_usage = "serverAuth";
      break;
    case LeafRole::kEgress:
      spec.ext_key_usage = "clientAuth";
      break;
  }
  spec.san = san_value(trust_domain, role, o);
  MESHFED_ASSIGN_OR_RETURN(auto cert, make_cert(spec, key.get(), ca, ca_key));
  const std::string name(to_string(role));
  MESHFED_RETURN_IF_ERROR(write_file(out / (name + "-key.pem"), pem_of(key.get()), 0600));
  return write_file(out / (name + ".pem"), pem_of(cert.get()), 0644);
}

}  // namespace

std::optional<LeafRole> parse_leaf_role(std::string_view s) {
  if (s == "broker") return LeafRole::kBroker;
  if (s == "ingress") return LeafRole::kIngress;
  if (s == "egress") return LeafRole::kEgress;
  return std::nullopt;
}

std::string_view to_string(LeafRole r) {
  switch (r) {
    case LeafRole::kBroker:
      return "broker";
    case LeafRole::kIngress:
      return "ingress";
    case LeafRole::kEgress:
      return "egress";
  }
  return "?";
}

std::string spiffe_id(const std::string& trust_domain, LeafRole role) {
  return "spiffe://" + trust_domain + "/meshfed/" + std::string(to_string(role));
}

namespace {

// What a leaf may be made with, checked before anything is written.
Status check_leaf_options(const LeafOptions& o) {
  if (o.validity < std::chrono::days(1)) {
    return make_error(ErrorCode::kInvalidArgument, "--days: a certificate must be valid for at least one day");
  }
  for (const auto& ip : o.ip_addresses) {
    if (!IpAddress::parse(ip)) {
      return make_error(ErrorCode::kInvalidArgument, "--ip: expected an IP address, got \"" + ip + "\"");
    }
  }
  for (const auto& name : o.dns_names) {
    if (name.empty() || name.size() > 253 || name.find_first_of(" ,/\\:") != std::string::npos) {
      return make_error(ErrorCode::kInvalidArgument, "--dns: expected a host name, got \"" + name + "\"");
    }
  }
  return {};
}

// The CA and the three leaves, into `dir`.
Status make_domain_files(const fs::path& dir, const InitOptions& o, const std::string& td) {
  PkeyPtr ca_key = new_p256_key();
  if (!ca_key) return ssl_error("cannot generate CA key");
  CertSpec spec;
  spec.common_name = "meshfed " + o.domain + " CA";
  spec.organization = "meshfed " + o.domain;
  spec.validity = o.ca_validity;
  spec.is_ca = true;
  spec.key_usage = "keyCertSign,cRLSign";
  spec.san = "URI:spiffe://" + td;
  MESHFED_ASSIGN_OR_RETURN(auto ca, make_cert(spec, ca_key.get(), nullptr, ca_key.get()));
  MESHFED_RETURN_IF_ERROR(write_file(dir / "ca-key.pem", pem_of(ca_key.get()), 0600));
  MESHFED_RETURN_IF_ERROR(write_file(dir / "ca.pem", pem_of(ca.get()), 0644));
  for (LeafRole r : {LeafRole::kBroker, LeafRole::kIngress, LeafRole::kEgress}) {
    MESHFED_RETURN_IF_ERROR(issue_with(o.domain, td, ca.get(), ca_key.get(), r, o.leaf, dir));
  }
  return {};
}

}  // namespace

Status init_domain(const fs::path& out_dir, const InitOptions& o) {
  if (!is_rfc1035_label(o.domain)) {
    return make_error(ErrorCode::kInvalidArgument, "--domain: expected an RFC 1035 label, got \"" + o.domain + "\"");
  }
  MESHFED_RETURN_IF_ERROR(check_leaf_options(o.leaf));
  const std::string td = o.trust_domain.empty() ? o.domain : o.trust_domain;
  if (fs::exists(out_dir / "ca.pem") && !o.force) {
    return make_error(ErrorCode::kAlreadyExists, out_dir.string() +
                                                     "/ca.pem exists; refusing to replace the domain CA "
                                                     "(every peer trusts it). Use --force to replace it anyway.");
  }
  // Made in a scratch folder next to `out_dir` and moved in once whole: a failure (a bad --ip)
  // leaves no half-made CA behind to refuse the retry.
  fs::path target = out_dir.lexically_normal();
  if (!target.has_filename()) target = target.parent_path();
  const fs::path parent = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::error_code ec;
  fs::create_directories(parent, ec);
  if (ec) return make_error(ErrorCode::kInvalidArgument, "cannot create " + parent.string() + ": " + ec.message());
  std::string scratch_name = (parent / ("." + target.filename().string() + ".XXXXXX")).string();
  if (!::mkdtemp(scratch_name.data())) {
    return make_error(ErrorCode::kInvalidArgument,
                      "cannot create a folder in " + parent.string() + ": " + std::strerror(errno));
  }
  const fs::path scratch = scratch_name;
  Status st = make_domain_files(scratch, o, td);
  if (st) {
    fs::create_directories(target, ec);
    for (const auto& f : fs::directory_iterator(scratch, ec)) {
      if (ec) break;
      fs::rename(f.path(), target / f.path().filename(), ec);
      if (ec) break;
    }
    if (ec)
      st = make_error(ErrorCode::kInternal, "cannot move the new files into " + target.string() + ": " + ec.message());
  }
  fs::remove_all(scratch, ec);
  return st;
}

Status issue_leaf(const fs::path& ca_dir, LeafRole role, const LeafOptions& o, const fs::path& out_dir) {
  MESHFED_RETURN_IF_ERROR(check_leaf_options(o));
  MESHFED_ASSIGN_OR_RETURN(auto ca, load_cert(ca_dir / "ca.pem"));
  MESHFED_ASSIGN_OR_RETURN(auto key, load_key(ca_dir / "ca-key.pem"));
  MESHFED_ASSIGN_OR_RETURN(auto info, read_certificate(ca_dir / "ca.pem"));
  if (info.uri_sans.size() != 1 || info.uri_sans[0].rfind("spiffe://", 0) != 0) {
    return make_error(ErrorCode::kInvalidArgument, ca_dir.string() + "/ca.pem names no SPIFFE trust domain (URI SAN)");
  }
  const std::string td = info.uri_sans[0].substr(9);
  // The CA's organisation is "meshfed <domain>"; fall back to the trust domain.
  std::string domain = td;
  if (auto pos = info.subject.find("O=meshfed "); pos != std::string::npos) {
    domain = info.subject.substr(pos + 10);
    domain = domain.substr(0, domain.find(','));
  }
  const fs::path dir = out_dir.empty() ? ca_dir : out_dir;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return make_error(ErrorCode::kInvalidArgument, "cannot create " + dir.string() + ": " + ec.message());
  return issue_with(domain, td, ca.get(), key.get(), role, o, dir);
}

Result<RolloverResult> rollover_ca(const fs::path& ca_dir, std::chrono::days validity) {
  MESHFED_ASSIGN_OR_RETURN(const auto held, certificates_pem(ca_dir / "ca.pem"));
  if (held.size() != 1) {
    return make_error(ErrorCode::kFailedPrecondition,
                      (ca_dir / "ca.pem").string() + " holds " + std::to_string(held.size()) +
                          " certificates: a rollover is under way; `meshfed pki retire` ends it first");
  }
  MESHFED_ASSIGN_OR_RETURN(auto old_ca, load_cert(ca_dir / "ca.pem"));
  MESHFED_ASSIGN_OR_RETURN(auto old_key, load_key(ca_dir / "ca-key.pem"));
  if (X509_check_private_key(old_ca.get(), old_key.get()) != 1) {
    return make_error(ErrorCode::kFailedPrecondition,
                      (ca_dir / "ca-key.pem").string() + " is not the key of " + (ca_dir / "ca.pem").string());
  }
  MESHFED_ASSIGN_OR_RETURN(auto info, read_certificate(ca_dir / "ca.pem"));
  if (info.uri_sans.size() != 1 || info.uri_sans[0].rfind("spiffe://", 0) != 0) {
    return make_error(ErrorCode::kInvalidArgument, ca_dir.string() + "/ca.pem names no SPIFFE trust domain (URI SAN)");
  }
  std::string organization = "meshfed " + info.uri_sans[0].substr(9);
  if (auto pos = info.subject.find("O=meshfed "); pos != std::string::npos) {
    organization = info.subject.substr(pos + 2);
    organization = organization.substr(0, organization.find(','));
  }
  PkeyPtr next_key = new_p256_key();
  if (!next_key) return ssl_error("cannot generate CA key");
  CertSpec spec;
  // Another name than the old CA's: peers and operators tell the two apart at a glance.
  spec.common_name = organization + " CA " + format_rfc3339(SystemClock().now()).substr(0, 10);
  spec.organization = organization;
  spec.validity = validity;
  spec.is_ca = true;
  spec.key_usage = "keyCertSign,cRLSign";
  spec.san = info.uri_sans[0].insert(0, "URI:");
  MESHFED_ASSIGN_OR_RETURN(auto next, make_cert(spec, next_key.get(), nullptr, next_key.get()));
  // The old key first, kept; then the next key; then ca.pem, which makes the next CA the one
  // that signs. Each file is replaced whole.
  MESHFED_RETURN_IF_ERROR(write_file(ca_dir / "ca-previous-key.pem", pem_of(old_key.get()), 0600));
  MESHFED_RETURN_IF_ERROR(write_file(ca_dir / "ca-key.pem", pem_of(next_key.get()), 0600));
  MESHFED_RETURN_IF_ERROR(write_file(ca_dir / "ca.pem", pem_of(next.get()) + held[0], 0644));
  return RolloverResult{spec.common_name, asn1_time_text(X509_get0_notAfter(next.get()))};
}

Status retire_ca(const fs::path& ca_dir, const std::vector<fs::path>& leaves) {
  MESHFED_ASSIGN_OR_RETURN(const auto held, certificates_pem(ca_dir / "ca.pem"));
  if (held.size() < 2) {
    return make_error(ErrorCode::kFailedPrecondition,
                      (ca_dir / "ca.pem").string() + " holds one CA: there is no rollover to end");
  }
  // The leaves must verify against the next CA alone.
  const fs::path next_only = ca_dir / "ca-next-only.pem.tmp";
  MESHFED_RETURN_IF_ERROR(write_file(next_only, held[0], 0644));
  Status unchained;
  for (const auto& leaf : leaves) {
    if (auto st = verify_chain(leaf, next_only); !st) {
      unchained = make_error(ErrorCode::kFailedPrecondition,
                             leaf.string() + " is still the old CA's: re-issue it first (meshfed pki issue --ca-dir " +
                                 ca_dir.string() + " --role ...) and reload, then retire the old CA");
      break;
    }
  }
  std::error_code ec;
  fs::remove(next_only, ec);
  MESHFED_RETURN_IF_ERROR(unchained);
  return write_file(ca_dir / "ca.pem", held[0], 0644);
}

Status issue_custom_leaf(const fs::path& ca_dir, const CustomLeaf& leaf, const fs::path& cert_out,
                         const fs::path& key_out) {
  MESHFED_ASSIGN_OR_RETURN(auto ca, load_cert(ca_dir / "ca.pem"));
  MESHFED_ASSIGN_OR_RETURN(auto ca_key, load_key(ca_dir / "ca-key.pem"));
  PkeyPtr key = new_p256_key();
  if (!key) return ssl_error("cannot generate key");
  CertSpec spec;
  spec.common_name = "custom";
  spec.organization = "meshfed custom";
  spec.not_before = leaf.not_before;
  spec.validity = leaf.not_after;
  spec.key_usage = "digitalSignature";
  spec.ext_key_usage = leaf.extended_key_usage;
  for (const auto& u : leaf.uris) spec.san += (spec.san.empty() ? "" : ",") + std::string("URI:") + u;
  for (const auto& d : leaf.dns_names) spec.san += (spec.san.empty() ? "" : ",") + std::string("DNS:") + d;
  for (const auto& ip : leaf.ip_addresses) spec.san += (spec.san.empty() ? "" : ",") + std::string("IP:") + ip;
  MESHFED_ASSIGN_OR_RETURN(auto cert, make_cert(spec, key.get(), ca.get(), ca_key.get()));
  MESHFED_RETURN_IF_ERROR(write_file(key_out, pem_of(key.get()), 0600));
  return write_file(cert_out, pem_of(cert.get()), 0644);
}

Result<CertificateInfo> read_certificate(const fs::path& pem_file) {
  MESHFED_ASSIGN_OR_RETURN(auto cert, load_cert(pem_file));
  X509* x = cert.get();
  CertificateInfo info;
  info.subject = name_text(X509_get_subject_name(x));
  info.issuer = name_text(X509_get_issuer_name(x));
  info.not_before = asn1_time_text(X509_get0_notBefore(x));
  info.not_after = asn1_time_text(X509_get0_notAfter(x));
  std::tm tm{};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) == 1) info.not_after_unix = timegm(&tm);
  tm = {};
  if (ASN1_TIME_to_tm(X509_get0_notBefore(x), &tm) == 1) info.not_before_unix = timegm(&tm);
  info.is_ca = X509_check_ca(x) > 0;
  GeneralNamesPtr sans(static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(x, NID_subject_alt_name, nullptr, nullptr)));
  for (int i = 0; sans && i < sk_GENERAL_NAME_num(sans.get()); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(sans.get(), i);
    if (gn->type == GEN_URI || gn->type == GEN_DNS) {
      const ASN1_IA5STRING* s = gn->type == GEN_URI ? gn->d.uniformResourceIdentifier : gn->d.dNSName;
      std::string v(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                    static_cast<size_t>(ASN1_STRING_length(s)));
      (gn->type == GEN_URI ? info.uri_sans : info.dns_sans).push_back(v);
    } else if (gn->type == GEN_IPADD) {
      const ASN1_OCTET_STRING* ip = gn->d.iPAddress;
      char buf[64] = "?";
      if (ASN1_STRING_length(ip) == 4) {
        const unsigned char* b = ASN1_STRING_get0_data(ip);
        std::snprintf(buf, sizeof buf, "%d.%d.%d.%d", b[0], b[1], b[2], b[3]);
      } else if (ASN1_STRING_length(ip) == 16) {
        const unsigned char* b = ASN1_STRING_get0_data(ip);
        std::string s;
        for (int k = 0; k < 16; k += 2) {
          char part[8];
          std::snprintf(part, sizeof part, "%s%x", k ? ":" : "", (b[k] << 8) | b[k + 1]);
          s += part;
        }
        std::snprintf(buf, sizeof buf, "%s", s.c_str());
      }
      info.ip_sans.push_back(buf);
    }
  }
  const uint32_t ku = X509_get_key_usage(x);
  if (ku != UINT32_MAX) {
    if (ku & KU_DIGITAL_SIGNATURE) info.key_usage.push_back("digitalSignature");
    if (ku & KU_KEY_CERT_SIGN) info.key_usage.push_back("keyCertSign");
    if (ku & KU_CRL_SIGN) info.key_usage.push_back("cRLSign");
    if (ku & KU_KEY_ENCIPHERMENT) info.key_usage.push_back("keyEncipherment");
  }
  const uint32_t xku = X509_get_extended_key_usage(x);
  if (xku != UINT32_MAX) {
    if (xku & XKU_SSL_SERVER) info.extended_key_usage.push_back("serverAuth");
    if (xku & XKU_SSL_CLIENT) info.extended_key_usage.push_back("clientAuth");
  }
  return info;
}

std::string format_certificate(const CertificateInfo& i) {
  auto join = [](const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
    return s.empty() ? "-" : s;
  };
  return "subject:            " + i.subject + "\n" + "issuer:             " + i.issuer + "\n" +
         "ca:                 " + (i.is_ca ? "yes" : "no") + "\n" + "uri sans:           " + join(i.uri_sans) + "\n" +
         "dns sans:           " + join(i.dns_sans) + "\n" + "ip sans:            " + join(i.ip_sans) + "\n" +
         "key usage:          " + join(i.key_usage) + "\n" + "extended key usage: " + join(i.extended_key_usage) +
         "\n" + "not before:         " + i.not_before + "\n" + "not after:          " + i.not_after + "\n";
}

Status check_in_use(const std::string& key, const fs::path& file, int64_t now_unix, std::chrono::days warn_within) {
  auto info = read_certificate(file);
  if (!info) return make_error(ErrorCode::kInvalidArgument, key + ": " + info.error().message);
  const std::string dates = " (valid " + info->not_before + " to " + info->not_after + ")";
  if (now_unix < info->not_before_unix) {
    return make_error(ErrorCode::kInvalidArgument, key + ": " + file.string() + " is not valid yet" + dates);
  }
  if (now_unix >= info->not_after_unix) {
    return make_error(ErrorCode::kInvalidArgument, key + ": " + file.string() + " has expired" + dates);
  }
  const int64_t left_s = info->not_after_unix - now_unix;
  if (left_s < std::chrono::seconds(warn_within).count()) {
    spdlog::warn("{}: {} expires in {} days ({}); re-issue it (meshfed pki issue)", key, file.string(),
                 (left_s + 86399) / 86400, info->not_after);  // days begun, so 71 hours is "3 days"
  }
  return {};
}

Status verify_chain(const fs::path& cert_file, const fs::path& ca_file) {
  MESHFED_ASSIGN_OR_RETURN(auto cert, load_cert(cert_file));
  X509StorePtr store(X509_STORE_new());
  if (X509_STORE_load_file(store.get(), ca_file.c_str()) != 1) return ssl_error("cannot load CA " + ca_file.string());
  X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  X509_STORE_CTX_init(ctx.get(), store.get(), cert.get(), nullptr);
  if (X509_verify_cert(ctx.get()) != 1) {
    return make_error(ErrorCode::kPermissionDenied,
                      cert_file.string() + " does not verify against " + ca_file.string() + ": " +
                          X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get())));
  }
  return {};
}

Result<std::vector<std::string>> certificates_pem(const fs::path& pem_file) {
  errno = 0;
  BioPtr in(BIO_new_file(pem_file.c_str(), "r"));
  if (!in) return make_error(ErrorCode::kInvalidArgument, "cannot read " + pem_file.string() + ": " + os_reason());
  std::vector<std::string> out;
  for (;;) {
    ERR_clear_error();
    X509Ptr cert(PEM_read_bio_X509(in.get(), nullptr, nullptr, nullptr));
    if (!cert) {
      // The end of the file, or a block that is not a certificate.
      const unsigned long e = ERR_peek_last_error();
      if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE) break;
      return make_error(ErrorCode::kInvalidArgument,
                        pem_file.string() + ": certificate " + std::to_string(out.size() + 1) + " cannot be read");
    }
    out.push_back(pem_of(cert.get()));
  }
  ERR_clear_error();
  if (out.empty()) return make_error(ErrorCode::kInvalidArgument, pem_file.string() + " holds no PEM certificate");
  return out;
}

Result<std::string> ca_certificate_pem(std::string_view pem) {
  BioPtr in(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!in) return make_error(ErrorCode::kInternal, "out of memory");
  ERR_clear_error();
  X509Ptr cert(PEM_read_bio_X509(in.get(), nullptr, nullptr, nullptr));
  if (!cert) {
    ERR_clear_error();
    return make_error(ErrorCode::kInvalidArgument, "not a PEM certificate");
  }
  X509Ptr second(PEM_read_bio_X509(in.get(), nullptr, nullptr, nullptr));
  ERR_clear_error();
  if (second)
    return make_error(ErrorCode::kInvalidArgument, "holds more than one certificate: give each its own entry");
  if (X509_check_ca(cert.get()) <= 0) return make_error(ErrorCode::kInvalidArgument, "is not a CA certificate");
  return pem_of(cert.get());
}

}  // namespace meshfed::pki
