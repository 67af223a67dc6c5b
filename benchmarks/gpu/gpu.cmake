file(GLOB MICA_GPU_BENCH_SOURCES CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/*.cpp)
add_executable(gpu_bench ${MICA_GPU_BENCH_SOURCES})
target_include_directories(gpu_bench PRIVATE ${PROJECT_SOURCE_DIR})
target_link_libraries(gpu_bench PRIVATE mica)
