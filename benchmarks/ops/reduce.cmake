# Reduce-family benchmark: mica beside a plain two-thread loop (bandwidth peer); NumPy times
# come from benchmarks/compare/cpu_vs_numpy.py (benchmarks/run_cpu.sh).
add_executable(reduce_bench ops/reduce_bench.cpp)
target_link_libraries(reduce_bench PRIVATE mica)
target_compile_options(reduce_bench PRIVATE ${MICA_CPU_FLAGS})
