#pragma once

// Which files of a folder are new and complete, for `anchord watch`: a
// controller's autosave folder polled at an interval. A file is complete
// once its size and modification time have not changed for `settle_ms`
// and it reads (the caller's reader says so); a file that does not read
// is retried while it is being written and reported and skipped once it
// has not changed for `give_up_ms`. Files are handed out in name order
// (Nanonis numbers its autosaves): a file waits while an earlier one is
// still pending. Every file is handed out at most once. Polling, not
// inotify: it works the same on network shares, where inotify sees no
// remote writes.
//
// States of a file: pending (seen, not yet read) → done (read: handed
// out) | skipped (did not read within give_up_ms of its last change; a
// later change makes it pending again). Files present at the first poll
// are ignored unless `existing` is set. Not thread-safe.

#include "anchord/util/status.h"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace anchord::daemon {

struct WatchOptions {
  // The folder. Not empty.
  std::string dir;
  // Shell pattern of the file names (fnmatch, no path). Default "*.sxm";
  // not empty.
  std::string pattern = "*.sxm";
  // A file counts as written once unchanged for this long, ms. Default
  // 1000; >= 0.
  int settle_ms = 1000;
  // A file that still does not read this long after its last change is
  // reported and skipped, ms. Default 10000; >= settle_ms.
  int give_up_ms = 10000;
  // Also hand out the files present at the first poll. Default false.
  bool existing = false;
  // Files tracked at most (names beyond are ignored, with a warning
  // once). Default 100000; >= 1.
  int max_files = 100000;

  // kOk, or kInvalidInput listing every violation.
  Status Validate() const;
};

// What happened to a file in one poll.
struct WatchEvent {
  enum class Kind { kPublished, kSkipped, kError };
  Kind kind = Kind::kPublished;
  std::string path;     // the file (empty for a folder error)
  std::string message;  // why it was skipped, or the folder error
};

// Reads (and publishes) the file at `path`; kOk when done, an error when
// it does not read (yet).
using WatchReader = std::function<Status(const std::string& path)>;

class FolderWatcher {
 public:
  using Clock = std::chrono::steady_clock;
  // Requires options.Validate().ok() (checked).
  explicit FolderWatcher(WatchOptions options);

  // Lists the folder once at `now` and hands every file that is due to
  // `read`, in name order. Never throws: a folder that cannot be listed is
  // a kError event.
  std::vector<WatchEvent> Poll(Clock::time_point now, const WatchReader& read);

  // Files handed out and skipped so far.
  int64_t published() const { return published_; }
  int64_t skipped() const { return skipped_; }

 private:
  enum class State { kIgnored, kPending, kDone, kSkipped };
  struct Entry {
    uintmax_t size = 0;
    std::filesystem::file_time_type mtime;
    Clock::time_point changed;
    State state = State::kPending;
    std::string last_error;
  };

  WatchOptions o_;
  std::map<std::string, Entry> files_;  // by file name: name order
  bool first_poll_ = true;
  bool warned_full_ = false;
  int64_t published_ = 0, skipped_ = 0;
};

}  // namespace anchord::daemon
