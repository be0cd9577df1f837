#include "meshfed/metrics/export_selection.hpp"

#include <algorithm>
#include <map>
#include <unordered_map>

namespace meshfed::metrics {
namespace {

struct OutFamily {
  MetricType type = MetricType::kUntyped;
  std::string help;
  std::vector<Sample> samples;
  std::vector<bool> collided;  // summary quantiles that met another series of the same identity
  std::unordered_map<std::string, size_t> index;
};

// Labels that give a series of its family its meaning are kept whatever the allowlist says:
// without `le` a histogram's buckets would be summed into nonsense.
bool structural(const std::string& label, const Sample& s, const MetricFamily& f) {
  if (f.type == MetricType::kHistogram) return label == "le" && s.name.size() == f.name.size() + 7;  // "_bucket"
  if (f.type == MetricType::kSummary) return label == "quantile" && s.name == f.name;
  return false;
}

std::string identity_of(const Sample& s) {
  std::string key = s.name;
  for (const auto& [k, v] : s.labels) {
    key.push_back('\xff');
    key += k;
    key.push_back('=');
    key += v;
  }
  return key;
}

class ServiceReader {
 public:
  explicit ServiceReader(const SourceSeries& source) : source_(source) {}

  // The service a series belongs to, or nullptr when it names none.
  const std::string* service_of(const Sample& s) {
    const std::string* value = s.label(source_.service_label);
    if (!value || !source_.service_regex) return value;
    auto it = cache_.find(*value);
    if (it == cache_.end()) it = cache_.emplace(*value, source_.service_regex->first_group(*value)).first;
    return it->second ? &*it->second : nullptr;
  }

 private:
  const SourceSeries& source_;
  std::unordered_map<std::string, std::optional<std::string>> cache_;  // label value -> service
};

}  // namespace

bool name_selected(const std::string& family, const std::vector<std::string>& names) {
  for (const auto& n : names) {
    if (!n.empty() && n.back() == '*') {
      if (family.compare(0, n.size() - 1, n, 0, n.size() - 1) == 0) return true;
    } else if (family == n) {
      return true;
    }
  }
  return false;
}

Selection select_exported(const std::vector<SourceSeries>& sources, const std::vector<ExportedMetrics>& exports,
                          const SelectionLimits& limits) {
  std::map<std::string, OutFamily> out;
  std::vector<const ExportedMetrics*> wanting;
  for (const auto& source : sources) {
    if (!source.families) continue;
    ServiceReader reader(source);
    for (const auto& f : *source.families) {
      wanting.clear();
      for (const auto& e : exports) {
        if (name_selected(f.name, e.names)) wanting.push_back(&e);
      }
      if (wanting.empty()) continue;
      auto [at, fresh] = out.try_emplace(f.name);
      OutFamily& of = at->second;
      if (fresh) {
        of.type = f.type;
        of.help = f.help;
      } else if (of.type != f.type) {
        continue;  // two sources disagree on the type: the first one seen wins
      }
      for (const auto& s : f.samples) {
        const std::string* service = reader.service_of(s);
        if (!service) continue;
        for (const auto* e : wanting) {
          if (e->service != *service) continue;
          Sample kept{s.name, {}, s.value, s.timestamp_ms};
          for (const auto& [k, v] : s.labels) {
            if (k == "service") continue;
            if (structural(k, s, f) || std::find(limits.label_allowlist.begin(), limits.label_allowlist.end(), k) !=
                                           limits.label_allowlist.end()) {
              kept.labels.emplace_back(k, v);
            }
          }
          kept.labels.emplace_back("service", e->alias);
          std::sort(kept.labels.begin(), kept.labels.end());
          auto [slot, inserted] = of.index.try_emplace(identity_of(kept), of.samples.size());
          if (inserted) {
            of.samples.push_back(std::move(kept));
            of.collided.push_back(false);
            continue;
          }
          Sample& sum = of.samples[slot->second];
          if (of.type == MetricType::kSummary && s.name == f.name) {
            of.collided[slot->second] = true;
            continue;
          }
          sum.value += s.value;
          if (s.timestamp_ms && (!sum.timestamp_ms || *sum.timestamp_ms < *s.timestamp_ms))
            sum.timestamp_ms = s.timestamp_ms;
        }
      }
    }
  }

  Selection result;
  std::vector<MetricFamily> one(1);
  std::string text;
  for (auto& [name, of] : out) {
    MetricFamily& f = one[0];
    f.name = name;
    f.type = of.type;
    f.help = of.help;
    f.samples.clear();
    for (size_t i = 0; i < of.samples.size(); ++i) {
      if (of.collided[i]) {
        ++result.colliding_quantiles;
      } else {
        f.samples.push_back(std::move(of.samples[i]));
      }
    }
    text.clear();
    write_exposition(one, text);
    const uint64_t n = f.samples.size();
    if (result.series + n > limits.max_series) {
      result.series_over_cap += n;
    } else if (result.text.size() + text.size() > limits.max_bytes) {
      result.bytes_over_cap += n;
    } else {
      result.series += n;
      result.text += text;
    }
  }
  return result;
}

}  // namespace meshfed::metrics
