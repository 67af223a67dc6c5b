// Tree and the tree utilities (spec/module.md §1-§2).
#include "mica/tree.h"

#include <algorithm>
#include <charconv>

#include "mica/nn/module.h"
#include "mica/ops.h"
#include "mica/transforms.h"

namespace mica {

// ---------------------------------------------------------------------------------------------
// Small-block pool for dict storage

namespace detail {
namespace {
constexpr std::size_t kPoolGranule = 64;     // size classes: 64, 128, ..., 1024 bytes
constexpr std::size_t kPoolClasses = 16;
constexpr std::size_t kPoolKeepPerClass = 256;  // blocks kept per class and thread

struct FreeBlock {
  FreeBlock* next;
};

// Plain data, so the thread_local needs no construction guard and stays usable during thread
// and program exit: the Drainer below empties it at thread exit and marks it dead, after which
// blocks go straight to operator new / delete.
struct ThreadPool {
  FreeBlock* head[kPoolClasses];
  std::size_t count[kPoolClasses];
  bool registered;
  bool dead;
};
thread_local ThreadPool t_pool{};

struct Drainer {
  ~Drainer() {
    for (std::size_t c = 0; c < kPoolClasses; ++c) {
      while (FreeBlock* b = t_pool.head[c]) {
        t_pool.head[c] = b->next;
        ::operator delete(b);
      }
      t_pool.count[c] = 0;
    }
    t_pool.dead = true;
  }
};
}  // namespace

void* pool_allocate(std::size_t bytes) {
  if (bytes == 0 || bytes > kPoolGranule * kPoolClasses) return ::operator new(bytes);
  std::size_t c = (bytes - 1) / kPoolGranule;
  ThreadPool& p = t_pool;
  if (FreeBlock* b = p.head[c]) {
    p.head[c] = b->next;
    --p.count[c];
    return b;
  }
  return ::operator new((c + 1) * kPoolGranule);
}

void pool_deallocate(void* ptr, std::size_t bytes) noexcept {
  if (!ptr) return;
  if (bytes == 0 || bytes > kPoolGranule * kPoolClasses) {
    ::operator delete(ptr);
    return;
  }
  std::size_t c = (bytes - 1) / kPoolGranule;
  ThreadPool& p = t_pool;
  if (p.dead || p.count[c] >= kPoolKeepPerClass) {
    ::operator delete(ptr);
    return;
  }
  if (!p.registered) {
    // The first block kept by this thread: make sure the lists are emptied at thread exit.
    static thread_local Drainer drainer;
    (void)drainer;
    p.registered = true;
  }
  auto* b = static_cast<FreeBlock*>(ptr);
  b->next = p.head[c];
  p.head[c] = b;
  ++p.count[c];
}
}  // namespace detail

// ---------------------------------------------------------------------------------------------
// Tree

bool Tree::empty() const {
  switch (kind()) {
    case Kind::none: return true;
    case Kind::list: return l_.empty();
    case Kind::dict: return d_.empty();
    default: return false;
  }
}

std::size_t Tree::size() const {
  if (is_list()) return l_.size();
  if (is_dict()) return d_.size();
  return 0;
}

std::string Tree::kind_name() const {
  switch (kind()) {
    case Kind::none: return "none";
    case Kind::array: return "array";
    case Kind::module: return m_->name();
    case Kind::list: return "list";
    case Kind::dict: return "dict";
  }
  return "none";
}

void Tree::wrong_kind(const char* expected) const {
  throw std::invalid_argument(std::string("[Tree] Expected ") + expected + " but found " + kind_name() + ".");
}

array& Tree::as_array() {
  if (!is_array()) wrong_kind("array");
  return a_;
}
const array& Tree::as_array() const {
  if (!is_array()) wrong_kind("array");
  return a_;
}
Tree::List& Tree::as_list() {
  if (!is_list()) wrong_kind("list");
  return l_;
}
const Tree::List& Tree::as_list() const {
  if (!is_list()) wrong_kind("list");
  return l_;
}
Tree::Dict& Tree::as_dict() {
  if (!is_dict()) wrong_kind("dict");
  return d_;
}
const Tree::Dict& Tree::as_dict() const {
  if (!is_dict()) wrong_kind("dict");
  return d_;
}
nn::Module& Tree::as_module() const {
  if (!is_module()) wrong_kind("module");
  return *m_;
}
std::shared_ptr<nn::Module> Tree::module_ptr() const {
  if (!is_module()) wrong_kind("module");
  return m_;
}

Tree& Tree::at(std::string_view key) {
  auto& d = as_dict();
  auto it = d.find(key);
  if (it == d.end()) throw KeyError("[Tree] Key \"" + std::string(key) + "\" not found.");
  return it->second;
}
const Tree& Tree::at(std::string_view key) const { return const_cast<Tree*>(this)->at(key); }

Tree& Tree::at_index(long long i) {
  auto& l = as_list();
  if (i < 0 || static_cast<std::size_t>(i) >= l.size()) {
    throw std::out_of_range("[Tree] Index " + std::to_string(i) + " is out of bounds for list of length " +
                            std::to_string(l.size()) + ".");
  }
  return l[static_cast<std::size_t>(i)];
}

bool operator==(const Tree& a, const Tree& b) {
  if (a.kind_ != b.kind_) return false;
  switch (a.kind()) {
    case Tree::Kind::none: return true;
    case Tree::Kind::array: return a.a_.id() == b.a_.id();
    case Tree::Kind::module: return a.m_ == b.m_;
    case Tree::Kind::list: return a.l_ == b.l_;
    case Tree::Kind::dict: return a.d_ == b.d_;
  }
  return false;
}

std::ostream& operator<<(std::ostream& os, const Tree& t) {
  switch (t.kind()) {
    case Tree::Kind::none: return os << "none";
    case Tree::Kind::array: {
      auto& a = t.as_array();
      return os << "array(" << detail::shape_str(a.shape()) << ", " << a.dtype() << ")";
    }
    case Tree::Kind::module: return os << "<" << t.kind_name() << ">";
    case Tree::Kind::list: {
      os << "[";
      bool first = true;
      for (auto& e : t.as_list()) {
        os << (first ? "" : ", ") << e;
        first = false;
      }
      return os << "]";
    }
    case Tree::Kind::dict: {
      os << "{";
      bool first = true;
      for (auto& [k, v] : t.as_dict()) {
        os << (first ? "" : ", ") << k << ": " << v;
        first = false;
      }
      return os << "}";
    }
  }
  return os;
}

// ---------------------------------------------------------------------------------------------
// Flatten and friends. Paths are built in one growing string buffer (truncated back after each
// child), so a walk allocates only for the emitted keys.

namespace {

// Appends segment `seg` to `path` (dot-separated); returns the old length to truncate back to.
std::size_t push_segment(std::string& path, std::string_view seg) {
  std::size_t old = path.size();
  if (!path.empty()) path += '.';
  path.append(seg.data(), seg.size());
  return old;
}
std::size_t push_index(std::string& path, std::size_t i) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof(buf), i);
  return push_segment(path, std::string_view(buf, static_cast<std::size_t>(r.ptr - buf)));
}

