// Registers max_pool1d, max_pool2d, their backward passes and max_pool_kernel_name on _core.
#pragma once

#include <pybind11/pybind11.h>

namespace ictus::bindings {

void bind_pool(pybind11::module_& m);

}  // namespace ictus::bindings
