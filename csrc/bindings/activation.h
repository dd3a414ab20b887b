// Registers elu, elu_backward and elu_kernel_name on _core.
#pragma once

#include <pybind11/pybind11.h>

namespace ictus::bindings {

void bind_activation(pybind11::module_& m);

}  // namespace ictus::bindings