// Depth-first over the leaves: is_leaf nodes, arrays and modules; lists and dicts recurse.
template <class F>
void walk_leaves(const Tree& t, std::string& path, const IsLeaf& is_leaf, F&& emit) {
  if (is_leaf && is_leaf(t)) {
    emit(path, t);
    return;
  }
  switch (t.kind()) {
    case Tree::Kind::array:
    case Tree::Kind::module: emit(path, t); return;
    case Tree::Kind::list: {
      auto& l = t.as_list();
      for (std::size_t i = 0; i < l.size(); ++i) {
        auto old = push_index(path, i);
        walk_leaves(l[i], path, is_leaf, emit);
        path.resize(old);
      }
      return;
    }
    case Tree::Kind::dict:
      for (auto& [k, v] : t.as_dict()) {
        auto old = push_segment(path, k);
        walk_leaves(v, path, is_leaf, emit);
        path.resize(old);
      }
      return;
    case Tree::Kind::none: return;
  }
}

}  // namespace

Flat tree_flatten(const Tree& tree, const std::string& prefix, const IsLeaf& is_leaf) {
  Flat out;
  std::string path = prefix;
  walk_leaves(tree, path, is_leaf, [&](const std::string& p, const Tree& leaf) { out.emplace_back(p, leaf); });
  return out;
}

std::vector<std::pair<std::string, array>> tree_flatten_arrays(const Tree& tree, const std::string& prefix) {
  std::vector<std::pair<std::string, array>> out;
  std::string path = prefix;
  walk_leaves(tree, path, IsLeaf{}, [&](const std::string& p, const Tree& leaf) {
    if (!leaf.is_array()) throw std::invalid_argument("[tree_flatten] The argument should contain only arrays");
    out.emplace_back(p, leaf.as_array());
  });
  return out;
}

void tree_visit_leaves(const Tree& tree, const std::function<void(const Tree&)>& fn, const IsLeaf& is_leaf) {
  std::string path;
  walk_leaves(tree, path, is_leaf, [&](const std::string&, const Tree& leaf) { fn(leaf); });
}

