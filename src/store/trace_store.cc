// Opening and closing the store, the RocksDB layout and tuning, and retention enforcement.
#include "store/trace_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>
#include <rocksdb/cache.h>
#include <rocksdb/convenience.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/memtablerep.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/table.h>
#include <spdlog/spdlog.h>

#include "store/keys.h"
#include "store/retention_filter.h"
#include "store/store_impl.h"

namespace hodos::store {

namespace {

rocksdb::CompressionType best_compression() {
  std::vector<rocksdb::CompressionType> supported = rocksdb::GetSupportedCompressions();
  for (rocksdb::CompressionType c :
       {rocksdb::kZSTD, rocksdb::kLZ4Compression, rocksdb::kSnappyCompression}) {
    if (std::find(supported.begin(), supported.end(), c) != supported.end()) return c;
  }
  return rocksdb::kNoCompression;
}

// A postings key without its minute and batch: the memtable keeps an insert hint per body, and
// a body's keys mostly arrive in order, so inserting one costs no skiplist search.
class PostingBodyTransform : public rocksdb::SliceTransform {
 public:
  const char* Name() const override { return "hodos.PostingBody"; }
  rocksdb::Slice Transform(const rocksdb::Slice& key) const override {
    std::string_view body = keys::posting_body({key.data(), key.size()});
    return {body.data(), body.size()};
  }
  bool InDomain(const rocksdb::Slice& key) const override {
    return key.size() > keys::kPostingSuffix;
  }
};

// The column family of the search index before it held posting lists (one entry per trace).
constexpr const char* kOldIndexFamily = "index";

void throw_if_error(const rocksdb::Status& s, std::string_view what) {
  if (!s.ok()) throw StoreError(fmt::format("store: {}: {}", what, s.ToString()));
}

}  // namespace

DirectoryLock::DirectoryLock(const std::string& dir) {
  std::string path = (std::filesystem::path(dir) / "hodos.lock").string();
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    throw StoreError(fmt::format("cannot open {}: {}", path, std::strerror(errno)));
  }
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    ::close(fd_);
    fd_ = -1;
    if (err == EWOULDBLOCK) {
      throw StoreError(fmt::format(
          "data directory {} is in use by another Hodos process; stop it or use --data-dir", dir));
    }
    throw StoreError(fmt::format("cannot lock {}: {}", path, std::strerror(err)));
  }
}

DirectoryLock::~DirectoryLock() {
  if (fd_ >= 0) ::close(fd_);  // closing releases the flock
}

TraceStore::Impl::Impl(StoreOptions opts)
    : options(std::move(opts)), dependencies_tracker(options.dependency_cache_spans) {
  for (const std::string& k : options.indexed_tag_keys) indexed_tag_keys.insert(k);
}

TraceStore::Impl::~Impl() {
  {
    std::lock_guard<std::mutex> g(stop_mu);
    stopping = true;
  }
  stop_cv.notify_all();
  if (retention_thread.joinable()) retention_thread.join();
  if (db) {
    for (rocksdb::ColumnFamilyHandle* h : handles) db->DestroyColumnFamilyHandle(h);
    handles.clear();
    db->Close();
    db.reset();
  }
}

