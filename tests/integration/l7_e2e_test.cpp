// One L7 policy end to end across two domains: pci exports an HTTP service narrowed to
// `GET /v1/rates/`, approved with four-eyes; internal sees the rules on its import and calls
// through its egress; pci's ingress judges every request of a kept-alive connection, and the
// real service behind it (tests/integration/fixtures/http_backend.py) records what reached it.
#include <gtest/gtest.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <sstream>

#include "meshfed/core/text.hpp"
#include "support/net_support.hpp"
#include "support/test_support.hpp"

namespace meshfed::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

const fs::path kFixtures = fs::path(MESHFED_SOURCE_DIR) / "tests/integration/fixtures";
// Debian's interpreter, which has python3-grpcio (scripts/install-deps.sh), whatever PATH says.
constexpr const char* kPython = "/usr/bin/python3";

// A real HTTP/1.1 (http_backend.py) or gRPC (grpc_backend.py) service in a child process; what
// it saw, one "METHOD TARGET" or one gRPC method path per line.
class HttpBackend {
 public:
  explicit HttpBackend(const fs::path& dir, bool grpc = false)
      : port_file_(dir / (grpc ? "grpc.port" : "backend.port")),
        seen_file_(dir / (grpc ? "grpc.seen" : "backend.seen")) {
    const auto log = dir / (grpc ? "grpc.log" : "backend.log");
    pid_ =
        grpc ? spawn_process({kPython, (kFixtures / "grpc_backend.py").string(), "serve", port_file_.string(),
                              seen_file_.string()},
                             log)
             : spawn_process(
                   {kPython, (kFixtures / "http_backend.py").string(), port_file_.string(), seen_file_.string()}, log);
    const fs::path& dir_log = log;
    EXPECT_TRUE(wait_until([&] { return fs::exists(port_file_); })) << read_file(dir_log);
    port_ = static_cast<uint16_t>(std::stoi(read_file(port_file_)));
  }
  ~HttpBackend() { stop_process(pid_); }
  uint16_t port() const { return port_; }
  std::vector<std::string> seen() const {
    auto lines = split(read_file(seen_file_), '\n');
    std::erase(lines, "");
    return lines;
  }

 private:
  fs::path port_file_, seen_file_;
  int pid_ = -1;
  uint16_t port_ = 0;
};

class L7Test : public ::testing::Test {
 protected:
  void SetUp() override {
    fed_ = std::make_unique<Federation>(
        std::map<std::string, std::vector<std::string>>{{"pci", {"internal"}}, {"internal", {"pci"}}}, "auto", 60, 600,
        true);
    backend_ = std::make_unique<HttpBackend>(fed_->dir());
    grpc_backend_ = std::make_unique<HttpBackend>(fed_->dir(), true);
    write_file(fed_->domain("pci").dir / "inventory.json",
               json{{"services",
                     {{{"mesh", "default"},
                       {"name", "rates"},
                       {"address", "127.0.0.1"},
                       {"ports", {{{"port", backend_->port()}, {"protocol", "http"}}}}},
                      {{"mesh", "default"},
                       {"name", "rates-grpc"},
                       {"address", "127.0.0.1"},
                       {"ports", {{{"port", grpc_backend_->port()}, {"protocol", "grpc"}}}}}}}}
                   .dump());
    metrics_port_ = free_port_range(1);
    fed_->domain("internal").serve_metrics_on(metrics_port_);
    fed_->start_all();
    fed_->connect();
    for (const std::string d : {"pci", "internal"}) clients_[d] = fed_->admin(d);
  }

  ApiResult call(const std::string& d, const std::string& method, const std::string& target, const std::string& who,
                 const std::optional<json>& body = std::nullopt) {
    return api_call(*clients_.at(d), method, target, fed_->domain(d).tokens.at(who), body);
  }

  // Exports `service`:`port` from pci to internal with `rules`, approved by another person;
  // returns its id and internal's egress port once the import shows the rules and `reached`
  // says the service answers through it.
  std::pair<std::string, uint16_t> export_with_rules(const std::string& service, uint16_t port, const json& rules,
                                                     const std::function<bool(uint16_t)>& reached) {
    auto requested = call("pci", "POST", "/api/v1/exports", "alice",
                          json{{"mesh", "default"},
                               {"service", service},
                               {"port", port},
                               {"peers", {"internal"}},
                               {"reason", "fx rates for checkout"},
                               {"l7", rules}});
    EXPECT_EQ(requested.status, 201) << requested.body.dump();
    const std::string id = requested.body.value("id", "");
    EXPECT_EQ(requested.body["l7"], rules) << "the approver is shown what is asked";
    EXPECT_EQ(call("pci", "POST", "/api/v1/exports/" + id + "/approve", "bob").status, 200);
    uint16_t local = 0;
    EXPECT_TRUE(wait_until([&] {
      auto r = call("internal", "GET", "/api/v1/imports/pci." + id, "victor");
      if (r.status != 200 || r.body["state"] != "active" || r.body["local"].is_null()) return false;
      local = r.body["local"]["port"];
      return r.body["l7"] == rules && reached(local);
    })) << fed_->broker("internal").log()
        << fed_->broker("pci").log();
    return {id, local};
  }

