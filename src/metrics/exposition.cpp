#include "meshfed/metrics/exposition.hpp"

#include <charconv>
#include <cmath>
#include <limits>
#include <unordered_map>
#include <unordered_set>

#include "meshfed/metrics/registry.hpp"

namespace meshfed::metrics {
namespace {

bool name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool name_char(char c) { return name_start(c) || (c >= '0' && c <= '9'); }
bool blank(char c) { return c == ' ' || c == '\t'; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if ((a[i] | 0x20) != (b[i] | 0x20)) return false;
  }
  return true;
}

// Go's strconv.ParseFloat, which Prometheus uses, also takes "Inf", "+inf", "NaN" in any case.
std::optional<double> parse_value(std::string_view s) {
  if (s.empty()) return std::nullopt;
  std::string_view unsigned_part = s[0] == '+' || s[0] == '-' ? s.substr(1) : s;
  const bool negative = s[0] == '-';
  if (iequals(unsigned_part, "inf") || iequals(unsigned_part, "infinity")) {
    return negative ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
  }
  if (iequals(unsigned_part, "nan")) return std::numeric_limits<double>::quiet_NaN();
  if (s[0] == '+') s.remove_prefix(1);
  double v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

std::string unescape_help(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size() && (s[i + 1] == '\\' || s[i + 1] == 'n')) {
      out.push_back(s[++i] == 'n' ? '\n' : '\\');
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::optional<MetricType> parse_type(std::string_view s) {
  if (s == "counter") return MetricType::kCounter;
  if (s == "gauge") return MetricType::kGauge;
  if (s == "histogram") return MetricType::kHistogram;
  if (s == "summary") return MetricType::kSummary;
  if (s == "untyped") return MetricType::kUntyped;
  return std::nullopt;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() > suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// The family a sample name belongs to when `family` declared it.
bool belongs_to(std::string_view sample, const MetricFamily& family) {
  if (sample == family.name) return family.type != MetricType::kHistogram;
  if (family.type != MetricType::kHistogram && family.type != MetricType::kSummary) return false;
  if (sample.size() <= family.name.size() || sample.substr(0, family.name.size()) != family.name) return false;
  const std::string_view suffix = sample.substr(family.name.size());
  return suffix == "_sum" || suffix == "_count" || (family.type == MetricType::kHistogram && suffix == "_bucket");
}

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  Result<std::vector<MetricFamily>> run() {
    for (size_t at = 0; at < text_.size(); ++line_) {
      size_t end = text_.find('\n', at);
      if (end == std::string_view::npos) end = text_.size();
      std::string_view line = text_.substr(at, end - at);
      at = end + 1;
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      size_t lead = 0;
      while (lead < line.size() && blank(line[lead])) ++lead;
      line.remove_prefix(lead);
      if (line.empty()) continue;
      MESHFED_RETURN_IF_ERROR(line[0] == '#' ? comment(line) : sample(line));
    }
    return std::move(families_);
  }

 private:
  Error fail(const std::string& what) const {
    return make_error(ErrorCode::kInvalidArgument, "line " + std::to_string(line_) + ": " + what);
  }

  MetricFamily& family_named(std::string_view name) {
    if (auto it = index_.find(std::string(name)); it != index_.end()) return families_[it->second];
    index_.emplace(std::string(name), families_.size());
    families_.push_back(MetricFamily{std::string(name), MetricType::kUntyped, "", {}});
    return families_.back();
  }

  // "# HELP name text" and "# TYPE name type"; other comments are ignored, as Prometheus does.
  Status comment(std::string_view line) {
    size_t at = 1;
    auto word = [&] {
      while (at < line.size() && blank(line[at])) ++at;
      const size_t start = at;
      while (at < line.size() && !blank(line[at])) ++at;
      return line.substr(start, at - start);
    };
    const std::string_view keyword = word();
    if (keyword != "HELP" && keyword != "TYPE") return {};
    const std::string_view name = word();
    if (!valid_metric_name(name))
      return fail("invalid metric name \"" + std::string(name) + "\" in " + std::string(keyword));
    while (at < line.size() && blank(line[at])) ++at;
    const std::string_view rest = line.substr(at);
    const bool known = index_.count(std::string(name)) > 0;
    MetricFamily& f = family_named(name);
    if (keyword == "HELP") {
      if (!f.help.empty()) return fail("second HELP for " + std::string(name));
      f.help = unescape_help(rest);
    } else {
      std::string_view type = rest;
      while (!type.empty() && blank(type.back())) type.remove_suffix(1);
      const auto t = parse_type(type);
      if (!t) return fail("unknown metric type \"" + std::string(type) + "\" for " + std::string(name));
      if (typed_.count(f.name)) return fail("second TYPE for " + std::string(name));
      if (known && !f.samples.empty()) return fail("TYPE for " + std::string(name) + " after its samples");
      typed_.insert(f.name);
      f.type = *t;
    }
    current_ = index_[f.name];
    return {};
  }

  Status sample(std::string_view line) {
    size_t at = 0;
    if (!name_start(line[0]) && line[0] != ':')
      return fail("expected a metric name, got \"" + std::string(line.substr(0, 40)) + "\"");
    while (at < line.size() && (name_char(line[at]) || line[at] == ':')) ++at;
    Sample s;
    s.name.assign(line.substr(0, at));
    while (at < line.size() && blank(line[at])) ++at;
    if (at < line.size() && line[at] == '{') {
      MESHFED_RETURN_IF_ERROR(labels(line, ++at, s));
    }
    while (at < line.size() && blank(line[at])) ++at;
    size_t start = at;
    while (at < line.size() && !blank(line[at])) ++at;
    const auto value = parse_value(line.substr(start, at - start));
    if (!value) return fail("invalid value \"" + std::string(line.substr(start, at - start)) + "\" for " + s.name);
    s.value = *value;
    while (at < line.size() && blank(line[at])) ++at;
    if (at < line.size()) {
      start = at;
      while (at < line.size() && !blank(line[at])) ++at;
      int64_t ts = 0;
      const std::string_view text = line.substr(start, at - start);
      auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), ts);
      if (ec != std::errc() || end != text.data() + text.size()) {
        return fail("invalid timestamp \"" + std::string(text) + "\" for " + s.name);
      }
      s.timestamp_ms = ts;
      while (at < line.size() && blank(line[at])) ++at;
      if (at < line.size()) return fail("unexpected text after the timestamp of " + s.name);
    }
    return add(std::move(s));
  }

  Status labels(std::string_view line, size_t& at, Sample& s) {
    for (;;) {
      while (at < line.size() && blank(line[at])) ++at;
      if (at < line.size() && line[at] == '}') {
        ++at;
        return {};
      }
      const size_t start = at;
      while (at < line.size() && name_char(line[at])) ++at;
      std::string name(line.substr(start, at - start));
      if (!valid_label_name(name)) return fail("invalid label name in " + s.name);
      if (name.size() >= 2 && name[0] == '_' && name[1] == '_') {
        return fail("label name " + name + " of " + s.name + " is reserved (names starting with __ are Prometheus's)");
      }
      // Bounded before the duplicate check below, which is linear per label: a series with
      // 40,000 labels would otherwise cost seconds of CPU per scrape.
      if (s.labels.size() >= kMaxLabelsPerSeries) {
        return fail(s.name + " has more than " + std::to_string(kMaxLabelsPerSeries) + " labels");
      }
      while (at < line.size() && blank(line[at])) ++at;
      if (at >= line.size() || line[at] != '=') return fail("expected '=' after label " + name + " of " + s.name);
      ++at;
      while (at < line.size() && blank(line[at])) ++at;
      if (at >= line.size() || line[at] != '"')
        return fail("expected '\"' to open the value of label " + name + " of " + s.name);
      ++at;
      std::string value;
      for (;; ++at) {
        if (at >= line.size()) return fail("unterminated value of label " + name + " of " + s.name);
        const char c = line[at];
        if (c == '"') break;
        if (value.size() >= kMaxLabelValueBytes) {
          return fail("the value of label " + name + " of " + s.name + " is longer than " +
                      std::to_string(kMaxLabelValueBytes) + " bytes");
        }
        if (c != '\\') {
          value.push_back(c);
          continue;
        }
        if (++at >= line.size()) return fail("unterminated value of label " + name + " of " + s.name);
        const char e = line[at];
        if (e == 'n')
          value.push_back('\n');
        else if (e == '\\' || e == '"')
          value.push_back(e);
        else
          return fail(std::string("invalid escape \\") + e + " in label " + name + " of " + s.name);
      }
      ++at;
      for (const auto& [n, v] : s.labels) {
        if (n == name) return fail("label " + name + " twice in " + s.name);
      }
      s.labels.emplace_back(std::move(name), std::move(value));
      while (at < line.size() && blank(line[at])) ++at;
      if (at < line.size() && line[at] == ',') {
        ++at;
      } else if (at >= line.size() || line[at] != '}') {
        return fail("expected ',' or '}' after label " + s.labels.back().first + " of " + s.name);
      }
    }
  }

  Status add(Sample s) {
    size_t target = current_;
    if (target >= families_.size() || !belongs_to(s.name, families_[target])) {
      target = declared_family_of(s.name);
    }
    if (target >= families_.size()) {
      MetricFamily& f = family_named(s.name);
      if (f.type == MetricType::kHistogram)
        return fail(s.name + " is a histogram; its series end in _bucket, _sum or _count");
      target = index_[f.name];
    }
    MetricFamily& f = families_[target];
    if (f.type == MetricType::kHistogram && ends_with(s.name, "_bucket") && !s.label("le")) {
      return fail("histogram bucket " + s.name + " without an le label");
    }
    if (f.type == MetricType::kSummary && s.name == f.name && !s.label("quantile")) {
      return fail("summary sample " + s.name + " without a quantile label");
    }
    current_ = target;
    f.samples.push_back(std::move(s));
    return {};
  }

  // A histogram's or summary's series whose family was declared earlier; npos if none.
  size_t declared_family_of(const std::string& sample) const {
    for (std::string_view suffix : {"_bucket", "_sum", "_count"}) {
      if (!ends_with(sample, suffix)) continue;
      auto it = index_.find(sample.substr(0, sample.size() - suffix.size()));
      if (it != index_.end() && belongs_to(sample, families_[it->second])) return it->second;
    }
    return std::numeric_limits<size_t>::max();
  }

  std::string_view text_;
  size_t line_ = 1;
  std::vector<MetricFamily> families_;
  std::unordered_map<std::string, size_t> index_;
  std::unordered_set<std::string> typed_;
  size_t current_ = std::numeric_limits<size_t>::max();
};

}  // namespace

