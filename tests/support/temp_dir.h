#pragma once

// A fresh directory under the system temp folder for a test's files,
// removed with everything in it on destruction.

#include <filesystem>
#include <string>

namespace anchord::testing {

class TempDir {
 public:
  // The folder is named `<prefix>_<pid>_<random>`.
  explicit TempDir(const std::string& prefix = "anchord_test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  // The path of `name` inside the folder.
  std::string operator/(const std::string& name) const {
    return (path_ / name).string();
  }

 private:
  std::filesystem::path path_;
};

}  // namespace anchord::testing
