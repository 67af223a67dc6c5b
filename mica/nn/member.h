// Typed members of a Module: nn::Child<M>, nn::ChildList<M> and nn::Param name an entry of the
// module's state once, at the declaration, and read it back from the state on every use. They
// hold no array and no module themselves, so nothing they give can go stale: update(),
// update_modules(), load_weights() and value_and_grad() are always honoured.
//
//   struct MLP : nn::Module {
//     nn::Child<nn::Linear> fc1{this, "fc1", 784, 256};
//     nn::Child<nn::Linear> fc2{this, "fc2", 256, 10};
//     array operator()(const array& x) override { return fc2(nn::relu(fc1(x))); }
//   };
//
// A member declared with arguments puts its value into the state when the module is built (in
// declaration order, which is the order parameters() lists them); one declared without (or with
// std::nullopt / nullptr) only names the key, for entries that are optional or set later with `=`.
#pragma once
#include <concepts>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "mica/nn/module.h"

namespace mica::nn {

namespace detail {
/** The state entry `key` of `owner`; throws KeyError `[<Class>.<key>] expected an entry ...`
 * when the state has none. */
const Tree& member_entry(const Module& owner, const std::string& key);
/** Throws `[<Class>.<key>] expected a list of modules, got <kind>` and the like. */
[[noreturn]] void wrong_member(const Module& owner, const std::string& key, const std::string& expected,
                               const Tree& got);
}  // namespace detail

/** A sub-module of type M stored under `key` in `owner`'s state. Calling it with one array runs
 * whatever module the state holds (so a Linear swapped for a LoRA or quantized layer by
 * update_modules is the one that runs); `->`, `*` and calls with other arguments need the entry
 * to be an M and throw std::invalid_argument otherwise. */
template <class M>
class Child {
  static_assert(std::is_base_of_v<Module, M>, "nn::Child<M>: M must derive from nn::Module");

 public:
  /** Builds M(args...) and stores it under `key`. */
  template <class... Args>
    requires std::constructible_from<M, Args...>
  Child(Module* owner, std::string key, Args&&... args) : owner_(owner), key_(std::move(key)) {
    owner_->set(key_, Tree(std::make_shared<M>(std::forward<Args>(args)...)));
  }
  /** Stores `module` under `key` (nothing when it is null: the entry is optional or set later). */
  Child(Module* owner, std::string key, std::shared_ptr<M> module) : owner_(owner), key_(std::move(key)) {
    if (module) owner_->set(key_, Tree(std::move(module)));
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  /** Replaces the entry (null removes it). */
  Child& operator=(std::shared_ptr<M> module) {
    owner_->set(key_, module ? Tree(std::move(module)) : Tree());
    return *this;
  }

  /** Runs the module the state holds under the key, whatever its class. */
  array operator()(const array& x) const { return module()(x); }
  /** Calls M's own call operator (the entry must be an M). */
  template <class... A>
    requires(!(sizeof...(A) == 1 && (std::is_convertible_v<A, const array&> && ...)) &&
             std::invocable<M&, A...>)
  decltype(auto) operator()(A&&... args) const {
    return (*get())(std::forward<A>(args)...);
  }

  /** The entry as M. */
  std::shared_ptr<M> get() const {
    const Tree& t = detail::member_entry(*owner_, key_);
    std::shared_ptr<M> m = t.is_module() ? std::dynamic_pointer_cast<M>(t.module_ptr()) : nullptr;
    if (!m) detail::wrong_member(*owner_, key_, "a module of the declared class", t);
    return m;
  }
  M& operator*() const { return *get(); }
  M* operator->() const { return get().get(); }
  /** The entry as a Module (any class). */
  Module& module() const { return *module_ptr(); }
  /** The entry's shared pointer as a Module (any class). */
  std::shared_ptr<Module> module_ptr() const {
    const Tree& t = detail::member_entry(*owner_, key_);
    if (!t.is_module()) detail::wrong_member(*owner_, key_, "a module", t);
    return t.module_ptr();
  }
  /** True when the state holds the key. */
  explicit operator bool() const { return owner_->contains(key_); }
  const std::string& key() const { return key_; }

 private:
  Module* owner_;
  std::string key_;
};

/** A list of sub-modules of type M stored under `key` (a Tree list, as MLX keeps `self.layers`);
 * parameters() names its entries `key.0`, `key.1`, ... */
template <class M>
class ChildList {
  static_assert(std::is_base_of_v<Module, M>, "nn::ChildList<M>: M must derive from nn::Module");

 public:
  /** An empty list under `key`. */
  ChildList(Module* owner, std::string key) : owner_(owner), key_(std::move(key)) { owner_->set(key_, Tree::List{}); }
  ChildList(const ChildList&) = delete;
  ChildList& operator=(const ChildList&) = delete;

  /** Appends `module` and returns it. */
  M& push_back(std::shared_ptr<M> module) {
    M& ref = *module;
    Tree::List l = list();
    l.push_back(Tree(std::move(module)));
    owner_->set(key_, Tree(std::move(l)));
    return ref;
  }
  /** Appends M(args...) and returns it. */
  template <class... Args>
    requires std::constructible_from<M, Args...>
  M& emplace_back(Args&&... args) {
    return push_back(std::make_shared<M>(std::forward<Args>(args)...));
  }
  size_t size() const { return list().size(); }
  bool empty() const { return size() == 0; }
  /** Entry i as M (throws std::invalid_argument when update_modules put another class there). */
  M& operator[](size_t i) const {
    Module& m = module(i);
    if (auto* typed = dynamic_cast<M*>(&m)) return *typed;
    detail::wrong_member(*owner_, key_ + "." + std::to_string(i), "a module of the declared class", list()[i]);
  }
  /** Entry i as a Module (any class); throws std::out_of_range past the end. */
  Module& module(size_t i) const {
    const Tree::List& l = list();
    if (i >= l.size())
      throw std::out_of_range("[" + owner_->name() + "." + key_ + "] expected an index below " +
                              std::to_string(l.size()) + ", got " + std::to_string(i));
    if (!l[i].is_module())
      detail::wrong_member(*owner_, key_ + "." + std::to_string(i), "a module", l[i]);
    return l[i].as_module();
  }
  const std::string& key() const { return key_; }

 private:
  const Tree::List& list() const {
    const Tree& t = detail::member_entry(*owner_, key_);
    if (!t.is_list()) detail::wrong_member(*owner_, key_, "a list of modules", t);
    return t.as_list();
  }
  Module* owner_;
  std::string key_;
};

/** A parameter (an array) stored under `key`. It converts to the array the state holds now. */
class Param {
 public:
  /** Stores `init` under `key` (nothing for std::nullopt: an optional parameter, or one set later). */
  Param(Module* owner, std::string key, std::optional<array> init = std::nullopt);
  Param(const Param&) = delete;
  Param& operator=(const Param&) = delete;

  /** Replaces the array. */
  Param& operator=(const array& value);
  /** The array the state holds. */
  array get() const;
  operator array() const { return get(); }
  /** The array, or std::nullopt when the state has no entry (an optional parameter). */
  std::optional<array> maybe() const;
  /** True when the state holds the key (an optional parameter is present). */
  explicit operator bool() const { return owner_->contains(key_); }
  const std::string& key() const { return key_; }

 private:
  Module* owner_;
  std::string key_;
};

}  // namespace mica::nn
