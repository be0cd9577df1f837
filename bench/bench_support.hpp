// Timing helpers shared by the benchmark programs.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

namespace meshfed::bench {

using SteadyClock = std::chrono::steady_clock;

inline double ms_since(SteadyClock::time_point t) {
  return std::chrono::duration<double, std::milli>(SteadyClock::now() - t).count();
}

// The p-quantile (0..1) of `v`, nearest rank below.
inline double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(p * static_cast<double>(v.size() - 1))];
}

// Marks on stderr where a measured phase begins ("phase NAME") and ends ("phase NAME done"), so
// that a profiler can sample just that phase (bench/profile-phase.sh).
class Phase {
 public:
  explicit Phase(std::string name) : name_(std::move(name)) { mark(""); }
  ~Phase() { mark(" done"); }
  Phase(const Phase&) = delete;
  Phase& operator=(const Phase&) = delete;

 private:
  void mark(const char* suffix) const {
    std::fprintf(stderr, "phase %s%s\n", name_.c_str(), suffix);
    std::fflush(stderr);
  }
  std::string name_;
};

}  // namespace meshfed::bench
