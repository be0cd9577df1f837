// The peer API against nginx (issue #13), same run, same certificates, same bytes: a broker of
// pci serves its catalog to internal's broker certificate over mutual TLS 1.3, and nginx serves
// the very bytes that answer, with client-certificate verification against the same CA.
//  1. keep-alive: CONNECTIONS clients, each on one connection, GET the catalog for SECONDS;
//  2. full handshakes: the same clients, a new connection (no resumption) per request.
// Each is reported in requests per second and per second of the server's own CPU (utime+stime
// from /proc, all its threads), and meshfed's as a fraction of nginx's.
// Prints a Markdown section on stdout.
//   meshfed_bench_peer_api [EXPORTS] [CONNECTIONS] [SECONDS]
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <thread>

#include "bench_support.hpp"
#include "federation_support.hpp"
#include "support/net_support.hpp"

using namespace meshfed;
using namespace meshfed::testing;
using namespace meshfed::bench;

namespace {

// CPU seconds a process has used so far, all threads.
double cpu_seconds(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::istringstream rest(stat.substr(stat.rfind(')') + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14 || i == 15) ticks += std::stod(field);  // utime, stime
  }
  return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// nginx's master and workers together.
double cpu_seconds(const std::vector<int>& pids) {
  double s = 0;
  for (const int pid : pids) s += cpu_seconds(pid);
  return s;
}

std::vector<int> children_of(int pid) {
  std::vector<int> out{pid};
  std::ifstream in("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children");
  int child = 0;
  while (in >> child) out.push_back(child);
  return out;
}

struct Rate {
  double per_second = 0;
  double per_cpu_second = 0;
};

// CONNECTIONS threads requesting `target` for `seconds`; `fresh`: a new connection each time.
Rate load(const http::ClientOptions& opts, const std::string& target, int connections, int seconds, bool fresh,
          const std::function<double()>& server_cpu, size_t expect_bytes) {
  std::atomic<bool> stop{false};
  std::atomic<int64_t> done{0}, bad{0};
  std::vector<std::thread> threads;
  const double cpu0 = server_cpu();
  const auto t0 = SteadyClock::now();
  for (int i = 0; i < connections; ++i) {
    threads.emplace_back([&] {
      std::unique_ptr<http::HttpsClient> client;
      while (!stop) {
        if (!client || fresh) client = std::move(http::HttpsClient::create(opts)).value();
        auto r = client->request(
            "GET", target,
            fresh ? std::map<std::string, std::string>{{"connection", "close"}} : std::map<std::string, std::string>{});
        if (r && r->status == 200 && r->body.size() == expect_bytes) {
          ++done;
        } else {
          ++bad;
          client.reset();
        }
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::seconds(seconds));  // the measuring window, not a wait for a condition
  stop = true;
  for (auto& t : threads) t.join();
  const double wall = ms_since(t0) / 1000;
  const double cpu = server_cpu() - cpu0;
  if (bad > 0) std::fprintf(stderr, "%lld requests failed\n", static_cast<long long>(bad.load()));
  return {static_cast<double>(done) / wall, cpu > 0 ? static_cast<double>(done) / cpu : 0};
}

}  // namespace

int main(int argc, char** argv) {
  spdlog::set_level(spdlog::level::warn);
  const int exports = argc > 1 ? std::atoi(argv[1]) : 100;
  const int connections = argc > 2 ? std::atoi(argv[2]) : 8;
  const int seconds = argc > 3 ? std::atoi(argv[3]) : 10;

  Federation fed(std::map<std::string, std::vector<std::string>>{{"pci", {"internal"}}, {"internal", {"pci"}}});
  auto& pci = fed.domain("pci");
  auto& internal = fed.domain("internal");
  fs::create_directories(pci.state_dir);
  seed_exports(pci.state_dir / "meshfed.db", "pci", exports, {"internal"});
  fed.broker("pci").start();
  const uint16_t peer_port = fed.peer_api_port("pci");

  http::ClientOptions opts = http::ClientOptions::verifying("127.0.0.1", peer_port, pci.dir / "pki/ca.pem");
  opts.cert_file = internal.dir / "pki/broker.pem";
  opts.key_file = internal.dir / "pki/broker-key.pem";
  const std::string target = "/federation/v1/catalog";
  auto first = std::move(http::HttpsClient::create(opts)).value()->request("GET", target);
  if (!first || first->status != 200) {
    std::fprintf(stderr, "the peer API did not serve the catalog\n");
    return 1;
  }
  const std::string bytes = first->body;

  // nginx on a free loopback port: pci's certificate, internal's CA for client certificates
  // (the CA pci trusts for internal), TLS 1.3, the same bytes.
  const fs::path ngx = fed.dir() / "nginx";
  fs::create_directories(ngx / "logs");
  write_file(ngx / "catalog.json", bytes);
  const uint16_t nginx_port = free_port_range(1);
  write_file(
      ngx / "nginx.conf",
      "daemon off;\nuser root;  # the test folder is the benchmark's own, 0700\nworker_processes auto;\npid " +
          (ngx / "nginx.pid").string() + ";\nerror_log " + (ngx / "logs/error.log").string() +
          " warn;\nevents { worker_connections 1024; }\nhttp {\n  access_log off;\n  keepalive_requests 1000000;\n"
          "  server {\n    listen 127.0.0.1:" +
          std::to_string(nginx_port) + " ssl;\n    ssl_protocols TLSv1.3;\n    ssl_certificate " +
          (pci.dir / "pki/broker.pem").string() + ";\n    ssl_certificate_key " +
          (pci.dir / "pki/broker-key.pem").string() + ";\n    ssl_client_certificate " +
          (internal.dir / "pki/ca.pem").string() +
          ";\n    ssl_verify_client on;\n    ssl_session_cache off;\n    ssl_session_tickets off;\n"
          "    location = " +
          target + " {\n      default_type application/json;\n      alias " + (ngx / "catalog.json").string() +
          ";\n    }\n  }\n}\n");
  const int nginx_pid =
      spawn_process({"nginx", "-p", ngx.string(), "-c", (ngx / "nginx.conf").string()}, ngx / "logs/stderr.log");
  http::ClientOptions nginx_opts = opts;
  nginx_opts.port = nginx_port;
  if (!wait_until([&] {
        auto c = http::HttpsClient::create(nginx_opts);
        auto r = c ? (*c)->request("GET", target) : Result<http::ClientResponse>(c.error());
        return r && r->status == 200 && r->body == bytes;
      })) {
    std::fprintf(stderr, "nginx did not serve the catalog: %s\n", read_file(ngx / "logs/error.log").c_str());
    stop_process(nginx_pid);
    return 1;
  }
  const int broker_pid = pid_of(pci);
  const auto meshfed_cpu = [&] { return cpu_seconds(broker_pid); };
  const auto nginx_cpu = [&] { return cpu_seconds(children_of(nginx_pid)); };

  std::printf("### Peer API against nginx 1.22 (catalog of %d exports, %zu bytes, %d connections, %d s each)\n\n",
              exports, bytes.size(), connections, seconds);
  std::printf(
      "| mode | meshfed req/s | nginx req/s | meshfed / nginx | meshfed req per server CPU-s | nginx req per server "
      "CPU-s | meshfed / nginx |\n| --- | --- | --- | --- | --- | --- | --- |\n");
  for (const bool fresh : {false, true}) {
    const auto m = [&] {
      const Phase phase(fresh ? "meshfed handshakes" : "meshfed keep-alive");
      return load(opts, target, connections, seconds, fresh, meshfed_cpu, bytes.size());
    }();
    const auto n = load(nginx_opts, target, connections, seconds, fresh, nginx_cpu, bytes.size());
    std::printf("| %s | %.0f | %.0f | %.2fx | %.0f | %.0f | %.2fx |\n",
                fresh ? "full mTLS handshake per request" : "keep-alive", m.per_second, n.per_second,
                m.per_second / n.per_second, m.per_cpu_second, n.per_cpu_second, m.per_cpu_second / n.per_cpu_second);
  }
  std::printf(
      "\nBoth servers and the clients share this machine's cores; the per-CPU-second columns count each server's "
      "own CPU time (all its threads, or nginx's master and workers).\n");
  stop_process(nginx_pid);
  return 0;
}
