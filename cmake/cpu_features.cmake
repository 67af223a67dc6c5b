# Kernels are built for x86-64-v3 (AVX2, FMA, F16C) when the build machine has it; otherwise
# for the baseline. Plain loops in backend/cpu rely on the compiler's vectorizer.
# No FP traps or errno are observed by mica, which lets g++ if-convert and vectorize math loops.
set(MICA_CPU_FLAGS -O3 -fno-trapping-math -fno-math-errno)
if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
  if(EXISTS /proc/cpuinfo)
    file(READ /proc/cpuinfo _cpuinfo)
    if(_cpuinfo MATCHES "avx2" AND _cpuinfo MATCHES " fma" AND _cpuinfo MATCHES "f16c")
      list(APPEND MICA_CPU_FLAGS -march=x86-64-v3)
      message(STATUS "mica: building CPU kernels for x86-64-v3")
    endif()
  endif()
endif()
