// Latency against size (issue: outgrow one machine), against real broker processes on
// loopback, importers observe-only (gateways off):
//  1. against catalog size: one exporter already holding N approved exports for one importer,
//     N in SIZES; then OPS exports requested and approved, each timed from the approval until
//     the importer shows the import active, then the same OPS revoked, each timed until the
//     importer shows it withdrawn;
//  2. against peer count: one exporter already holding 1,000 exports for P importers, P in
//     PEERS; the same approvals and revocations, each timed until every importer shows it.
// Prints a Markdown table on stdout (bench/plot-latency.py draws it).
//   meshfed_bench_latency [OPS] [SIZES (comma-separated)] [PEERS (comma-separated)]
#include <spdlog/spdlog.h>

#include <cstdio>
#include <sstream>

#include "bench_support.hpp"
#include "federation_support.hpp"

using namespace meshfed;
using namespace meshfed::testing;
using namespace meshfed::bench;
using nlohmann::json;

namespace {

std::vector<int> parse_list(const char* text) {
  std::vector<int> out;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) out.push_back(std::stoi(item));
  return out;
}

struct Latencies {
  std::vector<double> approval, revocation;
};

// `peers` observe-only importers of domain "src", which holds `existing` approved exports for
// all of them before it starts.
Latencies measure(int peers, int existing, int ops) {
  std::vector<std::string> rim;
  for (int i = 1; i <= peers; ++i) rim.push_back((i < 10 ? "p0" : "p") + std::to_string(i));
  std::map<std::string, std::vector<std::string>> links{{"src", rim}};
  for (const auto& d : rim) links[d] = {"src"};
  Federation fed(links);
  for (const auto& d : rim) {
    auto& dom = fed.domain(d);
    dom.config.erase("gateways");
    dom.config["peers"][0]["max_exports"] = existing + ops;
    dom.save_config();
  }
  auto& src = fed.domain("src");
  fs::create_directories(src.state_dir);
  seed_exports(src.state_dir / "meshfed.db", "src", existing, rim);
  fed.start_all();
  fed.connect();
  std::vector<std::unique_ptr<http::HttpsClient>> importers;
  for (const auto& d : rim) importers.push_back(fed.admin(d));
  auto state_everywhere = [&](const std::string& id, const std::string& want) {
    const auto t0 = SteadyClock::now();
    std::vector<size_t> pending(rim.size());
    for (size_t i = 0; i < rim.size(); ++i) pending[i] = i;
    while (!pending.empty()) {
      if (ms_since(t0) > 60000) throw std::runtime_error(id + " not " + want + " everywhere within 60 s");
      std::erase_if(pending, [&](size_t i) {
        return api_call(*importers[i], "GET", "/api/v1/imports/src." + id, fed.domain(rim[i]).tokens.at("victor"))
                   .body.value("state", "") == want;
      });
    }
  };
  // Every importer holds the whole catalog before anything is timed.
  for (size_t i = 0; i < rim.size(); ++i) {
    if (!wait_until(
            [&] {
              auto r = api_call(*importers[i], "GET", "/api/v1/peers", fed.domain(rim[i]).tokens.at("victor"));
              return r.body["items"][0]["imports"].value("active", 0) == existing;
            },
            std::chrono::minutes(5))) {
      throw std::runtime_error(rim[i] + " did not sync " + std::to_string(existing) + " exports");
    }
  }
  auto admin = fed.admin("src");
  Latencies out;
  std::vector<std::string> ids;
  for (int k = 0; k < ops; ++k) {
    auto r = api_call(*admin, "POST", "/api/v1/exports", src.tokens.at("alice"),
                      json{{"mesh", "default"},
                           {"service", "payments-api"},
                           {"port", 8443},
                           {"peers", rim},
                           {"alias", "timed-" + std::to_string(k)},
                           {"reason", "bench"}});
    const std::string id = r.body["id"];
    const auto t0 = SteadyClock::now();
    api_call(*admin, "POST", "/api/v1/exports/" + id + "/approve", src.tokens.at("bob"));
    state_everywhere(id, "active");
    out.approval.push_back(ms_since(t0));
    ids.push_back(id);
  }
  for (const auto& id : ids) {
    const auto t0 = SteadyClock::now();
    api_call(*admin, "POST", "/api/v1/exports/" + id + "/revoke", src.tokens.at("bob"));
    state_everywhere(id, "withdrawn");
    out.revocation.push_back(ms_since(t0));
  }
  return out;
}

void row(int peers, int existing, const Latencies& l) {
  std::printf("| %d | %d | %.2f ms | %.2f ms | %.2f ms | %.2f ms |\n", peers, existing, percentile(l.approval, 0.5),
              percentile(l.approval, 0.99), percentile(l.revocation, 0.5), percentile(l.revocation, 0.99));
}

}  // namespace

int main(int argc, char** argv) {
  spdlog::set_level(spdlog::level::warn);    // stdout carries the Markdown only
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // each row as it is measured
  const int ops = argc > 1 ? std::atoi(argv[1]) : 30;
  const auto sizes = parse_list(argc > 2 ? argv[2] : "0,1000,10000,100000");
  const auto peer_counts = parse_list(argc > 3 ? argv[3] : "1,2,5,10,20");
  constexpr int kFixedCatalog = 1000;
  std::printf("### Approval and revocation latency against catalog size and peer count (%d of each per point)\n\n",
              ops);
  std::printf(
      "| peers | exports already in the catalog | approval -> active at every peer, p50 | p99 | revocation -> "
      "withdrawn at every peer, p50 | p99 |\n| --- | --- | --- | --- | --- | --- |\n");
  try {
    for (const int n : sizes) row(1, n, measure(1, n, ops));
    for (const int p : peer_counts) {
      if (p == 1 && std::find(sizes.begin(), sizes.end(), kFixedCatalog) != sizes.end()) continue;  // measured above
      row(p, kFixedCatalog, measure(p, kFixedCatalog, ops));
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "latency benchmark failed: %s\n", e.what());
    return 1;
  }
  std::printf(
      "\nEach figure is observed by polling every importer's `GET /api/v1/imports/{id}` on kept-alive connections; "
      "rows with 1 peer vary the catalog, the others hold %d exports and vary the peers.\n",
      kFixedCatalog);
  return 0;
}
