// The wire codec against the generated protobuf classes (the reference):
// byte-identical encoding, the same decoded spans, and the same verdict (and
// message) on malformed input, for the samples, the fuzz corpus, random batches
// with every field kind, their mutations and hand-made edge cases of the wire
// format.
#include "otlp/otlp_wire.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/stubs/logging.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <sstream>

#include "../../fuzz/otlp_wire_fuzz.h"
#include "batch_testing.h"
#include "otlp/otlp_codec.h"
#include "otlp/span_groups.h"
#include "otlp/zipkin_codec.h"
#include "samples.h"

namespace hodos::otlp {
namespace {

using fuzz::check_wire_matches_generated;
using fuzz::generated_decode;
using fuzz::generated_encode;
namespace fs = std::filesystem;
using namespace std::string_literals;

// Hand-built wire bytes, for inputs the generated serializer would never write.
struct Wire {
  std::string bytes;

  Wire& varint(uint64_t v) {
    while (v >= 0x80) {
      bytes.push_back(static_cast<char>(v | 0x80));
      v >>= 7;
    }
    bytes.push_back(static_cast<char>(v));
    return *this;
  }
  Wire& tag(uint32_t field, int wire_type) { return varint(field << 3 | wire_type); }
  Wire& raw(std::string_view s) {
    bytes.append(s);
    return *this;
  }
  Wire& len(uint32_t field, std::string_view s) {
    tag(field, 2).varint(s.size());
    return raw(s);
  }
  Wire& len(uint32_t field, const Wire& w) { return len(field, w.bytes); }
  Wire& uint(uint32_t field, uint64_t v) { return tag(field, 0).varint(v); }
  Wire& fixed64(uint32_t field, uint64_t v) {
    tag(field, 1);
    for (int i = 0; i < 8; ++i) bytes.push_back(static_cast<char>(v >> (8 * i)));
    return *this;
  }
  Wire& fixed32(uint32_t field, uint32_t v) {
    tag(field, 5);
    for (int i = 0; i < 4; ++i) bytes.push_back(static_cast<char>(v >> (8 * i)));
    return *this;
  }
};

const std::string kTraceId(16, '\x11');
const std::string kSpanId(8, '\x22');

Wire ids() { return Wire().len(1, kTraceId).len(2, kSpanId); }

// A request with one span whose body is `span`.
std::string request_with_span(const Wire& span) {
  return Wire().len(1, Wire().len(2, Wire().len(2, span))).bytes;
}
// A request with one span carrying one attribute whose AnyValue body is
// `value`.
std::string request_with_value(const Wire& value) {
  return request_with_span(ids().len(9, Wire().len(1, "k").len(2, value)));
}

void expect_agree(std::string_view input, const std::string& what = "") {
  EXPECT_EQ(check_wire_matches_generated(input), "") << what;
}
// Both accept (or, with `accepted` false, both reject) and agree on the result.
void expect_verdict(std::string_view input, bool accepted, const std::string& what = "") {
  expect_agree(input, what);
  core::SpanBatch out;
  EXPECT_EQ(!decode_wire(input, out).has_value(), accepted) << what;
}

class OtlpWire : public ::testing::Test {
 protected:
  // Invalid UTF-8 makes libprotobuf log an error per input.
  static void SetUpTestSuite() { previous_ = google::protobuf::SetLogHandler(nullptr); }
  static void TearDownTestSuite() { google::protobuf::SetLogHandler(previous_); }
  static inline google::protobuf::LogHandler* previous_ = nullptr;
};

// ---------------------------------------------------------------------------------------------
// Random batches with every field kind.

class BatchGenerator {
 public:
  explicit BatchGenerator(uint64_t seed) : rng_(seed) {}

