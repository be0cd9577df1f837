// Metric families and the Prometheus text exposition (format 0.0.4). Debian has no Prometheus
// client library for C++; the format is small, and promtool checks our output in the tests.
// Thread-safe: families are updated from the event loop and the store thread alike.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "meshfed/core/mutex.hpp"

namespace meshfed::metrics {

using LabelValues = std::vector<std::string>;

class Family {
 public:
  enum class Type { kCounter, kGauge, kHistogram };
  Family(std::string name, std::string help, Type type, std::vector<std::string> label_names,
         std::vector<double> buckets = {});

  void inc(const LabelValues& labels, double by = 1);          // counters
  void set(const LabelValues& labels, double value);           // gauges
  void add(const LabelValues& labels, double delta);           // gauges: one step up or down, atomic
  void observe(const LabelValues& labels, double value);       // histograms
  void clear();                                                // drops every series (gauges recomputed from scratch)
  double value(const LabelValues& labels) const;               // counters and gauges; 0 when absent
  std::vector<std::pair<LabelValues, double>> values() const;  // counters and gauges, every series

  void write(std::string& out) const;
  // Only the series whose `label` is `value` (the family's lines alone when it has no such label).
  void write_where(std::string& out, const std::string& label, const std::string& value) const;

 private:
  struct Series {
    double value = 0;
    std::vector<uint64_t> bucket_counts;
    double sum = 0;
    uint64_t count = 0;
  };
  std::string name_;
  std::string help_;
  Type type_;
  std::vector<std::string> label_names_;
  std::vector<double> buckets_;
  mutable Mutex mu_;
  std::map<LabelValues, Series> series_ GUARDED_BY(mu_);
};

class Registry {
 public:
  Family& counter(const std::string& name, const std::string& help, std::vector<std::string> labels = {});
  Family& gauge(const std::string& name, const std::string& help, std::vector<std::string> labels = {});
  Family& histogram(const std::string& name, const std::string& help, std::vector<std::string> labels,
                    std::vector<double> buckets);

  // Runs before each exposition, to refresh gauges that are computed from state.
  void on_collect(std::function<void()> collector);
  std::string expose() const;
  // One family's series whose `label` is `value` (collectors not run); empty when not registered.
  std::string expose_where(const std::string& family, const std::string& label, const std::string& value) const;

 private:
  Family& add(std::unique_ptr<Family> f, const std::string& name);
  mutable Mutex mu_;
  std::map<std::string, std::unique_ptr<Family>> families_ GUARDED_BY(mu_);
  std::vector<std::function<void()>> collectors_ GUARDED_BY(mu_);
};

std::string escape_label_value(const std::string& v);
std::string format_value(double v);

}  // namespace meshfed::metrics
