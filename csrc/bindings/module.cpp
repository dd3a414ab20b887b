// The private compiled module ictus._core: runtime facts and settings here, each op family's
// bindings in its own file. The public API is the ictus package (python/ictus).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>

#include "bindings/activation.h"
#include "bindings/conv.h"
#include "bindings/dropout.h"
#include "bindings/gru.h"
#include "bindings/pool.h"
#include "common/check.h"
#include "common/output_cache.h"
#include "common/thread_pool.h"
#include "cpu/isa.h"
#include "cpu/peak/peak.h"
#include "cuda/conv_cuda.h"

namespace py = pybind11;
using namespace ictus;

PYBIND11_MODULE(_core, m) {
  m.doc() = "ictus compiled kernels (private; use the ictus package)";
  // Invalid ICTUS_CPU_ISA or ICTUS_NUM_THREADS values fail the import with their message.
  cpu::active_isa();
  ThreadPool::instance();
  output_cache_info();  // reads ICTUS_OUTPUT_CACHE_MB

  m.def("cpu_isa", [] { return std::string(cpu::isa_name(cpu::active_isa())); });
  m.def("isa_supported", [](const std::string& name) { return cpu::isa_supported(cpu::parse_isa(name)); });
  m.def("set_num_threads", [](int n) {
    ICTUS_CHECK(n >= 1 && n <= kMaxThreads, "set_num_threads: n must be in [1, 1024]");
    py::gil_scoped_release release;
    ThreadPool::instance().set_num_threads(n);
  });
  m.def("get_num_threads", [] { return ThreadPool::instance().num_threads(); });
  m.def("output_cache_info", [] {
    const OutputCacheInfo info = output_cache_info();
    py::dict d;
    d["cached_bytes"] = info.cached_bytes;
    d["limit_bytes"] = info.limit_bytes;
    d["hits"] = info.hits;
    d["misses"] = info.misses;
    return d;
  });
  m.def("set_output_cache_limit", [](int64_t bytes) {
    ICTUS_CHECK(bytes >= 0, "set_output_cache_limit: max_bytes must be >= 0");
    set_output_cache_limit(static_cast<size_t>(bytes));
  });
  m.def("measure_peak_gflops", [](int threads, double seconds) {
    py::gil_scoped_release release;
    return cpu::measure_peak_gflops(cpu::active_isa(), threads, seconds);
  }, py::arg("threads"), py::arg("seconds") = 0.3);

#if defined(ICTUS_WITH_CUDA)
  m.attr("cuda_compiled") = true;
  m.def("cuda_device_count", [] { return cuda::device_count(); });
#else
  m.attr("cuda_compiled") = false;
  m.def("cuda_device_count", [] { return 0; });
#endif

  bindings::bind_conv(m);
  bindings::bind_pool(m);
  bindings::bind_gru(m);
  bindings::bind_activation(m);
  bindings::bind_dropout(m);
}
