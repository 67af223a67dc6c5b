// nn::Module (spec/module.md §3-§11). The hot paths (parameters, update, freeze) walk the state
// directly with templated visitors rather than through std::function filters, and build dotted
// key strings only where a filter or an error message needs them.
#include "mica/nn/module.h"

#include <cxxabi.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <type_traits>
#include <typeinfo>
#include <unordered_map>
#include <unordered_set>

#include "mica/io.h"
#include "mica/ops.h"

namespace mica::nn {

/** Internal access to a module's private state for the walkers below. */
struct ModuleAccess {
  static Tree::Dict& state(Module& m) { return m.state_; }
  static const std::vector<std::string>& frozen(const Module& m) { return m.frozen_; }
};

namespace {

std::string index_str(std::size_t i) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof(buf), i);
  return std::string(buf, static_cast<std::size_t>(r.ptr - buf));
}

std::string dotted(const std::string& base, std::string_view seg) {
  std::string s;
  s.reserve(base.size() + 1 + seg.size());
  s += base;
  s += '.';
  s += seg;
  return s;
}

bool is_container_or_module(const Tree& v) { return v.is_module() || v.is_list() || v.is_dict(); }

bool is_frozen(const Module& owner, const std::string& key) {
  auto& f = ModuleAccess::frozen(owner);
  return std::find(f.begin(), f.end(), key) != f.end();
}

// -- filter_and_map ---------------------------------------------------------------------------

// The default map of filter_and_map.
struct IdentityMap {
  Tree operator()(const Tree& v) const { return v; }
};
const IdentityMap identity_map;

template <class Filt, class Leaf, class Map>
struct Unwrapper {
  const Filt& filter;
  const Leaf& is_leaf;
  const Map& map;

  Tree module(const Module& m) const {
    Tree::Dict out;
    out.reserve(m.state().size());
    for (auto& [k, v] : m.state()) {
      if (!filter(m, k, v)) continue;
      // Identity-mapped leaves are copied straight into place (the hot path of parameters()).
      if constexpr (std::is_same_v<Map, IdentityMap>) {
        if (is_leaf(m, k, v)) {
          out.emplace_back_unchecked(k, v);
          continue;
        }
      }
      out.emplace_back_unchecked(k, unwrap(m, k, v));
    }
    return Tree(std::move(out));
  }

  Tree unwrap(const Module& owner, const std::string& key, const Tree& v) const {
    if (is_leaf(owner, key, v)) return map(v);
    switch (v.kind()) {
      case Tree::Kind::module: return module(v.as_module());
      case Tree::Kind::dict: {
        auto& d = v.as_dict();
        Tree::Dict out;
        out.reserve(d.size());
        for (auto& [k2, v2] : d) {
          std::string kk = dotted(key, k2);
          out.emplace_back_unchecked(k2, filter(owner, kk, v2) ? unwrap(owner, kk, v2) : Tree());
        }
        return Tree(std::move(out));
      }
      case Tree::Kind::list: {
        auto& l = v.as_list();
        Tree::List out;
        out.reserve(l.size());
        for (std::size_t i = 0; i < l.size(); ++i) {
          std::string kk = dotted(key, index_str(i));
          out.push_back(filter(owner, kk, l[i]) ? unwrap(owner, kk, l[i]) : Tree());
        }
        return Tree(std::move(out));
      }
      default: throw std::runtime_error("Unexpected leaf found while traversing the module");
    }
  }
};

template <class Filt, class Leaf, class Map>
Tree run_filter_and_map(const Module& m, const Filt& filter, const Leaf& is_leaf, const Map& map) {
  return Unwrapper<Filt, Leaf, Map>{filter, is_leaf, map}.module(m);
}

const auto default_leaf = [](const Module&, const std::string&, const Tree& v) { return !is_container_or_module(v); };
const auto param_filter = [](const Module&, const std::string& k, const Tree& v) {
  return (v.is_array() || is_container_or_module(v)) && !(k.size() && k[0] == '_');
};
const auto trainable_filter = [](const Module& owner, const std::string& k, const Tree& v) {
  return param_filter(owner, k, v) && !is_frozen(owner, k);
};
const auto child_filter = [](const Module&, const std::string&, const Tree& v) { return is_container_or_module(v); };
const auto module_leaf = [](const Module&, const std::string&, const Tree& v) { return v.is_module(); };

