// What leaves the domain: of the families our metrics sources
// serve, only those an export names, only the series of the exported service, with their labels
// cut to the allowlist plus `service` = the export's alias. Series made identical by that are
// summed; colliding summary quantiles cannot be summed and are dropped. Caps bound what one
// peer receives.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "meshfed/core/regex.hpp"
#include "meshfed/metrics/exposition.hpp"

namespace meshfed::metrics {

// One approved export's metrics terms.
struct ExportedMetrics {
  std::string service;  // compared with the series' service (after `service_regex`)
  std::string alias;
  std::vector<std::string> names;  // family names, or prefixes ending in '*'
};

// One metrics source's last good scrape and how to read the service of its series.
struct SourceSeries {
  const std::vector<MetricFamily>* families = nullptr;
  std::string service_label;
  std::optional<Regex> service_regex;  // first group = the service; no match = not ours
};

struct SelectionLimits {
  std::vector<std::string> label_allowlist;
  uint64_t max_series = 50000;
  uint64_t max_bytes = 16777216;
};

struct Selection {
  std::string text;  // Prometheus text format
  uint64_t series = 0;
  uint64_t series_over_cap = 0;  // left out by max_series
  uint64_t bytes_over_cap = 0;   // series left out by max_bytes
  uint64_t colliding_quantiles = 0;
};

bool name_selected(const std::string& family, const std::vector<std::string>& names);

Selection select_exported(const std::vector<SourceSeries>& sources, const std::vector<ExportedMetrics>& exports,
                          const SelectionLimits& limits);

}  // namespace meshfed::metrics
