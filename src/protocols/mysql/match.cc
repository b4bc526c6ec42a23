#include "protocols/mysql/match.h"

#include <algorithm>
#include <deque>
#include <string>
#include <unordered_map>
#include <utility>

#include "protocols/mysql/packet.h"
#include "protocols/sql/sanitize.h"

namespace hodos::protocols::mysql {
namespace {

constexpr uint8_t kComStmtBulkExecute = 0xfa;  // MariaDB
constexpr size_t kMaxStatements = 256;         // prepared statements remembered per connection
constexpr size_t kMaxDatabaseName = 256;
constexpr size_t kIngressKeep = 256;  // enough for a greeting; answers need their first bytes

uint32_t le24(std::string_view s) {
  return static_cast<uint8_t>(s[0]) | (static_cast<uint8_t>(s[1]) << 8) |
         (static_cast<uint32_t>(static_cast<uint8_t>(s[2])) << 16);
}

// Text a person could have typed: no control bytes but tab, newline and carriage return.
bool looks_like_text(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<uint8_t>(c);
    return u >= 0x20 ? u != 0x7f : (u == '\t' || u == '\n' || u == '\r');
  });
}

bool is_command(uint8_t c) {
  return (c >= kComQuit && c <= kComResetConnection) || c == kComStmtBulkExecute;
}

// Skips one binary-protocol value of `type` (MYSQL_TYPE_*); false when cut.
bool skip_binary_value(uint8_t type, std::string_view* s) {
  size_t size = 0;
  switch (type) {
    case 0x06:
      return true;  // NULL
    case 0x01:
      size = 1;
      break;  // TINY
    case 0x02:
    case 0x0d:
      size = 2;
      break;  // SHORT, YEAR
    case 0x03:
    case 0x09:
    case 0x04:
      size = 4;
      break;  // LONG, INT24, FLOAT
    case 0x08:
    case 0x05:
      size = 8;
      break;  // LONGLONG, DOUBLE
    case 0x07:
    case 0x0a:
    case 0x0b:
    case 0x0c:  // TIMESTAMP, DATE, TIME, DATETIME
      if (s->empty()) return false;
      size = 1 + static_cast<uint8_t>((*s)[0]);
      break;
    default: {  // strings, decimals, blobs, JSON, ...: length-encoded
      auto n = read_lenenc(s);
      if (!n) return false;
      size = *n;
    }
  }
  if (size > s->size()) return false;
  s->remove_prefix(size);
  return true;
}

// Query attributes (CLIENT_QUERY_ATTRIBUTES) stand before a COM_QUERY's text; skips them.
bool skip_query_attributes(std::string_view* s) {
  auto count = read_lenenc(s);
  if (!count || !read_lenenc(s)) return false;  // parameter count, parameter set count (1)
  if (*count == 0) return true;
  if (*count > 0xffff) return false;
  size_t bitmap = (*count + 7) / 8;
  if (s->size() < bitmap + 1) return false;
  std::string_view nulls = s->substr(0, bitmap);
  bool types_sent = (*s)[bitmap] == 1;
  s->remove_prefix(bitmap + 1);
  if (!types_sent) return false;  // values cannot be skipped without their types
  std::string types;
  for (uint64_t i = 0; i < *count; ++i) {
    if (s->size() < 2) return false;
    types.push_back((*s)[0]);
    s->remove_prefix(2);
    auto name = read_lenenc(s);
    if (!name || *name > s->size()) return false;
    s->remove_prefix(*name);
  }
  for (uint64_t i = 0; i < *count; ++i) {
    if ((static_cast<uint8_t>(nulls[i / 8]) >> (i % 8)) & 1) continue;
    if (!skip_binary_value(static_cast<uint8_t>(types[i]), s)) return false;
  }
  return true;
}

