#include "witness_watch.hpp"

#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#include "meshfed/core/text.hpp"
#include "meshfed/federation/witness_book.hpp"
#include "meshfed/store/witness_repository.hpp"
#include "parts.hpp"

namespace meshfed::app {

namespace {

// The peers of a snapshot, as the witness check asks them.
std::vector<federation::PeerEndpoint> peer_endpoints(const Snapshot& s) {
  std::vector<federation::PeerEndpoint> out;
  for (const auto& peer : s.config.peers) out.push_back({peer.domain, peer.url, s.peer_trust, s.config.tls});
  return out;
}

nlohmann::json head_json(const store::WitnessedHeadRecord& r) {
  const auto& h = r.witnessed.signed_head.head;
  return {{"seq", h.seq}, {"hash", h.hash}, {"time", h.time}, {"witnessed_at", r.witnessed.witnessed_at}};
}

}  // namespace

WitnessWatch::WitnessWatch(BrokerParts& p)
    : p_(p),
      contradictions_(p.metrics.gauge("meshfed_audit_witness_contradictions",
                                      "Heads of this domain's audit log that a peer witnessed and the log no longer "
                                      "holds (rolled back or rewritten), by witnessing peer, as of the last check.",
                                      {"peer"})) {}

void WitnessWatch::check_now() {
  const auto snapshot = p_.snapshot.get();
  federation::LocalChain chain(*p_.reads, snapshot->config.retention.archive_dir_in(snapshot->config.state_dir));
  report(federation::check_witnesses(
      peer_endpoints(*snapshot), {p_.domain(), snapshot->signer->certificate_der(), std::chrono::seconds(5)}, chain));
}

void WitnessWatch::start() {
  loop_.start([this] { run(); });
}

void WitnessWatch::stop() { loop_.stop(); }

void WitnessWatch::run() {
  while (loop_.next_round()) {
    std::chrono::steady_clock::duration wait = kEvery;
    {
      MutexLock lock(mu_);
      const bool due = !last_ || asked_ || std::chrono::steady_clock::now() - last_->at >= kEvery ||
                       (last_->outcome == federation::WitnessOutcome::kIncomplete &&
                        std::chrono::steady_clock::now() - last_->at >= kRetryUnanswered);
      if (!due) wait = last_->outcome == federation::WitnessOutcome::kIncomplete ? kRetryUnanswered : kEvery;
      if (due) wait = std::chrono::steady_clock::duration::zero();
    }
    if (wait.count() > 0) {
      loop_.sleep_for(wait);
      continue;
    }
    check_now();
  }
}

void WitnessWatch::report(const std::vector<federation::WitnessReport>& reports) {
  const auto outcome = federation::outcome_of(reports);
  std::vector<std::string> findings;
  for (const auto& r : reports) {
    int contradicting = 0;
    for (const auto& h : r.heads) {
      if (h.problem.empty()) continue;
      ++contradicting;
      findings.push_back(h.problem);
    }
    contradictions_.set({r.peer}, contradicting);
    if (!r.answered) spdlog::warn("audit witness: peer {} could not be asked: {}", r.peer, escape_for_log(r.error));
  }
  for (const auto& f : findings) spdlog::error("audit witness: {}", escape_for_log(f));
  if (!findings.empty()) {
    spdlog::error(
        "audit witness: this domain's audit log does not hold what its peers witnessed of it: it was "
        "rolled back (an older backup restored, entries deleted) or rewritten");
    std::string key;
    for (const auto& f : findings) key += f + "\n";
    if (audited_.insert(key).second) {
      if (audited_.size() > 64) audited_.erase(audited_.begin());  // bounded: a few distinct findings matter
      p_.store.run([&] {
        if (auto st = p_.workflow->record_event(workflow::kSystemActor, "audit.witness_check_failed",
                                                "audit/" + p_.domain(), {{"findings", findings}});
            !st) {
          spdlog::error("audit: cannot record the witness check: {}", st.error().message);
        }
      });
    }
  }
  {
    MutexLock lock(mu_);
    last_ =
        Check{std::chrono::steady_clock::now(), format_rfc3339(p_.clock.now()), outcome, federation::to_json(reports)};
    asked_ = false;
  }
  if (p_.admin_server) {
    boost::asio::post(p_.runtime.io(), [this] { p_.admin_server->notify({api::kWitnessWaitKey}); });
  }
}

std::optional<nlohmann::json> WitnessWatch::checked_within(std::chrono::seconds fresh) {
  {
    MutexLock lock(mu_);
    // A check that could not ask every peer is asked again: a peer may be back, or configured.
    if (last_ && !asked_ && last_->outcome != federation::WitnessOutcome::kIncomplete &&
        std::chrono::steady_clock::now() - last_->at <= fresh) {
      return nlohmann::json{
          {"checked_at", last_->at_text}, {"outcome", to_string(last_->outcome)}, {"peers", last_->peers}};
    }
    asked_ = true;
  }
  loop_.wake();
  return std::nullopt;
}

nlohmann::json WitnessWatch::last_check() {
  MutexLock lock(mu_);
  if (!last_) return nullptr;
  return {{"checked_at", last_->at_text}, {"outcome", to_string(last_->outcome)}, {"peers", last_->peers}};
}

nlohmann::json WitnessWatch::witnessed_of(const std::string& peer) {
  auto heads = store::read_value(*p_.reads, [&](store::Reader& tx) { return store::WitnessQueries(tx).of_peer(peer); });
  if (!heads) return {{"error", heads.error().message}};
  const auto state = federation::witness_state(*heads);
  nlohmann::json conflicts = nlohmann::json::array();
  for (const auto& e : state.evidence) {
    auto j = head_json(e);
    j["contradicted_by"] = {{"seq", e.contradicted_by_seq.value_or(0)},
                            {"hash", e.contradicted_by_hash.value_or("")},
                            {"at", format_rfc3339(from_unix_ms(e.contradicted_ms.value_or(0)))}};
    conflicts.push_back(std::move(j));
  }
  return {{"state", state.evidence.empty() ? (state.newest ? "witnessed" : "none") : "conflict"},
          {"newest", state.newest ? head_json(*state.newest) : nlohmann::json(nullptr)},
          {"conflicts", std::move(conflicts)}};
}

}  // namespace meshfed::app
