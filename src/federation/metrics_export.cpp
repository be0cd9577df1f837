#include "meshfed/federation/metrics_export.hpp"

#include <spdlog/spdlog.h>

#include <set>

#include "meshfed/http/client.hpp"
#include "meshfed/metrics/exposition.hpp"
#include "meshfed/policy/l7.hpp"

namespace meshfed::federation {
namespace {

using SteadyClock = std::chrono::steady_clock;

// Where a URL points: "http(s)://host:port" and the request target. Characters a selector
// needs but a request line may not carry ({, }, ", spaces...) are percent-encoded.
struct SourceUrl {
  std::string origin;
  std::string target = "/";
};

SourceUrl split_url(const std::string& url) {
  SourceUrl out;
  const size_t scheme_end = url.find("://");
  const size_t path_at = url.find('/', scheme_end == std::string::npos ? 0 : scheme_end + 3);
  out.origin = url.substr(0, path_at);
  if (path_at == std::string::npos) return out;
  out.target.clear();
  static const std::string kKeep = "-._~:/?#[]@!$&'()*+,;=%";
  for (unsigned char c : url.substr(path_at)) {
    if (std::isalnum(c) || kKeep.find(static_cast<char>(c)) != std::string::npos) {
      out.target.push_back(static_cast<char>(c));
    } else {
      static const char* kHex = "0123456789ABCDEF";
      out.target += {'%', kHex[c >> 4], kHex[c & 15]};
    }
  }
  return out;
}

}  // namespace

struct MetricsExporter::Source {
  config::MetricsSource cfg;
  std::string label;  // the URL without its query: how metrics and logs name the source
  SourceUrl url;
  std::optional<Regex> service_regex;
  std::unique_ptr<http::HttpsClient> client;
  std::vector<metrics::MetricFamily> families;
  SteadyClock::time_point last_success{};
  SteadyClock::time_point next_due{};
};

MetricsExportSettings metrics_export_settings(const config::Config& c) {
  MetricsExportSettings s;
  s.sources = c.metrics.sources;
  s.limits = {c.metrics.label_allowlist, c.metrics.max_series_per_peer, c.metrics.max_bytes_per_peer};
  s.keep_for = c.sync.stale_after;
  return s;
}

MetricsExporter::MetricsExporter(MetricsExportSettings settings, metrics::Registry& registry,
                                 std::function<ExportedMetricsByPeer()> exports_by_peer)
    : registry_(registry), exports_by_peer_(std::move(exports_by_peer)),
      scrapes_(registry.counter("meshfed_metrics_source_scrapes_total",
                                "Scrapes of the domain's metrics sources, by source URL (without query) and result.",
                                {"source", "result"})),
      source_series_(
          registry.gauge("meshfed_metrics_source_series", "Series in each source's last good scrape.", {"source"})),
      exported_series_(registry.gauge("meshfed_metrics_exported_series",
                                      "Series each peer receives on GET /federation/v1/metrics.", {"peer"})),
      cap_hits_(
          registry.counter("meshfed_metrics_cap_hits_total",
                           "Selections for a peer that left series out because of max_series_per_peer (cap=series) "
                           "or max_bytes_per_peer (cap=bytes).",
                           {"peer", "cap"})),
      dropped_quantiles_(registry.counter("meshfed_metrics_summary_quantiles_dropped_total",
                                          "Summary quantiles left out because relabelling made two series identical.",
                                          {"peer"})),
      loop_(std::move(settings)) {}

MetricsExporter::~MetricsExporter() { stop(); }

void MetricsExporter::start() {
  loop_.start([this] { run(); });
}
void MetricsExporter::stop() {
  loop_.stop([this] { requests_.stop(); });
}
void MetricsExporter::reconfigure(MetricsExportSettings settings) { loop_.reconfigure(std::move(settings)); }
void MetricsExporter::exports_changed() { loop_.wake(); }

std::string MetricsExporter::text_for(const std::string& peer) const {
  std::string text;
  {
    MutexLock lock(mu_);
    auto it = by_peer_.find(peer);
    if (it != by_peer_.end()) text = it->second;
  }
  // The peer's own requests our ingress refused: its series alone (one per export to it).
  return text + registry_.expose_where(std::string(policy::kL7DeniedMetric), "peer", peer);
}

void MetricsExporter::run() {
  std::vector<Source> sources;
  MetricsExportSettings settings;
  bool changed = false;
  bool reselect = false;           // exports changed while the last round ran or slept
  std::set<std::string> reported;  // peers with a series count on /metrics
  while (loop_.next_round(settings, changed)) {
    if (changed) {
      sources.clear();
      for (const auto& cfg : settings.sources) {
        Source s;
        s.cfg = cfg;
        s.url = split_url(cfg.url);
        s.label = s.url.origin + s.url.target.substr(0, s.url.target.find('?'));
        if (!cfg.service_regex.empty())
          s.service_regex = Regex::compile(cfg.service_regex).value();  // checked by config
        sources.push_back(std::move(s));
      }
    }
    reselect = reselect || changed;
    const auto now = SteadyClock::now();
    for (auto& s : sources) {
      if (now < s.next_due) continue;
      scrape(s);
      s.next_due = SteadyClock::now() + s.cfg.interval;
      reselect = true;
    }
    if (reselect) {
      reselect = false;
      const auto fresh_since = SteadyClock::now() - settings.keep_for;
      std::vector<metrics::SourceSeries> usable;
      for (auto& s : sources) {
        if (s.last_success < fresh_since) s.families.clear();  // never serve a dead source's last values
        if (!s.families.empty()) usable.push_back({&s.families, s.cfg.service_label, s.service_regex});
      }
      std::map<std::string, std::string> texts;
      // Without data there is nothing to select: spare the store the walk over every export.
      const auto exports_by_peer = usable.empty() ? ExportedMetricsByPeer{} : exports_by_peer_();
      for (const auto& peer : reported) {
        if (!exports_by_peer.count(peer)) exported_series_.set({peer}, 0);  // its last exports are gone
      }
      reported.clear();
      for (const auto& [peer, exports] : exports_by_peer) {
        reported.insert(peer);
        auto sel = metrics::select_exported(usable, exports, settings.limits);
        exported_series_.set({peer}, static_cast<double>(sel.series));
        if (sel.series_over_cap) cap_hits_.inc({peer, "series"});
        if (sel.bytes_over_cap) cap_hits_.inc({peer, "bytes"});
        if (sel.colliding_quantiles) dropped_quantiles_.inc({peer}, static_cast<double>(sel.colliding_quantiles));
        texts[peer] = std::move(sel.text);
      }
      MutexLock lock(mu_);
      by_peer_ = std::move(texts);
    }
    auto next = SteadyClock::now() + std::chrono::seconds(60);
    for (const auto& s : sources) next = std::min(next, s.next_due);
    reselect = loop_.sleep_until(next);
  }
}

void MetricsExporter::scrape(Source& s) {
  auto fail = [&](const std::string& result, const std::string& why) {
    spdlog::warn("metrics source {}: {}", s.label, why);
    scrapes_.inc({s.label, result});  // after the log line: a test that sees the count finds the line
    s.client.reset();                 // a fresh connection next time
  };
  if (!s.client) {
    http::ClientOptions co;
    bool tls = false;
    if (!http::parse_http_url(s.url.origin, tls, co.host, co.port)) return fail("error", "bad url " + s.cfg.url);
    co.plain = !tls;
    if (tls) co.ca_file = "/etc/ssl/certs/ca-certificates.crt";  // sources are verified against the system's CAs
    co.timeout = s.cfg.timeout;
    co.body_limit = s.cfg.max_bytes;
    auto created = http::HttpsClient::create(co);
    if (!created) return fail("error", created.error().message);
    s.client = std::move(created).value();
  }
  auto res = requests_.request(*s.client, "GET", s.url.target, {{"accept", "text/plain;version=0.0.4"}});
  if (!res) return fail("error", res.error().message);
  if (res->status != 200) return fail("error", "HTTP " + std::to_string(res->status));
  auto families = metrics::parse_exposition(res->body);
  if (!families) return fail("parse_error", families.error().message);
  size_t series = 0;
  for (const auto& f : *families) series += f.samples.size();
  s.families = std::move(families).value();
  s.last_success = SteadyClock::now();
  scrapes_.inc({s.label, "ok"});
  source_series_.set({s.label}, static_cast<double>(series));
}

}  // namespace meshfed::federation
