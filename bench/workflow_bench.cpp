// Broker-core benchmark (issue: broker core):
//  1. approvals per second end to end: request + approve over HTTPS keep-alive against a real
//     `meshfed broker`, every answer fsync'd, next to the floor measured in the same run on the
//     same disk: bare SQLite synchronous=FULL commits per second through the store module;
//  2. latency of GET /api/v1/exports?limit=100 with 10,000 exports in the store.
// Prints a Markdown section on stdout.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <numeric>
#include <random>

#include "meshfed/store/database.hpp"
#include <spdlog/spdlog.h>

#include "bench_support.hpp"
#include "support/test_support.hpp"

using namespace meshfed;
using namespace meshfed::testing;
using namespace meshfed::bench;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

double sqlite_commits_per_second(const fs::path& dir, int n) {
  auto db = store::Database::open(dir / "floor.db");
  if (!db) throw std::runtime_error(db.error().message);
  const auto start = Clock::now();
  for (int i = 0; i < n; ++i) {
    auto st = (*db)->transaction([&](store::Writer& tx) -> Status {
      store::Statement s(tx, "INSERT OR REPLACE INTO meta(key, value) VALUES (?, 'x')");
      s.bind(1, "k" + std::to_string(i));
      s.exec();
      return {};
    });
    if (!st) throw std::runtime_error(st.error().message);
  }
  return n / seconds_since(start);
}

}  // namespace

int main(int argc, char** argv) {
  spdlog::set_level(spdlog::level::warn);  // stdout carries the Markdown only
  const int approvals = argc > 1 ? std::atoi(argv[1]) : 500;
  const int seeded = argc > 2 ? std::atoi(argv[2]) : 10000;
  const int list_calls = argc > 3 ? std::atoi(argv[3]) : 1000;

  TempDir dir;
  auto domain = make_domain(dir.path(), "pci", {"internal"});
  BrokerProcess broker(domain.config_file, domain.state_dir);
  broker.start();
  auto client = broker.client(dir / "pki/ca.pem");

  auto request = [&](const std::string& alias) {
    auto r = api_call(*client, "POST", "/api/v1/exports", domain.tokens["alice"],
                      nlohmann::json{{"mesh", "default"},
                                     {"service", "payments-api"},
                                     {"port", 8443},
                                     {"peers", {"internal"}},
                                     {"alias", alias},
                                     {"reason", "bench"}});
    if (r.status != 201) throw std::runtime_error("request failed: " + r.body.dump());
    return r.body["id"].get<std::string>();
  };

  // 1. Approvals end to end, then the floor on the same disk.
  std::vector<double> cycle_ms;
  const auto start = Clock::now();
  for (int i = 0; i < approvals; ++i) {
    const auto t = Clock::now();
    const std::string id = request("a" + std::to_string(i));
    auto r = api_call(*client, "POST", "/api/v1/exports/" + id + "/approve", domain.tokens["bob"]);
    if (r.status != 200) throw std::runtime_error("approve failed: " + r.body.dump());
    cycle_ms.push_back(seconds_since(t) * 1000);
  }
  const double approvals_per_s = approvals / seconds_since(start);
  const double floor_commits = sqlite_commits_per_second(dir.path(), approvals * 2);

  // 2. Fill the store to `seeded` exports, then page through it.
  for (int i = approvals; i < seeded; ++i) request("s" + std::to_string(i));
  std::vector<int64_t> cursors = {0};
  std::string after;
  for (;;) {
    auto page = api_call(*client, "GET", "/api/v1/exports?limit=100" + (after.empty() ? "" : "&after=" + after),
                         domain.tokens["victor"]);
    if (page.body["next"].is_null()) break;
    after = page.body["next"];
    cursors.push_back(std::stoll(after));
  }
  std::mt19937 rng(42);
  std::vector<double> list_ms;
  for (int i = 0; i < list_calls; ++i) {
    const int64_t cursor = cursors[rng() % cursors.size()];
    const auto t = Clock::now();
    auto page = api_call(*client, "GET",
                         "/api/v1/exports?limit=100" + (cursor ? "&after=" + std::to_string(cursor) : std::string()),
                         domain.tokens["victor"]);
    list_ms.push_back(seconds_since(t) * 1000);
    if (page.status != 200 || page.body["items"].empty()) throw std::runtime_error("list failed");
  }
  broker.stop();

  std::printf("### Export workflow (request + approve over HTTPS, fsync'd)\n\n");
  std::printf("| measure | value |\n| --- | --- |\n");
  std::printf("| approvals per second end to end (request + approve, %d cycles, one keep-alive client) | %.0f |\n",
              approvals, approvals_per_s);
  std::printf("| request + approve cycle, p50 / p99 | %.2f ms / %.2f ms |\n", percentile(cycle_ms, 0.5),
              percentile(cycle_ms, 0.99));
  std::printf("| floor: bare SQLite `synchronous=FULL` commits per second, same disk, same run | %.0f |\n",
              floor_commits);
  std::printf("| floor for one cycle (two commits) | %.0f cycles/s |\n", floor_commits / 2);
  std::printf("\n### Listing exports (`GET /api/v1/exports?limit=100`, %d exports in the store)\n\n", seeded);
  std::printf("| measure | value |\n| --- | --- |\n");
  std::printf("| calls (random pages, one keep-alive client) | %d |\n", list_calls);
  std::printf("| p50 / p99 / max | %.2f ms / %.2f ms / %.2f ms |\n", percentile(list_ms, 0.5),
              percentile(list_ms, 0.99), percentile(list_ms, 1.0));
  return 0;
}
