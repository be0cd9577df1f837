// meshfed pki init | issue | rollover | retire | show.
#include <CLI/CLI.hpp>
#include <grp.h>
#include <nlohmann/json.hpp>
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
#include "bundle_output.hpp"
#include "config_arg.hpp"
#include "output.hpp"

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
Status hand_over(const std::filesystem::path& dir, const std::string& leaf, const Owner& o) {
  const auto key = dir / (leaf + "-key.pem");
  const auto cert = dir / (leaf + ".pem");
  if (::chown(key.c_str(), o.uid, o.gid) == 0 && ::chown(cert.c_str(), o.uid, o.gid) == 0 &&
      ::chmod(key.c_str(), o.group_reads ? 0640 : 0600) == 0) {
    return {};
  }
  return make_error(ErrorCode::kFailedPrecondition,
                    "cannot hand " + key.string() + " over to --owner: " + std::strerror(errno));
}

nlohmann::json certificate_json(const pki::CertificateInfo& c) {
  return {{"subject", c.subject},
          {"issuer", c.issuer},
          {"uri_sans", c.uri_sans},
          {"dns_sans", c.dns_sans},
          {"ip_sans", c.ip_sans},
          {"key_usage", c.key_usage},
          {"extended_key_usage", c.extended_key_usage},
          {"is_ca", c.is_ca},
          {"not_before", c.not_before},
          {"not_after", c.not_after}};
}

void warn_if_nameless(const std::vector<std::string>& dns, const std::vector<std::string>& ips) {
  if (dns.empty() && ips.empty()) {
    std::cerr << "warning: no --dns or --ip: clients verifying the broker certificate by the name or address "
                 "they connect to will refuse it\n";
  }
}

}  // namespace

