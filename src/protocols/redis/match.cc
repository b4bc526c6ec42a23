#include "protocols/redis/match.h"

#include <algorithm>
#include <array>
#include <deque>
#include <string>
#include <utility>

#include "protocols/redis/resp.h"

namespace hodos::protocols::redis {
namespace {

constexpr std::string_view kSystem = "redis";

// Commands whose first argument names what they do.
constexpr std::array<std::string_view, 16> kContainerCommands = {
    "ACL",    "CLIENT", "CLUSTER", "COMMAND", "CONFIG", "DEBUG",   "FUNCTION", "LATENCY",
    "MEMORY", "MODULE", "OBJECT",  "PUBSUB",  "SCRIPT", "SLOWLOG", "XGROUP",   "XINFO"};

// Commands whose arguments may hold a password: never shown, whatever keep_literals says.
bool hides_arguments(std::string_view command, std::string_view operation) {
  return command == "AUTH" || command == "HELLO" || command == "MIGRATE" || command == "ACL" ||
         operation == "CONFIG SET";
}

template <size_t N>
bool contains(const std::array<std::string_view, N>& names, std::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

std::string upper(std::string_view word) {
  std::string out(word);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

bool iequals(std::string_view a, std::string_view upper_b) {
  if (a.size() != upper_b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char c = a[i];
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    if (c != upper_b[i]) return false;
  }
  return true;
}

// Length of the valid UTF-8 sequence starting at s[0] (2 to 4 bytes), or 0.
size_t utf8_sequence(std::string_view s) {
  auto b = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  size_t n = b(0) < 0xc2 ? 0 : b(0) < 0xe0 ? 2 : b(0) < 0xf0 ? 3 : b(0) < 0xf5 ? 4 : 0;
  if (n == 0 || s.size() < n) return 0;
  for (size_t i = 1; i < n; ++i) {
    if ((b(i) & 0xc0) != 0x80) return 0;
  }
  if (n == 3 && b(0) == 0xe0 && b(1) < 0xa0) return 0;   // overlong
  if (n == 3 && b(0) == 0xed && b(1) >= 0xa0) return 0;  // surrogates
  if (n == 4 && b(0) == 0xf0 && b(1) < 0x90) return 0;   // overlong
  if (n == 4 && b(0) == 0xf4 && b(1) >= 0x90) return 0;  // beyond U+10FFFF
  return n;
}

// An argument as redis-cli shows it: bare when plain ASCII, else quoted with escapes, so that the
// text stays valid UTF-8 and one argument cannot pass for two.
void append_literal(std::string* out, std::string_view bytes) {
  bool plain = !bytes.empty() && std::all_of(bytes.begin(), bytes.end(), [](char c) {
    return c > 0x20 && c < 0x7f && c != '"' && c != '\\' && c != '\'';
  });
  if (plain) {
    out->append(bytes);
    return;
  }
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  for (size_t i = 0; i < bytes.size();) {
    char c = bytes[i];
    auto u = static_cast<unsigned char>(c);
    if (u >= 0x80) {
      if (size_t n = utf8_sequence(bytes.substr(i)); n > 0) {
        out->append(bytes.substr(i, n));
        i += n;
        continue;
      }
    }
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      default:
        if (u < 0x20 || u >= 0x7f) {
          out->append("\\x");
          out->push_back(kHex[u >> 4]);
          out->push_back(kHex[u & 0xf]);
        } else {
          out->push_back(c);
        }
    }
    ++i;
  }
  out->push_back('"');
}

// Cuts at `max` bytes, "..." included, without splitting a UTF-8 sequence.
void cut_text(std::string* text, size_t max) {
  if (text->size() <= max) return;
  size_t keep = max >= 3 ? max - 3 : 0;
  while (keep > 0 && (static_cast<unsigned char>((*text)[keep]) & 0xc0) == 0x80) --keep;
  text->resize(keep);
  if (max >= 3) text->append("...");
}

// The error's code: its first word when that is an upper-case identifier, as the server's are.
std::string error_code(std::string_view text) {
  std::string_view word = text.substr(0, text.find(' '));
  if (word.empty() || word.size() > 32) return "";
  bool code = std::all_of(word.begin(), word.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
  return code ? std::string(word) : "";
}

bool is_db_index(std::string_view s) {
  return !s.empty() && s.size() <= 10 &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

enum class Proto : uint8_t { kUnknown, kResp2, kResp3 };

enum class Effect : uint8_t {
  kNone,
  kSelect,      // changes the database index when answered +OK
  kHello,       // may change the protocol
  kReset,       // back to database 0, RESP2, no transaction
  kExec,        // ends a transaction, maybe running a SELECT
  kEntersPush,  // RESP2 SUBSCRIBE family, MONITOR: replies become a message stream
};

struct PendingCommand {
  std::string operation;
  std::string query_text;
  std::string argument;  // SELECT's index
  uint64_t start_ns = 0;
  uint32_t batch_size = 0;
  bool truncated = false;
  bool clears_db = false;  // an EXEC whose transaction holds a SELECT
  Effect effect = Effect::kNone;
  Proto hello_proto = Proto::kUnknown;
};

class RedisMatcher final : public DbMatcher {
 public:
  RedisMatcher(Sink sink, DbMatchOptions options, ConnectionStart start)
      : sink_(std::move(sink)),
        options_(options),
        commands_(RespDecoder::Mode::kCommands, options.keep_literals ? options.max_query_text : 0),
        replies_(RespDecoder::Mode::kReplies),
        probe_(RespDecoder::Mode::kReplies) {
    options_.max_pending_requests = std::max<size_t>(options_.max_pending_requests, 1);
    if (start == ConnectionStart::kFromStart) {
      db_ = "0";
      proto_ = Proto::kResp2;
    } else {
      lost_ = true;
      commands_lost_ = true;
    }
  }

  void feed(Direction direction, const Chunk& chunk) override {
    if (stopped_) return;
    std::string_view data = chunk.captured;
    uint64_t gap = std::max<uint64_t>(chunk.length, data.size()) - data.size();
    if (direction == Direction::kEgress) {
      on_egress(data, gap, chunk.timestamp_ns);
    } else {
      on_ingress(data, gap, chunk.timestamp_ns);
    }
  }

  void close() override {
    if (stopped_) return;
    drop_pending();
    stopped_ = true;
  }

  bool active() const override { return !stopped_; }
  const DbMatchCounters& counters() const override { return counters_; }

 private:
  void on_egress(std::string_view data, uint64_t gap, uint64_t ts) {
    if (commands_lost_) {
      // Realign on a chunk that starts a command (a write is usually whole commands).
      if (!starts_like_command(data, /*allow_prefix=*/gap == 0)) {
        counters_.skipped_bytes += data.size() + gap;
        return;
      }
      commands_lost_ = false;
      commands_.reset();
    }
    while (!data.empty() && !stopped_) {
      if (commands_.at_boundary()) command_start_ns_ = ts;
      ParseState st = commands_.feed(&data);
      if (st == ParseState::kSuccess) {
        on_command();
        continue;
      }
      if (st == ParseState::kNeedsMoreData) break;
      ++counters_.invalid;
      counters_.skipped_bytes += data.size() + gap;
      lose_commands();
      return;
    }
    if (gap == 0 || stopped_) return;
    counters_.skipped_bytes += gap;
    switch (commands_.skip(gap)) {
      case GapResult::kInside:
        break;
      case GapResult::kEnded:
        on_command();
        break;
      case GapResult::kLost:
        ++counters_.truncated;
        lose_commands();
        break;
    }
  }

  void on_ingress(std::string_view data, uint64_t gap, uint64_t ts) {
    if (lost_) {
      if (data.empty() && gap == 0) return;
      if (pending_.empty()) {  // nothing sent since the loss: whatever this is, it is old
        counters_.skipped_bytes += data.size() + gap;
        return;
      }
      if (!starts_replies(data, gap)) {
        // This chunk may be the start of those commands' replies: they cannot be paired.
        counters_.skipped_bytes += data.size() + gap;
        drop_pending();
        return;
      }
      lost_ = false;
      replies_.reset();
    }
    while (!data.empty() && !stopped_) {
      ParseState st = replies_.feed(&data);
      if (st == ParseState::kSuccess) {
        on_reply(ts);
        continue;
      }
      if (st == ParseState::kNeedsMoreData) break;
      ++counters_.invalid;
      counters_.skipped_bytes += data.size() + gap;
      lose_sync();
      return;
    }
    if (gap == 0 || stopped_) return;
    counters_.skipped_bytes += gap;
    switch (replies_.skip(gap)) {
      case GapResult::kInside:
        break;
      case GapResult::kEnded:
        on_reply(ts);
        break;
      case GapResult::kLost:
        ++counters_.truncated;
        lose_sync();
        break;
    }
  }

  // A chunk that may resynchronise the replies: wholly captured, parsing from its first byte,
  // and holding no more replies than commands wait for.
  bool starts_replies(std::string_view data, uint64_t gap) {
    if (gap != 0 || data.empty()) return false;
    probe_.reset();
    size_t replies = 0;
    while (!data.empty()) {
      ParseState st = probe_.feed(&data);
      if (st == ParseState::kInvalid) return false;
      if (st == ParseState::kNeedsMoreData) {
        ++replies;  // the one this chunk starts (a push, perhaps: counting it is stricter)
        break;
      }
      if (probe_.value().type != '>') ++replies;
    }
    return replies >= 1 && replies <= pending_.size();
  }

  void on_command() {
    const RespValue& v = commands_.value();
    if (v.count <= 0) return;  // an empty line or array: the server ignores it
    ++counters_.requests;
    if (v.truncated) ++counters_.truncated;

    PendingCommand cmd = describe();
    cmd.start_ns = command_start_ns_;
    cmd.truncated = v.truncated;
    if (!track_effects(&cmd)) {
      if (stopped_) ++counters_.unmatched_requests;  // the command that made the matcher give up
      return;
    }

    if (pending_.size() >= options_.max_pending_requests) {
      // The oldest goes, but its reply still comes first: it is passed over when it does. A
      // command that changes how replies are read cannot be passed over blindly.
      if (pending_.front().effect != Effect::kNone) {
        lose_sync();
      } else {
        pending_.pop_front();
        ++dropped_front_;
        ++counters_.unmatched_requests;
      }
    }
    pending_.push_back(std::move(cmd));
  }

  PendingCommand describe() const {
    PendingCommand cmd;
    const auto& elements = commands_.elements();
    const int64_t count = commands_.value().count;
    auto word = [&](size_t i) -> std::string_view {
      if (i >= elements.size() || !elements[i].complete()) return {};
      std::string_view w = commands_.element_bytes(elements[i]);
      return is_command_word(w) ? w : std::string_view();
    };
    std::string_view name = word(0);
    if (name.empty()) return cmd;  // not a command name: nothing about it can be told safely
    std::string command = upper(name);
    cmd.operation = command;
    size_t first_arg = 1;
    if (contains(kContainerCommands, command) && !word(1).empty()) {
      cmd.operation += ' ';
      cmd.operation += upper(word(1));
      first_arg = 2;
    }
    if (command == "SELECT" && count == 2 && elements.size() > 1 && elements[1].complete()) {
      cmd.argument = commands_.element_bytes(elements[1]);
    }
    if (command == "HELLO" && count >= 2 && elements.size() > 1 && elements[1].complete()) {
      std::string_view version = commands_.element_bytes(elements[1]);
      cmd.hello_proto = version == "3"   ? Proto::kResp3
                        : version == "2" ? Proto::kResp2
                                         : Proto::kUnknown;
    }

    bool literals = options_.keep_literals && !hides_arguments(command, cmd.operation);
    std::string& text = cmd.query_text;
    text = cmd.operation;
    for (size_t i = first_arg; i < static_cast<size_t>(count); ++i) {
      if (text.size() > options_.max_query_text) break;  // cut below anyway
      text += ' ';
      if (!literals) {
        text += '?';
        continue;
      }
      if (i >= elements.size()) {
        text += "...";
        break;
      }
      append_literal(&text, commands_.element_bytes(elements[i]));
      if (!elements[i].complete()) {
        text += "...";
        break;
      }
    }
    cut_text(&text, options_.max_query_text);
    return cmd;
  }

  // Request-side state: transactions, and commands that change how replies are read. False when
  // the command waits for no reply.
  bool track_effects(PendingCommand* cmd) {
    const std::string& op = cmd->operation;
    const int64_t count = commands_.value().count;
    bool subscribe = op == "SUBSCRIBE" || op == "PSUBSCRIBE" || op == "SSUBSCRIBE";
    bool unsubscribe = op == "UNSUBSCRIBE" || op == "PUNSUBSCRIBE" || op == "SUNSUBSCRIBE";
    if (op == "MULTI") {
      in_multi_ = true;
      queued_ = 0;
      multi_selects_ = false;
    } else if (op == "EXEC") {
      cmd->effect = Effect::kExec;
      cmd->batch_size = in_multi_ && queued_ >= 2 ? queued_ : 0;
      cmd->clears_db = multi_selects_;
      in_multi_ = false;
    } else if (op == "DISCARD") {
      in_multi_ = false;
    } else if (in_multi_) {
      if (subscribe || unsubscribe || op == "MONITOR") {
        give_up();  // runs at EXEC, whose reply then starts a message stream
        return false;
      }
      ++queued_;  // answered +QUEUED; a SELECT only runs at EXEC
      if (op == "SELECT") multi_selects_ = true;
      return true;
    } else if (op == "SELECT") {
      cmd->effect = Effect::kSelect;
    } else if (op == "HELLO") {
      cmd->effect = Effect::kHello;
    } else if (op == "RESET") {
      cmd->effect = Effect::kReset;
      in_multi_ = false;
    } else if (op == "MONITOR") {
      cmd->effect = Effect::kEntersPush;
    } else if (op == "CLIENT REPLY") {
      // OFF and SKIP silence replies: the pairing cannot follow.
      const auto& elements = commands_.elements();
      bool silences = elements.size() < 3 || !elements[2].complete() ||
                      !iequals(commands_.element_bytes(elements[2]), "ON");
      if (silences) {
        give_up();
        return false;
      }
    } else if ((subscribe && count >= 2) || unsubscribe) {
      bool hello_waiting = std::any_of(pending_.begin(), pending_.end(),
                                       [](const auto& p) { return p.effect == Effect::kHello; });
      if (proto_ == Proto::kUnknown || hello_waiting) {
        give_up();  // whether replies are pushes is unknown
        return false;
      }
      if (proto_ == Proto::kResp3) return false;  // answered by pushes only
      if (subscribe) cmd->effect = Effect::kEntersPush;
    }
    return true;
  }

  void on_reply(uint64_t ts) {
    const RespValue& v = replies_.value();
    if (v.resp3 && proto_ == Proto::kUnknown) proto_ = Proto::kResp3;
    if (v.truncated) ++counters_.truncated;
    if (v.type == '>') return;  // out of band: answers no command
    if (dropped_front_ > 0) {
      --dropped_front_;
      return;
    }
    if (pending_.empty()) {
      ++counters_.unmatched_responses;
      return;
    }
    PendingCommand cmd = std::move(pending_.front());
    pending_.pop_front();

    DbCall call;
    call.system = kSystem;
    call.namespace_name = db_;
    call.error = v.type == '-' || v.type == '!';
    if (call.error) call.status_code = error_code(v.text);

    bool stop = false;
    if (!call.error) {
      switch (cmd.effect) {
        case Effect::kNone:
          break;
        case Effect::kSelect:
          if (v.type == '+' && v.text == "OK") db_ = is_db_index(cmd.argument) ? cmd.argument : "";
          break;
        case Effect::kHello:
          if ((v.type == '%' || v.type == '*') && cmd.hello_proto != Proto::kUnknown) {
            proto_ = cmd.hello_proto;
          }
          break;
        case Effect::kReset:
          if (v.type == '+' && v.text == "RESET") {
            db_ = "0";
            proto_ = Proto::kResp2;
          }
          break;
        case Effect::kExec:
          if (v.type == '*' && v.count >= 0 && cmd.clears_db) db_.clear();
          break;
        case Effect::kEntersPush:
          stop = true;
          break;
      }
    }

    call.operation = std::move(cmd.operation);
    call.query_text = std::move(cmd.query_text);
    call.truncated = cmd.truncated || v.truncated;
    call.batch_size = cmd.batch_size;
    call.start_ns = cmd.start_ns;
    call.end_ns = ts;
    ++counters_.calls;
    if (sink_) sink_(std::move(call));
    if (stop) give_up();
  }

  void lose_commands() {
    commands_lost_ = true;
    commands_.reset();
    lose_sync();  // how many commands went by is unknown
  }

  void lose_sync() {
    drop_pending();
    lost_ = true;
    replies_.reset();
  }

  // The waiting commands will never be paired; what their replies would have changed is unknown.
  void drop_pending() {
    for (const PendingCommand& p : pending_) {
      switch (p.effect) {
        case Effect::kSelect:
          db_.clear();
          break;
        case Effect::kExec:
          if (p.clears_db) db_.clear();
          break;
        case Effect::kHello:
          proto_ = Proto::kUnknown;
          break;
        case Effect::kReset:
          db_.clear();
          proto_ = Proto::kUnknown;
          break;
        case Effect::kEntersPush:
          stopped_ = true;
          break;
        case Effect::kNone:
          break;
      }
    }
    counters_.unmatched_requests += pending_.size();  // dropped_front_ ones were counted
    pending_.clear();
    dropped_front_ = 0;
    if (stopped_) counters_.gave_up = true;
  }

  void give_up() {
    drop_pending();
    stopped_ = true;
    counters_.gave_up = true;
  }

  Sink sink_;
  DbMatchOptions options_;
  DbMatchCounters counters_;
  RespDecoder commands_;
  RespDecoder replies_;
  RespDecoder probe_;  // reads a resync candidate without touching replies_
  uint64_t command_start_ns_ = 0;
  std::deque<PendingCommand> pending_;
  uint64_t dropped_front_ = 0;  // replies still owed to commands dropped for room
  std::string db_;              // database index; empty when unknown
  Proto proto_ = Proto::kUnknown;
  bool lost_ = false;           // replies cannot be paired until a chunk resynchronises them
  bool commands_lost_ = false;  // waiting for a write that starts a command
  bool in_multi_ = false;
  uint32_t queued_ = 0;
  bool multi_selects_ = false;
  bool stopped_ = false;
};

}  // namespace

bool looks_like_redis_client(std::string_view first_egress_bytes) {
  return starts_like_command(first_egress_bytes, /*allow_prefix=*/false);
}

std::unique_ptr<DbMatcher> make_redis_matcher(DbMatcher::Sink sink, DbMatchOptions options) {
  return make_redis_matcher(std::move(sink), options, ConnectionStart::kFromStart);
}

std::unique_ptr<DbMatcher> make_redis_matcher(DbMatcher::Sink sink, DbMatchOptions options,
                                              ConnectionStart start) {
  return std::make_unique<RedisMatcher>(std::move(sink), options, start);
}

}  // namespace hodos::protocols::redis
