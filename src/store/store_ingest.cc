// The write path: one SpanBatch becomes one RocksDB WriteBatch holding the encoded spans, their
// resource/scope dictionary entries, new tag ids, index entries, meta lists and aggregates.
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <map>

#include <fmt/format.h>

#include "otlp/otlp_wire.h"
#include "otlp/span_groups.h"
#include "store/index_entry.h"
#include "store/keys.h"
#include "store/span_tags.h"
#include "store/store_impl.h"

namespace hodos::store {

namespace {

uint64_t id64(const uint8_t* bytes) {
  uint64_t v;
  std::memcpy(&v, bytes, sizeof v);
  return v;
}

// The posting lists of one batch (keys.h, postings.h): one per index body and minute of span
// start. Each trace of a service posting gathers its spans in that minute; the 'O' and 'T'
// postings refer to such a trace and list the subset of its spans with one operation or tag.
class PostingsBuilder {
 public:
  struct TraceEntry {
    core::TraceId trace;
    uint64_t base;  // earliest start
    uint64_t ordinal = 0;  // place in its service posting, set by write()
    core::ArenaVector<const SpanDetail*> spans;
  };

  // `body` is a service's; returns the entry that add_ref() attaches subsets to.
  TraceEntry* add_service(std::string_view body, const core::TraceId& trace,
                          const SpanDetail* detail) {
    Posting& posting = posting_of(body, keys::minute_of(detail->start));
    posting.latest = std::max(posting.latest, detail->start);
    auto it = posting.traces.find(trace);
    if (it == posting.traces.end()) {
      it = posting.traces.emplace(trace, TraceEntry{trace, detail->start, 0, {}}).first;
      posting.order.push_back(&it->second);
    }
    TraceEntry& e = it->second;
    e.base = std::min(e.base, detail->start);
    e.spans.push_back(arena_, detail);
    return &e;
  }

  void add_ref(std::string_view body, TraceEntry* trace, const SpanDetail* detail) {
    Posting& posting = posting_of(body, keys::minute_of(detail->start));
    posting.latest = std::max(posting.latest, detail->start);
    auto it = posting.refs.find(trace);
    if (it == posting.refs.end()) {
      it = posting.refs.emplace(trace, Ref{trace, {}}).first;
      posting.ref_order.push_back(&it->second);
    }
    it->second.spans.push_back(arena_, detail);
  }

  // Postings go into the batch in key order: the memtable keeps an insert hint per body
  // (trace_store.cc), which saves the skiplist search only when a key follows the previous one
  // of its body. Service postings are encoded first: the others refer to their ordinals.
  void write(rocksdb::WriteBatch& wb, rocksdb::ColumnFamilyHandle* cf, uint64_t batch_id) {
    std::vector<std::pair<std::string_view, std::string_view>> entries;
    entries.reserve(postings_.size());
    std::string key;
    auto encode = [&](std::string_view body_minute, bool service, Posting& p) {
      const uint64_t minute = get_be64(body_minute.data() + body_minute.size() - 8);
      value_.clear();
      put_varint(value_, p.latest - minute);
      if (service) {
        std::sort(p.order.begin(), p.order.end(), [](const TraceEntry* a, const TraceEntry* b) {
          return a->base < b->base;
        });
        put_varint(value_, p.order.size());
        uint64_t previous = minute;
        for (size_t i = 0; i < p.order.size(); ++i) {
          TraceEntry& t = *p.order[i];
          t.ordinal = i;
          value_.append(t.trace.as_view());
          put_varint(value_, t.base - previous);
          previous = t.base;
        }
        for (size_t i = 0; i < p.order.size(); ++i) {
          put_varint(value_, i == 0 ? 0 : 1);
          append_details(p.order[i]->spans, p.order[i]->base);
        }
      } else {
        std::sort(p.ref_order.begin(), p.ref_order.end(), [](const Ref* a, const Ref* b) {
          return a->trace->ordinal < b->trace->ordinal;
        });
        uint64_t previous = 0;
        for (const Ref* r : p.ref_order) {
          put_varint(value_, r->trace->ordinal - previous);
          previous = r->trace->ordinal;
          append_details(r->spans, r->trace->base);
        }
      }
      key.assign(body_minute);
      put_be64(key, batch_id);
      entries.emplace_back(arena_.copy(key), arena_.copy(value_));
    };
    for (auto& [body_minute, p] : postings_) {
      if (body_minute[0] == keys::kIndexService) encode(body_minute, true, p);
    }
    for (auto& [body_minute, p] : postings_) {
      if (body_minute[0] != keys::kIndexService) encode(body_minute, false, p);
    }
    std::sort(entries.begin(), entries.end());
    for (const auto& [k, v] : entries) wb.Put(cf, k, v);
  }

