#include "protocols/http1/match.h"

#include <algorithm>
#include <cstring>
#include <utility>

namespace hodos::protocols::http1 {
namespace {

// A carried head is re-parsed only when a line could have ended, once past its first bytes
// (which are checked at once so that garbage is rejected early): no quadratic re-parsing.
constexpr size_t kAlwaysReparseBelow = 256;
constexpr size_t kKeptHeadCapacity = 4096;

bool ends_last_chunk(std::string_view data) {
  static constexpr std::string_view kLast = "0\r\n\r\n";
  if (data.size() < kLast.size() || data.substr(data.size() - kLast.size()) != kLast) {
    return false;
  }
  return data.size() == kLast.size() || data[data.size() - kLast.size() - 1] == '\n';
}

// Forgets a carried head; a large buffer is released, since idle connections are many.
void drop_head(std::string& head) {
  head.clear();
  if (head.capacity() > kKeptHeadCapacity) head.shrink_to_fit();
}

}  // namespace

ConnectionMatcher::ConnectionMatcher(Role role, Sink sink, MatchLimits limits)
    : role_(role), sink_(std::move(sink)), limits_(limits) {
  if (role == Role::kServer) {
    stream(Direction::kIngress).kind = Kind::kRequests;
    stream(Direction::kEgress).kind = Kind::kResponses;
  } else if (role == Role::kClient) {
    stream(Direction::kEgress).kind = Kind::kRequests;
    stream(Direction::kIngress).kind = Kind::kResponses;
  }
}

void ConnectionMatcher::assign_kinds(Direction d, std::string_view first_bytes) {
  static constexpr std::string_view kResponseStart = "HTTP/";
  size_t n = std::min(first_bytes.size(), kResponseStart.size());
  bool responses = first_bytes.substr(0, n) == kResponseStart.substr(0, n);
  Direction other = d == Direction::kEgress ? Direction::kIngress : Direction::kEgress;
  stream(d).kind = responses ? Kind::kResponses : Kind::kRequests;
  stream(other).kind = responses ? Kind::kRequests : Kind::kResponses;
  bool reads_requests = (d == Direction::kIngress) != responses;
  role_ = reads_requests ? Role::kServer : Role::kClient;
}

void ConnectionMatcher::feed(Direction direction, const Chunk& chunk) {
  if (stopped_) return;
  Stream& s = stream(direction);
  std::string_view data = chunk.captured;
  uint64_t length = std::max<uint64_t>(chunk.length, data.size());
  uint64_t ts = chunk.timestamp_ns;
  if (length == 0) return;
  if (s.kind == Kind::kUnknown) {
    if (data.empty()) {
      counters_.skipped_bytes += length;
      return;
    }
    assign_kinds(direction, data);
  }

  if (s.state == State::kResync) {
    if (!starts_message(s, data)) {
      if (!synced_) {
        on_invalid(s, length);
      } else {
        counters_.skipped_bytes += length;
      }
      s.last_ns = ts;
      return;
    }
    s.state = State::kHead;
  } else if (s.state == State::kLostChunked) {
    if (starts_message(s, data)) {
      finish_message(s, s.last_ns, false);
    } else {
      // Without the framing, the body's end shows only as a write that ends with the last chunk.
      counters_.skipped_bytes += length;
      open_body(s).seen += length;
      (chunk.length_only ? open_body(s).length_only : open_body(s).skipped) +=
          length - data.size();
      if (data.size() == length && ends_last_chunk(data)) finish_message(s, ts, false);
      s.last_ns = ts;
      return;
    }
  }

  consume(s, data, ts);
  if (!stopped_ && length > data.size()) on_gap(s, length - data.size(), ts, chunk.length_only);
  s.last_ns = ts;
}

void ConnectionMatcher::consume(Stream& s, std::string_view data, uint64_t ts) {
  while (!data.empty() && !stopped_) {
    switch (s.state) {
      case State::kHead:
        if (!read_head(s, &data, ts)) return;
        break;
      case State::kBody:
        read_body(s, &data, ts);
        break;
      case State::kLostChunked:
      case State::kResync:
        counters_.skipped_bytes += data.size();
        return;
    }
  }
}

bool ConnectionMatcher::read_head(Stream& s, std::string_view* data, uint64_t ts) {
  const bool carried = !s.head.empty();
  const size_t before = s.head.size();
  size_t appended = 0;
  std::string_view view = *data;
  uint64_t start = ts;
  if (carried) {
    appended = std::min(data->size(), limits_.max_head_bytes - before);
    s.head.append(data->data(), appended);
    view = s.head;
    start = s.head_start_ns;
    bool line_ended = std::memchr(data->data(), '\n', appended) != nullptr;
    if (!line_ended && s.head.size() >= kAlwaysReparseBelow &&
        s.head.size() < limits_.max_head_bytes) {
      data->remove_prefix(appended);
      return false;
    }
  }

  ParseState st = parse_head(s, &view, start);
  if (st == ParseState::kSuccess) {
    size_t used = carried ? s.head.size() - view.size() - before : data->size() - view.size();
    data->remove_prefix(used);
    on_head(s, start, ts);  // copies the head, so the carried bytes can go
    drop_head(s.head);
    return true;
  }
  if (st == ParseState::kInvalid) {
    drop_head(s.head);
    on_invalid(s, data->size());
    *data = {};
    return false;
  }
  // Needs more data: carry the head into the next chunk, unless it is already too long.
  if (!carried) {
    if (data->size() >= limits_.max_head_bytes) {
      cut_head(s, *data, ts);
      *data = {};
      return false;
    }
    s.head.assign(data->data(), data->size());
    s.head_start_ns = ts;
    *data = {};
    return false;
  }
  data->remove_prefix(appended);
  if (s.head.size() >= limits_.max_head_bytes) {
    counters_.skipped_bytes += data->size();
    cut_head(s, s.head, ts);
    *data = {};
  }
  return false;
}

ParseState ConnectionMatcher::parse_head(Stream& s, std::string_view* view, uint64_t start_ns) {
  if (s.kind == Kind::kRequests) return parse_request_head(view, &s.request_scratch);
  const Request* answered = answered_request(s, start_ns);
  std::string_view method = answered != nullptr ? answered->method : std::string_view();
  return parse_response_head(view, method, &s.response_scratch);
}

const Request* ConnectionMatcher::answered_request(Stream& s, uint64_t response_start_ns) {
  if (s.lost) {
    // Bytes went missing on the response side, maybe whole responses: without pipelining, a
    // response answers the latest request sent before it, so older ones stay unanswered.
    while (pending_.size() >= 2 && pending_[1].request.start_ns <= response_start_ns) {
      pending_.pop_front();
      ++counters_.unmatched_requests;
    }
  }
  if (pending_.empty() || pending_.front().request.start_ns > response_start_ns) return nullptr;
  return &pending_.front().request;
}

void ConnectionMatcher::push_request(Request& r) {
  own_bytes(&r);
  pending_.push_back({r, ++next_seq_});
  if (pending_.size() > limits_.max_pending_requests) {
    pending_.pop_front();
    ++counters_.unmatched_requests;
  }
}

void ConnectionMatcher::on_head(Stream& s, uint64_t start_ns, uint64_t ts) {
  synced_ = true;
  if (s.kind == Kind::kRequests) {
    Request& r = s.request_scratch;
    r.start_ns = start_ns;
    r.end_ns = ts;
    ++counters_.requests;
    BodyInfo& body = r.body;
    bool has_body = body.framing == BodyFraming::kChunked ||
                    (body.framing == BodyFraming::kContentLength && body.declared > 0);
    body.complete = !has_body && !r.head_truncated;  // a cut head's body is unknown
    if (r.head_truncated) ++counters_.truncated;
    s.body_remaining = body.declared;
    s.chunked.reset();
    push_request(r);
    if (has_body) {
      s.request_body = body;
      s.request_seq = next_seq_;
      s.state = State::kBody;
    }
    return;
  }

  Response& r = s.response_scratch;
  if (r.status < 200 && r.status != 101) {
    ++counters_.interim_responses;
    s.interim_status = r.status;
    return;
  }
  ++counters_.responses;
  s.lost = false;
  s.response = r;
  own_bytes(&s.response);
  s.response.start_ns = start_ns;
  s.response.end_ns = ts;
  s.response.interim_status = std::exchange(s.interim_status, 0);
  BodyInfo& body = s.response.body;
  switch (body.framing) {
    case BodyFraming::kNone:
    case BodyFraming::kTunnel:
      finish_response(s, ts, true);
      return;
    case BodyFraming::kContentLength:
      if (body.declared == 0) {
        finish_response(s, ts, true);
        return;
      }
      s.body_remaining = body.declared;
      break;
    case BodyFraming::kChunked:
      s.chunked.reset();
      break;
    case BodyFraming::kUntilClose:
      break;
  }
  s.state = State::kBody;
}

void ConnectionMatcher::read_body(Stream& s, std::string_view* data, uint64_t ts) {
  BodyInfo& body = open_body(s);
  switch (body.framing) {
    case BodyFraming::kContentLength: {
      uint64_t take = std::min<uint64_t>(s.body_remaining, data->size());
      data->remove_prefix(take);
      s.body_remaining -= take;
      body.seen += take;
      if (s.body_remaining == 0) finish_message(s, ts, true);
      break;
    }
    case BodyFraming::kChunked: {
      ParseState st = s.chunked.feed(data);
      body.seen = s.chunked.data_bytes();
      if (st == ParseState::kSuccess) {
        finish_message(s, ts, true);
      } else if (st == ParseState::kInvalid) {
        // The body went bad: end the message with what was seen, then look for the next one.
        finish_message(s, ts, false);
        on_invalid(s, data->size());
        *data = {};
      }
      break;
    }
    default:  // kUntilClose: everything up to the close
      body.seen += data->size();
      *data = {};
      break;
  }
  if (s.kind == Kind::kRequests && s.state == State::kBody) sync_request(s, ts);
  if (s.kind == Kind::kResponses && s.state == State::kBody) s.response.end_ns = ts;
}

void ConnectionMatcher::on_gap(Stream& s, uint64_t gap, uint64_t ts, bool length_only) {
  counters_.skipped_bytes += gap;
  switch (s.state) {
    case State::kHead:
      if (!s.head.empty()) {
        cut_head(s, s.head, ts);
      } else {
        ++counters_.truncated;  // a message began where nothing was captured
        s.lost = true;
        s.state = State::kResync;
      }
      return;
    case State::kBody: {
      BodyInfo& body = open_body(s);
      if (body.framing == BodyFraming::kContentLength) {
        uint64_t take = std::min(gap, s.body_remaining);
        s.body_remaining -= take;
        body.seen += take;
        (length_only ? body.length_only : body.skipped) += take;
        if (s.body_remaining == 0) finish_message(s, ts, true);
        if (gap > take) {
          ++counters_.truncated;  // the next message starts in uncaptured bytes
          s.lost = true;
          s.state = State::kResync;
        }
      } else if (body.framing == BodyFraming::kChunked) {
        uint64_t payload_before = s.chunked.data_bytes();
        if (s.chunked.skip(gap)) {
          // Not the CRLF it covered.
          uint64_t payload = s.chunked.data_bytes() - payload_before;
          (length_only ? body.length_only : body.skipped) += payload;
          body.seen = s.chunked.data_bytes();
        } else {
          (length_only ? body.length_only : body.skipped) += gap;
          body.seen += gap;
          s.lost = true;
          s.state = State::kLostChunked;
        }
      } else {
        body.seen += gap;
        (length_only ? body.length_only : body.skipped) += gap;
      }
      if (s.state == State::kBody || s.state == State::kLostChunked) {
        if (s.kind == Kind::kRequests) sync_request(s, ts);
        if (s.kind == Kind::kResponses) s.response.end_ns = ts;
      }
      return;
    }
    case State::kLostChunked:
    case State::kResync:
      return;
  }
}

void ConnectionMatcher::cut_head(Stream& s, std::string_view bytes, uint64_t ts) {
  // What the capture kept of a head is still worth a span: the start line and the headers
  // before the cut. The framing is unknown, so the stream resynchronises afterwards.
  uint64_t start = s.head.empty() ? ts : s.head_start_ns;
  bool salvaged = false;
  if (s.kind == Kind::kRequests) {
    salvaged = salvage_request_head(bytes, &s.request_scratch);
  } else {
    const Request* answered = answered_request(s, start);
    salvaged = salvage_response_head(
        bytes, answered != nullptr ? answered->method : std::string_view(), &s.response_scratch);
  }
  if (salvaged) {
    on_head(s, start, ts);  // framing kNone: the message ends here, counted as truncated
  } else {
    ++counters_.truncated;
  }
  drop_head(s.head);
  if (!stopped_) {
    s.lost = true;
    s.state = State::kResync;
  }
}

void ConnectionMatcher::on_invalid(Stream& s, uint64_t dropped_bytes) {
  counters_.skipped_bytes += dropped_bytes;
  s.state = State::kResync;
  if (!synced_) {
    // Other protocols fail in both directions at once. One direction alone may be the middle of
    // a long body the agent started watching too late: that one keeps being retried, cheaply.
    ++s.unsynced_invalid;
    uint32_t total = streams_[0].unsynced_invalid + streams_[1].unsynced_invalid;
    if (total >= limits_.max_unsynced_invalid && streams_[0].unsynced_invalid > 0 &&
        streams_[1].unsynced_invalid > 0) {
      counters_.not_http = true;
      stop();
    }
    return;
  }
  ++counters_.invalid;
  s.lost = true;
}

bool ConnectionMatcher::starts_message(Stream& s, std::string_view data) {
  if (data.empty()) return false;
  ParseState st = s.kind == Kind::kRequests ? parse_request_head(&data, &s.request_scratch)
                                            : parse_response_head(&data, {}, &s.response_scratch);
  return st != ParseState::kInvalid;
}

void ConnectionMatcher::finish_message(Stream& s, uint64_t end_ns, bool complete) {
  if (s.kind == Kind::kRequests) {
    finish_request(s, end_ns, complete);
  } else {
    finish_response(s, end_ns, complete);
  }
  if (!stopped_) s.state = State::kHead;
}

void ConnectionMatcher::sync_request(Stream& s, uint64_t end_ns) {
  // The request may already have been answered and handed out (an early response).
  if (!pending_.empty() && pending_.back().seq == s.request_seq) {
    pending_.back().request.body = s.request_body;
    pending_.back().request.end_ns = end_ns;
  }
}

void ConnectionMatcher::finish_request(Stream& s, uint64_t end_ns, bool complete) {
  s.request_body.complete = complete;
  if (!complete || s.request_body.skipped > 0) ++counters_.truncated;
  sync_request(s, end_ns);
  s.request_seq = 0;
}

void ConnectionMatcher::finish_response(Stream& s, uint64_t end_ns, bool complete) {
  Response& r = s.response;
  r.end_ns = end_ns;
  r.body.complete = complete;
  if (!complete || r.body.skipped > 0 || r.head_truncated) ++counters_.truncated;
  if (!pending_.empty() && pending_.front().request.start_ns <= r.start_ns) {
    Exchange exchange{std::move(pending_.front().request), r, 0, end_ns};
    exchange.start_ns = exchange.request.start_ns;
    pending_.pop_front();
    ++counters_.exchanges;
    sink_(std::move(exchange));
  } else {
    ++counters_.unmatched_responses;
  }
  if (r.body.framing == BodyFraming::kTunnel) {
    counters_.upgraded = true;
    stop();
  }
}

void ConnectionMatcher::close(uint64_t close_ns) { finish_all(/*closed=*/true, close_ns); }

void ConnectionMatcher::abandon() { finish_all(/*closed=*/false, 0); }

void ConnectionMatcher::finish_all(bool closed, uint64_t close_ns) {
  if (stopped_) return;
  // Requests first: a request body cut by the close must not hold back the response matching.
  for (Kind kind : {Kind::kRequests, Kind::kResponses}) {
    for (Stream& s : streams_) {
      if (s.kind != kind) continue;
      if (s.state == State::kBody) {
        // Only a close completes a body delimited by the close.
        bool by_close = closed && open_body(s).framing == BodyFraming::kUntilClose;
        finish_message(s, s.last_ns, by_close);
      } else if (s.state == State::kLostChunked) {
        finish_message(s, s.last_ns, false);
      } else if (!s.head.empty()) {
        ++counters_.truncated;
      }
      if (stopped_) return;
    }
  }
  counters_.unmatched_requests += pending_.size();
  if (closed && role_ == Role::kClient) {
    const uint64_t requests_end = stream(Direction::kEgress).last_ns;
    for (PendingRequest& p : pending_) {
      Exchange exchange{std::move(p.request), Response{}, 0, 0, /*no_response=*/true};
      exchange.start_ns = exchange.request.start_ns;
      exchange.end_ns = std::max({close_ns, requests_end, exchange.start_ns});
      ++counters_.unanswered_requests;
      sink_(std::move(exchange));
    }
  }
  pending_.clear();
  stop();
}

}  // namespace hodos::protocols::http1