std::optional<Tree> tree_reduce(const std::function<Tree(Tree, const Tree&)>& fn, const Tree& tree,
                                const IsLeaf& is_leaf) {
  std::optional<Tree> acc;
  tree_visit_leaves(
      tree,
      [&](const Tree& leaf) {
        if (!acc) acc = leaf;
        else acc = fn(std::move(*acc), leaf);
      },
      is_leaf);
  return acc;
}

// ---------------------------------------------------------------------------------------------
// Unflatten

namespace {

struct Item {
  std::string_view key;  // the part of the path still to place
  const Tree* value;
};

// Lists longer than this would be a corrupt or hostile checkpoint, not a model.
constexpr long long kMaxListIndex = 1 << 24;

// A canonical list index: "0" or [1-9][0-9]*; -1 otherwise.
long long canonical_index(std::string_view s) {
  if (s.empty() || s.size() > 18) return -1;
  if (s.size() > 1 && s[0] == '0') return -1;
  long long v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return -1;
    v = v * 10 + (c - '0');
  }
  return v;
}

std::string join_path(const std::string& path, std::string_view seg) {
  return path.empty() ? std::string(seg) : path + "." + std::string(seg);
}

Tree unflatten_items(const std::vector<Item>& items, const std::string& path) {
  if (items.empty()) return Tree(Tree::Dict{});
  if (items.size() == 1 && items[0].key.empty()) return *items[0].value;

  // Group by first segment, in order of first appearance.
  struct Group {
    std::string_view seg;
    std::vector<Item> rest;
    int leaves = 0;  // items whose rest is "" (the group's own value)
  };
  std::vector<Group> groups;
  for (auto& it : items) {
    auto dot = it.key.find('.');
    std::string_view seg = dot == std::string_view::npos ? it.key : it.key.substr(0, dot);
    std::string_view rest = dot == std::string_view::npos ? std::string_view() : it.key.substr(dot + 1);
    Group* g = nullptr;
    for (auto& gr : groups) {
      if (gr.seg == seg) {
        g = &gr;
        break;
      }
    }
    if (!g) g = &groups.emplace_back(Group{seg, {}, 0});
    g->rest.push_back(Item{rest, it.value});
    if (rest.empty()) ++g->leaves;
  }
  for (auto& g : groups) {
    if (g.leaves > 1) throw std::invalid_argument("[tree_unflatten] Duplicate key \"" + join_path(path, g.seg) + "\".");
    if (g.leaves == 1 && g.rest.size() > 1) {
      throw std::invalid_argument("[tree_unflatten] Key \"" + join_path(path, g.seg) + "\" is both a leaf and a prefix.");
    }
  }

  bool all_index = true;
  long long max_index = -1;
  std::vector<long long> idx(groups.size());
  for (std::size_t i = 0; i < groups.size(); ++i) {
    idx[i] = canonical_index(groups[i].seg);
    if (idx[i] < 0) {
      all_index = false;
      break;
    }
    max_index = std::max(max_index, idx[i]);
  }
  if (all_index) {
    if (max_index >= kMaxListIndex) {
      throw std::invalid_argument("[tree_unflatten] List index " + std::to_string(max_index) + " at \"" + path +
                                  "\" is too large (at most " + std::to_string(kMaxListIndex - 1) + ").");
    }
    Tree::List list(static_cast<std::size_t>(max_index + 1));
    for (std::size_t i = 0; i < groups.size(); ++i) {
      list[static_cast<std::size_t>(idx[i])] = unflatten_items(groups[i].rest, join_path(path, groups[i].seg));
    }
    return Tree(std::move(list));
  }
  Tree::Dict dict;
  dict.reserve(groups.size());
  for (auto& g : groups) {
    dict.emplace_back_unchecked(std::string(g.seg), unflatten_items(g.rest, join_path(path, g.seg)));
  }
  return Tree(std::move(dict));
}

template <class Range>
Tree unflatten_range(const Range& r, std::vector<Tree>& storage) {
  std::vector<Item> items;
  items.reserve(storage.size());
  std::size_t i = 0;
  for (auto& [k, v] : r) items.push_back(Item{k, &storage[i++]});
  return unflatten_items(items, "");
}

template <class Range>
Tree unflatten_arrays(const Range& r) {
  std::vector<Tree> storage;
  storage.reserve(r.size());
  for (auto& [k, v] : r) storage.emplace_back(v);
  return unflatten_range(r, storage);
}

}  // namespace

