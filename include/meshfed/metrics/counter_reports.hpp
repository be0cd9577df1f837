// Counters another process reports as its totals since it started (a separately run gateway's
// denials), added to a counter family of ours as they grow. The family stays a counter: a
// reporter that restarts is a new instance whose totals start from zero, and what an instance
// reported before is never taken back.
#pragma once

#include <cstdint>
#include <list>
#include <map>
#include <string>
#include <vector>

#include "meshfed/core/mutex.hpp"
#include "meshfed/metrics/registry.hpp"

namespace meshfed::metrics {

struct ReportedTotal {
  LabelValues labels;
  double total = 0;
};

class CounterReports {
 public:
  // Remembers the last totals of at most `max_instances` reporters (the one reporting least
  // recently is forgotten first: were it to report again, its totals would count again).
  CounterReports(Family& family, size_t max_instances);

  // Adds to the family what `instance`'s totals grew by since its last report.
  void take(const std::string& instance, const std::vector<ReportedTotal>& totals);
  size_t instances() const;

 private:
  Family& family_;
  const size_t max_instances_;
  mutable Mutex mu_;
  std::list<std::string> by_recency_ GUARDED_BY(mu_);  // most recent first
  std::map<std::string, std::map<LabelValues, double>> last_ GUARDED_BY(mu_);
};

}  // namespace meshfed::metrics
