#include "replica.hpp"

#include <spdlog/spdlog.h>

#include "meshfed/core/backoff.hpp"

namespace meshfed::app {

Leadership::Leadership(std::unique_ptr<store::LeaderLock> lock, const Clock& clock, Events events)
    : lock_(std::move(lock)), clock_(clock), events_(std::move(events)) {}

void Leadership::start() {
  loop_.start([this] {
    while (loop_.next_round()) {
      round();
      loop_.sleep_for(kRound);
    }
  });
}

void Leadership::stop() {
  MutexLock lock(stop_mu_);
  if (stopped_) return;
  stopped_ = true;
  loop_.stop();
  // Writes end before the lock goes: the next leader may begin its term the moment it is free.
  const bool was_leading = leader_.exchange(false);
  if (was_leading) events_.deposed();
  {
    MutexLock call(call_mu_);
    lock_->release();
  }
  if (was_leading) spdlog::info("replica: leadership given up (stopping)");
}

bool Leadership::leading() const {
  return leader_ && to_unix_ms(clock_.now()) - confirmed_at_ms_ < std::chrono::milliseconds(kLease).count();
}

std::optional<int64_t> Leadership::term() const {
  const int64_t term = term_;
  if (!leading()) return std::nullopt;
  return term;
}

bool Leadership::may_write(int64_t term) const {
  const int64_t now = to_unix_ms(clock_.now());
  constexpr int64_t lease = std::chrono::milliseconds(kLease).count();
  constexpr int64_t margin = std::chrono::milliseconds(kWriteMargin).count();
  return leader_ && term_ == term && now - confirmed_at_ms_ < lease - margin && now - elected_at_ms_ >= lease;
}

Status Leadership::confirm_term(int64_t term) {
  if (this->term() != term)
    return make_error(ErrorCode::kUnavailable, "leadership term " + std::to_string(term) + " is over");
  MutexLock call(call_mu_);
  MESHFED_ASSIGN_OR_RETURN(auto current, lock_->confirm(kCallTimeout));
  if (current != term) {
    return make_error(ErrorCode::kUnavailable, "leadership term " + std::to_string(term) + " is over: term " +
                                                   std::to_string(current) + " began");
  }
  return {};
}

void Leadership::round() {
  const int64_t now = to_unix_ms(clock_.now());
  ReleasableMutexLock call(call_mu_);
  if (!leader_) {
    auto taken = lock_->try_acquire(kCallTimeout);
    if (!taken || !*taken) return;  // another replica leads, or the store is away: tried next round
    confirmed_at_ms_ = now;
    elected_at_ms_ = to_unix_ms(clock_.now());  // after the term began: its writes wait a lease from here
    term_ = **taken;
    leader_ = true;
    call.unlock();
    spdlog::info("replica: this broker now leads the domain (term {})", **taken);
    events_.elected(**taken);
    return;
  }
  // A session lock cannot be lost and taken back unseen: confirmed now means held throughout.
  auto confirmed = lock_->confirm(kCallTimeout);
  if (confirmed && *confirmed == term_) {
    confirmed_at_ms_ = now;
    return;
  }
  leader_ = false;  // writes end before the lock goes
  lock_->release();
  call.unlock();
  const std::string why = confirmed ? "term " + std::to_string(*confirmed) + " began" : confirmed.error().message;
  spdlog::warn("replica: this broker no longer leads the domain (term {}): {}", term_.load(), why);
  events_.deposed();
}

OtherReplicasCommits::OtherReplicasCommits(std::unique_ptr<store::ChangeFeed> feed, std::function<void()> changed)
    : feed_(std::move(feed)), changed_(std::move(changed)) {}

void OtherReplicasCommits::start() {
  loop_.start([this] {
    Backoff backoff(std::chrono::milliseconds(200), std::chrono::seconds(5));
    bool reported = false;
    while (loop_.next_round()) {
      auto news = feed_->wait(std::chrono::milliseconds(500));
      if (!news) {
        if (!reported) spdlog::warn("replica: not hearing other replicas' commits: {}", news.error().message);
        reported = true;
        loop_.sleep_for(backoff.next());
        continue;
      }
      if (reported) spdlog::info("replica: hearing other replicas' commits again");
      reported = false;
      backoff.reset();
      if (*news) changed_();
    }
  });
}

}  // namespace meshfed::app