  core::SpanBatch batch() {
    core::SpanBatch b;
    core::Arena& a = b.arena();
    std::vector<core::Resource*> resources(1 + below(3));
    for (auto*& r : resources) {
      r = b.new_resource();
      r->attributes = attrs(a, 0);
      r->dropped_attributes_count = maybe_u32();
      r->schema_url = text(a);
    }
    std::vector<core::Scope*> scopes(1 + below(3));
    for (auto*& s : scopes) {
      s = b.new_scope();
      s->name = text(a);
      s->version = text(a);
      s->attributes = attrs(a, 0);
      s->dropped_attributes_count = maybe_u32();
      s->schema_url = text(a);
    }
    size_t n = below(8);
    for (size_t i = 0; i < n; ++i) {
      core::Span s;
      fill(s.trace_id);
      fill(s.span_id);
      if (coin()) fill(s.parent_span_id);
      s.trace_state = text(a);
      s.flags = maybe_u32();
      s.name = text(a);
      s.kind = static_cast<core::SpanKind>(below(6));
      s.start_time_unix_nano = maybe_u64();
      s.end_time_unix_nano = maybe_u64();
      s.attributes = attrs(a, 0);
      s.dropped_attributes_count = maybe_u32();
      for (size_t e = below(3); e > 0; --e) {
        core::Event ev;
        ev.time_unix_nano = maybe_u64();
        ev.name = text(a);
        ev.attributes = attrs(a, 0);
        ev.dropped_attributes_count = maybe_u32();
        s.events.push_back(a, ev);
      }
      s.dropped_events_count = maybe_u32();
      for (size_t l = below(3); l > 0; --l) {
        core::Link link;
        if (coin()) fill(link.trace_id);
        if (coin()) fill(link.span_id);
        link.trace_state = text(a);
        link.attributes = attrs(a, 0);
        link.dropped_attributes_count = maybe_u32();
        link.flags = maybe_u32();
        s.links.push_back(a, link);
      }
      s.dropped_links_count = maybe_u32();
      s.status.code = static_cast<core::StatusCode>(below(3));
      s.status.message = text(a);
      s.resource = resources[below(resources.size())];
      s.scope = scopes[below(scopes.size())];
      b.spans().push_back(s);
    }
    return b;
  }

 private:
  size_t below(size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng_); }
  bool coin() { return below(2) == 0; }
  uint32_t maybe_u32() {
    switch (below(4)) {
      case 0:
        return 0;
      case 1:
        return static_cast<uint32_t>(below(128));
      default:
        return static_cast<uint32_t>(rng_());
    }
  }
  uint64_t maybe_u64() { return coin() ? 0 : rng_() >> below(64); }
  template <class Id>
  void fill(Id& id) {
    for (auto& byte : id.bytes) byte = static_cast<uint8_t>(rng_());
  }
  // Empty, ASCII, multi-byte UTF-8 or long.
  std::string_view text(core::Arena& a) {
    static const char* kPieces[] = {"a", "é", "日本", "😀", " ", "\"", "\\", "\n", "x=y,"};
    std::string s;
    size_t n = below(3) == 0 ? 0 : (below(8) == 0 ? 200 : below(12));
    for (size_t i = 0; i < n; ++i) s += kPieces[below(std::size(kPieces))];
    return a.copy(s);
  }
  std::string_view raw_bytes(core::Arena& a) {
    std::string s(below(20), '\0');
    for (char& c : s) c = static_cast<char>(rng_());
    return a.copy(s);
  }
  core::AttrList attrs(core::Arena& a, int depth) {
    core::AttrList out;
    for (size_t n = below(depth == 0 ? 6 : 3); n > 0; --n) {
      out.push_back(a, core::KeyValue{text(a), value(a, depth)});
    }
    return out;
  }
  core::AnyValue value(core::Arena& a, int depth) {
    switch (below(depth < 3 ? 8 : 6)) {
      case 0:
        return core::AnyValue{};
      case 1:
        return core::AnyValue::string(text(a));
      case 2:
        return core::AnyValue::boolean(coin());
      case 3: {
        static const int64_t kInts[] = {0, 1, -1, std::numeric_limits<int64_t>::min(),
                                        std::numeric_limits<int64_t>::max()};
        return core::AnyValue::integer(coin() ? kInts[below(5)] : static_cast<int64_t>(rng_()));
      }
      case 4: {
        static const double kDoubles[] = {0.0,
                                          -0.0,
                                          1.5,
                                          std::numeric_limits<double>::infinity(),
                                          std::numeric_limits<double>::quiet_NaN(),
                                          5e-324};
        return core::AnyValue::floating(kDoubles[below(6)]);
      }
      case 5:
        return core::AnyValue::bytes(raw_bytes(a));
      case 6: {
        core::ArenaVector<core::AnyValue> values;
        for (size_t n = below(4); n > 0; --n) values.push_back(a, value(a, depth + 1));
        return core::AnyValue::array_of(values);
      }
      default:
        return core::AnyValue::kvlist_of(attrs(a, depth + 1));
    }
  }