bool contains_module(const Tree& t) {
  switch (t.kind()) {
    case Tree::Kind::module: return true;
    case Tree::Kind::list:
      for (auto& e : t.as_list())
        if (contains_module(e)) return true;
      return false;
    case Tree::Kind::dict:
      for (auto& [k, e] : t.as_dict())
        if (contains_module(e)) return true;
      return false;
    default: return false;
  }
}

bool has_child_modules(const Module& m) {
  for (auto& [k, v] : m.state())
    if (contains_module(v)) return true;
  return false;
}

// -- children in tree_flatten(children()) order ------------------------------------------------

std::size_t push_segment(std::string& path, std::string_view seg) {
  std::size_t old = path.size();
  if (!path.empty()) path += '.';
  path.append(seg.data(), seg.size());
  return old;
}

template <class F>
void visit_child_modules(const Tree& t, std::string& path, F& f) {
  switch (t.kind()) {
    case Tree::Kind::module: f(path, t.as_module()); return;
    case Tree::Kind::list: {
      auto& l = t.as_list();
      for (std::size_t i = 0; i < l.size(); ++i) {
        auto old = push_segment(path, index_str(i));
        visit_child_modules(l[i], path, f);
        path.resize(old);
      }
      return;
    }
    case Tree::Kind::dict:
      for (auto& [k, v] : t.as_dict()) {
        auto old = push_segment(path, k);
        visit_child_modules(v, path, f);
        path.resize(old);
      }
      return;
    default: return;
  }
}

// Calls f(path, child) for every module held in m's own containers, in flatten order; `path`
// starts as the prefix and is restored afterwards.
template <class F>
void for_each_child(const Module& m, std::string& path, F&& f) {
  for (auto& [k, v] : m.state()) {
    if (!is_container_or_module(v)) continue;
    auto old = push_segment(path, k);
    visit_child_modules(v, path, f);
    path.resize(old);
  }
}

// The walk of spec W1: pre-order, a stack, children pushed in flatten order (so popped in
// reverse). f(path, module) runs before the module's children are read.
template <class F>
void walk_modules(Module& root, F&& f) {
  std::vector<std::pair<std::string, Module*>> stack;
  stack.emplace_back(std::string(), &root);
  std::string buf;
  while (!stack.empty()) {
    auto [p, m] = std::move(stack.back());
    stack.pop_back();
    f(p, *m);
    buf = p;
    for_each_child(*m, buf, [&](const std::string& cp, Module& c) { stack.emplace_back(cp, &c); });
  }
}

// -- update / update_modules --------------------------------------------------------------------

// A local key built lazily: only an error message renders it.
struct PathNode {
  const PathNode* parent;
  std::string_view seg;
  std::size_t index;
  bool is_index;
};

std::string render(const PathNode* p) {
  std::vector<const PathNode*> chain;
  for (; p; p = p->parent) chain.push_back(p);
  std::string s;
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
    if (!s.empty()) s += '.';
    if ((*it)->is_index) s += index_str((*it)->index);
    else s.append((*it)->seg.data(), (*it)->seg.size());
  }
  return s;
}

// One walk of spec §6 (arrays) or §7 (modules): collects the writes; in strict mode the first
// problem throws before anything is written.
struct UpdateWalker {
  bool strict;
  bool modules_mode;
  std::vector<std::pair<Tree*, const Tree*>> writes;

  [[noreturn]] static void invalid_type(const Tree& nv) {
    throw std::invalid_argument("Received invalid type: " + nv.kind_name() + ".");
  }

