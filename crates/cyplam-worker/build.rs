//! Lets the worker find libtorch at run time with no LD_LIBRARY_PATH (an rpath to the libtorch it
//! was built against), and forces libtorch_cuda.so in when that libtorch has CUDA: tch's build
//! links under --as-needed, which drops it because no symbol of it is referenced directly, and then
//! CUDA is never available.
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    println!("cargo:rerun-if-changed=build.rs");
    let Some(root) = std::env::var_os("LIBTORCH") else {
        println!("cargo:rustc-env=CYPLAM_LIBTORCH_VERSION=unknown");
        return;
    };
    let root = PathBuf::from(root);
    // The PyPI package says its version in torch/version.py: `__version__ = '2.11.0+cu130'`.
    let version = std::fs::read_to_string(root.join("version.py"))
        .ok()
        .and_then(|t| t.lines().find(|l| l.starts_with("__version__")).map(|l| l.split('\'').nth(1).unwrap_or("unknown").to_string()))
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=CYPLAM_LIBTORCH_VERSION={version}");
    let lib = root.join("lib");
    let lib = lib.canonicalize().unwrap_or(lib);
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    if lib.join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-L{}", lib.display());
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-ltorch_cuda");
        println!("cargo:rustc-link-arg=-Wl,--as-needed");
    }
}
