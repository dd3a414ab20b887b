// Registers conv1d, conv2d, their backward passes, output-size helpers and conv_kernel_name on the
// _core module.
#pragma once

#include <pybind11/pybind11.h>

namespace ictus::bindings {

void bind_conv(pybind11::module_& m);

}  // namespace ictus::bindings