void add_pki_commands(CLI::App& app, Invocation& run) {
  auto* pki_cmd = app.add_subcommand("pki", "Create and inspect a domain's CA and certificates");
  pki_cmd->require_subcommand(1);
  pki_cmd->footer(
      "Example: meshfed pki init --domain pci --out /etc/meshfed/pci/pki --ip 127.0.0.1 --owner root:meshfed");

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
  init->callback([a, &run] {
    const auto owner = owner_of(a->owner);
    if (!owner) {
      run.exit_code = run.out.fail("pki init", owner.error());
      return;
    }
    warn_if_nameless(a->dns, a->ips);
    pki::InitOptions o;
    o.domain = a->domain;
    o.trust_domain = a->trust_domain;
    o.leaf = {a->dns, a->ips, std::chrono::days(a->days)};
    o.force = a->force;
    if (auto st = pki::init_domain(a->out, o); !st) {
      run.exit_code = run.out.fail("pki init", st.error());
      return;
    }
    for (const char* leaf : {"broker", "ingress", "egress"}) {
      if (!*owner) break;
      if (auto st = hand_over(a->out, leaf, **owner); !st) {
        run.exit_code = run.out.fail("pki init", st.error());
        return;
      }
    }
    const std::string ca_key_note = "ca-key.pem signs every certificate of domain " + a->domain +
                                    ": the broker never reads it; keep it offline once the certificates are issued";
    const nlohmann::json result = {{"out", a->out},
                                   {"files",
                                    {"ca.pem", "ca-key.pem", "broker.pem", "broker-key.pem", "ingress.pem",
                                     "ingress-key.pem", "egress.pem", "egress-key.pem"}},
                                   {"note", ca_key_note}};
    run.out.print(result, [&] {
      std::cout << "wrote ca.pem, ca-key.pem, broker.pem, ingress.pem, egress.pem and their keys to " << a->out << "\n"
                << ca_key_note << "\n";
    });
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
  issue->callback([b, &run] {
    const auto owner = owner_of(b->owner);
    if (!owner) {
      run.exit_code = run.out.fail("pki issue", owner.error());
      return;
    }
    if (b->role == "broker") warn_if_nameless(b->dns, b->ips);
    auto role = pki::parse_leaf_role(b->role);
    if (auto st = pki::issue_leaf(b->ca_dir, *role, {b->dns, b->ips, std::chrono::days(b->days)}, b->out); !st) {
      run.exit_code = run.out.fail("pki issue", st.error());
      return;
    }
    const std::filesystem::path out = b->out.empty() ? b->ca_dir : b->out;
    if (*owner) {
      if (auto st = hand_over(out, b->role, **owner); !st) {
        run.exit_code = run.out.fail("pki issue", st.error());
        return;
      }
    }
    const nlohmann::json result = {{"role", b->role},
                                   {"certificate", (out / (b->role + ".pem")).string()},
                                   {"key", (out / (b->role + "-key.pem")).string()}};
    run.out.print(result, [&] { std::cout << "issued " << b->role << ".pem\n"; });
  });

  struct RolloverArgs {
    std::string ca_dir, config;
    int days = 3650;
  };
  auto r = std::make_shared<RolloverArgs>();
  auto* rollover = pki_cmd->add_subcommand(
      "rollover", "Make the domain's next CA; ca.pem carries both, so peers trust the next before it signs anything");
  rollover->add_option("--ca-dir", r->ca_dir, "folder with ca.pem and ca-key.pem")->required();
  rollover->add_option("--config", r->config, "the domain's config: print the bundle carrying both CAs");
  rollover->add_option("--days", r->days, "the next CA's validity in days")
      ->check(CLI::Range(1, 7300))
      ->capture_default_str();
  rollover->footer(
      "Example: meshfed pki rollover --ca-dir /etc/meshfed/pci/pki --config /etc/meshfed/pci.json -o json > "
      "pci-bundle.json\n"
      "Then: reload; each peer approves the new bundle (meshfed ctl peers rollover); re-issue broker, ingress\n"
      "and egress (meshfed pki issue); reload; meshfed pki retire.");
  rollover->callback([r, &run] {
    std::optional<config::Config> cfg;
    if (!r->config.empty() && !(cfg = load_config_arg(r->config, run))) return;
    auto made = pki::rollover_ca(r->ca_dir, std::chrono::days(r->days));
    if (!made) {
      run.exit_code = run.out.fail("pki rollover", made.error());
      return;
    }
    std::cerr << "next CA \"" << made->next_ca_subject << "\" (valid until " << made->next_ca_not_after << ")\n"
              << r->ca_dir << "/ca.pem now holds it and the old CA; ca-previous-key.pem keeps the old key.\n"
              << "Reload the broker, have every peer approve the new bundle, then re-issue broker, ingress and\n"
              << "egress with meshfed pki issue, reload, and end the rollover with meshfed pki retire.\n";
    const nlohmann::json next = {
        {"next_ca", {{"subject", made->next_ca_subject}, {"not_after", made->next_ca_not_after}}}};
    if (cfg) {
      print_bundle(*cfg, run, "pki rollover", next);
    } else {
      run.out.print(next, [] {});
    }
  });

  auto retiring = std::make_shared<RolloverArgs>();
  auto* retire = pki_cmd->add_subcommand(
      "retire", "End a rollover: drop the old CA from ca.pem once every certificate is the next CA's");
  retire->add_option("--ca-dir", retiring->ca_dir, "folder with ca.pem")->required();
  retire->add_option("--config", retiring->config,
                     "the domain's config: its broker and gateway certificates are checked, and the new bundle "
                     "printed");
  retire->footer(
      "Example: meshfed pki retire --ca-dir /etc/meshfed/pci/pki --config /etc/meshfed/pci.json -o json > "
      "pci-bundle.json\n"
      "Then: reload, and have every peer approve the new bundle (meshfed ctl peers rollover).");
  retire->callback([retiring, &run] {
    std::optional<config::Config> cfg;
    if (!retiring->config.empty() && !(cfg = load_config_arg(retiring->config, run))) return;
    std::vector<std::filesystem::path> leaves;
    if (cfg) {
      leaves.push_back(cfg->tls.cert_file);
      if (cfg->gateways.ingress) leaves.push_back(cfg->gateways.ingress->cert_file);
      if (cfg->gateways.egress) leaves.push_back(cfg->gateways.egress->cert_file);
    } else {
      for (const char* role : {"broker", "ingress", "egress"}) {
        const auto leaf = std::filesystem::path(retiring->ca_dir) / (std::string(role) + ".pem");
        if (std::filesystem::exists(leaf)) leaves.push_back(leaf);
      }
    }
    if (auto st = pki::retire_ca(retiring->ca_dir, leaves); !st) {
      run.exit_code = run.out.fail("pki retire", st.error());
      return;
    }
    std::cerr << "the old CA is retired: " << retiring->ca_dir
              << "/ca.pem holds the next CA alone. Reload the broker and have every peer approve the new bundle.\n";
    if (cfg) {
      print_bundle(*cfg, run, "pki retire");
    } else {
      run.out.print({{"retired", true}}, [] {});
    }
  });

  auto file = std::make_shared<std::string>();
  auto* show = pki_cmd->add_subcommand("show", "Print a certificate's subject, SANs, issuer, key usage and expiry");
  show->add_option("file", *file, "PEM certificate")->required();
  show->footer("Example: meshfed pki show /etc/meshfed/pci/pki/broker.pem");
  show->callback([file, &run] {
    auto info = pki::read_certificate(*file);
    if (!info) {
      run.exit_code = run.out.fail("pki show", info.error());
      return;
    }
    run.out.print(certificate_json(*info), [&] { std::cout << pki::format_certificate(*info); });
  });
}

}  // namespace meshfed::cli
