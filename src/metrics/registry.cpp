#include "meshfed/metrics/registry.hpp"

#include "meshfed/metrics/exposition.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace meshfed::metrics {

std::string escape_label_value(const std::string& v) {
  std::string out;
  append_label_value(v, out);
  return out;
}

std::string format_value(double v) {
  std::string out;
  append_value(v, out);
  return out;
}

Family::Family(std::string name, std::string help, Type type, std::vector<std::string> label_names,
               std::vector<double> buckets)
    : name_(std::move(name)), help_(std::move(help)), type_(type), label_names_(std::move(label_names)),
      buckets_(std::move(buckets)) {}

void Family::inc(const LabelValues& labels, double by) {
  MutexLock lock(mu_);
  series_[labels].value += by;
}

void Family::add(const LabelValues& labels, double delta) {
  MutexLock lock(mu_);
  series_[labels].value += delta;
}

void Family::set(const LabelValues& labels, double value) {
  MutexLock lock(mu_);
  series_[labels].value = value;
}

void Family::observe(const LabelValues& labels, double value) {
  MutexLock lock(mu_);
  auto& s = series_[labels];
  if (s.bucket_counts.empty()) s.bucket_counts.assign(buckets_.size(), 0);
  for (size_t i = 0; i < buckets_.size(); ++i) {
    if (value <= buckets_[i]) ++s.bucket_counts[i];
  }
  s.sum += value;
  ++s.count;
}

void Family::clear() {
  MutexLock lock(mu_);
  series_.clear();
}

double Family::value(const LabelValues& labels) const {
  MutexLock lock(mu_);
  auto it = series_.find(labels);
  return it == series_.end() ? 0 : it->second.value;
}

std::vector<std::pair<LabelValues, double>> Family::values() const {
  MutexLock lock(mu_);
  std::vector<std::pair<LabelValues, double>> out;
  out.reserve(series_.size());
  for (const auto& [labels, series] : series_) out.emplace_back(labels, series.value);
  return out;
}

static std::string label_text(const std::vector<std::string>& names, const LabelValues& values,
                              const std::string& extra = "") {
  std::string out;
  for (size_t i = 0; i < names.size() && i < values.size(); ++i) {
    if (values[i].empty()) continue;  // to Prometheus an empty label is no label
    out += (out.empty() ? "" : ",") + names[i] + "=\"" + escape_label_value(values[i]) + "\"";
  }
  if (!extra.empty()) out += (out.empty() ? "" : ",") + extra;
  return out.empty() ? "" : "{" + out + "}";
}

void Family::write(std::string& out) const { write_where(out, "", ""); }

void Family::write_where(std::string& out, const std::string& label, const std::string& value) const {
  const auto at = std::find(label_names_.begin(), label_names_.end(), label);
  const auto index = static_cast<size_t>(at - label_names_.begin());
  MutexLock lock(mu_);
  static const char* kTypes[] = {"counter", "gauge", "histogram"};
  out += "# HELP " + name_ + " " + help_ + "\n";
  out += "# TYPE " + name_ + " " + kTypes[static_cast<int>(type_)] + "\n";
  for (const auto& [labels, s] : series_) {
    if (!label.empty() && (at == label_names_.end() || labels[index] != value)) continue;
    if (type_ != Type::kHistogram) {
      out += name_ + label_text(label_names_, labels) + " " + format_value(s.value) + "\n";
      continue;
    }
    for (size_t i = 0; i < buckets_.size(); ++i) {
      out += name_ + "_bucket" + label_text(label_names_, labels, "le=\"" + format_value(buckets_[i]) + "\"") + " " +
             std::to_string(s.bucket_counts[i]) + "\n";
    }
    out += name_ + "_bucket" + label_text(label_names_, labels, "le=\"+Inf\"") + " " + std::to_string(s.count) + "\n";
    out += name_ + "_sum" + label_text(label_names_, labels) + " " + format_value(s.sum) + "\n";
    out += name_ + "_count" + label_text(label_names_, labels) + " " + std::to_string(s.count) + "\n";
  }
}

Family& Registry::add(std::unique_ptr<Family> f, const std::string& name) {
  MutexLock lock(mu_);
  auto [it, inserted] = families_.emplace(name, std::move(f));
  if (!inserted) throw std::logic_error("metric registered twice: " + name);
  return *it->second;
}

Family& Registry::counter(const std::string& name, const std::string& help, std::vector<std::string> labels) {
  return add(std::make_unique<Family>(name, help, Family::Type::kCounter, std::move(labels)), name);
}

Family& Registry::gauge(const std::string& name, const std::string& help, std::vector<std::string> labels) {
  return add(std::make_unique<Family>(name, help, Family::Type::kGauge, std::move(labels)), name);
}

Family& Registry::histogram(const std::string& name, const std::string& help, std::vector<std::string> labels,
                            std::vector<double> buckets) {
  return add(std::make_unique<Family>(name, help, Family::Type::kHistogram, std::move(labels), std::move(buckets)),
             name);
}

void Registry::on_collect(std::function<void()> collector) {
  MutexLock lock(mu_);
  collectors_.push_back(std::move(collector));
}

std::string Registry::expose_where(const std::string& family, const std::string& label,
                                   const std::string& value) const {
  std::string out;
  MutexLock lock(mu_);
  const auto it = families_.find(family);
  if (it != families_.end()) it->second->write_where(out, label, value);
  return out;
}

std::string Registry::expose() const {
  std::vector<std::function<void()>> collectors;
  {
    MutexLock lock(mu_);
    collectors = collectors_;
  }
  for (const auto& c : collectors) c();
  std::string out;
  MutexLock lock(mu_);
  for (const auto& [name, f] : families_) f->write(out);
  return out;
}

}  // namespace meshfed::metrics
