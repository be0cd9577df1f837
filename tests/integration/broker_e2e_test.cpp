// End-to-end tests: a real `meshfed broker` process, real HTTPS on loopback with certificates
// made by meshfed's own PKI, a real SQLite file, and ports chosen by the OS.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <signal.h>

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <cstdlib>
#include <thread>
#include <mutex>
#include <atomic>

#include "meshfed/core/text.hpp"
#include "meshfed/pki/pki.hpp"
#include "meshfed/store/audit_repository.hpp"
#include "support/net_support.hpp"
#include "support/notify_socket.hpp"
#include "support/test_support.hpp"

namespace meshfed::testing {
namespace {

using nlohmann::json;

class BrokerE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    domain_ = make_domain(dir_.path(), "pci", {"internal", "dmz"});
    broker_ = std::make_unique<BrokerProcess>(domain_.config_file, domain_.state_dir);
    broker_->start();
    client_ = broker_->client(dir_ / "pki/ca.pem");
  }

  ApiResult call(const std::string& method, const std::string& target, const std::string& who,
                 const std::optional<json>& body = std::nullopt, std::map<std::string, std::string> headers = {}) {
    return api_call(*client_, method, target, who.empty() ? "" : domain_.tokens.at(who), body, std::move(headers));
  }

  std::string request_export(const json& extra = json::object()) {
    json body = {{"mesh", "default"},
                 {"service", "payments-api"},
                 {"port", 8443},
                 {"peers", {"internal"}},
                 {"reason", "checkout in internal"}};
    body.update(extra);
    auto r = call("POST", "/api/v1/exports", "alice", body);
    EXPECT_EQ(r.status, 201) << r.body.dump();
    return r.body.value("id", "");
  }

  void reconnect() { client_ = broker_->client(dir_ / "pki/ca.pem"); }

  // `meshfed ctl` pointed at this broker by its environment variables.
  std::map<std::string, std::string> ctl_env() const {
    return {{"MESHFED_URL", "https://127.0.0.1:" + std::to_string(broker_->admin_port())},
            {"MESHFED_CA_FILE", (dir_ / "pki/ca.pem").string()}};
  }
  CommandResult ctl_as(const std::string& who, const std::vector<std::string>& args) {
    std::vector<std::string> full = {"ctl", "--token", domain_.tokens.at(who)};
    full.insert(full.end(), args.begin(), args.end());
    return run_meshfed(full, ctl_env());
  }

  TempDir dir_;
  DomainFixture domain_;
  std::unique_ptr<BrokerProcess> broker_;
  std::unique_ptr<http::HttpsClient> client_;
};

TEST_F(BrokerE2eTest, RequestApproveRevokeOverHttps) {
  const std::string id = request_export();
  auto approved = call("POST", "/api/v1/exports/" + id + "/approve", "bob", json{{"comment", "ok"}});
  ASSERT_EQ(approved.status, 200) << approved.body.dump();
  EXPECT_EQ(approved.body["state"], "approved");
  EXPECT_EQ(approved.headers["etag"], "\"2\"");
  auto revoked = call("POST", "/api/v1/exports/" + id + "/revoke", "alice", json{{"comment", "done"}});
  EXPECT_EQ(revoked.status, 200);
  EXPECT_EQ(revoked.body["state"], "revoked");
  auto shown = call("GET", "/api/v1/exports/" + id, "victor");
  EXPECT_EQ(shown.body["history"].size(), 3u);
}

TEST_F(BrokerE2eTest, ApprovalSurvivesSigkill) {
  const std::string id = request_export();
  auto approved = call("POST", "/api/v1/exports/" + id + "/approve", "bob", json{{"comment", "ok"}});
  ASSERT_EQ(approved.status, 200);
  broker_->kill_hard();  // acknowledged means committed: nothing may be lost now
  broker_->start();
  reconnect();
  auto shown = call("GET", "/api/v1/exports/" + id, "victor");
  ASSERT_EQ(shown.status, 200);
  EXPECT_EQ(shown.body["state"], "approved");
  EXPECT_EQ(shown.body["decided_by"], "bob");
  auto audit = call("GET", "/api/v1/audit?limit=1000", "victor");
  bool found = false;
  for (const auto& e : audit.body["items"]) found |= e["action"] == "export.approved" && e["object"] == "export/" + id;
  EXPECT_TRUE(found) << audit.body.dump();
  broker_->stop();
  auto verify = run_meshfed({"audit", "verify", "--state-dir", domain_.state_dir.string()});
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
}

TEST_F(BrokerE2eTest, ApprovalExpiresByItselfWithinASecond) {
  const std::string id = request_export({{"ttl_s", 1}});
  ASSERT_EQ(call("POST", "/api/v1/exports/" + id + "/approve", "bob").status, 200);
  // 1 s TTL plus the one-second expiry bound; the generous deadline only guards a stuck test.
  const bool expired =
      wait_until([&] { return call("GET", "/api/v1/exports/" + id, "victor").body["state"] == "expired"; },
                 std::chrono::seconds(10));
  EXPECT_TRUE(expired);
  auto e = call("GET", "/api/v1/exports/" + id, "victor").body;
  EXPECT_EQ(e["history"].back()["actor"], "meshfed");
}

TEST_F(BrokerE2eTest, OversizedBodyIs413AndOversizedHeadersAre431) {
  auto big =
      client_->request("POST", "/api/v1/exports",
                       {{"Authorization", "Bearer " + domain_.tokens["alice"]}, {"Content-Type", "application/json"}},
                       std::string(2 * 1024 * 1024, ' '));
  ASSERT_TRUE(big.ok()) << big.error().message;
  EXPECT_EQ(big->status, 413);
  EXPECT_EQ(big->header("content-type"), "application/problem+json");
  reconnect();
  std::map<std::string, std::string> filler;
  for (int i = 0; i < 40; ++i) filler["X-Filler-" + std::to_string(i)] = std::string(1024, 'a');
  auto headers = client_->request("GET", "/api/v1/exports", filler);
  ASSERT_TRUE(headers.ok()) << headers.error().message;
  EXPECT_EQ(headers->status, 431);
  reconnect();
  EXPECT_EQ(call("GET", "/api/v1/exports", "victor").body["items"].size(), 0u);
}

