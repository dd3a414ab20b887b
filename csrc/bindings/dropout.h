// Registers dropout and dropout_kernel_name on _core.
#pragma once

#include <pybind11/pybind11.h>

namespace ictus::bindings {

void bind_dropout(pybind11::module_& m);

}  // namespace ictus::bindings
