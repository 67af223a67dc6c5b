# Tree-operation benchmark on a GPT-2-sized parameter tree (parameters, update, freeze +
# unfreeze); tree_bench_mlx.py times the same operations in MLX's Python for comparison.
add_executable(tree_bench ${CMAKE_CURRENT_LIST_DIR}/tree_bench.cpp)
target_link_libraries(tree_bench PRIVATE mica)
