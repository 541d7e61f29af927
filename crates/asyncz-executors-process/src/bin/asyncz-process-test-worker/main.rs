//! The worker binary of the process-pool tests and benchmarks: registers the executor suite's
//! case functions, then serves jobs when started in worker mode. Run directly, it only says
//! so. With `ASYNCZ_TEST_FAIL_REGISTRATION` set, its registration fails (to test that path).
//! A development binary: it is not part of the published package.

// A binary cannot use dev-dependencies: the functions' one home, the testkit, is compiled in.
#[path = "../../../../asyncz-testkit/src/executor_functions.rs"]
mod case_functions;

fn main() {
    asyncz_executors_process::worker_main_if_requested(|registry| {
        if std::env::var_os("ASYNCZ_TEST_FAIL_REGISTRATION").is_some() {
            return Err(asyncz_core::Error::invalid(
                "function name",
                "registration failed on purpose",
            ));
        }
        case_functions::register(registry)
    });
    eprintln!(
        "asyncz-process-test-worker: a worker for the process-pool tests; \
         the process pool starts it in worker mode"
    );
}
