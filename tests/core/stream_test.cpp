// mica/stream.h through MLX's names: StreamContext sets and restores the default device and
// stream (also when an exception leaves its scope), devices and streams key ordered containers,
// and the backend queries answer.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>
#include <stdexcept>

#include "mica/primitives/primitive.h"
#include "mlx/backend/cuda/cuda.h"
#include "mlx/backend/metal/metal.h"
#include "mlx/mlx.h"
#include "reference/reference.h"

namespace mx = mlx::core;

namespace mica::test {
namespace {

TEST(StreamContext, SetsAndRestoresDefaultStream) {
  const Device dev = default_device();
  const Stream before = default_stream(Device::cpu);
  Stream s = new_stream(Device::cpu);
  ASSERT_NE(s, before);
  {
    mx::StreamContext ctx(s);
    EXPECT_EQ(default_stream(Device::cpu), s);
    EXPECT_EQ(default_device(), Device(Device::cpu));
    // Ops without a stream run on the context's stream, and compute.
    array y = exp(array({0.0f, 1.0f}));
    ASSERT_TRUE(y.has_primitive());
    EXPECT_EQ(y.primitive().stream(), s);
    EXPECT_TRUE(test::matches(y, {2}, {1.0, std::exp(1.0)}));
    {
      Stream s2 = new_stream(Device::cpu);
      StreamContext inner(s2);
      EXPECT_EQ(default_stream(Device::cpu), s2);
    }
    EXPECT_EQ(default_stream(Device::cpu), s);
  }
  EXPECT_EQ(default_stream(Device::cpu), before);
  EXPECT_EQ(default_device(), dev);
  array z = exp(array(0.0f));
  EXPECT_EQ(z.primitive().stream(), default_stream(dev));
}

TEST(StreamContext, DeviceSelectsItsDefaultStream) {
  const Device dev = default_device();
  {
    StreamContext ctx(Device::cpu);
    EXPECT_EQ(default_device(), Device(Device::cpu));
    EXPECT_EQ(default_stream(default_device()), default_stream(Device::cpu));
    array y = array(2.0f) * 3.0f;
    EXPECT_EQ(y.primitive().device(), Device(Device::cpu));
    EXPECT_EQ(y.item<float>(), 6.0f);
  }
  EXPECT_EQ(default_device(), dev);
}

TEST(StreamContext, RestoresWhenAnExceptionLeaves) {
  const Device dev = default_device();
  const Stream before = default_stream(Device::cpu);
  Stream s = new_stream(Device::cpu);
  try {
    StreamContext ctx(s);
    EXPECT_EQ(default_stream(Device::cpu), s);
    throw std::runtime_error("leaving");
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "leaving");
  }
  EXPECT_EQ(default_stream(Device::cpu), before);
  EXPECT_EQ(default_device(), dev);
}

TEST(StreamContext, RejectsNothingAndUnavailableDevices) {
  const Device dev = default_device();
  const Stream before = default_stream(Device::cpu);
  EXPECT_THROW(StreamContext(StreamOrDevice{}), std::invalid_argument);
  EXPECT_THROW(StreamContext(Device(Device::cpu, 3)), std::invalid_argument);
  if (!is_available(Device::gpu)) EXPECT_THROW(StreamContext(Device::gpu), std::invalid_argument);
  EXPECT_EQ(default_stream(Device::cpu), before);
  EXPECT_EQ(default_device(), dev);
}


TEST(Streams, OrderAndBackendQueries) {
  std::set<mx::Device> devices{mx::Device(mx::Device::gpu, 1), mx::Device::cpu, mx::Device(mx::Device::gpu, 0)};
  ASSERT_EQ(devices.size(), 3u);
  EXPECT_EQ(*devices.begin(), mx::Device(mx::Device::cpu));
  EXPECT_EQ(*devices.rbegin(), mx::Device(mx::Device::gpu, 1));
  Stream a = new_stream(Device::cpu), b = new_stream(Device::cpu);
  std::map<mx::Stream, int> by_stream{{b, 2}, {a, 1}};
  EXPECT_EQ(by_stream.begin()->first, a);
  EXPECT_EQ(mx::cu::is_available(), mx::is_available(mx::Device::gpu));
  EXPECT_FALSE(mx::metal::is_available());
}

}  // namespace
}  // namespace mica::test