  void apply(Tree::Dict* dict, Tree::List* list, const Tree& nv, const PathNode* path) {
    if (nv.empty()) return;
    if (nv.is_dict()) {
      for (auto& [k, v] : nv.as_dict()) {
        Tree* slot = nullptr;
        if (dict) {
          auto it = dict->find(k);
          if (it != dict->end()) slot = &it->second;
        }
        PathNode node{path, k, 0, false};
        if (!slot) {
          if (!strict) continue;
          if (modules_mode) {
            throw std::invalid_argument("Module does not have sub-module named \"" + render(&node) + "\".");
          }
          throw std::invalid_argument("Module does not have parameter named \"" + render(&node) + "\".");
        }
        put(*slot, v, &node);
      }
      return;
    }
    if (nv.is_list()) {
      if (!list) {
        if (strict) invalid_type(nv);
        return;
      }
      auto& l = nv.as_list();
      for (std::size_t i = 0; i < l.size(); ++i) {
        if (i >= list->size()) {
          if (!strict) break;
          throw std::invalid_argument("List index " + std::to_string(i) + " is out of bounds for destination of length " +
                                      std::to_string(list->size()) + ".");
        }
        PathNode node{path, {}, i, true};
        put((*list)[i], l[i], &node);
      }
      return;
    }
    if (strict) invalid_type(nv);
  }

  void recurse(Tree& cur, const Tree& nv, const PathNode* path) {
    switch (cur.kind()) {
      case Tree::Kind::module: apply(&ModuleAccess::state(cur.as_module()), nullptr, nv, nullptr); return;
      case Tree::Kind::dict: apply(&cur.as_dict(), nullptr, nv, path); return;
      case Tree::Kind::list: apply(nullptr, &cur.as_list(), nv, path); return;
      default: return;
    }
  }

  void put(Tree& cur, const Tree& nv, const PathNode* path) {
    if (modules_mode) {
      if (nv.empty()) return;
      if (cur.is_module() && nv.is_module()) {
        writes.emplace_back(&cur, &nv);
      } else if (is_container_or_module(cur)) {
        recurse(cur, nv, path);
      } else if (strict) {
        invalid_type(nv);
      }
      return;
    }
    switch (cur.kind()) {
      case Tree::Kind::array:
        if (nv.is_array()) writes.emplace_back(&cur, &nv);
        else if (!nv.is_none() && strict) invalid_type(nv);
        return;
      case Tree::Kind::none:
        if (!nv.empty() && strict) invalid_type(nv);
        return;
      default: recurse(cur, nv, path); return;
    }
  }
};

// -- freezing -------------------------------------------------------------------------------------

void add_key(std::vector<std::string>& set, std::string key) {
  if (std::find(set.begin(), set.end(), key) == set.end()) set.push_back(std::move(key));
}

// The paths of the arrays in a module's own containers (no submodules, no top-level '_').
void own_array_paths(const Tree& t, std::string& path, std::vector<std::string>& out) {
  switch (t.kind()) {
    case Tree::Kind::array: add_key(out, path); return;
    case Tree::Kind::list: {
      auto& l = t.as_list();
      for (std::size_t i = 0; i < l.size(); ++i) {
        auto old = push_segment(path, index_str(i));
        own_array_paths(l[i], path, out);
        path.resize(old);
      }
      return;
    }
    case Tree::Kind::dict:
      for (auto& [k, v] : t.as_dict()) {
        auto old = push_segment(path, k);
        own_array_paths(v, path, out);
        path.resize(old);
      }
      return;
    default: return;
  }
}

// "0" or [1-9][0-9]*, as a list index; -1 otherwise.
long long canonical_index(std::string_view s) {
  if (s.empty() || s.size() > 18 || (s.size() > 1 && s[0] == '0')) return -1;
  long long v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return -1;
    v = v * 10 + (c - '0');
  }
  return v;
}

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

enum class WeightFormat { safetensors, npz };

WeightFormat weight_format(const std::string& path) {
  if (ends_with(path, ".safetensors")) return WeightFormat::safetensors;
  if (ends_with(path, ".npz")) return WeightFormat::npz;
  throw std::invalid_argument("Unsupported file extension for " + path + ". Use '.npz' or '.safetensors'.");
}

std::string sorted_list(std::vector<std::string> keys) {
  std::sort(keys.begin(), keys.end());
  std::string s;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (i) s += ",\n";
    s += keys[i];
  }
  return s;
}

}  // namespace

// -- State ----------------------------------------------------------------------------------------

