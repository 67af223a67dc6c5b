add_executable(gpu_bench ${CMAKE_CURRENT_LIST_DIR}/gpu_bench.cpp)
target_link_libraries(gpu_bench PRIVATE mica)
