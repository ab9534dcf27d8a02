# gort_enable_yield_points(<target>): every function entry of <target>'s own
# code becomes a yield point, the way Go's compiler puts a stack check in
# every function prologue. A goroutine running that code is then preempted
# at its next call once its time slice is over, even with
# GORTDEBUG=asyncpreemptoff=1.
#
# It works by compiler instrumentation: each instrumented function calls a
# hook in gort at entry (preempt/yield.cpp), which is one compare against
# the goroutine's stack guard. Code from system headers and from gort's own
# headers is left alone (GCC: exclude list; clang: after inlining, entry only).
function(gort_enable_yield_points target)
  if(NOT TARGET ${target})
    message(FATAL_ERROR "gort_enable_yield_points: no target named '${target}'")
  endif()
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    target_compile_options(${target} PRIVATE
      -finstrument-functions "-finstrument-functions-exclude-file-list=/usr/include/,include/gort/")
  elseif(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    target_compile_options(${target} PRIVATE -finstrument-function-entry-bare)
  else()
    message(FATAL_ERROR "gort_enable_yield_points: ${CMAKE_CXX_COMPILER_ID} is not supported (GCC or Clang)")
  endif()
endfunction()
