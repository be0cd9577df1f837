// Errors as values: Result<T> has std::expected's shape (GCC 12 has no std::expected in C++20).
// Request and data paths return these; exceptions are reserved for start-up.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace meshfed {

// The most specific code wins; api/problem.cpp is the one place that maps codes to HTTP.
enum class ErrorCode {
  kInvalidArgument,     // the input is malformed or fails validation
  kNotFound,            // the object does not exist
  kAlreadyExists,       // a uniqueness rule would be broken
  kFailedPrecondition,  // the transition is not allowed from the current state
  kVersionMismatch,     // If-Match did not match the current version
  kPermissionDenied,    // authenticated, but not allowed to do this
  kUnauthenticated,     // no or bad credentials
  kPayloadTooLarge,
  kUnsupportedMediaType,
  kUnavailable,  // a dependency (store, control plane, peer) is not reachable now
  kUntrusted,    // the other side's certificate was refused (CA, name, expiry): a retry cannot help
  kCancelled,    // broken off by our own side (a stop, a wake), not a failure of the other
  kInternal,
};

struct FieldError {
  std::string field;
  std::string message;
  bool operator==(const FieldError&) const = default;
};

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;
  std::vector<FieldError> fields;
};

inline Error make_error(ErrorCode code, std::string message, std::vector<FieldError> fields = {}) {
  return Error{code, std::move(message), std::move(fields)};
}

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & {
    assert(ok());
    return std::get<0>(v_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<0>(v_);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(v_));
  }
  const Error& error() const {
    assert(!ok());
    return std::get<1>(v_);
  }

  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const {
    assert(!ok_);
    return error_;
  }

 private:
  Error error_;
  bool ok_ = true;
};

using Status = Result<void>;

}  // namespace meshfed

// Returns the error of a failed Status or Result from the enclosing function (which may return
// a Result of another type). Each use names its variable anew (__COUNTER__), so that one may
// sit inside a lambda that another one's argument holds.
#define MESHFED_RETURN_IF_ERROR(...) \
  MESHFED_RETURN_IF_ERROR_IMPL_(MESHFED_UNIQUE_NAME_(meshfed_status_, __COUNTER__), __VA_ARGS__)
#define MESHFED_RETURN_IF_ERROR_IMPL_(status, ...) \
  do {                                             \
    if (auto status = (__VA_ARGS__); !status) {    \
      return status.error();                       \
    }                                              \
  } while (false)

// `lhs` takes the value of a successful Result; a failed one's error is returned from the
// enclosing function. `lhs` may declare: MESHFED_ASSIGN_OR_RETURN(auto db, Database::open(f)).
#define MESHFED_ASSIGN_OR_RETURN(lhs, ...) \
  MESHFED_ASSIGN_OR_RETURN_IMPL_(MESHFED_UNIQUE_NAME_(meshfed_result_, __COUNTER__), lhs, __VA_ARGS__)
#define MESHFED_ASSIGN_OR_RETURN_IMPL_(result, lhs, ...) \
  auto result = (__VA_ARGS__);                           \
  if (!result) return result.error();                    \
  lhs = std::move(*result)
#define MESHFED_UNIQUE_NAME_(prefix, n) MESHFED_UNIQUE_NAME_JOIN_(prefix, n)
#define MESHFED_UNIQUE_NAME_JOIN_(a, b) a##b
