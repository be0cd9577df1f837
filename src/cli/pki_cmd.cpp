// meshfed pki init | issue | show.
#include <CLI/CLI.hpp>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <iostream>
#include <optional>

#include "meshfed/cli/cli.hpp"
#include "meshfed/core/result.hpp"
#include "meshfed/pki/pki.hpp"

namespace meshfed::cli {

namespace {

// --owner USER[:GROUP]: who the service runs as, so that it can read its own keys.
struct Owner {
  uid_t uid;
  gid_t gid;
  bool group_reads;  // a group was named: keys 0640 for it, else 0600 for the user alone
};

// Nothing when `spec` is empty; an error naming what does not exist, before anything is written.
Result<std::optional<Owner>> owner_of(const std::string& spec) {
  if (spec.empty()) return std::optional<Owner>();
  const auto colon = spec.find(':');
  const std::string user = spec.substr(0, colon);
  const passwd* pw = ::getpwnam(user.c_str());
  if (!pw) return make_error(ErrorCode::kInvalidArgument, "--owner: no user \"" + user + "\" on this machine");
  Owner o{pw->pw_uid, pw->pw_gid, false};
  if (colon != std::string::npos) {
    const std::string group_name = spec.substr(colon + 1);
    const struct group* gr = ::getgrnam(group_name.c_str());
    if (!gr) return make_error(ErrorCode::kInvalidArgument, "--owner: no group \"" + group_name + "\" on this machine");
    o.gid = gr->gr_gid;
    o.group_reads = true;
  }
  return std::optional<Owner>(o);
}

// Hands a leaf's key and certificate to the service account. The CA key stays with root.
bool hand_over(const std::filesystem::path& dir, const std::string& leaf, const Owner& o) {
  const auto key = dir / (leaf + "-key.pem");
  const auto cert = dir / (leaf + ".pem");
  bool ok = ::chown(key.c_str(), o.uid, o.gid) == 0 && ::chown(cert.c_str(), o.uid, o.gid) == 0 &&
            ::chmod(key.c_str(), o.group_reads ? 0640 : 0600) == 0;
  if (!ok) std::cerr << "cannot hand " << key.string() << " over to --owner: " << std::strerror(errno) << "\n";
  return ok;
}

void warn_if_nameless(const std::vector<std::string>& dns, const std::vector<std::string>& ips) {
  if (dns.empty() && ips.empty()) {
    std::cerr << "warning: no --dns or --ip: clients verifying the broker certificate by the name or address "
                 "they connect to will refuse it\n";
  }
}

}  // namespace

void add_pki_commands(CLI::App& app, int& exit_code) {
  auto* pki_cmd = app.add_subcommand("pki", "Create and inspect a domain's CA and certificates");
  pki_cmd->require_subcommand(1);

  struct InitArgs {
    std::string domain, trust_domain, out;
    std::vector<std::string> dns, ips;
    int days = 180;
    bool force = false;
    std::string owner;
  };
  auto a = std::make_shared<InitArgs>();
  auto* init = pki_cmd->add_subcommand("init", "Create the domain CA and the broker, ingress and egress certificates");
  init->add_option("--domain", a->domain, "the domain (RFC 1035 label)")->required();
  init->add_option("--trust-domain", a->trust_domain, "SPIFFE trust domain (default: the domain)");
  init->add_option("--out", a->out, "output folder")->required();
  init->add_option("--dns", a->dns, "DNS name for the leaf certificates (repeatable)");
  init->add_option("--ip", a->ips, "IP address for the leaf certificates (repeatable)");
  init->add_option("--days", a->days, "leaf validity in days")->check(CLI::Range(1, 3650))->capture_default_str();
  init->add_option("--owner", a->owner,
                   "USER[:GROUP] the service runs as: the leaf keys become theirs (0640 with a group, else 0600); "
                   "ca-key.pem stays with whoever runs this");
  init->add_flag("--force", a->force, "replace an existing CA (every peer trusting it must get the new one)");
  init->footer(
      "Example: meshfed pki init --domain pci --out /etc/meshfed/pci/pki --dns broker.pci.example "
      "--ip 127.0.0.1 --owner root:meshfed");
  init->callback([a, &exit_code] {
    const auto owner = owner_of(a->owner);
    if (!owner) {
      std::cerr << "pki init: " << owner.error().message << "\n";
      exit_code = 1;
      return;
    }
    warn_if_nameless(a->dns, a->ips);
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
    if (*owner) {
      for (const char* leaf : {"broker", "ingress", "egress"}) {
        if (!hand_over(a->out, leaf, **owner)) exit_code = 1;
      }
    }
    std::cout << "wrote ca.pem, ca-key.pem, broker.pem, ingress.pem, egress.pem and their keys to " << a->out << "\n"
              << "ca-key.pem signs every certificate of domain " << a->domain
              << ": the broker never reads it; keep it offline once the certificates are issued\n";
  });

  struct IssueArgs {
    std::string ca_dir, role, out;
    std::vector<std::string> dns, ips;
    int days = 180;
    std::string owner;
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
  issue->add_option("--days", b->days, "validity in days")->check(CLI::Range(1, 3650))->capture_default_str();
  issue->add_option("--owner", b->owner, "USER[:GROUP] the service runs as: the new key becomes theirs");
  issue->footer("Example: meshfed pki issue --ca-dir /etc/meshfed/pci/pki --role broker --dns broker.pci.example");
  issue->callback([b, &exit_code] {
    const auto owner = owner_of(b->owner);
    if (!owner) {
      std::cerr << "pki issue: " << owner.error().message << "\n";
      exit_code = 1;
      return;
    }
    if (b->role == "broker") warn_if_nameless(b->dns, b->ips);
    auto role = pki::parse_leaf_role(b->role);
    if (auto st = pki::issue_leaf(b->ca_dir, *role, {b->dns, b->ips, std::chrono::days(b->days)}, b->out); !st) {
      std::cerr << "pki issue: " << st.error().message << "\n";
      exit_code = 1;
      return;
    }
    if (*owner && !hand_over(b->out.empty() ? b->ca_dir : b->out, b->role, **owner)) exit_code = 1;
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
