// Data-plane benchmark: meshfed's egress and ingress gateways (run as their own `meshfed
// gateway` processes, so their CPU time is theirs alone) against the same topology built with
// HAProxy in the same run: TLS origination with a client certificate, TLS 1.3 termination that
// requires it, SNI-routed to the same echo service.
//  - throughput through both proxies, one connection and 32 in parallel (payload MB/s each way);
//  - added latency of a small request/response (p50/p99, minus the direct round trip);
//  - new connections per second through both proxies, with full mTLS handshakes and with
//    session resumption;
// each per wall-second and per CPU-second of the two proxy processes. Prints Markdown.
#include <sys/socket.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>

#include "meshfed/core/text.hpp"
#include "support/net_support.hpp"
#include "bench_support.hpp"
#include "proxy_support.hpp"
#include "support/test_support.hpp"

using namespace meshfed::testing;
using namespace meshfed::bench;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

struct Settings {
  size_t single_mb = 256;
  int parallel = 32;
  size_t parallel_mb = 16;  // per connection
  int round_trips = 3000;
  double connect_seconds = 3;
  int connect_threads = 8;
};

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Pushes `bytes` through an echoing path on one connection; true if all came back.
bool transfer(uint16_t port, size_t bytes) {
  const int fd = connect_loopback(port);
  if (fd < 0) return false;
  std::thread writer([fd, bytes] {
    const std::string chunk(256 * 1024, 'm');
    for (size_t sent = 0; sent < bytes;) {
      const size_t n = std::min(chunk.size(), bytes - sent);
      if (!send_all(fd, chunk.substr(0, n))) break;
      sent += n;
    }
    ::shutdown(fd, SHUT_WR);
  });
  size_t got = 0;
  std::vector<char> buf(256 * 1024);
  for (ssize_t n; (n = ::recv(fd, buf.data(), buf.size(), 0)) > 0;) got += static_cast<size_t>(n);
  writer.join();
  ::close(fd);
  return got == bytes;
}

std::vector<double> round_trips_us(uint16_t port, int count) {
  std::vector<double> out;
  const int fd = connect_loopback(port);
  const std::string msg(64, 'r');
  char buf[64];
  for (int i = 0; i < count && fd >= 0; ++i) {
    const auto t = Clock::now();
    if (!send_all(fd, msg) || ::recv(fd, buf, sizeof buf, MSG_WAITALL) != 64) break;
    out.push_back(seconds_since(t) * 1e6);
  }
  if (fd >= 0) ::close(fd);
  return out;
}

// Connections per second, each: connect, one byte there and back, close.
double connections_per_second(uint16_t port, double seconds, int threads) {
  std::atomic<long> done{0};
  const auto start = Clock::now();
  std::vector<std::thread> pool;
  for (int i = 0; i < threads; ++i) {
    pool.emplace_back([&] {
      char c;
      while (seconds_since(start) < seconds) {
        const int fd = connect_loopback(port);
        if (fd < 0) continue;
        if (send_all(fd, "c") && ::recv(fd, &c, 1, MSG_WAITALL) == 1) ++done;
        ::close(fd);
      }
    });
  }
  for (auto& t : pool) t.join();
  return static_cast<double>(done) / seconds_since(start);
}

struct Figures {
  double single_mbps = 0, single_cpu = 0;
  double parallel_mbps = 0, parallel_cpu = 0;
  double p50 = 0, p99 = 0;
  double full_cps = 0, full_cpu = 0;
  double resumed_cps = 0, resumed_cpu = 0;
};

constexpr int kRounds = 3;

// The median of each figure across rounds.
Figures median_of(const std::vector<Figures>& rounds) {
  Figures m;
  for (auto field :
       {&Figures::single_mbps, &Figures::single_cpu, &Figures::parallel_mbps, &Figures::parallel_cpu, &Figures::p50,
        &Figures::p99, &Figures::full_cps, &Figures::full_cpu, &Figures::resumed_cps, &Figures::resumed_cpu}) {
    std::vector<double> v;
    for (const auto& r : rounds) v.push_back(r.*field);
    m.*field = percentile(v, 0.5);
  }
  return m;
}

