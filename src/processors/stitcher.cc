#include "processors/stitcher.h"

#include <algorithm>
#include <charconv>
#include <unordered_set>

namespace hodos::processors {
namespace {

// Appends the text of a string or integer attribute; false when it has neither (or is empty).
bool append_value(std::string& out, const core::AnyValue* v) {
  if (v == nullptr) return false;
  if (v->type == core::ValueType::kString) {
    if (v->str.empty()) return false;
    out += v->str;
    return true;
  }
  if (v->type != core::ValueType::kInt) return false;
  char text[24];
  auto [end, ec] = std::to_chars(text, text + sizeof(text), v->int_value);
  out.append(text, end);
  return true;
}

// Appends "address:port" of one end of the span's connection; false when the span does not say.
bool append_endpoint(std::string& out, const core::Span& s, std::string_view address_key,
                     std::string_view port_key) {
  if (!append_value(out, core::find_attribute(s.attributes, address_key))) return false;
  out += ':';
  return append_value(out, core::find_attribute(s.attributes, port_key));
}

// The connection as "client end>server end" ("unix:<inode>" for a Unix socket's): the same string
// from both of its ends; for an HTTP/2 exchange, "#stream" after it (streams of one connection overlap in time). Built for every
// span the agent sends, so in one buffer, without formatting.
std::string connection_key(const core::Span& s) {
  const bool client = s.kind == core::SpanKind::kClient;
  std::string key;
  key.reserve(64);
  if (s.unix_connection != 0) {
    // A Unix socket's ends have no addresses: both carry the client socket's inode.
    char text[24];
    auto [end, ec] = std::to_chars(text, text + sizeof(text), s.unix_connection);
    key = "unix:";
    key.append(text, end);
  } else {
    if (!append_endpoint(key, s, client ? "network.local.address" : "network.peer.address",
                         client ? "network.local.port" : "network.peer.port")) {
      return {};
    }
    key += '>';
    if (!append_endpoint(key, s, client ? "network.peer.address" : "network.local.address",
                         client ? "network.peer.port" : "network.local.port")) {
      return {};
    }
  }
  if (s.stream_id != 0) {
    char text[16];
    auto [end, ec] = std::to_chars(text, text + sizeof(text), s.stream_id);
    key += '#';
    key.append(text, end);
  }
  return key;
}

// `client` is the stitcher's record of a client span (its times).
template <class ClientTimes>
bool contains(const ClientTimes& client, const core::Span& server, uint64_t skew_ns) {
  return client.start_ns <= server.start_time_unix_nano + skew_ns &&
         server.end_time_unix_nano <= client.end_ns + skew_ns;
}

}  // namespace

core::Span& Stitcher::span(const SpanRef& ref) {
  return held_[ref.batch - held_.front().seq].batch.spans()[ref.index];
}

void Stitcher::add(core::SpanBatch batch, Clock::time_point now) {
  if (batch.empty()) return;
  held_spans_ += batch.size();
  held_.push_back(Held{next_seq_++, now, std::move(batch), {}, {}});
  std::vector<std::string> touched;
  index_batch(held_.back(), touched);
  for (const std::string& key : touched) match(connections_[key], nullptr, now);
}

void Stitcher::index_batch(Held& held, std::vector<std::string>& touched) {
  std::vector<core::Span>& spans = held.batch.spans();
  std::unordered_set<std::string> seen;  // this batch's keys (a batch spans many connections)
  const bool track = options_.release_settled;
  bool resolved_one = false;  // spans of one trace tend to sit together: one lookup for a run
  core::TraceId last_trace;
  TraceState* state = nullptr;
  for (size_t i = 0; i < spans.size(); ++i) {
    const core::Span& s = spans[i];
    if (track && (!resolved_one || s.trace_id != last_trace)) {
      last_trace = s.trace_id;
      resolved_one = true;
      state = &traces_[s.trace_id];
      held.traces.push_back(s.trace_id);  // once per run: a trace in two runs is listed twice
      state->last_seq = held.seq;
    }
    const bool client = s.kind == core::SpanKind::kClient;
    const bool root_server = s.kind == core::SpanKind::kServer && s.is_root();
    // The agent knows no traced process on this host called it: no caller's span will come.
    const bool no_caller = track && root_server && s.local_caller == 2;
    std::string key;
    // A server span with a parent got its context from its caller: nothing to join.
    if (client || (root_server && !no_caller)) key = connection_key(s);
    if (track && s.is_root()) {
      state->root_seen = true;
      if (root_server && !key.empty()) ++state->waiting;
    }
    if (key.empty()) continue;
    Connection& c = connections_[key];
    if (client) {
      c.clients.push_back(
          {held.seq, s.trace_id, s.span_id, s.start_time_unix_nano, s.end_time_unix_nano});
    } else {
      c.servers.push_back({held.seq, i});
    }
    if (seen.insert(key).second) {
      held.keys.push_back(key);
      touched.push_back(std::move(key));
    }
  }
}

// A pair is certain when the server span lies inside exactly one client span of the connection
// and that client span holds no other waiting server span: pipelined requests on one connection
// make a pair ambiguous until the spans that tell them apart arrive.
void Stitcher::match(Connection& connection, const size_t* final_for, Clock::time_point now) {
  std::vector<ClientEnd>& clients = connection.clients;
  std::vector<SpanRef>& servers = connection.servers;
  auto inside = [&](uint64_t skew_ns, const core::Span& server, size_t* which) {
    size_t n = 0;
    for (size_t c = 0; c < clients.size(); ++c) {
      if (contains(clients[c], server, skew_ns)) {
        ++n;
        *which = c;
      }
    }
    return n;
  };
  const uint64_t skew_ns = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(options_.clock_skew).count());
  for (size_t s = 0; s < servers.size();) {
    core::Span& server = span(servers[s]);
    const bool last_chance = final_for != nullptr && servers[s].batch == *final_for;
    size_t which = 0;
    size_t callers = inside(0, server, &which);
    bool certain = false;
    if (callers == 1) {
      const ClientEnd& client = clients[which];
      certain = std::count_if(servers.begin(), servers.end(), [&](const SpanRef& other) {
                  return contains(client, span(other), 0);
                }) == 1;
    } else if (callers == 0 && last_chance) {
      callers = inside(skew_ns, server, &which);
      certain = callers == 1;
    }
    if (certain) {
      join(server, clients[which], now);
      clients.erase(clients.begin() + static_cast<std::ptrdiff_t>(which));
    } else if (last_chance) {
      ++(callers > 0 ? stats_.ambiguous : stats_.unmatched);
    }
    if (certain || last_chance) {
      if (options_.release_settled) settle(server.trace_id);
      servers.erase(servers.begin() + static_cast<std::ptrdiff_t>(s));
    } else {
      ++s;
    }
  }
}

