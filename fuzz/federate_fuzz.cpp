// What peers send, through the importer's filter and the merge, onto /federate: whatever two
// peers send (the input split at its first NUL byte), the document served must read back with
// one family per name, none named meshfed_*, no reserved label, and every kept series in it.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>

#include "meshfed/federation/peer_metrics.hpp"

namespace {

void require(bool ok) {
  if (!ok) std::abort();  // libFuzzer keeps the input that broke the property
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace meshfed;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t split = input.find('\0');
  const std::string_view texts[] = {input.substr(0, split),
                                    split == std::string_view::npos ? std::string_view() : input.substr(split + 1)};
  std::vector<std::vector<metrics::MetricFamily>> peers;
  size_t kept = 0;
  for (size_t i = 0; i < 2; ++i) {
    auto families = metrics::parse_exposition(texts[i]);
    if (!families) continue;
    auto accepted = federation::accept_peer_metrics(std::move(families).value(), i ? "zzz" : "aaa", {"s", "t"}, 200);
    for (const auto& f : accepted.families) kept += f.samples.size();
    peers.push_back(std::move(accepted.families));
  }
  std::vector<const std::vector<metrics::MetricFamily>*> in;
  for (const auto& p : peers) in.push_back(&p);
  std::string out;
  metrics::write_exposition(federation::merge_peer_metrics(in, [](const metrics::Sample&) { return true; }), out);
  auto served = metrics::parse_exposition(out);
  require(served.ok());
  std::set<std::string> names;
  size_t series = 0;
  for (const auto& f : *served) {
    require(names.insert(f.name).second);
    require(f.name.rfind("meshfed_", 0) != 0);
    for (const auto& s : f.samples) {
      ++series;
      for (const auto& [name, value] : s.labels) require(name.rfind("__", 0) != 0);
    }
  }
  require(series == kept);
  return 0;
}