  std::mt19937_64 rng_;
};

TEST_F(OtlpWire, EncodesSamplesAsTheGeneratedCodeDoes) {
  core::SpanBatch full = testing::make_full_batch();
  core::SpanBatch spec, zipkin;
  ASSERT_FALSE(decode_json(testing::kSpecExampleJson, spec));
  ASSERT_FALSE(decode_zipkin_json(testing::kZipkinPayload, zipkin));
  for (const core::SpanBatch* b : {&full, &spec, &zipkin}) {
    std::string bytes = encode_wire(*b);
    EXPECT_EQ(bytes, generated_encode(*b));
    expect_verdict(bytes, true);
  }
  // The full batch's spans are already in group order, so decoding gives them
  // back as they were.
  core::SpanBatch decoded;
  ASSERT_FALSE(decode_wire(encode_wire(full), decoded));
  testing::expect_same_batch(full, decoded);
  EXPECT_EQ(encode_wire(core::SpanBatch{}), "");
}

TEST_F(OtlpWire, AgreesOnTheFuzzCorpus) {
  size_t count = 0;
  for (const auto& entry :
       fs::directory_iterator(fs::path(HODOS_SOURCE_DIR) / "tests/fuzz/corpus/otlp_proto")) {
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    expect_agree(ss.str(), entry.path().string());
    ++count;
  }
  EXPECT_GE(count, 3u);
}

TEST_F(OtlpWire, AgreesOnRandomBatchesAndTheirMutations) {
  std::mt19937_64 rng(20261130);
  size_t rejected = 0, mutants = 0;
  for (uint64_t seed = 0; seed < 300; ++seed) {
    core::SpanBatch b = BatchGenerator(seed).batch();
    std::string bytes = encode_wire(b);
    ASSERT_EQ(bytes, generated_encode(b)) << "seed " << seed;
    ASSERT_EQ(check_wire_matches_generated(bytes), "") << "seed " << seed;
    if (bytes.empty()) continue;
    // Flipped, dropped and inserted bytes, and truncations: malformed or not,
    // both must agree.
    for (int m = 0; m < 20; ++m) {
      std::string mutant = bytes;
      size_t at = std::uniform_int_distribution<size_t>(0, mutant.size() - 1)(rng);
      switch (m % 4) {
        case 0:
          mutant[at] = static_cast<char>(mutant[at] ^ (1 << (rng() % 8)));
          break;
        case 1:
          mutant.erase(at, 1);
          break;
        case 2:
          mutant.insert(at, 1, static_cast<char>(rng()));
          break;
        default:
          mutant.resize(at);
          break;
      }
      std::string failure = check_wire_matches_generated(mutant);
      ASSERT_EQ(failure, "") << "seed " << seed << " mutant " << fuzz::printable(mutant);
      core::SpanBatch out;
      if (decode_wire(mutant, out)) ++rejected;
      ++mutants;
    }
  }
  // The mutations reach both verdicts, so the comparison covers both.
  EXPECT_GT(rejected, mutants / 10);
  EXPECT_LT(rejected, mutants);
}

// The store's pieces are the generated messages with the other fields cleared, byte for byte.
TEST_F(OtlpWire, StorePiecesMatchTheGeneratedMessages) {
  namespace tpb = opentelemetry::proto::trace::v1;
  size_t spans = 0;
  std::vector<uint32_t> sizes;
  for (uint64_t seed = 0; seed < 100; ++seed) {
    core::SpanBatch b = seed == 0 ? testing::make_full_batch() : BatchGenerator(seed).batch();
    ExportRequest reference;
    to_proto(b, &reference);
    std::vector<ResourceGroup> groups = group_spans(b);
    ASSERT_EQ(groups.size(), static_cast<size_t>(reference.resource_spans_size()));
    for (size_t r = 0; r < groups.size(); ++r) {
      tpb::ResourceSpans rs = reference.resource_spans(static_cast<int>(r));
      tpb::ResourceSpans rheader = rs;
      rheader.clear_scope_spans();
      ASSERT_EQ(encode_resource_spans_header(*groups[r].resource), rheader.SerializeAsString())
          << "seed " << seed;
      for (size_t sc = 0; sc < groups[r].scopes.size(); ++sc) {
        tpb::ScopeSpans sheader = rs.scope_spans(static_cast<int>(sc));
        sheader.clear_spans();
        ASSERT_EQ(encode_scope_spans_header(*groups[r].scopes[sc].scope),
                  sheader.SerializeAsString())
            << "seed " << seed;
        const auto& group_spans_of = groups[r].scopes[sc].spans;
        for (size_t i = 0; i < group_spans_of.size(); ++i) {
          tpb::Span span = rs.scope_spans(static_cast<int>(sc)).spans(static_cast<int>(i));
          span.clear_trace_id();
          span.clear_span_id();
          span.clear_start_time_unix_nano();
          span.clear_end_time_unix_nano();
          std::string out = "prefix";
          append_span_without_ids_and_times(*group_spans_of[i], out, sizes);
          ASSERT_EQ(out, "prefix" + span.SerializeAsString()) << "seed " << seed;
          // Length-prefixed, as protobuf writes a delimited message.
          std::string delimited;
          {
            google::protobuf::io::StringOutputStream stream(&delimited);
            google::protobuf::io::CodedOutputStream coded(&stream);
            coded.WriteVarint32(static_cast<uint32_t>(span.ByteSizeLong()));
          }
          out = "prefix";
          append_span_without_ids_and_times(*group_spans_of[i], out, sizes, true);
          ASSERT_EQ(out, "prefix" + delimited + span.SerializeAsString()) << "seed " << seed;
          ++spans;
        }
      }
    }
  }
  EXPECT_GT(spans, 100u);
}

TEST_F(OtlpWire, EveryTruncatedPrefixAgrees) {
  std::string bytes = encode_wire(testing::make_full_batch());
  for (size_t n = 0; n <= bytes.size(); ++n) {
    expect_agree(std::string_view(bytes).substr(0, n), "prefix " + std::to_string(n));
  }
}

TEST_F(OtlpWire, SkipsUnknownFieldsOfEveryWireTypeAtEveryLevel) {
  Wire unknown;
  unknown.uint(99, 300).fixed64(98, 7).fixed32(97, 7).len(96, "junk");
  unknown.tag(95, 3).uint(1, 1).tag(94, 3).len(2, "x").tag(94, 4).tag(95, 4);  // nested groups
  // A known field number with another wire type is unknown too.
  Wire wrong_type = Wire().uint(1, 5).fixed32(5, 1).len(7, "x");
  Wire span = ids();
  span.raw(unknown.bytes).raw(wrong_type.bytes);
  span.len(15, Wire().len(2, "msg").raw(unknown.bytes));
  span.len(11, Wire().fixed64(1, 5).raw(unknown.bytes));
  span.len(13, Wire().len(1, kTraceId).raw(unknown.bytes));
  span.len(9, Wire().len(1, "k").raw(unknown.bytes).len(2, Wire().uint(3, 4).raw(unknown.bytes)));
  Wire scope_spans = Wire().len(1, Wire().len(1, "lib").raw(unknown.bytes)).len(2, span);
  scope_spans.raw(unknown.bytes);
  Wire rs = Wire().len(1, Wire().raw(unknown.bytes)).len(2, scope_spans).raw(unknown.bytes);
  std::string request = Wire().raw(unknown.bytes).len(1, rs).raw(unknown.bytes).bytes;
  expect_verdict(request, true);
  core::SpanBatch out;
  ASSERT_FALSE(decode_wire(request, out));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out.spans()[0].status.message, "msg");
  EXPECT_EQ(out.spans()[0].scope->name, "lib");
}