TEST_F(BrokerE2eTest, SighupReloadsTokensAndRejectsABrokenConfig) {
  // A new person is added to the tokens file: live after SIGHUP.
  json tokens = json::parse(read_file(dir_ / "tokens.json"));
  auto fresh = run_meshfed({"token", "create", "--name", "frank", "--role", "viewer"});
  ASSERT_EQ(fresh.exit_code, 0);
  const std::string token =
      fresh.output.substr(fresh.output.find(": ") + 2, fresh.output.find('\n') - fresh.output.find(": ") - 2);
  const std::string entry = fresh.output.substr(fresh.output.find("entry: ") + 7);
  tokens.push_back(json::parse(entry));
  write_file(dir_ / "tokens.json", tokens.dump());
  EXPECT_EQ(api_call(*client_, "GET", "/api/v1/exports", token).status, 401);
  broker_->signal(SIGHUP);
  EXPECT_TRUE(wait_until([&] { return api_call(*client_, "GET", "/api/v1/exports", token).status == 200; }))
      << broker_->log();

  // A broken config changes nothing and is reported.
  const std::string good = read_file(domain_.config_file);
  write_file(domain_.config_file, R"({"domain": "pci", "admin": {"listen": "9440"}})");
  broker_->signal(SIGHUP);
  EXPECT_TRUE(wait_until([&] {
    const auto audit = call("GET", "/api/v1/audit?limit=1000", "victor");
    for (const auto& e : audit.body["items"]) {
      if (e["action"] == "config.reload_rejected") {
        return e["details"]["error"].get<std::string>().find("admin.listen") != std::string::npos;
      }
    }
    return false;
  })) << broker_->log();
  EXPECT_EQ(api_call(*client_, "GET", "/api/v1/exports", token).status, 200);
  EXPECT_NE(broker_->log().find("reload rejected"), std::string::npos);
  write_file(domain_.config_file, good);
}

TEST_F(BrokerE2eTest, ServiceLeavingInventoryMarksTargetMissing) {
  const std::string id = request_export();
  ASSERT_EQ(call("POST", "/api/v1/exports/" + id + "/approve", "bob").status, 200);
  write_file(dir_ / "inventory.json", R"({"services": []})");
  EXPECT_TRUE(
      wait_until([&] { return call("GET", "/api/v1/exports/" + id, "victor").body["target_missing"] == true; }));
  auto e = call("GET", "/api/v1/exports/" + id, "victor").body;
  EXPECT_EQ(e["state"], "approved");
  auto metrics = client_->request("GET", "/metrics");
  EXPECT_NE(metrics->body.find("meshfed_exports_target_missing 1"), std::string::npos);
}

TEST_F(BrokerE2eTest, BrokenInventoryKeepsLastGoodAndShowsInReadyz) {
  write_file(dir_ / "inventory.json", "{ broken");
  EXPECT_TRUE(wait_until([&] {
    auto r = client_->request("GET", "/readyz");
    return r.ok() && r->body.find("invalid") != std::string::npos;
  }));
  EXPECT_EQ(call("GET", "/api/v1/services", "victor").body["items"].size(), 2u);
  auto metrics = client_->request("GET", "/metrics");
  EXPECT_NE(metrics->body.find("meshfed_inventory_valid 0"), std::string::npos);
}

TEST_F(BrokerE2eTest, MetricsPassPromtool) {
  request_export();
  call("GET", "/api/v1/exports", "");
  auto m = client_->request("GET", "/metrics");
  ASSERT_TRUE(m.ok());
  for (const char* name : {"meshfed_exports{state=\"pending\"} 1", "meshfed_api_requests_total", "meshfed_build_info",
                           "meshfed_audit_head_seq", "meshfed_api_request_duration_seconds_bucket"}) {
    EXPECT_NE(m->body.find(name), std::string::npos) << name;
  }
  EXPECT_EQ(promtool_check_metrics(m->body), "");
}

TEST_F(BrokerE2eTest, CtlDrivesTheWorkflow) {
  const auto env = ctl_env();
  auto as = [&](const std::string& who, const std::vector<std::string>& args) { return ctl_as(who, args); };
  auto req = as("alice", {"exports", "request", "--service", "payments-api", "--port", "8443", "--peer", "internal",
                          "--reason", "checkout", "--json"});
  ASSERT_EQ(req.exit_code, 0) << req.output;
  const std::string id = json::parse(req.output)["id"];
  auto self = as("alice", {"exports", "approve", id});
  EXPECT_EQ(self.exit_code, 5);  // forbidden: meshfed(1), EXIT STATUS
  EXPECT_NE(self.output.find("403"), std::string::npos) << self.output;
  auto ok = as("bob", {"exports", "approve", id, "--comment", "fine"});
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  auto list = as("victor", {"exports", "list"});
  EXPECT_NE(list.output.find(id), std::string::npos);
  EXPECT_NE(list.output.find("approved"), std::string::npos);
  auto audit = as("victor", {"audit"});
  EXPECT_NE(audit.output.find("export.approved"), std::string::npos) << audit.output;
  auto services = as("victor", {"services"});
  EXPECT_NE(services.output.find("payments-api"), std::string::npos);
  auto replicas = as("victor", {"replicas"});  // one broker on SQLite: it leads
  EXPECT_NE(replicas.output.find("leader"), std::string::npos) << replicas.output;
  auto no_ca = run_meshfed({"ctl", "--token", "x", "--url", env.at("MESHFED_URL"), "services"});
  EXPECT_EQ(no_ca.exit_code, 2);                                                // usage
  EXPECT_EQ(as("victor", {"exports", "show", "no-such-export"}).exit_code, 3);  // not found
  EXPECT_EQ(as("bob", {"exports", "approve", id}).exit_code, 4);                // conflict: approved already
  auto away = run_meshfed(
      {"ctl", "--token", "x", "--ca-file", env.at("MESHFED_CA_FILE"), "--url", "https://127.0.0.1:1", "services"});
  EXPECT_EQ(away.exit_code, 6) << away.output;  // unavailable: worth retrying
  EXPECT_NE(no_ca.output.find("--ca-file"), std::string::npos);
  // Retrying cannot help a certificate we refuse, nor a local file that cannot be written: 1.
  ASSERT_EQ(run_meshfed({"pki", "init", "--domain", "other", "--out", (dir_ / "other").string()}).exit_code, 0);
  auto wrong_ca = run_meshfed({"ctl", "--token", "x", "--ca-file", (dir_ / "other/ca.pem").string(), "--url",
                               env.at("MESHFED_URL"), "services"});
  EXPECT_EQ(wrong_ca.exit_code, 1) << wrong_ca.output;
  EXPECT_NE(wrong_ca.output.find("not signed by the CA in"), std::string::npos) << wrong_ca.output;
  auto no_folder = run_meshfed(
      {"backup", "--config", domain_.config_file.string(), "--out", (dir_ / "no-such-folder/b.db").string()});
  EXPECT_EQ(no_folder.exit_code, 1) << no_folder.output;
  EXPECT_NE(no_folder.output.find("No such file or directory"), std::string::npos) << no_folder.output;

  // Text from elsewhere reaches the terminal escaped: no terminal sequence runs.
  const std::string loud =
      request_export({{"service", "ledger"}, {"port", 9187}, {"reason", "checkout \x1b[2J\x1b]0;owned\x07 done"}});
  const auto loud_shown = as("victor", {"exports", "show", loud});
  EXPECT_EQ(loud_shown.exit_code, 0) << loud_shown.output;
  EXPECT_EQ(loud_shown.output.find('\x1b'), std::string::npos) << loud_shown.output;
  EXPECT_NE(loud_shown.output.find("checkout \\x1b[2J\\x1b]0;owned\\x07 done"), std::string::npos) << loud_shown.output;

  // An extend that would end the export sooner needs --shorten (the default TTL is 30 days).
  const json version_before = call("GET", "/api/v1/exports/" + id, "victor").body["version"];
  auto shorter = as("bob", {"exports", "extend", id, "--ttl", "60"});
  EXPECT_EQ(shorter.exit_code, 4) << shorter.output;  // a precondition
  EXPECT_NE(shorter.output.find("add --shorten"), std::string::npos) << shorter.output;
  EXPECT_EQ(call("GET", "/api/v1/exports/" + id, "victor").body["version"], version_before);  // nothing was sent
  auto shortened = as("bob", {"exports", "extend", id, "--ttl", "60", "--shorten"});
  EXPECT_EQ(shortened.exit_code, 0) << shortened.output;
  EXPECT_NE(shortened.output.find("expires"), std::string::npos) << shortened.output;
  // Once revoked, no expiry is shown: it ended by revocation.
  auto revoked = as("bob", {"exports", "revoke", id, "--comment", "done"});
  EXPECT_EQ(revoked.exit_code, 0) << revoked.output;
  EXPECT_EQ(revoked.output.find("expires"), std::string::npos) << revoked.output;
  auto shown = as("victor", {"exports", "show", id});
  EXPECT_NE(shown.output.find("expires at:     -\n"), std::string::npos) << shown.output;
}

