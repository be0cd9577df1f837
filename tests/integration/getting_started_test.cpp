// docs/getting-started.md as a newcomer follows it: every ```sh block, in order, verbatim, in
// one bash session in a fresh folder, with this build's meshfed on PATH. The doc cannot drift
// from what the product does: a changed flag, message or default fails here.
#include <gtest/gtest.h>

#include <regex>

#include "meshfed/core/text.hpp"
#include "support/test_support.hpp"

namespace meshfed::testing {
namespace {

// The shell blocks of a Markdown file, joined in order.
std::string shell_blocks(const std::string& markdown) {
  std::string out;
  bool in_block = false;
  for (const auto& line : split(markdown, '\n')) {
    if (!in_block && line == "```sh") {
      in_block = true;
    } else if (in_block && line == "```") {
      in_block = false;
      out += "\n";
    } else if (in_block) {
      out += line + "\n";
    }
  }
  return out;
}

TEST(GettingStarted, EveryCommandOfTheWalkthroughRuns) {
  const fs::path source(MESHFED_SOURCE_DIR);
  const std::string blocks = shell_blocks(read_file(source / "docs/getting-started.md"));
  ASSERT_NE(blocks.find("meshfed ctl"), std::string::npos);  // the doc was found and read
  TempDir dir;
  const fs::path bin = fs::path(MESHFED_BINARY).parent_path();
  // Stops the brokers, the service and anything else the walkthrough left in the background.
  const std::string script = "set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null; wait' EXIT\ncd " +
                             dir.path().string() + "\nexport PATH=" + bin.string() +
                             ":$PATH MESHFED_EXAMPLES=" + (source / "config").string() + "\n" + blocks;
  write_file(dir.path() / "walkthrough.sh", script);
  const std::string cmd = "timeout 240 bash " + (dir.path() / "walkthrough.sh").string() + " 2>&1";
  std::string output;
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) output.append(buf, n);
  const int status = ::pclose(p);
  const auto logs = [&] {
    return output + "\n--- pci broker log:\n" + read_file(dir.path() / "walkthrough/pci/broker.log") +
           "\n--- internal broker log:\n" + read_file(dir.path() / "walkthrough/internal/broker.log");
  };
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << logs();
  // What each step shows the reader.
  EXPECT_NE(output.find("pci/pci.json: ok (domain pci, 0 peers)"), std::string::npos) << output;
  // The fingerprint read aloud, then the peer in force with no config edit.
  EXPECT_TRUE(std::regex_search(output, std::regex("\\n  ([0-9a-f]{4} ){15}[0-9a-f]{4}\\n"))) << output;
  EXPECT_TRUE(std::regex_search(output, std::regex("\\npci +api +connected"))) << output;
  EXPECT_TRUE(std::regex_search(output, std::regex("state: +active"))) << output;
  EXPECT_NE(output.find("MeshExternalService"), std::string::npos) << output;
  EXPECT_NE(output.find("\"services\": [{\"mesh\": \"default\", \"name\": \"payments-api\""), std::string::npos)
      << output;  // the service's own file, fetched through both gateways
  EXPECT_NE(output.find("table inet meshfed_pci"), std::string::npos) << output;
}

}  // namespace
}  // namespace meshfed::testing
