#include "meshfed/federation/peer_metrics.hpp"

#include "meshfed/policy/l7.hpp"

#include <map>
#include <unordered_map>

namespace meshfed::federation {

AcceptedPeerMetrics accept_peer_metrics(std::vector<metrics::MetricFamily> families, const std::string& peer,
                                        const std::set<std::string>& aliases, uint64_t max_series,
                                        const std::string& self) {
  AcceptedPeerMetrics out;
  uint64_t kept = 0;
  for (auto& f : families) {
    const bool our_denials =
        !self.empty() && f.name == policy::kL7DeniedMetric && f.type == metrics::MetricType::kCounter;
    if (f.name.rfind("meshfed_", 0) == 0 && !our_denials) {
      out.reserved += f.samples.size();
      continue;
    }
    std::erase_if(f.samples, [&](const metrics::Sample& s) {
      const std::string* service = s.label("service");
      const std::string* caller = s.label("peer");
      const bool foreign =
          our_denials ? !caller || *caller != self || !s.label("export") : !service || !aliases.count(*service);
      out.foreign += foreign ? 1 : 0;
      return foreign;
    });
    if (f.samples.empty()) continue;
    if (kept + f.samples.size() > max_series) {
      out.over_cap += f.samples.size();
      continue;
    }
    for (auto& s : f.samples) {
      std::erase_if(s.labels, [](const auto& l) { return l.first == kSourceDomainLabel; });
      s.labels.emplace_back(kSourceDomainLabel, peer);
    }
    kept += f.samples.size();
    out.families.push_back(std::move(f));
  }
  return out;
}

namespace {

// Who claims a name in the merged exposition: a typed family claims its own name and the names
// of its series (a histogram's `x_bucket`, `x_sum`, `x_count`); flattened series claim theirs.
struct Claims {
  std::unordered_map<std::string, std::vector<std::string>> typed;  // name -> families claiming it
  std::set<std::string> flat;                                       // names of flattened series
};

}  // namespace

std::vector<metrics::MetricFamily> merge_peer_metrics(
    const std::vector<const std::vector<metrics::MetricFamily>*>& peers,
    const std::function<bool(const metrics::Sample&)>& wanted, uint64_t* conflicts) {
  std::map<std::string, metrics::MetricFamily> merged;  // by name: the order of the exposition
  std::set<std::string> flatten;                        // families that are served untyped
  for (const auto* families : peers) {
    for (const auto& f : *families) {
      auto [at, fresh] = merged.try_emplace(f.name);
      metrics::MetricFamily& m = at->second;
      if (fresh) {
        m.name = f.name;
        m.type = f.type;
        m.help = f.help;
      } else if (m.type != f.type) {
        flatten.insert(f.name);  // two peers, two types: neither may hide the other
      }
      for (const auto& s : f.samples) {
        if (wanted(s)) m.samples.push_back(s);
      }
    }
  }
  std::erase_if(merged, [](const auto& kv) { return kv.second.samples.empty(); });

  // A name claimed twice makes its claimants flat; their series then claim their own names,
  // which may make more families flat: a worklist, each family flattened at most once.
  Claims claims;
  for (const auto& [name, f] : merged) {
    std::set<std::string> names = {name};
    for (const auto& s : f.samples) names.insert(s.name);
    for (const auto& n : names) claims.typed[n].push_back(name);
  }
  std::vector<std::string> work(flatten.begin(), flatten.end());
  for (const auto& [n, families] : claims.typed) {
    if (families.size() > 1) work.insert(work.end(), families.begin(), families.end());
  }
  flatten.clear();
  while (!work.empty()) {
    const std::string name = std::move(work.back());
    work.pop_back();
    if (!flatten.insert(name).second) continue;
    for (const auto& s : merged.at(name).samples) {
      if (!claims.flat.insert(s.name).second) continue;
      if (auto it = claims.typed.find(s.name); it != claims.typed.end()) {
        work.insert(work.end(), it->second.begin(), it->second.end());
      }
    }
    // The family's own name, when none of its series bears it (a histogram), is no longer
    // claimed: a typed family of that name does not clash with series that do not exist.
  }
  if (conflicts) *conflicts = flatten.size();

  std::map<std::string, metrics::MetricFamily> out;
  for (auto& [name, f] : merged) {
    if (!flatten.count(name)) {
      out.emplace(name, std::move(f));
      continue;
    }
    for (auto& s : f.samples) {
      auto [at, fresh] = out.try_emplace(s.name);
      if (fresh) at->second.name = s.name;  // untyped, no help: the peers did not agree on one
      at->second.samples.push_back(std::move(s));
    }
  }
  std::vector<metrics::MetricFamily> families;
  families.reserve(out.size());
  for (auto& [name, f] : out) families.push_back(std::move(f));
  return families;
}

}  // namespace meshfed::federation
