#include "meshfed/net/admission.hpp"

#include <spdlog/spdlog.h>

#include <atomic>
#include <map>
#include <optional>
#include <set>
#include <vector>

#include "meshfed/core/log_pacer.hpp"
#include "meshfed/core/mutex.hpp"

namespace meshfed::net {

struct Admission::Shared {
  Shared(std::string listener_, AdmissionLimits limits_, const Clock& clock_)
      : listener(std::move(listener_)), limits(limits_), clock(clock_), pacer(limits_.log_interval) {}

  const std::string listener;
  const AdmissionLimits limits;
  const Clock& clock;
  metrics::Family* refusals = nullptr;  // set before the listener starts
  struct SourceFilter {
    std::string reason, why;
    std::function<bool(const std::string&)> admits;
  };
  std::vector<SourceFilter> source_filters;  // likewise

  mutable Mutex mu;
  std::set<Ticket::State*> open GUARDED_BY(mu);
  size_t evicting GUARDED_BY(mu) = 0;  // tickets in `open` already chosen to make room
  std::map<std::string, int> per_source GUARDED_BY(mu);
  std::map<std::string, int> per_peer GUARDED_BY(mu);
  LogPacer pacer GUARDED_BY(mu);

  void refuse(const std::string& address, const std::string& reason, const std::string& why) {
    if (refusals) refusals->inc({listener, reason});
    std::optional<int64_t> due;
    {
      MutexLock lock(mu);
      due = pacer.event(address, clock.now());
    }
    if (!due) return;
    spdlog::warn("{}: refusing a connection from {}: {}{}", listener, address, why,
                 *due > 1 ? fmt::format(" ({} refusals from this address since the last line)", *due) : "");
  }

  static void release(std::map<std::string, int>& counts, const std::string& key) {
    if (--counts[key] <= 0) counts.erase(key);
  }
};

struct Admission::Ticket::State {
  State(std::shared_ptr<Shared> owner_, std::string address_, std::function<void()> evict_)
      : owner(std::move(owner_)), address(std::move(address_)), evict(std::move(evict_)) {}
  const std::shared_ptr<Shared> owner;  // the counts outlive the listener while connections do
  const std::string address;
  const std::function<void()> evict;
  const std::chrono::steady_clock::time_point opened = std::chrono::steady_clock::now();
  std::atomic<Stage> stage{Stage::kSilent};
  std::atomic<bool> busy{false};
  std::atomic<bool> evicted{false};
  std::string peer;  // guarded by owner->mu; empty: counted against `address`
};

Admission::Ticket::~Ticket() {
  Shared& s = *state_->owner;
  MutexLock lock(s.mu);
  s.open.erase(state_.get());
  if (state_->evicted) --s.evicting;
  Shared::release(state_->peer.empty() ? s.per_source : s.per_peer,
                  state_->peer.empty() ? state_->address : state_->peer);
}

void Admission::Ticket::advance(Stage stage) { state_->stage = stage; }
void Admission::Ticket::set_busy(bool busy) { state_->busy = busy; }
bool Admission::Ticket::evicted() const { return state_->evicted; }

void Admission::Ticket::spared() {
  Shared& s = *state_->owner;
  MutexLock lock(s.mu);
  if (!state_->evicted) return;
  state_->evicted = false;
  --s.evicting;
}

bool Admission::Ticket::authenticate(const std::string& peer) {
  Shared& s = *state_->owner;
  int open = 0;
  {
    MutexLock lock(s.mu);
    if (!state_->peer.empty()) return state_->peer == peer;
    const auto it = s.per_peer.find(peer);
    open = it == s.per_peer.end() ? 0 : it->second;
    if (s.limits.max_connections_per_peer <= 0 || open < s.limits.max_connections_per_peer) {
      Shared::release(s.per_source, state_->address);
      ++s.per_peer[peer];
      state_->peer = peer;
      state_->stage = Stage::kAuthenticated;
      return true;
    }
  }
  s.refuse(state_->address, kPerPeerCap, fmt::format("{} has {} open", peer, open));
  return false;
}

Admission::Admission(std::string listener, AdmissionLimits limits, const Clock& clock)
    : shared_(std::make_shared<Shared>(std::move(listener), limits, clock)) {}

Admission::~Admission() = default;

void Admission::count_refusals_in(metrics::Family& refusals) { shared_->refusals = &refusals; }

void Admission::add_source_filter(std::string reason, std::string why, std::function<bool(const std::string&)> admits) {
  shared_->source_filters.push_back({std::move(reason), std::move(why), std::move(admits)});
}

std::unique_ptr<Admission::Ticket> Admission::admit(const std::string& address, std::function<void()> evict) {
  Shared& s = *shared_;
  for (const auto& filter : s.source_filters) {
    if (filter.admits(address)) continue;
    s.refuse(address, filter.reason, filter.why);
    return nullptr;
  }
  auto state = std::make_shared<Ticket::State>(shared_, address, std::move(evict));
  std::function<void()> make_room;
  {
    ReleasableMutexLock lock(s.mu);
    const auto from_source = s.per_source.find(address);
    const int open_from_source = from_source == s.per_source.end() ? 0 : from_source->second;
    if (s.limits.max_connections_per_source > 0 && open_from_source >= s.limits.max_connections_per_source) {
      lock.unlock();
      s.refuse(address, kPerSourceCap, fmt::format("{} open from there", open_from_source));
      return nullptr;
    }
    if (static_cast<int>(s.open.size() - s.evicting) >= s.limits.max_connections) {
      Ticket::State* victim = nullptr;
      for (auto* t : s.open) {
        if (t->busy || t->evicted) continue;
        if (!victim || std::pair(t->stage.load(), t->opened) < std::pair(victim->stage.load(), victim->opened))
          victim = t;
      }
      if (!victim) {
        const size_t open = s.open.size();
        lock.unlock();
        s.refuse(address, kAtCapacity, fmt::format("{} open, all busy", open));
        return nullptr;
      }
      victim->evicted = true;
      ++s.evicting;
      make_room = victim->evict;
    }
    s.open.insert(state.get());
    ++s.per_source[address];
  }
  // Decided here, done on the victim's own thread: if it became busy in between, it is served
  // first and closes after.
  if (make_room) make_room();
  return std::unique_ptr<Ticket>(new Ticket(std::move(state)));
}

int Admission::open() const {
  MutexLock lock(shared_->mu);
  return static_cast<int>(shared_->open.size());
}

}  // namespace meshfed::net
