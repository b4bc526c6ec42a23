#include "exporters/file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <mutex>

#include "otlp/otlp_codec.h"
#include "pipeline/exporter_helper.h"

namespace hodos::exporters {

namespace {

namespace fs = std::filesystem;
using pipeline::Status;

struct FileSettings {
  fs::path path;
  bool proto = false;
  uint64_t max_bytes = 100ull << 20;
  int max_backups = 100;  // 0 keeps every rotated file
};

FileSettings read_settings(pipeline::ConfigNode& config) {
  FileSettings s;
  s.path = config.require_string("path");
  std::string format = config.get_string("format", "json");
  if (format == "proto") {
    s.proto = true;
  } else if (format != "json") {
    config.fail("format", fmt::format("'{}' is not supported; use json or proto", format));
  }
  pipeline::ConfigNode rotation = config.child("rotation");
  // Fractions are allowed (0.5 = 512 KiB), which also keeps rotation testable.
  double mb = rotation.get_double("max_megabytes", 100);
  if (mb <= 0) rotation.fail("max_megabytes", "must be greater than zero");
  s.max_bytes = static_cast<uint64_t>(mb * 1024 * 1024);
  s.max_backups = static_cast<int>(rotation.get_int("max_backups", 100, 0, 100'000));
  rotation.reject_unknown_keys();
  return s;
}

std::string errno_text() { return std::strerror(errno); }

class FileSender : public pipeline::BatchSender {
 public:
  FileSender(FileSettings settings, std::string id) : s_(std::move(settings)), id_(std::move(id)) {}
  ~FileSender() override { close_file(); }

  Status start() override {
    std::lock_guard lock(mu_);
    std::error_code ec;
    fs::path parent = s_.path.parent_path();
    if (!parent.empty()) {
      fs::create_directories(parent, ec);
      if (ec) {
        return Status::permanent(fmt::format(
            "exporters.{}.path: cannot create directory {}: {}; choose a writable location", id_,
            parent.string(), ec.message()));
      }
    }
    if (auto err = open_file()) {
      return Status::permanent(fmt::format("exporters.{}.path: {}", id_, *err));
    }
    return Status::ok();
  }

  Status send(const core::SpanBatch& batch, pipeline::Deadline) override {
    std::string record;
    if (s_.proto) {
      std::string body = otlp::encode_proto(batch);
      const uint32_t n = static_cast<uint32_t>(body.size());
      const char prefix[4] = {static_cast<char>(n >> 24), static_cast<char>(n >> 16),
                              static_cast<char>(n >> 8), static_cast<char>(n)};
      record.reserve(4 + body.size());
      record.append(prefix, 4);
      record.append(body);
    } else {
      record = otlp::encode_json(batch);
      record.push_back('\n');
    }

    std::lock_guard lock(mu_);
    if (fd_ < 0) {
      if (auto err = open_file()) return Status::retryable(*err);
    }
    if (size_ > 0 && size_ + record.size() > s_.max_bytes) {
      if (auto err = rotate()) return Status::retryable(*err);
    }
    // One write per record (O_APPEND, no user-space buffer): readers see whole lines, and the
    // data is in the kernel when send() returns.
    size_t done = 0;
    while (done < record.size()) {
      ssize_t n = ::write(fd_, record.data() + done, record.size() - done);
      if (n < 0) {
        if (errno == EINTR) continue;
        std::string err = fmt::format("cannot write {}: {}", s_.path.string(), errno_text());
        // Cut off the partial record so the file stays a sequence of whole records.
        if (done > 0 && ::ftruncate(fd_, static_cast<off_t>(size_)) != 0) {
          err += "; the file may now end with a partial record";
        }
        return Status::retryable(std::move(err));
      }
      done += static_cast<size_t>(n);
    }
    size_ += record.size();
    return Status::ok();
  }

  void shutdown() override {
    std::lock_guard lock(mu_);
    if (fd_ >= 0) ::fsync(fd_);
    close_file();
  }

 private:
  std::optional<std::string> open_file() {
    fd_ = ::open(s_.path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd_ < 0) return fmt::format("cannot open {}: {}", s_.path.string(), errno_text());
    struct stat st {};
    size_ = ::fstat(fd_, &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
    return std::nullopt;
  }

  void close_file() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  fs::path backup(int i) const { return fs::path(s_.path.string() + "." + std::to_string(i)); }

  // path.(n-1) -> path.n ... path -> path.1; the oldest beyond max_backups is deleted.
  std::optional<std::string> rotate() {
    close_file();
    std::error_code ec;
    int highest = 0;
    while (fs::exists(backup(highest + 1), ec)) ++highest;
    if (s_.max_backups > 0) {
      for (int i = highest; i >= s_.max_backups; --i) fs::remove(backup(i), ec);
      highest = std::min(highest, s_.max_backups - 1);
    }
    for (int i = highest; i >= 1; --i) fs::rename(backup(i), backup(i + 1), ec);
    std::error_code moved;
    fs::rename(s_.path, backup(1), moved);
    // Reopen either way: if the rename failed we keep appending rather than losing data.
    auto err = open_file();
    if (moved) return fmt::format("cannot rotate {}: {}", s_.path.string(), moved.message());
    return err;
  }

  FileSettings s_;
  std::string id_;
  std::mutex mu_;
  int fd_ = -1;
  uint64_t size_ = 0;
};


}  // namespace

std::unique_ptr<pipeline::ExporterFactory> make_file_exporter_factory() {
  pipeline::ExporterHelperSettings defaults;
  // Writes are synchronous and local: no queue and no retry unless asked for.
  defaults.queue.enabled = false;
  defaults.retry.enabled = false;
  return pipeline::make_sender_exporter_factory(
      "file", defaults, [](const pipeline::CreateContext& ctx, pipeline::ConfigNode& config) {
        return std::make_unique<FileSender>(read_settings(config), ctx.id.str());
      });
}

}  // namespace hodos::exporters
