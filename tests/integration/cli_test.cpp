// The command line as a user meets it: usage errors, help, completion.
#include <gtest/gtest.h>

#include "meshfed/core/text.hpp"
#include "support/test_support.hpp"

namespace meshfed::testing {
namespace {

struct UsageCase {
  std::vector<std::string> args;
  std::string says;
};

TEST(Cli, UsageErrorsExitTwoAndNameTheUnknownWordBeforeAnythingMissing) {
  const std::vector<UsageCase> cases = {
      {{"ctl", "exports", "lst"}, "unknown command \"lst\" for \"meshfed ctl exports\"; did you mean \"list\"?"},
      {{"lst"}, "unknown command \"lst\" for \"meshfed\""},
      // --config is also missing; the typo is what the user needs to hear about.
      {{"broker", "--confg", "x.json"},
       "unknown option \"--confg\" for \"meshfed broker\"; did you mean \"--config\"?"},
      {{"check-config", "--bogus"}, "unknown option \"--bogus\" for \"meshfed check-config\""},
      {{"ctl", "exports", "approve", "a", "b"}, "unexpected argument \"b\" for \"meshfed ctl exports approve\""},
      {{"ctl", "exports", "approve"}, "id is required"},
      {{"--log-level", "loud", "check-config", "--config", "x"}, "--log-level"},
      {{"ctl", "exports", "request", "--service", "s", "--port", "1", "--peer", "p", "--reason", "r", "--ttl", "0"},
       "--ttl"},
      {{"ctl", "exports", "extend", "some-id", "--ttl", "-5"}, "--ttl"},
  };
  for (const auto& c : cases) {
    const auto r = run_meshfed(c.args);
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find(c.says), std::string::npos) << c.says << "\n" << r.output;
    EXPECT_NE(r.output.find("Run with --help"), std::string::npos);
  }
}

// The tokens file without an editor: add creates it, list never shows a digest, revoke removes
// by name; the file stays one valid JSON array the broker accepts, with its owner and mode.
TEST(Cli, TokenAddListRevokeKeepTheTokensFileValid) {
  TempDir dir;
  const std::string file = (dir.path() / "tokens.json").string();
  const auto added = run_meshfed(
      {"token", "add", "--tokens-file", file, "--name", "alice", "--role", "requester", "--role", "approver"});
  ASSERT_EQ(added.exit_code, 0) << added.output;
  EXPECT_NE(added.output.find("token (shown once, keep it secret): mf_"), std::string::npos) << added.output;
  EXPECT_NE(added.output.find("systemctl reload meshfed@DOMAIN"), std::string::npos) << added.output;
  EXPECT_EQ(fs::status(file).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
  fs::permissions(file, fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::replace);
  ASSERT_EQ(run_meshfed({"token", "add", "--tokens-file", file, "--name", "bob", "--role", "approver"}).exit_code, 0);
  EXPECT_EQ(fs::status(file).permissions() & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write);

  const auto duplicate = run_meshfed({"token", "add", "--tokens-file", file, "--name", "bob", "--role", "viewer"});
  EXPECT_EQ(duplicate.exit_code, 4) << duplicate.output;
  const auto listed = run_meshfed({"token", "list", "--tokens-file", file, "-o", "json"});
  ASSERT_EQ(listed.exit_code, 0) << listed.output;
  EXPECT_EQ(nlohmann::json::parse(listed.output),
            nlohmann::json::parse(R"([{"name": "alice", "roles": ["requester", "approver"]},
                                      {"name": "bob", "roles": ["approver"]}])"));
  EXPECT_EQ(read_file(file).find("sha256") != std::string::npos, true);
  EXPECT_EQ(listed.output.find("sha256"), std::string::npos);

  ASSERT_EQ(run_meshfed({"token", "revoke", "--tokens-file", file, "--name", "alice"}).exit_code, 0);
  EXPECT_EQ(run_meshfed({"token", "revoke", "--tokens-file", file, "--name", "alice"}).exit_code, 3);
  const auto after = nlohmann::json::parse(read_file(file));
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0]["name"], "bob");

  // What people did by hand before: lines appended to the file. Refused by name, unchanged.
  const std::string appended = read_file(file) + "{\"name\": \"eve\"}\n";
  write_file(file, appended);
  const auto broken = run_meshfed({"token", "add", "--tokens-file", file, "--name", "carol", "--role", "viewer"});
  EXPECT_EQ(broken.exit_code, 1) << broken.output;
  EXPECT_NE(broken.output.find("meshfed token add|revoke keep it so"), std::string::npos) << broken.output;
  EXPECT_EQ(read_file(file), appended);
}