// `USE db` as a query: the database it switches to, else empty.
std::string use_target(std::string_view text) {
  auto skip_space = [&text] {
    while (!text.empty() &&
           (text[0] == ' ' || text[0] == '\t' || text[0] == '\n' || text[0] == '\r')) {
      text.remove_prefix(1);
    }
  };
  skip_space();
  if (text.size() < 4 || (text[0] | 0x20) != 'u' || (text[1] | 0x20) != 's' ||
      (text[2] | 0x20) != 'e' || !(text[3] == ' ' || text[3] == '\t' || text[3] == '\n')) {
    return "";
  }
  text.remove_prefix(3);
  skip_space();
  std::string name;
  if (!text.empty() && text[0] == '`') {
    size_t close = text.find('`', 1);
    if (close == std::string_view::npos) return "";
    name.assign(text.substr(1, close - 1));
    text.remove_prefix(close + 1);
  } else {
    size_t end = 0;
    while (end < text.size() && text[end] != ';' && text[end] != ' ' && text[end] != '\t' &&
           text[end] != '\n' && text[end] != '\r') {
      ++end;
    }
    name.assign(text.substr(0, end));
    text.remove_prefix(end);
  }
  skip_space();
  if (!text.empty() && text[0] == ';') text.remove_prefix(1);
  skip_space();
  if (!text.empty() || name.size() > kMaxDatabaseName) return "";
  return name;
}

class MySqlMatcher final : public DbMatcher {
 public:
  MySqlMatcher(Sink sink, DbMatchOptions options)
      : sink_(std::move(sink)),
        options_(options),
        egress_(std::max<size_t>(64 * 1024, options.max_query_text + 64)),
        ingress_(kIngressKeep) {}

  // The greeting was read in plaintext: the TLS session's matcher keeps what it said.
  std::unique_ptr<DbMatcher> continue_in_tls(Sink sink) const override {
    auto next = std::make_unique<MySqlMatcher>(std::move(sink), options_);
    next->after_tls_ = true;
    next->greeting_seen_ = greeting_seen_;
    next->server_caps_ = server_caps_;
    next->server_mariadb_caps_ = server_mariadb_caps_;
    return next;
  }

  void feed(Direction direction, const Chunk& chunk) override {
    if (!active()) return;
    bool egress = direction == Direction::kEgress;
    PacketReader& reader = egress ? egress_ : ingress_;
    if (egress && egress_.lost() && starts_command(chunk.captured)) egress_.resync();
    reader.feed(chunk);
    Packet packet;
    while (active() && reader.next(&packet) == PacketReader::Event::kPacket) {
      if (egress) {
        on_egress(packet);
      } else {
        on_ingress(packet);
      }
    }
    refresh_counters();
  }

  void close() override {
    if (closed_) return;
    // An answer cut short by the close is still a call; one never started is not.
    while (!pending_.empty()) {
      Request& r = pending_.front();
      if (r.await == Await::kUntilNext || r.await == Await::kPrepareEof) {
        finish();
      } else if (r.answered) {
        r.truncated = true;
        finish();
      } else {
        drop_front();
      }
    }
    closed_ = true;
    refresh_counters();
  }

  bool active() const override { return !closed_ && !counters_.gave_up; }
  const DbMatchCounters& counters() const override { return counters_; }

 private:
  enum class Phase : uint8_t { kStart, kAuth, kCommand };
  enum class Await : uint8_t {
    kFirst,            // the answer's first packet
    kColumnDefs,       // column definitions of a result set
    kAfterColumnDefs,  // EOF (classic), or the first row or the end (CLIENT_DEPRECATE_EOF)
    kRows,             // rows until EOF/OK or ERR
    kPrepareDefs,      // parameter or column definitions of a PREPARE_OK
    kPrepareEof,       // the EOF after a group of them, unless EOF is deprecated
    kInfileData,       // the client sends a LOCAL INFILE's contents
    kUntilNext,        // an answer we do not follow: over when the next command is sent
  };
  enum class Tristate : uint8_t { kUnknown, kNo, kYes };

