// What a peer's exported metrics may bring into ours, and how every peer's series are served
// together on /federate, as plain functions of data (the importer's thread and tests share them).
//
// Nothing a peer sends can break or hide another peer's series: families named like meshfed's
// own (`meshfed_*`) are refused, every series gets `meshfed_source_domain` set to the peer,
// and where peers disagree (one family name with two types, or a histogram's `x_sum` that is
// another peer's family name) the families involved are served untyped, one family per series
// name, so each peer's series still arrive and the exposition stays one valid document.
#pragma once

#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "meshfed/metrics/exposition.hpp"

namespace meshfed::federation {

inline constexpr const char* kSourceDomainLabel = "meshfed_source_domain";

struct AcceptedPeerMetrics {
  std::vector<metrics::MetricFamily> families;
  uint64_t foreign = 0;   // series whose `service` is not one of our imports from the peer
  uint64_t reserved = 0;  // series of a meshfed_* family (but our own L7 denials)
  uint64_t over_cap = 0;  // series of families past max_series
};

// Keeps the series of `families` (parsed from `peer`'s answer) whose `service` is in `aliases`,
// and of the peer's count of our requests its ingress refused (policy::kL7DeniedMetric, a
// counter whose `peer` label is `self`), whole families up to `max_series`, each labelled with
// the peer.
AcceptedPeerMetrics accept_peer_metrics(std::vector<metrics::MetricFamily> families, const std::string& peer,
                                        const std::set<std::string>& aliases, uint64_t max_series,
                                        const std::string& self = "");

// Every peer's accepted families as one exposition's families (names unique, each name's
// series in one family), keeping only the series `wanted` says; `conflicts` (when given) counts
// the families served untyped because peers disagreed.
std::vector<metrics::MetricFamily> merge_peer_metrics(
    const std::vector<const std::vector<metrics::MetricFamily>*>& peers,
    const std::function<bool(const metrics::Sample&)>& wanted, uint64_t* conflicts = nullptr);

}  // namespace meshfed::federation
