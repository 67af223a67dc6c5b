// MLX's primitives header: the base classes a user-defined primitive derives from
// (mlx::core::Primitive, UnaryPrimitive) with eval_cpu / eval_gpu, jvp, vjp, vmap, name and
// is_equivalent, as MLX declares them. A node with a user primitive is built with
// array(shape, dtype, std::make_shared<MyPrimitive>(stream, ...), inputs) and takes part in
// eval, grad, vjp, jvp and vmap like mica's own. Kernels give the output memory with
// out.set_data(allocator::malloc(out.nbytes())) and read inputs through data<T>() and strides().
#pragma once
#include "mica/allocator.h"
#include "mica/primitives/primitive.h"
#include "mlx/mlx.h"