TEST_F(BrokerE2eTest, AdminCertificateIsVerifiedByClients) {
  // A CA of another domain must not accept our broker's certificate.
  auto other = http::HttpsClient::create(
      http::ClientOptions::verifying("127.0.0.1", broker_->admin_port(), dir_ / "peers/internal/ca.pem"));
  ASSERT_TRUE(other.ok());
  auto r = (*other)->request("GET", "/healthz");
  ASSERT_FALSE(r.ok());
  // The refusal says why, in words an operator can act on.
  EXPECT_NE(r.error().message.find("is not signed by the CA in " + (dir_ / "peers/internal/ca.pem").string()),
            std::string::npos)
      << r.error().message;

  // "127.1" reaches 127.0.0.1, but it is not a name the certificate has.
  auto by_other_name =
      http::HttpsClient::create(http::ClientOptions::verifying("127.1", broker_->admin_port(), dir_ / "pki/ca.pem"));
  ASSERT_TRUE(by_other_name.ok());
  auto mismatch = (*by_other_name)->request("GET", "/healthz");
  ASSERT_FALSE(mismatch.ok());
  EXPECT_NE(mismatch.error().message.find("is not for \"127.1\"; it names DNS:localhost, IP:127.0.0.1"),
            std::string::npos)
      << mismatch.error().message;

  // Its own names pass.
  for (const std::string host : {"127.0.0.1", "localhost"}) {
    auto own =
        http::HttpsClient::create(http::ClientOptions::verifying(host, broker_->admin_port(), dir_ / "pki/ca.pem"));
    ASSERT_TRUE(own.ok());
    auto ok = (*own)->request("GET", "/healthz");
    ASSERT_TRUE(ok.ok()) << host << ": " << ok.error().message;
    EXPECT_EQ(ok->status, 200);
  }
}

// A backup taken while exports are being written holds every export acknowledged before it
// began, restores into a new state folder, and a broker started on it serves them with an
// intact audit chain. A running broker's state is never replaced.
TEST_F(BrokerE2eTest, BackupUnderWriteLoadRestoresEveryAcknowledgedExport) {
  std::mutex mu;
  std::vector<std::string> acknowledged;
  std::atomic<bool> stop{false};
  std::string writer_error;
  // Requests and withdraws exports as fast as the broker acknowledges them (a second identical
  // pending request would be refused), each id recorded once its 201 has arrived.
  std::thread writer([&] {
    auto c = broker_->client(dir_ / "pki/ca.pem");
    const json body = {{"mesh", "default"},
                       {"service", "payments-api"},
                       {"port", 8443},
                       {"peers", {"internal"}},
                       {"reason", "load during a backup"}};
    while (!stop) {
      const auto r = api_call(*c, "POST", "/api/v1/exports", domain_.tokens.at("alice"), body);
      const std::string id = r.body.value("id", "");
      if (r.status != 201 ||
          api_call(*c, "POST", "/api/v1/exports/" + id + "/cancel", domain_.tokens.at("alice"), json::object())
                  .status != 200) {
        std::lock_guard lock(mu);
        writer_error = r.body.dump();
        return;
      }
      std::lock_guard lock(mu);
      acknowledged.push_back(id);
    }
  });
  struct Joiner {
    std::atomic<bool>& stop;
    std::thread& t;
    ~Joiner() {
      stop = true;
      if (t.joinable()) t.join();
    }
  } joiner{stop, writer};
  const auto count = [&] {
    std::lock_guard lock(mu);
    return acknowledged.size();
  };
  ASSERT_TRUE(wait_until([&] { return count() >= 10; })) << writer_error;
  std::vector<std::string> before;
  {
    std::lock_guard lock(mu);
    before = acknowledged;
  }
  const auto backup_file = dir_ / "backup.db";
  const auto backup = run_meshfed({"backup", "--config", domain_.config_file.string(), "--out", backup_file.string()});
  const size_t at_backup_end = count();
  EXPECT_TRUE(wait_until([&] { return count() >= at_backup_end + 3; })) << writer_error;  // the writes went on
  stop = true;
  writer.join();
  ASSERT_EQ(backup.exit_code, 0) << backup.output;
  EXPECT_NE(backup.output.find("audit chain ok"), std::string::npos) << backup.output;
  EXPECT_EQ(fs::status(backup_file).permissions() & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write);
  const auto again = run_meshfed({"backup", "--config", domain_.config_file.string(), "--out", backup_file.string()});
  EXPECT_EQ(again.exit_code, 4);
  EXPECT_NE(again.output.find("never overwrites"), std::string::npos) << again.output;

  const auto refused =
      run_meshfed({"restore", "--config", domain_.config_file.string(), "--from", backup_file.string()});
  EXPECT_EQ(refused.exit_code, 4);
  EXPECT_NE(refused.output.find("a meshfed broker is running on"), std::string::npos) << refused.output;

  json moved = domain_.config;
  moved["state_dir"] = "restored";
  const auto moved_file = dir_ / "restored.json";
  write_file(moved_file, moved.dump(2));
  const auto restored = run_meshfed({"restore", "--config", moved_file.string(), "--from", backup_file.string()});
  ASSERT_EQ(restored.exit_code, 0) << restored.output;
  EXPECT_EQ(broker_->stop(), 0);

  BrokerProcess on_backup(moved_file, dir_ / "restored");
  on_backup.start();
  auto c = on_backup.client(dir_ / "pki/ca.pem");
  for (const auto& id : before) {
    EXPECT_EQ(api_call(*c, "GET", "/api/v1/exports/" + id, domain_.tokens.at("alice")).status, 200) << id;
  }
  EXPECT_EQ(on_backup.stop(), 0);
  const auto verify = run_meshfed({"audit", "verify", "--config", moved_file.string()});
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
}

