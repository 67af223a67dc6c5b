// .npz files (zip archives of .npy members, stored or deflated) through libzip.
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <exception>

#include "mica/io.h"
#include "mica/io/file.h"
#include "mica/transforms.h"

namespace mica {
namespace io {

namespace {

constexpr const char* kLoad = "load_npz";
// Deflate cannot expand data by more than about 1032:1; a member claiming more is lying.
constexpr uint64_t kMaxDeflateRatio = 1032;

struct ZipCloser {
  void operator()(zip_t* z) const { zip_discard(z); }
};
struct ZipFileCloser {
  void operator()(zip_file_t* f) const { zip_fclose(f); }
};

std::string zip_message(zip_error_t* err) {
  std::string m = zip_error_strerror(err);
  zip_error_fini(err);
  return m;
}

// Reads one member into a fresh buffer of exactly its declared size, checking that the
// decompressed data has exactly that size (and, through libzip, the right CRC).
Bytes read_member(zip_t* za, zip_uint64_t index, uint64_t size, const std::string& file, const std::string& name) {
  std::unique_ptr<zip_file_t, ZipFileCloser> zf(zip_fopen_index(za, index, 0));
  if (!zf) fail(kLoad, file, "member " + name + ": cannot open (" + std::string(zip_strerror(za)) + ")");
  auto buf = allocator::malloc(static_cast<size_t>(size));
  std::shared_ptr<const void> owner(buf.ptr, [buf](const void*) { allocator::free(buf); });
  auto* p = static_cast<uint8_t*>(buf.ptr);
  uint64_t got = 0;
  while (got < size) {
    zip_int64_t k = zip_fread(zf.get(), p + got, size - got);
    if (k < 0) fail(kLoad, file, "member " + name + ": " + zip_file_strerror(zf.get()));
    if (k == 0) break;
    got += static_cast<uint64_t>(k);
  }
  if (got != size) {
    fail(kLoad, file, "member " + name + ": expected " + std::to_string(size) + " bytes (its declared size), got " +
                          std::to_string(got));
  }
  // One more read must hit the end; it also makes libzip check the CRC.
  uint8_t extra;
  zip_int64_t k = zip_fread(zf.get(), &extra, 1);
  if (k < 0) fail(kLoad, file, "member " + name + ": " + zip_file_strerror(zf.get()));
  if (k > 0) fail(kLoad, file, "member " + name + ": holds more data than its declared size " + std::to_string(size));
  return Bytes{p, static_cast<size_t>(size), owner};
}

}  // namespace

std::unordered_map<std::string, array> load_npz_bytes(const Bytes& b, const std::string& file) {
  if (b.size < 22) {
    fail(kLoad, file, "expected a zip archive (at least 22 bytes), got " + std::to_string(b.size) + " bytes");
  }
  zip_error_t err;
  zip_error_init(&err);
  zip_source_t* src = zip_source_buffer_create(b.data, b.size, 0, &err);
  if (!src) fail(kLoad, file, "cannot read the archive (" + zip_message(&err) + ")");
  std::unique_ptr<zip_t, ZipCloser> za(zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &err));
  if (!za) {
    zip_source_free(src);
    fail(kLoad, file, "not a valid zip archive (" + zip_message(&err) + ")");
  }
  zip_error_fini(&err);
  zip_int64_t n = zip_get_num_entries(za.get(), 0);
  if (n < 0) fail(kLoad, file, "cannot count the archive's members");

