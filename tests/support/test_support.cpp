#include "support/test_support.hpp"

#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "meshfed/http/message.hpp"

#include <fcntl.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "meshfed/api/auth.hpp"
#include "meshfed/core/text.hpp"
#include "meshfed/http/message.hpp"
#include "meshfed/pki/pki.hpp"
#include "support/net_support.hpp"

namespace meshfed::testing {

TempDir::TempDir() {
  std::string tmpl = (fs::temp_directory_path() / "meshfed-test-XXXXXX").string();
  if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  if (std::getenv("MESHFED_KEEP_TEST_DIRS")) {  // brokers' logs and stores, for a post-mortem
    std::fprintf(stderr, "kept %s\n", path_.c_str());
    return;
  }
  std::error_code ec;
  fs::remove_all(path_, ec);
}

SmallFileSystem::SmallFileSystem(const fs::path& dir, const std::string& size) : dir_(dir) {
  fs::create_directories(dir);
  mounted_ = ::geteuid() == 0 &&
             std::system(("mount -t tmpfs -o size=" + size + ",mode=0700 tmpfs " + dir.string()).c_str()) == 0;
}

SmallFileSystem::~SmallFileSystem() {
  if (mounted_) (void)std::system(("umount -l " + dir_.string()).c_str());
}

void write_file(const fs::path& p, const std::string& content) {
  fs::create_directories(p.parent_path());
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << content;
  if (!out) throw std::runtime_error("cannot write " + p.string());
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct LogCapture::Impl {
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(10000);
};

void make_pki(const fs::path& dir, const std::string& domain) {
  pki::InitOptions o;
  o.domain = domain;
  o.leaf.ip_addresses = {"127.0.0.1"};
  o.leaf.dns_names = {"localhost"};
  if (auto st = pki::init_domain(dir, o); !st) throw std::runtime_error(st.error().message);
}

MemoryTls handshake_in_memory(SSL_CTX* server_ctx, SSL_CTX* client_ctx) {
  std::shared_ptr<SSL> server(SSL_new(server_ctx), SSL_free);
  std::shared_ptr<SSL> client(SSL_new(client_ctx), SSL_free);
  BIO* server_end = nullptr;
  BIO* client_end = nullptr;
  if (!server || !client || BIO_new_bio_pair(&server_end, 0, &client_end, 0) != 1) return {};
  SSL_set_bio(server.get(), server_end, server_end);
  SSL_set_bio(client.get(), client_end, client_end);
  SSL_set_accept_state(server.get());
  SSL_set_connect_state(client.get());
  // Each round moves every flight one way: TLS 1.3 with a client certificate needs three.
  bool client_done = false, server_done = false;
  for (int round = 0; round < 10 && !(client_done && server_done); ++round) {
    if (!client_done) {
      const int rc = SSL_do_handshake(client.get());
      if (rc <= 0 && SSL_get_error(client.get(), rc) != SSL_ERROR_WANT_READ) return {};
      client_done = rc == 1;
    }
    if (!server_done) {
      const int rc = SSL_do_handshake(server.get());
      if (rc <= 0 && SSL_get_error(server.get(), rc) != SSL_ERROR_WANT_READ) return {};
      server_done = rc == 1;
    }
  }
  if (!client_done || !server_done) return {};
  char byte = 0;
  const int read = SSL_read(client.get(), &byte, 1);  // takes in the tickets, if any; no data follows
  if (read > 0 || SSL_get_error(client.get(), read) != SSL_ERROR_WANT_READ) return {};
  return {server, client};
}

nlohmann::json catalog_export(const std::string& id, const std::string& alias, const std::string& ingress_host,
                              nlohmann::json metrics) {
  return {{"id", id},
          {"alias", alias},
          {"mesh", "default"},
          {"service", "billing"},
          {"port", 9000},
          {"protocol", "tcp"},
          {"sni", id + ".dmz.meshfed"},
          {"ingress", {{"host", ingress_host}, {"port", 15443}}},
          {"metrics", std::move(metrics)},
          {"proxy_protocol", false},
          {"approved_at", "2026-01-01T00:00:00.000Z"},
          {"expires_at", "2099-01-01T00:00:00.000Z"}};
}

nlohmann::json catalog_answer(nlohmann::json exports, const std::string& domain, int64_t revision) {
  return {{"api_version", "v1"},
          {"domain", domain},
          {"revision", revision},
          {"full", true},
          {"exports", std::move(exports)}};
}

void log_to_stderr() { spdlog::set_default_logger(spdlog::stderr_logger_mt("stderr")); }

LogCapture::LogCapture() : impl_(std::make_unique<Impl>()) {
  impl_->sink->set_pattern("%v");
  spdlog::default_logger()->sinks().push_back(impl_->sink);
}

LogCapture::~LogCapture() {
  auto& sinks = spdlog::default_logger()->sinks();
  sinks.erase(std::remove(sinks.begin(), sinks.end(), impl_->sink), sinks.end());
}

std::string LogCapture::text() const {
  std::string out;
  for (const auto& line : impl_->sink->last_formatted()) out += line;
  return out;
}

bool LogCapture::contains(const std::string& needle) const { return text().find(needle) != std::string::npos; }

bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    // Polling interval of the condition check, not a stand-in for synchronisation.
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

void DomainFixture::save_config() const { write_file(config_file, config.dump(2)); }

void DomainFixture::serve_metrics_on(uint16_t port) {
  config["metrics"] = {{"listen", "127.0.0.1:" + std::to_string(port)}, {"peer_scrape_interval_s", 1}};
  save_config();
}

void DomainFixture::offer_only(const std::string& service, uint16_t port, const std::string& protocol) const {
  write_file(dir / "inventory.json", nlohmann::json{{"services",
                                                     {{{"mesh", "default"},
                                                       {"name", service},
                                                       {"address", "127.0.0.1"},
                                                       {"ports", {{{"port", port}, {"protocol", protocol}}}}}}}}
                                         .dump());
}

DomainFixture make_domain(const fs::path& dir, const std::string& domain, const std::vector<std::string>& peers) {
  DomainFixture d;
  d.domain = domain;
  d.dir = dir;
  d.config_file = dir / (domain + ".json");
  d.state_dir = dir / "state";
  make_pki(dir / "pki", domain);

  nlohmann::json tokens = nlohmann::json::array();
  const std::vector<std::pair<std::string, std::vector<std::string>>> people = {
      {"alice", {"requester"}}, {"bob", {"approver"}}, {"carol", {"approver"}}, {"victor", {"viewer"}},
      {"root", {"admin"}},      {"ada", {"admin"}},    {"dave", {"requester"}}, {"gw", {"gateway"}}};
  for (const auto& [name, roles] : people) {
    auto t = api::create_token(name, roles);
    d.tokens[name] = t->token;
    tokens.push_back(nlohmann::json::parse(t->file_entry));
  }
  write_file(dir / "tokens.json", tokens.dump(2));
  write_file(dir / "inventory.json", R"({"services": [
    {"mesh": "default", "name": "payments-api", "address": "127.0.0.1",
     "ports": [{"port": 8443, "protocol": "tcp"}], "labels": {"team": "payments"}},
    {"mesh": "default", "name": "ledger", "address": "127.0.0.1",
     "ports": [{"port": 5432, "protocol": "tcp"}, {"port": 9187, "protocol": "http"}]}]})");

