# FFT benchmark: mica's transforms; NumPy's times for the same cases come from
# benchmarks/compare/cpu_vs_numpy.py (benchmarks/run_cpu.sh).
add_executable(fft_bench ${CMAKE_CURRENT_LIST_DIR}/fft_bench.cpp)
target_link_libraries(fft_bench PRIVATE mica)