  // Check every member's declared sizes before reading any of them.
  struct Member {
    zip_uint64_t index;
    std::string name;
    uint64_t size;
  };
  std::vector<Member> members;
  uint64_t total_comp = 0;
  for (zip_int64_t i = 0; i < n; ++i) {
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat_index(za.get(), static_cast<zip_uint64_t>(i), 0, &st) != 0) {
      fail(kLoad, file, "cannot read member " + std::to_string(i) + " (" + zip_strerror(za.get()) + ")");
    }
    constexpr zip_uint64_t need = ZIP_STAT_NAME | ZIP_STAT_SIZE | ZIP_STAT_COMP_SIZE | ZIP_STAT_COMP_METHOD;
    if ((st.valid & need) != need) fail(kLoad, file, "member " + std::to_string(i) + " lacks its name or sizes");
    std::string name = st.name;
    if ((st.valid & ZIP_STAT_ENCRYPTION_METHOD) && st.encryption_method != ZIP_EM_NONE) {
      fail(kLoad, file, "member " + name + " is encrypted");
    }
    if (st.comp_method != ZIP_CM_STORE && st.comp_method != ZIP_CM_DEFLATE) {
      fail(kLoad, file, "member " + name + ": expected stored or deflated data, got compression method " +
                            std::to_string(st.comp_method));
    }
    if (st.comp_size > b.size) {
      fail(kLoad, file, "member " + name + ": compressed size " + std::to_string(st.comp_size) +
                            " exceeds the archive size " + std::to_string(b.size));
    }
    uint64_t cap = st.comp_method == ZIP_CM_STORE ? st.comp_size : st.comp_size * kMaxDeflateRatio + 1024;
    if (st.size > cap) {
      fail(kLoad, file, "member " + name + ": declared size " + std::to_string(st.size) +
                            " is impossible for compressed size " + std::to_string(st.comp_size));
    }
    total_comp += st.comp_size;
    // Members may not share compressed bytes (a zip bomb's trick): their sizes must fit the file.
    if (total_comp > b.size) fail(kLoad, file, "members' compressed sizes add up to more than the archive");
    if (name.size() < 4 || name.compare(name.size() - 4, 4, ".npy") != 0) {
      fail(kLoad, file, "expected .npy members, got member " + name);
    }
    members.push_back({static_cast<zip_uint64_t>(i), std::move(name), st.size});
  }

  std::unordered_map<std::string, array> out;
  for (auto& m : members) {
    Bytes data = read_member(za.get(), m.index, m.size, file, m.name);
    std::string key = m.name.substr(0, m.name.size() - 4);
    array a = load_npy_bytes(data, file + ":" + m.name, kLoad);
    if (!out.emplace(key, std::move(a)).second) fail(kLoad, file, "member " + m.name + " appears twice");
  }
  return out;
}

