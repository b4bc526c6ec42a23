#include "protocols/kafka/match.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "../bytes.h"
#include "../corpus.h"
#include "captures.h"
#include "fuzz_check.h"
#include "wire.h"

namespace hodos::protocols::kafka {
namespace {

using namespace testing;  // NOLINT: the message builders
using test_bytes::bin;
using test_bytes::unhex;

struct Step {
  Direction direction;
  std::string bytes;
};
Step out(std::string b) { return {Direction::kEgress, std::move(b)}; }
Step in(std::string b) { return {Direction::kIngress, std::move(b)}; }

struct Result {
  std::vector<DbCall> calls;
  DbMatchCounters counters;
};

Result feed(const std::vector<fuzz::Piece>& pieces, DbMatchOptions options = {},
            bool from_start = true) {
  Result r;
  auto m = make_kafka_matcher([&r](DbCall&& c) { r.calls.push_back(std::move(c)); }, options,
                              from_start);
  uint64_t ts = 100;
  for (const fuzz::Piece& p : pieces) m->feed(p.direction, {p.captured, p.length, ts++});
  m->close();
  r.counters = m->counters();
  return r;
}
std::vector<fuzz::Piece> whole_pieces(const std::vector<Step>& steps) {
  std::vector<fuzz::Piece> out;
  for (const Step& s : steps) out.push_back({s.direction, s.bytes, s.bytes.size()});
  return out;
}
Result feed(const std::vector<Step>& steps, DbMatchOptions options = {}) {
  return feed(whole_pieces(steps), options);
}
std::vector<std::string> describe(const std::vector<DbCall>& calls) {
  std::vector<std::string> out;
  for (const DbCall& c : calls) out.push_back(fuzz::describe(c));
  return out;
}
std::string as_records(const std::vector<Step>& steps) {
  std::vector<fuzz::Record> records;
  for (const Step& s : steps) records.push_back({s.direction, false, s.bytes});
  return fuzz::encode_records(records);
}

const std::string kSecret = "secret-value-1234";

template <size_t N>
std::vector<Step> captured(const CapturedChunk (&chunks)[N]) {
  std::vector<Step> out;
  for (const CapturedChunk& c : chunks) out.push_back({c.direction, unhex(c.hex)});
  return out;
}

// What kafkajs 2.2.4 did against the mock broker (captures.h), as calls.
struct Capture {
  const char* name;
  std::vector<Step> steps;
  std::vector<std::string> calls;
};
std::vector<Capture> captures() {
  return {
      {"producer", captured(kProducerSession), {"send|orders|0|2|0|shop||", "send|orders|0|3|2|shop||"}},
      {"two topics", captured(kProduceTwoTopics), {"send|||4|-1|shop||"}},
      {"consumer group", captured(kConsumerGroup), {}},
      {"consumer fetch", captured(kConsumerFetch), {"poll|orders|0|5|-1|billing-svc||"}},
      {"produce error", captured(kProduceError),
       {"send|orders|0|1|-1|shop|NOT_LEADER_OR_FOLLOWER|", "send|orders|0|1|0|shop||"}},
      {"pipelined", captured(kProducePipelined),
       {"send|orders|0|1|0|shop||", "send|orders|0|1|1|shop||", "send|orders|0|1|2|shop||",
        "send|orders|0|1|3|shop||"}},
  };
}

// A producer's session as kafkajs runs it: a Metadata exchange (not a call), then two sends to
// "orders" (the second to partition 1), a send to two topics at once, and an acks=0 send.
std::vector<Step> producer_session(int16_t version) {
  const std::string meta_request = request(3, 5, 1, "shop", false, array_len(0, false));
  const std::string meta_response = response(1, false, be(0, 4) + array_len(0, false));
  return {
      out(meta_request),
      in(meta_response),
      out(produce_request(version, 2, "shop", -1, {{"orders", {{0, record_batch(0, 2, kSecret)}}}})),
      in(produce_response(version, 2, {{"orders", {{0, 0, 40}}}})),
      out(produce_request(version, 3, "shop", 1, {{"orders", {{1, record_batch(0, 1, "audit") + record_batch(1, 2, "audit")}}}})),
      in(produce_response(version, 3, {{"orders", {{1, 0, 7}}}})),
      out(produce_request(version, 4, "shop", -1,
                          {{"orders", {{0, record_batch(0, 1, kSecret)}}},
                           {"payments", {{0, record_batch(0, 1, kSecret)}, {1, record_batch(0, 1, kSecret)}}}})),
      in(produce_response(version, 4, {{"orders", {{0, 0, 42}}}, {"payments", {{0, 0, 5}, {1, 0, 9}}}})),
      out(produce_request(version, 5, "shop", 0, {{"events", {{0, record_batch(0, 4, "audit")}}}})),
  };
}
const std::vector<std::string> kProducerCalls = {
    "send|orders|0|2|40|shop||",
    "send|orders|1|3|7|shop||",
    "send|||3|-1|shop||",  // two topics: no single destination
    "send|events|0|4|-1|shop||",  // acks=0: no answer, no offset
};

// A consumer's polls: two with records (one partition, then two topics), an idle long poll, and
// one whose partition answers OFFSET_OUT_OF_RANGE.
std::vector<Step> consumer_session(int16_t version) {
  return {
      out(fetch_request(version, 7, "billing-svc")),
      in(fetch_response(version, 7, {{"orders", {{0, 0, record_batch(0, 3, kSecret)}}}})),
      out(fetch_request(version, 8, "billing-svc")),
      in(fetch_response(version, 8, {{"orders", {{0, 0, ""}, {1, 0, record_batch(5, 2, kSecret)}}},
                                     {"payments", {{0, 0, record_batch(1, 1, kSecret)}}}})),
      out(fetch_request(version, 9, "billing-svc")),
      in(fetch_response(version, 9, {{"orders", {{0, 0, ""}, {1, 0, ""}}}})),
      out(fetch_request(version, 10, "billing-svc")),
      in(fetch_response(version, 10, {{"orders", {{0, 1, ""}}}})),
  };
}
const std::vector<std::string> kConsumerCalls = {
    "poll|orders|0|3|-1|billing-svc||",
    "poll|||3|-1|billing-svc||",
    "poll|orders|0|0|-1|billing-svc|OFFSET_OUT_OF_RANGE|",
};

TEST(KafkaMatch, CapturedConversationsOfKafkajs) {
  for (const Capture& c : captures()) {
    SCOPED_TRACE(c.name);
    ASSERT_TRUE(looks_like_kafka_client(c.steps[0].bytes)) << "the first request is recognised";
    Result r = feed(c.steps);
    EXPECT_EQ(describe(r.calls), c.calls);
    size_t requests = 0;
    for (const Step& s : c.steps) requests += s.direction == Direction::kEgress;
    EXPECT_GE(r.counters.requests, requests);
    EXPECT_EQ(r.counters.unmatched_requests + r.counters.unmatched_responses + r.counters.invalid +
                  r.counters.skipped_bytes + r.counters.truncated,
              0u);
    for (const DbCall& call : r.calls) EXPECT_EQ(fuzz::check_call(call), "") << fuzz::describe(call);
  }
}

// Cut at every offset of every chunk, the captures give the same calls.
TEST(KafkaMatch, CapturesSplitAtEveryOffset) {
  for (const Capture& c : captures()) {
    for (size_t i = 0; i < c.steps.size(); ++i) {
      for (size_t k = 1; k < c.steps[i].bytes.size(); ++k) {
        std::vector<fuzz::Piece> pieces = whole_pieces(c.steps);
        std::string_view b = c.steps[i].bytes;
        pieces[i] = {c.steps[i].direction, b.substr(0, k), k};
        pieces.insert(pieces.begin() + i + 1, {c.steps[i].direction, b.substr(k), b.size() - k});
        ASSERT_EQ(describe(feed(pieces).calls), c.calls) << c.name << ": chunk " << i << " at " << k;
      }
    }
  }
}

TEST(KafkaMatch, ProducerSessionClassicAndFlexible) {
  for (int16_t version : {3, 7, 9, 11}) {
    SCOPED_TRACE(version);
    Result r = feed(producer_session(version));
    EXPECT_EQ(describe(r.calls), kProducerCalls);
    EXPECT_EQ(r.counters.requests, 5u);
    EXPECT_EQ(r.counters.calls, 4u);
    EXPECT_EQ(r.counters.unmatched_requests + r.counters.unmatched_responses + r.counters.invalid +
                  r.counters.skipped_bytes,
              0u);
    for (const DbCall& c : r.calls) {
      EXPECT_EQ(fuzz::check_call(c), "") << fuzz::describe(c);
      EXPECT_EQ(c.system, "kafka");
    }
  }
}

TEST(KafkaMatch, ConsumerSessionSkipsIdlePolls) {
  for (int16_t version : {4, 7, 11, 12}) {
    SCOPED_TRACE(version);
    Result r = feed(consumer_session(version));
    EXPECT_EQ(describe(r.calls), kConsumerCalls);
    EXPECT_EQ(r.counters.requests, 4u);
    EXPECT_EQ(r.counters.unmatched_requests, 0u);
  }
}

// Topic ids (KIP-516): "orders" and "payments" as a Metadata v12 answer names them; a third id
// that no answer names.
const std::string kOrdersId(16, '\x11'), kPaymentsId = std::string(15, '\x22') + "\x01",
                  kUnknownId(16, '\x33');
std::vector<Step> metadata_exchange(int16_t version = 12) {
  return {out(metadata_request(version, 1, "svc")),
          in(metadata_response(version, 1, {{"orders", kOrdersId}, {"payments", kPaymentsId}}))};
}
// A Fetch, a Produce and a Fetch of an unnamed topic, all v13 (topics by id).
std::vector<Step> topic_id_session() {
  return {
      out(fetch_request(13, 7, "svc")),
      in(fetch_response(13, 7, {{"", {{0, 0, record_batch(5, 2, "v")}}, kOrdersId}})),
      out(produce_request(13, 8, "svc", -1, {{"", {{3, record_batch(0, 4, "v")}}, kPaymentsId}})),
      in(produce_response(13, 8, {{"", {{3, 0, 42}}, kPaymentsId}})),
      out(fetch_request(13, 9, "svc")),
      in(fetch_response(13, 9, {{"", {{1, 0, record_batch(9, 1, "v")}}, kUnknownId}})),
  };
}

// Fetch and Produce v13+ name topics by id: the names come from a Metadata answer of the same
// process, here on another connection (the client asks any broker for metadata).
TEST(KafkaMatch, TopicIdsAreNamedByTheProcesssMetadataAnswers) {
  DbMatchOptions options;
  options.kafka_topic_names = std::make_shared<TopicNames>();
  Result metadata = feed(metadata_exchange(), options);
  EXPECT_TRUE(metadata.calls.empty()) << "a Metadata exchange is no call";
  EXPECT_EQ(options.kafka_topic_names->size(), 2u);

  const std::vector<Step> session = topic_id_session();
  Result r = feed(session, options);
  ASSERT_EQ(r.calls.size(), 3u);
  EXPECT_EQ(r.calls[0].operation, "poll");
  EXPECT_EQ(r.calls[0].destination, "orders");
  EXPECT_EQ(r.calls[0].message_count, 2);
  EXPECT_EQ(r.calls[1].operation, "send");
  EXPECT_EQ(r.calls[1].destination, "payments");
  EXPECT_EQ(r.calls[1].partition, "3");
  EXPECT_EQ(r.calls[1].offset, 42);
  EXPECT_EQ(r.calls[2].destination, "") << "an id no Metadata answer named";
  for (const DbCall& c : r.calls) EXPECT_EQ(fuzz::check_call(c), "") << fuzz::describe(c);

  // Without the process's names (or before its Metadata), ids stay unnamed; older Metadata
  // versions carry no ids.
  EXPECT_EQ(feed(session).calls[0].destination, "");
  DbMatchOptions old;
  old.kafka_topic_names = std::make_shared<TopicNames>();
  feed(metadata_exchange(9), old);
  EXPECT_EQ(old.kafka_topic_names->size(), 0u);
  EXPECT_EQ(feed(session, old).calls[0].destination, "");
}

TEST(KafkaMatch, MetadataCutInsideItsTopicsNamesTheTopicsBeforeTheCut) {
  DbMatchOptions options;
  options.kafka_topic_names = std::make_shared<TopicNames>();
  std::vector<MetadataTopic> topics;
  for (int i = 0; i < 40; ++i) topics.push_back({"topic-" + std::to_string(i), std::string(16, static_cast<char>(i + 1))});
  const std::string answer = metadata_response(12, 1, topics);
  const std::string request = metadata_request(12, 1, "svc");
  // The capture holds the first 1 KiB of the answer's one read.
  feed(std::vector<fuzz::Piece>{{Direction::kEgress, request, request.size()},
                                {Direction::kIngress, answer.substr(0, 1024), answer.size()}},
       options);
  const size_t learnt = options.kafka_topic_names->size();
  EXPECT_GT(learnt, 5u);
  EXPECT_LT(learnt, 40u);
  EXPECT_EQ(options.kafka_topic_names->name_of(std::string(16, '\x01')), "topic-0");
}

TEST(KafkaMatch, ErrorsCarryTheKafkaErrorName) {
  Result r = feed({out(produce_request(7, 1, "shop", -1, {{"orders", {{0, record_batch(0, 1, kSecret)}}}})),
                   in(produce_response(7, 1, {{"orders", {{0, 6, -1}}}})),
                   out(produce_request(8, 2, "shop", -1, {{"orders", {{0, record_batch(0, 1, kSecret)}}}})),
                   in(produce_response(8, 2, {{"orders", {{0, 87, -1}}}}))});
  EXPECT_EQ(describe(r.calls), (std::vector<std::string>{"send|orders|0|1|-1|shop|NOT_LEADER_OR_FOLLOWER|",
                                                          "send|orders|0|1|-1|shop|87|"}));
  EXPECT_TRUE(r.calls[0].error);
  EXPECT_EQ(error_name(-1), "UNKNOWN_SERVER_ERROR");
}

TEST(KafkaMatch, CallTimesSpanRequestToAnswer) {
  auto m = make_kafka_matcher([](DbCall&&) {}, {});
  std::vector<DbCall> calls;
  m = make_kafka_matcher([&](DbCall&& c) { calls.push_back(std::move(c)); }, {});
  const std::string req = produce_request(7, 1, "shop", -1, {{"orders", {{0, record_batch(0, 1, "x")}}}});
  const std::string resp = produce_response(7, 1, {{"orders", {{0, 0, 1}}}});
  m->feed(Direction::kEgress, {std::string_view(req).substr(0, 10), 10, 1000});
  m->feed(Direction::kEgress, {std::string_view(req).substr(10), req.size() - 10, 1500});
  m->feed(Direction::kIngress, {std::string_view(resp).substr(0, 5), 5, 2000});
  m->feed(Direction::kIngress, {std::string_view(resp).substr(5), resp.size() - 5, 2600});
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].start_ns, 1000u);
  EXPECT_EQ(calls[0].end_ns, 2600u);
}

