// L7 policy benchmark: requests through meshfed's egress and ingress gateways (own processes)
// to an export narrowed by L7 rules, against HAProxy in http mode enforcing the same rules
// (`http-request deny` on method and path_beg; for gRPC on :path over HTTP/2) in the same
// topology and run: same certificates, same backends, same client (h2load).
//  - allowed requests per second on kept-alive connections (HTTP/1.1 and gRPC);
//  - latency p50 / p99 of one request at a time through the path (the same backend behind both,
//    whose own is printed too: subtracting one noisy p99 from another misleads).
// Backends: a small keep-alive HTTP/1.1 responder in this program, and nghttpd (h2c) answering
// the gRPC path. Prints Markdown.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdio>
#include <thread>

#include "bench_support.hpp"
#include "proxy_support.hpp"
#include "support/net_support.hpp"
#include "support/test_support.hpp"

using namespace meshfed::testing;
using namespace meshfed::bench;
using nlohmann::json;

namespace {

constexpr int kRounds = 3;
constexpr int kConnections = 8;
constexpr int kBusyConnections = 64;       // enough to keep both cores busy: throughput then is CPU per request
constexpr int kStreamsPerConnection = 10;  // gRPC calls in flight on each connection
constexpr double kSeconds = 5;
constexpr int kSequential = 10000;  // requests one at a time, for the latency figures (p99: the 100 slowest)

// An HTTP/1.1 service that answers every request "pong", keep-alive, one thread a connection.
class Responder {
 public:
  Responder() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(fd_, 128);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    std::thread([this] {
      for (int c; (c = ::accept(fd_, nullptr, nullptr)) >= 0;) std::thread([c] { serve(c); }).detach();
    }).detach();
  }
  uint16_t port() const { return port_; }

 private:
  static void serve(int fd) {
    static const std::string kAnswer = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n\r\npong";
    std::string in;
    char buf[16384];
    for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) {
      in.append(buf, static_cast<size_t>(n));
      std::string out;
      for (size_t end; (end = in.find("\r\n\r\n")) != std::string::npos; in.erase(0, end + 4)) out += kAnswer;
      if (!out.empty() && !send_all(fd, out)) break;
    }
    ::close(fd);
  }
  int fd_ = -1;
  uint16_t port_ = 0;
};

struct Load {
  double rps = 0;
  double per_cpu = 0;       // requests per CPU-second of the two proxy processes
  double busy_rps = 0;      // with kBusyConnections
  double p50 = 0, p99 = 0;  // µs, one request at a time
};

// Runs h2load and returns its output.
std::string h2load(const std::vector<std::string>& args) {
  std::string cmd = "h2load";
  for (const auto& a : args) cmd += " '" + a + "'";
  cmd += " 2>&1";
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return out;
  char line[4096];
  while (std::fgets(line, sizeof line, p)) out += line;
  ::pclose(p);
  return out;
}

double field_after(const std::string& out, const std::string& key) {
  const auto at = out.find(key);
  return at == std::string::npos ? 0 : std::atof(out.c_str() + at + key.size());
}

// Requests per second that succeeded (2xx, whole) on `connections` kept-alive connections for
// kSeconds, and their count.
std::pair<double, double> keep_alive_load(const std::vector<std::string>& common, int connections, bool grpc,
                                          const std::string& url) {
  auto args = common;
  args.insert(args.end(), {"-c", std::to_string(connections), "-m", std::to_string(grpc ? kStreamsPerConnection : 1),
                           "-D", std::to_string(static_cast<int>(kSeconds)), url});
  const std::string out = h2load(args);
  // "finished in 5.00s, ...", "requests: N total, N started, N done, N succeeded, ...".
  const double seconds = field_after(out, "finished in ");
  const double succeeded = field_after(out, "done, ");
  if (field_after(out, "succeeded, ") > 0 || out.find("finished in ") == std::string::npos) {
    std::fprintf(stderr, "h2load %s: requests failed:\n%s\n", url.c_str(), out.c_str());
  }
  return {seconds > 0 ? succeeded / seconds : 0, succeeded};
}