// One proxy pair under test: its entry port and its processes.
struct Proxies {
  std::string name;
  uint16_t port = 0;
  std::vector<int> pids;
};

void measure_data(const Proxies& p, const Settings& s, Figures& f) {
  double cpu = cpu_of(p.pids);
  auto t = Clock::now();
  {
    const Phase phase(p.name + " single");
    if (!transfer(p.port, s.single_mb << 20)) spdlog::error("{}: single transfer incomplete", p.name);
  }
  f.single_mbps = static_cast<double>(s.single_mb) / seconds_since(t);
  f.single_cpu = static_cast<double>(s.single_mb) / (cpu_of(p.pids) - cpu);

  cpu = cpu_of(p.pids);
  t = Clock::now();
  {
    const Phase phase(p.name + " parallel");
    std::vector<std::thread> pool;
    for (int i = 0; i < s.parallel; ++i) pool.emplace_back([&] { transfer(p.port, s.parallel_mb << 20); });
    for (auto& th : pool) th.join();
  }
  const double total = static_cast<double>(s.parallel_mb * static_cast<size_t>(s.parallel));
  f.parallel_mbps = total / seconds_since(t);
  f.parallel_cpu = total / (cpu_of(p.pids) - cpu);

  const Phase phase(p.name + " latency");
  auto rtt = round_trips_us(p.port, s.round_trips);
  f.p50 = percentile(rtt, 0.5);
  f.p99 = percentile(rtt, 0.99);
}

void measure_connections(const Proxies& p, const Settings& s, const char* kind, double& cps, double& per_cpu) {
  const Phase phase(p.name + " " + kind);
  const double cpu = cpu_of(p.pids);
  cps = connections_per_second(p.port, s.connect_seconds, s.connect_threads);
  per_cpu = cps * s.connect_seconds / (cpu_of(p.pids) - cpu);
}

bool wait_round_trip(uint16_t port) {
  return wait_until([&] { return echo_round_trip(port, "warm") == "warm"; }, std::chrono::seconds(30));
}

}  // namespace

