// The soak: three domains on this machine, one of them (pci) on three replicas sharing one
// PostgreSQL and writing to the Kuma emulator, worked by operators and hit by faults for a given
// time, the invariants of a broker that runs for years checked while it runs. It prints a table
// (operations, faults, checks, violations) and exits 1 on any violation, 2 when it could not run
// or was interrupted (SIGINT, SIGTERM: what it started is stopped and removed all the same).
//
//   meshfed_soak --seconds 180 [--report FILE]
//
// Domains and what plays them, all real `meshfed` processes on loopback unless said:
//   internal  SQLite, its state folder on a 64 MB tmpfs the soak fills and frees (root only);
//             imports from pci, dmz, a churning peer (rogue, played in-process with a CA of its
//             own) and a blackholed one (ghost: a listener that drops SYNs); 500 idle strangers
//             hold connections to its peer and admin APIs
//   dmz       SQLite
//   pci       replicas pci-a, pci-b, pci-c on PostgreSQL (this program's own cluster), control
//             plane the Kuma emulator; internal and dmz reach it through pci-a's peer API
#include <arpa/inet.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "support/net_support.hpp"
#include "support/postgres_cluster.hpp"
#include "support/test_support.hpp"

namespace meshfed::testing {
namespace {

// SIGINT or SIGTERM: the run ends early, and everything it started is stopped and removed as at
// its end (the table says it was interrupted).
std::atomic<bool> interrupted{false};

using nlohmann::json;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr auto kRevocationBound = 30s;       // a killed pci-a restarts within it
constexpr auto kStopBound = 12s;             // the drain (10 s) plus 2 s
constexpr auto kLease = 4000;                // ms: a new term writes one lease after its election
constexpr int64_t kGrowthBudget = 20 << 20;  // bytes, plus kGrowthPerDay over the run
constexpr double kGrowthPerDay = 50.0 * (1 << 20);
constexpr int64_t kRssSlack = 16 << 20;  // bytes over the warm-up's peak
constexpr int kStrangers = 500;

const char* const kLost = "no acknowledged write lost";
const char* const kExpiry = "expiries happen within 5 s of their time";
const char* const kQuarantine = "no quarantined peer's import active";
const char* const kOneTerm = "one term writes to the control plane at a time";
const char* const kReach = "revocation reaches every importer within 30 s";
const char* const kDisk = "state folder growth within budget";
const char* const kRss = "RSS flat after warm-up";
const char* const kStop = "every SIGTERM ends within 12 s, exit 0";
const char* const kAudit = "audit verify passes on every replica and domain";
const char* const kFaults = "every scheduled fault happened";

// What the run did and found. An invariant never checked counts as violated: a soak whose
// checks did not run proves nothing.
class Tally {
 public:
  Tally() {
    for (const char* i : {kLost, kExpiry, kQuarantine, kOneTerm, kReach, kDisk, kRss, kStop, kAudit, kFaults}) {
      invariants_[i];
    }
  }
  void operation(const std::string& what, int64_t n = 1) {
    std::lock_guard lock(mu_);
    operations_[what] += n;
  }
  void fault(const std::string& what, int64_t n = 1) {
    std::lock_guard lock(mu_);
    faults_[what] += n;
  }
  bool check(const std::string& invariant, bool held, const std::string& seen = "") {
    std::lock_guard lock(mu_);
    auto& [checks, violations] = invariants_.at(invariant);
    ++checks;
    if (!held) {
      ++violations;
      if (seen_.size() < 20) seen_.push_back(invariant + ": " + seen);
      std::cerr << "VIOLATION " << invariant << ": " << seen << std::endl;
    }
    return held;
  }
  int64_t faults(const std::string& what) const {
    std::lock_guard lock(mu_);
    const auto it = faults_.find(what);
    return it == faults_.end() ? 0 : it->second;
  }
  int64_t violations() const {
    std::lock_guard lock(mu_);
    int64_t n = 0;
    for (const auto& [name, c] : invariants_) n += c.second + (c.first == 0);
    return n;
  }
  std::string table(double seconds) const {
    std::lock_guard lock(mu_);
    std::ostringstream out;
    out << "Ran " << static_cast<int64_t>(seconds) << " s" << (interrupted ? ", interrupted" : "")
        << ".\n\n| operations | count |\n| --- | --- |\n";
    for (const auto& [what, n] : operations_) out << "| " << what << " | " << n << " |\n";
    out << "\n| faults injected | count |\n| --- | --- |\n";
    for (const auto& [what, n] : faults_) out << "| " << what << " | " << n << " |\n";
    out << "\n| invariant | checks | violations |\n| --- | --- | --- |\n";
    int64_t total = 0;
    for (const auto& [name, c] : invariants_) {
      out << "| " << name << " | " << c.first << " | " << c.second << (c.first == 0 ? " (never checked)" : "")
          << " |\n";
      total += c.second + (c.first == 0);
    }
    out << "\nviolations: " << total << "\n";
    for (const auto& s : seen_) out << "- " << s << "\n";
    return out.str();
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, int64_t> operations_, faults_;
  std::map<std::string, std::pair<int64_t, int64_t>> invariants_;  // checks, violations
  std::vector<std::string> seen_;
};

// The first column of each row `sql` returns, on a connection of its own.
std::vector<std::string> sql_column(const std::string& conninfo, const std::string& sql) {
  std::unique_ptr<PGconn, decltype(&PQfinish)> conn(PQconnectdb((conninfo + " connect_timeout=5").c_str()), &PQfinish);
  std::unique_ptr<PGresult, decltype(&PQclear)> r(PQexec(conn.get(), sql.c_str()), &PQclear);
  std::vector<std::string> out;
  if (PQresultStatus(r.get()) != PGRES_TUPLES_OK) return out;
  for (int i = 0; i < PQntuples(r.get()); ++i) out.emplace_back(PQgetvalue(r.get(), i, 0));
  return out;
}

int64_t rss_bytes(int pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6)) * 1024;
  }
  return -1;
}