// A restore puts a backup's state back, but never what an approver has ended since: an export
// revoked after the backup stays revoked (and the command says so), the restore is an audit
// entry, the chain still verifies, and the database belongs to the state folder's owner.
TEST_F(BrokerE2eTest, RestoreKeepsWhatWasEndedSinceTheBackupEndedAndIsAudited) {
  const std::string revoked = request_export();
  ASSERT_EQ(call("POST", "/api/v1/exports/" + revoked + "/approve", "bob").status, 200);
  const std::string kept = request_export({{"port", 9187}, {"service", "ledger"}});
  ASSERT_EQ(call("POST", "/api/v1/exports/" + kept + "/approve", "bob").status, 200);
  const auto backup_file = dir_ / "backup.db";
  ASSERT_EQ(run_meshfed({"backup", "--config", domain_.config_file.string(), "--out", backup_file.string()}).exit_code,
            0);
  ASSERT_EQ(call("POST", "/api/v1/exports/" + revoked + "/revoke", "bob", json{{"comment", "incident"}}).status, 200);
  EXPECT_EQ(broker_->stop(), 0);

  const bool root = ::geteuid() == 0;
  if (root) {
    // A backup root made, which another user cannot read (the config they can): the reason is
    // named, and nothing changes.
    fs::permissions(dir_.path(), fs::perms::others_read | fs::perms::others_exec, fs::perm_options::add);
    fs::permissions(domain_.config_file, fs::perms::others_read, fs::perm_options::add);
    const auto as_nobody =
        run_meshfed_as("65534", {"restore", "--config", domain_.config_file.string(), "--from", backup_file.string()});
    EXPECT_EQ(as_nobody.exit_code, 1) << as_nobody.output;
    EXPECT_NE(as_nobody.output.find("cannot read the backup " + backup_file.string() + ": Permission denied"),
              std::string::npos)
        << as_nobody.output;
    EXPECT_EQ(as_nobody.output.find("broker log"), std::string::npos) << as_nobody.output;
    // The service's user owns the state folder; root restores into it.
    ASSERT_EQ(::chown(domain_.state_dir.c_str(), 65534, 65534), 0);
  }
  const auto restored =
      run_meshfed({"restore", "--config", domain_.config_file.string(), "--from", backup_file.string()});
  ASSERT_EQ(restored.exit_code, 0) << restored.output;
  EXPECT_NE(restored.output.find("kept ended: export " + revoked +
                                 " is approved or pending in the backup, but was "
                                 "revoked by bob"),
            std::string::npos)
      << restored.output;
  EXPECT_EQ(restored.output.find("kept ended: export " + kept), std::string::npos) << restored.output;
  if (root) {
    struct stat st {};
    ASSERT_EQ(::stat((domain_.state_dir / "meshfed.db").c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, 65534u);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
  }

  BrokerProcess again(domain_.config_file, domain_.state_dir);
  again.start();
  auto c = again.client(dir_ / "pki/ca.pem");
  const auto get = [&](const std::string& target) { return api_call(*c, "GET", target, domain_.tokens.at("victor")); };
  EXPECT_EQ(get("/api/v1/exports/" + revoked).body["state"], "revoked");
  EXPECT_EQ(get("/api/v1/exports/" + kept).body["state"], "approved");
  const json audit = get("/api/v1/audit?limit=1000").body["items"];
  const auto entry =
      std::find_if(audit.begin(), audit.end(), [](const json& e) { return e["action"] == "store.restored"; });
  ASSERT_NE(entry, audit.end()) << audit.dump();
  EXPECT_EQ((*entry)["details"]["kept_ended"][0]["export"], revoked);
  EXPECT_EQ(again.stop(), 0);
  const auto verify = run_meshfed({"audit", "verify", "--config", domain_.config_file.string()});
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
}

TEST_F(BrokerE2eTest, SigtermStopsCleanly) {
  request_export();
  EXPECT_EQ(broker_->stop(), 0);
  auto verify = run_meshfed({"audit", "verify", "--state-dir", domain_.state_dir.string()});
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
  EXPECT_NE(broker_->log().find("stopped"), std::string::npos);
}

// -o json (or --json) everywhere: stdout is one JSON document, the API's own for a resource
// and a problem+json one, with the exit code, for a failure.
TEST_F(BrokerE2eTest, OneOutputSwitchGivesTheApisJsonAndProblemsOnStdout) {
  const auto env = ctl_env();
  auto as = [&](const std::string& who, const std::vector<std::string>& args) { return ctl_as(who, args); };
  const auto parsed = [](const CommandResult& r) {
    auto j = json::parse(r.output, nullptr, false);  // the whole output, nothing else beside it
    EXPECT_FALSE(j.is_discarded()) << r.output;
    return j;
  };
  const std::string id = request_export();
  for (const auto& flag : std::vector<std::vector<std::string>>{{"-o", "json"}, {"--output=json"}, {"--json"}}) {
    std::vector<std::string> args = {"exports", "show", id};
    args.insert(args.end(), flag.begin(), flag.end());
    auto shown = as("victor", args);
    EXPECT_EQ(shown.exit_code, 0) << shown.output;
    EXPECT_EQ(parsed(shown), call("GET", "/api/v1/exports/" + id, "victor").body);
  }
  auto listed = as("victor", {"-o", "json", "exports", "list"});
  EXPECT_EQ(parsed(listed), call("GET", "/api/v1/exports", "victor").body["items"]);

  // Failures: the API's problem, passed on; and the CLI's own, in the same shape.
  auto own = parsed(as("alice", {"exports", "approve", id, "-o", "json"}));
  EXPECT_EQ(own["status"], 403);
  EXPECT_EQ(own["exit_code"], 5);
  EXPECT_EQ(own["type"], "urn:meshfed:problem:forbidden");
  EXPECT_NE(own["detail"].get<std::string>().find("lacks the approver role"), std::string::npos) << own.dump();
  auto invalid = parsed(as("alice", {"exports", "request", "--service", "payments-api", "--port", "1", "--peer",
                                     "internal", "--reason", "r", "-o", "json"}));
  EXPECT_EQ(invalid["status"], 400);
  EXPECT_EQ(invalid["errors"][0]["field"], "port") << invalid.dump();
  auto typo = run_meshfed({"-o", "json", "ctl", "exports", "lst"});
  EXPECT_EQ(typo.exit_code, 2);
  EXPECT_EQ(parsed(typo)["detail"], "unknown command \"lst\" for \"meshfed ctl exports\"; did you mean \"list\"?");
  auto away = run_meshfed({"ctl", "--token", "x", "--ca-file", env.at("MESHFED_CA_FILE"), "--url",
                           "https://127.0.0.1:1", "services", "-o", "json"});
  EXPECT_EQ(away.exit_code, 6);
  EXPECT_EQ(parsed(away)["status"], 503);

  // The commands that work on a domain's files speak it too.
  auto checked = run_meshfed({"check-config", "--config", domain_.config_file.string(), "-o", "json"});
  EXPECT_EQ(checked.exit_code, 0) << checked.output;
  EXPECT_EQ(parsed(checked)["domain"], "pci");
  auto verified = run_meshfed({"audit", "verify", "--config", domain_.config_file.string(), "-o", "json"});
  EXPECT_EQ(verified.exit_code, 0) << verified.output;
  EXPECT_EQ(parsed(verified)["head"].get<std::string>().substr(0, 2), "2:");
  auto cert = parsed(run_meshfed({"pki", "show", (dir_ / "pki/broker.pem").string(), "-o", "json"}));
  EXPECT_EQ(cert["uri_sans"][0], "spiffe://pci/meshfed/broker");
  domain_.config["admin"]["listen"] = "9440";
  domain_.save_config();
  auto broken = run_meshfed({"check-config", "--config", domain_.config_file.string(), "-o", "json"});
  EXPECT_EQ(broken.exit_code, 1);
  EXPECT_EQ(parsed(broken)["errors"][0]["field"], "admin.listen") << broken.output;
}

TEST(CheckConfig, FileErrorsNameTheKeyAndTheOsReason) {
  TempDir dir;
  auto d = make_domain(dir.path(), "pci", {});
  d.config["admin"]["tokens_file"] = "missing-tokens.json";
  d.save_config();
  auto r = run_meshfed({"check-config", "--config", d.config_file.string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("admin.tokens_file: cannot read " + (dir / "missing-tokens.json").string() +
                          ": No such file or directory"),
            std::string::npos)
      << r.output;

  write_file(dir / "missing-tokens.json", R"({"name": "alice"})");
  r = run_meshfed({"check-config", "--config", d.config_file.string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("a tokens file is one JSON array of {name, sha256, roles}"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("not a JSON object"), std::string::npos) << r.output;
}

TEST(CheckConfig, APeerCaOrInventoryThatCannotBeReadIsNamedOnceWithTheOsReason) {
  TempDir dir;
  auto d = make_domain(dir.path(), "pci", {"internal"});
  ASSERT_EQ(run_meshfed({"check-config", "--config", d.config_file.string()}).exit_code, 0);

  fs::remove(dir.path() / "peers/internal/ca.pem");
  const auto no_ca = run_meshfed({"check-config", "--config", d.config_file.string()});
  EXPECT_EQ(no_ca.exit_code, 1) << no_ca.output;
  const std::string ca_problem = "peers[0].ca_file: cannot read " + (dir.path() / "peers/internal/ca.pem").string() +
                                 ": No such file or directory";
  const auto first = no_ca.output.find(ca_problem);
  EXPECT_NE(first, std::string::npos) << no_ca.output;
  EXPECT_EQ(no_ca.output.find(ca_problem, first + 1), std::string::npos) << "said twice:\n" << no_ca.output;

  d = make_domain(dir.path() / "again", "pci", {"internal"});
  d.config["control_plane"]["inventory_file"] = "nope.json";
  d.save_config();
  const auto no_inventory = run_meshfed({"check-config", "--config", d.config_file.string()});
  EXPECT_EQ(no_inventory.exit_code, 1) << no_inventory.output;
  EXPECT_NE(no_inventory.output.find("control_plane.inventory_file: cannot read " +
                                     (dir.path() / "again/nope.json").string() + ": No such file or directory"),
            std::string::npos)
      << no_inventory.output;
}

TEST(CheckConfig, NamesKeyPathsAndBindsNothing) {
  TempDir dir;
  auto d = make_domain(dir.path(), "pci", {"internal"});
  auto ok = run_meshfed({"check-config", "--config", d.config_file.string()});
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  d.config["admin"]["listen"] = "9440";
  d.config["peers"][0]["domain"] = "pci";
  d.save_config();
  auto bad = run_meshfed({"check-config", "--config", d.config_file.string()});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.output.find("admin.listen: expected host:port"), std::string::npos) << bad.output;
  EXPECT_NE(bad.output.find("peers[0].domain"), std::string::npos) << bad.output;
}

TEST(CheckConfig, MissingFilesAreNamed) {
  TempDir dir;
  auto d = make_domain(dir.path(), "pci", {});
  std::filesystem::remove(dir / "tokens.json");
  auto r = run_meshfed({"check-config", "--config", d.config_file.string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("tokens"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace meshfed::testing

namespace meshfed::testing {
namespace {

// A broker whose audit log holds entries past retention.audit_days archives them at its first
// tick: a segment file in state_dir/audit-archive, one audit.checkpoint, and a chain that still
// verifies, through the API from the checkpoint and with `audit verify --archives` whole.
TEST(BrokerOperations, AuditEntriesPastTheirRetentionAreArchivedAndTheChainStillVerifies) {
  TempDir dir;
  auto d = make_domain(dir.path(), "pci", {"internal"});
  {
    fs::create_directories(d.state_dir);
    fs::permissions(d.state_dir, fs::perms::owner_all);
    auto opened = store::Database::open(d.state_dir / "meshfed.db");
    ASSERT_TRUE(opened.ok()) << opened.error().message;
    auto db = std::move(opened).value();
    ASSERT_TRUE(db->transaction([&](store::Writer& tx) -> Status {
                    store::AuditRepository audit(tx);
                    for (int i = 0; i < 50; ++i) {
                      testing::must(audit.append(from_unix_ms(1'735'689'600'000 + i * 1000), "alice", "test.old", "x",
                                                 {{"i", i}}));
                    }
                    return {};
                  }).ok());
  }
  d.config["retention"] = {{"audit_days", 30}};
  d.save_config();
  BrokerProcess broker(d.config_file, d.state_dir);
  broker.start();
  const auto segment = d.state_dir / "audit-archive" / "audit-1-50.jsonl";
  ASSERT_TRUE(wait_until([&] { return fs::exists(segment); })) << broker.log();
  auto c = broker.client(dir / "pki/ca.pem");
  ApiResult verified;
  ASSERT_TRUE(wait_until([&] {
    verified = api_call(*c, "GET", "/api/v1/audit/verify", d.tokens.at("victor"));
    return verified.status == 200 && verified.body.value("ok", false);
  })) << verified.body.dump();
  const auto page = api_call(*c, "GET", "/api/v1/audit?limit=1000", d.tokens.at("victor"));
  int checkpoints = 0;
  for (const auto& e : page.body["items"]) checkpoints += e["action"] == "audit.checkpoint";
  EXPECT_EQ(checkpoints, 1) << page.body.dump();
  broker.stop();
  auto whole = run_meshfed({"audit", "verify", "--config", d.config_file.string(), "--archives",
                            (d.state_dir / "audit-archive").string(), "-o", "json"});
  ASSERT_EQ(whole.exit_code, 0) << whole.output;
  const auto report = json::parse(whole.output);
  EXPECT_EQ(report["archived_entries"], 50);
  EXPECT_EQ(report["live_from"], 51);
}

TEST(BrokerOperations, SighupSwapsTheCertificateForNewConnections) {
  TempDir dir;
  auto d = make_domain(dir.path(), "pci", {});
  BrokerProcess broker(d.config_file, d.state_dir);
  broker.start();
  auto old_client = broker.client(dir / "pki/ca.pem");
  ASSERT_EQ(old_client->request("GET", "/healthz")->status, 200);

  // Rotate to a certificate from a new CA, so that which one a connection got is observable.
  pki::InitOptions o;
  o.domain = "pci";
  o.leaf.ip_addresses = {"127.0.0.1"};
  ASSERT_TRUE(pki::init_domain(dir / "pki2", o).ok());
  d.config["tls"] = {{"ca_file", "pki2/ca.pem"}, {"cert_file", "pki2/broker.pem"}, {"key_file", "pki2/broker-key.pem"}};
  d.save_config();
  broker.signal(SIGHUP);
  EXPECT_TRUE(wait_until([&] {
    auto fresh = http::HttpsClient::create(
        http::ClientOptions::verifying("127.0.0.1", broker.admin_port(), dir / "pki2/ca.pem"));
    auto r = (*fresh)->request("GET", "/healthz");
    return r.ok() && r->status == 200;
  })) << broker.log();
  // The established connection keeps working; a new one trusting only the old CA is refused.
  EXPECT_EQ(old_client->request("GET", "/healthz")->status, 200);
  auto stale =
      http::HttpsClient::create(http::ClientOptions::verifying("127.0.0.1", broker.admin_port(), dir / "pki/ca.pem"));
  EXPECT_FALSE((*stale)->request("GET", "/healthz").ok());
}

TEST(BrokerOperations, SighupRightAfterStartIsAReloadNotADeath) {
  TempDir dir;
  auto d = make_domain(dir.path(), "pci", {});
  BrokerProcess broker(d.config_file, d.state_dir);
  broker.start();
  broker.signal(SIGHUP);  // the moment runtime.json names us
  auto c = broker.client(dir / "pki/ca.pem");
  EXPECT_TRUE(wait_until([&] {
    const auto audit = api_call(*c, "GET", "/api/v1/audit?limit=1000", d.tokens["victor"]);
    for (const auto& e : audit.body["items"]) {
      if (e["action"] == "config.reloaded") return true;
    }
    return false;
  })) << broker.log();
  EXPECT_EQ(broker.stop(), 0);
}

// A fresh install: the firewall rules come from the config alone and touch no store; the first
// start makes the state owner-only even under the usual umask.
TEST(BrokerOperations, BeforeTheFirstStartFirewallNeedsNoStoreAndTheStateIsOwnerOnly) {
  TempDir dir;
  auto d = make_domain(dir.path(), "pci", {"internal"});
  ASSERT_FALSE(fs::exists(d.state_dir));
  const auto fw = run_meshfed({"firewall", "--config", d.config_file.string(), "--format", "nftables"});
  EXPECT_EQ(fw.exit_code, 0) << fw.output;
  EXPECT_NE(fw.output.find("# no store at"), std::string::npos) << fw.output;
  EXPECT_NE(fw.output.find("flows that depend on exports and imports are absent"), std::string::npos);
  EXPECT_FALSE(fs::exists(d.state_dir / "meshfed.db"));

  const mode_t before = ::umask(022);
  BrokerProcess broker(d.config_file, d.state_dir);
  broker.start();
  ::umask(before);
  EXPECT_EQ(fs::status(d.state_dir).permissions() & fs::perms::all, fs::perms::owner_all);
  EXPECT_EQ(fs::status(d.state_dir / "meshfed.db").permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_EQ(broker.stop(), 0);

  // Once the broker has made its store, firewall reads it and says nothing about its absence.
  const auto after = run_meshfed({"firewall", "--config", d.config_file.string(), "--format", "nftables"});
  EXPECT_EQ(after.exit_code, 0) << after.output;
  EXPECT_EQ(after.output.find("no store"), std::string::npos) << after.output;
}

TEST(BrokerOperations, ReadinessSaysTheStoreCannotWriteWhileTheDiskIsFullAndComesBackByItself) {
  TempDir dir;
  auto d = make_domain(dir.path(), "pci", {"internal"});
  SmallFileSystem small(d.state_dir, "4m");
  ASSERT_TRUE(small.mounted()) << "the test runs as root and mounts a tmpfs";
  BrokerProcess broker(d.config_file, d.state_dir);
  broker.start();
  auto c = broker.client(dir / "pki/ca.pem");
  // Fill the file system: what is left, then requests until the store cannot take one more.
  (void)std::system(("dd if=/dev/zero of=" + (d.state_dir / "filler").string() + " bs=64k 2>/dev/null").c_str());
  std::vector<std::string> acknowledged;
  int refused = 0;
  const std::string reason(1000, 'r');
  for (int i = 0; i < 2000 && refused == 0; ++i) {
    auto r = api_call(*c, "POST", "/api/v1/exports", d.tokens["alice"],
                      json{{"mesh", "default"},
                           {"service", "payments-api"},
                           {"port", 8443},
                           {"alias", "pay-" + std::to_string(i)},
                           {"peers", {"internal"}},
                           {"reason", reason}});
    if (r.status == 201) acknowledged.push_back(r.body["id"]);
    if (r.status == 503) ++refused;
    ASSERT_TRUE(r.status == 201 || r.status == 503) << r.status << " " << r.body.dump();
  }
  ASSERT_EQ(refused, 1) << "the full disk never refused a write";
  auto ready = c->request("GET", "/readyz");
  ASSERT_TRUE(ready.ok());
  EXPECT_EQ(ready->status, 503) << ready->body;
  EXPECT_NE(ready->body.find("cannot write"), std::string::npos) << ready->body;
  EXPECT_NE(ready->body.find("full"), std::string::npos) << ready->body;
  // Room again: ready by itself (nothing else writes meanwhile), and nothing acknowledged lost.
  fs::remove(d.state_dir / "filler");
  EXPECT_TRUE(wait_until([&] {
    auto r = c->request("GET", "/readyz");
    return r.ok() && r->status == 200;
  })) << broker.log();
  for (const auto& id : acknowledged) {
    EXPECT_EQ(api_call(*c, "GET", "/api/v1/exports/" + id, d.tokens["victor"]).status, 200) << id;
  }
  EXPECT_NE(broker.log().find("database or disk is full"), std::string::npos) << broker.log();
  EXPECT_EQ(broker.stop(), 0);
  EXPECT_EQ(run_meshfed({"store", "check", "--config", d.config_file.string()}).exit_code, 0);
}

TEST(BrokerOperations, ADamagedStoreIsRefusedAtStartAndStoreCheckNamesWhatIsWrong) {
  TempDir dir;
  auto d = make_domain(dir.path(), "pci", {"internal"});
  {
    BrokerProcess broker(d.config_file, d.state_dir);
    broker.start();
    auto c = broker.client(dir / "pki/ca.pem");
    for (int i = 0; i < 200; ++i) {
      ASSERT_EQ(api_call(*c, "POST", "/api/v1/exports", d.tokens["alice"],
                         json{{"mesh", "default"},
                              {"service", "payments-api"},
                              {"port", 8443},
                              {"alias", "pay-" + std::to_string(i)},
                              {"peers", {"internal"}},
                              {"reason", std::string(1000, 'r')}})
                    .status,
                201);
    }
    ASSERT_EQ(broker.stop(), 0);
  }
  const auto check = [&] { return run_meshfed({"store", "check", "--config", d.config_file.string()}); };
  const auto sound = check();
  EXPECT_EQ(sound.exit_code, 0) << sound.output;
  EXPECT_NE(sound.output.find(": ok"), std::string::npos) << sound.output;
  const fs::path file = d.state_dir / "meshfed.db";
  {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(fs::file_size(file) / 2 / 4096 * 4096));
    const std::string garbage(3 * 4096, '\x5a');
    f.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
  }
  const auto damaged = check();
  EXPECT_EQ(damaged.exit_code, 1) << damaged.output;
  EXPECT_NE(damaged.output.find("FAILED its check"), std::string::npos) << damaged.output;
  const auto start = run_meshfed({"broker", "--config", d.config_file.string()});
  EXPECT_NE(start.exit_code, 0) << start.output;
  EXPECT_NE(start.output.find(file.string() + " fails its integrity check"), std::string::npos) << start.output;
}

// A network namespace of the test's own where a peer's address is a black hole: frames for it go
// out of one end of a veth pair to a MAC address the other end does not have, which drops them,
// so a connect waits in SYN_SENT as it does towards a host that died or a firewall that drops.
// Removed with everything in it at the end.
class BlackholeNamespace {
 public:
  BlackholeNamespace() : name_("mfbh" + std::to_string(::getpid())) {
    const auto sh = [](const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()) == 0; };
    const std::string in = "ip -n " + name_ + " ";
    created_ = sh("ip netns add " + name_) && sh(in + "link set lo up") &&
               sh(in + "link add bh0 type veth peer name bh1") && sh(in + "addr add 10.77.0.1/24 dev bh0") &&
               sh(in + "link set bh0 up") && sh(in + "link set bh1 up") &&
               sh(in + "neigh add 10.77.0.2 lladdr 02:00:5e:00:00:02 dev bh0 nud permanent");
  }
  ~BlackholeNamespace() { (void)std::system(("ip netns del " + name_ + " >/dev/null 2>&1").c_str()); }
  bool created() const { return created_; }
  const std::string& name() const { return name_; }
  static constexpr const char* kPeerUrl = "https://10.77.0.2:9443";  // its frames are dropped

 private:
  std::string name_;
  bool created_ = false;
};

// systemd gives a broker TimeoutStopSec=20s before SIGKILL: its stop must be bounded even when
// a peer's network drops SYNs and the control plane accepts and never answers.
TEST(BrokerOperations, SigtermEndsInBoundedTimeWithABlackholedPeerAndAHungControlPlane) {
  BlackholeNamespace ns;
  ASSERT_TRUE(ns.created()) << "the test runs as root and creates a network namespace (iproute2)";
  TempDir dir;
  auto d = make_domain(dir.path(), "pci", {"internal"});
  std::unique_ptr<EchoServer> hung_kuma;  // listens on the namespace's loopback
  run_in_netns(ns.name(), [&] { hung_kuma = std::make_unique<EchoServer>(EchoServer::Mode::kNeverRead); });
  write_file(d.dir / "kuma-token", "token\n");
  d.config["peers"][0]["url"] = BlackholeNamespace::kPeerUrl;
  d.config["control_plane"] = {{"type", "kuma"},
                               {"url", "http://127.0.0.1:" + std::to_string(hung_kuma->port())},
                               {"token_file", "kuma-token"},
                               {"meshes", {"default"}},
                               {"import_mesh", "default"},
                               {"ingress_zone", "zone-1"},
                               {"poll_interval_s", 1}};
  d.save_config();
  BrokerProcess broker(d.config_file, d.state_dir);
  broker.set_netns(ns.name());
  run_in_netns(ns.name(), [&] { broker.start(); });
  // Both are stuck: the watcher in its connect, the adapter waiting for an answer.
  ASSERT_TRUE(wait_until([&] { return hung_kuma->connections() >= 1; })) << broker.log();
  ASSERT_TRUE(wait_until([&] {
    return std::system(("ip netns exec " + ns.name() + " ss -Htn state syn-sent dst 10.77.0.2 | grep -q .").c_str()) ==
           0;
  })) << "the watcher's connect never began: "
      << broker.log();
  const auto asked = std::chrono::steady_clock::now();
  EXPECT_EQ(broker.stop(), 0) << broker.log();
  const auto took = std::chrono::steady_clock::now() - asked;
  EXPECT_LT(took, std::chrono::seconds(12)) << "the drain (10 s) plus 2 s";
  const auto audit = run_meshfed({"audit", "verify", "--config", d.config_file.string()});
  EXPECT_EQ(audit.exit_code, 0) << audit.output;
  auto db = store::Database::open_read_only(d.state_dir / "meshfed.db");
  ASSERT_TRUE(db.ok()) << db.error().message;
  bool stopped = false;
  ASSERT_TRUE((*db)
                  ->read([&](store::Reader& tx) -> Status {
                    for (const auto& e : testing::must(store::AuditQueries(tx).list(0, 1000)))
                      stopped |= e.action == "broker.stopped";
                    return {};
                  })
                  .ok());
  EXPECT_TRUE(stopped) << "the stop was orderly: its audit entry is written";
}

// Under a unit with Type=notify and WatchdogSec=: ready once listening, a status line for
// `systemctl status`, watchdog pings, reloading and stopping said as they happen.
TEST(BrokerOperations, TellsSystemdItsStateStatusAndThatItIsAlive) {
  TempDir dir;
  auto d = make_domain(dir.path(), "pci", {"internal"});
  NotifySocket systemd(std::chrono::milliseconds(200));
  BrokerProcess broker(d.config_file, d.state_dir);
  broker.start();
  EXPECT_TRUE(systemd.wait_for("READY=1")) << broker.log();
  EXPECT_TRUE(systemd.wait_for("WATCHDOG=1")) << broker.log();
  EXPECT_TRUE(systemd.wait_for("STATUS=0/1 peers connected, 0 exports approved, 0 imports active")) << broker.log();
  ::kill(broker.pid(), SIGHUP);
  EXPECT_TRUE(systemd.wait_for("RELOADING=1"));
  EXPECT_TRUE(systemd.wait_for("READY=1"));
  ::kill(broker.pid(), SIGTERM);
  EXPECT_TRUE(systemd.wait_for("STOPPING=1"));
  EXPECT_EQ(broker.stop(), 0);
}

// The certificates a domain presents are checked before anything starts: in their validity
// period and signed by the domain's own CA, each error naming the key, the file and the dates.
TEST(BrokerOperations, CertificatesOutOfDateOrFromAnotherCaAreRefusedByName) {
  using namespace std::chrono_literals;
  TempDir dir;
  auto d = make_domain(dir.path(), "pci", {});
  const auto pki_dir = d.dir / "pki";
  const auto check = [&] { return run_meshfed({"check-config", "--config", d.config_file.string()}); };
  ASSERT_EQ(check().exit_code, 0) << check().output;
  const auto reissue = [&](std::chrono::seconds not_before, std::chrono::seconds not_after) {
    pki::CustomLeaf leaf;
    leaf.uris = {"spiffe://pci/meshfed/broker"};
    leaf.ip_addresses = {"127.0.0.1"};
    leaf.not_before = not_before;
    leaf.not_after = not_after;
    ASSERT_TRUE(pki::issue_custom_leaf(pki_dir, leaf, pki_dir / "broker.pem", pki_dir / "broker-key.pem").ok());
  };
  struct Case {
    std::chrono::seconds not_before, not_after;
    std::string says;
  };
  for (const auto& c :
       {Case{-48h, -24h, "broker.pem has expired (valid "}, Case{24h, 48h, "broker.pem is not valid yet"}}) {
    reissue(c.not_before, c.not_after);
    const auto r = check();
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_NE(r.output.find("tls.cert_file: "), std::string::npos) << r.output;
    EXPECT_NE(r.output.find(c.says), std::string::npos) << c.says << "\n" << r.output;
    // The broker refuses to start on it too.
    const auto start = run_meshfed({"broker", "--config", d.config_file.string()});
    EXPECT_EQ(start.exit_code, 1) << start.output;
    EXPECT_NE(start.output.find(c.says), std::string::npos) << start.output;
  }

  // A leaf of another domain's CA, in date: it does not chain to tls.ca_file.
  pki::InitOptions other;
  other.domain = "dmz";
  ASSERT_TRUE(pki::init_domain(dir / "other", other).ok());
  fs::copy_file(dir / "other/broker.pem", pki_dir / "broker.pem", fs::copy_options::overwrite_existing);
  fs::copy_file(dir / "other/broker-key.pem", pki_dir / "broker-key.pem", fs::copy_options::overwrite_existing);
  const auto foreign = check();
  EXPECT_EQ(foreign.exit_code, 1);
  EXPECT_NE(foreign.output.find("tls.cert_file: "), std::string::npos) << foreign.output;
  EXPECT_NE(foreign.output.find("does not verify against"), std::string::npos) << foreign.output;

  // Three days left: accepted, with a warning that says when.
  reissue(-1h, 72h);
  const auto soon = check();
  EXPECT_EQ(soon.exit_code, 0) << soon.output;
  EXPECT_NE(soon.output.find("broker.pem expires in 3 days"), std::string::npos) << soon.output;
}

// A key or certificate the broker cannot read is named by its setting, with the OS's reason,
// not by OpenSSL's library codes.
TEST(BrokerOperations, AnUnreadableKeyOrCertificateIsNamedWithItsSettingAndTheOsReason) {
  TempDir dir;
  auto d = make_domain(dir.path(), "pci", {});
  const auto pki_dir = d.dir / "pki";
  fs::rename(pki_dir / "broker-key.pem", pki_dir / "broker-key.pem.moved");
  auto r = run_meshfed({"check-config", "--config", d.config_file.string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("tls.key_file: cannot read " + (pki_dir / "broker-key.pem").string() +
                          ": No such file or directory"),
            std::string::npos)
      << r.output;
  fs::rename(pki_dir / "broker-key.pem.moved", pki_dir / "broker-key.pem");
  fs::remove(pki_dir / "broker.pem");
  r = run_meshfed({"broker", "--config", d.config_file.string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(
      r.output.find("tls.cert_file: cannot read " + (pki_dir / "broker.pem").string() + ": No such file or directory"),
      std::string::npos)
      << r.output;
}

TEST(BrokerOperations, JsonLogLinesAndNoTokenInAnyLog) {
  TempDir dir;
  auto d = make_domain(dir.path(), "pci", {"internal"});
  BrokerProcess broker(d.config_file, d.state_dir, {"--log-format", "json"});
  broker.start();
  auto c = broker.client(dir / "pki/ca.pem");
  api_call(*c, "GET", "/api/v1/exports", d.tokens["alice"]);
  api_call(*c, "GET", "/api/v1/exports", "mf_not_a_real_token_but_secret_looking");
  api_call(
      *c, "POST", "/api/v1/exports", d.tokens["alice"],
      nlohmann::json{
          {"mesh", "default"}, {"service", "payments-api"}, {"port", 8443}, {"peers", {"internal"}}, {"reason", "x"}});
  EXPECT_EQ(broker.stop(), 0);
  const std::string log = broker.log();
  for (const auto& [name, token] : d.tokens) EXPECT_EQ(log.find(token), std::string::npos) << name << "'s token leaked";
  EXPECT_EQ(log.find("mf_not_a_real_token"), std::string::npos);
  EXPECT_EQ(log.find("BEGIN EC PRIVATE KEY"), std::string::npos);
  EXPECT_EQ(log.find("PRIVATE KEY"), std::string::npos);
  int lines = 0;
  for (const auto& line : split(log, '\n')) {
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << line;
    EXPECT_TRUE(j.contains("time") && j.contains("level") && j.contains("msg")) << line;
    ++lines;
  }
  EXPECT_GT(lines, 3);
}

}  // namespace
}  // namespace meshfed::testing
