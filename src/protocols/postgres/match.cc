#include "protocols/postgres/match.h"

#include <algorithm>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "protocols/sql/sanitize.h"

namespace hodos::protocols::postgres {
namespace {

constexpr std::string_view kSystem = "postgresql";

// What is kept of a body that spans chunks; the rest of it is passed over by its length.
constexpr size_t kMaxQueryBytes = 64 * 1024;  // Query and Parse text (sanitized, then cut)
constexpr size_t kMaxNameBytes = 1024;        // Execute and Close: one name
constexpr size_t kMaxErrorBytes = 256;        // ErrorResponse: SQLSTATE comes in the first fields
// Prepared statements and portals remembered; past this the oldest name is forgotten (an
// Execute of it then has no statement text).
constexpr size_t kMaxStatements = 256;
constexpr size_t kMaxPortals = 64;
// Chunks that do not parse before any message did: the connection is not PostgreSQL.
constexpr uint32_t kMaxUnsyncedInvalid = 4;

struct Statement {
  sql::QuerySummary summary;
  bool truncated = false;  // the capture cut the Parse that defined it
};

// A name → statement map that forgets its oldest entry when full.
template <class Value>
class BoundedMap {
 public:
  explicit BoundedMap(size_t limit) : limit_(limit) {}
  void put(std::string_view name, Value value) {
    auto it = map_.find(name);
    if (it != map_.end()) {
      it->second = std::move(value);
      return;
    }
    if (map_.size() >= limit_) {
      map_.erase(order_.front());
      order_.pop_front();
    }
    auto inserted = map_.emplace(std::string(name), std::move(value)).first;
    order_.push_back(inserted->first);
  }
  const Value* find(std::string_view name) const {
    auto it = map_.find(name);
    return it == map_.end() ? nullptr : &it->second;
  }
  void erase(std::string_view name) {
    auto it = map_.find(name);
    if (it == map_.end()) return;
    order_.erase(std::find(order_.begin(), order_.end(), it->first));
    map_.erase(it);
  }

 private:
  size_t limit_;
  std::map<std::string, Value, std::less<>> map_;
  std::deque<std::string> order_;
};

class PostgresMatcher final : public DbMatcher {
 public:
  PostgresMatcher(Sink sink, DbMatchOptions options) : sink_(std::move(sink)), options_(options) {}

  void feed(Direction direction, const Chunk& chunk) override;
  void close() override;
  bool active() const override { return !stopped_; }
  const DbMatchCounters& counters() const override { return counters_; }

 private:
  enum class State : uint8_t {
    kHeader,  // expecting (the rest of) a message header
    kBody,    // reading the body of the open message
    kResync,  // lost track: waiting for a chunk that starts a message
  };

  struct Stream {
    State state = State::kHeader;
    bool untagged = false;  // the next message is a start-up one (no tag byte)
    bool started = false;   // some chunk was seen
    bool synced = false;    // some message parsed
    uint32_t unsynced_invalid = 0;
    char header[8] = {};
    uint8_t header_len = 0;
    uint64_t start_ns = 0;  // chunk holding the open message's first byte
    // The open message.
    char tag = 0;  // 0: an untagged start-up message, `code` says which
    uint32_t code = 0;
    uint64_t body_length = 0;
    uint64_t remaining = 0;
    std::string kept;  // the body's start, when it spans chunks
    size_t keep_limit = 0;
    uint8_t bind_names = 0;  // Bind: names kept so far (parameter values never are)
    bool cut = false;        // bytes of the open message went by uncaptured
  };

  enum class PendingKind : uint8_t {
    kQuery,     // simple Query: answered by everything up to ReadyForQuery
    kExecute,   // answered by CommandComplete, EmptyQuery, PortalSuspended or ErrorResponse
    kSync,      // ends an extended-protocol group at ReadyForQuery
    kFunction,  // FunctionCall: not a call we report, but its ReadyForQuery is its own
  };
  struct Pending {
    PendingKind kind;
    DbCall call;
  };

