// What every guide program uses to check its snippets: GUIDE_CHECK prints the failed condition
// and counts it, guide::run reports a snippet that throws, and guide::finish turns the count into
// main's exit status. The snippets shown in docs/guides/ sit between `// [snippet: name]` and
// `// [end]` markers; tests/examples/guides_test.py compares them with the markdown.
#pragma once
#include <cstdio>
#include <exception>

namespace guide {

inline int failures = 0;

/** Runs one section of a guide; an exception counts as a failure. */
template <class F>
void run(const char* section, F&& body) {
  try {
    body();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "section %s threw: %s\n", section, e.what());
    ++failures;
  }
}

/** main's return value: 0 when every check passed. */
inline int finish(const char* guide_name) {
  if (failures == 0) {
    std::printf("%s: every snippet ran and checked out\n", guide_name);
    return 0;
  }
  std::fprintf(stderr, "%s: %d check(s) failed\n", guide_name, failures);
  return 1;
}

}  // namespace guide

#define GUIDE_CHECK(cond, what)                                                                 \
  do {                                                                                          \
    if (!(cond)) {                                                                              \
      std::fprintf(stderr, "%s:%d: check failed: %s (%s)\n", __FILE__, __LINE__, #cond, what); \
      ++guide::failures;                                                                        \
    }                                                                                           \
  } while (0)
