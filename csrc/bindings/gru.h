// Registers gru, gru_backward and gru_kernel_name on _core.
#pragma once

#include <pybind11/pybind11.h>

namespace ictus::bindings {

void bind_gru(pybind11::module_& m);

}  // namespace ictus::bindings
