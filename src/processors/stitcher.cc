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

// The connection as "client end>server end": the same string from both of its ends. Built for
// every span the agent sends, so in one buffer, without formatting.
std::string connection_key(const core::Span& s) {
  const bool client = s.kind == core::SpanKind::kClient;
  std::string key;
  key.reserve(64);
  if (!append_endpoint(key, s, client ? "network.local.address" : "network.peer.address",
                       client ? "network.local.port" : "network.peer.port")) {
    return {};
  }
  key += '>';
  if (!append_endpoint(key, s, client ? "network.peer.address" : "network.local.address",
                       client ? "network.peer.port" : "network.local.port")) {
    return {};
  }
  return key;
}

bool contains(const core::Span& client, const core::Span& server, uint64_t skew_ns) {
  return client.start_time_unix_nano <= server.start_time_unix_nano + skew_ns &&
         server.end_time_unix_nano <= client.end_time_unix_nano + skew_ns;
}

}  // namespace

core::Span& Stitcher::span(const SpanRef& ref) {
  return held_[ref.batch - held_.front().seq].batch.spans()[ref.index];
}

void Stitcher::add(core::SpanBatch batch, Clock::time_point now) {
  if (batch.empty()) return;
  held_spans_ += batch.size();
  held_.push_back(Held{next_seq_++, now, std::move(batch), {}});
  std::vector<std::string> touched;
  index_batch(held_.back(), touched);
  for (const std::string& key : touched) match(connections_[key], nullptr, now);
}

void Stitcher::index_batch(Held& held, std::vector<std::string>& touched) {
  std::vector<core::Span>& spans = held.batch.spans();
  std::unordered_set<std::string> seen;  // this batch's keys (a batch spans many connections)
  for (size_t i = 0; i < spans.size(); ++i) {
    const core::Span& s = spans[i];
    const bool client = s.kind == core::SpanKind::kClient;
    // A server span with a parent got its context from its caller: nothing to join.
    if (!client && !(s.kind == core::SpanKind::kServer && s.is_root())) continue;
    std::string key = connection_key(s);
    if (key.empty()) continue;
    Connection& c = connections_[key];
    (client ? c.clients : c.servers).push_back({held.seq, i});
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
  std::vector<SpanRef>& clients = connection.clients;
  std::vector<SpanRef>& servers = connection.servers;
  auto inside = [&](uint64_t skew_ns, const core::Span& server, size_t* which) {
    size_t n = 0;
    for (size_t c = 0; c < clients.size(); ++c) {
      if (contains(span(clients[c]), server, skew_ns)) {
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
      const core::Span& client = span(clients[which]);
      certain = std::count_if(servers.begin(), servers.end(), [&](const SpanRef& other) {
                  return contains(client, span(other), 0);
                }) == 1;
    } else if (callers == 0 && last_chance) {
      callers = inside(skew_ns, server, &which);
      certain = callers == 1;
    }
    if (certain) {
      join(server, span(clients[which]), now);
      clients.erase(clients.begin() + static_cast<std::ptrdiff_t>(which));
    } else if (last_chance) {
      ++(callers > 0 ? stats_.ambiguous : stats_.unmatched);
    }
    if (certain || last_chance) {
      servers.erase(servers.begin() + static_cast<std::ptrdiff_t>(s));
    } else {
      ++s;
    }
  }
}

void Stitcher::join(core::Span& server, const core::Span& client, Clock::time_point now) {
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
      std::erase_if(it->second.clients, [&](const SpanRef& r) { return r.batch == front.seq; });
      if (it->second.clients.empty() && it->second.servers.empty()) connections_.erase(it);
    }
    // Spans of one trace tend to sit together in a batch: the last answer is kept, sparing a
    // lookup in joined_ (a large table: every join of the last `remember`) for each of them.
    bool resolved_one = false;
    core::TraceId last_from, last_to;
    for (core::Span& s : front.batch.spans()) {
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
    held_spans_ -= front.batch.size();
    out.push_back(std::move(front.batch));
    held_.pop_front();
  }
  return out;
}

}  // namespace hodos::processors