  Stream& stream(Direction d) { return streams_[d == Direction::kEgress ? 0 : 1]; }
  Stream& other(Direction d) { return streams_[d == Direction::kEgress ? 1 : 0]; }
  void consume(Direction d, Stream& s, std::string_view data, uint64_t ts);
  bool read_header(Direction d, Stream& s, std::string_view* data, uint64_t ts);
  void open_message(Direction d, Stream& s);
  void keep(Stream& s, std::string_view bytes);
  void deliver(Direction d, Stream& s, std::string_view body, uint64_t ts);
  void on_gap(Direction d, Stream& s, uint64_t gap, uint64_t ts, bool length_only);
  void lose_sync(Direction d, Stream& s, uint64_t ts);
  void on_invalid(Direction d, Stream& s, uint64_t dropped, uint64_t ts);
  bool resync(Direction d, Stream& s, std::string_view* data);

  void on_frontend(Stream& s, std::string_view body);
  void on_startup(Stream& s, std::string_view body);
  void on_backend(Stream& s, std::string_view body, uint64_t ts);
  void on_egress_message_start(char tag, uint64_t ts);

  DbCall new_call(const sql::QuerySummary* summary, bool truncated, uint64_t start_ns) const;
  void push(Pending&& p);
  void emit(Pending& p, uint64_t end_ns);
  void on_complete(uint64_t ts);
  void on_error(std::string_view sqlstate, uint64_t ts);
  void on_ready(uint64_t ts);
  void finish_lost_answer();
  void mark_answer_truncated();
  void answer_bytes_lost(uint64_t ts);
  void give_up() {
    counters_.gave_up = true;
    stopped_ = true;
  }

