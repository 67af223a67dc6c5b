// mica::Tree: nested lists and insertion-ordered dicts whose leaves are arrays and modules, and
// the tree utilities of MLX's mlx.utils (flatten, unflatten, map, reduce, merge). The exact
// behaviour is specified in shared/spec/module.md §1-§2; where mica departs from MLX it says so.
#pragma once
#include <concepts>
#include <cstddef>
#include <functional>
#include <initializer_list>
#include <map>
#include <tuple>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <new>
#include <vector>

#include "mica/array.h"
#include "mica/error.h"

namespace mica {

namespace nn {
class Module;
}

namespace detail {
/** Small blocks from a per-thread free list (falls back to operator new above 1 KiB): a module
 *  tree allocates one dict per module, and malloc dominated the cost of parameters(). */
void* pool_allocate(std::size_t bytes);
/** Returns a block of pool_allocate(bytes). */
void pool_deallocate(void* p, std::size_t bytes) noexcept;

/** A stateless std::allocator replacement over pool_allocate. */
template <class T>
struct PoolAllocator {
  using value_type = T;
  PoolAllocator() noexcept = default;
  template <class U>
  PoolAllocator(const PoolAllocator<U>&) noexcept {}
  T* allocate(std::size_t n) { return static_cast<T*>(pool_allocate(n * sizeof(T))); }
  void deallocate(T* p, std::size_t n) noexcept { pool_deallocate(p, n * sizeof(T)); }
  template <class U>
  bool operator==(const PoolAllocator<U>&) const noexcept {
    return true;
  }
};
}  // namespace detail

/** A mapping with unique string keys that keeps insertion order (a vector of pairs: the dicts of
 *  a parameter tree are small, so lookups scan). */
template <class V>
class OrderedDict {
 public:
  using value_type = std::pair<std::string, V>;
  using storage = std::vector<value_type, detail::PoolAllocator<value_type>>;
  using iterator = typename storage::iterator;
  using const_iterator = typename storage::const_iterator;

  OrderedDict() = default;
  /** Builds from (key, value) pairs; a repeated key keeps its first position and its last value. */
  OrderedDict(std::initializer_list<value_type> items) {
    items_.reserve(items.size());
    for (auto& it : items) insert_or_assign(it.first, it.second);
  }

  /** Number of entries. */
  std::size_t size() const { return items_.size(); }
  /** True without entries. */
  bool empty() const { return items_.empty(); }
  /** Reserves room for n entries. */
  void reserve(std::size_t n) { items_.reserve(n); }
  /** Removes every entry. */
  void clear() { items_.clear(); }

  /** Iteration over (key, value) pairs in insertion order. */
  iterator begin() { return items_.begin(); }
  /** End of the iteration. */
  iterator end() { return items_.end(); }
  /** Iteration over (key, value) pairs in insertion order. */
  const_iterator begin() const { return items_.begin(); }
  /** End of the iteration. */
  const_iterator end() const { return items_.end(); }
  /** The last entry (the dict must not be empty). */
  value_type& back() { return items_.back(); }
  const value_type& back() const { return items_.back(); }

  /** The entry with `key`, or end(). */
  iterator find(std::string_view key) {
    for (auto it = items_.begin(); it != items_.end(); ++it)
      if (it->first == key) return it;
    return items_.end();
  }
  const_iterator find(std::string_view key) const {
    for (auto it = items_.begin(); it != items_.end(); ++it)
      if (it->first == key) return it;
    return items_.end();
  }
  /** True if `key` is present. */
  bool contains(std::string_view key) const { return find(key) != items_.end(); }
  /** The value of `key`; throws KeyError `[OrderedDict] Key "<k>" not found.` */
  V& at(std::string_view key) {
    auto it = find(key);
    if (it == items_.end()) missing(key);
    return it->second;
  }
  const V& at(std::string_view key) const {
    auto it = find(key);
    if (it == items_.end()) missing(key);
    return it->second;
  }
  /** Sets `key`: an existing key keeps its position, a new one is appended. */
  V& insert_or_assign(std::string_view key, V value) {
    auto it = find(key);
    if (it != items_.end()) {
      it->second = std::move(value);
      return it->second;
    }
    items_.emplace_back(std::string(key), std::move(value));
    return items_.back().second;
  }
  /** Appends `key` without looking for it first (the caller knows it is new). */
  template <class K, class... Args>
  V& emplace_back_unchecked(K&& key, Args&&... value_args) {
    items_.emplace_back(std::piecewise_construct, std::forward_as_tuple(std::forward<K>(key)),
                        std::forward_as_tuple(std::forward<Args>(value_args)...));
    return items_.back().second;
  }
  /** Removes `key` if present, keeping the order of the others; returns whether it was there. */
  bool erase(std::string_view key) {
    auto it = find(key);
    if (it == items_.end()) return false;
    items_.erase(it);
    return true;
  }
  /** The keys in order. */
  std::vector<std::string> keys() const {
    std::vector<std::string> k;
    k.reserve(items_.size());
    for (auto& it : items_) k.push_back(it.first);
    return k;
  }

