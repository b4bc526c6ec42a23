// The read paths: a trace by id (one prefix scan), Jaeger-style search over the index, the
// service/operation lists, dependency edges and per-step metrics from the aggregates.
#include <google/protobuf/arena.h>

#include <algorithm>
#include <functional>
#include <limits>
#include <map>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "otlp/otlp_codec.h"
#include "store/index_entry.h"
#include "store/keys.h"
#include "store/postings.h"
#include "store/span_tags.h"
#include "store/store_impl.h"

namespace hodos::store {

namespace {

namespace tpb = opentelemetry::proto::trace::v1;

constexpr uint64_t kMaxTime = std::numeric_limits<uint64_t>::max();
constexpr size_t kDictCacheEntries = 10'000;

std::string_view view(const rocksdb::Slice& s) { return {s.data(), s.size()}; }

void check(const rocksdb::Status& s, std::string_view what) {
  if (!s.ok()) throw StoreError(fmt::format("store: {}: {}", what, s.ToString()));
}

std::optional<core::SpanKind> kind_from_name(std::string_view name) {
  for (core::SpanKind k : {core::SpanKind::kUnspecified, core::SpanKind::kInternal,
                           core::SpanKind::kServer, core::SpanKind::kClient,
                           core::SpanKind::kProducer, core::SpanKind::kConsumer}) {
    if (core::span_kind_name(k) == name) return k;
  }
  return std::nullopt;
}

// A range scan with bounds that live as long as the iterator.
struct RangeScan {
  std::string lower, upper;
  rocksdb::Slice lower_slice, upper_slice;
  std::unique_ptr<rocksdb::Iterator> it;