 private:
  struct Ref {
    TraceEntry* trace;
    core::ArenaVector<const SpanDetail*> spans;
  };
  struct Posting {
    uint64_t latest = 0;  // the latest start of its spans
    // Node-based maps: entries stay where they are as others are added.
    std::unordered_map<core::TraceId, TraceEntry> traces;
    std::vector<TraceEntry*> order;
    std::unordered_map<const TraceEntry*, Ref> refs;
    std::vector<Ref*> ref_order;
  };

  // Keyed by body + minute_be64: the key of its entry without the batch id.
  Posting& posting_of(std::string_view body, uint64_t minute) {
    scratch_.assign(body);
    put_be64(scratch_, minute);
    auto it = postings_.find(std::string_view(scratch_));
    if (it == postings_.end()) it = postings_.try_emplace(arena_.copy(scratch_)).first;
    return it->second;
  }

  void append_details(const core::ArenaVector<const SpanDetail*>& spans, uint64_t base) {
    put_varint(value_, spans.size());
    for (const SpanDetail* d : spans) append_detail(value_, *d, base);
  }

  core::Arena arena_{64 * 1024};
  std::unordered_map<std::string_view, Posting> postings_;
  std::string scratch_, value_;
};

struct Tag {
  std::string_view key;
  std::string_view text;
};

// The text a tag value is indexed and matched by (see value_equals_text); non-strings are
// rendered into `arena`.
std::string_view render(const core::AnyValue& v, core::Arena& arena) {
  if (v.type == core::ValueType::kString) return v.str;
  return arena.copy(v.to_string());
}

bool is_failure_status(std::string_view text, bool grpc) {
  int64_t code = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), code);
  if (ec != std::errc() || end != text.data() + text.size()) return false;
  return grpc ? code != 0 : code >= 400;
}

// A dependency-graph node per database: the id of a database call's stand-in child, derived from
// the call's own id so that it is stable (and nonzero for any nonzero id).
constexpr uint64_t kDatabaseNodeSalt = 0x9e3779b97f4a7c15ull;

// db.system.name (or the older db.system) of a CLIENT span: a call to a database; or the
// messaging.system of a CLIENT or PRODUCER span (Kafka sends and polls): a call to a broker.
std::string_view database_of(const core::Span& span) {
  if (span.kind != core::SpanKind::kClient && span.kind != core::SpanKind::kProducer) return {};
  for (std::string_view key : {"db.system.name", "db.system", "messaging.system"}) {
    if (span.kind == core::SpanKind::kProducer && key != "messaging.system") continue;
    const core::AnyValue* v = core::find_attribute(span.attributes, key);
    if (v != nullptr && v->type == core::ValueType::kString && !v->str.empty()) return v->str;
  }
  return {};
}

}  // namespace

bool TraceStore::Impl::tag_has_own_index(std::string_view key, std::string_view text) const {
  if (key == "error") return text == "true";
  if (key == "otel.status_code") return text == "ERROR";
  if (key == "http.response.status_code" || key == "http.status_code") {
    return is_failure_status(text, false);
  }
  if (key == "rpc.grpc.status_code") return is_failure_status(text, true);
  return !indexed_tag_keys.empty() && indexed_tag_keys.contains(key);
}

