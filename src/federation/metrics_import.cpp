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
      std::lock_guard lock(mu_);
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
      std::lock_guard lock(mu_);
      by_peer_[peer.peer] = std::move(got).value();
    }
    {
      std::lock_guard lock(mu_);
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
    auto created =
        connect_to_peer(peer, std::min(settings.interval, std::chrono::seconds(10)), settings.max_bytes_per_peer);
    if (!created) return created.error();
    client = std::move(created).value();
  }
  auto res = requests_.request(*client, "GET", "/federation/v1/metrics");
  if (!res) return res.error();
  if (res->status != 200) {
    return make_error(ErrorCode::kUnavailable, "HTTP " + std::to_string(res->status) + ": " + res->body.substr(0, 300));
  }
  auto families = metrics::parse_exposition(res->body);
  if (!families) return make_error(ErrorCode::kInvalidArgument, "unreadable metrics: " + families.error().message);

  // The peer's word is not taken for anything: which services, how many, or where from. (A peer
  // that sends nothing costs no walk over its imports on the store thread.)
  bool any = false;
  for (const auto& f : *families) any = any || !f.samples.empty();
  const auto aliases = any ? aliases_of_(peer.peer) : std::set<std::string>{};
  PeerSeries out;
  out.scraped_at = SteadyClock::now();
  uint64_t kept = 0;
  uint64_t refused = 0;
  for (auto& f : *families) {
    std::erase_if(f.samples, [&](const metrics::Sample& s) {
      const std::string* service = s.label("service");
      const bool foreign = !service || !aliases.count(*service);
      refused += foreign ? 1 : 0;
      return foreign;
    });
    if (f.samples.empty()) continue;
    if (kept + f.samples.size() > settings.max_series_per_peer) {
      refused += f.samples.size();
      continue;
    }
    for (auto& s : f.samples) {
      std::erase_if(s.labels, [](const auto& l) { return l.first == kSourceDomainLabel; });
      s.labels.emplace_back(kSourceDomainLabel, peer.peer);
    }
    kept += f.samples.size();
    out.families.push_back(std::move(f));
  }
  if (refused)
    spdlog::debug("peer {}: metrics: {} series outside our imports or the series cap left out", peer.peer, refused);
  return out;
}

Result<std::string> MetricsImporter::federate(const std::vector<std::string>& match) const {
  auto parsed = metrics::parse_match_params(match);
  if (!parsed) return parsed.error();
  const std::vector<metrics::Selector> selectors = std::move(parsed).value();
  auto wanted = [&](const metrics::Sample& s) {
    return selectors.empty() || std::any_of(selectors.begin(), selectors.end(),
                                            [&](const metrics::Selector& sel) { return sel.matches(s); });
  };
  std::map<std::string, metrics::MetricFamily> merged;  // one family per name, as the format requires
  std::string out;
  const auto stale_before = SteadyClock::now() - loop_.settings().stale_after;
  std::lock_guard lock(mu_);
  for (const auto& [peer, data] : by_peer_) {
    if (data.scraped_at < stale_before) continue;
    for (const auto& f : data.families) {
      auto [at, fresh] = merged.try_emplace(f.name);
      metrics::MetricFamily& m = at->second;
      if (fresh) {
        m.name = f.name;
        m.type = f.type;
        m.help = f.help;
      } else if (m.type != f.type) {
        continue;  // peers disagree on the type: the first peer (by name) wins
      }
      for (const auto& s : f.samples) {
        if (wanted(s)) m.samples.push_back(s);
      }
    }
  }
  std::vector<metrics::MetricFamily> families;
  families.reserve(merged.size());
  for (auto& [name, f] : merged) families.push_back(std::move(f));
  write_exposition(families, out);
  return out;
}

}  // namespace meshfed::federation