  RangeScan(rocksdb::DB& db, rocksdb::ColumnFamilyHandle* cf, std::string lo, std::string up,
            const rocksdb::Snapshot* snapshot = nullptr)
      : lower(std::move(lo)), upper(std::move(up)), lower_slice(lower), upper_slice(upper) {
    rocksdb::ReadOptions ro;
    ro.snapshot = snapshot;
    ro.iterate_lower_bound = &lower_slice;
    if (!upper.empty()) ro.iterate_upper_bound = &upper_slice;
    it.reset(db.NewIterator(ro, cf));
  }
};

// Jaeger's memory-store rule: one span satisfies every condition.
bool span_matches(const core::Span& span, const TraceQuery& q, uint64_t lo, uint64_t hi) {
  if (service_name(*span.resource) != q.service) return false;
  if (!q.operation.empty() && span.name != q.operation) return false;
  uint64_t d = span.duration_ns();
  if (q.min_duration_ns && d < q.min_duration_ns) return false;
  if (q.max_duration_ns && d > q.max_duration_ns) return false;
  if (span.start_time_unix_nano < lo || span.start_time_unix_nano > hi) return false;
  for (const auto& [k, v] : q.tags) {
    if (!span_has_tag(span, k, v)) return false;
  }
  return true;
}

// Whether a span (known by its index details) matches a tag condition: yes, no, or "maybe" when
// the tag may be on the span without the index knowing (a value without a tag id).
enum class Verdict { kNo = 0, kMaybe = 1, kYes = 2 };

struct Condition {
  std::string key;
  std::string value;
  uint32_t tag_id = 0;  // 0: the value has no id
  bool unknown = false;  // spans may carry the tag without listing it
  std::unordered_set<uint64_t> resources;  // resources carrying the tag
};

Verdict evaluate(const Condition& c, const SpanDetail& d) {
  // Tags derived from the span's kind and status, which every entry records in its flags.
  if (c.key == "span.kind" && d.kind != core::SpanKind::kUnspecified &&
      core::span_kind_name(d.kind) == c.value) {
    return Verdict::kYes;
  }
  if ((c.key == "error" && c.value == "true") || (c.key == "otel.status_code" && c.value == "ERROR")) {
    if (d.status == core::StatusCode::kError) return Verdict::kYes;
  }
  if (c.key == "otel.status_code" && c.value == "OK" && d.status == core::StatusCode::kOk) {
    return Verdict::kYes;
  }
  if (c.tag_id != 0 && d.has_tag(c.tag_id)) return Verdict::kYes;
  if (c.resources.contains(d.resource_ref)) return Verdict::kYes;
  return c.unknown ? Verdict::kMaybe : Verdict::kNo;
}

}  // namespace

std::string TraceStore::Impl::dict_entry(char kind, uint64_t id) const {
  auto& cache = kind == keys::kDictResource ? resource_cache : scope_cache;
  {
    std::shared_lock<std::shared_mutex> g(dict_cache_mu);
    auto it = cache.find(id);
    if (it != cache.end()) return it->second;
  }
  std::string key(1, kind);
  put_be64(key, id);
  std::string value;
  rocksdb::Status st = db->Get(rocksdb::ReadOptions(), dicts_cf, key, &value);
  if (st.IsNotFound()) return {};
  check(st, "reading the dictionary");
  std::unique_lock<std::shared_mutex> g(dict_cache_mu);
  if (cache.size() >= kDictCacheEntries) cache.clear();
  cache.emplace(id, value);
  return value;
}

namespace {

// One stored span of a trace, its Span message still encoded.
struct StoredSpan {
  std::string_view span_id;
  uint64_t start = 0;
  uint64_t end_delta = 0;  // zigzag
  uint64_t resource_ref = 0;
  uint64_t scope_ref = 0;
  std::string_view message;
};

bool read_refs(std::string_view* in, StoredSpan* s) {
  if (in->size() < 8) return false;
  s->start = get_le64(in->data());
  in->remove_prefix(8);
  return get_varint(in, &s->end_delta) && get_varint(in, &s->resource_ref) &&
         get_varint(in, &s->scope_ref);
}

// Appends the spans of one spans entry (keys.h: a batch's spans of the trace, or one span as
// written before); false if it is malformed.
bool read_spans_entry(std::string_view key, std::string_view value, std::vector<StoredSpan>* out) {
  if (key.size() == keys::kTraceIdSize + keys::kSpanIdSize) {
    StoredSpan s;
    s.span_id = key.substr(keys::kTraceIdSize);
    if (!read_refs(&value, &s)) return false;
    s.message = value;
    out->push_back(s);
    return true;
  }
  if (key.size() != keys::kSpanGroupKeySize || key.back() != keys::kSpanGroupMark ||
      value.size() < keys::kSpanHeaderMin) {
    return false;
  }
  value.remove_prefix(keys::kSpanHeaderMin);
  while (!value.empty()) {
    StoredSpan s;
    uint64_t size;
    if (value.size() < keys::kSpanIdSize) return false;
    s.span_id = value.substr(0, keys::kSpanIdSize);
    value.remove_prefix(keys::kSpanIdSize);
    if (!read_refs(&value, &s) || !get_varint(&value, &size) || size > value.size()) return false;
    s.message = value.substr(0, size);
    value.remove_prefix(size);
    out->push_back(s);
  }
  return true;
}

}  // namespace

core::SpanBatch TraceStore::Impl::find_trace(const core::TraceId& trace_id) const {
  core::SpanBatch out;
  const uint64_t cutoff_ns = cutoff();

  // The trace's entries, oldest batch first; a span stored twice keeps its later version.
  rocksdb::ReadOptions ro;
  ro.prefix_same_as_start = true;  // the prefix bloom filters skip files without this trace
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro, spans_cf));
  const std::string_view prefix = trace_id.as_view();
  std::vector<std::string> entries;  // copies: an iterator's slices do not outlive Next()
  for (it->Seek(rocksdb::Slice(prefix.data(), prefix.size()));
       it->Valid() && view(it->key()).starts_with(prefix); it->Next()) {
    if (keys::span_value_time(view(it->value())) < cutoff_ns) continue;
    entries.emplace_back(view(it->key()));
    entries.emplace_back(view(it->value()));
  }
  check(it->status(), "reading a trace");
  std::vector<StoredSpan> spans;
  // Spans written one per entry (before batches were grouped) are older than any group.
  for (bool grouped : {false, true}) {
    for (size_t i = 0; i + 1 < entries.size(); i += 2) {
      if ((entries[i].size() == keys::kSpanGroupKeySize) == grouped) {
        read_spans_entry(entries[i], entries[i + 1], &spans);
      }
    }
  }
  std::unordered_map<std::string_view, size_t> latest;  // span id -> its last place in `spans`
  for (size_t i = 0; i < spans.size(); ++i) latest[spans[i].span_id] = i;

  google::protobuf::Arena arena;
  auto* request = google::protobuf::Arena::CreateMessage<otlp::ExportRequest>(&arena);
  std::map<uint64_t, tpb::ResourceSpans*> by_resource;
  std::map<std::pair<uint64_t, uint64_t>, tpb::ScopeSpans*> by_scope;
  for (size_t i = 0; i < spans.size(); ++i) {
    const StoredSpan& s = spans[i];
    if (latest[s.span_id] != i) continue;
    tpb::ResourceSpans*& rs = by_resource[s.resource_ref];
    if (rs == nullptr) {
      rs = request->add_resource_spans();
      std::string bytes = dict_entry(keys::kDictResource, s.resource_ref);
      if (!rs->ParseFromString(bytes)) rs->Clear();
    }
    tpb::ScopeSpans*& ss = by_scope[{s.resource_ref, s.scope_ref}];
    if (ss == nullptr) {
      ss = rs->add_scope_spans();
      std::string bytes = dict_entry(keys::kDictScope, s.scope_ref);
      if (!ss->ParseFromString(bytes)) ss->Clear();
    }
    tpb::Span* span = ss->add_spans();
    if (!span->ParseFromArray(s.message.data(), static_cast<int>(s.message.size()))) {
      ss->mutable_spans()->RemoveLast();
      continue;
    }
    span->set_trace_id(prefix.data(), keys::kTraceIdSize);
    span->set_span_id(s.span_id.data(), keys::kSpanIdSize);
    span->set_start_time_unix_nano(s.start);
    span->set_end_time_unix_nano(s.start + static_cast<uint64_t>(unzigzag(s.end_delta)));
  }
  if (request->resource_spans_size() == 0) return out;
  if (std::optional<std::string> err = otlp::from_proto(*request, out)) {
    throw StoreError(fmt::format("store: trace {} is stored corrupt: {}", trace_id.hex(), *err));
  }
  return out;
}

