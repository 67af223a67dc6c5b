// Every primitive, listed once: X(ClassName, family, outputs, gpu) where outputs is U (one
// output) or M (several) and gpu is K (a CUDA kernel in backend/cuda/<family>.cu) or F (runs its
// CPU kernel for a GPU stream, data copied over and back; the reason per family is in
// backend/cuda/fallback.cpp). The no-GPU stubs, the GPU fallbacks, the list of names and the
// coverage test derive from it. A primitive's class is declared in primitives/<family>.h, its
// rules defined in primitives/<family>.cpp and its CPU kernels in backend/cpu/<family>.cpp.
#pragma once
#include <vector>

#define MICA_PRIMITIVES(X)                                                                  \
  /* creation */                                                                            \
  X(Arange, creation, U, K)                                                                    \
  /* unary */                                                                               \
  X(Abs, unary, U, K) X(ArcCos, unary, U, K) X(ArcCosh, unary, U, K) X(ArcSin, unary, U, K)             \
  X(ArcSinh, unary, U, K) X(ArcTan, unary, U, K) X(ArcTanh, unary, U, K) X(BitwiseInvert, unary, U, K)  \
  X(Ceil, unary, U, K) X(Conjugate, unary, U, K) X(Cos, unary, U, K) X(Cosh, unary, U, K)               \
  X(Erf, unary, U, K) X(ErfInv, unary, U, K) X(Exp, unary, U, K) X(Expm1, unary, U, K)                  \
  X(Floor, unary, U, K) X(Imag, unary, U, K) X(Log, unary, U, K) X(Log1p, unary, U, K)                  \
  X(LogicalNot, unary, U, K) X(Negative, unary, U, K) X(Real, unary, U, K) X(Round, unary, U, K)        \
  X(Sigmoid, unary, U, K) X(Sign, unary, U, K) X(Sin, unary, U, K) X(Sinh, unary, U, K)                 \
  X(Sqrt, unary, U, K) X(Square, unary, U, K) X(Tan, unary, U, K) X(Tanh, unary, U, K)                  \
  X(AsType, unary, U, K) X(StopGradient, unary, U, K)                                             \
  /* binary and ternary elementwise */                                                      \
  X(Add, binary, U, K) X(Subtract, binary, U, K) X(Multiply, binary, U, K) X(Divide, binary, U, K)      \
  X(Remainder, binary, U, K) X(Power, binary, U, K) X(Maximum, binary, U, K) X(Minimum, binary, U, K)   \
  X(ArcTan2, binary, U, K) X(LogAddExp, binary, U, K) X(Equal, binary, U, K) X(NotEqual, binary, U, K)  \
  X(Greater, binary, U, K) X(GreaterEqual, binary, U, K) X(Less, binary, U, K)                       \
  X(LessEqual, binary, U, K) X(LogicalAnd, binary, U, K) X(LogicalOr, binary, U, K)                  \
  X(BitwiseBinary, binary, U, K) X(DivMod, binary, M, K) X(Select, binary, U, K)                     \
  /* reductions, scans, softmax */                                                          \
  X(Reduce, reduce, U, K) X(ArgReduce, reduce, U, K) X(Scan, reduce, U, K) X(Softmax, reduce, U, K)     \
  X(LogSumExp, reduce, U, K) X(Variance, reduce, U, K) X(NumberOfElements, reduce, U, K)               \
  /* shape and movement */                                                                  \
  X(Reshape, movement, U, K) X(Squeeze, movement, U, K) X(ExpandDims, movement, U, K)               \
  X(Transpose, movement, U, K) X(Broadcast, movement, U, K)                                       \
  X(Copy, movement, U, K) X(AsStrided, movement, U, K) X(View, movement, U, K)                       \
  X(Slice, movement, U, K) X(SliceUpdate, movement, U, K) X(DynamicSlice, movement, U, K)            \
  X(DynamicSliceUpdate, movement, U, K) X(Concatenate, movement, U, K) X(Pad, movement, U, K)        \
  /* indexing */                                                                            \
  X(Gather, indexing, U, K) X(Scatter, indexing, U, K) X(GatherAxis, indexing, U, K)                 \
  X(ScatterAxis, indexing, U, K) X(MaskedScatter, indexing, U, K)                                 \
  /* matmul and conv */                                                                     \
  X(Matmul, matmul, U, K) X(AddMM, matmul, U, K) X(Convolution, conv, U, K)                          \
  /* sort */                                                                                \
  X(Sort, sort, U, K) X(ArgSort, sort, U, K) X(Partition, sort, U, K) X(ArgPartition, sort, U, K)      \
  /* random */                                                                              \
  X(RandomBits, random, U, K)                                                                  \
  /* linalg (LAPACK on the CPU) */                                                          \
  X(Inverse, linalg, U, K) X(Cholesky, linalg, U, K) X(SolveTriangular, linalg, U, K) X(LUF, linalg, M, K)   \
  X(QRF, linalg, M, K) X(SVD, linalg, M, K) X(Eig, linalg, M, K) X(Eigh, linalg, M, K)                    \
  /* fft */                                                                                 \
  X(FFT, fft, U, K)                                                                            \
  /* quantized (affine, MLX's packed layout) */                                             \
  X(QuantizedMatmul, quantized, U, K)                                                          \
  /* fused (fast::) */                                                                      \
  X(LayerNorm, fused, U, K) X(LayerNormVjp, fused, M, K) X(RMSNorm, fused, U, K) X(RMSNormVjp, fused, M, K) \
  X(Gelu, fused, U, K) X(AdamStep, fused, M, K) X(CrossEntropy, fused, M, K) X(CrossEntropyVjp, fused, U, K) \
  X(Rope, fused, U, K)                                                                         \
  /* attention (fast::scaled_dot_product_attention) */                                       \
  X(ScaledDotProductAttention, attention, M, K) X(ScaledDotProductAttentionVjp, attention, M, K)  \
  /* distributed collectives (mica::distributed; the group's backend moves the data) */      \
  X(AllReduce, distributed, U, K) X(AllGather, distributed, U, K) X(ReduceScatter, distributed, U, K) \
  X(Send, distributed, U, K) X(Recv, distributed, U, K)                                         \
  /* made by the transforms (custom_function, checkpoint, depends), and fast::cuda_kernel */   \
  X(CustomTransforms, custom, M, K) X(Depends, custom, M, K) X(CustomKernel, custom, M, K)      \
  /* made by compile's fusion pass (a chain of elementwise ops run as one node) */            \
  X(Compiled, compiled, M, K)

namespace mica {
/** Names of every registered primitive, in registry order. */
const std::vector<const char*>& primitive_names();
}  // namespace mica