void Stitcher::join(core::Span& server, const ClientEnd& client, Clock::time_point now) {
  const core::TraceId into = resolve(client.trace_id);
  // Already one trace (or a cycle, which only clock skew could make): leave it as it is.
  if (resolve(server.trace_id) == into) return;
  joined_[server.trace_id] = Joined{into, now};
  join_order_.emplace_back(now, server.trace_id);
  server.parent_span_id = client.span_id;
  ++stats_.stitched;
}

core::TraceId Stitcher::resolve(const core::TraceId& trace) const {
  core::TraceId t = trace;
  // Chains are as deep as the call graph; the bound only guards against a cycle.
  for (int hops = 0; hops < 64; ++hops) {
    auto it = joined_.find(t);
    if (it == joined_.end()) break;
    t = it->second.into;
  }
  return t;
}

void Stitcher::forget_expired(Clock::time_point now) {
  while (!join_order_.empty() && now - join_order_.front().first > options_.remember) {
    auto it = joined_.find(join_order_.front().second);
    // A trace joined again later keeps its newer entry.
    if (it != joined_.end() && it->second.at == join_order_.front().first) joined_.erase(it);
    join_order_.pop_front();
  }
}

std::vector<core::SpanBatch> Stitcher::release(Clock::time_point now, bool everything) {
  forget_expired(now);
  std::vector<core::SpanBatch> out;
  while (!held_.empty()) {
    Held& front = held_.front();
    const bool due = everything || now - front.since >= options_.wait;
    if (!due && held_spans_ <= options_.max_spans) break;
    if (!due) stats_.released_early += front.batch.size();

    // Settle this batch's server spans, then forget its spans on every connection.
    for (const std::string& key : front.keys) {
      auto it = connections_.find(key);
      if (it == connections_.end()) continue;
      match(it->second, &front.seq, now);
      std::erase_if(it->second.clients, [&](const ClientEnd& r) { return r.batch == front.seq; });
      if (it->second.clients.empty() && it->second.servers.empty()) connections_.erase(it);
    }
    rewrite_traces(front.batch.spans());
    // Its traces are forgotten unless a newer held batch has spans of them.
    for (const core::TraceId& t : front.traces) {
      auto it = traces_.find(t);
      if (it != traces_.end() && it->second.last_seq == front.seq) traces_.erase(it);
    }
    held_spans_ -= front.batch.size();
    if (!front.batch.empty()) out.push_back(std::move(front.batch));
    held_.pop_front();
  }
  if (options_.release_settled) release_settled(out);
  return out;
}