std::vector<core::TraceId> TraceStore::Impl::search(const TraceQuery& q) const {
  if (q.service.empty()) throw StoreError("store: a trace search needs a service");
  const size_t limit = q.limit > 0 ? q.limit : 20;
  const uint64_t lo = std::max(q.start_time_min_ns, cutoff());
  const uint64_t hi = q.start_time_max_ns > 0 ? q.start_time_max_ns : kMaxTime;
  if (lo > hi || keys::has_nul(q.service)) return {};

  // What the index knows about each tag condition.
  std::vector<Condition> conditions;
  {
    std::shared_lock<std::shared_mutex> g(tags_mu);
    for (const auto& [k, v] : q.tags) {
      Condition& c = conditions.emplace_back();
      c.key = k;
      c.value = v;
      if (v.size() > options.max_indexed_value_bytes || keys::has_nul(k) || keys::has_nul(v)) {
        c.unknown = true;
        continue;
      }
      auto it = tag_dict.ids.find(k + '\0' + v);
      if (it != tag_dict.ids.end()) {
        c.tag_id = it->second.id;
      } else {
        c.unknown = tag_dict.overflowed.contains(k);
      }
    }
  }
  for (Condition& c : conditions) {
    if (c.unknown) continue;
    std::string prefix(1, keys::kDictResourceTag);
    prefix.append(c.key).append(1, '\0').append(c.value).push_back('\0');
    RangeScan scan(*db, dicts_cf, prefix, keys::prefix_successor(prefix));
    for (scan.it->SeekToFirst(); scan.it->Valid(); scan.it->Next()) {
      std::string_view key = view(scan.it->key());
      if (key.size() == prefix.size() + 8) c.resources.insert(get_be64(key.data() + prefix.size()));
    }
    check(scan.it->status(), "reading resource tags");
  }

  // The entries to scan: the operation's if given, else a rare tag's, else the service's.
  // The condition they stand for needs no further check.
  const std::string svc_part = q.service + '\0';
  std::string prefix = keys::kIndexService + svc_part;
  bool operation_unknown = false;
  size_t proven = conditions.size();
  if (!q.operation.empty()) {
    if (keys::has_nul(q.operation)) {
      operation_unknown = true;
    } else {
      prefix = keys::kIndexOperation + svc_part + q.operation + '\0';
    }
  } else {
    for (size_t i = 0; i < conditions.size(); ++i) {
      const Condition& c = conditions[i];
      if (!keys::has_nul(c.key) && !keys::has_nul(c.value) &&
          c.value.size() <= options.max_indexed_value_bytes &&
          tag_has_own_index(c.key, c.value)) {
        prefix = keys::kIndexTag + svc_part + c.key + '\0' + c.value + '\0';
        proven = i;
        break;
      }
    }
  }

  // A posting holds spans that start in its minute (keys.h): the scan covers lo's to hi's.
  std::string lower = prefix, upper;
  put_be64(lower, keys::minute_of(lo));
  if (hi == kMaxTime) {
    upper = keys::prefix_successor(prefix);
  } else {
    upper = prefix;
    put_be64(upper, keys::minute_of(hi) + 1);
  }
  const bool by_service = prefix[0] == keys::kIndexService;
  const std::string service_prefix = keys::kIndexService + svc_part;
  std::vector<core::TraceId> result;
  std::unordered_set<core::TraceId> seen;
  std::unique_ptr<const rocksdb::Snapshot, std::function<void(const rocksdb::Snapshot*)>> snapshot(
      db->GetSnapshot(), [this](const rocksdb::Snapshot* s) { db->ReleaseSnapshot(s); });
  rocksdb::ReadOptions at_snapshot;
  at_snapshot.snapshot = snapshot.get();
  RangeScan scan(*db, index_cf, lower, upper, snapshot.get());

  // Traces of the postings read so far that may match, with the latest start of a matching span.
  struct Candidate {
    Verdict verdict = Verdict::kNo;
    uint64_t latest = 0;
  };
  std::unordered_map<core::TraceId, Candidate> candidates;
  // Candidates whose latest matching span starts at `frontier` or later join the result, newest
  // first (no posting left to read has a later span); those the index cannot decide are read.
  std::vector<std::pair<uint64_t, core::TraceId>> order;
  // Whether a trace had a span sent again (keys.h): its postings may describe the old version.
  std::unique_ptr<RangeScan> resent_scan;
  auto resent = [&](const core::TraceId& trace) {
    if (!any_resent) return false;
    const std::string marks(1, keys::kIndexResent);
    if (!resent_scan) {
      resent_scan = std::make_unique<RangeScan>(*db, index_cf, marks,
                                                keys::prefix_successor(marks), snapshot.get());
    }
    std::string target = marks;
    target.append(trace.as_view());
    resent_scan->it->Seek(target);
    return resent_scan->it->Valid() && view(resent_scan->it->key()).starts_with(target);
  };
  auto take_candidates = [&](uint64_t frontier) {
    order.clear();
    for (const auto& [trace, c] : candidates) {
      if (c.latest >= frontier) order.emplace_back(c.latest, trace);
    }
    std::sort(order.begin(), order.end(), std::greater<>());
    for (const auto& [latest, trace] : order) {
      const Verdict verdict = candidates[trace].verdict;
      candidates.erase(trace);
      if (result.size() >= limit || !seen.insert(trace).second) continue;
      if (verdict == Verdict::kMaybe || resent(trace)) {
        core::SpanBatch spans = find_trace(trace);
        if (std::none_of(spans.spans().begin(), spans.spans().end(),
                         [&](const core::Span& s) { return span_matches(s, q, lo, hi); })) {
          continue;
        }
      }
      result.push_back(trace);
    }
  };

  // One minute at a time, newest first. A minute's postings (one per batch) are read by the
  // latest start they hold, and candidates are taken as soon as no posting left can hold a later
  // span: the result is the newest matching traces, and a search reads only a few postings'
  // spans, not the whole minute's.
  rocksdb::Iterator& it = *scan.it;
  std::vector<std::pair<uint64_t, std::string>> postings;  // (latest start, key)
  std::string service_key, service_value, posting_value;
  std::vector<PostingTrace> traces;
  SpanDetail d;
  it.SeekToLast();
  while (it.Valid() && result.size() < limit) {
    const uint64_t minute = keys::posting_minute(view(it.key()));
    postings.clear();
    for (; it.Valid() && keys::posting_minute(view(it.key())) == minute; it.Prev()) {
      std::string_view key = view(it.key()), value = view(it.value());
      uint64_t latest;
      if (key.size() != prefix.size() + keys::kPostingSuffix ||
          !read_posting_latest(&value, minute, &latest) || latest < lo) {
        continue;
      }
      postings.emplace_back(latest, key);
    }
    std::sort(postings.begin(), postings.end(), std::greater<>());
    for (size_t j = 0; j < postings.size() && result.size() < limit; ++j) {
      const std::string& key = postings[j].second;
      rocksdb::Status st = db->Get(at_snapshot, index_cf, key, &posting_value);
      if (st.IsNotFound()) continue;
      check(st, "searching traces");
      // The trace list is the service posting's own or, for a ref posting, that of the service
      // posting of the same minute and batch.
      std::string_view body = posting_value;
      uint64_t latest;
      if (!read_posting_latest(&body, minute, &latest)) continue;
      if (!by_service) {
        service_key.assign(service_prefix).append(key.substr(prefix.size()));
        st = db->Get(at_snapshot, index_cf, service_key, &service_value);
        if (st.IsNotFound()) continue;
        check(st, "searching traces");
      }
      std::string_view list = body;
      if (!by_service) {
        list = service_value;
        if (!read_posting_latest(&list, minute, &latest)) continue;
      }
      std::optional<std::vector<PostingTrace>> read = read_posting_traces(&list, minute);
      if (!read) continue;
      traces = std::move(*read);
      if (by_service) body = list;
      PostingReader posting(body, traces);
      while (posting.next_trace()) {
        if (seen.contains(posting.trace())) continue;
        // The best verdict over the trace's spans: one span must pass every condition.
        Candidate found;
        while (posting.next_span(&d)) {
          if (d.start < lo || d.start > hi ||
              (q.min_duration_ns && d.duration < q.min_duration_ns) ||
              (q.max_duration_ns && d.duration > q.max_duration_ns)) {
            continue;
          }
          Verdict v = operation_unknown ? Verdict::kMaybe : Verdict::kYes;
          for (size_t i = 0; i < conditions.size() && v != Verdict::kNo; ++i) {
            if (i != proven) v = std::min(v, evaluate(conditions[i], d));
          }
          if (v == Verdict::kNo) continue;
          found.verdict = std::max(found.verdict, v);
          found.latest = std::max(found.latest, d.start);
        }
        if (found.verdict == Verdict::kNo) continue;
        Candidate& c = candidates[posting.trace()];
        c.verdict = std::max(c.verdict, found.verdict);
        c.latest = std::max(c.latest, found.latest);
      }
      take_candidates(j + 1 < postings.size() ? postings[j + 1].first : 0);
    }
    take_candidates(0);
  }
  check(it.status(), "searching traces");
  return result;
}