std::unique_ptr<TraceStore> TraceStore::open(StoreOptions options) {
  if (options.data_dir.empty()) throw StoreError("store: the data directory is not set");
  if (!options.clock) options.clock = core::now_unix_nano;
  std::error_code ec;
  std::filesystem::create_directories(options.data_dir, ec);
  if (ec) {
    throw StoreError(
        fmt::format("cannot create data directory {}: {}", options.data_dir, ec.message()));
  }
  // If anything below throws, ~Impl releases what was acquired so far.
  auto impl = std::make_unique<Impl>(std::move(options));
  Impl& s = *impl;
  s.lock = std::make_unique<DirectoryLock>(s.options.data_dir);

  rocksdb::DBOptions db_options;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  db_options.max_background_jobs = std::max(2u, std::thread::hardware_concurrency() / 2);
  db_options.bytes_per_sync = 1 << 20;
  db_options.max_total_wal_size = 4 * s.options.write_buffer_bytes;
  db_options.keep_log_file_num = 3;
  db_options.max_log_file_size = 8 << 20;
  db_options.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  // The hash memtable of `spans` and the insert hints of `index` need single-threaded memtable
  // inserts; concurrent ingests still share group commits.
  db_options.allow_concurrent_memtable_write = false;

  std::shared_ptr<rocksdb::Cache> cache = rocksdb::NewLRUCache(s.options.block_cache_bytes);
  rocksdb::CompressionType compression = best_compression();
  uint64_t age_s = s.options.retention_age_ns / kNanosPerSecond;
  auto cf_options = [&](size_t block_size, size_t write_buffer, bool bloom, bool whole_key) {
    rocksdb::ColumnFamilyOptions o;
    o.compression = compression;
    o.bottommost_compression = compression;
    o.level_compaction_dynamic_level_bytes = true;
    o.write_buffer_size = write_buffer;
    o.max_write_buffer_number = 3;
    // Files are rewritten at least this often so that the retention filter sees age-expired
    // entries even in parts of the key space that receive no new writes.
    if (age_s > 0) o.periodic_compaction_seconds = std::clamp<uint64_t>(age_s / 4, 3600, 86400);
    rocksdb::BlockBasedTableOptions t;
    t.block_cache = cache;
    t.block_size = block_size;
    t.format_version = 5;
    t.cache_index_and_filter_blocks = true;
    t.pin_l0_filter_and_index_blocks_in_cache = true;
    if (bloom) t.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
    t.whole_key_filtering = whole_key;
    o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));
    return o;
  };

  auto cutoff = std::static_pointer_cast<const std::atomic<uint64_t>>(s.cutoff_ns);
  // The filters must outlive the DB, so the Impl owns them.
  auto make_filter = [&](RetentionFilter::Layout layout) {
    s.filters.push_back(std::make_shared<RetentionFilter>(layout, cutoff));
    return s.filters.back().get();
  };

  // spans: a trace is one 16-byte prefix, so a prefix bloom filter (not whole keys) answers
  // "is this trace here" per file and a trace reads with one prefix scan.
  rocksdb::ColumnFamilyOptions spans =
      cf_options(16 << 10, s.options.write_buffer_bytes, /*bloom=*/true, /*whole_key=*/false);
  spans.prefix_extractor.reset(rocksdb::NewFixedPrefixTransform(keys::kTraceIdSize));
  // Span keys are random: a hash of small per-trace skiplists inserts them without a search of
  // one big skiplist, and a trace's spans still read in order.
  spans.memtable_factory.reset(rocksdb::NewHashSkipListRepFactory(1 << 16));
  spans.compaction_filter = make_filter(RetentionFilter::Layout::kSpans);
  // postings: scanned by range, never probed by key, so a bloom filter would be wasted space.
  rocksdb::ColumnFamilyOptions index =
      cf_options(32 << 10, s.options.write_buffer_bytes, /*bloom=*/false, false);
  index.compaction_filter = make_filter(RetentionFilter::Layout::kIndex);
  index.memtable_insert_with_hint_prefix_extractor = std::make_shared<PostingBodyTransform>();
  rocksdb::ColumnFamilyOptions aggregates = cf_options(16 << 10, 4 << 20, false, false);
  aggregates.merge_operator = std::make_shared<VarintSumMergeOperator>();
  aggregates.compaction_filter = make_filter(RetentionFilter::Layout::kAggregates);
  rocksdb::ColumnFamilyOptions small = cf_options(16 << 10, 4 << 20, true, true);

  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors = {
      {rocksdb::kDefaultColumnFamilyName, small}, {"spans", spans},
      {"dicts", small},                           {"postings", index},
      {"meta", small},                            {"aggregates", aggregates}};
  // A data directory written by an older Hodos has its index in one entry per trace; it is
  // dropped below (its traces stay readable by id, but searches no longer find them).
  std::vector<std::string> existing;
  bool old_index = rocksdb::DB::ListColumnFamilies(db_options, s.options.data_dir, &existing)
                       .ok() &&
                   std::find(existing.begin(), existing.end(), kOldIndexFamily) != existing.end();
  if (old_index) descriptors.emplace_back(kOldIndexFamily, small);
  rocksdb::DB* raw = nullptr;
  rocksdb::Status st =
      rocksdb::DB::Open(db_options, s.options.data_dir, descriptors, &s.handles, &raw);
  if (!st.ok()) {
    throw StoreError(
        fmt::format("cannot open the trace store in {}: {}", s.options.data_dir, st.ToString()));
  }
  s.db.reset(raw);
  s.spans_cf = s.handles[1];
  s.dicts_cf = s.handles[2];
  s.index_cf = s.handles[3];
  s.meta_cf = s.handles[4];
  s.aggregates_cf = s.handles[5];
  if (old_index) {
    rocksdb::ColumnFamilyHandle* old = s.handles.back();
    s.handles.pop_back();
    st = s.db->DropColumnFamily(old);
    s.db->DestroyColumnFamilyHandle(old);
    throw_if_error(st, "dropping the old search index");
    spdlog::warn("store: {} held a search index of an older format; it was dropped: traces stored "
                 "before stay readable by id, but searches find only traces stored from now on",
                 s.options.data_dir);
  }

  // A cutoff raised by the size limit survives restarts; the age limit applies at once.
  std::string value;
  st = s.db->Get(rocksdb::ReadOptions(), s.meta_cf, std::string(1, keys::kMetaCutoff), &value);
  if (st.ok() && value.size() == 8) s.cutoff_ns->store(get_be64(value.data()));
  st = s.db->Get(rocksdb::ReadOptions(), s.meta_cf, std::string(1, keys::kMetaBatch), &value);
  if (st.ok() && value.size() == 8) s.last_batch_id = get_be64(value.data());
  uint64_t now = s.options.clock();
  if (s.options.retention_age_ns > 0 && now > s.options.retention_age_ns) {
    s.cutoff_ns->store(std::max(s.cutoff(), now - s.options.retention_age_ns));
  }
  {
    std::unique_ptr<rocksdb::Iterator> it(s.db->NewIterator(rocksdb::ReadOptions(), s.index_cf));
    it->Seek(std::string(1, keys::kIndexResent));
    s.any_resent = it->Valid() && it->key()[0] == keys::kIndexResent;
    throw_if_error(it->status(), "reading the index");
  }
  // Dictionary ids continue after the largest one written before.
  for (auto [kind, table] : {std::pair{keys::kDictResource, &s.resources},
                             std::pair{keys::kDictScope, &s.scopes}}) {
    std::unique_ptr<rocksdb::Iterator> it(s.db->NewIterator(rocksdb::ReadOptions(), s.dicts_cf));
    std::string last(1, kind);
    last.append(8, '\xff');
    it->SeekForPrev(last);
    if (it->Valid() && it->key().size() == 9 && it->key()[0] == kind) {
      table->next_id = get_be64(it->key().data() + 1) + 1;
    }
    throw_if_error(it->status(), "reading the dictionary");
  }

  // The tag dictionary, so that ids keep their meaning across restarts.
  {
    std::unique_ptr<rocksdb::Iterator> it(s.db->NewIterator(rocksdb::ReadOptions(), s.dicts_cf));
    for (it->Seek(std::string(1, keys::kDictTag));
         it->Valid() && it->key().size() > 1 && it->key()[0] == keys::kDictTag; it->Next()) {
      std::string_view key_value(it->key().data() + 1, it->key().size() - 1);
      std::string_view v(it->value().data(), it->value().size());
      uint64_t id;
      size_t sep = key_value.find('\0');
      if (sep == std::string_view::npos || !get_varint(&v, &id)) continue;
      s.tag_dict.ids.emplace(key_value, TagDictionary::Entry{static_cast<uint32_t>(id), true});
      ++s.tag_dict.values_per_key[std::string(key_value.substr(0, sep))];
      s.tag_dict.next_id = std::max<uint32_t>(s.tag_dict.next_id, static_cast<uint32_t>(id) + 1);
    }
    for (it->Seek(std::string(1, keys::kDictOverflow));
         it->Valid() && !it->key().empty() && it->key()[0] == keys::kDictOverflow; it->Next()) {
      s.tag_dict.overflowed.emplace(std::string(it->key().data() + 1, it->key().size() - 1), true);
    }
    throw_if_error(it->status(), "reading the tag dictionary");
  }

  if (s.options.retention_interval.count() > 0) {
    s.retention_thread = std::thread([&s] { s.retention_loop(); });
  }
  return std::unique_ptr<TraceStore>(new TraceStore(std::move(impl)));
}

