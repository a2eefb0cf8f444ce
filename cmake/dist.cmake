# Builds what grpo::dist needs beyond the plain library sources: the c10d translation units
# (src/dist/*_c10d.cpp: TCP store and the Gloo backend) and the NCCL link of grpo_dist.
#
# Why the c10d sources are compiled apart, with their own include path:
#
#  * fmt. The rest of grpo sees torch's headers through a mirror without torch's fmt 12, so that
#    spdlog compiles against Debian's fmt 9 (cmake/torch.cmake). c10d headers (logger.hpp ->
#    logging.h, error.h, ...) include <fmt/format.h> and need torch's fmt 12. The c10d sources
#    get the real torch include directory first, so they see fmt 12, and they never include
#    spdlog (they log nothing; errors travel to src/dist/communicator.cpp as exceptions). Both
#    fmt copies may end up in one binary without clashing: fmt versions its symbols through an
#    inline namespace (fmt::v9 vs fmt::v12).
#
#  * gloo. ProcessGroupGloo.hpp includes <gloo/...>, which the torch wheel does not ship (its
#    libtorch_cpu.so contains gloo, compiled in). We parse that header with Debian's gloo
#    headers (libgloo-dev, installed by scripts/setup.sh), which are an older gloo than torch's.
#    That is safe only because our code touches gloo types through pointers and calls nothing
#    of gloo: we construct c10d::ProcessGroupGloo through its exported constructor (its layout
#    holds gloo objects only behind shared_ptr/unique_ptr) and drive it through c10d::Backend's
#    virtual functions. We never link libgloo. tests/dist/c10d_object_test.cpp checks that the
#    object files define no gloo symbol that could interpose libtorch's own at run time.
#    Without gloo headers the Gloo backend is compiled out and a multi-process CPU run stops with
#    an error that says so.

set(GRPO_C10D_SOURCES ${PROJECT_SOURCE_DIR}/src/dist/store_gloo_c10d.cpp)
find_path(GRPO_GLOO_INCLUDE gloo/algorithm.h)
if(GRPO_GLOO_INCLUDE)
  set(GRPO_WITH_GLOO ON)
else()
  set(GRPO_WITH_GLOO OFF)
  message(WARNING "grpo: gloo headers not found (Debian: libgloo-dev): multi-process CPU training "
                  "is disabled in this build")
endif()
message(STATUS "grpo: dist backends: Gloo ${GRPO_WITH_GLOO}, NCCL ${GRPO_WITH_NCCL}")

add_library(grpo_c10d OBJECT ${GRPO_C10D_SOURCES})
# SYSTEM BEFORE: the real torch directories are searched ahead of the fmt-less mirror that
# grpo_torch brings, and their warnings stay silent like every third-party header's.
target_include_directories(grpo_c10d SYSTEM BEFORE PRIVATE ${GRPO_TORCH_REAL_INCLUDE_DIRS})
target_include_directories(grpo_c10d PRIVATE ${PROJECT_SOURCE_DIR}/include)
target_link_libraries(grpo_c10d PRIVATE grpo_torch)
target_compile_options(grpo_c10d PRIVATE ${GRPO_WARNINGS})
target_compile_definitions(grpo_c10d PRIVATE $<$<BOOL:${GRPO_WITH_GLOO}>:GRPO_WITH_GLOO=1>)
target_sources(grpo_dist PRIVATE $<TARGET_OBJECTS:grpo_c10d>)

if(GRPO_WITH_NCCL)
  target_link_libraries(grpo_dist PUBLIC grpo_nccl)
endif()