bool TraceStore::Impl::has_postings_since(std::string_view body, uint64_t since) const {
  std::string lower(body);
  put_be64(lower, keys::minute_of(since));
  RangeScan scan(*db, index_cf, lower, keys::prefix_successor(std::string(body)));
  for (scan.it->SeekToFirst(); scan.it->Valid(); scan.it->Next()) {
    if (scan.it->key().size() == body.size() + keys::kPostingSuffix) return true;
  }
  check(scan.it->status(), "reading the index");
  return false;
}

// Services and operations are listed while retention keeps some of their spans: the meta
// entries stay, but a name whose last posting is older than the cutoff is left out.
std::vector<std::string> TraceStore::Impl::services() const {
  std::vector<std::string> out;
  const uint64_t cutoff_ns = cutoff();
  std::string lo(1, keys::kMetaService), body;
  RangeScan scan(*db, meta_cf, lo, keys::prefix_successor(lo));
  for (scan.it->SeekToFirst(); scan.it->Valid(); scan.it->Next()) {
    std::string_view service = view(scan.it->key()).substr(1);
    body.assign(1, keys::kIndexService).append(service).push_back('\0');
    if (cutoff_ns == 0 || has_postings_since(body, cutoff_ns)) out.emplace_back(service);
  }
  check(scan.it->status(), "listing services");
  return out;
}

