// The source registry: choices survive a restart (a new registry on the same file), every write
// replaces the file whole (no temporary left, a failed write changes nothing), malformed files are
// refused with the reason, and a name resolves the way a user means it.
#include "agent/source_registry.h"

#include <gtest/gtest.h>

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "discovery_test_support.h"

namespace hodos::agent {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

std::string read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> files_in(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

TEST(SourceRegistryTest, ChoicesSurviveARestart) {
  TempDir dir;
  const std::string path = dir.path() + "/state/sources.json";  // the directory is created
  {
    SourceRegistry registry(path);
    EXPECT_TRUE(registry.overrides().empty());
    EXPECT_FALSE(fs::exists(path)) << "nothing chosen, nothing written";
    registry.set_enabled("http.server", false);
    registry.rename("http.server", "web");
    registry.rename("checkout", "shop");
    EXPECT_EQ(registry.version(), 3u);
  }
  SourceRegistry reloaded(path);
  const SourceOverrides o = reloaded.overrides();
  ASSERT_EQ(o.size(), 2u);
  EXPECT_EQ(o.at("http.server").enabled, false);
  EXPECT_EQ(o.at("http.server").name, "web");
  EXPECT_EQ(o.at("checkout").enabled, std::nullopt);
  EXPECT_EQ(o.at("checkout").name, "shop");

  // Renaming back to the discovered name and enabling leaves only what is still a choice.
  reloaded.rename("checkout", "checkout");
  EXPECT_EQ(SourceRegistry(path).overrides().count("checkout"), 0u);
  reloaded.set_enabled("http.server", true);
  EXPECT_EQ(SourceRegistry(path).overrides().at("http.server").enabled, true);
}

TEST(SourceRegistryTest, WritesReplaceTheFileWholeAndLeaveNoTemporary) {
  TempDir dir;
  const std::string path = dir.path() + "/sources.json";
  SourceRegistry registry(path);
  registry.set_enabled("a", false);
  const auto inode = [&] {
    struct stat st = {};
    ::stat(path.c_str(), &st);
    return st.st_ino;
  };
  const ino_t first = inode();
  registry.set_enabled("b", false);
  // A new file renamed over the old one (a reader never sees a half-written file), not a rewrite.
  EXPECT_NE(inode(), first);
  EXPECT_EQ(files_in(dir.path()), (std::vector<std::string>{"sources.json"}));
  EXPECT_EQ(decode_source_overrides(read(path)).size(), 2u);
  // An unchanged choice writes nothing.
  const ino_t second = inode();
  registry.set_enabled("b", false);
  EXPECT_EQ(inode(), second);
}

TEST(SourceRegistryTest, AFailedWriteChangesNothing) {
  TempDir dir;
  // The file's place is taken by a non-empty directory: the rename over it fails.
  const std::string path = dir.path() + "/sources.json";
  fs::create_directories(path + "/occupied");
  EXPECT_THROW(SourceRegistry{path}, SourceRegistryError) << "a directory is not a registry";
  EXPECT_THROW(write_file_atomically(path, "{}"), SourceRegistryError);
  EXPECT_EQ(files_in(dir.path()), (std::vector<std::string>{"sources.json"}))
      << "the temporary file is removed";

  // Through the registry: the choice is not taken when it cannot be saved.
  const std::string file = dir.path() + "/reg.json";
  SourceRegistry saved(file);
  saved.set_enabled("a", false);
  fs::remove(file);
  fs::create_directories(file + "/occupied");
  EXPECT_THROW(saved.set_enabled("b", false), SourceRegistryError);
  EXPECT_EQ(saved.overrides().count("b"), 0u);
  EXPECT_EQ(saved.version(), 1u);
}

TEST(SourceRegistryTest, InMemoryWhenThereIsNoPath) {
  SourceRegistry registry("");
  registry.set_enabled("x", false);
  EXPECT_EQ(registry.overrides().at("x").enabled, false);
}

TEST(SourceRegistryTest, MalformedFilesAreRefusedWithTheReason) {
  EXPECT_THROW(decode_source_overrides("not json"), SourceRegistryError);
  EXPECT_THROW(decode_source_overrides(R"({"version": 2, "sources": {}})"), SourceRegistryError);
  try {
    decode_source_overrides(R"({"version": 1, "sources": {"web": {"enabled": "no"}}})");
    FAIL();
  } catch (const SourceRegistryError& e) {
    EXPECT_STREQ(e.what(), "sources.web.enabled: expected true or false");
  }
  try {
    decode_source_overrides(R"({"version": 1, "sources": {"web": {"colour": 1}}})");
    FAIL();
  } catch (const SourceRegistryError& e) {
    EXPECT_STREQ(e.what(), "sources.web.colour: unknown key (valid: enabled, name)");
  }
  TempDir dir;
  const std::string path = dir.write("sources.json", "{\"version\": 1, \"sources\": [");
  try {
    SourceRegistry registry(path);
    FAIL();
  } catch (const SourceRegistryError& e) {
    EXPECT_NE(std::string(e.what()).find(path + ": not valid JSON"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("fix it or remove the file"), std::string::npos);
  }
}

TEST(SourceRegistryTest, RenameRefusesUnusableNames) {
  SourceRegistry registry("");
  EXPECT_THROW(registry.rename("a", ""), std::invalid_argument);
  EXPECT_THROW(registry.rename("a", "bad\nname"), std::invalid_argument);
  EXPECT_THROW(registry.rename("a", std::string(256, 'x')), std::invalid_argument);
  EXPECT_THROW(registry.rename("a", " padded"), std::invalid_argument);
  EXPECT_NO_THROW(registry.rename("a", "shop/checkout-v2 (eu)"));
  EXPECT_TRUE(registry.overrides().at("a").name == "shop/checkout-v2 (eu)");
}

TEST(ResolveSourceNameTest, AsTheUserMeansIt) {
  const std::vector<SourceNames> live = {
      {"http.server", "web"}, {"app", "app"}, {"app", "app"}, {"worker", "app"}};
  SourceOverrides saved;
  saved["http.server"].name = "web";
  saved["worker"].name = "app";
  saved["gone"].enabled = false;
  saved["old"].name = "legacy";

  // By the name spans carry now: a renamed source by its new name, every process of it.
  EXPECT_EQ(resolve_source_name("web", live, saved), (std::vector<std::string>{"http.server"}));
  EXPECT_EQ(resolve_source_name("app", live, saved), (std::vector<std::string>{"app", "worker"}));
  // Else by the discovered name.
  EXPECT_EQ(resolve_source_name("http.server", live, saved),
            (std::vector<std::string>{"http.server"}));
  // Else saved choices of sources not running now.
  EXPECT_EQ(resolve_source_name("gone", live, saved), (std::vector<std::string>{"gone"}));
  EXPECT_EQ(resolve_source_name("legacy", live, saved), (std::vector<std::string>{"old"}));
  EXPECT_TRUE(resolve_source_name("nothing", live, saved).empty());
}

TEST(SourceOverridesTest, EncodeDecodeRoundTrip) {
  SourceOverrides o;
  o["a"].enabled = false;
  o["b"].name = "bee";
  o["c"].enabled = true;
  o["c"].name = "sea";
  o["empty"];  // no choice: not written
  SourceOverrides back = decode_source_overrides(encode_source_overrides(o));
  o.erase("empty");
  EXPECT_EQ(back, o);
}

}  // namespace
}  // namespace hodos::agent
