add_executable(compile_bench ${CMAKE_CURRENT_LIST_DIR}/compile_bench.cpp)
target_link_libraries(compile_bench PRIVATE mica)