  Sink sink_;
  DbMatchOptions options_;
  DbMatchCounters counters_;
  Stream streams_[2];
  std::deque<Pending> pending_;
  // Shared: a portal keeps its statement even after a Close or a re-Parse of the name.
  BoundedMap<std::shared_ptr<const Statement>> statements_{kMaxStatements};
  BoundedMap<std::shared_ptr<const Statement>> portals_{kMaxPortals};
  std::string namespace_name_;
  uint64_t group_start_ns_ = 0;  // first message since the last Execute or Sync
  bool group_started_ = false;
  bool discard_until_sync_ = false;   // an error ended the group; the server skips to Sync
  bool awaiting_ssl_answer_ = false;  // one unframed byte comes back: 'S'/'G' or 'N'
  bool awaiting_startup_ready_ = false;
  // The capture lost the end of an answer: once the client writes again, it had read that
  // answer in full, so the request waiting for it is done (marked truncated).
  bool answer_tail_lost_ = false;
  uint64_t answer_lost_ns_ = 0;
  bool egress_lost_ = false;  // client bytes went by unparsed at some point
  bool stopped_ = false;
};

void PostgresMatcher::feed(Direction d, const Chunk& chunk) {
  if (stopped_) return;
  std::string_view data = chunk.captured;
  uint64_t length = std::max<uint64_t>(chunk.length, data.size());
  if (length == 0) return;
  Stream& s = stream(d);
  if (!s.started) {
    s.started = true;
    // A client's first bytes are a start-up message unless the connection is older than us.
    s.untagged = d == Direction::kEgress && !data.empty() && data[0] == '\0';
  }
  if (s.state == State::kResync) {
    size_t before = data.size();
    if (!resync(d, s, &data)) {
      counters_.skipped_bytes += length;
      if (!s.synced) {
        ++counters_.invalid;
        if (++s.unsynced_invalid >= kMaxUnsyncedInvalid && !other(d).synced) give_up();
      }
      if (d == Direction::kIngress) answer_bytes_lost(chunk.timestamp_ns);
      return;
    }
    counters_.skipped_bytes += before - data.size();
    length -= before - data.size();
  }
  consume(d, s, data, chunk.timestamp_ns);
  uint64_t gap = length - data.size();
  if (gap > 0 && !stopped_) on_gap(d, s, gap, chunk.timestamp_ns, chunk.length_only);
}

void PostgresMatcher::consume(Direction d, Stream& s, std::string_view data, uint64_t ts) {
  while (!data.empty() && !stopped_ && s.state != State::kResync) {
    if (s.state == State::kHeader) {
      if (d == Direction::kIngress && awaiting_ssl_answer_ && s.header_len == 0) {
        awaiting_ssl_answer_ = false;
        char answer = data[0];
        if (answer == 'S' || answer == 'G') {  // TLS or GSSAPI encryption from here on
          give_up();
          return;
        }
        if (answer == 'N') {  // refused: the client goes on in plaintext
          data.remove_prefix(1);
          continue;
        }
        // Anything else is a server too old to know the request: it answers with an error.
      }
      if (!read_header(d, s, &data, ts)) return;
    }
    // kBody
    size_t n = static_cast<size_t>(std::min<uint64_t>(s.remaining, data.size()));
    std::string_view part = data.substr(0, n);
    data.remove_prefix(n);
    bool whole_here = s.remaining == s.body_length && n == s.remaining;
    s.remaining -= n;
    if (whole_here) {
      deliver(d, s, part, ts);  // the common case: no copy
    } else {
      keep(s, part);
      if (s.remaining == 0) deliver(d, s, s.kept, ts);
    }
  }
}

// Gathers the header (5 bytes, or 8 for an untagged message) and opens the message. False when
// it needs more bytes or the stream lost sync.
bool PostgresMatcher::read_header(Direction d, Stream& s, std::string_view* data, uint64_t ts) {
  size_t need = s.untagged ? 8 : 5;
  if (s.header_len == 0) s.start_ns = ts;
  size_t n = std::min(need - s.header_len, data->size());
  std::copy_n(data->data(), n, s.header + s.header_len);
  s.header_len = static_cast<uint8_t>(s.header_len + n);
  data->remove_prefix(n);
  std::string_view header(s.header, s.header_len);
  ParseState st;
  if (s.untagged) {
    StartupHeader h;
    st = parse_startup_header(&header, &h);
    if (st == ParseState::kSuccess) {
      s.tag = 0;
      s.code = h.code;
      s.body_length = h.length - 8;
    }
  } else {
    MessageHeader h;
    st = parse_header(&header, d == Direction::kEgress ? Sender::kFrontend : Sender::kBackend, &h);
    if (st == ParseState::kSuccess) {
      s.tag = h.tag;
      s.body_length = h.body_length();
    }
  }
  if (st == ParseState::kInvalid) {
    on_invalid(d, s, data->size(), ts);
    return false;
  }
  if (st == ParseState::kNeedsMoreData) return false;
  s.header_len = 0;
  open_message(d, s);
  return true;
}

void PostgresMatcher::open_message(Direction d, Stream& s) {
  s.state = State::kBody;
  s.remaining = s.body_length;
  s.kept.clear();
  s.cut = false;
  s.bind_names = 0;
  s.synced = true;
  s.keep_limit = 0;
  if (d == Direction::kEgress) {
    if (s.tag == 0) {
      s.keep_limit = kMaxStartupLength;
    } else if (s.tag == 'Q' || s.tag == 'P') {
      s.keep_limit = kMaxQueryBytes;
    } else if (s.tag == 'B') {
      s.keep_limit = 2 * kMaxNameBytes;
    } else if (s.tag == 'E' || s.tag == 'C') {
      s.keep_limit = kMaxNameBytes + 1;
    }
    if (s.tag != 0) on_egress_message_start(s.tag, s.start_ns);
  } else if (s.tag == 'E') {
    s.keep_limit = kMaxErrorBytes;
  }
}

void PostgresMatcher::keep(Stream& s, std::string_view bytes) {
  size_t room = s.keep_limit - std::min(s.keep_limit, s.kept.size());
  bytes = bytes.substr(0, room);
  if (s.tag == 'B') {
    // Only the portal and statement names: stop after the second NUL, before the parameters.
    size_t end = 0;
    while (s.bind_names < 2 && end < bytes.size()) {
      size_t nul = bytes.find('\0', end);
      if (nul == std::string_view::npos) {
        end = bytes.size();
        break;
      }
      end = nul + 1;
      ++s.bind_names;
    }
    bytes = bytes.substr(0, end);
  }
  s.kept.append(bytes);
}

void PostgresMatcher::deliver(Direction d, Stream& s, std::string_view body, uint64_t ts) {
  s.state = State::kHeader;
  // A body read whole from one chunk is looked at no further than one gathered across chunks.
  body = body.substr(0, s.keep_limit);
  if (s.cut) ++counters_.truncated;
  if (d == Direction::kEgress) {
    if (s.tag == 0) {
      on_startup(s, body);
    } else {
      on_frontend(s, body);
    }
  } else {
    if (s.cut) mark_answer_truncated();
    on_backend(s, body, ts);
  }
  s.kept.clear();
  if (s.kept.capacity() > 4096) s.kept.shrink_to_fit();  // one long query does not stay
}

void PostgresMatcher::on_startup(Stream& s, std::string_view body) {
  switch (s.code) {
    case kSslRequestCode:
    case kGssEncRequestCode:
      awaiting_ssl_answer_ = true;  // 'N' lets the client go on with another start-up message
      return;
    case kCancelRequestCode:
      return;  // the server closes without answering
    default:
      namespace_name_ = std::string(startup_database(body, !s.cut));
      s.untagged = false;
      awaiting_startup_ready_ = true;
  }
}

void PostgresMatcher::on_egress_message_start(char tag, uint64_t ts) {
  static constexpr std::string_view kNewRequest = "QPBESFX";  // not COPY data, not auth
  static constexpr std::string_view kInGroup = "PBDCEH";      // extended-protocol messages
  if (answer_tail_lost_ && kNewRequest.find(tag) != std::string_view::npos) finish_lost_answer();
  if (!group_started_ && kInGroup.find(tag) != std::string_view::npos) {
    group_started_ = true;
    group_start_ns_ = ts;
  }
}

void PostgresMatcher::on_frontend(Stream& s, std::string_view body) {
  switch (s.tag) {
    case 'Q': {
      ++counters_.requests;
      group_started_ = false;
      std::string_view text = body.substr(0, body.find('\0'));
      sql::QuerySummary summary =
          sql::summarize(text, options_.max_query_text, options_.keep_literals);
      push({PendingKind::kQuery, new_call(&summary, s.cut, s.start_ns)});
      return;
    }
    case 'P': {
      std::string_view name, text;
      if (!read_cstring(&body, &name)) return;  // the name alone was cut: nothing to define
      text = body.substr(0, body.find('\0'));
      statements_.put(
          name, std::make_shared<const Statement>(Statement{
                    sql::summarize(text, options_.max_query_text, options_.keep_literals), s.cut}));
      return;
    }
    case 'B': {
      std::string_view portal, statement;
      if (!read_cstring(&body, &portal)) return;
      if (!read_cstring(&body, &statement)) {
        portals_.erase(portal);
        return;
      }
      const std::shared_ptr<const Statement>* found = statements_.find(statement);
      portals_.put(portal, found ? *found : nullptr);
      return;
    }
    case 'E': {
      ++counters_.requests;
      uint64_t start = group_start_ns_;
      group_started_ = false;
      if (discard_until_sync_) {  // the server skips it: it answers nothing until Sync
        ++counters_.unmatched_requests;
        return;
      }
      std::string_view portal;
      const Statement* statement = nullptr;
      if (read_cstring(&body, &portal)) {
        if (const std::shared_ptr<const Statement>* p = portals_.find(portal)) statement = p->get();
      }
      // An unknown statement was prepared before the connection was seen, or in lost bytes.
      DbCall call = statement ? new_call(&statement->summary, statement->truncated || s.cut, start)
                              : new_call(nullptr, s.cut || egress_lost_, start);
      push({PendingKind::kExecute, std::move(call)});
      return;
    }
    case 'S':
      group_started_ = false;
      discard_until_sync_ = false;
      push({PendingKind::kSync, {}});
      return;
    case 'F':
      group_started_ = false;
      push({PendingKind::kFunction, {}});
      return;
    case 'C': {
      if (body.empty()) return;
      char kind = body[0];
      body.remove_prefix(1);
      std::string_view name;
      if (!read_cstring(&body, &name)) return;
      if (kind == 'S') statements_.erase(name);
      if (kind == 'P') portals_.erase(name);
      return;
    }
    default:
      // Describe, Flush, Terminate, CopyData/Done/Fail, and authentication ('p'), unread.
      return;
  }
}

void PostgresMatcher::on_backend(Stream& s, std::string_view body, uint64_t ts) {
  switch (s.tag) {
    case 'Z':
      on_ready(ts);
      return;
    case 'C':  // CommandComplete
    case 'I':  // EmptyQueryResponse
    case 's':  // PortalSuspended
      on_complete(ts);
      return;
    case 'E':
      on_error(error_sqlstate(body), ts);
      return;
    default:
      // Authentication, parameters, row data, the acknowledgements of Parse/Bind/Close, COPY
      // framing, notices and notifications (asynchronous: never an answer).
      return;
  }
}

void PostgresMatcher::on_gap(Direction d, Stream& s, uint64_t gap, uint64_t ts, bool length_only) {
  counters_.skipped_bytes += gap;
  if (s.state == State::kResync) return;  // already lost: more of the same
  if (s.state == State::kBody && gap <= s.remaining) {
    // Inside the open message: passed over by its declared length.
    s.remaining -= gap;
    if (!length_only) s.cut = true;
    // Nothing after a hole is kept: spliced text could turn a literal's end into bare words.
    s.keep_limit = std::min(s.keep_limit, s.kept.size());
    if (s.remaining == 0) deliver(d, s, s.kept, ts);
    return;
  }
  if (s.state == State::kBody) {
    s.cut = true;
    s.remaining = 0;
    deliver(d, s, s.kept, ts);
    if (stopped_) return;
  }
  lose_sync(d, s, ts);
}

// Bytes went by where a header was (or several messages were): the next chunk that starts a
// message takes over.
void PostgresMatcher::lose_sync(Direction d, Stream& s, uint64_t ts) {
  ++counters_.truncated;
  s.state = State::kResync;
  s.header_len = 0;
  if (d == Direction::kEgress) egress_lost_ = true;
  if (d == Direction::kIngress) answer_bytes_lost(ts);
}

// Answer bytes went by unparsed: the oldest request's answer was (at least partly) in them.
void PostgresMatcher::answer_bytes_lost(uint64_t ts) {
  if (pending_.empty()) return;
  mark_answer_truncated();
  answer_tail_lost_ = true;
  answer_lost_ns_ = ts;
}

void PostgresMatcher::on_invalid(Direction d, Stream& s, uint64_t dropped, uint64_t ts) {
  ++counters_.invalid;
  counters_.skipped_bytes += dropped + s.header_len;
  s.header_len = 0;
  s.state = State::kResync;
  if (d == Direction::kEgress) egress_lost_ = true;
  if (!s.synced && ++s.unsynced_invalid >= kMaxUnsyncedInvalid && !other(d).synced) {
    give_up();  // nothing ever parsed either way: not PostgreSQL
    return;
  }
  if (d == Direction::kIngress) answer_bytes_lost(ts);
}

// A chunk after lost bytes: take it up where it starts a message. The client writes whole
// messages; the server's reads may start anywhere, so ingress also looks inside the chunk for
// a ReadyForQuery, whose six bytes are distinctive.
bool PostgresMatcher::resync(Direction d, Stream& s, std::string_view* data) {
  if (data->empty()) return false;
  if (d == Direction::kEgress) {
    if (!looks_like_postgres_client(*data)) return false;
    s.untagged = (*data)[0] == '\0';
    s.state = State::kHeader;
    return true;
  }
  std::string_view probe = *data;
  MessageHeader h;
  if (parse_header(&probe, Sender::kBackend, &h) != ParseState::kInvalid) {
    s.state = State::kHeader;
    return true;
  }
  static constexpr std::string_view kReady("Z\0\0\0\5", 5);
  for (size_t at = data->find(kReady); at != std::string_view::npos;
       at = data->find(kReady, at + 1)) {
    if (at + 5 < data->size()) {
      char status = (*data)[at + 5];
      if (status == 'I' || status == 'T' || status == 'E') {
        data->remove_prefix(at);
        s.state = State::kHeader;
        return true;
      }
    }
  }
  return false;
}

DbCall PostgresMatcher::new_call(const sql::QuerySummary* summary, bool truncated,
                                 uint64_t start_ns) const {
  DbCall call;
  call.system = kSystem;
  call.namespace_name = namespace_name_;
  if (summary) {
    call.operation = summary->operation;
    call.collection = summary->collection;
    call.query_text = summary->text;
    call.batch_size = summary->statements > 1 ? summary->statements : 0;
  }
  call.truncated = truncated;
  call.start_ns = start_ns;
  return call;
}

void PostgresMatcher::push(Pending&& p) {
  if (pending_.size() >= options_.max_pending_requests && !pending_.empty()) {
    if (pending_.front().kind == PendingKind::kQuery ||
        pending_.front().kind == PendingKind::kExecute) {
      ++counters_.unmatched_requests;
    }
    pending_.pop_front();
  }
  pending_.push_back(std::move(p));
}

void PostgresMatcher::emit(Pending& p, uint64_t end_ns) {
  p.call.end_ns = std::max(end_ns, p.call.start_ns);
  ++counters_.calls;
  if (sink_) sink_(std::move(p.call));
}

void PostgresMatcher::on_complete(uint64_t ts) {
  if (pending_.empty() || pending_.front().kind != PendingKind::kExecute) return;
  emit(pending_.front(), ts);
  pending_.pop_front();
}

void PostgresMatcher::on_error(std::string_view sqlstate, uint64_t ts) {
  if (pending_.empty()) return;  // a start-up failure or a FATAL on an idle connection
  Pending& head = pending_.front();
  if (head.kind == PendingKind::kQuery) {
    if (!head.call.error) {  // the first failing statement stops the rest of the text
      head.call.error = true;
      head.call.status_code = std::string(sqlstate);
    }
    return;
  }
  if (head.kind != PendingKind::kExecute) return;  // a Parse/Bind of a group with no Execute
  head.call.error = true;
  head.call.status_code = std::string(sqlstate);
  emit(head, ts);
  pending_.pop_front();
  // The server now ignores everything up to Sync: those Executes are never answered.
  while (!pending_.empty() && pending_.front().kind == PendingKind::kExecute) {
    ++counters_.unmatched_requests;
    pending_.pop_front();
  }
  if (pending_.empty()) discard_until_sync_ = true;
}

void PostgresMatcher::on_ready(uint64_t ts) {
  answer_tail_lost_ = false;
  discard_until_sync_ = false;
  if (pending_.empty()) {
    if (awaiting_startup_ready_) {
      awaiting_startup_ready_ = false;
    } else {
      ++counters_.unmatched_responses;
    }
    return;
  }
  awaiting_startup_ready_ = false;
  while (!pending_.empty()) {
    Pending& head = pending_.front();
    if (head.kind == PendingKind::kExecute) {  // its answer never came
      ++counters_.unmatched_requests;
      pending_.pop_front();
      continue;
    }
    if (head.kind == PendingKind::kQuery) emit(head, ts);
    pending_.pop_front();
    return;
  }
}

void PostgresMatcher::finish_lost_answer() {
  answer_tail_lost_ = false;
  while (!pending_.empty()) {
    Pending& head = pending_.front();
    PendingKind kind = head.kind;
    if (kind == PendingKind::kQuery || kind == PendingKind::kExecute) {
      head.call.truncated = true;
      emit(head, answer_lost_ns_);
    }
    pending_.pop_front();
    if (kind != PendingKind::kExecute) return;
  }
}

void PostgresMatcher::mark_answer_truncated() {
  if (!pending_.empty()) pending_.front().call.truncated = true;
}

void PostgresMatcher::close() {
  if (stopped_ && !counters_.gave_up) return;
  for (const Pending& p : pending_) {
    if (p.kind == PendingKind::kQuery || p.kind == PendingKind::kExecute) {
      ++counters_.unmatched_requests;
    }
  }
  pending_.clear();
  stopped_ = true;
}

}  // namespace

std::unique_ptr<DbMatcher> make_postgres_matcher(DbMatcher::Sink sink, DbMatchOptions options) {
  return std::make_unique<PostgresMatcher>(std::move(sink), options);
}

}  // namespace hodos::protocols::postgres
