// Federation at scale (issue: outgrow one machine), against real broker processes on loopback,
// importers observe-only (gateways off: imports recorded, no control plane written):
//  1. fan-in: PEERS domains each export EXPORTS services to one hub; time until the hub holds
//     every import, and each broker's peak RSS;
//  2. fan-out: one domain exports EXPORTS services to PEERS domains at once; time until every
//     importer holds them all, RSS, then REVOCATIONS revocations one after the other, each timed
//     until all PEERS importers have withdrawn it (p50/p99);
//  3. with `postgres`: fan-out again with the exporting domain on three replicas sharing a
//     PostgreSQL database (the tests' own cluster), importers spread over the replicas' peer
//     APIs, revocations sent round-robin to the replicas.
// Prints a Markdown section on stdout.
//   meshfed_bench_scale [PEERS] [EXPORTS] [REVOCATIONS] [postgres]
#include <spdlog/spdlog.h>
#include <signal.h>

#include <cstdio>
#include <cstring>

#include "bench_support.hpp"
#include "federation_support.hpp"
#include "support/postgres_cluster.hpp"

using namespace meshfed;
using namespace meshfed::testing;
using namespace meshfed::bench;
using nlohmann::json;

namespace {

struct Rss {
  double median_mb = 0, max_mb = 0;
};

Rss rss_of(const std::vector<int>& pids) {
  std::vector<double> mb;
  for (const int pid : pids) mb.push_back(static_cast<double>(peak_rss_kb(pid)) / 1024.0);
  return {percentile(mb, 0.5), *std::max_element(mb.begin(), mb.end())};
}

// Active imports `d` holds from all its peers.
int64_t active_imports(Federation& fed, const std::string& d) {
  auto r = api_call(*fed.admin(d), "GET", "/api/v1/peers", fed.domain(d).tokens.at("victor"));
  int64_t n = 0;
  for (const auto& p : r.body["items"]) n += p["imports"].value("active", 0);
  return n;
}

std::map<std::string, std::vector<std::string>> star(const std::string& center, const std::vector<std::string>& rim) {
  std::map<std::string, std::vector<std::string>> links{{center, rim}};
  for (const auto& d : rim) links[d] = {center};
  return links;
}

// Observe-only importers that accept `exports` from each peer.
void observe_only(DomainFixture& d, int exports) {
  d.config.erase("gateways");
  for (auto& p : d.config["peers"]) p["max_exports"] = exports;
  d.save_config();
}

void fan_in(const std::vector<std::string>& rim, int exports) {
  Federation fed(star("hub", rim));
  observe_only(fed.domain("hub"), exports);
  for (const auto& d : rim) {
    fs::create_directories(fed.domain(d).state_dir);
    seed_exports(fed.domain(d).state_dir / "meshfed.db", d, exports, {"hub"});
  }
  fed.start_all();
  const auto t0 = SteadyClock::now();
  fed.connect();
  const int64_t want = static_cast<int64_t>(rim.size()) * exports;
  if (!wait_until([&] { return active_imports(fed, "hub") == want; }, std::chrono::minutes(10))) {
    throw std::runtime_error("fan-in did not converge: " + std::to_string(active_imports(fed, "hub")) + " of " +
                             std::to_string(want));
  }
  const double s = ms_since(t0) / 1000;
  std::vector<int> exporters;
  for (const auto& d : rim) exporters.push_back(pid_of(fed.domain(d)));
  const auto rim_rss = rss_of(exporters);
  std::printf(
      "| fan-in: %zu domains x %d exports -> hub | %.2f s | hub %.1f MB | exporters %.1f MB median, %.1f MB max "
      "| - | - |\n",
      rim.size(), exports, s, static_cast<double>(peak_rss_kb(pid_of(fed.domain("hub")))) / 1024.0, rim_rss.median_mb,
      rim_rss.max_mb);
}

// `replicas` 1: the exporter on SQLite; 3: on three replicas sharing PostgreSQL.
void fan_out(const std::vector<std::string>& rim, int exports, int revocations, int replicas) {
  Federation fed(star("src", rim));
  for (const auto& d : rim) observe_only(fed.domain(d), exports);
  auto& src = fed.domain("src");
  std::vector<std::unique_ptr<BrokerProcess>> more;  // src's other replicas
  std::vector<std::string> peer_apis;                // each replica's, once started
  if (replicas == 1) {
    fs::create_directories(src.state_dir);
    seed_exports(src.state_dir / "meshfed.db", "src", exports, rim);
  } else {
    const std::string conninfo = PostgresCluster::shared().create_database();
    seed_exports(*std::move(store::Database::open_postgres(conninfo)).value(), "src", exports, rim);
    write_file(src.dir / "pg-url", conninfo);
    src.config["store"] = {{"type", "postgres"}, {"url_file", "pg-url"}};
    src.config["replica_id"] = "src-1";
    src.save_config();
  }
  fed.start_all();
  const auto t0 = SteadyClock::now();
  fed.connect();
  for (int r = 2; r <= replicas; ++r) {
    json cfg = src.config;
    cfg["replica_id"] = "src-" + std::to_string(r);
    cfg["state_dir"] = "state-" + std::to_string(r);
    write_file(src.dir / ("src-" + std::to_string(r) + ".json"), cfg.dump(2));
    more.push_back(std::make_unique<BrokerProcess>(
        src.dir / ("src-" + std::to_string(r) + ".json"), src.dir / cfg["state_dir"].get<std::string>(),
        std::vector<std::string>{}, src.dir / ("broker-" + std::to_string(r) + ".log")));
    more.back()->start();
  }
  if (replicas > 1) {
    // Importers spread over the replicas' peer APIs.
    for (int r = 1; r <= replicas; ++r) {
      const auto dir = r == 1 ? src.state_dir : src.dir / ("state-" + std::to_string(r));
      peer_apis.push_back(json::parse(read_file(dir / "runtime.json"))["peer_api"]);
    }
    for (size_t i = 0; i < rim.size(); ++i) {
      auto& d = fed.domain(rim[i]);
      d.config["peers"][0]["url"] = "https://" + peer_apis[i % peer_apis.size()];
      d.save_config();
      fed.broker(rim[i]).signal(SIGHUP);
    }
  }
  if (!wait_until(
          [&] {
            for (const auto& d : rim) {
              if (active_imports(fed, d) != exports) return false;
            }
            return true;
          },
          std::chrono::minutes(10))) {
    throw std::runtime_error("fan-out did not converge");
  }
  const double s = ms_since(t0) / 1000;
  std::vector<int> importers;
  for (const auto& d : rim) importers.push_back(pid_of(fed.domain(d)));
  const auto rim_rss = rss_of(importers);

  // Revocations, each until every importer shows it withdrawn (kept-alive clients, one each).
  std::vector<std::unique_ptr<http::HttpsClient>> importer_clients;
  for (const auto& d : rim) importer_clients.push_back(fed.admin(d));
  std::vector<std::unique_ptr<http::HttpsClient>> src_clients;
  src_clients.push_back(fed.admin("src"));
  for (const auto& b : more) src_clients.push_back(b->client(src.dir / "pki/ca.pem"));
  const auto ids =
      api_call(*src_clients[0], "GET", "/api/v1/exports?limit=" + std::to_string(revocations), src.tokens.at("victor"))
          .body["items"];
  std::vector<double> latency, sweep;
  for (size_t k = 0; k < ids.size(); ++k) {
    const std::string id = ids[k]["id"];
    const auto t1 = SteadyClock::now();
    api_call(*src_clients[k % src_clients.size()], "POST", "/api/v1/exports/" + id + "/revoke", src.tokens.at("bob"));
    std::vector<size_t> pending(rim.size());
    for (size_t i = 0; i < rim.size(); ++i) pending[i] = i;
    while (!pending.empty() && ms_since(t1) < 60000) {
      const auto s0 = SteadyClock::now();
      std::erase_if(pending, [&](size_t i) {
        return api_call(*importer_clients[i], "GET", "/api/v1/imports/src." + id,
                        fed.domain(rim[i]).tokens.at("victor"))
                   .body.value("state", "") == "withdrawn";
      });
      sweep.push_back(ms_since(s0));
    }
    if (!pending.empty()) throw std::runtime_error("revocation " + id + " not withdrawn everywhere within 60 s");
    latency.push_back(ms_since(t1));
  }
  std::printf(
      "| fan-out: src%s x %d exports -> %zu domains | %.2f s | src %.1f MB | importers %.1f MB median, %.1f MB "
      "max | %.1f ms | %.1f ms |\n",
      replicas > 1 ? (" on " + std::to_string(replicas) + " PostgreSQL replicas").c_str() : "", exports, rim.size(), s,
      static_cast<double>(peak_rss_kb(pid_of(src))) / 1024.0, rim_rss.median_mb, rim_rss.max_mb,
      percentile(latency, 0.5), percentile(latency, 0.99));
  std::fprintf(stderr, "fan-out (%d replicas): one polling sweep of %zu importers took %.1f ms (median)\n", replicas,
               rim.size(), percentile(sweep, 0.5));
}

}  // namespace

