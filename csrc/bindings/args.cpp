#include "bindings/args.h"

#include <pybind11/numpy.h>

#include <sstream>
#include <stdexcept>

#include "common/check.h"
#include "common/output_cache.h"

namespace ictus::bindings {
namespace {

constexpr int kNpyFloat32 = 11;  // NPY_FLOAT
constexpr int kNpyInt64 = 7;     // NPY_LONG on LP64 Linux
constexpr int kNpyInt32 = 5;     // NPY_INT

std::string prefix(const Arg& a) { return std::string(a.op) + ": " + a.name + " "; }

const char* module_of(bool cuda) { return cuda ? "cupy" : "np"; }

std::string describe(py::handle obj) {
  py::handle type = reinterpret_cast<PyObject*>(Py_TYPE(obj.ptr()));
  return py::str(type.attr("__module__")).cast<std::string>() + "." +
         py::str(type.attr("__qualname__")).cast<std::string>();
}

const char* dtype_name(DType d) { return d == DType::kFloat32 ? "float32" : d == DType::kInt64 ? "int64" : "int32"; }
int element_size(DType d) { return d == DType::kInt64 ? 8 : 4; }
int numpy_type(DType d) { return d == DType::kFloat32 ? kNpyFloat32 : d == DType::kInt64 ? kNpyInt64 : kNpyInt32; }
const char* cuda_typestr(DType d) { return d == DType::kFloat32 ? "<f4" : d == DType::kInt64 ? "<i8" : "<i4"; }

[[noreturn]] void raise_dtype(const Arg& a, DType want, const std::string& got, bool cuda) {
  if (want != DType::kFloat32) {
    raise_type(a, std::string("must be ") + dtype_name(want) + ", got " + got +
                      " (pass the indices that the forward pass returned)");
  }
  raise_type(a, "must be float32, got " + got + "; cast it with " + a.name + ".astype(" + module_of(cuda) +
                    ".float32)");
}

bool byte_count_overflows(const std::array<int64_t, 4>& shape, int rank, DType dtype) {
  int64_t bytes = element_size(dtype);
  for (int i = 0; i < rank; ++i) {
    if (__builtin_mul_overflow(bytes, shape[i], &bytes)) return true;
  }
  return false;
}

// Copies the shape into v, refusing a wrong rank, empty dimensions and byte counts past int64.
void fill_shape(ArrayView& v, const Arg& a, const int64_t* shape, int ndim, int rank, const char* layout,
                DType dtype) {
  v.rank = ndim < 4 ? ndim : 4;
  for (int i = 0; i < v.rank; ++i) v.shape[i] = shape[i];
  if (ndim != rank) {
    raise_value(a, "must have rank " + std::to_string(rank) + (*layout ? std::string(" ") + layout : std::string()) +
                       ", got shape " +
                       (ndim <= 4 ? v.shape_str() : std::to_string(ndim) + "-d"));
  }
  for (int i = 0; i < rank; ++i) {
    if (v.shape[i] == 0) raise_value(a, "has an empty dimension (shape " + v.shape_str() + "); sizes must be >= 1");
  }
  if (byte_count_overflows(v.shape, rank, dtype)) raise_value(a, "is too large: its byte count overflows");
}

ArrayView numpy_view(py::array arr, const Arg& a, int rank, const char* layout, bool copy_if_needed, DType dtype) {
  const py::dtype dt = arr.dtype();
  const int want = numpy_type(dtype);
  if (dt.num() != want || dt.byteorder() == '>') raise_dtype(a, dtype, py::str(dt).cast<std::string>(), false);
  ArrayView v;
  int64_t shape[32];
  const int ndim = static_cast<int>(arr.ndim());
  for (int i = 0; i < ndim && i < 32; ++i) shape[i] = static_cast<int64_t>(arr.shape(i));
  fill_shape(v, a, shape, ndim, rank, layout, dtype);
  const bool contiguous = arr.flags() & py::detail::npy_api::NPY_ARRAY_C_CONTIGUOUS_;
  const bool aligned = reinterpret_cast<uintptr_t>(arr.data()) % element_size(dtype) == 0;
  if (!(contiguous && aligned)) {
    if (!copy_if_needed) {
      raise_value(a, std::string("must be C-contiguous and aligned; allocate it with np.empty(") + v.shape_str() +
                         ", np." + dtype_name(dtype) + ")");
    }
    // A fresh copy: np.ascontiguousarray returns a contiguous but misaligned array unchanged.
    arr = py::module_::import("numpy").attr("array")(arr, py::arg("order") = "C", py::arg("copy") = true);
  }
  v.array = arr;
  v.data = static_cast<float*>(const_cast<void*>(arr.data()));
  v.element_bytes = element_size(dtype);
  return v;
}

ArrayView cuda_view(py::handle obj, const Arg& a, int rank, const char* layout, bool copy_if_needed, DType dtype) {
  py::dict cai = obj.attr("__cuda_array_interface__");
  const std::string typestr = py::str(cai["typestr"]);
  if (typestr != cuda_typestr(dtype)) raise_dtype(a, dtype, typestr, true);
  ArrayView v;
  v.cuda = true;
  py::tuple cai_shape = cai["shape"];
  int64_t shape[32];
  const int ndim = static_cast<int>(cai_shape.size());
  for (int i = 0; i < ndim && i < 32; ++i) shape[i] = cai_shape[i].cast<int64_t>();
  fill_shape(v, a, shape, ndim, rank, layout, dtype);
  bool contiguous = true;
  if (cai.contains("strides") && !cai["strides"].is_none()) {
    py::tuple strides = cai["strides"];
    int64_t expected = element_size(dtype);
    for (int i = rank - 1; i >= 0; --i) {
      if (v.shape[i] != 1 && strides[i].cast<int64_t>() != expected) contiguous = false;
      expected *= v.shape[i];
    }
  }
  py::object arr = py::reinterpret_borrow<py::object>(obj);
  if (!contiguous) {
    if (!copy_if_needed) {
      raise_value(a, std::string("must be C-contiguous; allocate it with cupy.empty(") + v.shape_str() +
                         ", cupy." + dtype_name(dtype) + ")");
    }
    arr = py::module_::import("cupy").attr("ascontiguousarray")(obj);
    cai = arr.attr("__cuda_array_interface__");
  }
  py::tuple data = cai["data"];
  if (!copy_if_needed && data[1].cast<bool>()) raise_value(a, "is read-only; pass a writable array");
  v.array = arr;
  v.data = reinterpret_cast<float*>(data[0].cast<uintptr_t>());
  v.element_bytes = element_size(dtype);
  v.device = arr.attr("device").attr("id").cast<int>();  // CuPy's; the Python layer wraps other GPU arrays
  return v;
}

ArrayView any_view(py::handle obj, const Arg& a, int rank, const char* layout, bool is_input, DType dtype) {
  if (py::isinstance<py::array>(obj)) {
    return numpy_view(py::reinterpret_borrow<py::array>(obj), a, rank, layout, is_input, dtype);
  }
  if (py::hasattr(obj, "__cuda_array_interface__")) return cuda_view(obj, a, rank, layout, is_input, dtype);
  raise_type(a, "must be a NumPy array (CPU) or a CuPy array (GPU), got " + describe(obj) +
                    "; wrap lists with np.asarray(" + a.name + ", dtype=np." + dtype_name(dtype) + ")");
}

std::string where(const ArrayView& v) {
  return v.cuda ? "a CuPy array on GPU " + std::to_string(v.device) : std::string("a NumPy array (CPU)");
}

}  // namespace

void raise_type(const Arg& a, const std::string& msg) { throw py::type_error(prefix(a) + msg); }
void raise_value(const Arg& a, const std::string& msg) { throw py::value_error(prefix(a) + msg); }

int64_t ArrayView::size() const {
  int64_t n = 1;
  for (int i = 0; i < rank; ++i) n *= shape[i];
  return n;
}

std::string ArrayView::shape_str() const {
  std::ostringstream s;
  s << "(";
  for (int i = 0; i < rank; ++i) s << (i ? ", " : "") << shape[i];
  s << (rank == 1 ? ",)" : ")");
  return s.str();
}

DType index_dtype(py::handle obj) {
  if (py::isinstance<py::array>(obj)) {
    const py::dtype dt = py::reinterpret_borrow<py::array>(obj).dtype();
    return dt.num() == kNpyInt32 && dt.byteorder() != '>' ? DType::kInt32 : DType::kInt64;
  }
  if (py::hasattr(obj, "__cuda_array_interface__")) {
    const std::string typestr = py::str(obj.attr("__cuda_array_interface__")["typestr"]);
    return typestr == cuda_typestr(DType::kInt32) ? DType::kInt32 : DType::kInt64;
  }
  return DType::kInt64;
}

ArrayView array_in(py::handle obj, const Arg& a, int rank, const char* layout, DType dtype) {
  return any_view(obj, a, rank, layout, true, dtype);
}

void check_same_device(const ArrayView& first, const Arg& first_arg, const ArrayView& other, const Arg& other_arg) {
  if (first.cuda != other.cuda || first.device != other.device) {
    raise_value(other_arg, "is " + where(other) + " but " + first_arg.name + " is " + where(first) +
                               "; put all arrays on one device (numpy for the CPU, cupy for a GPU)");
  }
}

namespace {

// The memory block of an output array from the output cache, given back when NumPy frees the
// array (and every view of it): its base object is a capsule holding the block.
struct CachedBlock {
  void* data;
  size_t bytes;
};

// A new C-contiguous NumPy array of `shape` over a cached block, or None for small outputs.
py::object cached_empty(const std::array<int64_t, 4>& shape, int rank, DType dtype) {
  int64_t count = 1;
  for (int i = 0; i < rank; ++i) count *= shape[i];  // byte_count_overflows ruled out overflow
  const size_t bytes = static_cast<size_t>(count) * element_size(dtype);
  if (bytes < kOutputCacheMinBytes) return py::none();
  auto* block = new CachedBlock{nullptr, bytes};
  try {
    block->data = output_block_acquire(bytes);
  } catch (...) {
    delete block;
    throw;
  }
  py::capsule owner(block, [](void* p) {
    auto* b = static_cast<CachedBlock*>(p);
    output_block_release(b->data, b->bytes);
    delete b;
  });
  std::vector<py::ssize_t> dims(shape.begin(), shape.begin() + rank);
  const py::dtype type = dtype == DType::kInt64   ? py::dtype::of<int64_t>()
                         : dtype == DType::kInt32 ? py::dtype::of<int32_t>()
                                                  : py::dtype::of<float>();
  return py::array(type, dims, {}, block->data, owner);
}

}  // namespace

ArrayView array_out(py::handle out, const Arg& a, const std::array<int64_t, 4>& shape, int rank,
                    const ArrayView& like, std::initializer_list<const ArrayView*> inputs, DType dtype) {
  if (byte_count_overflows(shape, rank, dtype)) {
    ArrayView want;
    want.rank = rank;
    want.shape = shape;
    raise_value(a, "is too large: " + want.shape_str() + " " + dtype_name(dtype) +
                       " values overflow a 64-bit byte count; split the input");
  }
  py::tuple shape_tuple(rank);
  for (int i = 0; i < rank; ++i) shape_tuple[i] = shape[i];
  if (out.is_none()) {
    if (like.cuda) require_cuda(a.op);  // before allocating GPU memory the kernels cannot use
    py::object alloc = py::module_::import(like.cuda ? "cupy" : "numpy").attr("empty");
    py::object fresh;
    if (like.cuda) {
      py::object device = py::module_::import("cupy").attr("cuda").attr("Device")(like.device);
      device.attr("__enter__")();
      fresh = alloc(shape_tuple, dtype_name(dtype));
      device.attr("__exit__")(py::none(), py::none(), py::none());
    } else {
      fresh = cached_empty(shape, rank, dtype);
      if (fresh.is_none()) fresh = alloc(shape_tuple, dtype_name(dtype));
    }
    return any_view(fresh, a, rank, "", false, dtype);
  }
  ArrayView v = any_view(out, a, rank, "", false, dtype);
  for (int i = 0; i < rank; ++i) {
    if (v.shape[i] != shape[i]) {
      ArrayView want;
      want.rank = rank;
      want.shape = shape;
      raise_value(a, "must have shape " + want.shape_str() + ", got " + v.shape_str());
    }
  }
  if (v.cuda != like.cuda || v.device != like.device) {
    raise_type(a, "must be " + where(like) + " like the inputs, got " + where(v));
  }
  if (!v.cuda && !py::reinterpret_borrow<py::array>(v.array).writeable()) {
    raise_value(a, "is read-only; pass a writable array");
  }
  const auto* lo = reinterpret_cast<const char*>(v.data);
  const auto* hi = lo + v.size() * element_size(dtype);
  for (const ArrayView* in : inputs) {
    if (in == nullptr || in->data == nullptr) continue;
    const auto* ilo = reinterpret_cast<const char*>(in->data);
    const auto* ihi = ilo + in->size() * in->element_bytes;
    if (lo < ihi && ilo < hi) raise_value(a, "overlaps an input; write into a separate array");
  }
  return v;
}

int64_t int_param(py::handle obj, const Arg& a, int64_t min_value) {
  if (PyBool_Check(obj.ptr()) || !PyIndex_Check(obj.ptr())) {
    raise_type(a, "must be an int, got " + describe(obj) + " " + py::repr(obj).cast<std::string>());
  }
  PyObject* index = PyNumber_Index(obj.ptr());
  if (index == nullptr) {  // e.g. a NumPy array of several elements: PyIndex_Check accepts its type
    PyErr_Clear();
    raise_type(a, "must be an int, got " + describe(obj) + " " + py::repr(obj).cast<std::string>());
  }
  py::int_ value = py::reinterpret_steal<py::int_>(index);
  int overflow = 0;
  const long long v = PyLong_AsLongLongAndOverflow(value.ptr(), &overflow);
  if (overflow > 0 || v > (int64_t{1} << 48)) raise_value(a, "is too large, got " + py::repr(obj).cast<std::string>());
  if (overflow < 0 || v < min_value) {
    raise_value(a, "must be >= " + std::to_string(min_value) + ", got " + py::repr(obj).cast<std::string>());
  }
  return v;
}

cpu::Isa resolve_isa(const std::optional<std::string>& name) {
  if (!name) return cpu::active_isa();
  const cpu::Isa isa = cpu::parse_isa(*name);
  ICTUS_CHECK(cpu::isa_supported(isa), "the CPU does not support ISA '" + *name + "'");
  return isa;
}

void require_cuda(const char* op) {
#if !defined(ICTUS_WITH_CUDA)
  throw std::runtime_error(std::string(op) +
                           ": got CuPy arrays but ictus was built without CUDA kernels; reinstall on a machine "
                           "with nvcc on PATH, forcing them with ICTUS_CUDA=ON pip install .");
#else
  (void)op;
#endif
}

}  // namespace ictus::bindings
