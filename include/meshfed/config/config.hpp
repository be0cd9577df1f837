// The broker's configuration: one JSON file per domain (config/README.md).
// Loaded strictly (unknown keys are errors), every error reported with its key path, and
// returned as an immutable typed struct. Relative paths are resolved against the file's folder.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "meshfed/core/result.hpp"

namespace meshfed::config {

using Seconds = std::chrono::seconds;
using Path = std::filesystem::path;

struct Endpoint {
  std::string host;
  uint16_t port = 0;
  std::string to_string() const;
  bool operator==(const Endpoint&) const = default;
};

struct TlsFiles {
  Path ca_file;
  Path cert_file;
  Path key_file;
};

struct AdminConfig {
  Endpoint listen;
  Path tokens_file;
  int64_t max_connections_per_source = 32;
};

struct PeerApiConfig {
  std::optional<Endpoint> listen;
  std::string advertise;
};

enum class ImportPolicy { kManual, kAuto };

struct PeerConfig {
  std::string domain;
  std::string trust_domain;
  std::string url;
  Path ca_file;
  ImportPolicy import_policy = ImportPolicy::kManual;
  std::vector<std::string> source_cidrs;
  int64_t max_exports = 1000;  // the most exports its catalog may carry for us
  // The most egress ports its imports may hold; absent from the file: the egress range divided
  // evenly among the configured peers, at least 1 (filled in at load).
  int64_t max_egress_ports = 1;
  // Import steps (an import arriving, leaving, changing state or target) its answers may cause,
  // sustained: a burst of twice max_exports (a whole catalog replaced at once), refilled at this
  // rate. An answer that would take more is held back (the peer is `flapping`) until it fits.
  int64_t max_changes_per_minute = 30;
  // Where its one ingress endpoint may be; absent from the file: source_cidrs, and with neither,
  // the addresses its url's host resolves to (the watcher resolves them when it starts).
  std::vector<std::string> ingress_cidrs;
  // Added through the admin API (peering), not named by the file: read-only to the file, and
  // the API's to remove.
  bool added_through_api = false;
};

struct ExportLimits {
  Seconds default_ttl{2592000};
  Seconds max_ttl{7776000};
  Seconds pending_expiry{604800};
};

enum class ControlPlaneType { kStatic, kKuma };

struct StaticControlPlane {
  Path inventory_file;
  Path imports_dir;
};

struct KumaControlPlane {
  std::string url = "http://127.0.0.1:5681";
  Path token_file;
  Path ca_file;
  std::vector<std::string> meshes{"default"};
  std::string import_mesh = "default";
  std::string ingress_service = "meshfed-ingress";
  std::string ingress_spiffe_id;
  std::string ingress_zone;
  Seconds poll_interval{10};
};

struct ControlPlaneConfig {
  ControlPlaneType type = ControlPlaneType::kStatic;
  StaticControlPlane static_cp;
  KumaControlPlane kuma;
};

struct PortRange {
  uint16_t first = 0;
  uint16_t last = 0;
  bool contains(uint16_t p) const { return p >= first && p <= last; }
};

// Connection limits of one gateway (optional keys of its section).
struct GatewayTuning {
  Seconds handshake_timeout{10};
  Seconds connect_timeout{5};  // to the upstream: the export's target, or the peer's ingress
  Seconds idle_timeout{300};   // no byte either way
  int64_t max_connections = 10000;
  // Ingress: connections no peer has authenticated on yet (handshakes); egress: this domain's
  // own workloads, often many behind one address.
  int64_t max_connections_per_source = 64;
  int64_t max_connections_per_peer = 0;  // ingress, once authenticated; 0: no cap but max_connections
  int64_t threads = 0;                   // event-loop threads; 0: one per core
};

struct IngressConfig {
  bool enabled = true;
  Endpoint listen;
  std::string advertise;
  Path cert_file;
  Path key_file;
  GatewayTuning tuning;
};

struct EgressConfig {
  bool enabled = true;
  std::string bind = "0.0.0.0";
  std::string advertise_host;
  PortRange ports{16000, 16999};
  Path cert_file;
  Path key_file;
  bool resume_sessions = true;  // TLS session resumption towards peers' ingress
  GatewayTuning tuning;
};

struct GatewaysConfig {
  std::optional<IngressConfig> ingress;
  std::optional<EgressConfig> egress;
};

struct MetricsSource {
  std::string url;
  Seconds interval{15};
  Seconds timeout{5};
  uint64_t max_bytes = 67108864;
  std::string service_label = "kuma_io_service";
  std::string service_regex;
};

struct MetricsConfig {
  std::optional<Endpoint> listen;
  std::vector<MetricsSource> sources;
  std::vector<std::string> label_allowlist{"envoy_response_code_class", "le", "quantile"};
  uint64_t max_series_per_peer = 50000;
  uint64_t max_bytes_per_peer = 16777216;
  Seconds peer_scrape_interval{15};
};

struct SyncConfig {
  Seconds wait{30};
  Seconds stale_after{60};
  Seconds withdraw_after{600};
};

// How long what peers leave behind is kept.
struct RetentionConfig {
  int64_t withdrawn_imports_days = 30;      // withdrawn imports and their history, after they were last seen
  int64_t audit_days = 365;                 // audit entries older than this go to archive segments; 0: never
  std::filesystem::path audit_archive_dir;  // where; empty: state_dir/audit-archive
  int64_t witness_days = 30;                // peers' audit heads witnessed: one per hour kept this long