  /** Same keys in the same order with equal values. */
  bool operator==(const OrderedDict& o) const { return items_ == o.items_; }

 private:
  [[noreturn]] static void missing(std::string_view key) {
    throw KeyError("[OrderedDict] Key \"" + std::string(key) + "\" not found.");
  }
  storage items_;
};

/** A value of a parameter tree: none, an array, a module, a list or an insertion-ordered dict. */
class Tree {
 public:
  enum class Kind { none, array, module, list, dict };
  using List = std::vector<Tree>;
  using Dict = OrderedDict<Tree>;

  /** The empty tree (none). */
  Tree() noexcept {}
  /** An array leaf. */
  Tree(const array& a) : kind_(Kind::array) { new (&a_) array(a); }
  Tree(array&& a) : kind_(Kind::array) { new (&a_) array(std::move(a)); }
  /** A list. */
  Tree(List l) : kind_(Kind::list) { new (&l_) List(std::move(l)); }
  /** A dict. */
  Tree(Dict d) : kind_(Kind::dict) { new (&d_) Dict(std::move(d)); }
  /** A module leaf (shared, not copied); throws std::invalid_argument on a null pointer. */
  template <class M>
    requires std::is_convertible_v<M*, nn::Module*>
  Tree(std::shared_ptr<M> m) {
    if (!m) throw std::invalid_argument("[Tree] Expected a module but found a null pointer.");
    new (&m_) std::shared_ptr<nn::Module>(std::move(m));
    kind_ = Kind::module;
  }
  /** A copy: list and dict nodes are duplicated, array handles and module pointers shared. */
  Tree(const Tree& o) { copy_from(o); }
  /** Moves o's value here; o becomes none. */
  Tree(Tree&& o) noexcept { move_from(std::move(o)); }
  /** Copy-assigns (o may be a subtree of this tree). */
  Tree& operator=(const Tree& o) {
    if (this == &o) return *this;
    if (kind_ == Kind::array && o.kind_ == Kind::array) {
      a_ = o.a_;
    } else {
      Tree tmp(o);  // o may live inside this tree
      destroy();
      move_from(std::move(tmp));
    }
    return *this;
  }
  /** Move-assigns (o may be a subtree of this tree); o becomes none. */
  Tree& operator=(Tree&& o) noexcept {
    if (this == &o) return *this;
    Tree tmp(std::move(o));  // o may live inside this tree
    destroy();
    move_from(std::move(tmp));
    return *this;
  }
  /** Releases the value. */
  ~Tree() { destroy(); }

  /** Which kind of value this is. */
  Kind kind() const { return kind_; }
  /** True for none. */
  bool is_none() const { return kind_ == Kind::none; }
  /** True for an array. */
  bool is_array() const { return kind_ == Kind::array; }
  /** True for a module. */
  bool is_module() const { return kind_ == Kind::module; }
  /** True for a list. */
  bool is_list() const { return kind_ == Kind::list; }
  /** True for a dict. */
  bool is_dict() const { return kind_ == Kind::dict; }
  /** True for none, an empty list and an empty dict. */
  bool empty() const;
  /** Number of elements of a list or dict; 0 for anything else. */
  std::size_t size() const;
  /** The kind as messages name it: none, array, list, dict, or the module's name(). */
  std::string kind_name() const;

  /** The array; throws std::invalid_argument `[Tree] Expected array but found <kind>.` */
  array& as_array();
  const array& as_array() const;
  /** The list; throws std::invalid_argument on another kind. */
  List& as_list();
  const List& as_list() const;
  /** The dict; throws std::invalid_argument on another kind. */
  Dict& as_dict();
  const Dict& as_dict() const;
  /** The module (shallow const: the module itself stays mutable). */
  nn::Module& as_module() const;
  /** The module's shared pointer; throws std::invalid_argument on another kind. */
  std::shared_ptr<nn::Module> module_ptr() const;

