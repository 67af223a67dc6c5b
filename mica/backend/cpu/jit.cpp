// Run-time compiled CPU kernels: write the source, run the C++ compiler, dlopen the result.
// Everything is cached: in memory by source, on disk by a hash of source, compiler and CPU.
#include "mica/backend/cpu/jit.h"

#include "mica/backend/compiled_expr.h"

#include <dlfcn.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <unordered_map>

namespace mica::cpu::jit {

namespace fs = std::filesystem;

namespace {
std::mutex& jit_mutex() {
  static std::mutex m;
  return m;
}
std::atomic<bool> g_failed{false};
std::atomic<int64_t> g_compiled{0};

std::string compiler() {
  for (const char* var : {"MICA_CXX", "CXX"}) {
    if (const char* c = std::getenv(var); c && *c) return c;
  }
  return "c++";
}

// Output of a shell command (its first line), or "" when it fails.
std::string run_line(const std::string& cmd) {
  std::string out;
  if (FILE* p = popen(cmd.c_str(), "r")) {
    char buf[256];
    if (std::fgets(buf, sizeof buf, p)) out = buf;
    if (pclose(p) != 0) out.clear();
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

// What a cached object depends on besides its source: the compiler's version and the CPU
// (the kernels are built for the machine's instruction set).
const std::string& environment_key() {
  static const std::string key = [] {
    std::string k = compiler() + "|" + run_line(compiler() + " --version 2>/dev/null");
    std::ifstream cpu("/proc/cpuinfo");
    for (std::string line; std::getline(cpu, line);) {
      if (line.rfind("model name", 0) == 0 || line.rfind("flags", 0) == 0) k += "|" + line;
      if (line.empty()) break;  // the first processor is enough
    }
    return k;
  }();
  return key;
}


void fail(const std::string& why) {
  if (!g_failed.exchange(true)) {
    std::fprintf(stderr, "mica: compile's CPU code generator is off for this process (%s); fused nodes run "
                         "through the block interpreter\n", why.c_str());
  }
}
}  // namespace

bool enabled() {
  static const bool on = [] {
    const char* v = std::getenv("MICA_CPU_JIT");
    return !(v && std::string(v) == "0");
  }();
  return on && !g_failed.load();
}

int64_t compiled_count() { return g_compiled.load(); }

void* load(const std::string& source, const char* symbol) {
  if (!enabled()) return nullptr;
  std::lock_guard<std::mutex> lk(jit_mutex());
  static std::unordered_map<std::string, void*> loaded;
  if (auto it = loaded.find(source); it != loaded.end()) return it->second;
  char name[32];
  std::snprintf(name, sizeof name, "%016zx", std::hash<std::string>{}(environment_key() + "\n" + source));
  std::error_code ec;
  const fs::path dir = codegen::cache_dir("cpu-kernels");
  fs::create_directories(dir, ec);
  const fs::path so = dir / (std::string(name) + ".so");
  if (!fs::exists(so)) {
    // Written under unique names, then renamed: concurrent processes never see half a file.
    const std::string tag = std::string(name) + "." + std::to_string(::getpid());
    const fs::path src = dir / (tag + ".cpp"), tmp = dir / (tag + ".so");
    {
      std::ofstream f(src);
      f << source;
      if (!f) {
        fail("cannot write " + src.string());
        return nullptr;
      }
    }
    const std::string cmd = compiler() + " -std=c++17 -O3 -march=native -fwrapv -fno-math-errno -fno-trapping-math -ffp-contract=off -fopenmp-simd -fPIC -shared -o '" +
                            tmp.string() + "' '" + src.string() + "' 2>'" + src.string() + ".log'";
    const int rc = std::system(cmd.c_str());
    if (rc != 0 || !fs::exists(tmp)) {
      fail("the command `" + cmd + "` failed; see " + src.string() + ".log");
      return nullptr;
    }
    fs::rename(tmp, so, ec);
    // MICA_CPU_JIT_KEEP_SOURCE=1 keeps the source beside the object (for reading what was built).
    if (const char* keep = std::getenv("MICA_CPU_JIT_KEEP_SOURCE"); keep && std::string(keep) == "1") {
      fs::rename(src, dir / (std::string(name) + ".cpp"), ec);
    }
    fs::remove(src, ec);
    fs::remove(src.string() + ".log", ec);
    ++g_compiled;
  }
  void* handle = dlopen(so.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    fail(std::string("dlopen: ") + dlerror());
    return nullptr;
  }
  void* fn = dlsym(handle, symbol);
  if (!fn) fail(std::string("no symbol ") + symbol + " in " + so.string());
  loaded.emplace(source, fn);
  return fn;
}

}  // namespace mica::cpu::jit