std::vector<Operation> TraceStore::Impl::operations(std::string_view service,
                                                    std::optional<core::SpanKind> kind) const {
  std::vector<Operation> out;
  const uint64_t cutoff_ns = cutoff();
  std::string prefix(1, keys::kMetaOperation), body;
  prefix.append(service).push_back('\0');
  RangeScan scan(*db, meta_cf, prefix, keys::prefix_successor(prefix));
  for (scan.it->SeekToFirst(); scan.it->Valid(); scan.it->Next()) {
    std::string_view rest = view(scan.it->key()).substr(prefix.size());
    size_t sep = rest.find('\0');
    if (sep == std::string_view::npos) continue;
    std::optional<core::SpanKind> k = kind_from_name(rest.substr(0, sep));
    if (!k || (kind && *kind != *k)) continue;
    std::string_view name = rest.substr(sep + 1);
    body.assign(1, keys::kIndexOperation).append(service).append(1, '\0').append(name);
    body.push_back('\0');
    if (cutoff_ns != 0 && !has_postings_since(body, cutoff_ns)) continue;
    out.push_back({std::string(name), *k});
  }
  check(scan.it->status(), "listing operations");
  std::sort(out.begin(), out.end(), [](const Operation& a, const Operation& b) {
    return std::tie(a.name, a.kind) < std::tie(b.name, b.kind);
  });
  return out;
}

