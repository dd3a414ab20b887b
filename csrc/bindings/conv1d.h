// Registers conv1d, conv1d_backward and conv1d_kernel_name on the _core module.
#pragma once

#include <pybind11/pybind11.h>

namespace ictus::bindings {

void bind_conv1d(pybind11::module_& m);

}  // namespace ictus::bindings