  struct Request {
    uint8_t command = 0;
    sql::QuerySummary summary;
    std::string namespace_name;
    std::string new_database;  // INIT_DB or USE: the namespace once the server says OK
    uint64_t start_ns = 0;
    uint64_t end_ns = 0;
    bool truncated = false;
    bool error = false;
    bool answered = false;
    std::string status_code;
    Await await = Await::kFirst;
    uint8_t next_seq = 1;
    uint64_t defs_left = 0;
    uint16_t prepare_columns = 0;  // the second group of a PREPARE_OK's definitions
  };

  bool emits(const Request& r) const {
    return r.command == kComQuery || r.command == kComStmtExecute ||
           r.command == kComStmtBulkExecute || (r.command == kComStmtPrepare && r.error);
  }

  static bool starts_command(std::string_view bytes) {
    return bytes.size() >= 5 && bytes[3] == 0 && is_command(static_cast<uint8_t>(bytes[4]));
  }

  void refresh_counters() {
    counters_.skipped_bytes = egress_.skipped_bytes() + ingress_.skipped_bytes();
    counters_.truncated = egress_.truncated_packets() + ingress_.truncated_packets();
  }

  // --- client to server -------------------------------------------------------------------------

  void on_egress(const Packet& p) {
    switch (phase_) {
      case Phase::kStart:
        // The greeting went by unseen (or in plaintext before TLS): this is the handshake
        // response, 1 after the greeting, 2 after the SSL request too.
        if (p.seq == 1 || (after_tls_ && p.seq == 2)) {
          phase_ = Phase::kAuth;
          on_handshake_response(p);
          return;
        }
        phase_ = Phase::kCommand;  // first seen mid-stream
        break;
      case Phase::kAuth:
        if (p.seq != 0) {
          if (!response_seen_) on_handshake_response(p);
          return;  // authentication data, never read
        }
        phase_ = Phase::kCommand;  // its OK went by unseen
        break;
      case Phase::kCommand:
        break;
    }
    on_command(p);
  }

  void on_handshake_response(const Packet& p) {
    response_seen_ = true;
    auto r = parse_handshake_response(p.payload);
    if (!r) return;
    uint32_t caps = r->capabilities & (greeting_seen_ ? server_caps_ : ~0u);
    if ((caps & kClientSsl) && !after_tls_) {  // TLS follows: nothing more can be read
      counters_.gave_up = true;
      return;
    }
    capabilities_ = caps;
    caps_known_ = true;
    mariadb_caps_ = r->mariadb_capabilities & (greeting_seen_ ? server_mariadb_caps_ : ~0u);
    deprecate_eof_ = (caps & kClientDeprecateEof) ? Tristate::kYes : Tristate::kNo;
    database_ = r->database;
  }

