#include "meshfed/federation/metrics_import.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "meshfed/metrics/selector.hpp"

namespace meshfed::federation {

using SteadyClock = std::chrono::steady_clock;

MetricsImporter::MetricsImporter(MetricsImportSettings settings, metrics::Registry& registry,
                                 std::function<std::set<std::string>(const std::string& peer)> aliases_of)
    : aliases_of_(std::move(aliases_of)),
      scrapes_(registry.counter("meshfed_peer_metrics_scrapes_total",
                                "Scrapes of each peer's exported metrics, by peer and result.", {"peer", "result"})),
      series_(registry.gauge("meshfed_peer_metrics_series", "Series received from each peer in its last good scrape.",
                             {"peer"})),
      left_out_(registry.gauge("meshfed_peer_metrics_left_out_series",
                               "Series of each peer's last good scrape that were not kept: not of our imports from "
                               "it (foreign), of a meshfed_* family (reserved), or past max_series_per_peer (cap).",
                               {"peer", "reason"})),
      loop_(std::move(settings)) {}

MetricsImporter::~MetricsImporter() { stop(); }

void MetricsImporter::start() {
  loop_.start([this] { run(); });
}

void MetricsImporter::stop() {
  loop_.stop([this] { requests_.stop(); });
}

void MetricsImporter::reconfigure(MetricsImportSettings settings) { loop_.reconfigure(std::move(settings)); }

void MetricsImporter::run() {
  std::map<std::string, std::unique_ptr<http::HttpsClient>> clients;
  MetricsImportSettings settings;
  bool changed = false;
  while (loop_.next_round(settings, changed)) {
    if (changed) {
      clients.clear();
      MutexLock lock(mu_);
      std::erase_if(by_peer_, [&](const auto& kv) {
        return std::none_of(settings.peers.begin(), settings.peers.end(),
                            [&](const auto& p) { return p.peer == kv.first; });
      });
    }
    for (const auto& peer : settings.peers) {
      auto got = scrape(peer, clients[peer.peer], settings);
      if (!got) {
        scrapes_.inc({peer.peer, "error"});
        spdlog::warn("peer {}: metrics: {}", peer.peer, got.error().message);
        clients[peer.peer].reset();
        continue;
      }
      size_t n = 0;
      for (const auto& f : got->families) n += f.samples.size();
      scrapes_.inc({peer.peer, "ok"});
      series_.set({peer.peer}, static_cast<double>(n));
      MutexLock lock(mu_);
      by_peer_[peer.peer] = std::move(got).value();
    }
    {
      MutexLock lock(mu_);
      const auto stale_before = SteadyClock::now() - settings.stale_after;
      for (auto it = by_peer_.begin(); it != by_peer_.end();) {
        if (it->second.scraped_at >= stale_before) {
          ++it;
          continue;
        }
        series_.set({it->first}, 0);
        it = by_peer_.erase(it);
      }
    }
    loop_.sleep_until(SteadyClock::now() + settings.interval);
  }
}

Result<MetricsImporter::PeerSeries> MetricsImporter::scrape(const PeerEndpoint& peer,
                                                            std::unique_ptr<http::HttpsClient>& client,
                                                            const MetricsImportSettings& settings) {
  if (!client) {
    MESHFED_ASSIGN_OR_RETURN(client, connect_to_peer(peer, std::min(settings.interval, std::chrono::seconds(10)),
                                                     settings.max_bytes_per_peer));
  }
  MESHFED_ASSIGN_OR_RETURN(auto res, requests_.request(*client, "GET", "/federation/v1/metrics"));
  if (res.status != 200) {
    return make_error(ErrorCode::kUnavailable, "HTTP " + std::to_string(res.status) + ": " + res.body.substr(0, 300));
  }
  auto families = metrics::parse_exposition(res.body);
  if (!families) return make_error(ErrorCode::kInvalidArgument, "unreadable metrics: " + families.error().message);

  // The peer's word is not taken for anything: which services, how many, or where from. (A peer
  // that sends nothing costs no walk over its imports on the store thread.)
  bool any = false;
  for (const auto& f : *families) any = any || !f.samples.empty();
  const auto aliases = any ? aliases_of_(peer.peer) : std::set<std::string>{};
  auto accepted = accept_peer_metrics(std::move(families).value(), peer.peer, aliases, settings.max_series_per_peer,
                                      settings.domain);
  left_out_.set({peer.peer, "foreign"}, static_cast<double>(accepted.foreign));
  left_out_.set({peer.peer, "reserved"}, static_cast<double>(accepted.reserved));
  left_out_.set({peer.peer, "cap"}, static_cast<double>(accepted.over_cap));
  PeerSeries out;
  out.scraped_at = SteadyClock::now();
  out.families = std::move(accepted.families);
  return out;
}

Result<std::string> MetricsImporter::federate(const std::vector<std::string>& match) const {
  MESHFED_ASSIGN_OR_RETURN(auto parsed, metrics::parse_match_params(match));
  const std::vector<metrics::Selector> selectors = std::move(parsed);
  auto wanted = [&](const metrics::Sample& s) {
    return selectors.empty() || std::any_of(selectors.begin(), selectors.end(),
                                            [&](const metrics::Selector& sel) { return sel.matches(s); });
  };
  const auto stale_before = SteadyClock::now() - loop_.settings().stale_after;
  std::string out;
  MutexLock lock(mu_);
  std::vector<const std::vector<metrics::MetricFamily>*> fresh;
  for (const auto& [peer, data] : by_peer_) {
    if (data.scraped_at >= stale_before) fresh.push_back(&data.families);
  }
  const auto families = merge_peer_metrics(fresh, wanted);
  write_exposition(families, out);
  return out;
}

}  // namespace meshfed::federation