  nlohmann::json peer_list = nlohmann::json::array();
  for (const auto& p : peers) {
    // Each peer gets a CA of its own, never ours.
    const fs::path peer_pki = dir / "peers" / p;
    pki::InitOptions po;
    po.domain = p;
    if (auto st = pki::init_domain(peer_pki, po); !st) throw std::runtime_error(st.error().message);
    peer_list.push_back({{"domain", p}, {"url", "https://127.0.0.1:1"}, {"ca_file", "peers/" + p + "/ca.pem"}});
  }
  d.config = {
      {"domain", domain},
      {"state_dir", "state"},
      {"tls", {{"ca_file", "pki/ca.pem"}, {"cert_file", "pki/broker.pem"}, {"key_file", "pki/broker-key.pem"}}},
      {"admin", {{"listen", "127.0.0.1:0"}, {"tokens_file", "tokens.json"}}},
      {"peers", peer_list},
      {"control_plane", {{"type", "static"}, {"inventory_file", "inventory.json"}, {"imports_dir", "imports"}}}};
  d.save_config();
  return d;
}

BrokerProcess::BrokerProcess(fs::path config_file, fs::path state_dir, std::vector<std::string> global_args,
                             fs::path log_file)
    : config_file_(std::move(config_file)), state_dir_(std::move(state_dir)),
      log_file_(log_file.empty() ? config_file_.parent_path() / "broker.log" : std::move(log_file)),
      global_args_(std::move(global_args)) {}