  void on_command(const Packet& p) {
    if (!pending_.empty() && pending_.front().await == Await::kInfileData) {
      Request& r = pending_.front();
      if (p.seq == r.next_seq) {  // file contents, unread; an empty packet ends them
        r.next_seq = static_cast<uint8_t>(p.last_seq + 1);
        r.truncated |= p.truncated;
        if (p.length == 0) r.await = Await::kFirst;
        return;
      }
    }
    if (p.seq != 0 || p.payload.empty() || !is_command(static_cast<uint8_t>(p.payload[0]))) {
      ++counters_.invalid;
      egress_.lose();
      return;
    }
    ++counters_.requests;
    end_open_answers();

    Request r;
    r.command = static_cast<uint8_t>(p.payload[0]);
    r.namespace_name = database_;
    r.start_ns = p.start_ns;
    r.truncated = p.truncated;
    r.next_seq = static_cast<uint8_t>(p.last_seq + 1);
    std::string_view body = p.payload.substr(1);
    switch (r.command) {
      case kComQuery:
        if (has_query_attributes(body) && !skip_query_attributes(&body)) {
          body = {};  // the text cannot be found: none rather than a guess
          r.truncated = true;
        }
        r.summary = sql::summarize(body, options_.max_query_text, options_.keep_literals);
        if (!p.truncated) r.new_database = use_target(body);
        break;
      case kComStmtPrepare:
        r.summary = sql::summarize(body, options_.max_query_text, options_.keep_literals);
        break;
      case kComStmtExecute:
      case kComStmtBulkExecute:
        if (auto id = read_le(body, 0, 4)) {
          auto it = statements_.find(*id == 0xffffffff ? last_prepared_ : *id);
          if (it != statements_.end()) {
            r.summary = it->second.summary;
            r.truncated |= it->second.truncated;  // its text was cut
          }
        }
        break;
      case kComInitDb:
        if (!p.truncated && body.size() <= kMaxDatabaseName) r.new_database.assign(body);
        break;
      case kComStmtClose:
        if (auto id = read_le(body, 0, 4)) statements_.erase(*id);
        return;  // no answer
      case kComQuit:
      case kComStmtSendLongData:
        return;  // no answer
      case kComFieldList:
      case kComStmtFetch:
        r.await = Await::kRows;  // definitions or rows, then EOF
        break;
      case kComChangeUser:
      case kComStatistics:
      case kComPing:
      case kComStmtReset:
      case kComSetOption:
      case kComResetConnection:
        break;
      default:
        r.await = Await::kUntilNext;  // old or rare commands whose answers we do not follow
    }
    if (r.command == kComChangeUser) r.await = Await::kUntilNext;  // an authentication exchange
    pending_.push_back(std::move(r));
    if (pending_.size() > options_.max_pending_requests) drop_front();
  }

  bool has_query_attributes(std::string_view body) const {
    if (caps_known_) return capabilities_ & kClientQueryAttributes;
    // Unknown capabilities: a parameter count and a set count of 1 never start a query's text.
    return body.size() >= 2 && static_cast<uint8_t>(body[0]) < 0x20 && body[1] == 1 &&
           body[0] != '\t' && body[0] != '\n' && body[0] != '\r';
  }

  // A new command: answers that end only when another command is sent are over, and answers
  // whose bytes were lost will never be read to their end.
  void end_open_answers() {
    while (!pending_.empty()) {
      Request& r = pending_.front();
      if (r.await == Await::kUntilNext || r.await == Await::kPrepareEof) {
        finish();
      } else if (ingress_.lost()) {
        if (r.answered) {
          r.truncated = true;
          finish();
        } else {
          drop_front();
        }
      } else {
        break;
      }
    }
    if (ingress_.lost()) ingress_.resync();  // the next answer starts the next read
  }

  // --- server to client -------------------------------------------------------------------------

