# Finds libtorch and decides whether the CUDA kernels and NCCL are built.
#
# libtorch comes from the PyPI torch wheel in the environment that scripts/setup.sh creates
# (GRPO_VENV, default $HOME/.cache/grpo/venv); a user with their own libtorch passes
# -DCMAKE_PREFIX_PATH=/path/to/libtorch instead. Defines the interface target `grpo_torch`
# and the variables GRPO_WITH_CUDA, GRPO_WITH_NCCL and GRPO_TORCH_ORIGIN.

if(NOT DEFINED GRPO_VENV)
  if(DEFINED ENV{GRPO_VENV})
    set(GRPO_VENV "$ENV{GRPO_VENV}")
  else()
    set(GRPO_VENV "$ENV{HOME}/.cache/grpo/venv")
  endif()
endif()
set(GRPO_TORCH_ORIGIN "CMAKE_PREFIX_PATH")
if(EXISTS "${GRPO_VENV}/bin/python")
  execute_process(
    COMMAND "${GRPO_VENV}/bin/python" -c "import torch; print(torch.utils.cmake_prefix_path)"
    OUTPUT_VARIABLE _grpo_torch_prefix OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE _rc)
  if(_rc EQUAL 0)
    list(APPEND CMAKE_PREFIX_PATH "${_grpo_torch_prefix}")
    set(GRPO_TORCH_ORIGIN "${GRPO_VENV}")
  endif()
endif()

# The CUDA decision comes first: the wheel is a CUDA build, and its CMake config needs the
# toolkit to describe its CUDA libraries.
if(NOT GRPO_CUDA MATCHES "^(AUTO|ON|OFF)$")
  message(FATAL_ERROR "GRPO_CUDA must be AUTO, ON or OFF, got '${GRPO_CUDA}'")
endif()
set(GRPO_WITH_CUDA OFF)
if(NOT GRPO_CUDA STREQUAL "OFF")
  if(NOT CMAKE_CUDA_COMPILER)
    find_program(_grpo_nvcc nvcc HINTS /usr/local/cuda/bin ENV CUDA_HOME PATH_SUFFIXES bin)
    if(_grpo_nvcc)
      set(CMAKE_CUDA_COMPILER "${_grpo_nvcc}")
    endif()
  endif()
  if(CMAKE_CUDA_COMPILER)
    set(GRPO_WITH_CUDA ON)
  elseif(GRPO_CUDA STREQUAL "ON")
    message(FATAL_ERROR "GRPO_CUDA=ON but nvcc was not found (looked on PATH, CUDA_HOME and /usr/local/cuda)")
  endif()
endif()

if(GRPO_WITH_CUDA)
  # Our kernels target Ampere and Hopper (the GPU machines are H100/H200); torch's CMake reads
  # its own variable for this and warns about CMAKE_CUDA_ARCHITECTURES otherwise.
  if(NOT DEFINED TORCH_CUDA_ARCH_LIST AND NOT DEFINED ENV{TORCH_CUDA_ARCH_LIST})
    set(TORCH_CUDA_ARCH_LIST "8.0;9.0")
  endif()
  set(CMAKE_CUDA_ARCHITECTURES 80 90)
  enable_language(CUDA)
  find_package(CUDAToolkit REQUIRED)
endif()

find_package(Torch REQUIRED)

# The unmirrored torch include directories, for the one family of sources that includes c10d
# (src/**/*_c10d.cpp, see cmake/dist.cmake): some c10d headers include torch's own fmt.
set(GRPO_TORCH_REAL_INCLUDE_DIRS ${TORCH_INCLUDE_DIRS})

# torch/include ships its own copy of fmt (12.x), which would shadow the Debian fmt that spdlog is
# built against. We expose torch's headers through a mirror directory without `fmt/`.
set(_grpo_torch_inc "${PROJECT_BINARY_DIR}/torch_include")
file(MAKE_DIRECTORY "${_grpo_torch_inc}")
set(_grpo_torch_dirs "")
foreach(_dir IN LISTS TORCH_INCLUDE_DIRS)
  if(EXISTS "${_dir}/fmt" AND EXISTS "${_dir}/ATen")
    file(GLOB _entries RELATIVE "${_dir}" "${_dir}/*")
    foreach(_e IN LISTS _entries)
      if(NOT _e STREQUAL "fmt" AND NOT EXISTS "${_grpo_torch_inc}/${_e}")
        file(CREATE_LINK "${_dir}/${_e}" "${_grpo_torch_inc}/${_e}" SYMBOLIC)
      endif()
    endforeach()
    list(APPEND _grpo_torch_dirs "${_grpo_torch_inc}")
  else()
    list(APPEND _grpo_torch_dirs "${_dir}")
  endif()