// Bytes in `dir`'s files, but the filler the soak writes to fill the disk.
int64_t folder_bytes(const fs::path& dir) {
  int64_t n = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (it->is_regular_file(ec) && it->path().filename() != "filler") n += static_cast<int64_t>(it->file_size(ec));
  }
  return n;
}

// A broker (or replica) the soak calls; its admin port changes when it restarts.
struct Endpoint {
  std::string domain;
  std::unique_ptr<BrokerProcess> process;
  fs::path config;
  std::atomic<uint16_t> admin_port{0};
  std::atomic<int> pid{-1};
  std::atomic<bool> up{false};
};

// Strangers: TCP connections that never say a word, kept at kStrangers. Whatever the brokers
// close (an eviction) is opened again, from one of 20 loopback source addresses.
class Strangers {
 public:
  explicit Strangers(std::vector<uint16_t> ports) : ports_(std::move(ports)) {}
  ~Strangers() {
    for (int fd : fds_)
      if (fd >= 0) ::close(fd);
  }
  // Opens what is missing, closes what the server ended; the number reopened.
  int64_t top_up() {
    int64_t reopened = 0;
    fds_.resize(kStrangers, -1);
    std::vector<pollfd> polls;
    for (int fd : fds_) polls.push_back({fd, POLLIN, 0});
    (void)::poll(polls.data(), polls.size(), 0);
    for (size_t i = 0; i < fds_.size(); ++i) {
      if (fds_[i] >= 0 && (polls[i].revents & (POLLIN | POLLHUP | POLLERR))) {
        ::close(fds_[i]);
        fds_[i] = -1;
        ++reopened;
      }
      if (fds_[i] < 0) fds_[i] = open(i);
    }
    return reopened;
  }
  int open_now() const {
    return static_cast<int>(std::count_if(fds_.begin(), fds_.end(), [](int fd) { return fd >= 0; }));
  }

 private:
  int open(size_t i) const {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    timeval tv{1, 0};
    (void)::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in from{};
    from.sin_family = AF_INET;
    from.sin_addr.s_addr = htonl(0x7f000500u + 1 + static_cast<uint32_t>(i % 20));  // 127.0.5.1-20
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    to.sin_port = htons(ports_[i % ports_.size()]);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0 ||
        ::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
      ::close(fd);
      return -1;
    }
    return fd;
  }
  std::vector<uint16_t> ports_;
  std::vector<int> fds_;
};

class Soak {
 public:
  explicit Soak(std::chrono::seconds length)
      : length_(length),
        fed_({{"internal", {"pci", "dmz"}}, {"dmz", {"internal", "pci"}}, {"pci", {"internal", "dmz"}}}),
        disk_(fed_.domain("internal").state_dir, "64m") {}

  // Runs the soak, prints its table (and writes it to `report` when given); the exit status.
  int run(const std::string& report);

 private:
  // --- setup ---------------------------------------------------------------------------------
  void build();
  void add_peer(DomainFixture& d, const std::string& peer, const std::string& url);
  http::Response rogue_answer(const http::Request& req);

  // --- the API ---------------------------------------------------------------------------------
  ApiResult call(const std::string& endpoint, const std::string& method, const std::string& target,
                 const std::string& who, const std::optional<json>& body = std::nullopt);
  std::vector<std::string> endpoints_of(const std::string& domain) const;
  // A pci replica that is up, or empty.
  std::string any_up(const std::string& domain) const;
  // Every export of `domain` (id -> state), paged; nullopt when a page could not be read.
  std::optional<std::map<std::string, std::string>> exports_of(const std::string& domain);

  // --- workers -----------------------------------------------------------------------------------
  void operate(const std::string& domain, std::chrono::milliseconds pace);
  void quarantine_and_release();
  void watch_terms();
  void watch_revocations();
  void sample();
  void keep_strangers();
  void sleep_for(std::chrono::milliseconds d) {
    std::unique_lock lock(stop_mu_);
    stop_cv_.wait_for(lock, d, [&] { return stopping_.load(); });
  }