int main(int argc, char** argv) {
  spdlog::set_level(spdlog::level::warn);    // stdout carries the Markdown only
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // each row as it is measured
  const int peers = argc > 1 ? std::atoi(argv[1]) : 20;
  const int exports = argc > 2 ? std::atoi(argv[2]) : 5000;
  const int revocations = argc > 3 ? std::atoi(argv[3]) : 100;
  const bool postgres = argc > 4 && std::strcmp(argv[4], "postgres") == 0;
  std::vector<std::string> rim;
  for (int i = 1; i <= peers; ++i) rim.push_back((i < 10 ? "p0" : "p") + std::to_string(i));
  std::printf("### %d peer domains, %d exports each way (observe-only importers, every broker a process)\n\n", peers,
              exports);
  std::printf(
      "| case | converged after | peak RSS, hub or src | peak RSS, the peers | revocation -> withdrawn at every peer, "
      "p50 | p99 |\n| --- | --- | --- | --- | --- | --- |\n");
  try {
    fan_in(rim, exports);
    fan_out(rim, exports, revocations, 1);
    if (postgres) fan_out(rim, exports, revocations, 3);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "scale benchmark failed: %s\n", e.what());
    return 1;
  }
  std::printf(
      "\nRevocation latency is observed by polling every importer's `GET /api/v1/imports/{id}` on kept-alive "
      "connections until all say `withdrawn`; one sweep's duration (on stderr) bounds its resolution.\n");
  return 0;
}
