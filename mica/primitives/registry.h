// Every primitive, listed once: X(ClassName, family, outputs) where outputs is U (one output)
// or M (several). The no-GPU stubs, the list of names and the coverage test derive from it.
// A primitive's class is declared in primitives/<family>.h, its rules defined in
// primitives/<family>.cpp and its CPU kernels in backend/cpu/<family>.cpp.
#pragma once
#include <vector>

#define MICA_PRIMITIVES(X)                                                                  \
  /* creation */                                                                            \
  X(Arange, creation, U)                                                                    \
  /* unary */                                                                               \
  X(Abs, unary, U) X(ArcCos, unary, U) X(ArcCosh, unary, U) X(ArcSin, unary, U)             \
  X(ArcSinh, unary, U) X(ArcTan, unary, U) X(ArcTanh, unary, U) X(BitwiseInvert, unary, U)  \
  X(Ceil, unary, U) X(Conjugate, unary, U) X(Cos, unary, U) X(Cosh, unary, U)               \
  X(Erf, unary, U) X(ErfInv, unary, U) X(Exp, unary, U) X(Expm1, unary, U)                  \
  X(Floor, unary, U) X(Imag, unary, U) X(Log, unary, U) X(Log1p, unary, U)                  \
  X(LogicalNot, unary, U) X(Negative, unary, U) X(Real, unary, U) X(Round, unary, U)        \
  X(Sigmoid, unary, U) X(Sign, unary, U) X(Sin, unary, U) X(Sinh, unary, U)                 \
  X(Sqrt, unary, U) X(Square, unary, U) X(Tan, unary, U) X(Tanh, unary, U)                  \
  X(AsType, unary, U) X(StopGradient, unary, U)                                             \
  /* binary and ternary elementwise */                                                      \
  X(Add, binary, U) X(Subtract, binary, U) X(Multiply, binary, U) X(Divide, binary, U)      \
  X(Remainder, binary, U) X(Power, binary, U) X(Maximum, binary, U) X(Minimum, binary, U)   \
  X(ArcTan2, binary, U) X(LogAddExp, binary, U) X(Equal, binary, U) X(NotEqual, binary, U)  \
  X(Greater, binary, U) X(GreaterEqual, binary, U) X(Less, binary, U)                       \
  X(LessEqual, binary, U) X(LogicalAnd, binary, U) X(LogicalOr, binary, U)                  \
  X(BitwiseBinary, binary, U) X(DivMod, binary, M) X(Select, binary, U)                     \
  /* reductions, scans, softmax */                                                          \
  X(Reduce, reduce, U) X(ArgReduce, reduce, U) X(Scan, reduce, U) X(Softmax, reduce, U)     \
  X(LogSumExp, reduce, U) X(Variance, reduce, U)                                            \
  /* shape and movement */                                                                  \
  X(Reshape, movement, U) X(Transpose, movement, U) X(Broadcast, movement, U)               \
  X(Copy, movement, U) X(AsStrided, movement, U) X(View, movement, U)                       \
  X(Slice, movement, U) X(SliceUpdate, movement, U) X(DynamicSlice, movement, U)            \
  X(DynamicSliceUpdate, movement, U) X(Concatenate, movement, U) X(Pad, movement, U)        \
  /* indexing */                                                                            \
  X(Gather, indexing, U) X(Scatter, indexing, U) X(GatherAxis, indexing, U)                 \
  X(ScatterAxis, indexing, U) X(MaskedScatter, indexing, U)                                 \
  /* matmul and conv */                                                                     \
  X(Matmul, matmul, U) X(AddMM, matmul, U) X(Convolution, conv, U)                          \
  /* sort */                                                                                \
  X(Sort, sort, U) X(ArgSort, sort, U) X(Partition, sort, U) X(ArgPartition, sort, U)      \
  /* random */                                                                              \
  X(RandomBits, random, U)                                                                  \
  /* fused (fast::) */                                                                      \
  X(LayerNorm, fused, U) X(LayerNormVjp, fused, M) X(RMSNorm, fused, U) X(Gelu, fused, U)    \
  X(AdamStep, fused, M)                                                                     \
  /* made by the transforms (custom_function, checkpoint, depends) */                        \
  X(CustomTransforms, custom, M) X(Depends, custom, M)

namespace mica {
/** Names of every registered primitive, in registry order. */
const std::vector<const char*>& primitive_names();
}  // namespace mica
