# AdamW step over many small parameters: the optimizer's grouped AdamStep nodes beside one
# fast::adam_step node per parameter (the layout before grouping), as a ratio in one run.
add_executable(optimizer_bench ops/optimizer_bench.cpp)
target_link_libraries(optimizer_bench PRIVATE mica)