  // --- faults ----------------------------------------------------------------------------------
  void inject_faults();
  std::string leader();
  void restart(const std::string& id, bool orderly);
  void start_endpoint(Endpoint& e);

  // --- checks ------------------------------------------------------------------------------------
  void check_ledger(const std::string& domain);
  void check_growth_and_rss();
  // A fault that never happened proves nothing: each of the schedule's must have.
  void check_faults();
  void stop_all_and_verify_audit();

  struct Acked {
    std::string state;            // pending, approved or revoked: what the broker acknowledged last
    Clock::time_point expires{};  // approved with a ttl: when it expires
  };
  struct Revocation {
    std::string domain, id;
    Clock::time_point acked;
    std::set<std::string> importers_left;
  };
  struct Sample {
    double at_s;
    int64_t folder;
    std::map<std::string, int64_t> rss;
  };

  std::chrono::seconds length_;
  Clock::time_point started_;
  Federation fed_;
  SmallFileSystem disk_;
  Tally tally_;
  std::string conninfo_;
  std::unique_ptr<KumaEmulator> kuma_;
  std::unique_ptr<SynDroppingListener> ghost_;
  std::unique_ptr<HttpsFixture> rogue_;
  std::map<std::string, std::unique_ptr<Endpoint>> endpoints_;  // fixed once built

  std::atomic<bool> stopping_{false};
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;

  std::mutex ledger_mu_;
  std::map<std::pair<std::string, std::string>, Acked> ledger_;  // (domain, id)
  std::deque<Revocation> revocations_;
  std::map<std::string, std::string> approved_now_;  // pci export id -> "": approved, not yet revoked

  std::mutex rogue_mu_;
  int64_t rogue_stable_revision_ = 0;

  std::mutex samples_mu_;
  std::vector<Sample> samples_;
};

void Soak::add_peer(DomainFixture& d, const std::string& peer, const std::string& url) {
  for (auto& p : d.config["peers"]) {
    if (p["domain"] == peer) {
      p["url"] = url;
      return;
    }
  }
  d.config["peers"].push_back({{"domain", peer},
                               {"url", url},
                               {"ca_file", "../" + peer + "/pki/ca.pem"},
                               {"import_policy", "auto"},
                               {"source_cidrs", {"127.0.0.0/8"}}});
}

// An export as rogue lists it: valid in every field, so that what holds it back is its budget.
json rogue_export(const std::string& id) {
  json e = catalog_export(id, id);
  e["sni"] = id + ".rogue.meshfed";
  return e;
}

// The rogue peer: for the first half of every minute, 1,000 fresh export ids every second (far
// over its change budget); for the second half one catalog of 50 that does not change.
http::Response Soak::rogue_answer(const http::Request& req) {
  const int64_t s = std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - started_).count();
  json exports = json::array();
  int64_t revision = 0;
  if (s % 60 < 30) {
    revision = s + 1;
    for (int i = 0; i < 1000; ++i) {
      const std::string id = "r" + std::to_string(s) + "-" + std::to_string(i);
      exports.push_back(rogue_export(id));
    }
    tally_.operation("rogue answers of 1,000 fresh ids");
  } else {
    {
      std::lock_guard lock(rogue_mu_);
      if (rogue_stable_revision_ <= s - 30) rogue_stable_revision_ = s + 1;
      revision = rogue_stable_revision_;
    }
    // Asked again for what the importer has: a long poll would wait; this one waits a second.
    if (req.query_param("since").value_or("") == std::to_string(revision)) std::this_thread::sleep_for(1s);
    for (int i = 0; i < 50; ++i) exports.push_back(rogue_export("stable-" + std::to_string(i)));
    tally_.operation("rogue answers of 50 steady ids");
  }
  return http::Response{200, "application/json", {}, catalog_answer(exports, "rogue", revision).dump(), "", {}};
}

