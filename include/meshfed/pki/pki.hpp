// A domain's PKI: its CA and the broker, ingress and egress certificates, ECDSA P-256, each
// leaf carrying exactly one URI SAN spiffe://<trust_domain>/meshfed/<role>. Built with
// OpenSSL's own APIs (no shelling out), so the same code serves `meshfed pki` and the tests.
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "meshfed/core/result.hpp"

namespace meshfed::pki {

enum class LeafRole { kBroker, kIngress, kEgress };
std::optional<LeafRole> parse_leaf_role(std::string_view s);
std::string_view to_string(LeafRole r);

std::string spiffe_id(const std::string& trust_domain, LeafRole role);

struct LeafOptions {
  std::vector<std::string> dns_names;
  std::vector<std::string> ip_addresses;
  std::chrono::days validity{180};
};

struct InitOptions {
  std::string domain;
  std::string trust_domain;  // empty: the domain
  LeafOptions leaf;
  std::chrono::days ca_validity{3650};
  bool force = false;  // overwrite an existing CA
};

// Writes ca.pem, ca-key.pem and <role>.pem / <role>-key.pem for every role into `out_dir`.
Status init_domain(const std::filesystem::path& out_dir, const InitOptions& options);
// Re-issues one leaf with the CA found in `ca_dir` (rotation). Writes into `out_dir`
// (default: `ca_dir`).
Status issue_leaf(const std::filesystem::path& ca_dir, LeafRole role, const LeafOptions& options,
                  const std::filesystem::path& out_dir = {});

// A CA rollover without a gap, in two steps. rollover_ca() makes the domain's next CA: its key
// becomes ca-key.pem (the old one is kept as ca-previous-key.pem) and ca.pem holds the next CA
// first, then the old one, so the domain's bundle carries both and peers can trust both before
// any certificate changes. Leaves re-issued from then on (issue_leaf) are the next CA's.
// retire_ca() then drops the old CA from ca.pem, refused while any of `leaves` (the domain's
// broker, ingress and egress certificates) still chains to it alone.
struct RolloverResult {
  std::string next_ca_subject;
  std::string next_ca_not_after;
};
Result<RolloverResult> rollover_ca(const std::filesystem::path& ca_dir,
                                   std::chrono::days validity = std::chrono::days(3650));
Status retire_ca(const std::filesystem::path& ca_dir, const std::vector<std::filesystem::path>& leaves);

// A leaf with any SANs, usages and validity window, signed by the CA in `ca_dir`: for
// bring-your-own layouts and for tests that need certificates meshfed would never issue
// (two SPIFFE IDs, someone else's identity, already expired).
struct CustomLeaf {
  std::vector<std::string> uris;
  std::vector<std::string> dns_names;
  std::vector<std::string> ip_addresses;
  std::string extended_key_usage = "serverAuth,clientAuth";
  std::chrono::seconds not_before{-300};  // relative to now
  std::chrono::seconds not_after{86400};
};
Status issue_custom_leaf(const std::filesystem::path& ca_dir, const CustomLeaf& spec,
                         const std::filesystem::path& cert_out, const std::filesystem::path& key_out);

struct CertificateInfo {
  std::string subject;
  std::string issuer;
  std::vector<std::string> uri_sans;
  std::vector<std::string> dns_sans;
  std::vector<std::string> ip_sans;
  std::vector<std::string> key_usage;
  std::vector<std::string> extended_key_usage;
  bool is_ca = false;
  std::string not_before;
  std::string not_after;
  int64_t not_after_unix = 0;
  int64_t not_before_unix = 0;
};

Result<CertificateInfo> read_certificate(const std::filesystem::path& pem_file);
// Every certificate of a PEM bundle, each written anew as one PEM block (headers, comments and
// line endings of the file dropped): an error when the file holds none, or one fails to parse.
Result<std::vector<std::string>> certificates_pem(const std::filesystem::path& pem_file);
// The one CA certificate `pem` holds, written anew as one PEM block: an error when it holds no
// certificate, more than one, or one that is not a CA's.
Result<std::string> ca_certificate_pem(std::string_view pem);
std::string format_certificate(const CertificateInfo& info);

// True if the leaf in `cert_file` chains to a CA in `ca_file` (no hostname checks).
Status verify_chain(const std::filesystem::path& cert_file, const std::filesystem::path& ca_file);
// A certificate a process is about to use, named by its config key: refused when it is not
// valid yet or has expired at `now_unix` (the message names the file and its dates), with a
// warning in the log when it expires within `warn_within`.
Status check_in_use(const std::string& key, const std::filesystem::path& file, int64_t now_unix,
                    std::chrono::days warn_within = std::chrono::days(14));

}  // namespace meshfed::pki
