#include "meshfed/federation/peer_health.hpp"

#include <algorithm>
#include <cmath>

namespace meshfed::federation {

std::string_view to_string(PeerState s) {
  switch (s) {
    case PeerState::kConnected:
      return "connected";
    case PeerState::kUnreachable:
      return "unreachable";
    case PeerState::kStale:
      return "stale";
    case PeerState::kQuarantined:
      return "quarantined";
    case PeerState::kFlapping:
      return "flapping";
  }
  return "stale";
}

PeerState peer_state(const store::PeerRecord& p, int64_t now_ms, int64_t stale_after_s) {
  if (p.quarantined_since_ms) return PeerState::kQuarantined;
  // Nothing it sent is held, so nothing is stale: it has not answered (yet), since it was added.
  if (!p.last_success_ms) return PeerState::kUnreachable;
  if (!p.last_error_ms || *p.last_error_ms <= *p.last_success_ms) return PeerState::kConnected;
  return now_ms - *p.last_success_ms <= stale_after_s * 1000 ? PeerState::kUnreachable : PeerState::kStale;
}

ChangeBudgets::Budget& ChangeBudgets::refilled(const std::string& peer, const Limits& limits, int64_t now_ms) {
  Budget& b = budgets_[peer];
  const double burst = static_cast<double>(limits.burst);
  if (b.tokens < 0) b = {burst, now_ms, b.flapping, b.fits_at_ms, b.audited_ms};
  // A clock set back refills nothing, and never drains.
  const double minutes = static_cast<double>(std::max<int64_t>(now_ms - b.updated_ms, 0)) / 60000.0;
  b.tokens = std::min(burst, b.tokens + minutes * static_cast<double>(limits.per_minute));
  b.updated_ms = now_ms;
  return b;
}

bool ChangeBudgets::try_take(const std::string& peer, const Limits& limits, int64_t steps, int64_t now_ms) {
  Budget& b = refilled(peer, limits, now_ms);
  if (static_cast<double>(steps) <= b.tokens) {
    b.tokens -= static_cast<double>(steps);
    b.flapping = false;
    return true;
  }
  b.flapping = true;
  return false;
}

void ChangeBudgets::charge(const std::string& peer, const Limits& limits, int64_t steps, int64_t now_ms) {
  Budget& b = refilled(peer, limits, now_ms);
  b.tokens = std::max(0.0, b.tokens - static_cast<double>(steps));
}

ChangeBudgets::HeldBack ChangeBudgets::held_back(const std::string& peer, const Limits& limits, int64_t steps,
                                                 int64_t now_ms) {
  Budget& b = refilled(peer, limits, now_ms);
  HeldBack out;
  out.never_fits = steps > limits.burst;
  out.left = b.tokens;
  const double missing = static_cast<double>(std::min(steps, limits.burst)) - b.tokens;
  b.fits_at_ms =
      now_ms +
      static_cast<int64_t>(std::ceil(missing * 60000.0 / static_cast<double>(std::max<int64_t>(limits.per_minute, 1))));
  out.audit = now_ms - b.audited_ms >= 60000;
  if (out.audit) b.audited_ms = now_ms;
  return out;
}

std::chrono::milliseconds ChangeBudgets::wait(const std::string& peer, int64_t now_ms) const {
  const auto b = budgets_.find(peer);
  if (b == budgets_.end() || !b->second.flapping) return std::chrono::milliseconds(0);
  return std::chrono::milliseconds(std::max<int64_t>(b->second.fits_at_ms - now_ms, 0));
}

bool ChangeBudgets::flapping(const std::string& peer) const {
  const auto b = budgets_.find(peer);
  return b != budgets_.end() && b->second.flapping;
}

void ChangeBudgets::keep_only(const std::set<std::string>& peers) {
  std::erase_if(budgets_, [&](const auto& b) { return !peers.count(b.first); });
}

}  // namespace meshfed::federation
