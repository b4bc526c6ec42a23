// Real processes for the discovery tests: a temporary directory, a child started with a chosen
// environment (killed and reaped when the test ends), and a wait until it listens on TCP.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "agent/process_info.h"

extern char** environ;

namespace hodos::agent::testing {

class TempDir {
 public:
  TempDir() {
    std::string templ =
        (std::filesystem::temp_directory_path() / "hodos-discovery-XXXXXX").string();
    if (::mkdtemp(templ.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = templ;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string write(const std::string& name, const std::string& content) const {
    std::string file = path_ + "/" + name;
    std::ofstream(file) << content;
    return file;
  }

 private:
  std::string path_;
};

// The test's environment without anything that would change what discovery sees in the child.
inline std::map<std::string, std::string> clean_environment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string entry(*e);
    size_t eq = entry.find('=');
    if (eq == std::string::npos) continue;
    std::string key = entry.substr(0, eq);
    if (key.starts_with("OTEL_") || key == "HODOS_SELF" || key == "JAVA_TOOL_OPTIONS" ||
        key == "NODE_OPTIONS" || key == "PYTHONPATH" || key == "_JAVA_OPTIONS" ||
        key == "JDK_JAVA_OPTIONS") {
      continue;
    }
    env[key] = entry.substr(eq + 1);
  }
  return env;
}

// A program on PATH (or at an absolute path), else "".
inline std::string find_program(const std::string& name,
                                const std::vector<std::string>& extra_dirs = {}) {
  std::vector<std::string> dirs;
  if (const char* path = std::getenv("PATH")) {
    std::string p(path);
    size_t pos = 0;
    while (pos <= p.size()) {
      size_t end = p.find(':', pos);
      if (end == std::string::npos) end = p.size();
      dirs.push_back(p.substr(pos, end - pos));
      pos = end + 1;
    }
  }
  dirs.insert(dirs.end(), extra_dirs.begin(), extra_dirs.end());
  for (const std::string& dir : dirs) {
    std::string candidate = dir + "/" + name;
    if (!dir.empty() && ::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

class ChildProcess {
 public:
  ChildProcess(const std::vector<std::string>& argv, const std::string& cwd,
               const std::map<std::string, std::string>& extra_env = {},
               const std::string& log_file = "/dev/null") {
    std::map<std::string, std::string> env = clean_environment();
    for (const auto& [k, v] : extra_env) env[k] = v;
    std::vector<std::string> env_strings;
    for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
    std::vector<char*> args, envp;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    for (std::string& e : env_strings) envp.push_back(e.data());
    envp.push_back(nullptr);

    pid_ = ::fork();
    if (pid_ == 0) {
      if (::chdir(cwd.c_str()) != 0) ::_exit(126);
      int out = ::open(log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      int in = ::open("/dev/null", O_RDONLY);
      ::dup2(in, 0);
      ::dup2(out, 1);
      ::dup2(out, 2);
      ::setpgid(0, 0);  // its own group, so the whole tree (shims, workers) can be killed
      ::execvpe(args[0], args.data(), envp.data());
      ::_exit(127);
    }
  }
  ~ChildProcess() { stop(); }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }

  // Kills and reaps the child (and its process group).
  void stop() {
    if (pid_ <= 0) return;
    ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  // Waits for the child to exit; its exit status (128 + signal when killed).
  int wait() {
    int status = 0;
    if (pid_ <= 0 || ::waitpid(pid_, &status, 0) != pid_) return -1;
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

  bool exited() {
    if (pid_ <= 0) return true;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return true;
    }
    return false;
  }

  // Polls /proc until the child listens on TCP (or exits, or the deadline passes).
  std::optional<ProcessInfo> wait_until_listening(
      std::chrono::seconds deadline = std::chrono::seconds(60)) {
    auto until = std::chrono::steady_clock::now() + deadline;
    while (std::chrono::steady_clock::now() < until) {
      if (exited()) return std::nullopt;
      std::optional<ProcessInfo> info = read_process(pid_);
      // read_process reads exe, cmdline and fds one after another: a first read racing the
      // child's exec can pair the parent's exe with the new program's listener. Listening
      // happens after exec, so a second read is consistent.
      if (info && !info->listening.empty()) return read_process(pid_);
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return std::nullopt;
  }

  // Polls until the child has exec'd `exe_name` (the start of a script that does not listen).
  std::optional<ProcessInfo> wait_until_running(
      const std::string& exe_prefix, std::chrono::seconds deadline = std::chrono::seconds(60)) {
    auto until = std::chrono::steady_clock::now() + deadline;
    while (std::chrono::steady_clock::now() < until) {
      if (exited()) return std::nullopt;
      std::optional<ProcessInfo> info = read_process(pid_);
      if (info && info->exe_name().starts_with(exe_prefix) && info->cmdline.size() > 1) return info;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return std::nullopt;
  }

 private:
  pid_t pid_ = -1;
};

inline std::string read_whole_file(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Runs a command to completion (a compiler), returning its exit status; output goes to `log`.
inline int run_to_completion(const std::vector<std::string>& argv, const std::string& cwd,
                             const std::map<std::string, std::string>& extra_env,
                             const std::string& log) {
  ChildProcess child(argv, cwd, extra_env, log);
  int status = child.wait();
  return status;
}

}  // namespace hodos::agent::testing