// `url` on kept-alive connections for kSeconds (CPU time of `proxies` counted), again with
// more connections (HTTP/1.1), then one request at a time for the latency.
Load measure(const std::string& url, bool grpc, const fs::path& work, const std::vector<int>& proxies) {
  std::vector<std::string> common = {"-t", "1"};
  if (grpc) {
    common.insert(common.end(),
                  {"-d", (work / "grpc-body").string(), "-H", "content-type: application/grpc", "-H", "te: trailers"});
  } else {
    common.push_back("--h1");
  }
  Load l;
  const double cpu = cpu_of(proxies);
  const auto [rps, requests] = keep_alive_load(common, kConnections, grpc, url);
  l.rps = rps;
  if (!proxies.empty()) l.per_cpu = requests / (cpu_of(proxies) - cpu);
  if (!grpc) l.busy_rps = keep_alive_load(common, kBusyConnections, grpc, url).first;
  auto args = common;
  const fs::path log = work / "h2load.log";
  std::error_code ec;
  fs::remove(log, ec);
  args.insert(args.end(), {"-c", "1", "-n", std::to_string(kSequential), "--log-file", log.string(), url});
  h2load(args);
  std::vector<double> us;
  for (const auto& line : meshfed::split(read_file(log), '\n')) {
    const auto cols = meshfed::split(line, '\t');
    if (cols.size() >= 3) us.push_back(std::atof(cols[2].c_str()));
  }
  if (!us.empty()) {
    l.p50 = percentile(us, 0.5);
    l.p99 = percentile(us, 0.99);
  }
  return l;
}

// The status h2load saw for one request (for the check that both proxies deny the same).
std::string status_of(const std::string& url, bool grpc, const fs::path& work) {
  std::vector<std::string> args = {"-n", "1", "-c", "1"};
  if (grpc) {
    args.insert(args.end(), {"-d", (work / "grpc-body").string(), "-H", "content-type: application/grpc"});
  } else {
    args.push_back("--h1");
  }
  args.push_back(url);
  const std::string out = h2load(args);
  const auto at = out.find("status codes: ");
  return at == std::string::npos ? out : out.substr(at, out.find('\n', at) - at);
}

Load median(const std::vector<Load>& rounds) {
  Load m;
  for (auto f : {&Load::rps, &Load::per_cpu, &Load::busy_rps, &Load::p50, &Load::p99}) {
    std::vector<double> v;
    for (const auto& r : rounds) v.push_back(r.*f);
    m.*f = percentile(v, 0.5);
  }
  return m;
}

}  // namespace

