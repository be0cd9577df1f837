// The approval console in a real browser: two domains' brokers as real processes, and
// Debian's Chromium driven by playwright-core (tests/console/console.test.mjs) clicking through
// the console as requesters, approvers, a viewer and an admin would. The browser suite checks
// every result through the admin API too; this harness sets the domains up and runs it.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include "support/test_support.hpp"

namespace meshfed::testing {
namespace {

using nlohmann::json;

const fs::path kSuiteDir = fs::path(MESHFED_SOURCE_DIR) / "tests" / "console";

// What the suite needs that a fresh machine might lack, named so that the failure says how to
// get it (scripts/install-deps.sh installs both).
std::string missing_prerequisite() {
  if (std::system("command -v node >/dev/null 2>&1") != 0) return "node (Debian package nodejs)";
  if (std::system("command -v chromium >/dev/null 2>&1") != 0) return "chromium (Debian package chromium)";
  if (!fs::exists(kSuiteDir / "node_modules" / "playwright-core")) {
    return "playwright-core (npm ci in tests/console, as scripts/install-deps.sh does)";
  }
  return "";
}

json domain_json(Federation& fed, const std::string& d) {
  auto& dom = fed.domain(d);
  return {{"url", "https://127.0.0.1:" + std::to_string(fed.broker(d).admin_port())},
          {"ca_file", (dom.dir / "pki" / "ca.pem").string()},
          {"tokens", dom.tokens},
          {"tokens_file", (dom.dir / "tokens.json").string()},
          {"pid", fed.broker(d).pid()}};
}

TEST(ConsoleBrowser, RequestApproveImportRevokeAndRefuseInAChromium) {
  const std::string missing = missing_prerequisite();
  ASSERT_TRUE(missing.empty()) << "the browser suite needs " << missing;

  // pci exports, internal imports; both accept imports only after an approver's acceptance.
  // edge starts with no peer: pci and it become peers through the console.
  Federation fed({{"pci", {"internal"}}, {"internal", {"pci"}}, {"edge", {}}}, "manual");
  for (const std::string d : {"pci", "edge"}) fed.advertise_peer_api(d);
  fed.start_all();
  fed.connect();
  auto admin = fed.admin("internal");
  ASSERT_TRUE(wait_until([&] {
    auto r = api_call(*admin, "GET", "/api/v1/peers", fed.domain("internal").tokens.at("victor"));
    return r.status == 200 && !r.body["items"].empty() && r.body["items"][0]["state"] == "connected";
  })) << fed.broker("internal").log();

  const fs::path setup = fed.dir() / "console-setup.json";
  write_file(setup, json{{"pci", domain_json(fed, "pci")},
                         {"internal", domain_json(fed, "internal")},
                         {"edge", domain_json(fed, "edge")}}
                        .dump(2));
  const fs::path log = fed.dir() / "console-suite.log";
  ::setenv("MESHFED_CONSOLE_SETUP", setup.c_str(), 1);
  const int pid = spawn_process(
      {"node", "--test", "--test-reporter=spec", "--test-concurrency=1", (kSuiteDir / "console.test.mjs").string()},
      log);
  // node's own per-test timeouts bound it; ctest's timeout is the backstop.
  int status = 0;
  ::waitpid(pid, &status, 0);
  ::unsetenv("MESHFED_CONSOLE_SETUP");
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << read_file(log) << "\n--- pci broker log:\n"
                                                             << fed.broker("pci").log();
}

}  // namespace
}  // namespace meshfed::testing