TEST(KafkaMatch, PipelinedRequestsAnswerInOrderAndLostAnswersAreCounted) {
  std::vector<Step> steps = {
      out(produce_request(7, 1, "shop", -1, {{"a", {{0, record_batch(0, 1, "x")}}}}) +
          produce_request(7, 2, "shop", -1, {{"b", {{0, record_batch(0, 1, "x")}}}}) +
          produce_request(7, 3, "shop", -1, {{"c", {{0, record_batch(0, 1, "x")}}}})),
      // The answer to 2 never came (a gap the capture missed would do the same): 1 and 3 match.
      in(produce_response(7, 1, {{"a", {{0, 0, 1}}}}) + produce_response(7, 3, {{"c", {{0, 0, 3}}}})),
      in(produce_response(7, 99, {{"z", {{0, 0, 3}}}})),
  };
  Result r = feed(steps);
  EXPECT_EQ(describe(r.calls), (std::vector<std::string>{"send|a|0|1|1|shop||", "send|c|0|1|3|shop||"}));
  EXPECT_EQ(r.counters.unmatched_requests, 1u);
  EXPECT_EQ(r.counters.unmatched_responses, 1u);
}

TEST(KafkaMatch, AnswersBeforeAnyRequestAreSkippedUntilOneStartsAMessage) {
  // Mid-stream: the tail of an answer to a request never seen, then a normal exchange.
  const std::string old = fetch_response(11, 5, {{"orders", {{0, 0, record_batch(0, 2, kSecret)}}}});
  std::vector<fuzz::Piece> pieces = {
      {Direction::kIngress, std::string_view(old).substr(9), old.size() - 9},
  };
  const std::string req = fetch_request(11, 6, "c");
  const std::string resp = fetch_response(11, 6, {{"orders", {{0, 0, record_batch(2, 1, "x")}}}});
  pieces.push_back({Direction::kEgress, req, req.size()});
  // The answer in pieces shorter than the 8 bytes that recognise a message start.
  for (size_t at = 0; at < resp.size(); at += 3) {
    pieces.push_back({Direction::kIngress, std::string_view(resp).substr(at, 3),
                      std::min<size_t>(3, resp.size() - at)});
  }
  for (bool from_start : {true, false}) {
    Result r = feed(pieces, {}, from_start);
    EXPECT_EQ(describe(r.calls), (std::vector<std::string>{"poll|orders|0|1|-1|c||"})) << from_start;
    EXPECT_EQ(r.counters.skipped_bytes, old.size() - 9) << from_start;
  }
}

