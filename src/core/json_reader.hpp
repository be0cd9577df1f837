// The one way meshfed reads fields out of a JSON object it did not write (config files, admin
// API bodies, the Kuma API's answers): it tracks the key path, collects every error instead
// of stopping at the first or throwing, and reports keys nobody asked for as unknown unless
// told to ignore them. A private header: nlohmann/json stays out of include/.
#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "meshfed/core/result.hpp"

namespace meshfed {

class FieldErrors {
 public:
  void add(std::string path, std::string message) { list_.push_back({std::move(path), std::move(message)}); }
  bool empty() const { return list_.empty(); }
  size_t size() const { return list_.size(); }
  std::vector<FieldError> take() { return std::move(list_); }

 private:
  std::vector<FieldError> list_;
};

// A short rendering of a value for an error message.
std::string describe(const nlohmann::json& j);

struct ReaderRules {
  bool unknown_keys_are_errors = true;  // false for answers from systems that add fields
  bool null_is_absent = false;          // true where a client may send null for "not given"
  bool quote_values = true;             // false where errors reach an audit log and the value came from an adversary
};

class ObjectReader {
 public:
  ObjectReader(const nlohmann::json& obj, std::string path, FieldErrors& errors, ReaderRules rules = {});
  ~ObjectReader();  // reports unknown keys
  ObjectReader(const ObjectReader&) = delete;
  ObjectReader& operator=(const ObjectReader&) = delete;

  bool valid() const { return obj_ != nullptr; }
  bool has(const std::string& key) const;
  std::string path_of(const std::string& key) const;
  const nlohmann::json* get(const std::string& key);  // marks the key as known

  std::optional<std::string> string(const std::string& key, bool required);
  std::optional<int64_t> integer(const std::string& key, int64_t min, int64_t max);
  std::optional<bool> boolean(const std::string& key);
  std::optional<std::vector<std::string>> strings(const std::string& key);
  FieldErrors& errors() { return errors_; }
  // What a wrong value was, for an error message: quoted, or only its kind (see ReaderRules).
  std::string got(const nlohmann::json& value) const;

 private:
  const nlohmann::json* obj_;
  std::string path_;
  FieldErrors& errors_;
  ReaderRules rules_;
  std::set<std::string> seen_;
};

}  // namespace meshfed