  std::unique_ptr<Federation> fed_;
  std::unique_ptr<HttpBackend> backend_;
  std::unique_ptr<HttpBackend> grpc_backend_;
  uint16_t metrics_port_ = 0;
  std::map<std::string, std::unique_ptr<http::HttpsClient>> clients_;
};

TEST_F(L7Test, OnlyTheApprovedCallsReachTheServiceAndTheCallerSeesItsDenials) {
  const json rules = json::parse(R"({"http": [{"methods": ["GET"], "path": {"prefix": "/v1/rates/"}}]})");
  // The importing team sees what it may call, and reaches the service through its egress.
  int fd = -1;
  const auto created = export_with_rules("rates", backend_->port(), rules, [&](uint16_t local) {
    if (fd >= 0) ::close(fd);
    fd = connect_loopback(local);
    std::string buffered;
    if (fd < 0 || !send_all(fd, "GET /v1/rates/eur HTTP/1.1\r\nHost: rates\r\n\r\n")) return false;
    const auto a = read_answer(fd, buffered);
    return a && a->status == 200 && a->body == "seen GET /v1/rates/eur";
  });
  const std::string id = created.first;
  const uint16_t port = created.second;
  ASSERT_GE(fd, 0);

  // On the same kept-alive connection: refused, refused, allowed again.
  std::string buffered;
  auto ask = [&](const std::string& request) {
    EXPECT_TRUE(send_all(fd, request));
    return read_answer(fd, buffered).value_or(HttpAnswer{});
  };
  auto denied = ask("POST /v1/rates/x HTTP/1.1\r\nHost: rates\r\nContent-Length: 5\r\n\r\nhello");
  EXPECT_EQ(denied.status, 403);
  EXPECT_NE(denied.head.find("application/problem+json"), std::string::npos);
  EXPECT_EQ(json::parse(denied.body)["export"], id);
  EXPECT_EQ(ask("GET /v1/rates/../admin HTTP/1.1\r\nHost: rates\r\n\r\n").status, 403);
  EXPECT_EQ(ask("GET /v1/rates/usd HTTP/1.1\r\nHost: rates\r\n\r\n").body, "seen GET /v1/rates/usd");
  // A request read two ways is refused and ends the connection.
  EXPECT_EQ(ask("GET /v1/rates%2f..%2fadmin HTTP/1.1\r\nHost: rates\r\n\r\n").status, 400);
  EXPECT_TRUE(closed_by_server(fd, 5s));
  ::close(fd);

  // Smuggling: a second request hidden behind the first's framing, and one pipelined behind it.
  const int smuggler = connect_loopback(port);
  std::string smuggled;
  ASSERT_TRUE(
      send_all(smuggler,
               "GET /v1/rates/a HTTP/1.1\r\nHost: rates\r\nContent-Length: 44\r\nTransfer-Encoding: chunked\r\n\r\n"
               "0\r\n\r\nGET /admin HTTP/1.1\r\nHost: rates\r\n\r\n"));
  EXPECT_EQ(read_answer(smuggler, smuggled).value_or(HttpAnswer{}).status, 400);
  ::close(smuggler);
  const int pipeliner = connect_loopback(port);
  std::string pipelined;
  ASSERT_TRUE(send_all(
      pipeliner, "GET /v1/rates/b HTTP/1.1\r\nHost: rates\r\n\r\nDELETE /v1/rates/b HTTP/1.1\r\nHost: rates\r\n\r\n"));
  EXPECT_EQ(read_answer(pipeliner, pipelined).value_or(HttpAnswer{}).body, "seen GET /v1/rates/b");
  EXPECT_EQ(read_answer(pipeliner, pipelined).value_or(HttpAnswer{}).status, 403);
  ::close(pipeliner);

  // The service saw the allowed calls and nothing else.
  for (const auto& line : backend_->seen()) {
    EXPECT_TRUE(line.starts_with("GET /v1/rates/")) << line;
    EXPECT_EQ(line.find("admin"), std::string::npos) << line;
  }
  const auto seen = backend_->seen();
  EXPECT_NE(std::find(seen.begin(), seen.end(), "GET /v1/rates/usd"), seen.end());
  EXPECT_NE(std::find(seen.begin(), seen.end(), "GET /v1/rates/b"), seen.end());

  // Counted per export and caller at pci; one access-log line each.
  const std::string series = "meshfed_gateway_l7_denied_total{export=\"" + id + "\",peer=\"internal\"}";
  EXPECT_EQ(fed_->metric("pci", series), 5);
  const std::string log = fed_->broker("pci").log();
  EXPECT_NE(log.find("method=POST path=\"/v1/rates/x\" status=403"), std::string::npos) << log;
  EXPECT_NE(log.find("method=GET path=\"/v1/admin\" status=403"), std::string::npos) << log;

  // ...and the calling team sees its own denials in its own Prometheus (internal's /federate).
  const std::string federated =
      "meshfed_gateway_l7_denied_total{export=\"" + id + "\",peer=\"internal\",meshfed_source_domain=\"pci\"} 5";
  std::string last;
  EXPECT_TRUE(wait_until([&] {
    auto r = plain_get(metrics_port_, "/federate");
    last = r && r->status == 200 ? r->body : "";
    return last.find(federated) != std::string::npos;
  })) << last;

  // A change of the rules is a new approval; once approved, the next request of a connection
  // that stayed open is judged by the new rules, and the importer shows them.
  const int kept = connect_loopback(port);
  std::string kept_buffer;
  auto on_kept = [&](const std::string& request) {
    EXPECT_TRUE(send_all(kept, request));
    return read_answer(kept, kept_buffer).value_or(HttpAnswer{});
  };
  const std::string post = "POST /v1/rates/x HTTP/1.1\r\nHost: rates\r\nContent-Length: 2\r\n\r\nhi";
  EXPECT_EQ(on_kept(post).status, 403);
  json wider = rules;
  wider["http"][0]["methods"] = {"GET", "POST"};
  ASSERT_EQ(call("pci", "POST", "/api/v1/exports/" + id + "/l7", "alice", json{{"l7", wider}}).status, 200);
  EXPECT_EQ(on_kept(post).status, 403) << "proposed is not approved";
  ASSERT_EQ(call("pci", "POST", "/api/v1/exports/" + id + "/l7/approve", "bob").status, 200);
  EXPECT_TRUE(wait_until([&] { return on_kept(post).body == "seen POST /v1/rates/x"; }));
  EXPECT_TRUE(
      wait_until([&] { return call("internal", "GET", "/api/v1/imports/pci." + id, "victor").body["l7"] == wider; }));
  ::close(kept);
}