// A capture cut short (the probe copies the first bytes of each syscall): the records whose batch
// headers went uncaptured are not counted, and the call says it was truncated.
TEST(KafkaMatch, UncapturedRecordBatchesLeaveTheCountUnknown) {
  std::string records;
  for (int i = 0; i < 20; ++i) records += record_batch(i * 10, 10, std::string(200, 'v'));
  const std::string resp = fetch_response(11, 1, {{"orders", {{0, 0, records}}}});
  const std::string req = fetch_request(11, 1, "c");
  Result r = feed(std::vector<fuzz::Piece>{{Direction::kEgress, req, req.size()},
                                           {Direction::kIngress, std::string_view(resp).substr(0, 4096), resp.size()}});
  ASSERT_EQ(r.calls.size(), 1u);
  EXPECT_EQ(r.calls[0].destination, "orders");
  EXPECT_EQ(r.calls[0].message_count, -1);
  EXPECT_TRUE(r.calls[0].truncated);
  // Whole, the same answer counts every record.
  r = feed(std::vector<fuzz::Piece>{{Direction::kEgress, req, req.size()},
                                    {Direction::kIngress, resp, resp.size()}});
  ASSERT_EQ(r.calls.size(), 1u);
  EXPECT_EQ(r.calls[0].message_count, 200);
}