int main(int argc, char** argv) {
  spdlog::set_level(spdlog::level::warn);
  Settings s;
  if (argc > 1) s.single_mb = std::stoul(argv[1]);
  if (argc > 2) s.parallel_mb = std::stoul(argv[2]);

  EchoServer echo;
  Federation fed(std::map<std::string, std::vector<std::string>>{{"pci", {"internal"}}, {"internal", {"pci"}}});
  const uint16_t ports = free_port_range(20);
  const uint16_t ingress_port = ports, haproxy_ingress = static_cast<uint16_t>(ports + 1);
  uint16_t haproxy_egress = static_cast<uint16_t>(ports + 2);
  auto& pci = fed.domain("pci");
  auto& internal = fed.domain("internal");
  pci.config["gateways"]["ingress"]["listen"] = "127.0.0.1:" + std::to_string(ingress_port);
  pci.config["gateways"]["ingress"]["advertise"] = "127.0.0.1:" + std::to_string(ingress_port);
  pci.save_config();
  internal.config["gateways"]["egress"]["ports"] = std::to_string(ports + 10) + "-" + std::to_string(ports + 19);
  internal.save_config();
  write_file(pci.dir / "inventory.json", json{{"services",
                                               {{{"mesh", "default"},
                                                 {"name", "payments-api"},
                                                 {"address", "127.0.0.1"},
                                                 {"ports", {{{"port", echo.port()}, {"protocol", "tcp"}}}}}}}}
                                             .dump());
  fed.start_all();
  fed.connect();
  auto pci_admin = fed.admin("pci");
  auto r = api_call(*pci_admin, "POST", "/api/v1/exports", pci.tokens.at("alice"),
                    json{{"mesh", "default"},
                         {"service", "payments-api"},
                         {"port", echo.port()},
                         {"peers", {"internal"}},
                         {"reason", "benchmark"}});
  const std::string id = r.body["id"];
  api_call(*pci_admin, "POST", "/api/v1/exports/" + id + "/approve", pci.tokens.at("bob"));
  const std::string sni = id + ".pci.meshfed";

  auto start_gateway = [&](DomainFixture& fx, const std::string& role) {
    return meshfed::bench::start_gateway(fed, fx, role);
  };
  int ingress_pid = start_gateway(pci, "ingress");
  int egress_pid = start_gateway(internal, "egress");
  int hap_ingress_pid = -1, hap_egress_pid = -1;
  Children children{{&ingress_pid, &egress_pid, &hap_ingress_pid, &hap_egress_pid}};
  auto internal_admin = fed.admin("internal");
  uint16_t egress_port = 0;
  wait_until([&] {
    auto imp = api_call(*internal_admin, "GET", "/api/v1/imports/pci." + id, internal.tokens.at("victor"));
    if (imp.status != 200 || !imp.body["local"].is_object()) return false;
    egress_port = imp.body["local"]["port"];
    return true;
  });
  if (!wait_round_trip(egress_port)) {
    std::fprintf(stderr, "meshfed path does not work:\n%s\n", read_file(internal.dir / "egress.log").c_str());
    return 1;
  }

  // HAProxy: the same two hops, with the same certificates and CAs.
  const fs::path ipki = internal.dir / "pki", ppki = pci.dir / "pki", hpki = pci.dir / "haproxy-pki";
  // HAProxy checks a server certificate against the SNI it sends (meshfed checks the SPIFFE ID
  // instead), so its ingress gets a certificate from the same CA that names the SNIs.
  run_meshfed({"pki", "issue", "--ca-dir", ppki.string(), "--role", "ingress", "--out", hpki.string(), "--dns",
               "*.pci.meshfed"});
  auto haproxy_cfg = [] { return haproxy_preamble("tcp"); };
  write_file(pci.dir / "haproxy-ingress.cfg",
             haproxy_cfg() + "frontend ingress\n  bind 127.0.0.1:" + std::to_string(haproxy_ingress) + " ssl crt " +
                 combined_pem(hpki, "ingress") + " ca-file " + (ipki / "ca.pem").string() +
                 " verify required ssl-min-ver TLSv1.3\n  use_backend service if { ssl_fc_sni -m str " + sni +
                 " }\nbackend service\n  server echo 127.0.0.1:" + std::to_string(echo.port()) + "\n");
  auto egress_cfg = [&](bool resume) {
    write_file(
        internal.dir / "haproxy-egress.cfg",
        haproxy_cfg() + "frontend egress\n  bind 127.0.0.1:" + std::to_string(haproxy_egress) +
            "\n  default_backend peer\nbackend peer\n  server ingress 127.0.0.1:" + std::to_string(haproxy_ingress) +
            " ssl crt " + combined_pem(ipki, "egress") + " ca-file " + (ppki / "ca.pem").string() +
            " verify required sni str(" + sni + ") ssl-min-ver TLSv1.3" + (resume ? "" : " no-ssl-reuse") + "\n");
    return start_haproxy(internal.dir / "haproxy-egress.cfg", internal.dir / "haproxy-egress.log");
  };
  hap_ingress_pid = start_haproxy(pci.dir / "haproxy-ingress.cfg", pci.dir / "haproxy-ingress.log");
  hap_egress_pid = egress_cfg(true);
  if (!wait_round_trip(haproxy_egress)) {
    std::fprintf(stderr, "haproxy path does not work:\n%s\n%s\n",
                 read_file(internal.dir / "haproxy-egress.log").c_str(),
                 read_file(pci.dir / "haproxy-ingress.log").c_str());
    return 1;
  }

  // Each figure is the median of three rounds, meshfed and HAProxy taking turns, so that
  // whatever else the machine does falls on both alike.
  std::vector<Figures> mfs(kRounds), hps(kRounds);
  Proxies meshfed{"meshfed", egress_port, {egress_pid, ingress_pid}};
  Proxies haproxy{"haproxy", haproxy_egress, {hap_egress_pid, hap_ingress_pid}};
  for (int i = 0; i < kRounds; ++i) {
    measure_data(meshfed, s, mfs[i]);
    measure_data(haproxy, s, hps[i]);
    measure_connections(meshfed, s, "resumed", mfs[i].resumed_cps, mfs[i].resumed_cpu);
    measure_connections(haproxy, s, "resumed", hps[i].resumed_cps, hps[i].resumed_cpu);
  }
  // Full handshakes: the egress side restarted without session reuse.
  stop_process(egress_pid);
  internal.config["gateways"]["egress"]["resume_sessions"] = false;
  internal.save_config();
  egress_pid = start_gateway(internal, "egress");
  stop_process(hap_egress_pid);
  haproxy_egress = static_cast<uint16_t>(ports + 3);  // a fresh port: no wait on the old socket
  haproxy.port = haproxy_egress;
  hap_egress_pid = egress_cfg(false);
  if (!wait_round_trip(egress_port) || !wait_round_trip(haproxy_egress)) {
    std::fprintf(stderr, "a restarted egress does not work:\n%s\n%s\n", read_file(internal.dir / "egress.log").c_str(),
                 read_file(internal.dir / "haproxy-egress.log").c_str());
    return 1;
  }
  meshfed.pids = {egress_pid, ingress_pid};
  haproxy.pids = {hap_egress_pid, hap_ingress_pid};
  for (int i = 0; i < kRounds; ++i) {
    measure_connections(meshfed, s, "full", mfs[i].full_cps, mfs[i].full_cpu);
    measure_connections(haproxy, s, "full", hps[i].full_cps, hps[i].full_cpu);
  }
  const Figures mf = median_of(mfs), hp = median_of(hps);
  const auto direct = round_trips_us(echo.port(), s.round_trips);
  const double d50 = percentile(direct, 0.5), d99 = percentile(direct, 0.99);

  std::printf("### Egress + ingress (mTLS between them) against HAProxy 2.6, same run\n\n");
  std::printf(
      "Two proxy processes each way: `meshfed gateway --role egress|ingress` and two `haproxy`, both with "
      "their default of one thread per core, the same certificates, CAs and SNI, neither logging each "
      "connection (meshfed at --log-level warn, HAProxy without tcplog); the echo "
      "service and the clients run on the same machine. MB are MiB of payload each way; \"per CPU-s\" divides "
      "by the user+system time of the two proxy processes in that phase.\n\n");
  std::printf("| measure | meshfed | HAProxy |\n| --- | ---: | ---: |\n");
  std::printf(
      "| throughput, 1 connection (%zu MiB) | %.0f MB/s (%.0f MB per CPU-s) | %.0f MB/s (%.0f MB per CPU-s) |\n",
      s.single_mb, mf.single_mbps, mf.single_cpu, hp.single_mbps, hp.single_cpu);
  std::printf(
      "| throughput, %d connections (%zu MiB each) | %.0f MB/s (%.0f MB per CPU-s) | %.0f MB/s (%.0f MB per CPU-s) |\n",
      s.parallel, s.parallel_mb, mf.parallel_mbps, mf.parallel_cpu, hp.parallel_mbps, hp.parallel_cpu);
  std::printf("| added latency, 64-byte request/response, p50 / p99 | %.0f / %.0f µs | %.0f / %.0f µs |\n",
              mf.p50 - d50, mf.p99 - d99, hp.p50 - d50, hp.p99 - d99);
  std::printf("| new connections/s, full mTLS handshakes | %.0f (%.0f per CPU-s) | %.0f (%.0f per CPU-s) |\n",
              mf.full_cps, mf.full_cpu, hp.full_cps, hp.full_cpu);
  std::printf("| new connections/s, resumed sessions | %.0f (%.0f per CPU-s) | %.0f (%.0f per CPU-s) |\n",
              mf.resumed_cps, mf.resumed_cpu, hp.resumed_cps, hp.resumed_cpu);
  std::printf(
      "\nMedians of %d rounds. Direct round trip to the echo service (the baseline subtracted above): p50 "
      "%.0f µs, p99 %.0f µs, %d round trips. Connections: %d client threads for %.0f s each.\n",
      kRounds, d50, d99, s.round_trips, s.connect_threads, s.connect_seconds);
  return 0;
}