TEST(Cli, HelpAndVersionExitZeroAndHelpNamesTheCommandNotTheBuildPath) {
  const auto help = run_meshfed({"ctl", "exports", "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.output.find("Usage: meshfed ctl exports"), std::string::npos) << help.output;
  const auto version = run_meshfed({"--version"});
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_EQ(version.output, std::string("meshfed ") + MESHFED_VERSION + "\n");
  // The level the log prints is one --log-level takes.
  EXPECT_EQ(run_meshfed({"--log-level", "warning", "--version"}).exit_code, 0);
}

// The subcommands a help text lists under "Subcommands:".
std::vector<std::string> subcommands_in(const std::string& help) {
  std::vector<std::string> names;
  bool listing = false;
  for (const auto& line : split(help, '\n')) {
    if (line == "Subcommands:") {
      listing = true;
    } else if (listing && line.starts_with("  ") && line.size() > 2 && line[2] != ' ') {
      names.push_back(line.substr(2, line.find(' ', 2) - 2));
    } else if (line.empty()) {
      listing = false;
    }
  }
  return names;
}

TEST(Cli, EverySubcommandsHelpShowsAnExampleOfItself) {
  std::vector<std::vector<std::string>> pending = {{}};
  int checked = 0;
  while (!pending.empty()) {
    auto path = pending.back();
    pending.pop_back();
    auto args = path;
    args.push_back("--help");
    const auto help = run_meshfed(args);
    ASSERT_EQ(help.exit_code, 0) << help.output;
    for (const auto& sub : subcommands_in(help.output)) {
      auto deeper = path;
      deeper.push_back(sub);
      pending.push_back(deeper);
    }
    if (path.empty()) continue;
    std::string command = "meshfed";
    for (const auto& word : path) command += " " + word;
    // Also under a variable assignment: "Example: MESHFED_TOKEN=... meshfed ctl ...".
    EXPECT_NE(help.output.find("Example: "), std::string::npos) << command << " has no example:\n" << help.output;
    EXPECT_NE(help.output.find(command + " "), std::string::npos) << command << "'s example is of another command";
    ++checked;
  }
  EXPECT_GE(checked, 30);
}

// Completes `words` (the last one partial) with the script `meshfed completion bash` prints.
std::string complete(const std::string& shell, const std::vector<std::string>& words) {
  TempDir dir;
  const auto script = run_meshfed({"completion", shell});
  EXPECT_EQ(script.exit_code, 0) << script.output;
  write_file(dir / "completion", script.output);
  std::string array;
  for (const auto& w : words) array += " '" + w + "'";
  write_file(dir / "run.sh", "shopt -s extglob\nsource " + (dir / "completion").string() + "\nCOMP_WORDS=(meshfed" +
                                 array + ")\nCOMP_CWORD=" + std::to_string(words.size()) +
                                 "\n_meshfed\necho \"${COMPREPLY[*]}\"\n");
  const std::string cmd = "bash " + (dir / "run.sh").string() + " 2>&1";
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  char buf[4096];
  for (size_t n; p && (n = fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  if (p) ::pclose(p);
  return out;
}

TEST(Cli, BashCompletionFollowsTheSubcommandsAndOptionsOfTheCli) {
  EXPECT_EQ(complete("bash", {"ctl", "exports", "ap"}), "approve approve-l7\n");
  EXPECT_EQ(complete("bash", {"ctl", "exports", "ch"}), "change-l7\n");
  EXPECT_EQ(complete("bash", {"ctl", "--url", "https://x", "imp"}), "imports\n");  // an option's value is skipped
  EXPECT_EQ(complete("bash", {"broker", "--con"}), "--config\n");
  EXPECT_EQ(complete("bash", {"pki", "i"}), "init issue\n");
  const auto zsh = run_meshfed({"completion", "zsh"});
  EXPECT_EQ(zsh.exit_code, 0);
  EXPECT_EQ(zsh.output.rfind("autoload -U +X bashcompinit && bashcompinit\n", 0), 0u) << zsh.output;
}

// `meshfed peer bundle` works from the config alone, before any broker runs, and gives exactly
// what the running broker serves on GET /api/v1/peering/bundle.
TEST(Cli, PeerBundleFromTheConfigIsWhatTheRunningBrokerServes) {
  TempDir dir;
  auto pci = make_domain(dir / "pci", "pci", {"internal"});
  pci.config["peer_api"] = {{"listen", "127.0.0.1:0"}};
  pci.save_config();
  const auto refused = run_meshfed({"peer", "bundle", "--config", pci.config_file.string()});
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.output.find("peer_api.advertise"), std::string::npos) << refused.output;

  pci.config["peer_api"]["advertise"] = "127.0.0.1:9443";
  pci.save_config();
  const auto offline = run_meshfed({"peer", "bundle", "--config", pci.config_file.string(), "-o", "json"});
  ASSERT_EQ(offline.exit_code, 0) << offline.output;
  const auto given = nlohmann::json::parse(offline.output);
  EXPECT_EQ(given["bundle"]["domain"], "pci");
  EXPECT_EQ(given["bundle"]["peer_api"], "https://127.0.0.1:9443");
  EXPECT_EQ(given["bundle"]["ca_pem"].size(), 1u);
  std::string digits = given["fingerprint"].get<std::string>();
  std::erase(digits, ' ');
  EXPECT_EQ(digits, sha256_hex(given["bundle"].dump())) << "the fingerprint hashes the canonical JSON";

  const auto human = run_meshfed({"peer", "bundle", "--config", pci.config_file.string()});
  ASSERT_EQ(human.exit_code, 0) << human.output;
  EXPECT_NE(human.output.find(given["fingerprint"].get<std::string>()), std::string::npos) << human.output;

  BrokerProcess broker(pci.config_file, pci.state_dir);
  broker.start();
  auto client = broker.client(pci.dir / "pki/ca.pem");
  auto served = client->request("GET", "/api/v1/peering/bundle", {{"Authorization", "Bearer " + pci.tokens["victor"]}});
  ASSERT_TRUE(served.ok()) << served.error().message;
  ASSERT_EQ(served->status, 200) << served->body;
  EXPECT_EQ(nlohmann::json::parse(served->body), given);
}

}  // namespace
}  // namespace meshfed::testing
