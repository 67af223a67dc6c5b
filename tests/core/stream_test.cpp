// mica/stream.h through MLX's names: StreamContext sets and restores the default device and
// stream (also when an exception leaves its scope), devices and streams key ordered containers,
// the backend queries answer, default streams are per thread, thread-local streams resolve to
// one stream per thread, and clear_streams forgets the calling thread's streams.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <stdexcept>
#include <thread>

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

TEST(Streams, DefaultStreamIsPerThread) {
  const Stream process = mx::default_stream(mx::Device::cpu);
  Stream s = mx::new_stream(mx::Device::cpu);
  mx::set_default_stream(s);
  EXPECT_EQ(mx::default_stream(mx::Device::cpu), s);
  Stream seen = s;
  std::thread([&] { seen = mx::default_stream(mx::Device::cpu); }).join();
  EXPECT_EQ(seen, process);  // another thread keeps the process's default
  mx::set_default_stream(process);
  EXPECT_EQ(mx::default_stream(mx::Device::cpu), process);
}

TEST(Streams, ThreadLocalStreams) {
  mx::ThreadLocalStream tls = mx::new_thread_local_stream(mx::Device::cpu);
  Stream mine = mx::stream_from_thread_local_stream(tls);
  EXPECT_NE(mine, static_cast<Stream>(tls));
  EXPECT_EQ(mx::stream_from_thread_local_stream(tls), mine);  // made once per thread
  // An op given the thread-local stream runs on this thread's stream, and computes.
  mx::array z = mx::add(mx::array(1), mx::array(2), tls);
  EXPECT_EQ(z.primitive().stream(), mine);
  EXPECT_EQ(z.item<int>(), 3);
  Stream other = mine;
  int value = 0;
  std::thread([&] {
    other = mx::stream_from_thread_local_stream(tls);
    value = mx::multiply(mx::array(4), mx::array(5), tls).item<int>();
  }).join();
  EXPECT_NE(other, mine);
  EXPECT_EQ(value, 20);
  // The per-thread streams are listed, the stand-in is not.
  auto all = mx::get_streams();
  EXPECT_NE(std::find(all.begin(), all.end(), mine), all.end());
  EXPECT_EQ(std::find(all.begin(), all.end(), static_cast<Stream>(tls)), all.end());
  // A plain stream is not a thread-local one.
  EXPECT_THROW(mx::stream_from_thread_local_stream(mx::ThreadLocalStream(mine.index, mine.device)), std::invalid_argument);
  // A thread-unsafe stream (MLX's name) is a stream usable from any thread.
  Stream u = mx::new_thread_unsafe_stream(mx::Device::cpu);
  std::thread([&] { value = mx::add(mx::array(2), mx::array(2), u).item<int>(); }).join();
  EXPECT_EQ(value, 4);
}

TEST(Streams, ClearStreams) {
  const Stream process = mx::default_stream(mx::Device::cpu);
  Stream kept = process;
  std::thread([&] { kept = mx::new_stream(mx::Device::cpu); }).join();
  Stream s = mx::new_stream(mx::Device::cpu);
  mx::array pending = mx::add(mx::array(1.0f), mx::array(2.0f), s);
  mx::set_default_stream(s);
  mx::clear_streams();
  // This thread's streams are gone (after their work); the other thread's and the process's stay.
  auto all = mx::get_streams();
  EXPECT_EQ(std::find(all.begin(), all.end(), s), all.end());
  EXPECT_NE(std::find(all.begin(), all.end(), kept), all.end());
  EXPECT_NE(std::find(all.begin(), all.end(), process), all.end());
  EXPECT_EQ(mx::default_stream(mx::Device::cpu), process);
  EXPECT_EQ(pending.item<float>(), 3.0f);
  try {
    mx::add(mx::array(1), mx::array(2), s);
    ADD_FAILURE() << "no error";
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()), "[stream] expected a stream of this process, got stream " +
                                         std::to_string(s.index) + " (cleared by clear_streams).");
  }
  EXPECT_THROW(mx::add(mx::array(1), mx::array(2), Stream(1 << 20, mx::Device::cpu)), std::invalid_argument);
  EXPECT_EQ(mx::add(mx::array(1), mx::array(2), kept).item<int>(), 3);
}

}  // namespace
}  // namespace mica::test