std::string Module::name() const {
  const char* mangled = typeid(*this).name();
  int status = 0;
  char* d = abi::__cxa_demangle(mangled, nullptr, nullptr, &status);
  std::string full = (status == 0 && d) ? std::string(d) : std::string(mangled);
  std::free(d);
  // Strip namespaces (and anonymous namespaces) in front of the class name, not inside
  // template arguments.
  std::size_t lt = full.find('<');
  std::size_t pos = full.rfind("::", lt);
  return pos == std::string::npos ? full : full.substr(pos + 2);
}

array Module::operator()(const array&) {
  throw std::invalid_argument("[Module] expected a module that takes one array, got " + name() + ".");
}

const Tree& Module::operator[](std::string_view key) const {
  auto it = state_.find(key);
  if (it == state_.end()) throw KeyError(name() + " has no member \"" + std::string(key) + "\".");
  return it->second;
}

void Module::wrong_type(std::string_view key) const {
  throw std::invalid_argument("Member \"" + std::string(key) + "\" of " + name() + " has the wrong type.");
}

array Module::param(std::string_view key) const {
  const Tree& t = (*this)[key];
  if (!t.is_array()) wrong_type(key);
  return t.as_array();
}

array Module::call(std::string_view key, const array& x) const { return (*child(key))(x); }

void Module::set(const std::string& key, Tree value) {
  if (value.is_none()) state_.erase(key);
  else state_.insert_or_assign(key, std::move(value));
}

void Module::erase(std::string_view key) {
  if (!state_.erase(key)) throw KeyError(name() + " has no member \"" + std::string(key) + "\".");
}

// -- Traversal ------------------------------------------------------------------------------------

Tree Module::filter_and_map(const Filter& filter, const MapFn& map, const Filter& is_leaf) const {
  if (!filter) throw std::invalid_argument("[filter_and_map] expected a filter function, got an empty one.");
  auto leaf = [&](const Module& o, const std::string& k, const Tree& v) { return is_leaf ? is_leaf(o, k, v) : default_leaf(o, k, v); };
  auto mapper = [&](const Tree& v) { return map ? map(v) : v; };
  return run_filter_and_map(*this, filter, leaf, mapper);
}

bool Module::valid_parameter_filter(const Module& owner, const std::string& key, const Tree& value) {
  return param_filter(owner, key, value);
}
bool Module::trainable_parameter_filter(const Module& owner, const std::string& key, const Tree& value) {
  return trainable_filter(owner, key, value);
}
bool Module::valid_child_filter(const Module& owner, const std::string& key, const Tree& value) {
  return child_filter(owner, key, value);
}

Tree Module::parameters() const { return run_filter_and_map(*this, param_filter, default_leaf, identity_map); }

Tree Module::trainable_parameters() const {
  return run_filter_and_map(*this, trainable_filter, default_leaf, identity_map);
}

Tree Module::children() const { return run_filter_and_map(*this, child_filter, module_leaf, identity_map); }

Tree Module::leaf_modules() const {
  auto leaf = [](const Module&, const std::string&, const Tree& v) {
    return v.is_module() && !has_child_modules(v.as_module());
  };
  return run_filter_and_map(*this, child_filter, leaf, identity_map);
}

// -- Walking modules ------------------------------------------------------------------------------

Module& Module::apply_to_modules(const std::function<void(const std::string& path, Module& m)>& fn) {
  walk_modules(*this, fn);
  return *this;
}

std::vector<Module*> Module::modules() const {
  std::vector<Module*> out;
  walk_modules(const_cast<Module&>(*this), [&](const std::string&, Module& m) { out.push_back(&m); });
  return out;
}

std::vector<std::pair<std::string, Module*>> Module::named_modules() const {
  std::vector<std::pair<std::string, Module*>> out;
  walk_modules(const_cast<Module&>(*this), [&](const std::string& p, Module& m) { out.emplace_back(p, &m); });
  return out;
}

Module& Module::train(bool mode) {
  walk_modules(*this, [&](const std::string&, Module& m) { m.set_training_mode(mode); });
  return *this;
}

// -- Writing --------------------------------------------------------------------------------------