int main() {
  spdlog::set_level(spdlog::level::warn);
  Responder http_backend;
  Federation fed(std::map<std::string, std::vector<std::string>>{{"pci", {"internal"}}, {"internal", {"pci"}}});
  const fs::path work = fed.dir();
  write_file(work / "grpc-body", std::string("\0\0\0\0\x04ping", 9));
  fs::create_directories(work / "www/payments.v1.Rates");
  write_file(work / "www/payments.v1.Rates/Get", std::string("\0\0\0\0\x04pong", 9));
  const uint16_t ports = free_port_range(24);
  const uint16_t grpc_backend = ports, ingress_port = static_cast<uint16_t>(ports + 1);
  const uint16_t hap_http_in = static_cast<uint16_t>(ports + 2), hap_grpc_in = static_cast<uint16_t>(ports + 3);
  const uint16_t hap_http_out = static_cast<uint16_t>(ports + 4), hap_grpc_out = static_cast<uint16_t>(ports + 5);
  int nghttpd_pid = spawn_process({"nghttpd", "--no-tls", "-d", (work / "www").string(), std::to_string(grpc_backend)},
                                  work / "nghttpd.log");

  auto& pci = fed.domain("pci");
  auto& internal = fed.domain("internal");
  pci.config["gateways"]["ingress"]["listen"] = "127.0.0.1:" + std::to_string(ingress_port);
  pci.config["gateways"]["ingress"]["advertise"] = "127.0.0.1:" + std::to_string(ingress_port);
  pci.save_config();
  internal.config["gateways"]["egress"]["ports"] = std::to_string(ports + 10) + "-" + std::to_string(ports + 23);
  internal.save_config();
  write_file(pci.dir / "inventory.json", json{{"services",
                                               {{{"mesh", "default"},
                                                 {"name", "rates"},
                                                 {"address", "127.0.0.1"},
                                                 {"ports", {{{"port", http_backend.port()}, {"protocol", "http"}}}}},
                                                {{"mesh", "default"},
                                                 {"name", "rates-grpc"},
                                                 {"address", "127.0.0.1"},
                                                 {"ports", {{{"port", grpc_backend}, {"protocol", "grpc"}}}}}}}}
                                             .dump());
  fed.start_all();
  fed.connect();
  auto pci_admin = fed.admin("pci");
  auto export_with = [&](const std::string& service, uint16_t port, const json& rules) {
    auto r = api_call(*pci_admin, "POST", "/api/v1/exports", pci.tokens.at("alice"),
                      json{{"mesh", "default"},
                           {"service", service},
                           {"port", port},
                           {"peers", {"internal"}},
                           {"reason", "benchmark"},
                           {"l7", rules}});
    const std::string id = r.body.value("id", "");
    api_call(*pci_admin, "POST", "/api/v1/exports/" + id + "/approve", pci.tokens.at("bob"));
    return id;
  };
  const std::string http_id = export_with("rates", http_backend.port(), json::parse(R"({"http": [
      {"methods": ["GET"], "path": {"prefix": "/v1/rates/"}}]})"));
  const std::string grpc_id =
      export_with("rates-grpc", grpc_backend, json::parse(R"({"grpc": ["payments.v1.Rates/Get"]})"));

  int ingress_pid = start_gateway(fed, pci, "ingress");
  int egress_pid = start_gateway(fed, internal, "egress");
  int hap_in_pid = -1, hap_out_pid = -1;
  Children children{{&ingress_pid, &egress_pid, &hap_in_pid, &hap_out_pid, &nghttpd_pid}};
  auto internal_admin = fed.admin("internal");
  auto local_port = [&](const std::string& id) {
    uint16_t port = 0;
    wait_until([&] {
      auto imp = api_call(*internal_admin, "GET", "/api/v1/imports/pci." + id, internal.tokens.at("victor"));
      if (imp.status != 200 || !imp.body["local"].is_object()) return false;
      port = imp.body["local"]["port"];
      return true;
    });
    return port;
  };
  const uint16_t mf_http = local_port(http_id), mf_grpc = local_port(grpc_id);
  const std::string http_path = "/v1/rates/eur", grpc_path = "/payments.v1.Rates/Get";
  auto url = [](uint16_t port, const std::string& path) { return "http://127.0.0.1:" + std::to_string(port) + path; };
  if (!wait_until([&] { return status_of(url(mf_http, http_path), false, work).find("1 2xx") != std::string::npos; },
                  std::chrono::seconds(30))) {
    std::fprintf(stderr, "meshfed path does not work:\n%s\n", read_file(pci.dir / "ingress.log").c_str());
    return 1;
  }

  // HAProxy: an egress in tcp mode originating TLS with internal's egress certificate, an
  // ingress terminating it (client certificate required) in http mode with the same rules.
  const fs::path ipki = internal.dir / "pki", ppki = pci.dir / "pki", hpki = pci.dir / "haproxy-pki";
  run_meshfed({"pki", "issue", "--ca-dir", ppki.string(), "--role", "ingress", "--out", hpki.string(), "--dns",
               "*.pci.meshfed"});
  const std::string tls_in = " ssl crt " + combined_pem(hpki, "ingress") + " ca-file " + (ipki / "ca.pem").string() +
                             " verify required ssl-min-ver TLSv1.3";
  write_file(pci.dir / "haproxy-ingress.cfg",
             haproxy_preamble("http") + "frontend http_in\n  bind 127.0.0.1:" + std::to_string(hap_http_in) + tls_in +
                 "\n  http-request deny deny_status 403 unless METH_GET { path_beg /v1/rates/ }\n"
                 "  default_backend http_service\n"
                 "frontend grpc_in\n  bind 127.0.0.1:" +
                 std::to_string(hap_grpc_in) + tls_in +
                 " proto h2\n  http-request deny deny_status 403 unless { path /payments.v1.Rates/Get }\n"
                 "  default_backend grpc_service\n"
                 "backend http_service\n  http-reuse always\n  server s 127.0.0.1:" +
                 std::to_string(http_backend.port()) +
                 "\nbackend grpc_service\n  server s 127.0.0.1:" + std::to_string(grpc_backend) + " proto h2\n");
  auto egress_to = [&](const std::string& name, uint16_t listen, uint16_t to, const std::string& id) {
    return "frontend " + name + "\n  bind 127.0.0.1:" + std::to_string(listen) + "\n  default_backend " + name +
           "_peer\nbackend " + name + "_peer\n  server ingress 127.0.0.1:" + std::to_string(to) + " ssl crt " +
           combined_pem(ipki, "egress") + " ca-file " + (ppki / "ca.pem").string() + " verify required sni str(" + id +
           ".pci.meshfed) ssl-min-ver TLSv1.3\n";
  };
  write_file(internal.dir / "haproxy-egress.cfg", haproxy_preamble("tcp") +
                                                      egress_to("http", hap_http_out, hap_http_in, http_id) +
                                                      egress_to("grpc", hap_grpc_out, hap_grpc_in, grpc_id));
  hap_in_pid = start_haproxy(pci.dir / "haproxy-ingress.cfg", pci.dir / "haproxy-ingress.log");
  hap_out_pid = start_haproxy(internal.dir / "haproxy-egress.cfg", internal.dir / "haproxy-egress.log");
  if (!wait_until(
          [&] { return status_of(url(hap_http_out, http_path), false, work).find("1 2xx") != std::string::npos; },
          std::chrono::seconds(30))) {
    std::fprintf(stderr, "haproxy path does not work:\n%s\n", read_file(pci.dir / "haproxy-ingress.log").c_str());
    return 1;
  }
  // Both enforce the same rules: neither lets these through (meshfed's gRPC refusal is a
  // PERMISSION_DENIED on a 200, which tests/integration checks; here a 2xx from HAProxy's would
  // mean it did not refuse).
  for (const auto& [port, path, grpc] : {std::tuple{mf_http, std::string("/v1/admin"), false},
                                         {hap_http_out, std::string("/v1/admin"), false},
                                         {hap_grpc_out, std::string("/payments.v1.Rates/Set"), true}}) {
    const std::string st = status_of(url(port, path), grpc, work);
    if (st.find("1 2xx") != std::string::npos) {
      std::fprintf(stderr, "port %u let %s through: %s\n", port, path.c_str(), st.c_str());
      return 1;
    }
  }

  std::vector<Load> mf_h(kRounds), hp_h(kRounds), mf_g(kRounds), hp_g(kRounds), direct_h(kRounds), direct_g(kRounds);
  for (int i = 0; i < kRounds; ++i) {
    {
      const Phase phase("meshfed http");
      mf_h[i] = measure(url(mf_http, http_path), false, work, {ingress_pid, egress_pid});
    }
    {
      const Phase phase("haproxy http");
      hp_h[i] = measure(url(hap_http_out, http_path), false, work, {hap_in_pid, hap_out_pid});
    }
    {
      const Phase phase("meshfed grpc");
      mf_g[i] = measure(url(mf_grpc, grpc_path), true, work, {ingress_pid, egress_pid});
    }
    {
      const Phase phase("haproxy grpc");
      hp_g[i] = measure(url(hap_grpc_out, grpc_path), true, work, {hap_in_pid, hap_out_pid});
    }
    direct_h[i] = measure(url(http_backend.port(), http_path), false, work, {});
    direct_g[i] = measure(url(grpc_backend, grpc_path), true, work, {});
  }
  const Load mh = median(mf_h), hh = median(hp_h), mg = median(mf_g), hg = median(hp_g);
  const Load dh = median(direct_h), dg = median(direct_g);

  std::printf("### L7 rules enforced per request, against HAProxy 2.6 in http mode, same run\n\n");
  std::printf(
      "Client -> egress -> (mTLS) -> ingress -> backend, two proxy processes each way: `meshfed gateway --role "
      "egress|ingress` with an export narrowed by L7 rules, and two `haproxy` (egress in tcp mode, ingress in "
      "http mode with `http-request deny` on the same method and path; gRPC over HTTP/2 with `proto h2`), the "
      "same certificates and backends: a keep-alive HTTP/1.1 responder in the benchmark, nghttpd (h2c) for "
      "gRPC. Client: h2load, %d connections for %.0f s (gRPC: %d calls in flight on each; HTTP/1.1 again with %d "
      "connections, enough to keep both cores busy), then %d requests one at a time for the latency through both "
      "proxies and the backend (the backend alone: below). \"Per CPU-s\" divides the requests by the user + "
      "system time of the two proxy processes.\n\n",
      kConnections, kSeconds, kStreamsPerConnection, kBusyConnections, kSequential);
  std::printf("| measure | meshfed | HAProxy | meshfed / HAProxy |\n| --- | ---: | ---: | ---: |\n");
  std::printf("| HTTP/1.1 allowed requests/s, keep-alive, %d connections | %.0f | %.0f | %.2fx |\n", kConnections,
              mh.rps, hh.rps, mh.rps / hh.rps);
  std::printf("| HTTP/1.1 allowed requests/s, keep-alive, %d connections | %.0f | %.0f | %.2fx |\n", kBusyConnections,
              mh.busy_rps, hh.busy_rps, mh.busy_rps / hh.busy_rps);
  std::printf("| HTTP/1.1 requests per proxy CPU-s | %.0f | %.0f | %.2fx |\n", mh.per_cpu, hh.per_cpu,
              mh.per_cpu / hh.per_cpu);
  std::printf("| HTTP/1.1 latency p50 / p99 | %.0f / %.0f µs | %.0f / %.0f µs | |\n", mh.p50, mh.p99, hh.p50, hh.p99);
  std::printf("| gRPC allowed calls/s, one HTTP/2 connection each | %.0f | %.0f | %.2fx |\n", mg.rps, hg.rps,
              mg.rps / hg.rps);
  std::printf("| gRPC calls per proxy CPU-s | %.0f | %.0f | %.2fx |\n", mg.per_cpu, hg.per_cpu,
              mg.per_cpu / hg.per_cpu);
  std::printf("| gRPC latency p50 / p99 | %.0f / %.0f µs | %.0f / %.0f µs | |\n", mg.p50, mg.p99, hg.p50, hg.p99);
  std::printf(
      "\nMedians of %d rounds, meshfed and HAProxy taking turns. Backends alone: HTTP/1.1 %.0f requests/s, p50 "
      "%.0f µs, p99 %.0f µs; gRPC %.0f calls/s, p50 %.0f µs, p99 %.0f µs.\n",
      kRounds, dh.rps, dh.p50, dh.p99, dg.rps, dg.p50, dg.p99);
  return 0;
}
