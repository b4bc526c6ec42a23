// RESP (REdis Serialization Protocol, versions 2 and 3) read from untrusted captured bytes, one
// top-level value at a time, in as many pieces as the bytes arrive. Bulk payloads are counted, not
// buffered, so a multi-megabyte reply costs nothing and bytes the capture missed inside one are
// skipped by length; only a short prefix of what a span may need (command words, an error's code,
// a simple string) is kept.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace hodos::protocols::redis {

enum class ParseState : uint8_t { kSuccess, kNeedsMoreData, kInvalid };

// What uncaptured bytes did to the value being read.
enum class GapResult : uint8_t {
  kInside,  // they fell inside a bulk payload: the value goes on
  kEnded,   // they ended a bulk payload that was the value's last byte: the value is complete
  kLost,    // they covered framing: where the stream is now is unknown
};

// One element of a command (a bulk string of the request array, or a word of an inline command):
// its first bytes, kept up to the decoder's budget, and its full size.
struct KeptElement {
  uint32_t offset = 0;  // into RespDecoder::kept_bytes()
  uint32_t kept = 0;
  uint64_t size = 0;
  bool complete() const { return kept == size; }
};

// The summary of the last top-level value read. Views point into the decoder and stay valid until
// the next feed().
struct RespValue {
  char type = 0;           // type byte of the value itself ('+', '$', '*', '>' ...), after any
                           // attributes ('|') that preceded it
  bool truncated = false;  // the capture missed bytes inside it
  bool resp3 = false;      // holds a type only RESP3 has
  std::string_view text;   // simple string or error line, or a blob error's first bytes
  int64_t count = 0;       // length of a top-level aggregate (-1: null); elements of a command
  bool inline_command = false;
};

class RespDecoder {
 public:
  enum class Mode : uint8_t {
    kReplies,   // any RESP2/RESP3 value
    kCommands,  // what a client sends: an array of bulk strings, or an inline command line
  };
  static constexpr size_t kMaxDepth = 64;             // nested aggregates
  static constexpr size_t kMaxLineBytes = 64 * 1024;  // a simple string, error or inline command
  static constexpr size_t kKeptText = 64;             // of a simple string or error line
  static constexpr size_t kWordBytes = 64;            // of each of a command's first three elements

  // `literal_budget`: bytes of a command's elements kept in all (for keep_literals); whatever it
  // is, the first three elements (command, subcommand, first argument) keep kWordBytes each.
  explicit RespDecoder(Mode mode, size_t literal_budget = 0);

  // Consumes bytes from *buf: on kSuccess up to the end of one top-level value (value() describes
  // it), on kNeedsMoreData all of them. kInvalid leaves *buf at or before the offending byte; the
  // decoder must be reset() before it is fed again.
  ParseState feed(std::string_view* buf);
  // Accounts for `n` bytes that went by uncaptured.
  GapResult skip(uint64_t n);
  void reset();

  // No byte of a value has been read since the last one completed.
  bool at_boundary() const { return !begun_; }
  const RespValue& value() const { return value_; }
  // Elements of the last command (kCommands mode), in order; value().count says how many there
  // were, which can be more than were kept.
  const std::vector<KeptElement>& elements() const { return elements_; }
  std::string_view element_bytes(const KeptElement& e) const {
    return std::string_view(kept_).substr(e.offset, e.kept);
  }

 private:
  enum class State : uint8_t {
    kType,     // expecting a type byte
    kLine,     // reading the line after a type byte, up to CRLF
    kPayload,  // reading a bulk payload and its CRLF
    kInline,   // reading an inline command line
  };
  struct Frame {
    uint64_t remaining = 0;  // elements still to read
    bool attribute = false;  // an attribute map: does not count as an element of its parent
  };

  ParseState on_type(char c);
  ParseState on_line_end();
  ParseState on_inline_end();
  // An element (or the top-level value) ended; true when the top-level value is complete.
  bool element_done();
  bool begin_aggregate(int64_t count, bool attribute, bool pairs);
  void keep_payload(std::string_view bytes);
  void begin_value();

  Mode mode_;
  size_t literal_budget_;
  State state_ = State::kType;
  bool begun_ = false;
  bool done_ = false;  // value_ is complete; the next feed starts another
  char line_type_ = 0;
  bool line_cr_ = false;       // the last line byte was '\r'
  uint64_t line_bytes_ = 0;    // length of the line so far
  std::string line_;           // its first bytes (a number, or text up to kKeptText)
  uint64_t payload_left_ = 0;  // payload bytes, then 2 for its CRLF
  bool keep_payload_ = false;  // this payload is a command element or a top-level blob error
  size_t element_cap_ = 0;     // bytes of the current command element to keep
  size_t literal_used_ = 0;    // of literal_budget_
  std::vector<Frame> stack_;
  RespValue value_;
  std::string text_;  // value_.text's storage
  std::string kept_;  // kept element bytes
  std::vector<KeptElement> elements_;
};

// True when `data` starts like a command a client sends: "*<n>\r\n$<len>\r\n<word>\r\n" (or a
// prefix of it, when `allow_prefix`), or an inline command line naming one of a few commands.
bool starts_like_command(std::string_view data, bool allow_prefix);

// A command name: ASCII letters first, then letters, digits and '.', '_', '-', ':' (module commands
// such as "JSON.GET"), at most 64 bytes.
bool is_command_word(std::string_view word);

}  // namespace hodos::protocols::redis
