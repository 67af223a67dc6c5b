# Sort benchmark: sort / argsort of one long row and of many short rows (NumPy in the same run
# through benchmarks/compare/cpu_vs_numpy.py).
add_executable(sort_bench ops/sort_bench.cpp)
target_link_libraries(sort_bench PRIVATE mica)