TraceStore::TraceStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TraceStore::~TraceStore() = default;

size_t TraceStore::ingest(const core::SpanBatch& batch) { return impl_->ingest(batch); }
core::SpanBatch TraceStore::find_trace(const core::TraceId& id) const {
  return impl_->find_trace(id);
}
std::vector<core::TraceId> TraceStore::search(const TraceQuery& q) const {
  return impl_->search(q);
}
std::vector<std::string> TraceStore::services() const { return impl_->services(); }
std::vector<Operation> TraceStore::operations(std::string_view service,
                                              std::optional<core::SpanKind> kind) const {
  return impl_->operations(service, kind);
}
std::vector<DependencyLink> TraceStore::dependencies(uint64_t end_ns, uint64_t lookback_ns) const {
  return impl_->dependencies(end_ns, lookback_ns);
}
std::vector<MetricsSeries> TraceStore::metrics(const MetricsQuery& q) const {
  return impl_->metrics(q);
}
void TraceStore::enforce_retention() { impl_->enforce_retention(); }
void TraceStore::compact() { impl_->compact(); }
const std::string& TraceStore::data_dir() const { return impl_->options.data_dir; }

StoreStats TraceStore::stats() const {
  StoreStats st;
  st.spans_ingested = impl_->spans_ingested.load();
  st.spans_rejected = impl_->spans_rejected.load();
  st.bytes_ingested = impl_->bytes_ingested.load();
  st.write_batches = impl_->write_batches.load();
  st.retention_runs = impl_->retention_runs.load();
  st.retention_cutoff_ns = impl_->cutoff();
  st.disk_bytes = impl_->sst_bytes();
  st.span_disk_bytes = impl_->sst_bytes(impl_->spans_cf);
  st.index_disk_bytes = impl_->sst_bytes(impl_->index_cf);
  return st;
}