BrokerProcess::~BrokerProcess() {
  if (pid_ > 0) kill_hard();
}

void BrokerProcess::start() {
  std::error_code ec;
  fs::remove(state_dir_ / "runtime.json", ec);
  std::vector<std::string> args = {"--log-level", "debug"};
  args.insert(args.end(), global_args_.begin(), global_args_.end());
  args.insert(args.end(), {"broker", "--config", config_file_.string()});
  const int pid = spawn_meshfed(args, log_file_, netns_);
  pid_ = pid;
  const bool up = wait_until([&] {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("broker exited during start-up:\n" + log());
    }
    if (!fs::exists(state_dir_ / "runtime.json")) return false;
    auto j = nlohmann::json::parse(read_file(state_dir_ / "runtime.json"), nullptr, false);
    if (j.is_discarded() || j.value("pid", 0) != pid_) return false;
    const std::string admin = j["admin"];
    admin_port_ = static_cast<uint16_t>(std::stoi(admin.substr(admin.rfind(':') + 1)));
    return true;
  });
  if (!up) throw std::runtime_error("broker did not come up:\n" + log());
}

void BrokerProcess::signal(int sig) {
  if (pid_ > 0) ::kill(pid_, sig);
}

void BrokerProcess::kill_hard() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

int BrokerProcess::stop() {
  if (pid_ <= 0) return -1;
  const int status = stop_process(pid_);
  pid_ = -1;
  return status;
}

