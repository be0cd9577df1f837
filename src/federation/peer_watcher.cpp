#include "meshfed/federation/peer_watcher.hpp"

#include <spdlog/spdlog.h>

#include <variant>

#include "meshfed/core/backoff.hpp"
#include "meshfed/core/cidr.hpp"
#include "meshfed/federation/catalog_check.hpp"
#include "meshfed/federation/imports.hpp"
#include "meshfed/federation/peer_client.hpp"
#include "meshfed/federation/witness_book.hpp"
#include "meshfed/pki/signing.hpp"

namespace meshfed::federation {

PeerWatcher::PeerWatcher(WatcherOptions options, ImportManager& imports, SerialExecutor& store)
    : options_(std::move(options)), imports_(imports), store_(store) {}

PeerWatcher::~PeerWatcher() { stop(); }

void PeerWatcher::start() {
  loop_.start([this] { run(); });
}

void PeerWatcher::stop() {
  loop_.stop([this] { requests_.stop(); });
}

void PeerWatcher::wake() {
  loop_.wake();
  requests_.interrupt();
}

// The peer's catalog rules; where its ingress may be defaults to what its url resolves to now.
CatalogRules PeerWatcher::rules() const {
  CatalogRules r{options_.peer, options_.trust_domain, options_.max_exports, {}};
  for (const auto& text : options_.ingress_cidrs) {
    if (auto c = Cidr::parse(text)) r.ingress_cidrs.push_back(*c);
  }
  if (options_.ingress_cidrs.empty()) {
    const auto host = config::parse_endpoint(options_.url.substr(options_.url.find("://") + 3));
    const auto addrs = host ? resolve_host(host->host) : Result<std::vector<std::string>>(std::vector<std::string>{});
    if (!addrs)
      spdlog::warn("peer {}: no ingress_cidrs and {}: every export it lists is refused", options_.peer,
                   addrs.error().message);
    for (const auto& a : addrs ? *addrs : std::vector<std::string>{}) {
      if (auto ip = IpAddress::parse(a)) r.ingress_cidrs.push_back(Cidr::host(*ip));
    }
  }
  return r;
}

std::variant<std::optional<audit::SignedHead>, CatalogRefusal> PeerWatcher::signed_head(
    const http::ClientResponse& res, const std::optional<audit::SignedHead>& in_body) const {
  std::optional<audit::SignedHead> head = in_body;
  if (const auto it = res.headers.find("meshfed-audit-head"); !head && it != res.headers.end()) {
    auto parsed = audit::signed_head_from_text(it->second, "catalog audit_head");
    if (!parsed) return CatalogRefusal{"audit_head", parsed.error().message};
    head = std::move(parsed).value();
  }
  // A peer that sends no head only goes unwitnessed; one whose head does not verify is refused.
  if (!head) return head;
  if (auto st =
          pki::verify_signature(res.server_certificate, audit::signed_text(options_.peer, head->head), head->signature);
      !st) {
    return CatalogRefusal{"audit_head",
                          "audit head seq " + std::to_string(head->head.seq) + " refused: " + st.error().message};
  }
  return head;
}

void PeerWatcher::witness(const std::optional<audit::SignedHead>& head) {
  if (!head || !options_.witness) return;
  store_.run([&] {
    if (auto r = options_.witness->witness(options_.peer, *head); !r) {
      spdlog::error("peer {}: cannot keep its audit head: {}", options_.peer, r.error().message);
    }
  });
}

void PeerWatcher::run() {
  const CatalogRules rules = this->rules();
  auto created = connect_to_peer({options_.peer, options_.url, options_.trust, options_.tls},
                                 options_.wait + std::chrono::seconds(15), catalog_byte_limit(rules));
  if (!created) {
    spdlog::error("peer {}: {}", options_.peer, created.error().message);
    return;
  }
  client_ = std::move(created).value();
  Backoff backoff(options_.backoff_min, options_.backoff_max);
  auto back_off = [&] { loop_.sleep_for(backoff.next()); };
  auto fail = [&](const std::string& reason, const std::string& error) {
    if (options_.sync_errors) options_.sync_errors->inc({options_.peer, reason});
    store_.run([&] { (void)imports_.record_failure(options_.peer, error); });
    back_off();
  };
  // A refused catalog is reported as what it is, and retried at the backoff like any failure,
  // so a peer re-serving it cannot make us spin.
  auto refuse = [&](const CatalogRefusal& refusal) {
    if (options_.catalog_refusals) options_.catalog_refusals->inc({options_.peer, refusal.reason});
    if (options_.sync_errors) options_.sync_errors->inc({options_.peer, "rejected_catalog"});
    store_.run([&] { (void)imports_.refuse_catalog(options_.peer, refusal); });
    back_off();
  };

  while (loop_.next_round()) {
    bool quarantined = true;
    int64_t since = 0;
    const bool asked = store_.run([&] {
      // Unreadable counts as quarantined: no catalog is applied while the store cannot say.
      const auto q = imports_.is_quarantined(options_.peer);
      quarantined = !q || *q;
      if (auto r = imports_.revision(options_.peer)) since = *r;
    });
    if (!asked) return;  // the store thread has ended: the broker is stopping
    if (quarantined) {
      loop_.sleep_for(std::chrono::seconds(5));  // until released (wake) or a periodic re-check
      continue;
    }
    const std::string target =
        "/federation/v1/catalog?since=" + std::to_string(since) + "&wait=" + std::to_string(options_.wait.count());
    auto res = requests_.request(*client_, "GET", target);
    if (loop_.stopping()) break;
    // Broken off by wake() (a quarantine or release): ask again, nothing failed.
    if (!res && res.error().code == ErrorCode::kCancelled) continue;
    if (!res && res.error().code == ErrorCode::kPayloadTooLarge) {
      refuse({"size", "catalog " + res.error().message + " (peers[].max_exports)"});
      continue;
    }
    if (!res) {
      fail("unreachable", res.error().message);
      continue;
    }
    if (res->status == 304) {
      auto head = signed_head(*res, std::nullopt);
      if (auto* refusal = std::get_if<CatalogRefusal>(&head)) {
        refuse(*refusal);
        continue;
      }
      store_.run([&] { (void)imports_.record_unchanged(options_.peer); });
      witness(std::get<0>(head));
      backoff.reset();
      continue;
    }
    if (res->status != 200) {
      fail("http_status", "HTTP " + std::to_string(res->status) + " from peer: " + res->body.substr(0, 300));
      continue;
    }
    // Checked here, off the store thread: a hostile answer costs this peer's watcher alone.
    auto checked = check_catalog(rules, res->body, resolve_host);
    res->body.clear();
    res->body.shrink_to_fit();
    if (auto* refusal = std::get_if<CatalogRefusal>(&checked)) {
      refuse(*refusal);
      continue;
    }
    auto head = signed_head(*res, std::get<CatalogAnswer>(checked).audit_head);
    if (auto* refusal = std::get_if<CatalogRefusal>(&head)) {
      refuse(*refusal);
      continue;
    }
    Status applied;
    int64_t now_at = since;
    std::chrono::milliseconds budget_wait{0};
    store_.run([&] {
      applied = imports_.apply_catalog(options_.peer, std::get<CatalogAnswer>(checked));
      if (auto r = imports_.revision(options_.peer)) now_at = *r;
      budget_wait = imports_.budget_wait(options_.peer);
    });
    if (!applied) {
      fail("rejected_catalog", "rejected catalog: " + applied.error().message);
      continue;
    }
    witness(std::get<0>(head));
    backoff.reset();
    if (budget_wait.count() > 0) {
      // Held back by the change budget: asked again once it holds the answer (a quarantine or a
      // reload wakes the watcher sooner), not applied and undone against the store in a loop.
      loop_.sleep_for(std::min<std::chrono::milliseconds>(budget_wait, kLongestBudgetWait));
    } else if (now_at == since) {
      // An answer that moved nothing forward must not turn into a tight loop against the peer.
      loop_.sleep_for(options_.backoff_min);
    }
  }
}

}  // namespace meshfed::federation
