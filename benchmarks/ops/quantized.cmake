# Quantized matmul benchmark: the fused CPU kernel beside mica's float32 matmul of the same shape
# (and the dequantize + matmul composition), as ratios in one run.
add_executable(quantized_bench ops/quantized_bench.cpp)
target_link_libraries(quantized_bench PRIVATE mica)
target_compile_options(quantized_bench PRIVATE ${MICA_CPU_FLAGS})