endforeach()

add_library(grpo_torch INTERFACE)
target_include_directories(grpo_torch SYSTEM INTERFACE ${_grpo_torch_dirs})
# The wheel's libtorch.so and libtorch_cpu.so export copies of some std::filesystem functions
# (their toolchain links parts of libstdc++ statically), and libtorch's remove_all crashes when
# called from our code. Naming libstdc++ before libtorch makes the dynamic linker resolve
# those symbols to the system libstdc++ first.
target_link_libraries(grpo_torch INTERFACE "-Wl,--push-state,--no-as-needed" stdc++ "-Wl,--pop-state")
if(GRPO_WITH_CUDA)
  target_link_libraries(grpo_torch INTERFACE ${TORCH_LIBRARIES} CUDA::cudart)
else()
  # Without CUDA we link the CPU half of libtorch only: smaller, faster to load.
  target_link_libraries(grpo_torch INTERFACE torch_cpu c10)
endif()
# Torch's own compile flags (the C++ ABI define) without its include directories.
foreach(_flag IN LISTS TORCH_CXX_FLAGS)
  target_compile_options(grpo_torch INTERFACE ${_flag})
endforeach()

# at::parallel_for is a header template (ATen/Parallel-inl.h, ParallelOpenMP.h): it runs in
# parallel only in a translation unit compiled with OpenMP; without -fopenmp it silently runs the
# whole range on the calling thread, and marks it as a parallel region so that nested ATen calls
# stay serial too. GRPO_OMP_LIBRARY is the OpenMP runtime to link those units against: the
# libgomp.so.1 the wheel ships beside libtorch_cpu (one runtime in the process, so that MKL sees
# our parallel regions and runs single-threaded inside them), else the compiler's.
find_library(GRPO_OMP_LIBRARY NAMES libgomp.so.1 PATHS "${TORCH_INSTALL_PREFIX}/lib"
             NO_DEFAULT_PATH)
if(NOT GRPO_OMP_LIBRARY)
  find_package(OpenMP REQUIRED COMPONENTS CXX)
  set(GRPO_OMP_LIBRARY OpenMP::OpenMP_CXX)
endif()

set(GRPO_WITH_NCCL OFF)
if(GRPO_WITH_CUDA)
  find_path(GRPO_NCCL_INCLUDE nccl.h HINTS ${CUDAToolkit_INCLUDE_DIRS} /usr/local/cuda/include)
  find_library(GRPO_NCCL_LIBRARY nccl HINTS ${CUDAToolkit_LIBRARY_DIR} /usr/local/cuda/lib64)
  if(GRPO_NCCL_INCLUDE AND GRPO_NCCL_LIBRARY)
    set(GRPO_WITH_NCCL ON)
    add_library(grpo_nccl INTERFACE)
    target_include_directories(grpo_nccl SYSTEM INTERFACE ${GRPO_NCCL_INCLUDE})
    target_link_libraries(grpo_nccl INTERFACE ${GRPO_NCCL_LIBRARY})
  endif()
endif()

# Imported torch targets carry torch/include (with its fmt) as usage requirements: drop them,
# grpo_torch above provides the mirrored directories.
foreach(_t torch torch_cpu torch_cuda c10 c10_cuda torch_library headeronly)
  if(TARGET ${_t})
    get_target_property(_inc ${_t} INTERFACE_INCLUDE_DIRECTORIES)
    if(_inc)
      message(DEBUG "grpo: dropping include dirs of ${_t}: ${_inc}")
      set_property(TARGET ${_t} PROPERTY INTERFACE_INCLUDE_DIRECTORIES "")
    endif()
  endif()
endforeach()