void Soak::build() {
  const fs::path root = fed_.dir();
  make_pki(root / "rogue/pki", "rogue");
  make_pki(root / "ghost/pki", "ghost");
  ghost_ = std::make_unique<SynDroppingListener>();
  rogue_ = std::make_unique<HttpsFixture>(root / "rogue/pki/broker.pem", root / "rogue/pki/broker-key.pem",
                                          [this](const http::Request& r) { return rogue_answer(r); });

  auto& pci = fed_.domain("pci");
  conninfo_ = PostgresCluster::shared().create_database();
  write_file(pci.dir / "pg-url", conninfo_ + "\n");
  pci.config["store"] = {{"type", "postgres"}, {"url_file", "pg-url"}};
  kuma_ = std::make_unique<KumaEmulator>(pci.dir / "kuma");
  pci.config["control_plane"] = kuma_->serve_domain(pci.dir);
  // Fixed peer API ports: a restarted replica comes back where its peers look for it.
  const uint16_t pci_ports = free_port_range(3);
  const std::vector<std::string> replicas = {"pci-a", "pci-b", "pci-c"};

  // Everyone starts with placeholder peers, then learns where the others listen.
  auto& internal = fed_.domain("internal");
  auto& dmz = fed_.domain("dmz");
  add_peer(internal, "rogue", "https://127.0.0.1:" + std::to_string(rogue_->port()));
  add_peer(internal, "ghost", "https://127.0.0.1:" + std::to_string(ghost_->port()));
  internal.save_config();
  for (auto* d : {&internal, &dmz}) {
    auto e = std::make_unique<Endpoint>();
    e->domain = d->domain;
    e->config = d->config_file;
    e->process = std::make_unique<BrokerProcess>(d->config_file, d->state_dir);
    endpoints_[d->domain] = std::move(e);
  }
  for (size_t i = 0; i < replicas.size(); ++i) {
    json cfg = pci.config;
    cfg["replica_id"] = replicas[i];
    cfg["state_dir"] = "state-" + replicas[i];
    const std::string listen = "127.0.0.1:" + std::to_string(pci_ports + i);
    cfg["peer_api"] = {{"listen", listen}, {"advertise", listen}};
    const auto file = pci.dir / (replicas[i] + ".json");
    write_file(file, cfg.dump(2));
    auto e = std::make_unique<Endpoint>();
    e->domain = "pci";
    e->config = file;
    e->process = std::make_unique<BrokerProcess>(file, pci.dir / ("state-" + replicas[i]), std::vector<std::string>{},
                                                 pci.dir / (replicas[i] + ".log"));
    endpoints_[replicas[i]] = std::move(e);
  }
  for (auto& [id, e] : endpoints_) start_endpoint(*e);

  const std::string pci_url = "https://127.0.0.1:" + std::to_string(pci_ports);  // pci-a
  add_peer(internal, "pci", pci_url);
  add_peer(internal, "dmz", "https://127.0.0.1:" + std::to_string(fed_.peer_api_port("dmz")));
  add_peer(dmz, "pci", pci_url);
  add_peer(dmz, "internal", "https://127.0.0.1:" + std::to_string(fed_.peer_api_port("internal")));
  internal.save_config();
  dmz.save_config();
  add_peer(pci, "internal", "https://127.0.0.1:" + std::to_string(fed_.peer_api_port("internal")));
  add_peer(pci, "dmz", "https://127.0.0.1:" + std::to_string(fed_.peer_api_port("dmz")));
  for (size_t i = 0; i < replicas.size(); ++i) {
    json cfg = json::parse(read_file(endpoints_.at(replicas[i])->config));
    cfg["peers"] = pci.config["peers"];
    write_file(endpoints_.at(replicas[i])->config, cfg.dump(2));
  }
  for (auto& [id, e] : endpoints_) e->process->signal(SIGHUP);
  const bool federated = wait_until(
      [&] {
        for (const auto& [id, e] : endpoints_) {
          try {
            const auto peers = call(id, "GET", "/api/v1/peers", "victor").body;
            for (const auto& p : peers["items"]) {
              const std::string d = p["domain"];
              if ((d == "pci" || d == "dmz" || d == "internal") && p.value("state", "") != "connected") return false;
            }
          } catch (const std::exception&) {
            return false;
          }
        }
        return true;
      },
      60s);
  if (!federated) throw std::runtime_error("the domains did not connect to each other within 60 s");
}

void Soak::start_endpoint(Endpoint& e) {
  e.process->start();
  e.admin_port = e.process->admin_port();
  e.pid = e.process->pid();
  e.up = true;
}

ApiResult Soak::call(const std::string& endpoint, const std::string& method, const std::string& target,
                     const std::string& who, const std::optional<json>& body) {
  const Endpoint& e = *endpoints_.at(endpoint);
  const auto& d = fed_.domain(e.domain);
  auto options = http::ClientOptions::verifying("127.0.0.1", e.admin_port.load(), d.dir / "pki/ca.pem");
  options.timeout = 15s;
  auto c = http::HttpsClient::create(options);
  if (!c) throw std::runtime_error(c.error().message);
  return api_call(**c, method, target, d.tokens.at(who), body);
}

std::vector<std::string> Soak::endpoints_of(const std::string& domain) const {
  std::vector<std::string> out;
  for (const auto& [id, e] : endpoints_) {
    if (e->domain == domain) out.push_back(id);
  }
  return out;
}

std::string Soak::any_up(const std::string& domain) const {
  for (const auto& id : endpoints_of(domain)) {
    if (endpoints_.at(id)->up) return id;
  }
  return "";
}

std::optional<std::map<std::string, std::string>> Soak::exports_of(const std::string& domain) {
  std::map<std::string, std::string> states;
  std::string after;
  for (;;) {
    const std::string on = any_up(domain);
    if (on.empty()) return std::nullopt;
    const auto r = call(on, "GET", "/api/v1/exports?limit=1000" + (after.empty() ? "" : "&after=" + after), "victor");
    if (r.status != 200) return std::nullopt;
    for (const auto& e : r.body["items"]) states[e["id"]] = e["state"];
    if (!r.body["next"].is_string()) return states;
    after = r.body["next"];
  }
}