  void on_ingress(const Packet& p) {
    if (phase_ != Phase::kCommand) {
      on_handshake_ingress(p);
      return;
    }
    if (pending_.empty()) {
      ++counters_.unmatched_responses;
      ingress_.lose();
      return;
    }
    Request& r = pending_.front();
    if (p.seq != r.next_seq) {  // not this command's answer: we are out of step
      ++counters_.invalid;
      r.truncated = true;
      ingress_.lose();
      return;
    }
    r.next_seq = static_cast<uint8_t>(p.last_seq + 1);
    r.end_ns = p.end_ns;
    r.truncated |= p.truncated;
    r.answered = true;
    if (p.payload.empty() && p.length > 0) {  // its first byte went by unseen
      // Where every packet counts alike, or where only a row can be that long, that is enough.
      bool definition = r.await == Await::kColumnDefs || r.await == Await::kPrepareDefs;
      bool row = r.await == Await::kRows && p.length >= kMaxPacketPayload;
      if (definition && --r.defs_left == 0) {
        if (r.await == Await::kColumnDefs) {
          r.await = Await::kAfterColumnDefs;
        } else if (deprecate_eof_ == Tristate::kYes) {
          next_prepare_group(r);
        } else {
          r.await = Await::kPrepareEof;
        }
      }
      if (!definition && !row) ingress_.lose();
      return;
    }
    uint8_t head = p.payload.empty() ? 0 : static_cast<uint8_t>(p.payload[0]);
    // MariaDB's progress reports are ERR packets with error number 0xffff: not an answer.
    if (head == kErr && read_le(p.payload, 1, 2) == 0xffff) return;
    bool ends_rows = head == kEof && p.length < kMaxPacketPayload;  // a row never starts so

    switch (r.await) {
      case Await::kFirst:
      case Await::kInfileData:
        on_first_answer(r, p, head);
        return;
      case Await::kColumnDefs:
        if (head == kErr) return fail(r, p);
        if (--r.defs_left == 0) r.await = Await::kAfterColumnDefs;
        return;
      case Await::kAfterColumnDefs:
        if (head == kErr) return fail(r, p);
        if (head == kEof && (deprecate_eof_ == Tristate::kNo ||
                             (deprecate_eof_ == Tristate::kUnknown && p.length < 7))) {
          deprecate_eof_ = Tristate::kNo;  // the EOF between definitions and rows
          if (status_flags(p.payload) & kServerCursorExists) return finish();  // rows are fetched
          r.await = Await::kRows;
          return;
        }
        if (deprecate_eof_ == Tristate::kUnknown) deprecate_eof_ = Tristate::kYes;
        if (ends_rows) return end_of_result(p, head);
        r.await = Await::kRows;
        return;
      case Await::kRows:
        if (head == kErr) return fail(r, p);
        if (ends_rows) return end_of_result(p, head);
        return;
      case Await::kPrepareDefs:
        if (head == kErr) return fail(r, p);
        if (--r.defs_left > 0) return;
        if (deprecate_eof_ == Tristate::kYes) return next_prepare_group(r);
        r.await = Await::kPrepareEof;
        return;
      case Await::kPrepareEof:
        if (head == kEof && p.length < 7) {
          deprecate_eof_ = Tristate::kNo;
          return next_prepare_group(r);
        }
        deprecate_eof_ = Tristate::kYes;  // no EOF: this is the next group's first definition
        if (r.prepare_columns == 0) {
          ++counters_.invalid;
          ingress_.lose();
          return;
        }
        r.defs_left = r.prepare_columns;
        r.prepare_columns = 0;
        r.await = Await::kPrepareDefs;
        on_ingress_definition(r);
        return;
      case Await::kUntilNext:
        return;
    }
  }

  void on_ingress_definition(Request& r) {
    if (--r.defs_left == 0) next_prepare_group(r);
  }

  void next_prepare_group(Request& r) {
    if (r.prepare_columns == 0) return finish();
    r.defs_left = r.prepare_columns;
    r.prepare_columns = 0;
    r.await = Await::kPrepareDefs;
  }

  void on_first_answer(Request& r, const Packet& p, uint8_t head) {
    if (head == kErr) return fail(r, p);
    switch (r.command) {
      case kComQuery:
      case kComStmtExecute:
      case kComStmtBulkExecute:
        if (head == kOk || head == kEof) return end_of_result(p, head);
        if (head == kLocalInfile && r.command == kComQuery) {
          r.await = Await::kInfileData;
          return;
        }
        return start_result_set(r, p);
      case kComStmtPrepare: {
        auto id = read_le(p.payload, 1, 4);
        auto columns = read_le(p.payload, 5, 2);
        auto params = read_le(p.payload, 7, 2);
        if (head != kOk || !id || !columns || !params) {
          ++counters_.invalid;
          ingress_.lose();
          return;
        }
        remember_statement(*id, r.summary, r.truncated);
        // MySQL's optional metadata: a 0 after the warning count means no definitions follow.
        bool no_metadata = (capabilities_ & kClientOptionalResultsetMetadata) &&
                           p.payload.size() > 12 && p.payload[12] == 0;
        if (no_metadata || (*params == 0 && *columns == 0)) return finish();
        r.defs_left = *params > 0 ? *params : *columns;
        r.prepare_columns = static_cast<uint16_t>(*params > 0 ? *columns : 0);
        r.await = Await::kPrepareDefs;
        return;
      }
      case kComInitDb:
        if (head == kOk) database_ = r.new_database;
        return finish();
      default:
        return finish();  // OK, EOF or a string (COM_STATISTICS): the whole answer
    }
  }

