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
  std::lock_guard lock(stop_mu_);
  if (stopped_) return;
  stopped_ = true;
  loop_.stop();
  lock_->release();
  if (leader_.exchange(false)) {
    spdlog::info("replica: leadership given up (stopping)");
    events_.deposed();
  }
}

bool Leadership::leading() const {
  return leader_ && to_unix_ms(clock_.now()) - confirmed_at_ms_ < std::chrono::milliseconds(kLease).count();
}

void Leadership::round() {
  const int64_t now = to_unix_ms(clock_.now());
  if (!leader_) {
    auto taken = lock_->try_acquire(kCallTimeout);
    if (!taken || !*taken) return;  // another replica leads, or the store is away: tried next round
    confirmed_at_ms_ = now;
    leader_ = true;
    spdlog::info("replica: this broker now leads the domain");
    events_.elected();
    return;
  }
  // A session lock cannot be lost and taken back unseen: confirmed now means held throughout.
  const auto confirmed = lock_->confirm(kCallTimeout);
  if (confirmed) {
    confirmed_at_ms_ = now;
    return;
  }
  lock_->release();
  leader_ = false;
  spdlog::warn("replica: this broker no longer leads the domain: {}", confirmed.error().message);
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