// Operators at work in `domain`: exports requested on one broker, approved on the next (a
// quarter of them for 20 s), revoked on the third once more than six are open. A refusal (a
// full disk, a paused database, a replica restarting) is shrugged off: what counts is that
// nothing the broker acknowledged is lost.
void Soak::operate(const std::string& domain, std::chrono::milliseconds pace) {
  const auto on = endpoints_of(domain);
  std::vector<std::string> peers;
  for (const auto& p : fed_.domain(domain).config["peers"]) {
    const std::string name = p["domain"];
    if (name == "pci" || name == "dmz" || name == "internal") peers.push_back(name);
  }
  std::deque<std::string> open;
  for (int n = 0; !stopping_; ++n) {
    sleep_for(pace);  // the operators' pace, not a wait for an outcome
    try {
      const bool short_lived = n % 4 == 3;
      json body = {{"mesh", "default"},
                   {"service", "payments-api"},
                   {"port", 8443},
                   {"peers", peers},
                   {"alias", domain + "-" + std::to_string(n)},
                   {"reason", "soak"}};
      if (short_lived) body["ttl_s"] = 20;
      const auto requested = call(on[n % on.size()], "POST", "/api/v1/exports", "alice", body);
      if (requested.status != 201) continue;
      const std::string id = requested.body["id"];
      {
        std::lock_guard lock(ledger_mu_);
        ledger_[{domain, id}] = {"pending", {}};
      }
      tally_.operation("exports requested (" + domain + ")");
      if (call(on[(n + 1) % on.size()], "POST", "/api/v1/exports/" + id + "/approve", "bob").status != 200) continue;
      {
        std::lock_guard lock(ledger_mu_);
        ledger_[{domain, id}] = {"approved", short_lived ? Clock::now() + 20s : Clock::time_point{}};
        if (domain == "pci" && !short_lived) approved_now_[id];
      }
      tally_.operation(short_lived ? "exports approved for 20 s (" + domain + ")"
                                   : "exports approved (" + domain + ")");
      if (!short_lived) open.push_back(id);
      while (open.size() > 6) {
        const std::string oldest = open.front();
        if (call(on[(n + 2) % on.size()], "POST", "/api/v1/exports/" + oldest + "/revoke", "bob").status != 200) break;
        const auto acked = Clock::now();
        open.pop_front();
        std::lock_guard lock(ledger_mu_);
        ledger_[{domain, oldest}] = {"revoked", {}};
        approved_now_.erase(oldest);
        revocations_.push_back({domain, oldest, acked, std::set<std::string>(peers.begin(), peers.end())});
        tally_.operation("exports revoked (" + domain + ")");
      }
    } catch (const std::exception&) {
      // a broker that does not answer now (restarting, its database paused)
    }
  }
}

// internal quarantines pci every few seconds, looks at each of pci's approved exports there
// for two seconds (none may be active while the quarantine holds), then releases it.
void Soak::quarantine_and_release() {
  const json why = {{"reason", "soak"}};
  while (!stopping_) {
    sleep_for(2s);
    if (stopping_) break;
    try {
      if (call("internal", "POST", "/api/v1/peers/pci/quarantine", "root", why).status != 200) continue;
    } catch (const std::exception&) {
      continue;
    }
    tally_.operation("quarantines of pci at internal");
    const auto until = Clock::now() + 2s;
    while (Clock::now() < until) {
      std::vector<std::string> ids;
      {
        std::lock_guard lock(ledger_mu_);
        for (const auto& [id, unused] : approved_now_) ids.push_back(id);
      }
      for (const auto& id : ids) {
        try {
          const auto r = call("internal", "GET", "/api/v1/imports/pci." + id, "victor");
          if (r.status == 200) {
            tally_.check(kQuarantine, r.body.value("state", "") != "active", "pci." + id + " active while quarantined");
          }
        } catch (const std::exception&) {
        }
      }
      sleep_for(200ms);
    }
    // Released only once acknowledged (a full disk refuses it): until then pci stays quarantined.
    for (;;) {
      try {
        if (call("internal", "POST", "/api/v1/peers/pci/release", "root", why).status == 200) break;
      } catch (const std::exception&) {
      }
      if (stopping_) return;
      sleep_for(500ms);
    }
    tally_.operation("releases of pci at internal");
  }
}

// Every write the Kuma emulator received carries a term; terms never go back; no write of a term
// arrives once the next term may write (one lease after its election, on PostgreSQL's clock).
void Soak::watch_terms() {
  size_t seen = 0;
  int64_t highest = 0;
  while (!stopping_) {
    sleep_for(1s);
    const json writes = kuma_->call("GET", "/_emulator/writes?since=" + std::to_string(seen)).second;
    if (!writes.is_array() || writes.empty()) continue;
    std::map<int64_t, int64_t> started;  // term -> its election, ms
    for (const auto& row : sql_column(conninfo_, "SELECT term || ' ' || started_ms FROM leader_terms")) {
      started[std::stoll(row.substr(0, row.find(' ')))] = std::stoll(row.substr(row.find(' ') + 1));
    }
    // A write is made under a term, so a term exists: none read means the database did not
    // answer (paused), and these writes are checked next round instead.
    if (started.empty()) continue;
    for (const auto& w : writes) {
      ++seen;
      if (!tally_.check(kOneTerm, w["term"].is_number(), "a write without a term: " + w.dump())) continue;
      const int64_t t = w["term"];
      tally_.check(kOneTerm, t >= highest,
                   "term " + std::to_string(t) + " wrote after term " + std::to_string(highest));
      highest = std::max(highest, t);
      const auto next = started.upper_bound(t);
      if (next != started.end()) {
        tally_.check(
            kOneTerm, w["at_ms"].get<int64_t>() < next->second + kLease,
            "term " + std::to_string(t) + " wrote after term " + std::to_string(next->first) + " could: " + w.dump());
      }
    }
    tally_.operation("control-plane writes recorded", static_cast<int64_t>(writes.size()));
  }
}

