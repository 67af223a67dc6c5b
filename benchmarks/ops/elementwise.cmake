add_executable(elementwise_bench ${CMAKE_CURRENT_LIST_DIR}/elementwise_bench.cpp)
target_link_libraries(elementwise_bench PRIVATE mica)