// A capture that ends inside a request or answer naming several topics or partitions must not
// name the one it happened to hold.
TEST(KafkaMatch, CutMessagesNameOnlyWhatTheyDeclared) {
  const std::string two = produce_request(7, 1, "shop", -1,
                                          {{"orders", {{0, record_batch(0, 1, "x")}}},
                                           {"payments", {{0, record_batch(0, 1, "x")}}}});
  const std::string answer = produce_response(7, 1, {{"orders", {{0, 0, 4}}}, {"payments", {{0, 0, 9}}}});
  Result r = feed(std::vector<fuzz::Piece>{{Direction::kEgress, std::string_view(two).substr(0, 60), two.size()},
                                           {Direction::kIngress, answer, answer.size()}});
  ASSERT_EQ(r.calls.size(), 1u);
  EXPECT_EQ(fuzz::describe(r.calls[0]), "send|||-1|-1|shop||T");
  // A fetch answer cut inside its first partition's records: its other partitions are unknown.
  std::string records;
  for (int i = 0; i < 10; ++i) records += record_batch(i, 1, std::string(500, 'v'));
  const std::string fetch = fetch_response(11, 2, {{"orders", {{0, 0, records}, {1, 0, records}}}});
  const std::string req = fetch_request(11, 2, "c");
  r = feed(std::vector<fuzz::Piece>{{Direction::kEgress, req, req.size()},
                                    {Direction::kIngress, std::string_view(fetch).substr(0, 4096), fetch.size()}});
  ASSERT_EQ(r.calls.size(), 1u);
  EXPECT_EQ(r.calls[0].destination, "") << "the second partition, or a second topic, went unseen";
  EXPECT_EQ(r.calls[0].partition, "");
}