std::vector<DependencyLink> TraceStore::Impl::dependencies(uint64_t end_ns,
                                                           uint64_t lookback_ns) const {
  const uint64_t from = end_ns > lookback_ns ? end_ns - lookback_ns : 0;
  const uint64_t cutoff_ns = cutoff();
  std::string lo(1, keys::kAggEdge), up(1, keys::kAggEdge);
  put_be64(lo, keys::minute_of(from));
  if (end_ns == kMaxTime) {
    up = keys::prefix_successor(up);
  } else {
    put_be64(up, end_ns + 1);
  }
  std::map<std::pair<std::string, std::string>, DependencyLink> links;
  RangeScan scan(*db, aggregates_cf, lo, up);
  for (scan.it->SeekToFirst(); scan.it->Valid(); scan.it->Next()) {
    std::string_view key = view(scan.it->key());
    if (key.size() < 9 || keys::aggregate_minute(key) + keys::kMinuteNs <= cutoff_ns) continue;
    std::string_view names = key.substr(9);
    size_t sep = names.find('\0');
    if (sep == std::string_view::npos) continue;
    std::string_view value = view(scan.it->value());
    uint64_t calls = 0, errors = 0;
    if (!get_varint(&value, &calls) || !get_varint(&value, &errors)) continue;
    std::string parent(names.substr(0, sep)), child(names.substr(sep + 1));
    DependencyLink& link = links[{parent, child}];
    link.parent = parent;
    link.child = child;
    link.call_count += calls;
    link.error_count += errors;
  }
  check(scan.it->status(), "reading dependencies");
  std::vector<DependencyLink> out;
  for (auto& [k, link] : links) out.push_back(std::move(link));
  return out;
}