void Stitcher::rewrite_traces(std::vector<core::Span>& spans) {
  // Spans of one trace tend to sit together in a batch: the last answer is kept, sparing a
  // lookup in joined_ (a large table: every join of the last `remember`) for each of them.
  bool resolved_one = false;
  core::TraceId last_from, last_to;
  for (core::Span& s : spans) {
    if (joined_.empty()) break;
    if (!resolved_one || s.trace_id != last_from) {
      last_from = s.trace_id;
      last_to = resolve(s.trace_id);
      resolved_one = true;
    }
    if (last_to != s.trace_id) {
      s.trace_id = last_to;
      ++stats_.spans_rewritten;
    }
  }
}

void Stitcher::settle(const core::TraceId& trace) {
  auto it = traces_.find(trace);
  if (it != traces_.end() && it->second.waiting > 0) --it->second.waiting;
}

bool Stitcher::settled(const core::TraceId& trace) const {
  // A trace joined into another moves with it: every trace on the chain must have no root server
  // span waiting, and the one at its end must have shown its root.
  core::TraceId t = trace;
  for (int hops = 0; hops < 64; ++hops) {
    auto state = traces_.find(t);
    if (state != traces_.end() && state->second.waiting > 0) return false;
    auto next = joined_.find(t);
    if (next == joined_.end()) return state != traces_.end() && state->second.root_seen;
    t = next->second.into;
  }
  return false;  // a cycle: leave it to the wait
}

void Stitcher::release_settled(std::vector<core::SpanBatch>& out) {
  std::vector<char> go;
  std::vector<core::Span> leaving, staying;
  std::vector<size_t> new_index;
  for (Held& h : held_) {
    std::vector<core::Span>& spans = h.batch.spans();
    if (spans.empty()) continue;
    go.assign(spans.size(), 0);
    size_t n_go = 0;
    bool known = false;
    core::TraceId last;
    bool last_settled = false;
    for (size_t i = 0; i < spans.size(); ++i) {
      if (!known || spans[i].trace_id != last) {
        last = spans[i].trace_id;
        last_settled = settled(last);
        known = true;
      }
      go[i] = last_settled;
      n_go += last_settled ? 1 : 0;
    }
    if (n_go == 0) continue;
    held_spans_ -= n_go;
    stats_.released_settled += n_go;
    if (n_go == spans.size()) {
      // Its waiting server spans are all settled: nothing refers into it any more.
      rewrite_traces(spans);
      out.push_back(std::move(h.batch));
      h.batch = core::SpanBatch();
      continue;
    }
    leaving.clear();
    staying.clear();
    new_index.assign(spans.size(), 0);
    for (size_t i = 0; i < spans.size(); ++i) {
      if (go[i]) {
        leaving.push_back(spans[i]);
      } else {
        new_index[i] = staying.size();
        staying.push_back(spans[i]);
      }
    }
    core::SpanBatch released;
    if (staying.size() * 2 <= spans.size()) {
      // The few that stay get arenas of their own, so the batch's memory goes with the rest.
      core::SpanBatch rest = h.batch.take_front(0);
      rest.spans() = std::move(staying);
      rest = rest.deep_copy();
      h.batch.spans() = std::move(leaving);
      released = std::move(h.batch);
      h.batch = std::move(rest);
    } else {
      released = h.batch.take_front(0);
      released.spans() = std::move(leaving);
      h.batch.spans() = std::move(staying);
    }
    // Waiting server spans are never released, so each still has a place, a new one.
    for (const std::string& key : h.keys) {
      auto it = connections_.find(key);
      if (it == connections_.end()) continue;
      for (SpanRef& r : it->second.servers) {
        if (r.batch == h.seq) r.index = new_index[r.index];
      }
    }
    rewrite_traces(released.spans());
    out.push_back(std::move(released));
  }
}

}  // namespace hodos::processors