// A Produce cut before its acks is not taken for acks=0: its call waits for the answer.
TEST(KafkaMatch, AProduceCutBeforeItsAcksWaitsForItsAnswer) {
  const std::string req = produce_request(7, 1, "shop", -1, {{"orders", {{0, record_batch(0, 1, "x")}}}});
  const std::string resp = produce_response(7, 1, {{"orders", {{0, 0, 4}}}});
  auto pieces = std::vector<fuzz::Piece>{{Direction::kEgress, std::string_view(req).substr(0, 20), req.size()},
                                         {Direction::kIngress, resp, resp.size()}};
  std::vector<DbCall> calls;
  auto m = make_kafka_matcher([&](DbCall&& c) { calls.push_back(std::move(c)); });
  m->feed(Direction::kEgress, {pieces[0].captured, pieces[0].length, 10});
  EXPECT_TRUE(calls.empty()) << "emitted at its request, as if acks were 0";
  m->feed(Direction::kIngress, {pieces[1].captured, pieces[1].length, 20});
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].end_ns, 20u);
  EXPECT_EQ(m->counters().unmatched_responses, 0u);
}

TEST(KafkaMatch, ControlBatchesAndAPartialLastBatchCountNoMessages) {
  std::string control = record_batch(9, 1, "");
  control[12 + 4 + 1 + 4 + 1] |= 0x20;  // attributes: isControl (a commit marker)
  const std::string partial = record_batch(10, 5, "v").substr(0, 70);  // the broker's cut
  const std::string resp = fetch_response(11, 3, {{"orders", {{0, 0, record_batch(0, 3, "v") + control + partial}}}});
  const std::string req = fetch_request(11, 3, "c");
  Result r = feed(std::vector<fuzz::Piece>{{Direction::kEgress, req, req.size()}, {Direction::kIngress, resp, resp.size()}});
  ASSERT_EQ(r.calls.size(), 1u);
  EXPECT_EQ(r.calls[0].message_count, 3);
}

