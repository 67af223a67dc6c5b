# Attention benchmark: fast::scaled_dot_product_attention beside the composition of plain ops
# (matmul, softmax, matmul) in the same run: time, GFLOP/s and peak memory, forward and backward.
add_executable(attention_bench ops/attention_bench.cpp)
target_link_libraries(attention_bench PRIVATE mica)
target_compile_options(attention_bench PRIVATE ${MICA_CPU_FLAGS})
