// What the federation benchmarks share: approved exports written straight into a stopped
// broker's store, and a broker process's peak memory.
#pragma once

#include <chrono>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "meshfed/core/text.hpp"
#include "meshfed/store/database.hpp"
#include "meshfed/store/catalog_repository.hpp"
#include "meshfed/store/export_repository.hpp"
#include "support/test_support.hpp"

namespace meshfed::bench {

// VmHWM of a process, in KiB; -1 when it cannot be read.
inline long peak_rss_kb(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

inline int pid_of(const testing::DomainFixture& d) {
  return nlohmann::json::parse(testing::read_file(d.state_dir / "runtime.json"))["pid"];
}

// Writes `n` approved exports of domain `from` scoped to `peers` into `db`, the way approvals
// would have left them, with one catalog change each.
inline void seed_exports(store::Database& db, const std::string& from, int n, const std::vector<std::string>& peers) {
  const int64_t now = to_unix_ms(std::chrono::system_clock::now());
  const Status seeded = db.transaction([&](store::Writer& tx) -> Status {
    store::ExportRepository exports(tx);
    store::CatalogRepository catalog(tx);
    for (int i = 0; i < n; ++i) {
      store::ExportRecord e;
      e.id = "svc-" + std::to_string(i) + "-" + random_dns_chars(6);
      e.mesh = "default";
      e.service = "payments-api";
      e.port = 8443;
      e.protocol = "tcp";
      e.alias = "svc-" + std::to_string(i);
      e.peers = peers;
      e.sni = e.id + "." + from + ".meshfed";
      e.state = store::ExportState::kApproved;
      e.requested_by = "seed";
      e.requested_at_ms = now;
      e.reason = "bench";
      e.ttl_s = 86400;
      e.pending_expires_at_ms = now;
      MESHFED_RETURN_IF_ERROR(exports.insert(e));
      e.approved_at_ms = now;
      e.expires_at_ms = now + 86400000;
      e.decided_by = "seed";
      MESHFED_RETURN_IF_ERROR(exports.update(e));
      MESHFED_RETURN_IF_ERROR(catalog.record_change(e.id, now));
    }
    return {};
  });
  if (!seeded) throw std::runtime_error("cannot seed the exports: " + seeded.error().message);
}

// The same into a stopped broker's SQLite file (created and migrated if new).
inline void seed_exports(const std::filesystem::path& db_file, const std::string& from, int n,
                         const std::vector<std::string>& peers) {
  auto db = std::move(store::Database::open(db_file)).value();
  seed_exports(*db, from, n, peers);
}

}  // namespace meshfed::bench