size_t TraceStore::Impl::ingest(const core::SpanBatch& batch) {
  if (batch.empty()) return 0;
  const uint64_t cutoff_ns = cutoff();

  // --- Encode: each distinct resource and scope goes once into the dictionary as a
  // ResourceSpans / ScopeSpans without spans; the spans are encoded further down.
  const std::vector<otlp::ResourceGroup> groups = otlp::group_spans(batch);
  std::vector<std::string> resource_headers;
  std::vector<std::vector<std::string>> scope_headers;
  std::unordered_map<const core::Resource*, uint32_t> resource_index;
  resource_headers.reserve(groups.size());
  for (const otlp::ResourceGroup& rg : groups) {
    resource_index.emplace(rg.resource, static_cast<uint32_t>(resource_headers.size()));
    resource_headers.push_back(otlp::encode_resource_spans_header(*rg.resource));
    auto& scopes_of = scope_headers.emplace_back();
    for (const otlp::ScopeGroup& sg : rg.scopes) {
      scopes_of.push_back(otlp::encode_scope_spans_header(*sg.scope));
    }
  }

  // --- Model pass: the spans to keep and their tags.
  std::vector<const core::Span*> kept;
  kept.reserve(batch.size());
  for (const core::Span& s : batch.spans()) {
    if (s.trace_id.valid() && s.span_id.valid() && s.start_time_unix_nano >= cutoff_ns) {
      kept.push_back(&s);
    }
  }
  const size_t rejected = batch.size() - kept.size();
  core::Arena text_arena;
  std::vector<Tag> tags;                   // every span's tags, concatenated
  std::vector<size_t> tags_begin(kept.size() + 1);
  std::vector<uint32_t> span_resource(kept.size(), 0);  // ResourceSpans index
  std::vector<const core::Resource*> model_resource(resource_headers.size(), nullptr);
  for (size_t i = 0; i < kept.size(); ++i) {
    const core::Span& span = *kept[i];
    tags_begin[i] = tags.size();
    auto it = resource_index.find(span.resource);
    if (it != resource_index.end()) {
      span_resource[i] = it->second;
      model_resource[it->second] = span.resource;
    }
    for (const core::KeyValue& kv : span.attributes) {
      tags.push_back({kv.key, render(kv.value, text_arena)});
    }
    for (const core::Event& e : span.events) {
      tags.push_back({"event", e.name});
      for (const core::KeyValue& kv : e.attributes) {
        tags.push_back({kv.key, render(kv.value, text_arena)});
      }
    }
    for_each_derived_tag(span, [&](std::string_view k, std::string_view v) {
      // Kind and status are in every index entry's flags; the others need tag ids.
      if (k != "span.kind" && k != "error" && k != "otel.status_code") tags.push_back({k, v});
    });
  }
  tags_begin[kept.size()] = tags.size();

  // --- Shared state: dictionary ids, tag ids, new meta entries, dependency edges.
  rocksdb::WriteBatch wb;
  std::vector<uint64_t> resource_ids(resource_headers.size());
  std::vector<std::vector<uint64_t>> scope_ids(scope_headers.size());
  std::vector<uint32_t> tag_ids(tags.size(), 0);
  std::vector<std::pair<DictTable*, std::string_view>> dicts_to_confirm;
  std::vector<std::string> tags_to_confirm, overflow_to_confirm;
  std::vector<std::string> meta_written;
  std::vector<DependencyTracker::Edge> edges;
  uint64_t batch_id = 0;
  // Spans sent before (a sender's retry of a request that got through) are stored again, but
  // not counted again in the aggregates and dependency edges.
  std::vector<uint8_t> repeated;
  std::vector<size_t> ref_of_span;  // a span's place in what the dependency tracker observed
  {
    std::lock_guard<std::mutex> g(ingest_mu);
    std::string value_scratch;
    std::string key;
    auto dict_id = [&](DictTable& table, char kind, const std::string& bytes, bool* fresh) {
      if (table.ids.size() > 100'000) table.ids.clear();  // bounded; a re-add only duplicates
      auto it = table.ids.find(bytes);
      if (it == table.ids.end()) {
        it = table.ids.emplace(bytes, DictTable::Entry{table.next_id++, false}).first;
      }
      *fresh = !it->second.confirmed;
      if (*fresh) {
        key.assign(1, kind);
        put_be64(key, it->second.id);
        wb.Put(dicts_cf, key, bytes);
        dicts_to_confirm.emplace_back(&table, bytes);
      }
      return it->second.id;
    };
    for (size_t r = 0; r < resource_headers.size(); ++r) {
      bool fresh;
      resource_ids[r] = dict_id(resources, keys::kDictResource, resource_headers[r], &fresh);
      if (fresh && model_resource[r] != nullptr) {
        // Which resources carry a tag, for searches on resource ("process") tags.
        for (const core::KeyValue& kv : model_resource[r]->attributes) {
          std::string_view text = render(kv.value, text_arena);
          if (text.size() > options.max_indexed_value_bytes || keys::has_nul(kv.key) ||
              keys::has_nul(text)) {
            continue;
          }
          key.assign(1, keys::kDictResourceTag).append(kv.key).append(1, '\0').append(text);
          key.push_back('\0');
          put_be64(key, resource_ids[r]);
          wb.Put(dicts_cf, key, rocksdb::Slice());
        }
      }
      for (const std::string& sh : scope_headers[r]) {
        scope_ids[r].push_back(dict_id(scopes, keys::kDictScope, sh, &fresh));
      }
    }

    {
      std::unique_lock<std::shared_mutex> tg(tags_mu);
      std::string value;
      for (size_t t = 0; t < tags.size(); ++t) {
        const Tag& tag = tags[t];
        if (tag.text.size() > options.max_indexed_value_bytes || keys::has_nul(tag.key) ||
            keys::has_nul(tag.text)) {
          continue;
        }
        key.assign(1, keys::kDictTag).append(tag.key).append(1, '\0').append(tag.text);
        auto it = tag_dict.ids.find(std::string_view(key).substr(1));
        if (it == tag_dict.ids.end()) {
          auto ov = tag_dict.overflowed.find(tag.key);
          if (ov != tag_dict.overflowed.end()) {
            if (!ov->second) {
              wb.Put(dicts_cf, std::string(1, keys::kDictOverflow).append(tag.key), {});
              overflow_to_confirm.emplace_back(tag.key);
            }
            continue;
          }
          uint32_t& count = tag_dict.values_per_key[std::string(tag.key)];
          if (count >= options.max_values_per_tag_key ||
              tag_dict.ids.size() >= options.max_tag_ids) {
            tag_dict.overflowed.emplace(tag.key, false);
            wb.Put(dicts_cf, std::string(1, keys::kDictOverflow).append(tag.key), {});
            overflow_to_confirm.emplace_back(tag.key);
            continue;
          }
          ++count;
          it = tag_dict.ids.emplace(key.substr(1), TagDictionary::Entry{tag_dict.next_id++,
                                                                           false}).first;
        }
        if (!it->second.confirmed) {
          value.clear();
          put_varint(value, it->second.id);
          wb.Put(dicts_cf, key, value);
          tags_to_confirm.push_back(it->first);
        }
        tag_ids[t] = it->second.id;
      }
    }

    // `k` is a scratch key: a string is made only for a key this process has not written.
    auto meta = [&](const std::string& k) {
      if (known_meta.contains(k)) return;
      wb.Put(meta_cf, k, rocksdb::Slice());
      meta_written.push_back(k);
      known_meta.insert(k);  // written in this batch; undone on failure
    };
    std::vector<DependencyTracker::SpanRef> refs;
    refs.reserve(kept.size());
    ref_of_span.resize(kept.size());
    for (size_t i = 0; i < kept.size(); ++i) {
      const core::Span& span = *kept[i];
      std::string_view svc = service_name(*span.resource);
      if (!keys::has_nul(svc)) {
        key.assign(1, keys::kMetaService).append(svc);
        meta(key);
        if (!keys::has_nul(span.name)) {
          key.assign(1, keys::kMetaOperation).append(svc).append(1, '\0');
          key.append(core::span_kind_name(span.kind)).append(1, '\0').append(span.name);
          meta(key);
        }
      }
      auto intern = [&](std::string_view name) {
        if (auto it = service_ids.find(name); it != service_ids.end()) return it->second;
        const auto id = static_cast<uint32_t>(service_names.size());
        service_ids.emplace(std::string(name), id);
        service_names.emplace_back(name);
        return id;
      };
      const uint64_t span_id = id64(span.span_id.bytes.data());
      const auto minute = static_cast<uint32_t>(span.start_time_unix_nano / keys::kMinuteNs);
      const bool error = span.status.code == core::StatusCode::kError;
      ref_of_span[i] = refs.size();
      refs.push_back({span_id,
                      span.parent_span_id.valid() ? id64(span.parent_span_id.bytes.data()) : 0,
                      intern(svc), minute, error});
      // A database has no spans of its own: its calls stand in for them, so that the map shows
      // it as a node (named by db.system.name) under the services that call it.
      if (const std::string_view db = database_of(span); !db.empty() && span_id != 0) {
        refs.push_back({span_id ^ kDatabaseNodeSalt, span_id, intern(db), minute, error});
      }
    }
    dependencies_tracker.observe(refs, &edges, &repeated);
    batch_id = std::max(last_batch_id + 1, options.clock());
    last_batch_id = batch_id;
    key.assign(1, keys::kMetaBatch);
    value_scratch.clear();
    put_be64(value_scratch, batch_id);
    wb.Put(meta_cf, key, value_scratch);
    // Edge names are read under the lock: another ingest may grow service_names.
    StringMap<std::pair<uint64_t, uint64_t>> edge_counts;
    for (const DependencyTracker::Edge& e : edges) {
      const std::string& parent = service_names[e.parent_service];
      const std::string& child = service_names[e.child_service];
      if (keys::has_nul(parent) || keys::has_nul(child)) continue;
      key.assign(1, keys::kAggEdge);
      put_be64(key, static_cast<uint64_t>(e.minute) * keys::kMinuteNs);
      key.append(parent).append(1, '\0').append(child);
      auto& c = edge_counts[key];
      ++c.first;
      if (e.error) ++c.second;
    }
    std::string v;
    for (const auto& [k, c] : edge_counts) {
      v.clear();
      put_varint(v, c.first);
      put_varint(v, c.second);
      wb.Merge(aggregates_cf, k, v);
    }
  }

  // --- Spans: one entry per trace holding the batch's spans of it (keys.h): a memtable insert
  // per trace, not per span.
  std::string key, value;
  std::vector<uint32_t> encode_sizes;
  std::map<uint64_t, uint64_t> spans_per_minute;
  struct Group {
    std::string value;
    uint64_t start;
  };
  std::unordered_map<core::TraceId, Group> by_trace;
  for (size_t r = 0; r < groups.size(); ++r) {
    for (size_t sc = 0; sc < groups[r].scopes.size(); ++sc) {
      for (const core::Span* span : groups[r].scopes[sc].spans) {
        const uint64_t start = span->start_time_unix_nano;
        if (!span->trace_id.valid() || !span->span_id.valid() || start < cutoff_ns) continue;
        auto [it, fresh] = by_trace.try_emplace(span->trace_id, Group{{}, start});
        Group& g = it->second;
        if (fresh) g.value.append(8, '\0');  // the earliest start, set below
        g.start = std::min(g.start, start);
        g.value.append(span->span_id.as_view());
        put_le64(g.value, start);
        put_varint(g.value, zigzag(static_cast<int64_t>(span->end_time_unix_nano - start)));
        put_varint(g.value, resource_ids[r]);
        put_varint(g.value, scope_ids[r][sc]);
        otlp::append_span_without_ids_and_times(*span, g.value, encode_sizes,
                                                /*length_prefixed=*/true);
        ++spans_per_minute[keys::minute_of(start)];
      }
    }
  }
  for (auto& [trace, g] : by_trace) {
    key.assign(trace.as_view());
    put_be64(key, batch_id);
    key.push_back(keys::kSpanGroupMark);
    value.clear();
    put_le64(value, g.start);
    std::memcpy(g.value.data(), value.data(), 8);
    wb.Put(spans_cf, key, g.value);
  }

  // --- Index entries and aggregates.
  std::vector<SpanDetail> details(kept.size());
  PostingsBuilder index;
  StringMap<Aggregate> aggregates;
  std::string body;
  for (size_t i = 0; i < kept.size(); ++i) {
    const core::Span& span = *kept[i];
    std::string_view svc = service_name(*span.resource);
    if (keys::has_nul(svc)) continue;
    SpanDetail& d = details[i];
    d.start = span.start_time_unix_nano;
    d.duration = span.duration_ns();
    d.kind = span.kind;
    d.status = span.status.code;
    d.resource_ref = resource_ids[span_resource[i]];
    // Tags without an id (long values, overflowed keys) are left out of the list.
    uint32_t* ids = tag_ids.data() + tags_begin[i];
    uint32_t n = 0;
    for (size_t t = tags_begin[i]; t < tags_begin[i + 1]; ++t) {
      if (tag_ids[t] != 0) ids[n++] = tag_ids[t];
    }
    d.tag_ids = ids;
    d.tag_count = n;
    const bool error = span.status.code == core::StatusCode::kError;
    const std::string_view kind = core::span_kind_name(span.kind);
    const uint64_t minute = keys::minute_of(d.start);
    const bool counted = !repeated[ref_of_span[i]];

    body.assign(1, keys::kIndexService).append(svc).push_back('\0');
    PostingsBuilder::TraceEntry* service_entry = index.add_service(body, span.trace_id, &d);
    if (counted) {
      key.assign(1, keys::kAggService).append(svc).append(1, '\0').append(kind).push_back('\0');
      put_be64(key, minute);
      aggregates[key].add_span(d.duration, error);
    }
    if (!keys::has_nul(span.name)) {
      body.assign(1, keys::kIndexOperation).append(svc).append(1, '\0').append(span.name);
      body.push_back('\0');
      index.add_ref(body, service_entry, &d);
      if (counted) {
        key.assign(1, keys::kAggOperation).append(svc).append(1, '\0').append(kind);
        key.append(1, '\0').append(span.name).push_back('\0');
        put_be64(key, minute);
        aggregates[key].add_span(d.duration, error);
      }
    }
    auto own_index = [&](std::string_view k, std::string_view text) {
      if (!tag_has_own_index(k, text) || text.size() > options.max_indexed_value_bytes ||
          keys::has_nul(k) || keys::has_nul(text)) {
        return;
      }
      body.assign(1, keys::kIndexTag).append(svc).append(1, '\0').append(k).append(1, '\0');
      body.append(text).push_back('\0');
      index.add_ref(body, service_entry, &d);
    };
    for (size_t t = tags_begin[i]; t < tags_begin[i + 1]; ++t) own_index(tags[t].key, tags[t].text);
    if (error) {
      own_index("error", "true");
      own_index("otel.status_code", "ERROR");
    }
    for (const core::KeyValue& kv : span.resource->attributes) {
      if (kv.value.type == core::ValueType::kString) {
        own_index(kv.key, kv.value.str);
      } else if (tag_has_own_index(kv.key, render(kv.value, text_arena))) {
        own_index(kv.key, render(kv.value, text_arena));
      }
    }
  }
  index.write(wb, index_cf, batch_id);
  // Traces with a span sent again: their earlier postings describe its earlier version.
  for (size_t i = 0; i < kept.size(); ++i) {
    if (!repeated[ref_of_span[i]]) continue;
    key.assign(1, keys::kIndexResent).append(kept[i]->trace_id.as_view());
    put_be64(key, keys::minute_of(kept[i]->start_time_unix_nano));
    put_be64(key, batch_id);
    wb.Put(index_cf, key, rocksdb::Slice());
    any_resent = true;  // before the write: a search may then check a trace needlessly, no harm
  }
  for (const auto& [k, agg] : aggregates) {
    value.clear();
    agg.encode(value);
    wb.Merge(aggregates_cf, k, value);
  }
  // Per-minute totals, for size-based retention: bytes are the batch's share by span count.
  const uint64_t batch_bytes = wb.GetDataSize();
  for (const auto& [minute, n] : spans_per_minute) {
    key.assign(1, keys::kAggTotal);
    put_be64(key, minute);
    value.clear();
    put_varint(value, n);
    put_varint(value, kept.empty() ? 0 : batch_bytes * n / kept.size());
    wb.Merge(aggregates_cf, key, value);
  }

  rocksdb::WriteOptions wo;
  // WAL on, no fsync: a returned write is in the OS page cache and survives kill -9 of this
  // process (the guarantee the store gives); an fsync per batch would cap ingest at disk latency.
  wo.sync = false;
  rocksdb::Status st = db->Write(wo, &wb);

  {
    std::lock_guard<std::mutex> g(ingest_mu);
    if (!st.ok()) {
      // Meta entries of this batch are not on disk: let the next batch write them.
      for (const std::string& k : meta_written) known_meta.erase(k);
    } else {
      for (auto& [table, bytes] : dicts_to_confirm) {
        auto it = table->ids.find(bytes);
        if (it != table->ids.end()) it->second.confirmed = true;
      }
      std::unique_lock<std::shared_mutex> tg(tags_mu);
      for (const std::string& k : tags_to_confirm) {
        auto it = tag_dict.ids.find(k);
        if (it != tag_dict.ids.end()) it->second.confirmed = true;
      }
      for (const std::string& k : overflow_to_confirm) tag_dict.overflowed[k] = true;
      if (known_meta.size() > 1'000'000) known_meta.clear();  // bounded; re-writes are harmless
    }
  }
  if (!st.ok()) throw StoreError(fmt::format("store: write failed: {}", st.ToString()));
  spans_ingested += kept.size();
  spans_rejected += rejected;
  bytes_ingested += wb.GetDataSize();
  ++write_batches;
  return kept.size();
}

}  // namespace hodos::store
