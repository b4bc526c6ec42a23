// process.command_line without the secrets people put on command lines: values of options named
// like credentials (`--password x`, `--token=x`), `key=value` pairs whose key names a credential,
// client-specific password flags (`mysql -pX`, `redis-cli -a X`, `sshpass -p X`), credential
// headers (`-H "Authorization: Bearer x"`) and passwords in URLs (`postgres://u:p@h`). Each
// redacted value becomes `***`. It errs towards redacting too much: the span must never leak.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace hodos::agent {

inline constexpr std::string_view kRedacted = "***";

// True when an option or key name looks like it holds a credential (pass, pwd, secret, token,
// key, auth, credential, cookie; case-insensitive).
bool names_a_secret(std::string_view name);

// The arguments with secrets replaced; argv[0] selects the client-specific rules.
std::vector<std::string> redact_arguments(const std::vector<std::string>& argv);

// redact_arguments joined with spaces: the value of process.command_line.
std::string redacted_command_line(const std::vector<std::string>& argv);

}  // namespace hodos::agent
