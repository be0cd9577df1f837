#include "meshfed/peering/bundle.hpp"

#include <cctype>

#include "core/json_reader.hpp"
#include "meshfed/core/cidr.hpp"
#include "meshfed/core/text.hpp"
#include "meshfed/pki/pki.hpp"

namespace meshfed::peering {

nlohmann::json to_json(const Bundle& b) {
  return {{"bundle_version", kBundleVersion}, {"domain", b.domain}, {"trust_domain", b.trust_domain},
          {"peer_api", b.peer_api},           {"ca_pem", b.ca_pem}, {"ingress_cidrs", b.ingress_cidrs},
          {"source_cidrs", b.source_cidrs}};
}

// nlohmann::json keeps an object's keys sorted (std::map) and dump() without an indent writes
// no whitespace: that is the canonical form.
std::string canonical_text(const Bundle& b) { return to_json(b).dump(); }

std::string fingerprint(const Bundle& b) { return fingerprint_of_canonical(canonical_text(b)); }

std::string fingerprint_of_canonical(std::string_view canonical) {
  const std::string hex = sha256_hex(canonical);
  std::string out;
  for (size_t i = 0; i < hex.size(); i += 4) {
    if (i) out += ' ';
    out += hex.substr(i, 4);
  }
  return out;
}

bool fingerprint_matches(const Bundle& b, std::string_view given) {
  std::string digits;
  for (const char c : given) {
    if (c == ' ' || c == ':' || c == '-') continue;
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
    digits += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return digits == sha256_hex(canonical_text(b));
}

namespace {

// CIDR ranges, at most kMaxCidrs of them.
std::vector<std::string> cidrs(ObjectReader& r, const std::string& key) {
  auto list = r.strings(key);
  if (!list) return {};
  if (list->size() > kMaxCidrs) {
    r.errors().add(r.path_of(key), "at most " + std::to_string(kMaxCidrs) + " ranges");
    return {};
  }
  for (size_t i = 0; i < list->size(); ++i) {
    if (!Cidr::parse((*list)[i])) {
      r.errors().add(r.path_of(key) + "[" + std::to_string(i) + "]", "expected an address range such as 10.0.0.0/24");
    }
  }
  return *list;
}

}  // namespace

Result<Bundle> parse_bundle(const nlohmann::json& j, const std::string& path) {
  FieldErrors errors;
  Bundle b;
  {
    ObjectReader r(j, path, errors, {.quote_values = false});
    if (!r.valid()) return make_error(ErrorCode::kInvalidArgument, "the bundle is not a JSON object", errors.take());
    if (!r.has("bundle_version")) {
      errors.add(r.path_of("bundle_version"), "required");
    } else {
      (void)r.integer("bundle_version", kBundleVersion, kBundleVersion);  // a newer one is refused
    }
    b.domain = r.string("domain", true).value_or("");
    if (r.has("domain") && !b.domain.empty() && !is_rfc1035_label(b.domain)) {
      errors.add(r.path_of("domain"), "expected an RFC 1035 label (lowercase letters, digits, '-', at most 63)");
    }
    b.trust_domain = r.string("trust_domain", true).value_or("");
    if (r.has("trust_domain") && !is_spiffe_trust_domain(b.trust_domain)) {
      // It becomes the SPIFFE IDs this peer's certificates must carry.
      errors.add(r.path_of("trust_domain"),
                 "expected a SPIFFE trust domain: 1 to 255 lowercase letters, digits, '.', '-' or '_'");
    }
    b.peer_api = r.string("peer_api", true).value_or("");
    if (r.has("peer_api")) {
      const std::string_view scheme = "https://";
      const auto endpoint = b.peer_api.rfind(scheme, 0) == 0 && b.peer_api.size() <= 300
                                ? config::parse_endpoint(std::string_view(b.peer_api).substr(scheme.size()))
                                : std::nullopt;
      if (!endpoint || endpoint->port == 0) {
        errors.add(r.path_of("peer_api"), "expected https://host:port, where peers reach this domain's peer API");
      }
    }
    if (const auto ca = r.strings("ca_pem")) {
      if (ca->empty() || ca->size() > kMaxCaCertificates) {
        errors.add(r.path_of("ca_pem"), "expected 1 to " + std::to_string(kMaxCaCertificates) + " CA certificates");
      } else {
        for (size_t i = 0; i < ca->size(); ++i) {
          const std::string at = r.path_of("ca_pem") + "[" + std::to_string(i) + "]";
          if ((*ca)[i].size() > kMaxCaPemBytes) {
            errors.add(at, "larger than " + std::to_string(kMaxCaPemBytes) + " bytes");
          } else if (auto checked = pki::ca_certificate_pem((*ca)[i]); !checked) {
            errors.add(at, checked.error().message);
          }
        }
        b.ca_pem = *ca;
      }
    } else if (!r.has("ca_pem")) {
      errors.add(r.path_of("ca_pem"), "required");
    }
    b.ingress_cidrs = cidrs(r, "ingress_cidrs");
    b.source_cidrs = cidrs(r, "source_cidrs");
  }  // the reader reports unknown keys as it goes
  if (!errors.empty()) return make_error(ErrorCode::kInvalidArgument, "the bundle is invalid", errors.take());
  return b;
}

namespace {

bool names_one_host(const std::string& host) {
  const auto ip = IpAddress::parse(host);
  return !host.empty() && (!ip || ip != IpAddress::parse(ip->v6 ? "::" : "0.0.0.0"));
}

// "host:port" as the authority of a URL (an IPv6 literal in brackets).
std::string authority(const config::Endpoint& e) {
  const auto ip = IpAddress::parse(e.host);
  return (ip && ip->v6 ? "[" + e.host + "]" : e.host) + ":" + std::to_string(e.port);
}

}  // namespace

Result<Bundle> bundle_of(const config::Config& cfg) {
  Bundle b;
  b.domain = cfg.domain;
  b.trust_domain = cfg.trust_domain;
  if (!cfg.peer_api.advertise.empty()) {
    b.peer_api = "https://" + cfg.peer_api.advertise;
  } else if (cfg.peer_api.listen && cfg.peer_api.listen->port != 0 && names_one_host(cfg.peer_api.listen->host)) {
    b.peer_api = "https://" + authority(*cfg.peer_api.listen);
  } else {
    return make_error(
        ErrorCode::kFailedPrecondition,
        "peers cannot be told where this broker's peer API answers: set peer_api.advertise "
        "(host:port as peers reach it)",
        {{"peer_api.advertise", "required for a bundle when peer_api.listen names no single host and port"}});
  }
  auto ca = pki::certificates_pem(cfg.tls.ca_file);
  if (!ca) {
    return make_error(ErrorCode::kFailedPrecondition, "tls.ca_file: " + ca.error().message,
                      {{"tls.ca_file", ca.error().message}});
  }
  b.ca_pem = std::move(*ca);
  if (cfg.gateways.ingress) {
    // A host name is left for the peer to resolve, as it does for a peer without ingress_cidrs.
    const std::string& advertise = cfg.gateways.ingress->advertise;
    const auto endpoint = config::parse_endpoint(advertise);
    if (const auto ip = IpAddress::parse(endpoint ? endpoint->host : advertise)) {
      b.ingress_cidrs.push_back(Cidr::host(*ip).to_string());
    }
  }
  b.source_cidrs = cfg.source_cidrs;
  return b;
}

}  // namespace meshfed::peering