TEST_F(OtlpWire, RepeatedSingularFieldsMergeOrTakeTheLast) {
  // Status twice merges; the name twice takes the last; ids bad then good are
  // fine.
  Wire span = Wire().len(1, "short").len(1, kTraceId).len(2, kSpanId).len(5, "a").len(5, "b");
  span.len(15, Wire().len(2, "first").uint(3, 2)).len(15, Wire().uint(3, 1));
  span.uint(6, 2).uint(6, 3).fixed32(16, 1).fixed32(16, 0x301);
  expect_verdict(request_with_span(span), true);
  core::SpanBatch out;
  ASSERT_FALSE(decode_wire(request_with_span(span), out));
  EXPECT_EQ(out.spans()[0].name, "b");
  EXPECT_EQ(out.spans()[0].status.message, "first");
  EXPECT_EQ(out.spans()[0].status.code, core::StatusCode::kOk);
  EXPECT_EQ(out.spans()[0].kind, core::SpanKind::kClient);
  EXPECT_EQ(out.spans()[0].flags, 0x301u);

  // Resource and scope twice, ResourceSpans fields out of order.
  Wire rs = Wire().len(2, Wire().len(2, ids()).len(1, Wire().len(1, "s1")));
  rs.len(1, Wire().len(1, Wire().len(1, "a").len(2, Wire().uint(3, 1))).uint(2, 4));
  rs.len(1, Wire().len(1, Wire().len(1, "b").len(2, Wire().uint(3, 2))));
  rs.len(3, "url");
  expect_verdict(Wire().len(1, rs).bytes, true);

  // AnyValue: oneof members replace each other; arrays and kvlists twice in a
  // row merge.
  Wire arr1 = Wire().len(1, Wire().uint(3, 1));
  Wire arr2 = Wire().len(1, Wire().len(1, "s"));
  Wire kv1 = Wire().len(1, Wire().len(1, "x").len(2, Wire().uint(2, 1)));
  for (const Wire& v :
       {Wire().len(5, arr1).len(5, arr2), Wire().len(5, arr1).len(1, "s").len(5, arr2),
        Wire().len(6, kv1).len(6, kv1), Wire().len(6, kv1).len(5, arr1).len(6, kv1),
        Wire().len(1, "s").uint(3, 7).len(7, "\xff"), Wire().fixed64(4, 0).uint(2, 0),
        Wire().len(5, ""), Wire().len(6, ""), Wire().len(1, "")}) {
    expect_verdict(request_with_value(v), true, fuzz::printable(v.bytes));
  }
  // KeyValue.value twice merges into one AnyValue.
  Wire kv = Wire().len(1, "k").len(2, Wire().len(5, arr1)).len(2, Wire().len(5, arr2));
  expect_verdict(request_with_span(ids().len(9, kv)), true);
}

