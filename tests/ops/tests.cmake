# Operations tests (included from tests/CMakeLists.txt): Slurm, preemption, run reports, Docker.
set(ops_dir ${CMAKE_CURRENT_SOURCE_DIR}/ops)
set(ops_env "DQT_DATA_DIR=${DQT_DATA_DIR}")

# A private single-node Slurm (slurmctld, slurmd, munge started and stopped by the script):
# dqt.sbatch with 2 tasks in the srun and mpirun forms, preemption, requeue and resume.
add_test(NAME ops/slurm COMMAND ${ops_dir}/slurm_test.sh ${CMAKE_BINARY_DIR})
set_tests_properties(ops/slurm PROPERTIES LABELS "slurm;mpi" TIMEOUT 400 PROCESSORS 2
                     ENVIRONMENT "${ops_env}")

# SIGUSR1/SIGTERM preemption of a 2-rank run under plain mpirun, resumed bit for bit.
add_test(NAME ops/preempt_mpirun COMMAND ${ops_dir}/preempt_mpirun_test.sh ${CMAKE_BINARY_DIR})
set_tests_properties(ops/preempt_mpirun PROPERTIES LABELS "mpi;ops" TIMEOUT 300 PROCESSORS 2
                     ENVIRONMENT "${ops_env}")

# dqt_report on a shortened quickstart run, checked in headless Chromium (DOM and screenshot);
# exit status 77 reads as skipped when chromium is not installed.
add_test(NAME ops/report COMMAND ${ops_dir}/report_test.sh ${CMAKE_BINARY_DIR})
set_tests_properties(ops/report PROPERTIES LABELS "ops" TIMEOUT 300 PROCESSORS 2
                     SKIP_RETURN_CODE 77 ENVIRONMENT "${ops_env}")

# The Dockerfiles against launch/install_deps.sh, launch/build.sh, launch/bin/ and the libraries
# the built binaries load (no container engine in CI; docs/OPERATIONS.md says what was built).
add_test(NAME ops/docker_sync COMMAND ${ops_dir}/docker_sync_test.sh ${CMAKE_BINARY_DIR})
set_tests_properties(ops/docker_sync PROPERTIES LABELS "ops")