// Each acknowledged revocation: every importer's import of it is not active within the bound.
void Soak::watch_revocations() {
  while (!stopping_) {
    sleep_for(500ms);
    std::deque<Revocation> pending;
    {
      std::lock_guard lock(ledger_mu_);
      pending.swap(revocations_);
    }
    std::deque<Revocation> left;
    for (auto& r : pending) {
      for (auto it = r.importers_left.begin(); it != r.importers_left.end();) {
        const std::string on = any_up(*it);
        bool reached = false;
        try {
          if (!on.empty()) {
            const auto got = call(on, "GET", "/api/v1/imports/" + r.domain + "." + r.id, "victor");
            reached = got.status == 404 || (got.status == 200 && got.body.value("state", "") != "active");
          }
        } catch (const std::exception&) {
        }
        const auto took = Clock::now() - r.acked;
        if (reached || took > kRevocationBound) {
          tally_.check(kReach, reached,
                       r.domain + "'s revocation of " + r.id + " not at " + *it + " after " +
                           std::to_string(std::chrono::duration_cast<std::chrono::seconds>(took).count()) + " s");
          it = r.importers_left.erase(it);
        } else {
          ++it;
        }
      }
      if (!r.importers_left.empty()) left.push_back(std::move(r));
    }
    std::lock_guard lock(ledger_mu_);
    for (auto& r : left) revocations_.push_front(std::move(r));
  }
}

// Every 2 s: internal's state folder, the RSS of the brokers that are never restarted, and
// whether rogue is over its budget (the fault it injects by itself).
void Soak::sample() {
  while (!stopping_) {
    Sample s;
    s.at_s = std::chrono::duration<double>(Clock::now() - started_).count();
    s.folder = folder_bytes(fed_.domain("internal").state_dir);
    for (const std::string id : {"internal", "dmz"}) s.rss[id] = rss_bytes(endpoints_.at(id)->pid);
    try {
      const json peers = call("internal", "GET", "/api/v1/peers", "victor").body;  // kept: the loop reads it
      for (const auto& p : peers["items"]) {
        if (p["domain"] == "rogue" && p.value("state", "") == "flapping") {
          tally_.fault("samples (every 2 s) with rogue over its change budget");
        }
      }
    } catch (const std::exception&) {
    }
    {
      std::lock_guard lock(samples_mu_);
      samples_.push_back(s);
    }
    sleep_for(2s);
  }
}

void Soak::keep_strangers() {
  Strangers strangers({fed_.peer_api_port("internal"), endpoints_.at("internal")->admin_port.load()});
  while (!stopping_) {
    const int64_t reopened = strangers.top_up();
    if (reopened > 0) tally_.fault("idle stranger connections ended by a broker and opened again", reopened);
    sleep_for(1s);
  }
  tally_.fault("idle strangers held at the end", strangers.open_now());
}

std::string Soak::leader() {
  for (const auto& id : endpoints_of("pci")) {
    if (!endpoints_.at(id)->up) continue;
    try {
      const auto peers = call(id, "GET", "/api/v1/replicas", "victor").body;
      for (const auto& r : peers["items"]) {
        if (r["role"] == "leader") return r["id"];
      }
    } catch (const std::exception&) {
    }
  }
  return "";
}

// A pci replica killed (kill -9) or stopped (SIGTERM, timed), then started again.
void Soak::restart(const std::string& id, bool orderly) {
  Endpoint& e = *endpoints_.at(id);
  e.up = false;
  if (orderly) {
    const auto asked = Clock::now();
    const int status = e.process->stop();
    const auto took = Clock::now() - asked;
    tally_.check(kStop, status == 0 && took < kStopBound,
                 id + " exit " + std::to_string(status) + " after " +
                     std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(took).count()) + " ms");
    tally_.fault("SIGTERM to a replica");
  } else {
    e.process->kill_hard();
    tally_.fault("kill -9 of the leader");
  }
  for (int attempt = 0;; ++attempt) {
    try {
      start_endpoint(e);
      return;
    } catch (const std::exception& ex) {
      if (attempt == 30) throw;
      std::this_thread::sleep_for(1s);  // PostgreSQL may be paused: try again
    }
  }
}

