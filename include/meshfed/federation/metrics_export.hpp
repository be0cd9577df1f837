// The exporting side of metrics federation: scrapes the domain's metrics sources on their own
// intervals and keeps, for each peer, the text of the series exported to it (recomputed after
// every scrape and whenever exports change), ready for GET /federation/v1/metrics.
//
// One thread: sources are few, and their timeouts bound how long one can hold up the others.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "meshfed/core/mutex.hpp"
#include "meshfed/config/config.hpp"
#include "meshfed/core/settings_loop.hpp"
#include "meshfed/http/client.hpp"
#include "meshfed/metrics/export_selection.hpp"
#include "meshfed/metrics/registry.hpp"

namespace meshfed::federation {

// What each peer may receive: its approved, unexpired exports that name metrics.
using ExportedMetricsByPeer = std::map<std::string, std::vector<metrics::ExportedMetrics>>;

struct MetricsExportSettings {
  std::vector<config::MetricsSource> sources;
  metrics::SelectionLimits limits;
  std::chrono::seconds keep_for{60};  // a source's last good scrape is used this long
};

MetricsExportSettings metrics_export_settings(const config::Config& c);

class MetricsExporter {
 public:
  MetricsExporter(MetricsExportSettings settings, metrics::Registry& registry,
                  std::function<ExportedMetricsByPeer()> exports_by_peer);
  ~MetricsExporter();

  void start();
  void stop();
  void reconfigure(MetricsExportSettings settings);
  void exports_changed();  // the selection is recomputed at once from the last scrapes

  // Prometheus text of the series exported to `peer`, and of the requests from `peer` that the
  // ingress (in this process) refused under an export's L7 rules.
  std::string text_for(const std::string& peer) const;

 private:
  struct Source;
  void run();
  void scrape(Source& s);

  metrics::Registry& registry_;
  std::function<ExportedMetricsByPeer()> exports_by_peer_;
  metrics::Family& scrapes_;
  metrics::Family& source_series_;
  metrics::Family& exported_series_;
  metrics::Family& cap_hits_;
  metrics::Family& dropped_quantiles_;
  mutable Mutex mu_;
  std::map<std::string, std::string> by_peer_ GUARDED_BY(mu_);
  http::InterruptibleRequests requests_;      // a hung source does not hold up stop()
  SettingsLoop<MetricsExportSettings> loop_;  // last: its thread stops before the rest goes
};

}  // namespace meshfed::federation
