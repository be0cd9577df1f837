// How a peer looks from here, and the change budget that tells an honest peer from one that
// churns: pure functions of the peer's record and of time, so that every rule is tested with a
// hand-moved clock.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>

#include "meshfed/store/records.hpp"

namespace meshfed::federation {

// Quarantined wins; then flapping while it is over its change budget; otherwise connected
// while the last sync succeeded, unreachable while the last success is within stale_after (or
// it never answered: nothing of it is held to go stale), stale after that.
enum class PeerState { kConnected, kUnreachable, kStale, kQuarantined, kFlapping };
inline constexpr PeerState kPeerStates[] = {PeerState::kConnected, PeerState::kUnreachable, PeerState::kStale,
                                            PeerState::kQuarantined, PeerState::kFlapping};
std::string_view to_string(PeerState s);
PeerState peer_state(const store::PeerRecord& p, int64_t now_ms, int64_t stale_after_s);

// Import steps (transitions, changes) each peer's answers may cause: a bucket of `burst`,
// refilled at `per_minute`. An answer that does not fit is held back whole and the peer is
// flapping until one fits again.
class ChangeBudgets {
 public:
  struct Limits {
    int64_t per_minute = 1000000;
    int64_t burst = 1000000;
  };
  // What held_back() decided.
  struct HeldBack {
    bool never_fits = false;  // more steps than the whole burst: ask for a full catalog next
    bool audit = false;       // at most once a minute per peer
    double left = 0;          // what the bucket holds now
  };

  // Whether `steps` fit now; if so they are taken and the peer is no longer flapping.
  bool try_take(const std::string& peer, const Limits& limits, int64_t steps, int64_t now_ms);
  // Takes `steps` whatever the bucket holds, down to empty (withdrawals, applied anyway).
  void charge(const std::string& peer, const Limits& limits, int64_t steps, int64_t now_ms);
  // After try_take() refused: when the answer would fit, and whether to audit it now.
  HeldBack held_back(const std::string& peer, const Limits& limits, int64_t steps, int64_t now_ms);
  // How long until a held-back answer fits; zero when the peer is not flapping.
  std::chrono::milliseconds wait(const std::string& peer, int64_t now_ms) const;
  bool flapping(const std::string& peer) const;
  // Forgets peers no longer configured.
  void keep_only(const std::set<std::string>& peers);

 private:
  struct Budget {
    double tokens = -1;  // below 0: not started (a full bucket)
    int64_t updated_ms = 0;
    bool flapping = false;
    int64_t fits_at_ms = 0;
    int64_t audited_ms = -60000;
  };
  Budget& refilled(const std::string& peer, const Limits& limits, int64_t now_ms);

  std::map<std::string, Budget> budgets_;
};

}  // namespace meshfed::federation
