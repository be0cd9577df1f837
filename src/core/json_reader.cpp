#include "core/json_reader.hpp"

#include "meshfed/core/text.hpp"

namespace meshfed {

std::string describe(const nlohmann::json& j) {
  std::string s = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return s;
}

namespace {

std::string kind_of(const nlohmann::json& j) {
  if (j.is_object()) return "an object";
  if (j.is_array()) return "an array";
  if (j.is_string()) return "a string";
  if (j.is_boolean()) return "true or false";
  if (j.is_null()) return "null";
  return "a number";
}

}  // namespace

ObjectReader::ObjectReader(const nlohmann::json& obj, std::string path, FieldErrors& errors, ReaderRules rules)
    : obj_(&obj), path_(std::move(path)), errors_(errors), rules_(rules) {
  if (!obj.is_object()) {
    errors_.add(path_.empty() ? "(root)" : path_, "expected an object, got " + got(obj));
    obj_ = nullptr;
  }
}

std::string ObjectReader::got(const nlohmann::json& value) const {
  return rules_.quote_values ? describe(value) : kind_of(value);
}

ObjectReader::~ObjectReader() {
  if (!obj_ || !rules_.unknown_keys_are_errors) return;
  const std::vector<std::string> known(seen_.begin(), seen_.end());  // every key the reader asked for
  for (const auto& [key, value] : obj_->items()) {
    if (seen_.count(key)) continue;
    // A suggestion names only our own keys; an adversary's unknown keys get none (no work for them).
    errors_.add(path_of(key), "unknown key" + (rules_.quote_values ? did_you_mean(key, known) : std::string()));
  }
}

bool ObjectReader::has(const std::string& key) const { return obj_ && obj_->contains(key); }

std::string ObjectReader::path_of(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }

const nlohmann::json* ObjectReader::get(const std::string& key) {
  if (rules_.unknown_keys_are_errors) seen_.insert(key);  // only the unknown-key check reads it
  if (!obj_) return nullptr;
  auto it = obj_->find(key);
  if (it == obj_->end() || (rules_.null_is_absent && it->is_null())) return nullptr;
  return &*it;
}

std::optional<std::string> ObjectReader::string(const std::string& key, bool required) {
  const auto* v = get(key);
  if (!v) {
    if (required && obj_) errors_.add(path_of(key), "required");
    return std::nullopt;
  }
  if (!v->is_string()) {
    errors_.add(path_of(key), "expected a string, got " + got(*v));
    return std::nullopt;
  }
  return v->get<std::string>();
}

std::optional<int64_t> ObjectReader::integer(const std::string& key, int64_t min, int64_t max) {
  const auto* v = get(key);
  if (!v) return std::nullopt;
  if (!v->is_number_integer()) {
    errors_.add(path_of(key), "expected an integer, got " + got(*v));
    return std::nullopt;
  }
  const auto n = v->get<int64_t>();
  if (n < min || n > max) {
    errors_.add(path_of(key), "expected an integer in [" + std::to_string(min) + ", " + std::to_string(max) +
                                  "], got " + std::to_string(n));
    return std::nullopt;
  }
  return n;
}

std::optional<bool> ObjectReader::boolean(const std::string& key) {
  const auto* v = get(key);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) {
    errors_.add(path_of(key), "expected true or false, got " + got(*v));
    return std::nullopt;
  }
  return v->get<bool>();
}

std::optional<std::vector<std::string>> ObjectReader::strings(const std::string& key) {
  const auto* v = get(key);
  if (!v) return std::nullopt;
  if (!v->is_array()) {
    errors_.add(path_of(key), "expected an array of strings, got " + got(*v));
    return std::nullopt;
  }
  std::vector<std::string> out;
  for (size_t i = 0; i < v->size(); ++i) {
    const auto& item = (*v)[i];
    if (!item.is_string()) {
      errors_.add(path_of(key) + "[" + std::to_string(i) + "]", "expected a string, got " + got(item));
      continue;
    }
    out.push_back(item.get<std::string>());
  }
  return out;
}

}  // namespace meshfed
