// The importing side of metrics federation: scrapes each peer's GET /federation/v1/metrics over
// mutual TLS every `peer_scrape_interval_s` and serves what arrived on /federate. The peer's
// identity comes from its certificate: every series gets `meshfed_source_domain` set to it,
// whatever the peer sent, and only series whose `service` is the alias of one of our imports
// from that peer are kept. A peer's series disappear once its last good scrape is older than
// the stale period, instead of freezing at their last values.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "meshfed/core/mutex.hpp"
#include "meshfed/core/result.hpp"
#include "meshfed/core/settings_loop.hpp"
#include "meshfed/federation/peer_client.hpp"
#include "meshfed/federation/peer_metrics.hpp"
#include "meshfed/metrics/exposition.hpp"
#include "meshfed/metrics/federate_source.hpp"
#include "meshfed/metrics/registry.hpp"

namespace meshfed::federation {

struct MetricsImportSettings {
  std::string domain;  // ours: a peer's count of our refused requests names it
  std::vector<PeerEndpoint> peers;
  std::chrono::seconds interval{15};
  std::chrono::seconds stale_after{60};
  uint64_t max_series_per_peer = 50000;
  uint64_t max_bytes_per_peer = 16777216;
};

class MetricsImporter final : public metrics::FederateSource {
 public:
  // `aliases_of(peer)`: the aliases of our live imports from that peer.
  MetricsImporter(MetricsImportSettings settings, metrics::Registry& registry,
                  std::function<std::set<std::string>(const std::string& peer)> aliases_of);
  ~MetricsImporter();

  void start();
  void stop();
  void reconfigure(MetricsImportSettings settings);

  Result<std::string> federate(const std::vector<std::string>& match) const override;

 private:
  struct PeerSeries {
    std::vector<metrics::MetricFamily> families;
    std::chrono::steady_clock::time_point scraped_at{};
  };
  void run();
  Result<PeerSeries> scrape(const PeerEndpoint& peer, std::unique_ptr<http::HttpsClient>& client,
                            const MetricsImportSettings& settings);

  std::function<std::set<std::string>(const std::string&)> aliases_of_;
  metrics::Family& scrapes_;
  metrics::Family& series_;
  metrics::Family& left_out_;

  mutable Mutex mu_;
  std::map<std::string, PeerSeries> by_peer_ GUARDED_BY(mu_);
  http::InterruptibleRequests requests_;
  SettingsLoop<MetricsImportSettings> loop_;  // last: its thread stops before the rest goes
};

}  // namespace meshfed::federation