std::vector<MetricsSeries> TraceStore::Impl::metrics(const MetricsQuery& q) const {
  const uint64_t step = std::max(q.step_ns, keys::kMinuteNs);
  const uint64_t end = q.end_ns > 0 ? q.end_ns : options.clock();
  const uint64_t lookback = std::max(q.lookback_ns, step);
  const size_t steps = static_cast<size_t>((lookback + step - 1) / step);
  const uint64_t start = end > steps * step ? end - steps * step : 0;
  const uint64_t cutoff_ns = cutoff();
  auto kind_wanted = [&](std::string_view name) {
    if (q.span_kinds.empty()) return true;
    std::optional<core::SpanKind> k = kind_from_name(name);
    return k && std::find(q.span_kinds.begin(), q.span_kinds.end(), *k) != q.span_kinds.end();
  };
  auto empty_series = [&](std::string op) {
    MetricsSeries s;
    s.operation = std::move(op);
    for (size_t i = 0; i < steps; ++i) s.points.push_back({start + (i + 1) * step, {}});
    return s;
  };

  std::map<std::string, MetricsSeries, std::less<>> series;
  if (!q.group_by_operation) series.emplace("", empty_series(""));
  std::string prefix(1, q.group_by_operation ? keys::kAggOperation : keys::kAggService);
  prefix.append(q.service).push_back('\0');
  RangeScan scan(*db, aggregates_cf, prefix, keys::prefix_successor(prefix));
  rocksdb::Iterator& it = *scan.it;
  it.SeekToFirst();
  while (it.Valid()) {
    std::string_view key = view(it.key());
    if (key.size() < prefix.size() + 9) {
      it.Next();
      continue;
    }
    // key = prefix kind \0 [operation \0] minute_be64; group = everything before the minute.
    std::string_view group = key.substr(0, key.size() - 8);
    std::string_view rest = group.substr(prefix.size());
    size_t sep = rest.find('\0');
    if (sep == std::string_view::npos) {
      it.Next();
      continue;
    }
    std::string_view kind = rest.substr(0, sep);
    if (!kind_wanted(kind)) {
      // Skip every entry of this kind.
      it.Seek(keys::prefix_successor(std::string(key.substr(0, prefix.size() + sep + 1))));
      continue;
    }
    const uint64_t minute = keys::aggregate_minute(key);
    if (minute < start) {
      std::string target(group);
      put_be64(target, start);
      it.Seek(target);
      continue;
    }
    if (minute >= end) {
      it.Seek(keys::prefix_successor(std::string(group)));
      continue;
    }
    Aggregate agg;
    if (minute + keys::kMinuteNs > cutoff_ns && Aggregate::decode(view(it.value()), &agg)) {
      std::string_view op;
      if (q.group_by_operation) op = rest.substr(sep + 1, rest.size() - sep - 2);
      auto s = series.find(op);
      if (s == series.end()) s = series.emplace(std::string(op), empty_series(std::string(op))).first;
      s->second.points[(minute - start) / step].value.merge(agg);
    }
    it.Next();
  }
  check(it.status(), "reading metrics");
  std::vector<MetricsSeries> out;
  for (auto& [op, s] : series) out.push_back(std::move(s));
  return out;
}

}  // namespace hodos::store
