// TraceStore's private state, shared by the files that implement it (opening and retention in
// trace_store.cc, the write path in store_ingest.cc, the read paths in store_query.cc).
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <rocksdb/db.h>

#include "store/dependency_tracker.h"
#include "store/retention_filter.h"
#include "store/trace_store.h"

namespace hodos::store {

// unordered containers keyed by std::string that can be probed with a string_view.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using StringSet = std::unordered_set<std::string, StringHash, std::equal_to<>>;
template <class V>
using StringMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

// An exclusive flock on <data_dir>/hodos.lock, held for the store's lifetime. flock locks belong
// to the open file, so a second store in the same process is refused just like another process.
class DirectoryLock {
 public:
  explicit DirectoryLock(const std::string& dir);  // throws StoreError
  ~DirectoryLock();
  DirectoryLock(const DirectoryLock&) = delete;
  DirectoryLock& operator=(const DirectoryLock&) = delete;

 private:
  int fd_ = -1;
};

// Encoded resources or scopes and the small ids that spans refer to them by. Entries are
// "confirmed" once a write containing them succeeded; until then every batch that uses one
// writes it again, so a reader never sees a span whose dictionary entry is missing.
struct DictTable {
  struct Entry {
    uint64_t id;
    bool confirmed;
  };
  StringMap<Entry> ids;
  uint64_t next_id = 1;
};

// Ids for low-cardinality tags ("key\0value"), listed in index entries so that searches check
// tags without reading spans. A value gets its id the first time it is seen, so every span
// carrying it lists it; once a key has too many distinct values it "overflows" and values first
// seen afterwards get none (a search for one reads the candidate traces instead).
struct TagDictionary {
  struct Entry {
    uint32_t id;
    bool confirmed;  // persisted; until then every batch that uses it writes it again
  };
  StringMap<Entry> ids;
  StringMap<uint32_t> values_per_key;
  StringMap<bool> overflowed;  // key -> confirmed
  uint32_t next_id = 1;
};

struct TraceStore::Impl {
  explicit Impl(StoreOptions opts);
  ~Impl();

  // --- write path (store_ingest.cc)
  size_t ingest(const core::SpanBatch& batch);

  // --- read paths (store_query.cc)
  core::SpanBatch find_trace(const core::TraceId& trace_id) const;
  std::vector<core::TraceId> search(const TraceQuery& query) const;
  std::vector<std::string> services() const;
  // Whether an index body has a posting of a minute that ends after `since`.
  bool has_postings_since(std::string_view body, uint64_t since) const;
  std::vector<Operation> operations(std::string_view service,
                                    std::optional<core::SpanKind> kind) const;
  std::vector<DependencyLink> dependencies(uint64_t end_ns, uint64_t lookback_ns) const;
  std::vector<MetricsSeries> metrics(const MetricsQuery& query) const;
  // The encoded ResourceSpans / ScopeSpans of a dictionary id (cached); empty when missing.
  std::string dict_entry(char kind, uint64_t id) const;

  // --- retention (trace_store.cc)
  void enforce_retention();
  void compact();
  uint64_t sst_bytes(rocksdb::ColumnFamilyHandle* only = nullptr) const;
  uint64_t cutoff() const { return cutoff_ns->load(std::memory_order_relaxed); }
  void retention_loop();

  // Whether spans with this tag get their own index entries ('T'): configured keys, errors and
  // failing status codes -- rare values that a search without an operation looks for.
  bool tag_has_own_index(std::string_view key, std::string_view text) const;

  StoreOptions options;
  StringSet indexed_tag_keys;
  std::unique_ptr<DirectoryLock> lock;
  std::vector<std::shared_ptr<RetentionFilter>> filters;  // used by db's compactions
  std::unique_ptr<rocksdb::DB> db;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;  // destroyed before db
  rocksdb::ColumnFamilyHandle* spans_cf = nullptr;
  rocksdb::ColumnFamilyHandle* dicts_cf = nullptr;
  rocksdb::ColumnFamilyHandle* index_cf = nullptr;
  rocksdb::ColumnFamilyHandle* meta_cf = nullptr;
  rocksdb::ColumnFamilyHandle* aggregates_cf = nullptr;
  // Entries starting before this are expired: hidden from reads now, dropped by compaction.
  std::shared_ptr<std::atomic<uint64_t>> cutoff_ns = std::make_shared<std::atomic<uint64_t>>(0);

  // In-memory state of the write path, guarded by ingest_mu.
  std::mutex ingest_mu;
  DictTable resources;
  DictTable scopes;
  StringSet known_meta;  // meta keys written by this process
  std::vector<std::string> service_names;  // interned for the dependency tracker
  StringMap<uint32_t> service_ids;
  DependencyTracker dependencies_tracker;
  uint64_t last_batch_id = 0;  // postings keys (keys.h); persisted as 'b'

  // Written under ingest_mu and tags_mu (exclusive); searches read under tags_mu (shared).
  mutable std::shared_mutex tags_mu;
  TagDictionary tag_dict;

  // Decoded dictionary entries for reads.
  mutable std::shared_mutex dict_cache_mu;
  mutable std::unordered_map<uint64_t, std::string> resource_cache;
  mutable std::unordered_map<uint64_t, std::string> scope_cache;

  std::atomic<uint64_t> spans_ingested{0};
  std::atomic<uint64_t> spans_rejected{0};
  std::atomic<uint64_t> bytes_ingested{0};
  std::atomic<uint64_t> write_batches{0};
  // Whether any trace has a span sent again ('R', keys.h): until then searches skip the check.
  std::atomic<bool> any_resent{false};
  std::atomic<uint64_t> retention_runs{0};

  std::mutex retention_mu;  // one enforcement at a time
  std::mutex stop_mu;
  std::condition_variable stop_cv;
  bool stopping = false;
  std::thread retention_thread;
};

}  // namespace hodos::store
