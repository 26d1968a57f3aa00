//! Build script of the root package: links `faasm-run` with packed relative relocations on
//! GNU/Linux (`-z pack-relative-relocs`, `DT_RELR`). The binary is position-independent and
//! holds about 21,700 relative relocations; as `RELA` entries they are 512 KiB that the dynamic
//! loader reads at every start (about 1.1 MiB of a hello-world run's peak RSS with the pages
//! read around them), as `RELR` 5 KiB. A linker without the option ignores it with a warning,
//! and one whose C library lacks `DT_RELR` support keeps `RELA`.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && env == "gnu" {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
