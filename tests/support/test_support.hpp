// Shared helpers for the test suites: temporary folders, a domain PKI made by meshfed's own
// pki module, configs, and real `meshfed` processes.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "meshfed/core/openssl_fwd.hpp"
#include "meshfed/core/result.hpp"
#include "meshfed/http/client.hpp"

namespace meshfed::testing {

namespace fs = std::filesystem;

// The value of a Result the test expects to succeed. A failure throws, naming the error: inside
// a store transaction that rolls it back and fails it, anywhere else it fails the test.
template <typename T>
T must(Result<T> r) {
  if (!r) throw std::runtime_error("expected success, got: " + r.error().message);
  return std::move(*r);
}
inline void must(const Status& st) {
  if (!st) throw std::runtime_error("expected success, got: " + st.error().message);
}

// A folder removed at the end of the test.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const fs::path& path() const { return path_; }
  fs::path operator/(const std::string& name) const { return path_ / name; }

 private:
  fs::path path_;
};

// `dir` on a tmpfs of its own of `size` (e.g. "4m"), so that a test can fill it; unmounted
// (lazily, after whatever uses it is gone) at the end. Mounting needs root: mounted() says.
class SmallFileSystem {
 public:
  SmallFileSystem(const fs::path& dir, const std::string& size);
  ~SmallFileSystem();
  SmallFileSystem(const SmallFileSystem&) = delete;
  SmallFileSystem& operator=(const SmallFileSystem&) = delete;
  bool mounted() const { return mounted_; }

 private:
  fs::path dir_;
  bool mounted_ = false;
};

void write_file(const fs::path& p, const std::string& content);
std::string read_file(const fs::path& p);

// Everything logged (through spdlog's default logger) while it lives, for tests that must
// tell one failure from another. Create it before the code under test starts logging.
class LogCapture {
 public:
  LogCapture();
  ~LogCapture();
  bool contains(const std::string& text) const;
  std::string text() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Sends spdlog's default logger to stderr, where death tests look for the dying words.
void log_to_stderr();

// Polls `condition` until it holds or `timeout` passes; the synchronisation point of the
// end-to-end tests (they wait on observable state, never on a fixed sleep).
bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout = std::chrono::seconds(20));

// A domain's PKI made by meshfed's own pki module in `dir`: ca.pem, broker.pem and their
// keys, the broker certificate valid for 127.0.0.1 and localhost.
void make_pki(const fs::path& dir, const std::string& domain);

// A TLS handshake between two SSL_CTX* in memory (a BIO pair, no socket), driven until both
// ends finished it or one failed; then the client reads what the server sent after it (TLS 1.3
// session tickets). The two ends, or null ends if the handshake failed.
struct MemoryTls {
  std::shared_ptr<ssl_st> server;
  std::shared_ptr<ssl_st> client;
  explicit operator bool() const { return server && client; }
};
MemoryTls handshake_in_memory(ssl_ctx_st* server_ctx, ssl_ctx_st* client_ctx);

// One export as peer "dmz" lists it in its catalog, valid in every field, and a full catalog
// answer of such exports: tests change the one thing they test.
nlohmann::json catalog_export(const std::string& id, const std::string& alias = "billing",
                              const std::string& ingress_host = "127.0.0.1",
                              nlohmann::json metrics = nlohmann::json::array());
nlohmann::json catalog_answer(nlohmann::json exports, const std::string& domain = "dmz", int64_t revision = 5);

// A domain laid out as the demo does: PKI, tokens, inventory and a config listening on port 0.
struct DomainFixture {
  std::string domain;
  fs::path dir;
  fs::path config_file;
  fs::path state_dir;
  std::map<std::string, std::string> tokens;  // name -> token
  nlohmann::json config;

  void save_config() const;
  // Replaces the inventory: `service` alone, in mesh default at 127.0.0.1:`port` (tcp).
  void offer_only(const std::string& service, uint16_t port, const std::string& protocol = "tcp") const;
  // Serves /metrics and the peers' /federate on 127.0.0.1:`port`, scraping peers every second;
  // saves the config.
  void serve_metrics_on(uint16_t port);
};

// Creates `dir`/pki, tokens for alice (requester), bob (approver), carol (approver),
// victor (viewer), root and ada (admins), gw (gateway), an inventory with payments-api and
// ledger, and a config.
DomainFixture make_domain(const fs::path& dir, const std::string& domain, const std::vector<std::string>& peers);

// A real `meshfed broker` child process.
class BrokerProcess {
 public:
  // `global_args` go before the subcommand, e.g. {"--log-format", "json"}. The log goes to
  // `log_file`, by default broker.log next to the config.
  BrokerProcess(fs::path config_file, fs::path state_dir, std::vector<std::string> global_args = {},
                fs::path log_file = {});
  ~BrokerProcess();

