//! GPU tests, behind the `cuda-tests` feature (`cargo test -p cyplam-worker --features cuda-tests`
//! on a machine with a CUDA device and a CUDA libtorch). Not run in CI, which has no GPU.
#![cfg(feature = "cuda-tests")]

use super::*;
use cyplam_core::files::{read_json, read_metrics, ModelResult, ResultStatus};

#[test]
fn cuda_is_available_to_the_worker() {
    assert!(tch::Cuda::is_available(), "libtorch sees no CUDA device (is libtorch_cuda.so linked? see build.rs)");
}

#[test]
fn a_short_training_on_cuda_learns_and_says_where_it_ran() {
    let t = tempfile::tempdir().unwrap();
    let (dir, _) = make_sweep(t.path(), "cuda", TINY);
    let out = worker(&["--sweep", dir.to_str().unwrap(), "--model", "0", "--device", "cuda"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let md = dir.join("models/Model-000");
    let res: ModelResult = read_json(&md.join("result.json")).unwrap();
    assert_eq!(res.status, ResultStatus::Completed);
    assert!(res.device.starts_with("cuda"), "{}", res.device);
    let rows = read_metrics(&md.join("metrics.csv")).unwrap();
    assert_eq!(rows.len(), 8);
    assert!(res.best_accuracy20.unwrap() > 0.3, "{:?}", res.best_accuracy20);
}
