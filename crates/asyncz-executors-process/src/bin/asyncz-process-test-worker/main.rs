//! The worker binary of the process-pool tests and benchmarks: registers the shared case
//! functions, then serves jobs when started in worker mode. Run directly, it only says so.

mod case_functions;

fn main() {
    asyncz_executors_process::worker_main_if_requested(case_functions::register);
    eprintln!(
        "asyncz-process-test-worker: a worker for the process-pool tests; \
         the process pool starts it in worker mode"
    );
}
