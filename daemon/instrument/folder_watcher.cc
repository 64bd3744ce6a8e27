#include "daemon/instrument/folder_watcher.h"

#include "anchord/util/check.h"
#include "anchord/util/validation.h"

#include <fnmatch.h>

#include <system_error>

namespace anchord::daemon {

namespace fs = std::filesystem;

Status WatchOptions::Validate() const {
  Violations v("watch");
  v.Require(!dir.empty(), "dir", "\"\"", "not empty");
  v.Require(!pattern.empty(), "pattern", "\"\"", "not empty");
  ANCHORD_OPTION_GE(v, settle_ms, 0);
  v.Require(give_up_ms >= settle_ms, "give_up_ms", give_up_ms, ">= settle_ms");
  ANCHORD_OPTION_GE(v, max_files, 1);
  return v.ToStatus();
}

FolderWatcher::FolderWatcher(WatchOptions options) : o_(std::move(options)) {
  const Status valid = o_.Validate();
  ANCHORD_CHECK(valid.ok()) << valid.message();
}

std::vector<WatchEvent> FolderWatcher::Poll(Clock::time_point now,
                                            const WatchReader& read) {
  std::vector<WatchEvent> events;
  // 1. List: every regular file whose name matches, its size and time.
  std::error_code ec;
  fs::directory_iterator it(o_.dir, ec), end;
  if (ec) {
    events.push_back({WatchEvent::Kind::kError, "",
                      "cannot list " + o_.dir + ": " + ec.message()});
    return events;
  }
  const bool first = first_poll_;
  first_poll_ = false;
  for (; it != end; it.increment(ec)) {
    if (ec) break;
    const fs::directory_entry& e = *it;
    std::error_code fe;
    if (!e.is_regular_file(fe) || fe) continue;
    const std::string name = e.path().filename().string();
    if (fnmatch(o_.pattern.c_str(), name.c_str(), 0) != 0) continue;
    const uintmax_t size = e.file_size(fe);
    if (fe) continue;  // gone meanwhile
    const fs::file_time_type mtime = e.last_write_time(fe);
    if (fe) continue;
    auto found = files_.find(name);
    if (found == files_.end()) {
      if (static_cast<int>(files_.size()) >= o_.max_files) {
        if (!warned_full_) {
          warned_full_ = true;
          events.push_back({WatchEvent::Kind::kError, e.path().string(),
                            "more than " + std::to_string(o_.max_files) +
                                " files: later names are ignored"});
        }
        continue;
      }
      Entry entry;
      entry.size = size;
      entry.mtime = mtime;
      entry.changed = now;
      entry.state = first && !o_.existing ? State::kIgnored : State::kPending;
      files_.emplace(name, entry);
      continue;
    }
    Entry& entry = found->second;
    if (entry.size != size || entry.mtime != mtime) {
      entry.size = size;
      entry.mtime = mtime;
      entry.changed = now;
      if (entry.state == State::kSkipped) entry.state = State::kPending;
    }
  }
  // 2. Hand out the due files in name order; stop at the first pending one
  // that is not due yet (later files wait for it).
  for (auto& [name, entry] : files_) {
    if (entry.state != State::kPending) continue;
    const auto quiet = now - entry.changed;
    if (quiet < std::chrono::milliseconds(o_.settle_ms)) break;
    const std::string path = (fs::path(o_.dir) / name).string();
    const Status s = read(path);
    if (s.ok()) {
      entry.state = State::kDone;
      ++published_;
      events.push_back({WatchEvent::Kind::kPublished, path, ""});
      continue;
    }
    entry.last_error = s.message();
    if (quiet >= std::chrono::milliseconds(o_.give_up_ms)) {
      entry.state = State::kSkipped;
      ++skipped_;
      events.push_back({WatchEvent::Kind::kSkipped, path, s.message()});
      continue;
    }
    break;  // still being written, perhaps: retry at the next poll
  }
  return events;
}

}  // namespace anchord::daemon
