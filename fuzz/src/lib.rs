//! Generators and oracles for fuzzing faasm-rs. The cargo-fuzz targets in `fuzz_targets/` are
//! thin shims over [`targets`]; the workspace's `tests/fuzz_replay.rs` includes this same source
//! (stable toolchain, no libFuzzer) to replay the committed corpus and regressions through the
//! same checks.
//!
//! - [`generate`]: `wasm-smith` configured (swarm-style) to what our JIT supports;
//! - [`value`]: values, call outcomes and trap kinds both engines map into;
//! - [`ours`] and [`reference`]: the module run in faasm-rs and in wasmi (the oracle);
//! - [`compare`]: runs two sandboxes in lockstep and reports the first difference;
//! - [`targets`]: one checking function per fuzz target, and for `.wat` regressions;
//! - [`wasi_paths`]: random WASI path calls through the host calls guests reach, on a root
//!   beside a sentinel tree that must stay unread, unnamed and unchanged.
//!
//! Modules name each other with `super::`, never `crate::`: the replay test includes this file
//! as a module of its own crate.
//!
//! wasmi is a dependency of this crate only (and a dev-dependency of the root package for the
//! replay): it never enters the runtime's dependency tree.
#![forbid(unsafe_code)]

pub mod compare;
pub mod generate;
pub mod ours;
pub mod reference;
pub mod targets;
pub mod value;
pub mod wasi_paths;