std::string_view to_string(MetricType t) {
  switch (t) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
    case MetricType::kSummary:
      return "summary";
    case MetricType::kUntyped:
      break;
  }
  return "untyped";
}

void append_value(double v, std::string& out) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else if (v == std::floor(v) && std::fabs(v) < 1e15) {
    out += std::to_string(static_cast<int64_t>(v));  // integers as integers, not 1e+06
  } else {
    char buf[64];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);  // the shortest text that reads back exactly
    out.append(buf, end);
  }
}

void append_label_value(std::string_view v, std::string& out) {
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out.push_back(c);
  }
}

const std::string* Sample::label(std::string_view n) const {
  for (const auto& [k, v] : labels) {
    if (k == n) return &v;
  }
  return nullptr;
}

bool valid_metric_name(std::string_view name) {
  if (name.empty() || !(name_start(name[0]) || name[0] == ':')) return false;
  for (char c : name) {
    if (!name_char(c) && c != ':') return false;
  }
  return true;
}

bool valid_label_name(std::string_view name) {
  if (name.empty() || !name_start(name[0])) return false;
  for (char c : name) {
    if (!name_char(c)) return false;
  }
  return true;
}

Result<std::vector<MetricFamily>> parse_exposition(std::string_view text) { return Parser(text).run(); }

void write_sample(const Sample& s, std::string& out) {
  out += s.name;
  if (!s.labels.empty()) {
    out.push_back('{');
    for (size_t i = 0; i < s.labels.size(); ++i) {
      if (i) out.push_back(',');
      out += s.labels[i].first;
      out += "=\"";
      append_label_value(s.labels[i].second, out);
      out.push_back('"');
    }
    out.push_back('}');
  }
  out.push_back(' ');
  append_value(s.value, out);
  if (s.timestamp_ms) {
    out.push_back(' ');
    out += std::to_string(*s.timestamp_ms);
  }
  out.push_back('\n');
}

void write_exposition(const std::vector<MetricFamily>& families, std::string& out) {
  for (const auto& f : families) {
    if (f.samples.empty()) continue;
    if (!f.help.empty()) {
      out += "# HELP " + f.name + " ";
      for (char c : f.help) {
        if (c == '\\')
          out += "\\\\";
        else if (c == '\n')
          out += "\\n";
        else
          out.push_back(c);
      }
      out.push_back('\n');
    }
    out += "# TYPE " + f.name + " ";
    out += to_string(f.type);
    out.push_back('\n');
    for (const auto& s : f.samples) write_sample(s, out);
  }
}

}  // namespace meshfed::metrics