TEST_F(OtlpWire, InvalidUtf8IsRejectedInStringsOnly) {
  const std::string bad = "ok\xc3\x28";
  std::vector<std::pair<std::string, std::string>> cases = {
      {"span name", request_with_span(ids().len(5, bad))},
      {"trace_state", request_with_span(ids().len(3, bad))},
      {"status message", request_with_span(ids().len(15, Wire().len(2, bad)))},
      {"event name", request_with_span(ids().len(11, Wire().len(2, bad)))},
      {"link trace_state", request_with_span(ids().len(13, Wire().len(3, bad)))},
      {"attribute key", request_with_span(ids().len(9, Wire().len(1, bad)))},
      {"string value", request_with_value(Wire().len(1, bad))},
      {"resource schema_url", Wire().len(1, Wire().len(3, bad)).bytes},
      {"scope name", Wire().len(1, Wire().len(2, Wire().len(1, Wire().len(1, bad)))).bytes},
      {"scope version", Wire().len(1, Wire().len(2, Wire().len(1, Wire().len(2, bad)))).bytes},
      {"scope schema_url", Wire().len(1, Wire().len(2, Wire().len(3, bad))).bytes},
  };
  for (const auto& [what, input] : cases) expect_verdict(input, false, what);
  // Bytes are not text; an unknown field may hold anything.
  expect_verdict(request_with_value(Wire().len(7, bad)), true);
  expect_verdict(request_with_span(ids().len(50, bad)), true);
}

TEST_F(OtlpWire, WrongIdLengthsGiveTheGeneratedPathsMessages) {
  auto error = [](const std::string& input) {
    core::SpanBatch out;
    return decode_wire(input, out).value_or("<accepted>");
  };
  std::string input = request_with_span(Wire().len(2, kSpanId).len(1, "abcde"));
  expect_agree(input);
  EXPECT_EQ(error(input),
            "resourceSpans[0].scopeSpans[0].spans[0].traceId: "
            "must be 16 bytes, got 5");
  // Reported in message order (trace, span, parent, then links), whatever the
  // wire order.
  input = request_with_span(
      Wire().len(13, Wire().len(2, "123")).len(4, "1").len(2, "12").len(1, kTraceId));
  expect_agree(input);
  EXPECT_EQ(error(input), "resourceSpans[0].scopeSpans[0].spans[0].spanId: must be 8 bytes, got 2");
  input = request_with_span(ids().len(13, Wire()).len(13, Wire().len(1, kTraceId).len(2, "123")));
  expect_agree(input);
  EXPECT_EQ(error(input),
            "resourceSpans[0].scopeSpans[0].spans[0].links[1]."
            "spanId: must be 8 bytes, got 3");
  // The first bad span counts, across scopes and resources.
  Wire good = ids(), bad = Wire().len(1, kTraceId);
  Wire rs1 = Wire().len(2, Wire().len(2, good)).len(2, Wire().len(2, good).len(2, bad));
  Wire rs2 = Wire().len(2, Wire().len(2, bad));
  input = Wire().len(1, rs1).len(1, rs2).bytes;
  expect_agree(input);
  EXPECT_EQ(error(input), "resourceSpans[0].scopeSpans[1].spans[1].spanId: must be 8 bytes, got 0");
  // Malformed bytes after a bad id make the request malformed.
  input = Wire().len(1, rs1).raw("\x0a\x05").bytes;
  expect_agree(input);
  EXPECT_EQ(error(input), kMalformedProtobuf);
}

