// A domain's peering bundle: what another domain needs to peer with this one (who it is, where
// its peer API answers, the CA its certificates chain to, where its gateways are), and its
// fingerprint, which two people compare out of band before either side trusts the bundle. The
// bundle holds no secret: it may be mailed.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "meshfed/config/config.hpp"
#include "meshfed/core/result.hpp"

namespace meshfed::peering {

inline constexpr int kBundleVersion = 1;

struct Bundle {
  std::string domain;
  std::string trust_domain;
  std::string peer_api;                    // https://host:port, where peers reach the peer API
  std::vector<std::string> ca_pem;         // the domain's CA certificates, one PEM block each
  std::vector<std::string> ingress_cidrs;  // where its ingress gateway is (peers' egress rules)
  std::vector<std::string> source_cidrs;   // where its broker and egress connect from
};

// Bounds on a bundle from outside (pasted by an admin, who may have been handed anything).
inline constexpr size_t kMaxCaCertificates = 4;      // a rollover needs two
inline constexpr size_t kMaxCaPemBytes = 16 * 1024;  // each
inline constexpr size_t kMaxCidrs = 64;              // each list

nlohmann::json to_json(const Bundle& b);
// A bundle another domain made, checked field by field: the version, an RFC 1035 domain, an
// https://host:port peer API, 1 to kMaxCaCertificates CA certificates (one PEM block each, each
// a CA's), CIDR lists of at most kMaxCidrs, no other key. Every problem is a FieldError under
// `path` ("bundle.ca_pem[1]"), naming the field, never echoing the value. The certificates are
// kept as the bundle carried them, so that its fingerprint is the one its domain showed.
Result<Bundle> parse_bundle(const nlohmann::json& j, const std::string& path = "bundle");
// The bundle's canonical JSON: keys sorted, no whitespace, UTF-8. What the fingerprint hashes.
std::string canonical_text(const Bundle& b);
// SHA-256 of the canonical JSON as 16 groups of 4 lowercase hex digits, separated by spaces.
std::string fingerprint(const Bundle& b);
// The same of a canonical text already made (a stored bundle).
std::string fingerprint_of_canonical(std::string_view canonical);
// Whether `given` (as read aloud or pasted: any case, spaces, colons or dashes between the
// digits) is the bundle's fingerprint.
bool fingerprint_matches(const Bundle& b, std::string_view given);

// This domain's bundle, from its config: the peer API's advertised address (or its listen
// address when that names one host), the CA certificates of tls.ca_file, the ingress gateway's
// advertised address when it is an IP literal, and source_cidrs. An error names what is missing.
Result<Bundle> bundle_of(const config::Config& cfg);

}  // namespace meshfed::peering
