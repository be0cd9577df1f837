// What an outside scanner sees of the three TLS listeners (sslscan from Debian against real
// broker processes): protocols, cipher suites and key exchange groups as docs/security.md lists them.
#include <gtest/gtest.h>

#include <cstdio>
#include <set>

#include "meshfed/core/text.hpp"
#include "support/test_support.hpp"

namespace meshfed::testing {
namespace {

struct Scan {
  std::set<std::string> protocols;  // enabled, e.g. "tls1.3"
  std::set<std::string> ciphers;    // "TLSv1.2 ECDHE-ECDSA-AES128-GCM-SHA256"
  std::set<std::string> groups;     // "x25519"
  std::string xml;
};

Scan sslscan(uint16_t port) {
  Scan s;
  const std::string cmd = "sslscan --no-colour --xml=- 127.0.0.1:" + std::to_string(port) + " 2>/dev/null";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return s;
  char buf[4096];
  while (std::fgets(buf, sizeof buf, p)) s.xml += buf;
  ::pclose(p);
  // sslscan's XML is one element per line; read the attributes we need from each.
  auto attr = [](const std::string& line, const std::string& name) {
    const auto at = line.find(" " + name + "=\"");
    if (at == std::string::npos) return std::string();
    const auto from = at + name.size() + 3;
    return line.substr(from, line.find('"', from) - from);
  };
  for (const auto& line : split(s.xml, '\n')) {
    if (line.find("<protocol ") != std::string::npos && attr(line, "enabled") == "1") {
      s.protocols.insert(attr(line, "type") + attr(line, "version"));
    } else if (line.find("<cipher ") != std::string::npos) {
      s.ciphers.insert(attr(line, "sslversion") + " " + attr(line, "cipher"));
    } else if (line.find("<group ") != std::string::npos) {
      const std::string group = attr(line, "name");
      s.groups.insert(group.substr(0, group.find(' ')));
    }
  }
  return s;
}

TEST(TlsScan, ListenersOfferOnlyModernProtocolsSuitesAndCurves) {
  if (std::system("command -v sslscan >/dev/null 2>&1") != 0) GTEST_SKIP() << "sslscan (Debian) is not installed";
  Federation fed(std::map<std::string, std::vector<std::string>>{{"pci", {"internal"}}, {"internal", {"pci"}}}, "auto",
                 60, 600, /*gateways=*/true);
  fed.start_all();
  const std::set<std::string> curves = {"x25519", "secp256r1", "secp384r1"};
  const std::vector<std::pair<std::string, uint16_t>> listeners = {{"admin", fed.broker("pci").admin_port()},
                                                                   {"peer_api", fed.peer_api_port("pci")},
                                                                   {"ingress", fed.ingress_port("pci")}};
  for (const auto& [name, port] : listeners) {
    const Scan s = sslscan(port);
    ASSERT_FALSE(s.ciphers.empty()) << name << ": sslscan found nothing\n" << s.xml;
    // The peer API and the ingress are TLS 1.3 only; the admin API also allows 1.2.
    const std::set<std::string> protocols =
        name == "admin" ? std::set<std::string>{"tls1.2", "tls1.3"} : std::set<std::string>{"tls1.3"};
    EXPECT_EQ(s.protocols, protocols) << name << "\n" << s.xml;
    for (const auto& c : s.ciphers) {
      const bool tls13 = c.rfind("TLSv1.3 ", 0) == 0;
      const bool forward_secret_aead = c.find("ECDHE-") != std::string::npos &&
                                       (c.find("GCM") != std::string::npos || c.find("CHACHA20") != std::string::npos);
      EXPECT_TRUE(tls13 || forward_secret_aead) << name << ": " << c;
    }
    EXPECT_FALSE(s.groups.empty()) << name << "\n" << s.xml;
    for (const auto& g : s.groups) EXPECT_TRUE(curves.count(g)) << name << " offers key exchange group " << g;
    EXPECT_EQ(s.xml.find("ffdhe"), std::string::npos) << name;
    EXPECT_NE(s.xml.find(R"(<renegotiation supported="0")"), std::string::npos) << name;
  }
}

}  // namespace
}  // namespace meshfed::testing
