// What a peer may see of our exports: approved, unexpired
// exports scoped to it, as a full snapshot or as the changes after the revision it last saw.
// Thread-safe: answers read through `reads` (the read pool, so no peer waits for the store
// thread), kept answers are under a lock; prune() writes, on the store thread.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "meshfed/audit/head.hpp"
#include "meshfed/core/clock.hpp"
#include "meshfed/core/mutex.hpp"
#include "meshfed/core/result.hpp"
#include "meshfed/store/database.hpp"
#include "meshfed/store/records.hpp"

namespace meshfed::federation {

struct CatalogView {
  int64_t revision = 0;
  bool full = true;
  std::vector<store::ExportRecord> exports;  // the snapshot, or the upserts of a delta
  std::vector<std::string> removals;         // delta only
  bool unchanged() const { return !full && exports.empty() && removals.empty(); }
};

// What the peer API checks before any answer, read on one snapshot.
struct PeerGlance {
  bool quarantined = true;
  int64_t revision = 0;    // the catalog's
  audit::Head audit_head;  // our audit log's, which every catalog answer carries signed
};

// Where peers' egress gateways reach our ingress gateway.
struct IngressAddress {
  std::string host;
  int port = 0;
};

class Catalog {
 public:
  Catalog(store::Database& db, store::Reads& reads, const Clock& clock) : db_(db), reads_(reads), clock_(clock) {}

  // Whether `peer` is quarantined and the catalog's revision, in one read. An unreadable store
  // is an error, which the peer API answers with 503: the decision fails closed.
  Result<PeerGlance> glance(const std::string& peer);

  // `since` 0, older than the change log, or newer than our revision (a restored store) gets
  // a full snapshot; otherwise the changes of `peer`'s view after `since`.
  Result<CatalogView> view(const std::string& peer, int64_t since);
  // The full snapshot for `peer` as the peer API sends it (catalog_text). Kept per
  // peer until the revision moves, the domain or ingress address changes, or the first of its
  // exports expires: a peer that asks for everything again (a restart, a lost revision) costs
  // one revision read, not a walk over every export and a new document. Answers over
  // kMaxKeptAnswer bytes are not kept.
  Result<std::string> full_answer(const std::string& peer, const std::string& domain, const IngressAddress& ingress);
  // The kept full answer, if it is still current at `revision` (from glance()); nothing when
  // it would have to be built.
  std::optional<std::string> kept_answer(const std::string& peer, int64_t revision, const std::string& domain,
                                         const IngressAddress& ingress);
  static constexpr size_t kMaxKeptAnswer = 1024 * 1024;
  // Drops the kept answers of peers no longer configured (after a reload removed them).
  void keep_answers_only_for(const std::set<std::string>& peers);
  size_t kept_answers() const;
  // Keeps the change log to the newest `keep` revisions.
  Status prune(int64_t keep);

 private:
  struct KeptAnswer {
    int64_t revision = 0;
    std::string domain;
    std::string ingress;         // host:port
    int64_t valid_until_ms = 0;  // the first expiry among its exports
    std::string body;
  };

  store::Database& db_;
  store::Reads& reads_;
  const Clock& clock_;
  mutable Mutex mu_;
  std::map<std::string, KeptAnswer> answers_ GUARDED_BY(mu_);  // by peer
};

// The peer API's catalog answer as compact JSON.
std::string catalog_text(const CatalogView& v, const std::string& domain, const IngressAddress& ingress);

}  // namespace meshfed::federation
