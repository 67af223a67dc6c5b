# io_crosscheck: files mica writes load in NumPy, safetensors, gguf and MLX with the right
# values, and files those tools write load in mica (tests/io/crosscheck.py drives
# io_crosscheck_tool). Skipped (exit code 77) when python3 or those modules are missing.
# Included from the top-level CMakeLists.txt.
find_package(GTest REQUIRED)
add_executable(io_crosscheck_tool ${CMAKE_CURRENT_LIST_DIR}/crosscheck.cpp
                                  ${PROJECT_SOURCE_DIR}/tests/reference/reference.cpp)
target_include_directories(io_crosscheck_tool PRIVATE ${PROJECT_SOURCE_DIR}/tests)
target_link_libraries(io_crosscheck_tool PRIVATE mica GTest::gtest)
add_test(NAME io_crosscheck
  COMMAND sh -c "command -v python3 >/dev/null || exit 77; exec python3 \"$@\"" crosscheck
          ${CMAKE_CURRENT_LIST_DIR}/crosscheck.py $<TARGET_FILE:io_crosscheck_tool>
          ${PROJECT_BINARY_DIR}/tests/io_crosscheck)
set_tests_properties(io_crosscheck PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600)