Tree tree_unflatten(const Flat& items) {
  std::vector<Item> v;
  v.reserve(items.size());
  for (auto& [k, t] : items) v.push_back(Item{k, &t});
  return unflatten_items(v, "");
}
Tree tree_unflatten(const std::vector<std::pair<std::string, array>>& items) { return unflatten_arrays(items); }
Tree tree_unflatten(const std::map<std::string, array>& items) { return unflatten_arrays(items); }
Tree tree_unflatten(const std::unordered_map<std::string, array>& items) { return unflatten_arrays(items); }

// ---------------------------------------------------------------------------------------------
// Map

namespace {

using MapFn = std::function<Tree(const std::string&, const Tree&, const std::vector<Tree>&)>;

// The nodes of the rest trees at child `key` of a dict position.
std::vector<Tree> rest_at_key(const std::vector<Tree>& rest, const std::string& key) {
  std::vector<Tree> out;
  out.reserve(rest.size());
  for (auto& r : rest) {
    if (!r.is_dict()) {
      throw std::invalid_argument("[tree_map] Additional input tree is not a valid prefix of the first tree.");
    }
    auto& d = r.as_dict();
    auto it = d.find(key);
    if (it == d.end()) throw KeyError("[tree_map] Key \"" + key + "\" is missing from an additional tree.");
    out.push_back(it->second);
  }
  return out;
}

std::vector<Tree> rest_at_index(const std::vector<Tree>& rest, std::size_t i) {
  std::vector<Tree> out;
  out.reserve(rest.size());
  for (auto& r : rest) {
    if (!r.is_list()) {
      throw std::invalid_argument("[tree_map] Additional input tree is not a valid prefix of the first tree.");
    }
    auto& l = r.as_list();
    if (i >= l.size()) {
      throw std::out_of_range("[tree_map] Index " + std::to_string(i) + " is missing from an additional tree.");
    }
    out.push_back(l[i]);
  }
  return out;
}

// `with_path` false: paths are not built (plain tree_map).
Tree map_node(const MapFn& fn, const Tree& t, const std::vector<Tree>& rest, const IsLeaf& is_leaf, std::string& path,
              bool with_path) {
  if (t.is_none()) return Tree();
  if ((is_leaf && is_leaf(t)) || t.is_array() || t.is_module()) return fn(path, t, rest);
  if (t.is_list()) {
    auto& l = t.as_list();
    Tree::List out;
    out.reserve(l.size());
    for (std::size_t i = 0; i < l.size(); ++i) {
      std::size_t old = with_path ? push_index(path, i) : path.size();
      out.push_back(map_node(fn, l[i], rest.empty() ? rest : rest_at_index(rest, i), is_leaf, path, with_path));
      path.resize(old);
    }
    return Tree(std::move(out));
  }
  auto& d = t.as_dict();
  Tree::Dict out;
  out.reserve(d.size());
  for (auto& [k, v] : d) {
    std::size_t old = with_path ? push_segment(path, k) : path.size();
    out.emplace_back_unchecked(k, map_node(fn, v, rest.empty() ? rest : rest_at_key(rest, k), is_leaf, path, with_path));
    path.resize(old);
  }
  return Tree(std::move(out));
}

}  // namespace

Tree tree_map(const std::function<Tree(const Tree&)>& fn, const Tree& tree, const IsLeaf& is_leaf) {
  std::string path;
  MapFn f = [&](const std::string&, const Tree& t, const std::vector<Tree>&) { return fn(t); };
  return map_node(f, tree, {}, is_leaf, path, false);
}

Tree tree_map(const std::function<Tree(const Tree&, const std::vector<Tree>&)>& fn, const Tree& tree,
              const std::vector<Tree>& rest, const IsLeaf& is_leaf) {
  std::string path;
  MapFn f = [&](const std::string&, const Tree& t, const std::vector<Tree>& r) { return fn(t, r); };
  return map_node(f, tree, rest, is_leaf, path, false);
}

Tree tree_map_with_path(const std::function<Tree(const std::string&, const Tree&, const std::vector<Tree>&)>& fn,
                        const Tree& tree, const std::vector<Tree>& rest, const IsLeaf& is_leaf,
                        const std::string& path) {
  std::string p = path;
  return map_node(fn, tree, rest, is_leaf, p, true);
}

// ---------------------------------------------------------------------------------------------
// Merge