uint64_t TraceStore::Impl::sst_bytes(rocksdb::ColumnFamilyHandle* only) const {
  uint64_t total = 0;
  for (rocksdb::ColumnFamilyHandle* h : handles) {
    if (only != nullptr && h != only) continue;
    uint64_t v = 0;
    if (db->GetIntProperty(h, rocksdb::DB::Properties::kLiveSstFilesSize, &v)) total += v;
  }
  return total;
}

void TraceStore::Impl::compact() {
  rocksdb::CompactRangeOptions o;
  // Rewrite the last level too: that is where most expired entries sit.
  o.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForceOptimized;
  for (rocksdb::ColumnFamilyHandle* h : {spans_cf, index_cf, aggregates_cf}) {
    throw_if_error(db->CompactRange(o, h, nullptr, nullptr), "compaction");
  }
}

void TraceStore::Impl::enforce_retention() {
  std::lock_guard<std::mutex> g(retention_mu);
  uint64_t target = cutoff();
  uint64_t now = options.clock();
  if (options.retention_age_ns > 0 && now > options.retention_age_ns) {
    target = std::max(target, now - options.retention_age_ns);
  }
  bool over_size = false;
  uint64_t size = options.retention_bytes > 0 ? sst_bytes() : 0;
  if (options.retention_bytes > 0 && size > options.retention_bytes) {
    over_size = true;
    // Drop the oldest data until what remains is ~90% of the limit, so the next run is not due
    // right away. The per-minute byte totals tell how much each minute holds.
    double fraction =
        1.0 - 0.9 * static_cast<double>(options.retention_bytes) / static_cast<double>(size);
    std::vector<std::pair<uint64_t, uint64_t>> minutes;  // (minute, bytes), oldest first
    uint64_t total = 0;
    std::string from(1, keys::kAggTotal);
    put_be64(from, keys::minute_of(target));
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), aggregates_cf));
    for (it->Seek(from); it->Valid() && it->key().size() == 9 && it->key()[0] == keys::kAggTotal;
         it->Next()) {
      uint64_t minute = get_be64(it->key().data() + 1);
      if (minute + keys::kMinuteNs <= target) continue;
      std::string_view v(it->value().data(), it->value().size());
      uint64_t spans = 0, bytes = 0;
      if (!get_varint(&v, &spans) || !get_varint(&v, &bytes)) continue;
      minutes.emplace_back(minute, bytes);
      total += bytes;
    }
    throw_if_error(it->status(), "reading per-minute totals");
    double need = fraction * static_cast<double>(total);
    uint64_t acc = 0;
    for (const auto& [minute, bytes] : minutes) {
      acc += bytes;
      target = std::max(target, minute + keys::kMinuteNs);
      if (static_cast<double>(acc) >= need) break;
    }
  }
  if (target > cutoff()) {
    cutoff_ns->store(target);
    std::string v;
    put_be64(v, target);
    throw_if_error(db->Put(rocksdb::WriteOptions(), meta_cf, std::string(1, keys::kMetaCutoff), v),
                   "saving the retention cutoff");
  }
  ++retention_runs;
  // Age-expired entries leave the disk with regular (and periodic) compactions; exceeding the
  // size limit needs the space back now.
  if (over_size) compact();
}

void TraceStore::Impl::retention_loop() {
  std::unique_lock<std::mutex> l(stop_mu);
  while (!stopping) {
    if (stop_cv.wait_for(l, options.retention_interval, [this] { return stopping; })) break;
    l.unlock();
    try {
      enforce_retention();
    } catch (const std::exception& e) {
      spdlog::warn("store: retention failed: {}", e.what());
    }
    l.lock();
  }
}

}  // namespace hodos::store
