// Graph inspection (print_graph, export_to_dot, NodeNamer), through MLX's names as well as
// mica's.
#include <cmath>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "mlx/graph_utils.h"
#include "mlx/mlx.h"
#include "mlx/stream.h"
#include "mica/primitives/primitive.h"
#include "reference/reference.h"

namespace mx = mlx::core;

namespace mica {
namespace {

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream is(s);
  for (std::string l; std::getline(is, l);) out.push_back(l);
  return out;
}

size_t count_of(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + what.size())) ++n;
  return n;
}

// The dot edges as (from, to) pairs of quoted names.
std::vector<std::pair<std::string, std::string>> edges_of(const std::string& dot) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& l : lines_of(dot)) {
    auto arrow = l.find(" -> ");
    if (arrow == std::string::npos) continue;
    auto from = l.substr(0, arrow);
    from = from.substr(from.find_first_not_of(' '));
    auto to = l.substr(arrow + 4);
    to = to.substr(0, to.find(';'));
    out.emplace_back(from, to);
  }
  return out;
}

TEST(GraphUtils, PrintGraphListsNodesInOrder) {
  array a({1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f}, {2, 3});
  array b({0.5f, 0.5f, 0.5f}, {1, 3});
  array out = exp(a + b) * a;
  std::ostringstream os;
  print_graph(os, {out});
  auto lines = lines_of(os.str());
  ASSERT_EQ(lines.size(), 5u) << os.str();
  EXPECT_EQ(lines[0], "Inputs: A (2, 3) float32, B (1, 3) float32");
  EXPECT_EQ(lines[1], "Add A, B -> C (2, 3) float32");
  EXPECT_EQ(lines[2], "Exp C -> D (2, 3) float32");
  EXPECT_EQ(lines[3], "Multiply D, A -> E (2, 3) float32");
  EXPECT_EQ(lines[4], "Outputs: E (2, 3) float32");
  // Printing evaluates nothing.
  EXPECT_FALSE(out.is_available());
  EXPECT_TRUE(out.has_primitive());
  // The variadic form prints the same.
  std::ostringstream os2;
  print_graph(os2, out);
  EXPECT_EQ(os2.str(), os.str());
  // And the graph still computes the right values.
  std::vector<double> want;
  for (int i = 0; i < 6; ++i) want.push_back(std::exp(i + 1.0 + 0.5) * (i + 1.0));
  EXPECT_TRUE(test::matches(out, {2, 3}, want));
}

TEST(GraphUtils, PrintGraphSharedInputsMultiOutputAndDtypes) {
  array x({1, 2, 3}, int32);
  array y = astype(x, float32);
  // x used twice by one node, and a multi-output primitive recorded once.
  auto qr = divmod(x * x, array(2));
  std::ostringstream os;
  print_graph(os, {qr[0], qr[1], y});
  auto lines = lines_of(os.str());
  ASSERT_EQ(lines.size(), 5u) << os.str();
  EXPECT_EQ(lines[0], "Inputs: A (3,) int32, B () int32");
  EXPECT_EQ(lines[1], "Multiply A, A -> C (3,) int32");
  EXPECT_EQ(lines[2], "DivMod C, B -> D (3,) int32, E (3,) int32");
  EXPECT_EQ(lines[3].rfind("AsType A -> F (3,) float32", 0), 0u) << lines[3];
  EXPECT_EQ(lines[4], "Outputs: D (3,) int32, E (3,) int32, F (3,) float32");
  EXPECT_TRUE(test::matches(qr[0], {3}, {0, 2, 4}));
  EXPECT_TRUE(test::matches(qr[1], {3}, {1, 0, 1}));
}

