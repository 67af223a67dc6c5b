#include "mica/nn/member.h"

#include <stdexcept>

#include "mica/error.h"

namespace mica::nn {

namespace detail {
const Tree& member_entry(const Module& owner, const std::string& key) {
  if (owner.contains(key)) return owner[key];
  throw KeyError("[" + owner.name() + "." + key + "] expected an entry in the module's state, got none (declared " +
                 "without a value, or removed)");
}

void wrong_member(const Module& owner, const std::string& key, const std::string& expected, const Tree& got) {
  throw std::invalid_argument("[" + owner.name() + "." + key + "] expected " + expected + ", got " + got.kind_name());
}
}  // namespace detail

Param::Param(Module* owner, std::string key, std::optional<array> init) : owner_(owner), key_(std::move(key)) {
  if (init) owner_->set(key_, Tree(std::move(*init)));
}

Param& Param::operator=(const array& value) {
  owner_->set(key_, Tree(value));
  return *this;
}

array Param::get() const {
  const Tree& t = detail::member_entry(*owner_, key_);
  if (!t.is_array()) detail::wrong_member(*owner_, key_, "an array", t);
  return t.as_array();
}

std::optional<array> Param::maybe() const {
  if (!owner_->contains(key_)) return std::nullopt;
  return get();
}

}  // namespace mica::nn