  /** The value under `key` of a dict; never inserts. Throws KeyError `[Tree] Key "<k>" not found.` */
  Tree& at(std::string_view key);
  const Tree& at(std::string_view key) const;
  /** Element i of a list; throws std::out_of_range `[Tree] Index <i> is out of bounds for list of length <n>.` */
  template <std::integral I>
  Tree& at(I i) {
    return at_index(static_cast<long long>(i));
  }
  template <std::integral I>
  const Tree& at(I i) const {
    return const_cast<Tree*>(this)->at_index(static_cast<long long>(i));
  }
  /** Same as at(key). */
  Tree& operator[](std::string_view key) { return at(key); }
  const Tree& operator[](std::string_view key) const { return at(key); }
  /** Same as at(i). */
  template <std::integral I>
  Tree& operator[](I i) {
    return at(i);
  }
  template <std::integral I>
  const Tree& operator[](I i) const {
    return at(i);
  }
  /** True only for a dict holding `key`. */
  bool contains(std::string_view key) const { return is_dict() && d_.contains(key); }

  /** Structural, order-sensitive equality: arrays by id(), modules by pointer. */
  friend bool operator==(const Tree& a, const Tree& b);

 private:
  Tree& at_index(long long i);
  [[noreturn]] void wrong_kind(const char* expected) const;
  void copy_from(const Tree& o) {
    switch (o.kind_) {
      case Kind::none: break;
      case Kind::array: new (&a_) array(o.a_); break;
      case Kind::module: new (&m_) std::shared_ptr<nn::Module>(o.m_); break;
      case Kind::list: new (&l_) List(o.l_); break;
      case Kind::dict: new (&d_) Dict(o.d_); break;
    }
    kind_ = o.kind_;
  }
  void move_from(Tree&& o) noexcept {
    switch (o.kind_) {
      case Kind::none: break;
      case Kind::array: new (&a_) array(std::move(o.a_)); break;
      case Kind::module: new (&m_) std::shared_ptr<nn::Module>(std::move(o.m_)); break;
      case Kind::list: new (&l_) List(std::move(o.l_)); break;
      case Kind::dict: new (&d_) Dict(std::move(o.d_)); break;
    }
    kind_ = o.kind_;
    o.destroy();
  }
  void destroy() noexcept {
    switch (kind_) {
      case Kind::none: break;
      case Kind::array: a_.~array(); break;
      case Kind::module: m_.~shared_ptr(); break;
      case Kind::list: l_.~List(); break;
      case Kind::dict: d_.~Dict(); break;
    }
    kind_ = Kind::none;
  }