TEST_F(OtlpWire, MalformedWireIsRejectedByBoth) {
  std::string span = request_with_span(ids());
  std::vector<std::pair<std::string, std::string>> rejected = {
      {"length beyond the end", "\x0a\x05\x0a\x03"},
      {"sub-message longer than its parent",
       Wire().len(1, Wire().raw("\x12\x05").raw("abc")).bytes},
      {"field number 0", Wire().raw(span).tag(0, 0).varint(1).bytes},
      {"zero tag", span + std::string(1, '\0')},
      {"stray end group", span + "\x0c"},
      {"wire type 6", span + "\x0e"},
      {"wire type 7", span + "\x0f"},
      {"unclosed group", span + "\x0b\x08\x01"},
      {"group closed by another number", span + "\x0b\x14"},
      {"6-byte tag", span + "\x88\x80\x80\x80\x80\x00\x01"s},
      {"6-byte length", span + "\x12\x80\x80\x80\x80\x80\x00"s},
      {"length over 2 GiB", span + "\x12\xff\xff\xff\xff\x07"},
      {"11-byte varint", span + "\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"},
      {"truncated fixed64", request_with_span(ids().raw("\x39\x01\x02"))},
      {"truncated varint", span + "\x08\x80"},
  };
  for (const auto& [what, input] : rejected) expect_verdict(input, false, what);
  std::vector<std::pair<std::string, std::string>> accepted = {
      {"5-byte tag", span + "\x88\x80\x80\x80\x00\x01"s},
      {"5-byte length", Wire().raw(span).raw("\x12\x80\x80\x80\x80\x00"s).bytes},
      {"10-byte varint", span + "\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"},
      {"empty", ""},
      {"TracesData without spans", Wire().len(1, "").len(1, Wire().len(2, "")).bytes},
  };
  for (const auto& [what, input] : accepted) expect_verdict(input, true, what);
  // Out-of-range enums and counts over 32 bits, as the generated code truncates
  // them.
  expect_verdict(request_with_span(ids()
                                       .uint(6, ~0ull)
                                       .uint(10, (1ull << 32) + 3)
                                       .len(15, Wire().uint(3, (1ull << 32) + 2))),
                 true);
}

TEST_F(OtlpWire, NestingStopsAtTheGeneratedRecursionLimit) {
  // AnyValue -> ArrayValue -> AnyValue ...: find where the generated parser
  // stops.
  size_t last_accepted = 0;
  for (size_t depth = 40; depth <= 60; ++depth) {
    Wire v = Wire().uint(3, 1);
    for (size_t i = 0; i < depth; ++i) v = Wire().len(5, Wire().len(1, v));
    std::string input = request_with_value(v);
    expect_agree(input, "array depth " + std::to_string(depth));
    core::SpanBatch out;
    if (!generated_decode(input, out)) last_accepted = depth;
  }
  EXPECT_GT(last_accepted, 40u);
  EXPECT_LT(last_accepted, 60u) << "the limit must be inside the range tested";
  // Groups in unknown fields count toward the same limit.
  for (size_t depth = 90; depth <= 110; ++depth) {
    std::string groups;
    for (size_t i = 0; i < depth; ++i) groups += "\x0b";  // field 1, start group
    for (size_t i = 0; i < depth; ++i) groups += "\x0c";
    expect_agree(Wire().len(1, groups).bytes, "group depth " + std::to_string(depth));
  }
}

TEST_F(OtlpWire, DecodeProtoAndEncodeProtoUseIt) {
  // The public codec entry points go through the wire path: same verdicts, same
  // bytes.
  core::SpanBatch b = BatchGenerator(7).batch();
  EXPECT_EQ(encode_proto(b), encode_wire(b));
  core::SpanBatch out;
  auto err = decode_proto(request_with_span(Wire().len(1, kTraceId)), out);
  ASSERT_TRUE(err);
  EXPECT_EQ(*err, "resourceSpans[0].scopeSpans[0].spans[0].spanId: must be 8 bytes, got 0");
}

}  // namespace
}  // namespace hodos::otlp
