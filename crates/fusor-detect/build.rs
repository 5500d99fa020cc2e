//! tch links libtorch without an rpath and, with `--as-needed`, drops libtorch_cuda (so CUDA
//! would never be found). This script receives libtorch's lib folder from torch-sys (a direct
//! dependency for that reason) and adds the rpath and `--no-as-needed -ltorch` to every binary
//! and test of this crate. See ../shared/DEPENDENCIES.md.
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    if let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-ltorch");
        println!("cargo:rustc-env=FUSOR_LIBTORCH_LIB={lib}");
    }
}
