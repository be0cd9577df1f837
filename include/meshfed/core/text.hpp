// Small text helpers shared by every module: time formats, name rules, digests, randomness.
#pragma once

#include "meshfed/core/result.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "meshfed/core/clock.hpp"

namespace meshfed {

// RFC 3339 UTC with milliseconds, e.g. 2026-11-26T04:44:02.123Z.
std::string format_rfc3339(TimePoint t);
std::optional<TimePoint> parse_rfc3339(std::string_view s);

// RFC 1035 label: lowercase letter first, then lowercase letters, digits or '-', no trailing '-',
// at most 63 characters.
bool is_rfc1035_label(std::string_view s);
// A SPIFFE trust domain: 1 to 255 lowercase letters, digits, '.', '-' or '_'.
bool is_spiffe_trust_domain(std::string_view s);

// Lowercase hex of SHA-256 (OpenSSL EVP).
std::string sha256_hex(std::string_view data);

// Constant-time comparison of two equal-length strings (length itself is not secret here:
// we only ever compare fixed-length digests).
bool constant_time_equal(std::string_view a, std::string_view b);

// Cryptographically random characters from [a-z0-9].
std::string random_dns_chars(size_t n);
// Cryptographically random bytes as URL-safe text, for tokens.
std::string random_token(size_t bytes);

std::vector<std::string> split(std::string_view s, char sep);

// "; did you mean \"NAME\"?" for the nearest of `names` to a mistyped `word` (by edit
// distance, when near enough to be what was meant), else "". For unknown commands, options and
// config keys alike.
std::string did_you_mean(const std::string& word, const std::vector<std::string>& names);

// Text from outside (a request path, a peer's error) made safe for one log line: control
// characters, backslashes and every byte outside ASCII escaped (\n, \x1b, \xc2\x9b), cut to
// `max_length` with "..." after it. Names meshfed logs are ASCII; anything else is shown, not
// interpreted (no terminal escapes, no bidi overrides, valid JSON in --log-format json).
std::string escape_for_log(std::string_view s, size_t max_length = 512);
std::optional<int64_t> parse_int(std::string_view s);

// A secret kept alone in a file (a bearer token): its content without trailing whitespace;
// an error naming the file when it cannot be read or is empty.
Result<std::string> read_secret_file(const std::string& file);

}  // namespace meshfed
