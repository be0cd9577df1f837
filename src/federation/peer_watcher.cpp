#include "meshfed/federation/peer_watcher.hpp"

#include <spdlog/spdlog.h>

#include <random>

#include "meshfed/federation/imports.hpp"
#include "meshfed/federation/peer_client.hpp"

namespace meshfed::federation {

PeerWatcher::PeerWatcher(WatcherOptions options, ImportManager& imports,
                         std::function<void(std::function<void()>)> run_on_store)
    : options_(std::move(options)), imports_(imports), run_on_store_(std::move(run_on_store)) {}

PeerWatcher::~PeerWatcher() { stop(); }

void PeerWatcher::start() { thread_ = std::thread([this] { run(); }); }

void PeerWatcher::stop() {
  if (!thread_.joinable()) return;
  stopping_ = true;
  wake();
  thread_.join();
}

void PeerWatcher::wake() {
  {
    std::lock_guard lock(mu_);
    woken_ = true;
  }
  cv_.notify_all();
  std::lock_guard lock(mu_);
  if (client_) client_->abort();
}

void PeerWatcher::pause(std::chrono::milliseconds d) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, d, [this] { return woken_ || stopping_.load(); });
  woken_ = false;
}

void PeerWatcher::run() {
  auto created = connect_to_peer({options_.peer, options_.url, options_.trust, options_.tls},
                                 options_.wait + std::chrono::seconds(15), 64 * 1024 * 1024);
  if (!created) {
    spdlog::error("peer {}: {}", options_.peer, created.error().message);
    return;
  }
  {
    std::lock_guard lock(mu_);
    client_ = std::move(created).value();
  }
  std::mt19937_64 rng(std::random_device{}());
  auto backoff = options_.backoff_min;
  auto fail = [&](const std::string& reason, const std::string& error) {
    if (options_.sync_errors) options_.sync_errors->inc({options_.peer, reason});
    run_on_store_([&] { (void)imports_.record_failure(options_.peer, error); });
    // Full jitter: anywhere up to the current bound, so peers that failed together spread out.
    const auto d = std::chrono::milliseconds(std::uniform_int_distribution<int64_t>(backoff.count() / 2, backoff.count())(rng));
    backoff = std::min(backoff * 2, options_.backoff_max);
    pause(d);
  };

  while (!stopping_) {
    bool quarantined = false;
    int64_t since = 0;
    run_on_store_([&] {
      quarantined = imports_.is_quarantined(options_.peer);
      if (auto r = imports_.revision(options_.peer)) since = *r;
    });
    if (quarantined) {
      pause(std::chrono::seconds(5));  // until released (wake) or a periodic re-check
      continue;
    }
    const std::string target =
        "/federation/v1/catalog?since=" + std::to_string(since) + "&wait=" + std::to_string(options_.wait.count());
    auto res = client_->request("GET", target);
    if (stopping_) break;
    if (!res) {
      fail("unreachable", res.error().message);
      continue;
    }
    if (res->status == 304) {
      run_on_store_([&] { (void)imports_.record_unchanged(options_.peer); });
      backoff = options_.backoff_min;
      continue;
    }
    if (res->status != 200) {
      fail("http_status", "HTTP " + std::to_string(res->status) + " from peer: " + res->body.substr(0, 300));
      continue;
    }
    Status applied;
    int64_t now_at = since;
    run_on_store_([&] {
      applied = imports_.apply_catalog(options_.peer, res->body);
      if (auto r = imports_.revision(options_.peer)) now_at = *r;
    });
    if (!applied) {
      fail("rejected_catalog", "rejected catalog: " + applied.error().message);
      continue;
    }
    backoff = options_.backoff_min;
    // An answer that moved nothing forward must not turn into a tight loop against the peer.
    if (now_at == since) pause(options_.backoff_min);
  }
}

}  // namespace meshfed::federation
