// What GET /federate serves: the peers' exported series, filtered by PromQL `match[]`
// selectors. The metrics importer is one; the admin API serves whichever it is given.
#pragma once

#include <string>
#include <vector>

#include "meshfed/core/result.hpp"

namespace meshfed::metrics {

class FederateSource {
 public:
  virtual ~FederateSource() = default;
  // The series matching any of `match` (none: every series), as Prometheus text; an
  // unreadable selector is an error that names it.
  virtual Result<std::string> federate(const std::vector<std::string>& match) const = 0;
};

}  // namespace meshfed::metrics