Module& Module::update(const Tree& params, bool strict) {
  UpdateWalker w{strict, false, {}};
  w.apply(&state_, nullptr, params, nullptr);
  for (auto& [slot, nv] : w.writes) slot->as_array() = nv->as_array();
  return *this;
}

Module& Module::update_modules(const Tree& modules, bool strict) {
  UpdateWalker w{strict, true, {}};
  w.apply(&state_, nullptr, modules, nullptr);
  for (auto& [slot, nv] : w.writes) *slot = *nv;
  return *this;
}

std::string compile_state_signature(Module& m) {
  std::string sig;
  for (const auto& [path, mod] : m.named_modules()) sig += mod->training() ? 'T' : 'E';
  for (const auto& [k, a] : tree_flatten_arrays(m.trainable_parameters())) sig += k + ';';
  return sig;
}

void detail::restore_parameters(Module& model, const Tree& written, const Tree& originals) {
  std::unordered_map<uintptr_t, array> back;
  auto w = tree_flatten(written);
  auto o = tree_flatten(originals);
  for (std::size_t i = 0; i < w.size() && i < o.size(); ++i) {
    if (w[i].second.is_array() && o[i].second.is_array()) back.emplace(w[i].second.as_array().id(), o[i].second.as_array());
  }
  UpdateWalker walker{false, false, {}};
  walker.apply(&model.state_, nullptr, written, nullptr);
  for (auto& [slot, nv] : walker.writes) {
    if (!slot->is_array()) continue;
    uintptr_t id = slot->as_array().id();
    if (id != nv->as_array().id()) continue;
    auto it = back.find(id);
    if (it != back.end()) slot->as_array() = it->second;
  }
}

bool Module::has_local_key(const std::string& key) const {
  if (state_.contains(key)) return true;
  std::size_t dot = key.find('.');
  if (dot == std::string::npos) return false;
  auto it = state_.find(std::string_view(key).substr(0, dot));
  if (it == state_.end()) return false;
  const Tree* cur = &it->second;
  std::string_view rest = std::string_view(key).substr(dot + 1);
  while (true) {
    std::size_t d = rest.find('.');
    std::string_view seg = rest.substr(0, d);
    if (cur->is_dict()) {
      auto f = cur->as_dict().find(seg);
      if (f == cur->as_dict().end()) return false;
      cur = &f->second;
    } else if (cur->is_list()) {
      long long i = canonical_index(seg);
      if (i < 0 || static_cast<std::size_t>(i) >= cur->size()) return false;
      cur = &cur->as_list()[static_cast<std::size_t>(i)];
    } else {
      return false;
    }
    if (d == std::string_view::npos) return true;
    rest = rest.substr(d + 1);
  }
}

void Module::freeze_self(const std::vector<std::string>& keys) {
  if (keys.empty()) {
    std::string path;
    for (auto& [k, v] : state_) {
      if (!k.empty() && k[0] == '_') continue;
      if (v.is_module()) continue;
      auto old = push_segment(path, k);
      own_array_paths(v, path, frozen_);
      path.resize(old);
    }
    return;
  }
  for (auto& k : keys) add_key(frozen_, k);
}

void Module::unfreeze_self(const std::vector<std::string>& keys) {
  if (keys.empty()) {
    frozen_.clear();
    return;
  }
  for (auto& k : keys) {
    auto it = std::find(frozen_.begin(), frozen_.end(), k);
    if (it != frozen_.end()) frozen_.erase(it);
  }
}

void Module::freeze_walk(const FreezeOptions& o, bool freeze) {
  std::vector<Module*> targets;
  if (o.recurse) walk_modules(*this, [&](const std::string&, Module& m) { targets.push_back(&m); });
  else targets.push_back(this);
  if (o.strict) {
    for (auto& k : o.keys) {
      bool ok = std::any_of(targets.begin(), targets.end(), [&](Module* m) { return m->has_local_key(k); });
      if (!ok) throw KeyError("Module doesn't contain member " + k + ".");
    }
  }
  for (Module* m : targets) {
    if (freeze) m->freeze_self(o.keys);
    else m->unfreeze_self(o.keys);
  }
}

Module& Module::freeze(const FreezeOptions& options) {
  freeze_walk(options, true);
  return *this;
}

