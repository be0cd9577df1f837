// Linked into every fuzz target: what the code under test logs about each hostile input (a
// refused request, a refused catalog) would otherwise cost more than the input itself, and
// bury libFuzzer's own report. Errors that matter end the run through a sanitizer or abort().
#include <spdlog/spdlog.h>

namespace {
const bool quiet = [] {
  spdlog::set_level(spdlog::level::off);
  return true;
}();
}  // namespace
