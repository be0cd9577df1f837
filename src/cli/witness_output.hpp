// What the peers witnessed of this domain's audit log, as `audit verify --witnesses` and
// `restore` print it: one line per peer, and one per head that contradicts the log.
#pragma once

#include <iostream>
#include <vector>

#include "meshfed/federation/witness_check.hpp"

namespace meshfed::cli {

inline void print_witness_reports(const std::vector<federation::WitnessReport>& reports) {
  for (const auto& r : reports) {
    if (!r.answered) {
      std::cout << "witness " << r.peer << ": NOT ASKED: " << r.error << "\n";
      continue;
    }
    size_t matching = 0;
    for (const auto& h : r.heads) matching += h.verdict == federation::HeadVerdict::kMatches;
    std::cout << "witness " << r.peer << ": " << (r.contradicts() ? "CONTRADICTS" : "agrees") << ", " << r.heads.size()
              << " heads witnessed, " << matching << " found in this log";
    if (!r.heads.empty()) {
      const auto& newest = r.heads.back().witnessed;
      std::cout << " (newest: seq " << newest.signed_head.head.seq << " witnessed at " << newest.witnessed_at << ")";
    }
    std::cout << "\n";
    for (const auto& h : r.heads) {
      if (!h.problem.empty()) std::cout << "  " << h.problem << "\n";
    }
  }
}

}  // namespace meshfed::cli
