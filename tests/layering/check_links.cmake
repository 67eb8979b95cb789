# The link side of the layering (tests/CMakeLists.txt, ctest layering.links): fails when TARGET's
# link dependencies, transitive, as CMake resolved them at configure time (DEPS, comma-separated),
# hold any of FORBIDDEN (comma-separated). check_layers.sh holds the includes to the layers; this
# holds the libraries: the runtime must build and link without the compiler and the dsl.
# Usage: cmake -DTARGET=treaty_runtime -DDEPS=treaty_data,treaty_base -DFORBIDDEN=treaty_dsl -P check_links.cmake
cmake_minimum_required(VERSION 3.25)
string(REPLACE "," ";" deps "${DEPS}")
string(REPLACE "," ";" forbidden "${FORBIDDEN}")
set(bad "")
foreach(f IN LISTS forbidden)
  if(f IN_LIST deps)
    list(APPEND bad ${f})
  endif()
endforeach()
if(bad)
  list(JOIN bad ", " bad_text)
  message(FATAL_ERROR "${TARGET} links ${bad_text}, a layer it may not use (its link dependencies: ${DEPS})")
endif()
message(STATUS "${TARGET} links ${DEPS}: none of ${FORBIDDEN}")
