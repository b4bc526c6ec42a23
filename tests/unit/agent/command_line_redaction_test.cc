#include "agent/command_line_redaction.h"

#include <gtest/gtest.h>

namespace hodos::agent {
namespace {

struct RedactionCase {
  std::vector<std::string> argv;
  std::string expected;
};

TEST(CommandLineRedactionTest, Table) {
  const std::vector<RedactionCase> cases = {
      // Nothing secret: unchanged.
      {{"python3", "-m", "http.server", "8000"}, "python3 -m http.server 8000"},
      {{"java", "-cp", "app.jar", "-Dserver.port=8080", "com.example.Shop"},
       "java -cp app.jar -Dserver.port=8080 com.example.Shop"},
      {{"nginx", "-g", "daemon off;"}, "nginx -g daemon off;"},
      // argv rewritten in place, padded to its old length.
      {{"nginx: worker process                   "}, "nginx: worker process"},
      {{"  "}, ""},
      // Credential options with a separate value or `=value`.
      {{"app", "--password", "hunter2", "--port", "80"}, "app --password *** --port 80"},
      {{"app", "--token=abc123"}, "app --token=***"},
      {{"app", "--api-key", "k1", "--db-pass=x", "--verbose"},
       "app --api-key *** --db-pass=*** --verbose"},
      {{"app", "--auth", "--debug"}, "app --auth --debug"},  // a flag followed by an option
      {{"java", "-Djavax.net.ssl.keyStorePassword=changeit", "Main"},
       "java -Djavax.net.ssl.keyStorePassword=*** Main"},
      // key=value pairs whose key names a credential, any case.
      {{"env", "DB_PASSWORD=s3cret", "SECRET_KEY=abc", "MODE=prod"},
       "env DB_PASSWORD=*** SECRET_KEY=*** MODE=prod"},
      {{"app", "AUTH_HEADER=Basic xyz", "Session_Token=t"},
       "app AUTH_HEADER=*** Session_Token=***"},
      // Client-specific password flags.
      {{"mysql", "-uroot", "-ps3cret", "shop"}, "mysql -uroot -p*** shop"},
      {{"/usr/bin/mysqldump", "-p", "shop"}, "/usr/bin/mysqldump -p shop"},  // -p alone prompts
      {{"redis-cli", "-h", "cache", "-a", "s3cret", "PING"}, "redis-cli -h cache -a *** PING"},
      {{"sshpass", "-p", "pw", "ssh", "host"}, "sshpass -p *** ssh host"},
      {{"python3", "-p", "notasecret"}, "python3 -p notasecret"},  // -p means nothing here
      // Credential headers.
      {{"curl", "-H", "Authorization: Bearer eyJhbGci", "http://x"},
       "curl -H Authorization: *** http://x"},
      {{"curl", "-H", "Cookie: sid=1", "-H", "Accept: */*"}, "curl -H Cookie: *** -H Accept: */*"},
      // Passwords in URLs, alone or inside an option.
      {{"app", "postgres://shop:pw@db:5432/shop"}, "app postgres://shop:***@db:5432/shop"},
      {{"app", "--db=mysql://root:p%40ss@db/x", "--cache=redis://cache:6379"},
       "app --db=mysql://root:***@db/x --cache=redis://cache:6379"},
      {{"app", "https://user@host/path"}, "app https://user@host/path"},  // no password
      {{"app", "http://a:b@h1,http://c:d@h2"}, "app http://a:***@h1,http://c:***@h2"},
      // Edge cases.
      {{}, ""},
      {{"app", "--password"}, "app --password"},
      {{"app", "="}, "app ="},
  };
  for (const RedactionCase& c : cases) {
    EXPECT_EQ(redacted_command_line(c.argv), c.expected)
        << "argv[1]=" << (c.argv.size() > 1 ? c.argv[1] : "");
  }
}

TEST(CommandLineRedactionTest, SecretNames) {
  for (const char* name : {"password", "PASSWD", "pwd", "client_secret", "X-Auth-Token", "apikey",
                           "Credentials", "cookie"}) {
    EXPECT_TRUE(names_a_secret(name)) << name;
  }
  for (const char* name : {"port", "host", "user", "--verbose", "mode"}) {
    EXPECT_FALSE(names_a_secret(name)) << name;
  }
}

}  // namespace
}  // namespace hodos::agent