TEST(KafkaMatch, SplitAtEveryOffsetFindsTheSameCalls) {
  for (const auto& [steps, expected] : {std::pair{producer_session(7), kProducerCalls},
                                        std::pair{consumer_session(12), kConsumerCalls}}) {
    for (size_t i = 0; i < steps.size(); ++i) {
      for (size_t k = 1; k < steps[i].bytes.size(); ++k) {
        std::vector<fuzz::Piece> pieces = whole_pieces(steps);
        std::string_view b = steps[i].bytes;
        pieces[i] = {steps[i].direction, b.substr(0, k), k};
        pieces.insert(pieces.begin() + i + 1, {steps[i].direction, b.substr(k), b.size() - k});
        Result r = feed(pieces);
        ASSERT_EQ(describe(r.calls), expected) << "chunk " << i << " at " << k;
        ASSERT_EQ(r.counters.invalid + r.counters.skipped_bytes, 0u) << i << " at " << k;
      }
    }
  }
}

TEST(KafkaMatch, ByteByByte) {
  std::vector<fuzz::Piece> pieces;
  std::vector<Step> steps = producer_session(9);
  for (const Step& s : steps) {
    for (size_t k = 0; k < s.bytes.size(); ++k) {
      pieces.push_back({s.direction, std::string_view(s.bytes).substr(k, 1), 1});
    }
  }
  EXPECT_EQ(describe(feed(pieces).calls), kProducerCalls);
}

// The conversation stopped after every byte: the calls found are the first ones, unchanged.
TEST(KafkaMatch, EveryTruncatedPrefix) {
  for (const auto& [steps, expected] : {std::pair{producer_session(9), kProducerCalls},
                                        std::pair{consumer_session(11), kConsumerCalls}}) {
    size_t total = 0;
    for (const Step& s : steps) total += s.bytes.size();
    for (size_t n = 0; n <= total; ++n) {
      std::vector<fuzz::Piece> pieces;
      size_t left = n;
      for (const Step& s : steps) {
        if (left == 0) break;
        size_t take = std::min(left, s.bytes.size());
        pieces.push_back({s.direction, std::string_view(s.bytes).substr(0, take), take});
        left -= take;
      }
      Result r = feed(pieces);
      ASSERT_LE(r.calls.size(), expected.size()) << n;
      for (size_t i = 0; i < r.calls.size(); ++i) {
        ASSERT_EQ(fuzz::describe(r.calls[i]), expected[i]) << "prefix " << n << " call " << i;
      }
    }
  }
}

// Each chunk captured short: never a wrong call, never a leak.
TEST(KafkaMatch, CaptureCutChunks) {
  for (const auto& [steps, expected] : {std::pair{producer_session(7), kProducerCalls},
                                        std::pair{consumer_session(12), kConsumerCalls}}) {
    for (size_t i = 0; i < steps.size(); ++i) {
      for (size_t k = 0; k < steps[i].bytes.size(); ++k) {
        std::vector<fuzz::Piece> pieces = whole_pieces(steps);
        pieces[i].captured = pieces[i].captured.substr(0, k);
        Result r = feed(pieces);
        for (const DbCall& c : r.calls) {
          ASSERT_EQ(fuzz::check_call(c), "") << i << " at " << k;
          if (c.truncated) {
            // What a cut call names, it names right: some expected call has that destination.
            if (c.destination.empty()) continue;
            bool named = false;
            for (const std::string& e : expected) {
              named = named || e.starts_with(c.operation + "|" + c.destination + "|");
            }
            ASSERT_TRUE(named) << "chunk " << i << " at " << k << ": " << fuzz::describe(c);
            continue;
          }
          ASSERT_NE(std::find(expected.begin(), expected.end(), fuzz::describe(c)), expected.end())
              << "chunk " << i << " at " << k << ": " << fuzz::describe(c);
        }
      }
    }
  }
}

