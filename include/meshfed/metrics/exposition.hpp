// The Prometheus text exposition format (0.0.4) as data: what metrics sources and peers send us
// and what /federate and the peer API send on. Families are kept whole: a histogram's buckets,
// sum and count (and a summary's quantiles) stay in the family that declared them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "meshfed/core/result.hpp"

namespace meshfed::metrics {

enum class MetricType { kUntyped, kCounter, kGauge, kHistogram, kSummary };
std::string_view to_string(MetricType t);

using Labels = std::vector<std::pair<std::string, std::string>>;  // in the order received

struct Sample {
  std::string name;  // e.g. "x_bucket" in family "x"
  Labels labels;
  double value = 0;
  std::optional<int64_t> timestamp_ms;

  const std::string* label(std::string_view name) const;
};

struct MetricFamily {
  std::string name;
  MetricType type = MetricType::kUntyped;
  std::string help;  // unescaped
  std::vector<Sample> samples;
};

// Parses a whole exposition. Samples join the family whose TYPE or HELP named them (for
// histograms and summaries, also the _bucket, _sum and _count series); samples nobody declared
// form untyped families of their own. Errors name the line and what is wrong with it.
// Bounds on what a source or a peer may send, each refused with the line that breaks it: label
// names starting with "__" (reserved to Prometheus: a `__name__` label makes every scraper drop
// the whole exposition), more than kMaxLabelsPerSeries labels on one series, a label value
// longer than kMaxLabelValueBytes. The parse is linear in the text.
Result<std::vector<MetricFamily>> parse_exposition(std::string_view text);
inline constexpr size_t kMaxLabelsPerSeries = 64;
inline constexpr size_t kMaxLabelValueBytes = 4096;

// Appends families in the text format, HELP and TYPE first; families without samples are left out.
void write_exposition(const std::vector<MetricFamily>& families, std::string& out);
void write_sample(const Sample& s, std::string& out);

// A sample value (NaN, +Inf, -Inf, integers without exponent) and an escaped label value.
void append_value(double v, std::string& out);
void append_label_value(std::string_view v, std::string& out);

bool valid_metric_name(std::string_view name);
bool valid_label_name(std::string_view name);

}  // namespace meshfed::metrics