Module& Module::unfreeze(const FreezeOptions& options) {
  freeze_walk(options, false);
  return *this;
}

Module& Module::apply(const std::function<array(const array&)>& map, const Filter& filter) {
  if (!map) throw std::invalid_argument("[Module.apply] expected a map function, got an empty one.");
  auto mapper = [&](const Tree& v) { return v.is_array() ? Tree(map(v.as_array())) : v; };
  Tree mapped = filter ? run_filter_and_map(*this, filter, default_leaf, mapper)
                       : run_filter_and_map(*this, param_filter, default_leaf, mapper);
  return update(mapped, true);
}

Module& Module::set_dtype(Dtype dtype, const std::function<bool(Dtype)>& predicate) {
  return apply([&](const array& x) {
    if (x.dtype() == dtype || (predicate && !predicate(x.dtype()))) return x;
    return astype(x, dtype);
  });
}

// -- Weights I/O ----------------------------------------------------------------------------------

void Module::save_weights(const std::string& path) const {
  WeightFormat f = weight_format(path);
  auto flat = tree_flatten_arrays(parameters());
  std::unordered_map<std::string, array> arrays;
  arrays.reserve(flat.size());
  for (auto& [k, a] : flat) arrays.emplace(k, a);
  if (f == WeightFormat::safetensors) save_safetensors(path, arrays);
  else savez(path, arrays);
}

Module& Module::load_weights(const std::string& path, bool strict) {
  WeightFormat f = weight_format(path);
  std::unordered_map<std::string, array> loaded =
      f == WeightFormat::safetensors ? load_safetensors(path).first : load_npz(path);
  std::vector<std::pair<std::string, array>> weights(loaded.begin(), loaded.end());
  std::sort(weights.begin(), weights.end(), [](auto& a, auto& b) { return a.first < b.first; });
  return load_weights(weights, strict);
}

Module& Module::load_weights(const std::vector<std::pair<std::string, array>>& weights, bool strict) {
  if (strict) {
    auto current = tree_flatten_arrays(parameters());
    std::unordered_map<std::string_view, const array*> given;
    given.reserve(weights.size());
    for (auto& [k, a] : weights) given[k] = &a;
    std::unordered_set<std::string_view> model_keys;
    model_keys.reserve(current.size());
    for (auto& [k, a] : current) model_keys.insert(k);

    std::vector<std::string> extra;
    for (auto& [k, a] : given)
      if (!model_keys.count(k)) extra.emplace_back(k);
    if (!extra.empty()) {
      std::string n = std::to_string(extra.size());
      throw std::invalid_argument("Received " + n + " parameters not in model: \n" + sorted_list(std::move(extra)) + ".");
    }
    std::vector<std::string> missing;
    std::unordered_set<std::string_view> seen;
    for (auto& [k, a] : current)
      if (!given.count(k) && seen.insert(k).second) missing.push_back(k);
    if (!missing.empty()) {
      std::string n = std::to_string(missing.size());
      throw std::invalid_argument("Missing " + n + " parameters: \n" + sorted_list(std::move(missing)) + ".");
    }
    for (auto& [k, a] : current) {
      const array& w = *given.at(k);
      if (w.shape() != a.shape()) {
        throw std::invalid_argument("Expected shape " + mica::detail::shape_str(a.shape()) + " but received shape " +
                                    mica::detail::shape_str(w.shape()) + " for parameter " + k);
      }
    }
  }
  if (!weights.empty()) update(tree_unflatten(weights), false);
  return *this;
}

// -- Printing -------------------------------------------------------------------------------------

std::string Module::repr() const {
  std::string s = name() + "(" + extra_repr();
  bool any = false;
  std::string path;
  for_each_child(*this, path, [&](const std::string& p, Module& c) {
    std::string block = "(" + p + "): " + c.repr();
    s += "\n  ";
    for (char ch : block) {
      s += ch;
      if (ch == '\n') s += "  ";
    }
    any = true;
  });
  if (any) s += "\n";
  s += ")";
  return s;
}

std::ostream& operator<<(std::ostream& os, const Module& m) { return os << m.repr(); }

}  // namespace mica::nn