TEST(KafkaDetect, RecognisesRequestsAndNothingElse) {
  EXPECT_TRUE(looks_like_kafka_client(request(18, 3, 0, "shop", true, "")));  // ApiVersions
  EXPECT_TRUE(looks_like_kafka_client(fetch_request(11, 5, "billing")));
  EXPECT_TRUE(looks_like_kafka_client(request(3, 1, 1, "rdkafka", false, "")));
  const std::string rejected[] = {
      "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
      bin("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"),  // TLS ClientHello
      "*1\r\n$4\r\nPING\r\n",
      bin("\x00\x00\x00\x08\x04\xd2\x16\x2f"),  // PostgreSQL SSLRequest
      // PostgreSQL's start-up message (literals split so that no \x escape swallows a letter).
      bin("\x00\x00\x00\x29\x00\x03\x00\x00user\x00" "postgres\x00" "database\x00" "shop\x00\x00"),
      bin("\x21\x00\x00\x00\x03SELECT 1"),  // MySQL COM_QUERY
      bin("\x00\x00\x00\x0a\x00\x01\x00\x02\x00\x00\x00\x01\x00\x05"),  // id cut short
      // ZooKeeper's ConnectRequest: reads as Produce v0 with an empty client id.
      bin("\x00\x00\x00\x2d\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
          "\x00\x00\x75\x30\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x10"
          "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"),
      request(3, 1, 1, "", false, ""),  // no client id: no Kafka client sends that
      "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
  };
  for (const std::string& bytes : rejected) EXPECT_FALSE(looks_like_kafka_client(bytes)) << bytes;
}

namespace fs = std::filesystem;
constexpr std::string_view kCorpusName = "kafka";

TEST(KafkaFuzzCorpus, EveryEntryPassesTheFuzzChecks) {
  size_t count = 0;
  for (const auto& [path, bytes] : corpus::entries(kCorpusName)) {
    EXPECT_EQ(fuzz::check_input(bytes), "") << path;
    ++count;
  }
  EXPECT_GE(count, 3u);
}

TEST(KafkaFuzzCorpus, TheChecksCatchBadCalls) {
  DbCall c;
  c.system = "kafka";
  c.operation = "send";
  EXPECT_EQ(fuzz::check_call(c), "");
  c.destination = "orders {\"card\":\"secret\"}";
  EXPECT_NE(fuzz::check_call(c), "");
  c.destination = "orders";
  c.status_code = "NOT_LEADER_OR_FOLLOWER";
  EXPECT_NE(fuzz::check_call(c), "");  // a code without the error flag
  c.error = true;
  EXPECT_EQ(fuzz::check_call(c), "");
  c.offset = 3;
  EXPECT_NE(fuzz::check_call(c), "");  // an offset without its partition
}

// Writes the seeds: run with --gtest_also_run_disabled_tests
// --gtest_filter='KafkaFuzzCorpus.DISABLED_WriteSeeds'.
TEST(KafkaFuzzCorpus, DISABLED_WriteSeeds) {
  const fs::path dir = corpus::dir(kCorpusName);
  fs::create_directories(dir);
  std::ofstream(dir / "producer_v7", std::ios::binary) << as_records(producer_session(7));
  std::ofstream(dir / "producer_v9_flexible", std::ios::binary) << as_records(producer_session(9));
  std::ofstream(dir / "consumer_v11", std::ios::binary) << as_records(consumer_session(11));
  std::ofstream(dir / "consumer_v12_flexible", std::ios::binary) << as_records(consumer_session(12));
  std::vector<Step> by_id = metadata_exchange();
  for (Step& step : topic_id_session()) by_id.push_back(std::move(step));
  std::ofstream(dir / "topic_ids_v13", std::ios::binary) << as_records(by_id);
  for (const Capture& c : captures()) {
    std::string name = std::string("kafkajs_") + c.name;
    std::replace(name.begin(), name.end(), ' ', '_');
    std::ofstream(dir / name, std::ios::binary) << as_records(c.steps);
  }
}

}  // namespace
}  // namespace hodos::protocols::kafka