  // The packet that opens a result set: its column count, and whether definitions follow.
  void start_result_set(Request& r, const Packet& p) {
    std::string_view s = p.payload;
    uint64_t count = 0;
    bool metadata = true;
    std::string_view mysql_layout = s.size() > 1 ? s.substr(1) : std::string_view();
    auto plain = read_lenenc(&s);
    if (plain && s.empty()) {
      count = *plain;
    } else if (plain && *plain > 0 && s.size() == 1 && static_cast<uint8_t>(s[0]) <= 1 &&
               (!caps_known_ || (mariadb_caps_ & kMariaDbCacheMetadata))) {
      count = *plain;  // MariaDB: the count, then whether metadata follows
      metadata = s[0] == 1;
    } else if (static_cast<uint8_t>(p.payload[0]) <= 1 &&
               (!caps_known_ || (capabilities_ & kClientOptionalResultsetMetadata)) &&
               read_lenenc(&mysql_layout) && mysql_layout.empty()) {
      std::string_view again = p.payload.substr(1);
      count = *read_lenenc(&again);  // MySQL: whether metadata follows, then the count
      metadata = p.payload[0] == 1;
    }
    if (count == 0 || p.truncated) {
      ++counters_.invalid;
      r.truncated = true;
      ingress_.lose();
      return;
    }
    r.defs_left = metadata ? count : 0;
    r.await = r.defs_left > 0 ? Await::kColumnDefs : Await::kAfterColumnDefs;
  }

  // An OK or EOF that ends one result: another may follow (multi-statements, procedures).
  void end_of_result(const Packet& p, uint8_t head) {
    Request& r = pending_.front();
    if (status_flags(p.payload) & kServerMoreResultsExist) {
      r.await = Await::kFirst;
      return;
    }
    if (!r.new_database.empty() && head == kOk) {
      database_ = r.new_database;
    }
    finish();
  }

  void fail(Request& r, const Packet& p) {
    r.error = true;
    if (auto code = read_le(p.payload, 1, 2)) r.status_code = std::to_string(*code);
    finish();
  }

  void on_handshake_ingress(const Packet& p) {
    if (p.payload.empty()) return;
    uint8_t head = static_cast<uint8_t>(p.payload[0]);
    if (phase_ == Phase::kStart) {
      auto greeting = p.seq == 0 ? parse_greeting(p.payload) : std::nullopt;
      if (!greeting) {  // not a greeting: an answer to something unseen
        ++counters_.unmatched_responses;
        ingress_.lose();
        return;
      }
      greeting_seen_ = true;
      server_caps_ = greeting->capabilities;
      server_mariadb_caps_ = greeting->mariadb_capabilities;
      phase_ = Phase::kAuth;
      return;
    }
    // Authentication: OK ends it, ERR refuses it (the server then closes); anything else is an
    // exchange of authentication data.
    if (head == kOk || head == kErr) {
      phase_ = Phase::kCommand;
      if (head == kOk && (capabilities_ & (kClientCompress | kClientZstdCompression))) {
        counters_.gave_up = true;  // compressed packets follow
      }
    }
  }

  void remember_statement(uint32_t id, const sql::QuerySummary& summary, bool truncated) {
    if (statements_.size() >= kMaxStatements && !statements_.contains(id)) {
      while (!statement_order_.empty() && statements_.size() >= kMaxStatements) {
        statements_.erase(statement_order_.front());
        statement_order_.pop_front();
      }
    }
    statements_[id] = {summary, truncated};
    statement_order_.push_back(id);
    if (statement_order_.size() > 4 * kMaxStatements) {  // ids closed long ago
      std::erase_if(statement_order_, [this](uint32_t i) { return !statements_.contains(i); });
    }
    last_prepared_ = id;
  }