// What a real gRPC client (one channel, one HTTP/2 connection) got for each method, in order.
std::vector<std::string> grpc_calls(uint16_t port, const std::vector<std::string>& methods) {
  std::string cmd =
      std::string(kPython) + " " + (kFixtures / "grpc_backend.py").string() + " call " + std::to_string(port);
  for (const auto& m : methods) cmd += " " + m;
  std::vector<std::string> lines;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return lines;
  char line[1024];
  while (std::fgets(line, sizeof line, p)) lines.emplace_back(std::string(line).substr(0, std::strlen(line) - 1));
  ::pclose(p);
  return lines;
}

TEST_F(L7Test, OnlyTheApprovedGrpcMethodsReachTheServiceOnAConnectionThatStaysUsable) {
  HttpBackend& grpc = *grpc_backend_;
  const json rules = json::parse(R"({"grpc": ["payments.v1.Rates/Get"]})");
  const auto created = export_with_rules("rates-grpc", grpc.port(), rules, [](uint16_t local) {
    return grpc_calls(local, {"/payments.v1.Rates/Get"}) == std::vector<std::string>{"OK ping 0"};
  });
  const std::string id = created.first;
  const uint16_t port = created.second;

  // One connection: allowed, refused twice, allowed again.
  const auto got = grpc_calls(
      port, {"/payments.v1.Rates/Get", "/payments.v1.Rates/Set", "/payments.v1.Quotes/Get", "/payments.v1.Rates/Get"});
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0], "OK ping 0");
  EXPECT_TRUE(got[1].starts_with("PERMISSION_DENIED export " + id + " does not allow")) << got[1];
  EXPECT_TRUE(got[2].starts_with("PERMISSION_DENIED")) << got[2];
  EXPECT_EQ(got[3], "OK ping 3");
  EXPECT_GE(grpc.seen().size(), 3u);
  for (const auto& line : grpc.seen()) EXPECT_EQ(line, "/payments.v1.Rates/Get");
  EXPECT_EQ(fed_->metric("pci", "meshfed_gateway_l7_denied_total{export=\"" + id + "\",peer=\"internal\"}"), 2);
}

}  // namespace
}  // namespace meshfed::testing