  std::filesystem::path archive_dir_in(const std::filesystem::path& state_dir) const {
    return audit_archive_dir.empty() ? state_dir / "audit-archive" : audit_archive_dir;
  }
};

enum class StoreType { kSqlite, kPostgres };

// Where the domain's state lives: the embedded SQLite file state_dir/meshfed.db, or a
// PostgreSQL database that several replicas of the domain share.
struct StoreConfig {
  StoreType type = StoreType::kSqlite;
  Path url_file;      // postgres: the libpq connection string (a secret: kept out of the config)
  int pool_size = 4;  // connections of the read pool, beside the store thread's (docs/configuration.md)
};

struct Config {
  Path file;              // where it was loaded from
  std::string file_text;  // the file as read: a peering change re-applies it, never a newer edit
  std::string domain;
  std::string trust_domain;
  Path state_dir;
  std::vector<std::string> source_cidrs;
  TlsFiles tls;
  AdminConfig admin;
  PeerApiConfig peer_api;
  std::vector<PeerConfig> peers;
  ExportLimits exports;
  ControlPlaneConfig control_plane;
  GatewaysConfig gateways;
  MetricsConfig metrics;
  SyncConfig sync;
  RetentionConfig retention;
  StoreConfig store;
  std::string replica_id;  // this broker among the domain's replicas; default: the host name

  const PeerConfig* find_peer(std::string_view domain_name) const;
};

// Parses and validates a config document. `base_dir` resolves relative paths.
// On failure the error carries one FieldError per problem, each with its key path.
Result<Config> parse_config(std::string_view json_text, const Path& base_dir);
Result<Config> load_config(const Path& file);
// The same, with `extra_peers` (objects shaped as peers[] entries: the peers added through the
// admin API) appended to the file's peers before the checks, so that they get the same defaults
// and checks. One whose domain the file configures too is left out: the file wins.
Result<Config> load_config(const Path& file, const std::vector<nlohmann::json>& extra_peers);
// The file `running` was loaded from, as it was read then, with these `extra_peers` instead:
// what a change of the peers added through the API makes of the running config.
Result<Config> with_api_peers(const Config& running, const std::vector<nlohmann::json>& extra_peers);

// Renders the errors of a failed load as lines "key.path: message".
std::string format_errors(const Error& e);

// Parses "host:port" or "[v6]:port".
std::optional<Endpoint> parse_endpoint(std::string_view s);

}  // namespace meshfed::config