TEST(GraphUtils, ExportToDot) {
  array a({1.0f, 2.0f, 3.0f, 4.0f}, {2, 2});
  array b({1.0f, -1.0f, 2.0f, -2.0f}, {2, 2});
  array out = exp(a + b) * a;
  std::ostringstream os;
  export_to_dot(os, {out});
  const std::string dot = os.str();
  EXPECT_EQ(dot.rfind("digraph", 0), 0u);
  EXPECT_EQ(count_of(dot, "{"), count_of(dot, "}"));
  EXPECT_EQ(count_of(dot, "{"), 1u);
  EXPECT_EQ(dot.substr(dot.size() - 2), "}\n");
  // 3 primitives; one edge per input use (2 + 1 + 2) and one per output (3).
  EXPECT_EQ(count_of(dot, "shape=ellipse"), 3u);
  EXPECT_EQ(count_of(dot, "shape=box"), 5u);  // A, B, C, D, E
  auto edges = edges_of(dot);
  ASSERT_EQ(edges.size(), 8u) << dot;
  std::vector<std::pair<std::string, std::string>> expected = {
      {"\"A\"", "\"P0\""}, {"\"B\"", "\"P0\""}, {"\"P0\"", "\"C\""}, {"\"C\"", "\"P1\""},
      {"\"P1\"", "\"D\""}, {"\"D\"", "\"P2\""}, {"\"A\"", "\"P2\""}, {"\"P2\"", "\"E\""}};
  EXPECT_EQ(edges, expected) << dot;
  EXPECT_NE(dot.find("\"P0\" [label=\"Add\""), std::string::npos) << dot;
  EXPECT_NE(dot.find("\"P1\" [label=\"Exp\""), std::string::npos) << dot;
  EXPECT_NE(dot.find("\"P2\" [label=\"Multiply\""), std::string::npos) << dot;
  EXPECT_NE(dot.find("label=\"E\\n(2, 2) float32\""), std::string::npos) << dot;

  // Once evaluated, the output is a leaf: no primitives, no edges.
  eval({out});
  EXPECT_TRUE(test::matches(out, {2, 2}, {std::exp(2.0), 2.0 * std::exp(1.0), 3.0 * std::exp(5.0), 4.0 * std::exp(2.0)}));
  std::ostringstream after;
  export_to_dot(after, {out});
  EXPECT_EQ(count_of(after.str(), "shape=ellipse"), 0u);
  EXPECT_EQ(count_of(after.str(), "shape=box"), 1u);
  EXPECT_TRUE(edges_of(after.str()).empty());
  EXPECT_EQ(count_of(after.str(), "{"), count_of(after.str(), "}"));
  std::ostringstream printed;
  print_graph(printed, {out});
  EXPECT_EQ(printed.str(), "Inputs: A (2, 2) float32\nOutputs: A (2, 2) float32\n");
}

TEST(GraphUtils, NodeNamer) {
  NodeNamer namer;
  std::vector<array> arrays;
  for (int i = 0; i < 30; ++i) arrays.emplace_back(static_cast<float>(i));
  EXPECT_EQ(namer.get_name(arrays[0]), "A");
  EXPECT_EQ(namer.get_name(arrays[25]), "B");  // names follow the order asked
  for (int i = 1; i < 25; ++i) namer.get_name(arrays[i]);
  EXPECT_EQ(namer.get_name(arrays[0]), "A");  // stable
  EXPECT_EQ(namer.get_name(arrays[24]), "Z");
  EXPECT_EQ(namer.get_name(arrays[26]), "AA");
  EXPECT_EQ(namer.get_name(arrays[27]), "AB");
}

TEST(GraphUtils, DeepGraphDoesNotRecurse) {
  array x(1.0f);
  for (int i = 0; i < 200000; ++i) x = x + 1.0f;
  std::ostringstream os;
  print_graph(os, {x});
  EXPECT_EQ(lines_of(os.str()).size(), 200000u + 2u);
  EXPECT_FLOAT_EQ(x.item<float>(), 200001.0f);
}

TEST(GraphUtils, MlxNamesResolve) {
  mx::array a = mx::array({1.0f, 2.0f});
  mx::array b = mx::exp(mx::add(a, a));
  std::ostringstream os;
  mx::print_graph(os, b);
  EXPECT_EQ(os.str(), "Inputs: A (2,) float32\nAdd A, A -> B (2,) float32\nExp B -> C (2,) float32\n"
                      "Outputs: C (2,) float32\n");
  std::ostringstream dot;
  mx::export_to_dot(dot, b);
  EXPECT_EQ(dot.str().rfind("digraph {", 0), 0u);
  EXPECT_EQ(edges_of(dot.str()).size(), 5u);  // A twice into Add, Add -> B, B -> Exp, Exp -> C
  mx::NodeNamer namer;
  std::ostringstream os2;
  mx::print_graph(os2, namer, {b});
  EXPECT_EQ(os2.str(), os.str());
  mx::eval(b);
  EXPECT_TRUE(test::matches(b, {2}, {std::exp(2.0), std::exp(4.0)}));
}

}  // namespace
}  // namespace mica