  void finish() {
    Request& r = pending_.front();
    if (emits(r)) {
      DbCall call;
      call.system = "mysql";
      call.namespace_name = r.namespace_name;
      call.operation = std::move(r.summary.operation);
      call.collection = std::move(r.summary.collection);
      call.query_text = std::move(r.summary.text);
      call.status_code = std::move(r.status_code);
      call.error = r.error;
      call.truncated = r.truncated;
      call.batch_size = r.summary.statements > 1 ? r.summary.statements : 0;
      call.start_ns = r.start_ns;
      call.end_ns = std::max(r.end_ns, r.start_ns);
      ++counters_.calls;
      pending_.pop_front();
      if (sink_) sink_(std::move(call));
      return;
    }
    pending_.pop_front();
  }

  // A command whose answer will never be seen whole.
  void drop_front() {
    const Request& r = pending_.front();
    bool answerless = r.await == Await::kUntilNext || r.await == Await::kPrepareEof;
    if (!answerless) ++counters_.unmatched_requests;
    pending_.pop_front();
  }

  Sink sink_;
  DbMatchOptions options_;
  DbMatchCounters counters_;
  PacketReader egress_;
  PacketReader ingress_;
  Phase phase_ = Phase::kStart;
  bool closed_ = false;
  bool after_tls_ = false;  // fed the plaintext of a TLS session (continue_in_tls)
  bool greeting_seen_ = false;
  bool response_seen_ = false;
  bool caps_known_ = false;
  uint32_t server_caps_ = 0;
  uint32_t server_mariadb_caps_ = 0;
  uint32_t capabilities_ = 0;
  uint32_t mariadb_caps_ = 0;
  Tristate deprecate_eof_ = Tristate::kUnknown;
  std::string database_;
  std::deque<Request> pending_;
  struct Statement {
    sql::QuerySummary summary;
    bool truncated = false;
  };
  std::unordered_map<uint32_t, Statement> statements_;
  std::deque<uint32_t> statement_order_;
  uint32_t last_prepared_ = 0;
};

}  // namespace

bool looks_like_mysql_server_greeting(std::string_view b) {
  if (b.size() < 7) return false;
  uint32_t length = le24(b);
  if (b[3] != 0 || b[4] != 10 || length < 20 || length > 1024) return false;
  std::string_view payload = b.substr(4, length);
  size_t nul = payload.find('\0', 1);
  if (nul == std::string_view::npos || nul == 1 || nul > 64) return false;
  std::string_view version = payload.substr(1, nul - 1);
  return version[0] >= '0' && version[0] <= '9' && looks_like_text(version) &&
         version.find_first_of("\t\r\n") == std::string_view::npos;
}

bool looks_like_mysql_client(std::string_view b) {
  if (b.size() < 5 || b[3] != 0 || le24(b) + 4 != b.size()) return false;
  std::string_view body = b.substr(5);
  switch (static_cast<uint8_t>(b[4])) {
    case kComPing:
      return body.empty();
    case kComQuery:
      // Query attributes (a parameter count, a set count of 1) may come before the text.
      if (body.size() >= 2 && static_cast<uint8_t>(body[0]) < 0x20 && body[1] == 1) return true;
      [[fallthrough]];
    case kComStmtPrepare:
      return !body.empty() && looks_like_text(body.substr(0, 32));
    case kComInitDb:
      return !body.empty() && body.size() <= kMaxDatabaseName && looks_like_text(body);
    case kComStmtExecute: {
      // Statement id, cursor flags, an iteration count that is always 1.
      if (body.size() < 9 || static_cast<uint8_t>(body[4]) > 0x0f) return false;
      return read_le(body, 5, 4) == 1u;
    }
    default:
      return false;
  }
}

std::unique_ptr<DbMatcher> make_mysql_matcher(DbMatcher::Sink sink, DbMatchOptions options) {
  return std::make_unique<MySqlMatcher>(std::move(sink), options);
}

}  // namespace hodos::protocols::mysql