Tree tree_merge(const Tree& a, const Tree& b, const std::function<Tree(const Tree&, const Tree&)>& merge_fn) {
  bool ea = a.empty(), eb = b.empty();
  if (ea && eb) {
    if ((a.is_dict() && b.is_list()) || (a.is_list() && b.is_dict())) {
      throw std::invalid_argument("Cannot merge " + a.kind_name() + " with " + b.kind_name());
    }
    if (a.is_dict() || b.is_dict()) return Tree(Tree::Dict{});
    if (a.is_list() || b.is_list()) return Tree(Tree::List{});
    return Tree();
  }
  if (ea) return b;
  if (eb) return a;
  if (a.is_list() && b.is_list()) {
    auto& la = a.as_list();
    auto& lb = b.as_list();
    std::size_t n = std::max(la.size(), lb.size());
    Tree::List out;
    out.reserve(n);
    static const Tree none;
    for (std::size_t i = 0; i < n; ++i) {
      out.push_back(tree_merge(i < la.size() ? la[i] : none, i < lb.size() ? lb[i] : none, merge_fn));
    }
    return Tree(std::move(out));
  }
  if (a.is_dict() && b.is_dict()) {
    auto& da = a.as_dict();
    auto& db = b.as_dict();
    static const Tree none;
    Tree::Dict out;
    out.reserve(da.size() + db.size());
    for (auto& [k, v] : da) {
      auto it = db.find(k);
      out.emplace_back_unchecked(k, tree_merge(v, it == db.end() ? none : it->second, merge_fn));
    }
    for (auto& [k, v] : db) {
      if (!da.contains(k)) out.emplace_back_unchecked(k, tree_merge(none, v, merge_fn));
    }
    return Tree(std::move(out));
  }
  if (!merge_fn) {
    throw std::invalid_argument("Trees contain elements at the same locations but no merge function was provided");
  }
  return merge_fn(a, b);
}

// ---------------------------------------------------------------------------------------------
// Comparison and evaluation

namespace {
bool allclose_rec(const Tree& a, const Tree& b, double rtol, double atol) {
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Tree::Kind::none: return true;
    case Tree::Kind::module: return a.module_ptr() == b.module_ptr();
    case Tree::Kind::array: {
      auto& x = a.as_array();
      auto& y = b.as_array();
      if (x.shape() != y.shape()) return false;
      return allclose(x, y, rtol, atol).item<bool>();
    }
    case Tree::Kind::list: {
      auto& la = a.as_list();
      auto& lb = b.as_list();
      if (la.size() != lb.size()) return false;
      for (std::size_t i = 0; i < la.size(); ++i)
        if (!allclose_rec(la[i], lb[i], rtol, atol)) return false;
      return true;
    }
    case Tree::Kind::dict: {
      auto& da = a.as_dict();
      auto& db = b.as_dict();
      if (da.size() != db.size()) return false;
      auto ib = db.begin();
      for (auto ia = da.begin(); ia != da.end(); ++ia, ++ib) {
        if (ia->first != ib->first || !allclose_rec(ia->second, ib->second, rtol, atol)) return false;
      }
      return true;
    }
  }
  return false;
}
}  // namespace

bool tree_allclose(const Tree& a, const Tree& b, double rtol, double atol) { return allclose_rec(a, b, rtol, atol); }

void detail::eval_tree(const Tree& tree) {
  std::vector<array> arrays;
  tree_visit_leaves(tree, [&](const Tree& leaf) {
    if (leaf.is_array()) arrays.push_back(leaf.as_array());
  });
  if (!arrays.empty()) eval(std::move(arrays));
}

std::function<std::pair<array, Tree>(const Tree&)> value_and_grad_tree(const TreeFn& fn) {
  return [fn](const Tree& params) {
    std::vector<array> leaves;
    for (auto& [path, a] : tree_flatten_arrays(params)) leaves.push_back(a);
    // The same tree with the i-th array replaced by xs[i] (flatten and tree_map share an order).
    auto rebuild = [&params](const std::vector<array>& xs) {
      size_t i = 0;
      return tree_map([&](const Tree&) -> Tree { return xs[i++]; }, params);
    };
    if (leaves.empty()) return std::make_pair(fn(params), params);
    std::vector<int> argnums(leaves.size());
    for (size_t i = 0; i < argnums.size(); ++i) argnums[i] = static_cast<int>(i);
    auto [value, grads] = value_and_grad(
        std::function<array(const std::vector<array>&)>([&](const std::vector<array>& xs) { return fn(rebuild(xs)); }),
        argnums)(leaves);
    return std::make_pair(value, rebuild(grads));
  };
}

std::function<Tree(const Tree&)> grad_tree(const TreeFn& fn) {
  auto vg = value_and_grad_tree(fn);
  return [vg](const Tree& params) { return vg(params).second; };
}

}  // namespace mica