// The faults, on a one-minute schedule: the leader killed at :10, internal's disk full from :20
// to :27, PostgreSQL paused at :35 for 5 s, a follower stopped with SIGTERM at :50, a SIGHUP to
// one broker every 5 s; the rogue churns for the first half of each minute by itself.
void Soak::inject_faults() {
  const auto filler = fed_.domain("internal").state_dir / "filler";
  int64_t last = -1;
  int reload = 0;
  while (Clock::now() - started_ < length_ && !interrupted) {
    const int64_t s = std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - started_).count();
    if (s == last) {
      std::this_thread::sleep_for(100ms);  // the schedule's tick
      continue;
    }
    last = s;
    const int64_t at = s % 60;
    if (at == 10) {
      const std::string l = leader();
      if (!l.empty()) {
        restart(l, false);
        check_ledger("pci");
      }
    }
    if (at == 20 && disk_.mounted()) {
      (void)std::system(("dd if=/dev/zero of=" + filler.string() + " bs=64k 2>/dev/null").c_str());
      tally_.fault("internal's disk filled (7 s)");
    }
    if (at == 27) {
      std::error_code ec;
      fs::remove(filler, ec);
    }
    if (at == 35) {
      PostgresCluster::shared().pause();
      std::this_thread::sleep_for(5s);  // the fault's length
      PostgresCluster::shared().resume();
      tally_.fault("PostgreSQL paused (SIGSTOP, 5 s)");
    }
    if (at == 50) {
      const std::string l = leader();
      for (const auto& id : endpoints_of("pci")) {
        if (id != l) {
          restart(id, true);
          break;
        }
      }
    }
    if (s % 5 == 0) {
      static const std::vector<std::string> order = {"internal", "pci-a", "dmz", "pci-b", "internal", "pci-c"};
      const std::string& id = order[reload++ % order.size()];
      if (endpoints_.at(id)->up) {
        endpoints_.at(id)->process->signal(SIGHUP);
        tally_.fault("SIGHUP reloads");
      }
    }
  }
}

// Every acknowledged export is there in at least the state acknowledged, and short-lived ones
// expired on time. What was acknowledged is taken before the listing: an operator's
// acknowledgement that arrives while the pages are read is checked next time.
void Soak::check_ledger(const std::string& domain) {
  std::map<std::pair<std::string, std::string>, Acked> ledger;
  {
    std::lock_guard lock(ledger_mu_);
    ledger = ledger_;
  }
  const auto now = Clock::now();
  std::optional<std::map<std::string, std::string>> states;
  for (int attempt = 0; attempt < 30 && !states; ++attempt) {
    try {
      states = exports_of(domain);
    } catch (const std::exception&) {
    }
    if (!states) std::this_thread::sleep_for(1s);  // a replica restarting: ask again
  }
  if (!tally_.check(kLost, states.has_value(), domain + "'s exports could not be listed for 30 s")) return;
  static const std::map<std::string, std::set<std::string>> kMayBe = {
      {"pending", {"pending", "approved", "rejected", "cancelled", "revoked", "expired"}},
      {"approved", {"approved", "revoked", "expired"}},
      {"revoked", {"revoked"}}};
  for (const auto& [key, acked] : ledger) {
    if (key.first != domain) continue;
    const auto it = states->find(key.second);
    const std::string now_state = it == states->end() ? "(missing)" : it->second;
    tally_.check(kLost, kMayBe.at(acked.state).count(now_state) > 0,
                 domain + " export " + key.second + " acknowledged " + acked.state + ", now " + now_state);
    if (acked.expires != Clock::time_point{} && now > acked.expires + 5s) {
      tally_.check(kExpiry, now_state == "expired" || now_state == "revoked",
                   domain + " export " + key.second + " still " + now_state + " past its expiry");
    }
  }
}

// internal's state folder grows at most the budget over the run after warm-up (the first fifth);
// the RSS of the brokers never restarted does not grow in the last half past the peak of the
// second quarter.
void Soak::check_growth_and_rss() {
  std::vector<Sample> samples;
  {
    std::lock_guard lock(samples_mu_);
    samples = samples_;
  }
  const double run_s = std::chrono::duration<double>(length_).count();
  const Sample* base = nullptr;
  for (const auto& s : samples) {
    if (s.at_s < run_s / 5) {
      base = &s;
      continue;
    }
    if (!base) break;
    const double allowed = kGrowthBudget + kGrowthPerDay * (s.at_s - base->at_s) / 86400;
    tally_.check(kDisk, static_cast<double>(s.folder - base->folder) <= allowed,
                 "internal's state folder grew " + std::to_string((s.folder - base->folder) >> 10) + " KiB by " +
                     std::to_string(static_cast<int64_t>(s.at_s)) + " s");
  }
  for (const std::string id : {"internal", "dmz"}) {
    int64_t warm = 0, late = 0;
    for (const auto& s : samples) {
      if (s.at_s >= run_s / 4 && s.at_s < run_s / 2) warm = std::max(warm, s.rss.at(id));
      if (s.at_s >= run_s / 2) late = std::max(late, s.rss.at(id));
    }
    tally_.check(kRss, warm > 0 && late <= warm + std::max(kRssSlack, warm / 10),
                 id + " peaked at " + std::to_string(late >> 20) + " MiB in the last half, " +
                     std::to_string(warm >> 20) + " MiB in the second quarter");
    tally_.operation("RSS peak of " + id + " in the last half, MiB", late >> 20);
  }
  if (!samples.empty()) {
    tally_.operation("internal's state folder at the end, KiB", samples.back().folder >> 10);
  }
}

