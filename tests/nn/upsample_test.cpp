// Upsample against MLX: repr (strings printed by MLX 0.32), outputs for nearest, linear and
// cubic modes with and without align_corners or antialias, over 1-3 spatial dims, against values
// printed by MLX 0.32, output dtypes, gradients against finite differences, and bad arguments.
#include <cmath>

#include "nn/layer_checks.h"

namespace mica::layertest {
namespace {

using nn::FloatOrTuple;
using nn::Upsample;
using nn::UpsampleOptions;

TEST(Upsample, ReprAndNoParameters) {
  EXPECT_EQ(Upsample(2).repr(), "Upsample(scale_factor=2.0, mode='nearest', align_corners=False)");
  EXPECT_EQ(Upsample({2, 3}, {.mode = "linear", .align_corners = true}).repr(),
            "Upsample(scale_factor=(2.0, 3.0), mode='linear', align_corners=True)");
  EXPECT_EQ(Upsample(2.5, {.mode = "cubic"}).repr(), "Upsample(scale_factor=2.5, mode='cubic', align_corners=False)");
  EXPECT_EQ(Upsample(0.5, {.mode = "linear", .antialias = true}).repr(),
            "Upsample(scale_factor=0.5, mode='linear', align_corners=False, antialias=True)");
  EXPECT_EQ(Upsample({1.5}, {.mode = "cubic", .antialias = true}).repr(),
            "Upsample(scale_factor=(1.5,), mode='cubic', align_corners=False, antialias=True)");
  EXPECT_TRUE(keys(Upsample(2).parameters()).empty());
}

// x1 = [[[1, -1], [2.5, 0.5], [-0.5, 3], [4, 2], [0, 1]]]  (1, 5, 2)
array x1() { return array({1.f, -1.f, 2.5f, 0.5f, -0.5f, 3.f, 4.f, 2.f, 0.f, 1.f}, {1, 5, 2}); }
// x2 = arange(1, 13).reshape(1, 3, 4, 1) ** 1.5 / 3
array x2() { return divide(power(astype(reshape(arange(1, 13), {1, 3, 4, 1}), float32), array(1.5f)), array(3.0f)); }

struct Row {
  std::string name;
  Shape shape;
  std::vector<double> want;
};

// Outputs printed by MLX 0.32 for the layers of layer_for(name), on x1 or x2.
const std::vector<Row> kMlx = {
    {"n1_2", {1, 10, 2}, {1.0, -1.0, 1.0, -1.0, 2.5, 0.5, 2.5, 0.5, -0.5, 3.0, -0.5, 3.0, 4.0, 2.0, 4.0, 2.0, 0.0, 1.0, 0.0, 1.0}},
    {"n1_1p5", {1, 7, 2}, {1.0, -1.0, 2.5, 0.5, 2.5, 0.5, -0.5, 3.0, 4.0, 2.0, 4.0, 2.0, 0.0, 1.0}},
    {"n1_0p6", {1, 3, 2}, {1.0, -1.0, 2.5, 0.5, 4.0, 2.0}},
    {"n2_1p5x2", {1, 4, 8, 1}, {0.3333333432674408, 0.3333333432674408, 0.9428090453147888, 0.9428090453147888, 1.7320507764816284, 1.7320507764816284, 2.6666667461395264, 2.6666667461395264, 3.7267799377441406, 3.7267799377441406, 4.898979663848877, 4.898979663848877, 6.173419952392578, 6.173419952392578, 7.5424723625183105, 7.5424723625183105, 3.7267799377441406, 3.7267799377441406, 4.898979663848877, 4.898979663848877, 6.173419952392578, 6.173419952392578, 7.5424723625183105, 7.5424723625183105, 9.0, 9.0, 10.540925025939941, 10.540925025939941, 12.160957336425781, 12.160957336425781, 13.856406211853027, 13.856406211853027}},
    {"l1_2", {1, 10, 2}, {1.0, -1.0, 1.375, -0.625, 2.125, 0.125, 1.75, 1.125, 0.25, 2.375, 0.625, 2.75, 2.875, 2.25, 3.0, 1.75, 1.0, 1.25, 0.0, 1.0}},
    {"l1_1p7_ac", {1, 8, 2}, {1.0, -1.0, 1.8571429252624512, -0.14285710453987122, 2.0714285373687744, 0.857142984867096, 0.35714244842529297, 2.285714626312256, 0.7857147455215454, 2.7142856121063232, 3.3571431636810303, 2.142857074737549, 2.2857131958007812, 1.5714282989501953, 0.0, 1.0}},
    {"l2_2x1p5", {1, 6, 6, 1}, {0.3333333432674408, 0.6380711793899536, 1.0743494033813477, 1.6005104780197144, 2.1993587017059326, 2.6666667461395264, 1.1816949844360352, 1.55677330493927, 2.083608627319336, 2.690636157989502, 3.3640055656433105, 3.885618209838867, 2.878418207168579, 3.3941776752471924, 4.102127552032471, 4.870887756347656, 5.693299293518066, 6.323520660400391, 5.0450849533081055, 5.677275657653809, 6.536273002624512, 7.443498134613037, 8.3956298828125, 9.120955467224121, 7.681694984436035, 8.40606689453125, 9.3860445022583, 10.408468246459961, 11.47099781036377, 12.277922630310059, 9.0, 9.770462036132812, 10.810930252075195, 11.890952110290527, 13.008682250976562, 13.856406211853027}},
    {"l2_1p5_ac", {1, 4, 6, 1}, {0.3333333432674408, 0.6990187764167786, 1.1006574630737305, 1.574202537536621, 2.1058974266052246, 2.6666667461395264, 2.5956311225891113, 3.186406135559082, 3.802797794342041, 4.470422744750977, 5.182660102844238, 5.917203903198242, 5.484519958496094, 6.261584758758545, 7.05755615234375, 7.891338348388672, 8.760406494140625, 9.647117614746094, 9.0, 9.924554824829102, 10.864931106567383, 11.836950302124023, 12.839137077331543, 13.856406211853027}},
    {"c1_2", {1, 10, 2}, {0.841796875, -1.158203125, 1.4453125, -0.748046875, 2.4765625, -0.103515625, 1.8203125, 1.259765625, -0.2421875, 2.591796875, 0.34375, 3.072265625, 3.296875, 2.419921875, 3.568359375, 1.66796875, 1.064453125, 1.19140625, -0.421875, 0.89453125}},
    {"c1_1p5_ac", {1, 7, 2}, {1.0, -1.0, 2.3611114025115967, -0.2500000298023224, 1.4722239971160889, 1.509260892868042, -0.5, 3.0, 2.861111879348755, 2.564814567565918, 3.2407400608062744, 1.5740740299224854, 0.0, 1.0}},
    {"c2_2", {1, 6, 8, 1}, {-0.08259028196334839, 0.07412100583314896, 0.32307565212249756, 0.7195497155189514, 1.0220065116882324, 1.542836308479309, 1.9770015478134155, 2.246162176132202, 0.8404145240783691, 1.049622654914856, 1.383193850517273, 1.882190227508545, 2.2445437908172607, 2.8528013229370117, 3.34910249710083, 3.6571104526519775, 2.2957098484039307, 2.5900144577026367, 3.0607542991638184, 3.7258100509643555, 4.185077667236328, 4.934725761413574, 5.531456470489502, 5.902255058288574, 5.140695571899414, 5.527989864349365, 6.14846658706665, 6.998918533325195, 7.569531440734863, 8.48377513885498, 9.199263572692871, 9.644241333007812, 7.768792629241943, 8.20445728302002, 8.902680397033691, 9.853171348571777, 10.486686706542969, 11.495782852172852, 12.281290054321289, 12.76994800567627, 9.389538764953613, 9.855850219726562, 10.603340148925781, 11.617074966430664, 12.290250778198242, 13.359086036682129, 14.188639640808105, 14.704776763916016}},
    {"c2_0p5", {1, 3, 2, 1}, {0.5640798211097717, 2.273350238800049, 4.193400859832764, 6.9774250984191895, 9.618584632873535, 13.160560607910156}},
    {"la1_0p5", {1, 2, 2}, {1.375, 0.75, 1.875, 2.0}},
    {"la2_0p5", {1, 2, 2, 1}, {2.2498607635498047, 3.773021936416626, 7.983773708343506, 10.31843376159668}},
    {"ca1_0p5", {1, 2, 2}, {1.3484848737716675, 0.7575758695602417, 1.772727370262146, 2.090909242630005}},
    {"ca1_2", {1, 10, 2}, {0.8676470518112183, -1.1323529481887817, 1.3503649234771729, -0.7700729966163635, 2.3740458488464355, -0.0038167983293533325, 1.890625, 1.13671875, -0.171875, 2.59765625, 0.296875, 2.99609375, 3.296875, 2.33203125, 3.423664093017578, 1.7099236249923706, 0.8576642274856567, 1.1678831577301025, -0.3529411852359772, 0.9117646813392639}},
    {"ca2_0p6", {1, 1, 3, 1}, {4.365690231323242, 5.89933967590332, 7.611286163330078}},
};

std::pair<std::shared_ptr<Upsample>, array> layer_for(const std::string& n) {
  auto U = [](FloatOrTuple s, UpsampleOptions o = {}) { return std::make_shared<Upsample>(s, o); };
  if (n == "n1_2") return {U(2), x1()};
  if (n == "n1_1p5") return {U(1.5), x1()};
  if (n == "n1_0p6") return {U(0.6), x1()};
  if (n == "n2_1p5x2") return {U({1.5, 2.0}), x2()};
  if (n == "l1_2") return {U(2, {.mode = "linear"}), x1()};
  if (n == "l1_1p7_ac") return {U(1.7, {.mode = "linear", .align_corners = true}), x1()};
  if (n == "l2_2x1p5") return {U({2.0, 1.5}, {.mode = "linear"}), x2()};
  if (n == "l2_1p5_ac") return {U(1.5, {.mode = "linear", .align_corners = true}), x2()};
  if (n == "c1_2") return {U(2, {.mode = "cubic"}), x1()};
  if (n == "c1_1p5_ac") return {U(1.5, {.mode = "cubic", .align_corners = true}), x1()};
  if (n == "c2_2") return {U(2, {.mode = "cubic"}), x2()};
  if (n == "c2_0p5") return {U({1.0, 0.5}, {.mode = "cubic"}), x2()};
  if (n == "la1_0p5") return {U(0.5, {.mode = "linear", .antialias = true}), x1()};
  if (n == "la2_0p5") return {U({0.7, 0.5}, {.mode = "linear", .antialias = true}), x2()};
  if (n == "ca1_0p5") return {U(0.5, {.mode = "cubic", .antialias = true}), x1()};
  if (n == "ca1_2") return {U(2, {.mode = "cubic", .antialias = true}), x1()};
  if (n == "ca2_0p6") return {U({0.6, 0.75}, {.mode = "cubic", .antialias = true}), x2()};
  throw std::logic_error("unknown row " + n);
}

TEST(Upsample, MatchesMlx) {
  for (const Row& r : kMlx) {
    auto [layer, x] = layer_for(r.name);
    EXPECT_TRUE(test::matches((*layer)(x), r.shape, r.want, 1e-5, 1e-5)) << r.name;
  }
  // Three spatial dims. MLX: x3 = arange(1, 9).reshape(1, 2, 2, 2, 1).
  array x3 = astype(reshape(arange(1, 9), {1, 2, 2, 2, 1}), float32);
  EXPECT_TRUE(test::matches(Upsample({1.0, 1.5, 2.0}, {.mode = "linear"})(x3), {1, 2, 3, 4, 1},
                            {1.0, 1.25, 1.75, 2.0, 2.0, 2.25, 2.75, 3.0, 3.0, 3.25, 3.75, 4.0,
                             5.0, 5.25, 5.75, 6.0, 6.0, 6.25, 6.75, 7.0, 7.0, 7.25, 7.75, 8.0}));
  std::vector<double> n3;
  for (int d = 0; d < 4; ++d)
    for (int h = 0; h < 4; ++h)
      for (int w = 0; w < 4; ++w) n3.push_back(1 + (d / 2) * 4 + (h / 2) * 2 + w / 2);
  EXPECT_TRUE(test::matches(Upsample(2)(x3), {1, 4, 4, 4, 1}, n3));
}

TEST(Upsample, NearestWithIntegerScalesRepeatsElements) {
  array x = test::random_array({2, 3, 2, 4}, float32, -2, 2, 3);
  auto xv = values(x);
  std::vector<double> want;
  for (int n = 0; n < 2; ++n)
    for (int h = 0; h < 6; ++h)
      for (int w = 0; w < 6; ++w)
        for (int c = 0; c < 4; ++c) want.push_back(xv[((n * 3 + h / 2) * 2 + w / 3) * 4 + c]);
  EXPECT_TRUE(test::matches(Upsample({2, 3})(x), {2, 6, 6, 4}, want));
}

TEST(Upsample, OutputDtypes) {
  array h = astype(x2(), float16);
  EXPECT_EQ(Upsample(2)(h).dtype(), float16);
  EXPECT_EQ(Upsample(1.5)(h).dtype(), float16);
  EXPECT_EQ(Upsample(2, {.mode = "linear"})(h).dtype(), float32);  // float32 weights, as MLX
  array i = reshape(arange(1, 5), {1, 2, 2, 1});
  array ni = Upsample(2)(i);
  EXPECT_EQ(ni.dtype(), int32);
  // MLX's docstring example: Upsample(scale_factor=2, mode='linear') on arange(1, 5).reshape(1, 2, 2, 1).
  EXPECT_TRUE(test::matches(Upsample(2, {.mode = "linear"})(i), {1, 4, 4, 1},
                            {1, 1.25, 1.75, 2, 1.5, 1.75, 2.25, 2.5, 2.5, 2.75, 3.25, 3.5, 3, 3.25, 3.75, 4}));
  EXPECT_EQ(Upsample(2, {.mode = "cubic"})(i).dtype(), float32);
  EXPECT_EQ(Upsample(2, {.mode = "linear"})(astype(x2(), float64)).dtype(), float64);
}

TEST(Upsample, GradientsMatchFiniteDifferences) {
  struct G {
    std::string name;
    FloatOrTuple scale;
    UpsampleOptions o;
    Shape shape;
  };
  std::vector<G> rows = {
      {"nearest_1p5", 1.5, {}, {1, 3, 2, 2}},
      {"nearest_2", 2, {}, {1, 2, 3, 1}},
      {"linear_2", 2, {.mode = "linear"}, {1, 3, 2, 2}},
      {"linear_ac", {1.5, 2.0}, {.mode = "linear", .align_corners = true}, {1, 3, 2, 1}},
      {"cubic_1p5", 1.5, {.mode = "cubic"}, {1, 4, 2}},
      {"cubic_ac", 2, {.mode = "cubic", .align_corners = true}, {1, 3, 3, 1}},
      {"linear_aa", 0.5, {.mode = "linear", .antialias = true}, {1, 6, 2}},
      {"cubic_aa", {0.5, 0.75}, {.mode = "cubic", .antialias = true}, {1, 4, 4, 1}},
  };
  for (const G& g : rows) {
    Upsample u(g.scale, g.o);
    EXPECT_TRUE(input_grad_ok(g.name, [&](const array& v) { return u(v); }, g.shape)) << g.name;
  }
}

TEST(Upsample, BadArguments) {
  EXPECT_TRUE(rejects("Upsample", [] { Upsample(2, {.mode = "bilinear"}); }));
  EXPECT_TRUE(rejects("Upsample", [] { Upsample(2, {.antialias = true}); }));  // nearest
  EXPECT_TRUE(rejects("Upsample", [] { Upsample(2, {.mode = "linear", .align_corners = true, .antialias = true}); }));
  EXPECT_TRUE(rejects("Upsample", [] { Upsample(0.0); }));
  EXPECT_TRUE(rejects("Upsample", [] { Upsample({2.0, -1.0}); }));
  EXPECT_TRUE(rejects("Upsample", [] { Upsample(std::vector<double>{}); }));
  Upsample u(2);
  EXPECT_TRUE(rejects("Upsample", [&] { u(ones({2, 3})); }));                 // no spatial axis
  EXPECT_TRUE(rejects("Upsample", [&] { Upsample({2, 2})(ones({1, 3, 1})); }));  // 2 scales, 1 spatial dim
  EXPECT_TRUE(rejects("Upsample", [&] { Upsample(0.2, {.mode = "linear"})(ones({1, 3, 1})); }));  // size 0
}

}  // namespace
}  // namespace mica::layertest