  // A tagged union (not std::variant: copying, moving and destroying inline here is what keeps
  // parameters() and friends cheap).
  Kind kind_ = Kind::none;
  union {
    array a_;
    std::shared_ptr<nn::Module> m_;
    List l_;
    Dict d_;
  };
};

/** True if the tree is a module leaf. */
inline bool is_module(const Tree& t) { return t.is_module(); }
/** Prints the structure: arrays as `array((2,), float32)` (not evaluated), modules by name,
 *  lists as `[...]`, dicts as `{key: ...}`, none as `none`. */
std::ostream& operator<<(std::ostream& os, const Tree& t);

/** Selects extra leaves for the tree utilities. */
using IsLeaf = std::function<bool(const Tree&)>;
/** (dotted path, leaf) pairs in depth-first container order. */
using Flat = std::vector<std::pair<std::string, Tree>>;

/** The leaves (arrays, modules and `is_leaf` nodes) with dotted paths; `prefix` is a leading
 *  segment (mica differs: MLX drops its first character). none, [] and {} emit nothing. */
Flat tree_flatten(const Tree& tree, const std::string& prefix = "", const IsLeaf& is_leaf = {});
/** tree_flatten for trees of arrays; throws std::invalid_argument
 *  `[tree_flatten] The argument should contain only arrays` on any other leaf. */
std::vector<std::pair<std::string, array>> tree_flatten_arrays(const Tree& tree, const std::string& prefix = "");

/** Rebuilds a tree from dotted paths: all-index groups become lists (gaps are none), others
 *  dicts in first-appearance order; no items give {}. Duplicate keys and a key that is both a
 *  leaf and a prefix throw std::invalid_argument. */
Tree tree_unflatten(const Flat& items);
/** tree_unflatten of (path, array) pairs. */
Tree tree_unflatten(const std::vector<std::pair<std::string, array>>& items);
/** tree_unflatten of a map, read in the map's order. */
Tree tree_unflatten(const std::map<std::string, array>& items);
/** tree_unflatten of an unordered map (its iteration order decides the dict order). */
Tree tree_unflatten(const std::unordered_map<std::string, array>& items);

/** Maps every leaf (array, module or `is_leaf` node) through fn; none stays none, containers
 *  keep their shape. */
Tree tree_map(const std::function<Tree(const Tree&)>& fn, const Tree& tree, const IsLeaf& is_leaf = {});
/** Maps every leaf with the nodes at the same position of the `rest` trees, which must contain
 *  the first tree's structure (KeyError / std::out_of_range / std::invalid_argument otherwise). */
Tree tree_map(const std::function<Tree(const Tree&, const std::vector<Tree>&)>& fn, const Tree& tree,
              const std::vector<Tree>& rest, const IsLeaf& is_leaf = {});
/** tree_map whose fn also receives the leaf's dotted path (starting from `path`). */
Tree tree_map_with_path(const std::function<Tree(const std::string&, const Tree&, const std::vector<Tree>&)>& fn,
                        const Tree& tree, const std::vector<Tree>& rest = {}, const IsLeaf& is_leaf = {},
                        const std::string& path = "");

/** Calls fn on every leaf (array, module or `is_leaf` node) in flatten order. */
void tree_visit_leaves(const Tree& tree, const std::function<void(const Tree&)>& fn, const IsLeaf& is_leaf = {});

/** Left fold over the leaves in flatten order, starting from init. */
template <class T>
T tree_reduce(const std::type_identity_t<std::function<T(T, const Tree&)>>& fn, const Tree& tree, T init,
              const IsLeaf& is_leaf = {}) {
  tree_visit_leaves(tree, [&](const Tree& leaf) { init = fn(std::move(init), leaf); }, is_leaf);
  return init;
}
/** Left fold seeded by the first leaf; nullopt for a tree without leaves. */
std::optional<Tree> tree_reduce(const std::function<Tree(Tree, const Tree&)>& fn, const Tree& tree,
                                const IsLeaf& is_leaf = {});

/** Deep merge of two trees: dicts by key (a's order, then b's new keys), lists pairwise, an
 *  empty side (none, [] or {}) yields the other; two leaves go to merge_fn or throw. */
Tree tree_merge(const Tree& a, const Tree& b, const std::function<Tree(const Tree&, const Tree&)>& merge_fn = {});

/** Same structure (kinds, keys, lengths), modules by pointer, arrays of equal shape and close
 *  values (evaluates). */
bool tree_allclose(const Tree& a, const Tree& b, double rtol = 1e-5, double atol = 1e-8);

namespace detail {
void eval_tree(const Tree& tree);
}
/** Evaluates every array in the tree (other leaves are ignored). A template so that eval({x})
 *  keeps meaning the vector overload. */
template <class T>
  requires std::same_as<T, Tree>
void eval(const T& tree) {
  detail::eval_tree(tree);
}

// -- Transforms over trees (spec/module.md V6) ----------------------------------------------

/** A scalar function of a tree of arrays. */
using TreeFn = std::function<array(const Tree&)>;
/** Value and gradient of fn with respect to every array of its tree argument; the gradient has
 *  the argument's structure (none stays none). Any other leaf (a module) throws
 *  std::invalid_argument `[tree_flatten] The argument should contain only arrays`. */
std::function<std::pair<array, Tree>(const Tree&)> value_and_grad_tree(const TreeFn& fn);
/** The gradient part of value_and_grad_tree. */
std::function<Tree(const Tree&)> grad_tree(const TreeFn& fn);

namespace detail {
template <class T>
struct takes_tree : std::false_type {};
template <class C, class R>
struct takes_tree<R (C::*)(const Tree&) const> : std::true_type {};
template <class C, class R>
struct takes_tree<R (C::*)(const Tree&)> : std::true_type {};
/** A callable (a lambda) whose one parameter is `const Tree&`. */
template <class F>
concept TreeCallable = requires { &std::decay_t<F>::operator(); } &&
                       takes_tree<decltype(&std::decay_t<F>::operator())>::value;
}  // namespace detail

/** value_and_grad of a lambda taking `const Tree&`: value_and_grad_tree. (The array overloads
 *  in mica/transforms.h keep serving lambdas of arrays.) */
template <detail::TreeCallable F>
auto value_and_grad(F&& fn) {
  return value_and_grad_tree(TreeFn(std::forward<F>(fn)));
}
/** grad of a lambda taking `const Tree&`: grad_tree. */
template <detail::TreeCallable F>
auto grad(F&& fn) {
  return grad_tree(TreeFn(std::forward<F>(fn)));
}

}  // namespace mica