int spawn_process(const std::vector<std::string>& argv_in, const fs::path& log_file, const std::string& netns) {
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    if (!netns.empty() && !enter_netns(netns)) ::_exit(126);
    const int fd = ::open(log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    std::vector<std::string> all = argv_in;
    std::vector<char*> argv;
    for (auto& a : all) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execvp(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}

int spawn_meshfed(const std::vector<std::string>& args, const fs::path& log_file, const std::string& netns) {
  std::vector<std::string> all = {MESHFED_BINARY};
  all.insert(all.end(), args.begin(), args.end());
  return spawn_process(all, log_file, netns);
}

namespace {

// promtool's exit status: 0 clean, 3 lint findings only, 1 unreadable.
std::pair<int, std::string> run_promtool_check(const std::string& exposition) {
  TempDir dir;
  write_file(dir / "metrics.txt", exposition);
  const std::string cmd =
      "promtool check metrics < " + (dir / "metrics.txt").string() + " > " + (dir / "out.txt").string() + " 2>&1";
  const int rc = std::system(cmd.c_str());
  return {WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, read_file(dir / "out.txt")};
}

}  // namespace

std::string promtool_check_metrics(const std::string& exposition) {
  const auto [rc, said] = run_promtool_check(exposition);
  return rc == 0 ? "" : "promtool check metrics failed:\n" + said;
}

std::string promtool_parse_problems(const std::string& exposition) {
  const auto [rc, said] = run_promtool_check(exposition);
  return rc == 0 || rc == 3 ? "" : "promtool check metrics cannot read it (exit " + std::to_string(rc) + "):\n" + said;
}

int start_prometheus(const fs::path& dir, uint16_t port, const std::string& scrape_configs,
                     const std::string& interval) {
  fs::create_directories(dir / "data");
  write_file(dir / "prometheus.yml", "global:\n  scrape_interval: " + interval + "\n  scrape_timeout: " + interval +
                                         "\nscrape_configs:\n" + scrape_configs);
  return spawn_process(
      {"prometheus", "--config.file=" + (dir / "prometheus.yml").string(),
       "--storage.tsdb.path=" + (dir / "data").string(), "--web.listen-address=127.0.0.1:" + std::to_string(port)},
      dir / "prometheus.log");
}

nlohmann::json prometheus_query(uint16_t port, const std::string& promql) {
  auto r = plain_get(port, "/api/v1/query?query=" + http::percent_encode(promql));
  if (!r || r->status != 200) return nlohmann::json::array();
  auto j = nlohmann::json::parse(r->body, nullptr, false);
  return j.is_object() && j.contains("data") ? j["data"]["result"] : nlohmann::json::array();
}

Result<http::ClientResponse> plain_get(uint16_t port, const std::string& target) {
  http::ClientOptions o;
  o.host = "127.0.0.1";
  o.port = port;
  o.plain = true;
  o.timeout = std::chrono::seconds(10);
  auto c = http::HttpsClient::create(o);
  if (!c) return c.error();
  return (*c)->request("GET", target);
}

int stop_process(int pid) {
  ::kill(pid, SIGTERM);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string BrokerProcess::log() const { return read_file(log_file_); }

std::unique_ptr<http::HttpsClient> BrokerProcess::client(const fs::path& ca_file) const {
  auto c = http::HttpsClient::create(http::ClientOptions::verifying("127.0.0.1", admin_port_, ca_file));
  if (!c) throw std::runtime_error(c.error().message);
  return std::move(c).value();
}

Federation::Federation(const std::map<std::string, std::vector<std::string>>& links, const std::string& policy,
                       int stale_after_s, int withdraw_after_s, bool gateways) {
  int n = 0;
  for (const auto& [d, peers] : links) {
    auto fx = make_domain(dir_ / d, d, {});
    nlohmann::json peer_list = nlohmann::json::array();
    for (const auto& p : peers) {
      peer_list.push_back({{"domain", p},
                           {"url", "https://127.0.0.1:1"},
                           {"ca_file", "../" + p + "/pki/ca.pem"},
                           {"import_policy", policy},
                           {"source_cidrs", {"127.0.0.0/8"}}});
    }
    const int base = 20000 + 100 * n++;
    fx.config["peers"] = peer_list;
    fx.config["peer_api"] = {{"listen", "127.0.0.1:0"}, {"advertise", "127.0.0.1:9443"}};
    fx.config["sync"] = {{"wait_s", std::min(30, stale_after_s / 2)},
                         {"stale_after_s", stale_after_s},
                         {"withdraw_after_s", withdraw_after_s}};
    fx.config["gateways"] = {{"ingress",
                              {{"enabled", false},
                               {"listen", "127.0.0.1:" + std::to_string(base + 99)},
                               {"advertise", "127.0.0.1:15443"},
                               {"cert_file", "pki/ingress.pem"},
                               {"key_file", "pki/ingress-key.pem"}}},
                             {"egress",
                              {{"enabled", false},
                               {"bind", "127.0.0.1"},
                               {"advertise_host", "127.0.0.1"},
                               {"ports", std::to_string(base) + "-" + std::to_string(base + 9)},
                               {"cert_file", "pki/egress.pem"},
                               {"key_file", "pki/egress-key.pem"}}}};
    if (gateways) {
      const uint16_t first = free_port_range(10);
      auto& g = fx.config["gateways"];
      g["ingress"]["enabled"] = true;
      g["ingress"]["listen"] = "127.0.0.1:0";
      g["ingress"]["advertise"] = "127.0.0.1:0";
      g["egress"]["enabled"] = true;
      g["egress"]["ports"] = std::to_string(first) + "-" + std::to_string(first + 9);
    }
    fx.save_config();
    brokers_[d] = std::make_unique<BrokerProcess>(fx.config_file, fx.state_dir);
    domains_[d] = std::move(fx);
  }
}

void Federation::set_global_args(const std::string& d, std::vector<std::string> global_args) {
  const auto& fx = domains_.at(d);
  brokers_.at(d) = std::make_unique<BrokerProcess>(fx.config_file, fx.state_dir, std::move(global_args));
}

void Federation::advertise_peer_api(const std::string& d) {
  auto& fx = domains_.at(d);
  const std::string peer_api = "127.0.0.1:" + std::to_string(free_port_range(1));
  fx.config["peer_api"] = {{"listen", peer_api}, {"advertise", peer_api}};
  fx.config["source_cidrs"] = {"127.0.0.0/8"};
  fx.save_config();
}

void Federation::start_all() {
  for (auto& [d, b] : brokers_) b->start();
}

uint16_t Federation::peer_api_port(const std::string& d) const {
  const auto j = nlohmann::json::parse(read_file(domains_.at(d).state_dir / "runtime.json"));
  const std::string ep = j.at("peer_api");
  return static_cast<uint16_t>(std::stoi(ep.substr(ep.rfind(':') + 1)));
}

uint16_t Federation::ingress_port(const std::string& d) const {
  const auto j = nlohmann::json::parse(read_file(domains_.at(d).state_dir / "runtime.json"));
  const std::string ep = j.at("ingress");
  return static_cast<uint16_t>(std::stoi(ep.substr(ep.rfind(':') + 1)));
}

void Federation::connect() {
  for (auto& [d, fx] : domains_) {
    for (auto& p : fx.config["peers"]) {
      p["url"] = "https://127.0.0.1:" + std::to_string(peer_api_port(p["domain"].get<std::string>()));
    }
    fx.save_config();
    brokers_.at(d)->signal(SIGHUP);
  }
}

std::unique_ptr<http::HttpsClient> Federation::admin(const std::string& d) {
  return brokers_.at(d)->client(domains_.at(d).dir / "pki/ca.pem");
}

double Federation::metric(const std::string& d, const std::string& series) {
  auto res = admin(d)->request("GET", "/metrics");
  if (!res) return -1;
  for (const auto& line : split(res->body, '\n')) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  return 0;
}

namespace {

CommandResult run_meshfed_with(const std::string& prefix, const std::vector<std::string>& args,
                               const std::map<std::string, std::string>& env) {
  std::string cmd = prefix;
  for (const auto& [k, v] : env) cmd += k + "='" + v + "' ";
  cmd += MESHFED_BINARY;
  for (const auto& a : args) {
    std::string quoted = "'";
    for (char c : a) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
    cmd += " " + quoted + "'";
  }
  cmd += " 2>&1";
  CommandResult r;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) throw std::runtime_error("popen failed");
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  const int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

}  // namespace

CommandResult run_meshfed(const std::vector<std::string>& args, const std::map<std::string, std::string>& env) {
  return run_meshfed_with("", args, env);
}

CommandResult run_meshfed_as(const std::string& user, const std::vector<std::string>& args) {
  return run_meshfed_with("setpriv --reuid=" + user + " --regid=" + user + " --clear-groups ", args, {});
}

ApiResult api_call(http::HttpsClient& c, const std::string& method, const std::string& target, const std::string& token,
                   const std::optional<nlohmann::json>& body, std::map<std::string, std::string> headers) {
  if (!token.empty()) headers["Authorization"] = "Bearer " + token;
  std::string payload;
  if (body) {
    headers.emplace("Content-Type", "application/json");
    payload = body->dump();
  }
  auto res = c.request(method, target, headers, payload);
  if (!res) throw std::runtime_error("request failed: " + res.error().message);
  ApiResult r;
  r.status = res->status;
  r.headers = res->headers;
  r.body = nlohmann::json::parse(res->body, nullptr, false);
  return r;
}

}  // namespace meshfed::testing
