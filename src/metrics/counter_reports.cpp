#include "meshfed/metrics/counter_reports.hpp"

#include <algorithm>

namespace meshfed::metrics {

CounterReports::CounterReports(Family& family, size_t max_instances)
    : family_(family), max_instances_(std::max<size_t>(max_instances, 1)) {}

void CounterReports::take(const std::string& instance, const std::vector<ReportedTotal>& totals) {
  MutexLock lock(mu_);
  by_recency_.remove(instance);
  by_recency_.push_front(instance);
  while (by_recency_.size() > max_instances_) {
    last_.erase(by_recency_.back());
    by_recency_.pop_back();
  }
  auto& last = last_[instance];
  for (const auto& t : totals) {
    double& seen = last[t.labels];
    // A total below the last one cannot come from the same run; taken as counted from zero.
    const double grew = t.total >= seen ? t.total - seen : t.total;
    if (grew > 0) family_.inc(t.labels, grew);
    seen = t.total;
  }
}

size_t CounterReports::instances() const {
  MutexLock lock(mu_);
  return last_.size();
}

}  // namespace meshfed::metrics
