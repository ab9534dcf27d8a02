# The trace viewer page (trace/viewer.html) compiled into gort_trace as a raw
# string (viewer_html.cpp in the build directory), regenerated whenever
# viewer.html changes. Two uses of this file:
#   include(viewer.cmake) in trace/CMakeLists.txt, after gort_trace is defined:
#     adds the generation step and html.cpp with the generated source to gort_trace;
#   cmake -DIN=viewer.html -DOUT=viewer_html.cpp -P viewer.cmake:
#     the generation step itself.
if(CMAKE_SCRIPT_MODE_FILE)
  file(READ "${IN}" html)
  set(delim "gort_viewer")
  string(FIND "${html}" ")${delim}\"" clash)
  if(NOT clash EQUAL -1)
    message(FATAL_ERROR "${IN} contains )${delim}\" and cannot be a raw string with that delimiter")
  endif()
  set(code "// Generated from trace/viewer.html by trace/viewer.cmake: do not edit.\n")
  string(APPEND code "#include <string_view>\n\n")
  string(APPEND code "namespace gort::trace::detail {\n")
  string(APPEND code "extern const std::string_view viewer_html;\n")
  string(APPEND code "const std::string_view viewer_html = R\"${delim}(${html})${delim}\";\n")
  string(APPEND code "}  // namespace gort::trace::detail\n")
  # Rewritten only when it changes, so that nothing is recompiled for nothing.
  set(old "")
  if(EXISTS "${OUT}")
    file(READ "${OUT}" old)
  endif()
  if(NOT old STREQUAL code)
    file(WRITE "${OUT}" "${code}")
  endif()
  return()
endif()

set(GORT_VIEWER_CPP ${CMAKE_CURRENT_BINARY_DIR}/viewer_html.cpp)
add_custom_command(
  OUTPUT ${GORT_VIEWER_CPP}
  COMMAND ${CMAKE_COMMAND} -DIN=${CMAKE_CURRENT_SOURCE_DIR}/viewer.html -DOUT=${GORT_VIEWER_CPP}
          -P ${CMAKE_CURRENT_SOURCE_DIR}/viewer.cmake
  DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/viewer.html ${CMAKE_CURRENT_SOURCE_DIR}/viewer.cmake
  COMMENT "Embedding trace/viewer.html"
  VERBATIM)
target_sources(gort_trace PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/html.cpp ${GORT_VIEWER_CPP})
