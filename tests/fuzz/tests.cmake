# Fuzz targets (included from tests/CMakeLists.txt): each tests/fuzz/<name>_fuzz.cc defines
# LLVMFuzzerTestOneInput. Every build replays its corpus, tests/fuzz/corpus/<name>/ (seeds and
# the inputs of fixed crashes), through replay_main.cc as fuzz/<name>_replay. A DQT_FUZZ build
# (clang, ASan + UBSan: tests/sanitize.sh) also links it with libFuzzer and fuzzes it for
# DQT_FUZZ_SECONDS as fuzz/<name> (label fuzz). Exit status 77 (a missing input file such as the
# GPT-2 vocabulary) reads as skipped, never as passed.
set(DQT_FUZZ_SECONDS 25 CACHE STRING "Seconds each libFuzzer target runs in ctest")
set(fuzz_dir ${CMAKE_CURRENT_SOURCE_DIR}/fuzz)
file(GLOB fuzz_srcs CONFIGURE_DEPENDS ${fuzz_dir}/*_fuzz.cc)
foreach(src ${fuzz_srcs})
  get_filename_component(name ${src} NAME_WE)
  string(REGEX REPLACE "_fuzz$" "" target ${name})
  set(env "DQT_DATA_DIR=${DQT_DATA_DIR};OMP_NUM_THREADS=1")
  add_executable(${name}_replay ${src} ${fuzz_dir}/replay_main.cc)
  target_link_libraries(${name}_replay PRIVATE dqt_launch)
  add_test(NAME fuzz/${target}_replay COMMAND ${name}_replay ${fuzz_dir}/corpus/${target})
  set_tests_properties(fuzz/${target}_replay PROPERTIES LABELS "fuzz_replay" SKIP_RETURN_CODE 77
                       ENVIRONMENT "${env}")
  if(DQT_FUZZ)
    add_executable(${name} ${src})
    target_link_libraries(${name} PRIVATE dqt_launch)
    target_link_options(${name} PRIVATE -fsanitize=fuzzer)
    add_test(NAME fuzz/${target}
             COMMAND ${fuzz_dir}/run_fuzz.sh $<TARGET_FILE:${name}> ${fuzz_dir}/corpus/${target}
                     ${DQT_FUZZ_SECONDS} ${CMAKE_BINARY_DIR}/fuzz/${target})
    set_tests_properties(fuzz/${target} PROPERTIES LABELS "fuzz" SKIP_RETURN_CODE 77
                         TIMEOUT 300 ENVIRONMENT "${env}")
  endif()
endforeach()