  // Starts and waits until runtime.json names the admin port and /readyz answers.
  void start();
  void kill_hard();  // SIGKILL, as a crash
  int stop();        // SIGTERM; returns the exit status
  void signal(int sig);
  bool running() const { return pid_ > 0; }
  // Runs the broker inside this network namespace (call start() from a thread in it too).
  void set_netns(std::string name) { netns_ = std::move(name); }
  int pid() const { return pid_; }
  uint16_t admin_port() const { return admin_port_; }
  std::string log() const;

  std::unique_ptr<http::HttpsClient> client(const fs::path& ca_file) const;

 private:
  fs::path config_file_;
  fs::path state_dir_;
  fs::path log_file_;
  std::vector<std::string> global_args_;
  std::string netns_;
  int pid_ = -1;
  uint16_t admin_port_ = 0;
};

// Several domains on loopback, each with its own CA, peered with each other: the brokers start
// with placeholder peer URLs, then connect() writes the peer API ports they actually bound and
// sends SIGHUP (which also exercises peers changing live).
class Federation {
 public:
  // `links`: domain -> its peers. Importers use `policy` ("auto" or "manual") for every peer.
  // `gateways`: each domain runs an ingress (port chosen at start, advertised as bound) and an
  // egress (on free loopback ports) inside its broker; otherwise they are configured but off.
  Federation(const std::map<std::string, std::vector<std::string>>& links, const std::string& policy = "auto",
             int stale_after_s = 60, int withdraw_after_s = 600, bool gateways = false);
  // Before start_all(): `d`'s broker runs with `global_args`, e.g. {"--log-format", "json"}.
  void set_global_args(const std::string& d, std::vector<std::string> global_args);
  // Before start_all(): `d`'s peer API on a free port of its own, advertised as it is, and its
  // sources loopback: what its peering bundle tells other domains.
  void advertise_peer_api(const std::string& d);
  void start_all();
  void connect();
  DomainFixture& domain(const std::string& d) { return domains_.at(d); }
  BrokerProcess& broker(const std::string& d) { return *brokers_.at(d); }
  std::unique_ptr<http::HttpsClient> admin(const std::string& d);
  // One series of `d`'s /metrics, e.g. `meshfed_x_total{reason="y"}`: 0 when absent, -1 when
  // the broker does not answer.
  double metric(const std::string& d, const std::string& series);
  uint16_t peer_api_port(const std::string& d) const;
  // The in-process ingress gateway's port, from runtime.json.
  uint16_t ingress_port(const std::string& d) const;
  const fs::path& dir() const { return dir_.path(); }

 private:
  TempDir dir_;
  std::map<std::string, DomainFixture> domains_;
  std::map<std::string, std::unique_ptr<BrokerProcess>> brokers_;
};

// A `meshfed` child process with `args`, its output in `log_file`, inside network namespace
// `netns` when given; returns its pid.
int spawn_meshfed(const std::vector<std::string>& args, const fs::path& log_file, const std::string& netns = "");
// Any program (found on PATH) as a child process, the same way.
int spawn_process(const std::vector<std::string>& argv, const fs::path& log_file, const std::string& netns = "");

// Empty when `promtool check metrics` accepts `exposition`, else what it said.
std::string promtool_check_metrics(const std::string& exposition);
// Empty when `promtool check metrics` can read `exposition` (lint findings about names and HELP,
// which depend on what a peer chose to send, allowed), else what it said.
std::string promtool_parse_problems(const std::string& exposition);

// GET over plain HTTP on 127.0.0.1 (metrics listeners, Prometheus's API).
Result<http::ClientResponse> plain_get(uint16_t port, const std::string& target);

// A real Prometheus on 127.0.0.1:`port` with its data and log in `dir`, scraping what
// `scrape_configs` (YAML, the list under scrape_configs:) says every `interval`. Returns its pid.
int start_prometheus(const fs::path& dir, uint16_t port, const std::string& scrape_configs,
                     const std::string& interval = "1s");
// The result of an instant query (data.result), or an empty array.
nlohmann::json prometheus_query(uint16_t port, const std::string& promql);
// SIGTERM, then waits; returns the exit status.
int stop_process(int pid);

// Runs the meshfed binary with `args`, returns exit code and combined output.
struct CommandResult {
  int exit_code = -1;
  std::string output;
};
CommandResult run_meshfed(const std::vector<std::string>& args, const std::map<std::string, std::string>& env = {});
// The same as another user and group (setpriv; the test must run as root), e.g. "65534".
CommandResult run_meshfed_as(const std::string& user, const std::vector<std::string>& args);

// Convenience for JSON calls with a bearer token.
struct ApiResult {
  int status = 0;
  nlohmann::json body;
  std::map<std::string, std::string> headers;
};
ApiResult api_call(http::HttpsClient& c, const std::string& method, const std::string& target, const std::string& token,
                   const std::optional<nlohmann::json>& body = std::nullopt,
                   std::map<std::string, std::string> headers = {});

}  // namespace meshfed::testing
