# Matmul/conv benchmark: mica beside a direct dnnl_sgemm call (the GEMM it wraps); NumPy's
# GFLOP/s come from benchmarks/compare/cpu_vs_numpy.py (benchmarks/run_cpu.sh).
add_executable(matmul_bench ops/matmul_bench.cpp)
target_link_libraries(matmul_bench PRIVATE mica DNNL::dnnl)
target_compile_options(matmul_bench PRIVATE ${MICA_CPU_FLAGS})
