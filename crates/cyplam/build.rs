//! Keeps `cyplam` runnable on glibc 2.34 (Rocky/RHEL 9, the oldest glibc the bundle supports,
//! docs/install.md) although it is built on a newer one: glibc 2.35 gave hypot and hypotf new
//! symbol versions, and plotters' dashed lines call hypotf. The linker sends those calls
//! (`--wrap`) to src/glibc_compat.c, which calls the versions every x86_64 glibc has.
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=src/glibc_compat.c");
    // src/db/mod.rs embeds the SQL migrations (`sqlx::migrate!("../../migrations")`), but the
    // macro tells cargo of no file: without this a new migration would not rebuild cyplam, and the
    // binary would silently lack it. Relative to this crate's directory; cargo watches the
    // directory's files, added ones included.
    println!("cargo:rerun-if-changed=../../migrations");
    let target = std::env::var("TARGET").unwrap_or_default();
    if target != "x86_64-unknown-linux-gnu" {
        return;
    }
    cc::Build::new().file("src/glibc_compat.c").compile("cyplam_glibc_compat");
    for f in ["hypot", "hypotf"] {
        println!("cargo:rustc-link-arg=-Wl,--wrap={f}");
    }
}