namespace {

// A zip member's data, produced on demand while libzip writes the archive: the .npy header,
// then the array's bytes in row-major order.
struct MemberSource {
  std::string header;
  RowMajorCursor cursor;
  uint64_t pos = 0;
  time_t mtime;
  zip_error_t error;
  std::exception_ptr exception;
  MemberSource(const array& a, time_t t) : header(npy_header(a, "savez")), cursor(a), mtime(t) {
    zip_error_init(&error);
  }
  ~MemberSource() { zip_error_fini(&error); }
  uint64_t total() const { return header.size() + cursor.total(); }
};

zip_int64_t member_callback(void* state, void* data, zip_uint64_t len, zip_source_cmd_t cmd) {
  auto* s = static_cast<MemberSource*>(state);
  try {
    switch (cmd) {
      case ZIP_SOURCE_OPEN:
        s->pos = 0;
        s->cursor.reset();
        return 0;
      case ZIP_SOURCE_READ: {
        auto* dst = static_cast<uint8_t*>(data);
        uint64_t done = 0;
        if (s->pos < s->header.size()) {
          done = std::min<uint64_t>(len, s->header.size() - s->pos);
          std::memcpy(dst, s->header.data() + s->pos, done);
        }
        if (done < len) done += s->cursor.read(dst + done, len - done);
        s->pos += done;
        return static_cast<zip_int64_t>(done);
      }
      case ZIP_SOURCE_CLOSE:
        return 0;
      case ZIP_SOURCE_STAT: {
        auto* st = static_cast<zip_stat_t*>(data);
        if (len < sizeof(zip_stat_t)) {
          zip_error_set(&s->error, ZIP_ER_INVAL, 0);
          return -1;
        }
        zip_stat_init(st);
        st->size = s->total();
        st->mtime = s->mtime;
        st->valid |= ZIP_STAT_SIZE | ZIP_STAT_MTIME;
        return sizeof(zip_stat_t);
      }
      case ZIP_SOURCE_ERROR:
        return zip_error_to_data(&s->error, data, len);
      case ZIP_SOURCE_FREE:
        return 0;  // the states are owned by write_npz
      case ZIP_SOURCE_SUPPORTS:
        return ZIP_SOURCE_SUPPORTS_READABLE;
      default:
        zip_error_set(&s->error, ZIP_ER_OPNOTSUPP, 0);
        return -1;
    }
  } catch (...) {
    // Never let an exception cross libzip's C frames; it is rethrown after zip_close fails.
    s->exception = std::current_exception();
    zip_error_set(&s->error, ZIP_ER_INTERNAL, 0);
    return -1;
  }
}

void write_npz(std::string file, const std::vector<std::pair<std::string, array>>& arrays, bool compress,
               const char* op) {
  file = with_extension(std::move(file), ".npz");
  std::vector<array> all;
  for (auto& [k, v] : arrays) all.push_back(v);
  if (!all.empty()) eval(std::move(all));  // a failing computation throws before any file exists
  if (arrays.empty()) {
    // libzip writes nothing for an empty archive; NumPy writes the 22-byte end record.
    static const uint8_t empty[22] = {'P', 'K', 5, 6};
    AtomicFile f(file, op);
    f.write(empty, sizeof(empty));
    f.commit();
    return;
  }
  std::string temp = temp_name(file);
  int code = 0;
  zip_t* za = zip_open(temp.c_str(), ZIP_CREATE | ZIP_EXCL, &code);
  if (!za) {
    zip_error_t err;
    zip_error_init_with_code(&err, code);
    fail(op, file, "cannot create the temporary archive " + temp + " (" + zip_message(&err) + ")");
  }
  std::vector<std::unique_ptr<MemberSource>> states;
  time_t now = std::time(nullptr);
  auto abandon = [&](const std::string& problem) {
    zip_discard(za);
    ::unlink(temp.c_str());
    fail(op, file, problem);
  };
  for (auto& [name, a] : arrays) {
    states.push_back(std::make_unique<MemberSource>(a, now));
    zip_source_t* src = zip_source_function(za, member_callback, states.back().get());
    if (!src) abandon(std::string("cannot add member ") + name + " (" + zip_strerror(za) + ")");
    std::string member = name + ".npy";
    zip_int64_t idx = zip_file_add(za, member.c_str(), src, ZIP_FL_ENC_UTF_8);
    if (idx < 0) {
      zip_source_free(src);
      abandon("cannot add member " + member + " (" + zip_strerror(za) + ")");
    }
    if (zip_set_file_compression(za, static_cast<zip_uint64_t>(idx), compress ? ZIP_CM_DEFLATE : ZIP_CM_STORE, 0) != 0) {
      abandon("cannot set the compression of " + member + " (" + zip_strerror(za) + ")");
    }
  }
  if (zip_close(za) != 0) {
    std::string m = zip_strerror(za);
    zip_discard(za);
    ::unlink(temp.c_str());
    for (auto& s : states) {
      if (s->exception) std::rethrow_exception(s->exception);
    }
    fail(op, file, "cannot write the archive (" + m + ")");
  }
  try {
    install_temp(temp, file, op);
  } catch (...) {
    ::unlink(temp.c_str());
    throw;
  }
}

std::vector<std::pair<std::string, array>> sorted_named(const std::unordered_map<std::string, array>& arrays,
                                                       const char* op) {
  std::vector<std::pair<std::string, array>> v(arrays.begin(), arrays.end());
  std::sort(v.begin(), v.end(), [](auto& x, auto& y) { return x.first < y.first; });
  for (auto& [k, a] : v) {
    if (k.empty()) throw std::invalid_argument(std::string("[") + op + "] expected non-empty array names, got \"\".");
  }
  return v;
}

std::vector<std::pair<std::string, array>> positional(const std::vector<array>& arrays) {
  std::vector<std::pair<std::string, array>> v;
  for (size_t i = 0; i < arrays.size(); ++i) v.emplace_back("arr_" + std::to_string(i), arrays[i]);
  return v;
}

}  // namespace
}  // namespace io

std::unordered_map<std::string, array> load_npz(const std::string& file, StreamOrDevice s) {
  to_stream(s);
  return io::load_npz_bytes(io::map_file(file, io::kLoad), file);
}

void savez(std::string file, const std::unordered_map<std::string, array>& arrays) {
  io::write_npz(std::move(file), io::sorted_named(arrays, "savez"), false, "savez");
}
void savez(std::string file, const std::vector<array>& arrays) {
  io::write_npz(std::move(file), io::positional(arrays), false, "savez");
}
void savez_compressed(std::string file, const std::unordered_map<std::string, array>& arrays) {
  io::write_npz(std::move(file), io::sorted_named(arrays, "savez_compressed"), true, "savez_compressed");
}
void savez_compressed(std::string file, const std::vector<array>& arrays) {
  io::write_npz(std::move(file), io::positional(arrays), true, "savez_compressed");
}

}  // namespace mica
