#include "agent/command_line_redaction.h"

#include <algorithm>
#include <array>
#include <cctype>

namespace hodos::agent {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string_view basename_of(std::string_view path) {
  size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

// Clients whose short flag carries a password: flag → whether the value may be attached ("-pX").
struct PasswordFlag {
  std::string_view flag;
  bool attached;  // "-pSECRET" (mysql) rather than "-p SECRET"
};

std::vector<PasswordFlag> password_flags(std::string_view program) {
  static constexpr std::array<std::string_view, 6> kMysqlish = {
      "mysql", "mysqldump", "mysqladmin", "mariadb", "mariadb-dump", "mysqlimport"};
  if (std::find(kMysqlish.begin(), kMysqlish.end(), program) != kMysqlish.end()) {
    return {{"-p", true}};  // a separate "-p x" prompts and x is the database: not a secret
  }
  if (program == "redis-cli" || program == "valkey-cli") return {{"-a", false}};
  if (program == "sshpass") return {{"-p", false}};
  return {};
}

// "scheme://user:password@host" → "scheme://user:***@host", every occurrence.
std::string redact_url_passwords(std::string s) {
  size_t from = 0;
  while ((from = s.find("://", from)) != std::string::npos) {
    size_t start = from + 3;
    size_t end = s.find_first_of("/?# \"'", start);
    if (end == std::string::npos) end = s.size();
    size_t at = s.rfind('@', end == 0 ? 0 : end - 1);
    if (at != std::string::npos && at >= start && at < end) {
      size_t colon = s.find(':', start);
      if (colon != std::string::npos && colon < at) {
        s.replace(colon + 1, at - colon - 1, kRedacted);
        end = colon + 1 + kRedacted.size();
      }
    }
    from = end;
  }
  return s;
}

// "Authorization: Bearer x" (a curl -H argument, say) → "Authorization: ***".
bool is_credential_header(std::string_view arg, size_t& colon) {
  colon = arg.find(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  std::string_view name = arg.substr(0, colon);
  bool header_like = std::all_of(name.begin(), name.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '-' || c == '_';
  });
  return header_like && names_a_secret(name);
}

}  // namespace

bool names_a_secret(std::string_view name) {
  static constexpr std::array<std::string_view, 8> kWords = {
      "pass", "pwd", "secret", "token", "key", "auth", "credential", "cookie"};
  std::string n = lower(name);
  return std::any_of(kWords.begin(), kWords.end(),
                     [&](std::string_view w) { return n.find(w) != std::string::npos; });
}

std::vector<std::string> redact_arguments(const std::vector<std::string>& argv) {
  std::vector<std::string> out;
  out.reserve(argv.size());
  const std::vector<PasswordFlag> flags =
      argv.empty() ? std::vector<PasswordFlag>{} : password_flags(basename_of(argv[0]));
  bool value_is_secret = false;  // the previous argument was a credential option
  for (size_t i = 0; i < argv.size(); ++i) {
    std::string_view arg = argv[i];
    if (value_is_secret) {
      value_is_secret = false;
      if (!arg.starts_with('-')) {
        out.emplace_back(kRedacted);
        continue;
      }
    }
    if (i == 0) {
      out.push_back(redact_url_passwords(std::string(arg)));
      continue;
    }

    auto flag = std::find_if(flags.begin(), flags.end(),
                             [&](const PasswordFlag& f) { return arg.starts_with(f.flag); });
    if (flag != flags.end()) {
      if (arg.size() == flag->flag.size()) {
        value_is_secret = !flag->attached;
        out.emplace_back(arg);
      } else if (flag->attached) {
        out.push_back(std::string(flag->flag) + std::string(kRedacted));
      } else {
        out.emplace_back(arg);
      }
      continue;
    }

    size_t colon = 0;
    if (is_credential_header(arg, colon)) {
      out.push_back(std::string(arg.substr(0, colon)) + ": " + std::string(kRedacted));
      continue;
    }
    size_t eq = arg.find('=');
    if (eq != std::string_view::npos && eq > 0) {
      std::string_view key = arg.substr(0, eq);
      if (names_a_secret(key)) {  // --token=x, -Ddb.password=x, API_KEY=x
        out.push_back(std::string(key) + "=" + std::string(kRedacted));
        continue;
      }
    } else if (arg.starts_with('-') && names_a_secret(arg)) {  // --password x
      value_is_secret = true;
    }
    out.push_back(redact_url_passwords(std::string(arg)));
  }
  return out;
}

std::string redacted_command_line(const std::vector<std::string>& argv) {
  std::string out;
  for (const std::string& arg : redact_arguments(argv)) {
    if (!out.empty()) out += ' ';
    out += arg;
  }
  // A process that rewrote its argv in place (nginx's "nginx: worker process") pads it with
  // spaces up to the original length.
  out.erase(out.find_last_not_of(' ') + 1);
  return out;
}

}  // namespace hodos::agent
