// What `meshfed` exits with (meshfed(1), EXIT STATUS), so that a script can tell a refusal it
// should report from one it may retry.
#pragma once

#include "meshfed/core/result.hpp"

namespace meshfed::cli {

inline constexpr int kExitFailed = 1;       // anything else that failed
inline constexpr int kExitUsage = 2;        // an unknown or missing argument
inline constexpr int kExitNotFound = 3;     // no such export, import, peer
inline constexpr int kExitConflict = 4;     // the state does not allow it (four eyes, If-Match, a running broker)
inline constexpr int kExitForbidden = 5;    // no or a bad token, or a role that does not allow it
inline constexpr int kExitUnavailable = 6;  // the broker or its store cannot be reached now: retry

inline int exit_code_for(ErrorCode code) {
  switch (code) {
    case ErrorCode::kNotFound:
      return kExitNotFound;
    case ErrorCode::kPermissionDenied:
    case ErrorCode::kUnauthenticated:
      return kExitForbidden;
    case ErrorCode::kAlreadyExists:
    case ErrorCode::kFailedPrecondition:
    case ErrorCode::kVersionMismatch:
      return kExitConflict;
    case ErrorCode::kUnavailable:
      return kExitUnavailable;
    default:
      return kExitFailed;
  }
}

// The same for an answer of the admin API.
inline int exit_code_for_status(int http_status) {
  switch (http_status) {
    case 404:
      return kExitNotFound;
    case 401:
    case 403:
      return kExitForbidden;
    case 409:
    case 412:
    case 428:
      return kExitConflict;
    case 429:  // slowed after failed authentications: the answer says when to retry
    case 502:
    case 503:
    case 504:
      return kExitUnavailable;
    default:
      return kExitFailed;
  }
}

}  // namespace meshfed::cli
