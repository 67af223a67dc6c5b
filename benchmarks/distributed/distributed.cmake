# all_sum over MPI ranks beside MPI_Allreduce on the same buffers (mpirun -np 2 ./all_sum_bench).
if(MICA_HAS_MPI)
  add_executable(all_sum_bench ${CMAKE_CURRENT_LIST_DIR}/all_sum_bench.cpp)
  target_link_libraries(all_sum_bench PRIVATE mica MPI::MPI_CXX)
endif()
