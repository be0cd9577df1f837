// Walks a JSON object while tracking the key path, collecting every error instead of stopping
// at the first, and reporting keys nobody asked for as unknown. Keeps nlohmann/json inside the
// config module.
#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "meshfed/core/result.hpp"

namespace meshfed::config {

class Errors {
 public:
  void add(std::string path, std::string message) { list_.push_back({std::move(path), std::move(message)}); }
  bool empty() const { return list_.empty(); }
  std::vector<FieldError> take() { return std::move(list_); }

 private:
  std::vector<FieldError> list_;
};

std::string describe(const nlohmann::json& j);

class ObjectReader {
 public:
  ObjectReader(const nlohmann::json& obj, std::string path, Errors& errors);
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
  Errors& errors() { return errors_; }

 private:
  const nlohmann::json* obj_;
  std::string path_;
  Errors& errors_;
  std::set<std::string> seen_;
};

}  // namespace meshfed::config
