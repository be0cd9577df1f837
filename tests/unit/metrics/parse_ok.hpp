// The families of an exposition a test knows to be valid; a parse error fails the test.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "meshfed/metrics/exposition.hpp"

namespace meshfed::metrics {

inline std::vector<MetricFamily> parse_ok(const std::string& text) {
  auto r = parse_exposition(text);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  return r.ok() ? std::move(r).value() : std::vector<MetricFamily>{};
}

}  // namespace meshfed::metrics
