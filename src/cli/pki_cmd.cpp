// meshfed pki init | issue | show.
#include <CLI/CLI.hpp>

#include <iostream>

#include "meshfed/cli/cli.hpp"
#include "meshfed/pki/pki.hpp"

namespace meshfed::cli {

void add_pki_commands(CLI::App& app, int& exit_code) {
  auto* pki_cmd = app.add_subcommand("pki", "Create and inspect a domain's CA and certificates");
  pki_cmd->require_subcommand(1);

  struct InitArgs {
    std::string domain, trust_domain, out;
    std::vector<std::string> dns, ips;
    int days = 180;
    bool force = false;
  };
  auto a = std::make_shared<InitArgs>();
  auto* init = pki_cmd->add_subcommand("init", "Create the domain CA and the broker, ingress and egress certificates");
  init->add_option("--domain", a->domain, "the domain (RFC 1035 label)")->required();
  init->add_option("--trust-domain", a->trust_domain, "SPIFFE trust domain (default: the domain)");
  init->add_option("--out", a->out, "output folder")->required();
  init->add_option("--dns", a->dns, "DNS name for the leaf certificates (repeatable)");
  init->add_option("--ip", a->ips, "IP address for the leaf certificates (repeatable)");
  init->add_option("--days", a->days, "leaf validity in days")->capture_default_str();
  init->add_flag("--force", a->force, "replace an existing CA (every peer trusting it must get the new one)");
  init->callback([a, &exit_code] {
    pki::InitOptions o;
    o.domain = a->domain;
    o.trust_domain = a->trust_domain;
    o.leaf = {a->dns, a->ips, std::chrono::days(a->days)};
    o.force = a->force;
    if (auto st = pki::init_domain(a->out, o); !st) {
      std::cerr << "pki init: " << st.error().message << "\n";
      exit_code = 1;
      return;
    }
    std::cout << "wrote ca.pem, ca-key.pem, broker.pem, ingress.pem, egress.pem and their keys to " << a->out << "\n";
  });

  struct IssueArgs {
    std::string ca_dir, role, out;
    std::vector<std::string> dns, ips;
    int days = 180;
  };
  auto b = std::make_shared<IssueArgs>();
  auto* issue = pki_cmd->add_subcommand("issue", "Re-issue one leaf certificate with the domain CA (rotation)");
  issue->add_option("--ca-dir", b->ca_dir, "folder with ca.pem and ca-key.pem")->required();
  issue->add_option("--role", b->role, "broker, ingress or egress")
      ->required()
      ->check(CLI::IsMember({"broker", "ingress", "egress"}));
  issue->add_option("--out", b->out, "output folder (default: --ca-dir)");
  issue->add_option("--dns", b->dns, "DNS name (repeatable)");
  issue->add_option("--ip", b->ips, "IP address (repeatable)");
  issue->add_option("--days", b->days, "validity in days")->capture_default_str();
  issue->callback([b, &exit_code] {
    auto role = pki::parse_leaf_role(b->role);
    if (auto st = pki::issue_leaf(b->ca_dir, *role, {b->dns, b->ips, std::chrono::days(b->days)}, b->out); !st) {
      std::cerr << "pki issue: " << st.error().message << "\n";
      exit_code = 1;
      return;
    }
    std::cout << "issued " << b->role << ".pem\n";
  });

  auto file = std::make_shared<std::string>();
  auto* show = pki_cmd->add_subcommand("show", "Print a certificate's subject, SANs, issuer, key usage and expiry");
  show->add_option("file", *file, "PEM certificate")->required();
  show->callback([file, &exit_code] {
    auto info = pki::read_certificate(*file);
    if (!info) {
      std::cerr << "pki show: " << info.error().message << "\n";
      exit_code = 1;
      return;
    }
    std::cout << pki::format_certificate(*info);
  });
}

}  // namespace meshfed::cli
