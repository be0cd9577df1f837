// Federation benchmark (issue: federation between domains), against real broker processes:
//  1. approval-to-import latency: approve in pci until the import's file is written in
//     internal (inotify on the imports folder), p50/p99, next to the floor measured in the
//     same run: two fsync'd SQLite commits plus one keep-alive HTTPS round trip;
//  2. initial sync of a large catalog (control plane only, no gateways): time until every
//     export is an active import, and the importer's peak RSS;
//  3. revocations among that many exports, one after another: time until the import is
//     withdrawn, polled without pause on a kept-alive connection.
// Prints a Markdown section on stdout.
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <poll.h>

#include "meshfed/core/text.hpp"
#include "meshfed/store/database.hpp"

#include <spdlog/spdlog.h>

#include "bench_support.hpp"
#include "federation_support.hpp"
#include "support/test_support.hpp"

using namespace meshfed;
using namespace meshfed::testing;
using namespace meshfed::bench;
using nlohmann::json;

namespace {

// Blocks until a file named `name` is renamed into or created in the watched folder.
bool wait_for_file(int fd, const std::string& name, int timeout_ms) {
  const auto deadline = SteadyClock::now() + std::chrono::milliseconds(timeout_ms);
  alignas(inotify_event) char buf[64 * 1024];
  while (SteadyClock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    const ssize_t n = ::read(fd, buf, sizeof buf);
    for (ssize_t off = 0; off < n;) {
      auto* ev = reinterpret_cast<inotify_event*>(buf + off);
      if (ev->len > 0 && name == ev->name) return true;
      off += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
    }
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  spdlog::set_level(spdlog::level::warn);  // stdout carries the Markdown only
  const int approvals = argc > 1 ? std::atoi(argv[1]) : 200;
  std::vector<int> sizes;
  for (int i = 2; i < argc; ++i) sizes.push_back(std::atoi(argv[i]));
  if (sizes.empty()) sizes = {10000, 100000};

  std::printf("### Approval to import (loopback, two brokers, static control plane)\n\n");
  {
    Federation fed(std::map<std::string, std::vector<std::string>>{{"pci", {"internal"}}, {"internal", {"pci"}}});
    auto& internal = fed.domain("internal");
    internal.config["gateways"]["egress"]["ports"] = "30000-30999";
    internal.save_config();
    fed.start_all();
    fed.connect();
    auto pci = fed.admin("pci");
    auto& pd = fed.domain("pci");
    fs::create_directories(internal.dir / "imports");
    const int fd = ::inotify_init1(IN_CLOEXEC);
    ::inotify_add_watch(fd, (internal.dir / "imports").c_str(), IN_MOVED_TO | IN_CREATE);
    wait_until([&] {
      return api_call(*fed.admin("internal"), "GET", "/api/v1/peers", internal.tokens["victor"])
                 .body["items"][0]["state"] == "connected";
    });
    std::vector<double> latency;
    for (int i = 0; i < approvals; ++i) {
      auto r = api_call(*pci, "POST", "/api/v1/exports", pd.tokens["alice"],
                        json{{"mesh", "default"},
                             {"service", "payments-api"},
                             {"port", 8443},
                             {"peers", {"internal"}},
                             {"alias", "lat-" + std::to_string(i)},
                             {"reason", "bench"}});
      const std::string id = r.body["id"];
      const auto t0 = SteadyClock::now();
      api_call(*pci, "POST", "/api/v1/exports/" + id + "/approve", pd.tokens["bob"]);
      if (!wait_for_file(fd, "meshfed-pci." + id + ".json", 10000)) {
        std::fprintf(stderr, "import %s not applied within 10 s\n", id.c_str());
        return 1;
      }
      latency.push_back(ms_since(t0));
    }
    ::close(fd);
    // The floor, same run, same disk: two fsync'd commits and one keep-alive HTTPS round trip.
    auto floor_db = std::move(store::Database::open(fed.dir() / "floor.db")).value();
    std::vector<double> floor;
    for (int i = 0; i < approvals; ++i) {
      const auto t0 = SteadyClock::now();
      for (int k = 0; k < 2; ++k) {
        (void)floor_db->transaction([&](store::Writer& tx) -> Status {
          store::Statement s(tx, "INSERT OR REPLACE INTO meta(key, value) VALUES (?, 'x')");
          s.bind(1, "k" + std::to_string(i * 2 + k));
          s.exec();
          return {};
        });
      }
      (void)pci->request("GET", "/healthz");
      floor.push_back(ms_since(t0));
    }
    std::printf("| measure | p50 | p99 |\n| --- | --- | --- |\n");
    std::printf("| approve in pci -> import file written in internal (%d approvals) | %.2f ms | %.2f ms |\n", approvals,
                percentile(latency, 0.5), percentile(latency, 0.99));
    std::printf("| floor: two fsync'd SQLite commits + one keep-alive HTTPS round trip | %.2f ms | %.2f ms |\n\n",
                percentile(floor, 0.5), percentile(floor, 0.99));
  }

  constexpr int kRevocations = 9;
  std::printf("### Initial sync and revocations (control plane only, gateways disabled)\n\n");
  std::printf(
      "| exports | initial sync | importer peak RSS | revocation -> withdrawn, median of %d |\n| --- | --- | --- | --- "
      "|\n",
      kRevocations);
  for (const int n : sizes) {
    Federation fed(std::map<std::string, std::vector<std::string>>{{"pci", {"internal"}}, {"internal", {"pci"}}});
    auto& internal = fed.domain("internal");
    auto& pd = fed.domain("pci");
    internal.config.erase("gateways");               // observe only: imports recorded, nothing applied
    internal.config["peers"][0]["max_exports"] = n;  // the default (1000) would refuse the catalog
    internal.save_config();
    // Seed pci's store before it starts (migrations run on open).
    fs::create_directories(pd.state_dir);
    seed_exports(pd.state_dir / "meshfed.db", "pci", n, {"internal"});
    fed.broker("pci").start();
    fed.broker("internal").start();
    const auto t0 = SteadyClock::now();
    fed.connect();
    auto admin = fed.admin("internal");
    auto active = [&] {
      auto peers = api_call(*admin, "GET", "/api/v1/peers", internal.tokens["victor"]).body;
      return peers["items"][0]["imports"].value("active", 0);
    };
    if (!wait_until([&] { return active() == n; }, std::chrono::minutes(5))) {
      std::fprintf(stderr, "initial sync of %d did not finish\n", n);
      return 1;
    }
    const double sync_ms = ms_since(t0);
    const long rss = peak_rss_kb(pid_of(internal));
    auto pci = fed.admin("pci");
    const json listed = api_call(*pci, "GET", "/api/v1/exports?state=approved&limit=" + std::to_string(kRevocations),
                                 pd.tokens["victor"])
                            .body;
    std::vector<double> revocations;
    for (const auto& item : listed["items"]) {
      const std::string id = item["id"].get<std::string>();
      const auto t1 = SteadyClock::now();
      api_call(*pci, "POST", "/api/v1/exports/" + id + "/revoke", pd.tokens["bob"]);
      // Polled without pause: each round trip is the resolution (a fraction of a millisecond).
      while (api_call(*admin, "GET", "/api/v1/imports/pci." + id, internal.tokens["victor"]).body.value("state", "") !=
             "withdrawn") {
        if (ms_since(t1) > 60'000) {
          std::fprintf(stderr, "revocation of %s not withdrawn within a minute\n", id.c_str());
          return 1;
        }
      }
      revocations.push_back(ms_since(t1));
    }
    const double revoke_ms = percentile(revocations, 0.5);
    std::printf("| %d | %.2f s | %.1f MB | %.1f ms |\n", n, sync_ms / 1000, rss / 1024.0, revoke_ms);
  }
  return 0;
}
