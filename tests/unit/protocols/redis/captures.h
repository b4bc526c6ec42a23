// Conversations captured from a real redis-server 7.0.15 run here (`redis-server --port 0
// --unixsocket ... --save '' --appendonly no`): a Python socket client writing RESP itself
// ("basic" ... "inline"), and redis-cli 7.0.15 through a logging proxy ("redis_cli_*"). Each
// exchange is what the client wrote in one write and what it then read, byte for byte.
#pragma once

#include <string_view>
#include <vector>

namespace hodos::protocols::redis::testing {

struct Exchange {
  std::string_view command;
  std::string_view reply;
};

struct Conversation {
  std::string_view name;
  std::vector<Exchange> exchanges;
};

inline const std::vector<Conversation>& captured_conversations() {
  static const std::vector<Conversation> kConversations = {
      {"basic",
       {
           {"*3\r\n$3\r\nSET\r\n$6\r\nuser:1\r\n$5\r\nalice\r\n",
            "+OK\r\n"},
           {"*2\r\n$3\r\nGET\r\n$6\r\nuser:1\r\n",
            "$5\r\nalice\r\n"},
           {"*2\r\n$3\r\nGET\r\n$7\r\nmissing\r\n",
            "$-1\r\n"},
           {"*2\r\n$4\r\nINCR\r\n$7\r\ncounter\r\n",
            ":1\r\n"},
           {"*4\r\n$5\r\nLPUSH\r\n$1\r\nl\r\n$1\r\na\r\n$1\r\nb\r\n",
            ":2\r\n"},
           {"*4\r\n$6\r\nLRANGE\r\n$1\r\nl\r\n$1\r\n0\r\n$2\r\n-1\r\n",
            "*2\r\n$1\r\nb\r\n$1\r\na\r\n"},
           {"*4\r\n$4\r\nHSET\r\n$1\r\nh\r\n$1\r\nf\r\n$1\r\nv\r\n",
            ":1\r\n"},
           {"*2\r\n$7\r\nHGETALL\r\n$1\r\nh\r\n",
            "*2\r\n$1\r\nf\r\n$1\r\nv\r\n"},
       }},
      {"errors",
       {
           {"*2\r\n$4\r\nINCR\r\n$6\r\nuser:1\r\n",
            "-ERR value is not an integer or out of range\r\n"},
           {"*3\r\n$5\r\nLPUSH\r\n$6\r\nuser:1\r\n$1\r\nx\r\n",
            "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
           {"*2\r\n$6\r\nNOSUCH\r\n$1\r\na\r\n",
            "-ERR unknown command 'NOSUCH', with args beginning with: 'a' \r\n"},
           {"*1\r\n$3\r\nGET\r\n",
            "-ERR wrong number of arguments for 'get' command\r\n"},
           {"*2\r\n$6\r\nSELECT\r\n$2\r\n99\r\n",
            "-ERR DB index is out of range\r\n"},
       }},
      {"select",
       {
           {"*2\r\n$6\r\nSELECT\r\n$1\r\n3\r\n",
            "+OK\r\n"},
           {"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n",
            "+OK\r\n"},
           {"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n",
            "+OK\r\n"},
       }},
      {"pipeline",
       {
           {"*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n*2\r\n$4\r\nINCR\r\n$1\r\n"
            "a\r\n*2\r\n$3\r\nGET\r\n$1\r\na\r\n*2\r\n$3\r\nDEL\r\n$1\r\na\r\n",
            "+OK\r\n:2\r\n$1\r\n2\r\n:1\r\n"},
       }},
      {"multi",
       {
           {"*1\r\n$5\r\nMULTI\r\n",
            "+OK\r\n"},
           {"*3\r\n$3\r\nSET\r\n$1\r\nt\r\n$1\r\n1\r\n",
            "+QUEUED\r\n"},
           {"*2\r\n$4\r\nINCR\r\n$1\r\nt\r\n",
            "+QUEUED\r\n"},
           {"*1\r\n$4\r\nEXEC\r\n",
            "*2\r\n+OK\r\n:2\r\n"},
       }},
      {"multi_error",
       {
           {"*1\r\n$5\r\nMULTI\r\n",
            "+OK\r\n"},
           {"*2\r\n$3\r\nSET\r\n$1\r\nt\r\n",
            "-ERR wrong number of arguments for 'set' command\r\n"},
           {"*1\r\n$4\r\nEXEC\r\n",
            "-EXECABORT Transaction discarded because of previous errors.\r\n"},
       }},
      {"hello3",
       {
           {"*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n",
            "%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n"
            "$5\r\nproto\r\n:3\r\n$2\r\nid\r\n:10\r\n$4\r\nmode\r\n$10\r\n"
            "standalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n"},
           {"*2\r\n$7\r\nHGETALL\r\n$1\r\nh\r\n",
            "%1\r\n$1\r\nf\r\n$1\r\nv\r\n"},
           {"*2\r\n$8\r\nSMEMBERS\r\n$6\r\nnosuch\r\n",
            "~0\r\n"},
           {"*2\r\n$3\r\nGET\r\n$7\r\nmissing\r\n",
            "_\r\n"},
           {"*3\r\n$6\r\nCLIENT\r\n$8\r\nTRACKING\r\n$2\r\non\r\n",
            "+OK\r\n"},
           {"*2\r\n$3\r\nGET\r\n$6\r\nuser:1\r\n",
            "$5\r\nalice\r\n"},
           {"*3\r\n$3\r\nSET\r\n$6\r\nuser:1\r\n$3\r\nbob\r\n",
            "+OK\r\n>2\r\n$10\r\ninvalidate\r\n*1\r\n$6\r\nuser:1\r\n"},
           {"*3\r\n$11\r\nINCRBYFLOAT\r\n$1\r\nf\r\n$3\r\n1.5\r\n",
            "$3\r\n1.5\r\n"},
           {"*2\r\n$9\r\nSUBSCRIBE\r\n$4\r\nnews\r\n",
            ">3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n"},
           {"*1\r\n$4\r\nPING\r\n",
            "+PONG\r\n"},
       }},
      {"resp2_subscribe",
       {
           {"*3\r\n$9\r\nSUBSCRIBE\r\n$4\r\nnews\r\n$5\r\nsport\r\n",
            "*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n*3\r\n$9\r\nsubscribe\r\n"
            "$5\r\nsport\r\n:2\r\n"},
       }},
      {"auth",
       {
           {"*2\r\n$4\r\nAUTH\r\n$11\r\ns3cret-pass\r\n",
            "-ERR AUTH <password> called without any password configured for the default user. "
            "Are you sure your configuration is correct?\r\n"},
           {"*5\r\n$5\r\nHELLO\r\n$1\r\n3\r\n$4\r\nAUTH\r\n$7\r\ndefault\r\n$11\r\ns3cret-pass\r\n",
            "%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n"
            "$5\r\nproto\r\n:3\r\n$2\r\nid\r\n:12\r\n$4\r\nmode\r\n$10\r\n"
            "standalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n"},
           {"*3\r\n$6\r\nCLIENT\r\n$7\r\nSETNAME\r\n$4\r\napp1\r\n",
            "+OK\r\n"},
       }},
      {"inline",
       {
           {"PING\r\n",
            "+PONG\r\n"},
           {"ECHO hi\r\n",
            "$2\r\nhi\r\n"},
       }},
      {"redis_cli_select",
       {
           {"*2\r\n$6\r\nSELECT\r\n$1\r\n2\r\n",
            "+OK\r\n"},
           {"*3\r\n$3\r\nSET\r\n$8\r\ngreeting\r\n$11\r\nhello world\r\n",
            "+OK\r\n"},
       }},
      {"redis_cli_auth",
       {
           {"*2\r\n$4\r\nAUTH\r\n$9\r\nPa55word!\r\n",
            "-ERR AUTH <password> called without any password configured for the default user. "
            "Are you sure your configuration is correct?\r\n"},
           {"*2\r\n$3\r\nGET\r\n$8\r\ngreeting\r\n",
            "$-1\r\n"},
       }},
      {"redis_cli_resp3",
       {
           {"*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n",
            "%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n"
            "$5\r\nproto\r\n:3\r\n$2\r\nid\r\n:16\r\n$4\r\nmode\r\n$10\r\n"
            "standalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n"},
           {"*2\r\n$7\r\nHGETALL\r\n$1\r\nh\r\n",
            "%1\r\n$1\r\nf\r\n$1\r\nv\r\n"},
       }},
  };
  return kConversations;
}

inline const Conversation& conversation(std::string_view name) {
  for (const Conversation& c : captured_conversations()) {
    if (c.name == name) return c;
  }
  static const Conversation kNone;
  return kNone;
}

}  // namespace hodos::protocols::redis::testing