void Soak::check_faults() {
  std::vector<std::string> expected = {"kill -9 of the leader",
                                       "PostgreSQL paused (SIGSTOP, 5 s)",
                                       "SIGTERM to a replica",
                                       "SIGHUP reloads",
                                       "samples (every 2 s) with rogue over its change budget",
                                       "idle strangers held at the end"};
  if (disk_.mounted()) expected.push_back("internal's disk filled (7 s)");
  for (const auto& f : expected) tally_.check(kFaults, tally_.faults(f) > 0, f + ": never happened");
}

void Soak::stop_all_and_verify_audit() {
  for (auto& [id, e] : endpoints_) {
    e->up = false;
    const auto asked = Clock::now();
    const int status = e->process->stop();
    const auto took = Clock::now() - asked;
    tally_.check(kStop, status == 0 && took < kStopBound,
                 id + " exit " + std::to_string(status) + " after " +
                     std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(took).count()) + " ms");
  }
  for (const auto& [id, e] : endpoints_) {
    const auto verify = run_meshfed({"audit", "verify", "--config", e->config.string()});
    tally_.check(kAudit, verify.exit_code == 0, id + ": " + verify.output);
  }
}

int Soak::run(const std::string& report) {
  started_ = Clock::now();
  build();
  if (!disk_.mounted()) std::cerr << "internal's disk is not filled: mounting a tmpfs needs root\n";
  started_ = Clock::now();
  std::vector<std::thread> workers;
  workers.emplace_back([this] { operate("pci", 700ms); });
  workers.emplace_back([this] { operate("internal", 3000ms); });
  workers.emplace_back([this] { operate("dmz", 3000ms); });
  workers.emplace_back([this] { quarantine_and_release(); });
  workers.emplace_back([this] { watch_terms(); });
  workers.emplace_back([this] { watch_revocations(); });
  workers.emplace_back([this] { sample(); });
  workers.emplace_back([this] { keep_strangers(); });
  struct Joined {
    Soak& soak;
    std::vector<std::thread>& threads;
    ~Joined() {
      {
        std::lock_guard lock(soak.stop_mu_);
        soak.stopping_ = true;
      }
      soak.stop_cv_.notify_all();
      for (auto& t : threads)
        if (t.joinable()) t.join();
    }
  };
  {
    Joined joined{*this, workers};
    inject_faults();
  }
  // Leftover revocations get their bound, then everything acknowledged is checked.
  const auto settle_until = Clock::now() + kRevocationBound + 2s;
  stopping_ = false;
  std::thread reach([this] { watch_revocations(); });
  while (Clock::now() < settle_until) {
    {
      std::lock_guard lock(ledger_mu_);
      if (revocations_.empty()) break;
    }
    std::this_thread::sleep_for(500ms);  // the revocation watcher's round
  }
  {
    std::lock_guard lock(stop_mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  reach.join();
  for (const std::string d : {"pci", "internal", "dmz"}) check_ledger(d);
  check_growth_and_rss();
  stop_all_and_verify_audit();
  check_faults();
  const double seconds = std::chrono::duration<double>(Clock::now() - started_).count();
  const std::string table = tally_.table(seconds);
  std::cout << table << std::flush;
  if (!report.empty()) write_file(report, table);
  return interrupted ? 2 : tally_.violations() == 0 ? 0 : 1;
}

}  // namespace
}  // namespace meshfed::testing

int main(int argc, char** argv) {
  int seconds = 180;
  std::string report;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--seconds" && i + 1 < argc) {
      seconds = std::atoi(argv[++i]);
    } else if (a == "--report" && i + 1 < argc) {
      report = argv[++i];
    } else {
      std::cerr << "usage: meshfed_soak [--seconds N (at least 120)] [--report FILE]\n";
      return 2;
    }
  }
  if (seconds < 120) {
    std::cerr << "--seconds: at least 120 (every fault of the one-minute schedule twice), got " << seconds << "\n";
    return 2;
  }
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) == 0) {
    files.rlim_cur = files.rlim_max;
    (void)::setrlimit(RLIMIT_NOFILE, &files);
  }
  ::signal(SIGPIPE, SIG_IGN);
  struct sigaction stop {};
  stop.sa_handler = [](int) { meshfed::testing::interrupted = true; };
  ::sigaction(SIGINT, &stop, nullptr);
  ::sigaction(SIGTERM, &stop, nullptr);
  try {
    meshfed::testing::Soak soak{std::chrono::seconds(seconds)};
    return soak.run(report);
  } catch (const std::exception& e) {
    std::cerr << "the soak could not run: " << e.what() << "\n";
    return 2;
  }
}
