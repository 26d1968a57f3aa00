//! Module generators: `wasm-smith` with a swarm configuration (a random subset of features and
//! limits per input, as Wasmtime's fuzzers do) restricted to what faasm-rs supports:
//! WebAssembly 2.0, without SIMD except where a profile says otherwise.

use arbitrary::{Arbitrary, Result, Unstructured};
use wasm_smith::{Config, MemoryOffsetChoices, Module};

/// Limit on linear memories in pages, in the generator (declared sizes) and in both engines
/// (growth): 10 MiB keeps memory comparisons cheap while leaving room for `memory.grow`.
pub const MAX_MEMORY_PAGES: u64 = 160;
/// Limit on table sizes, in the generator and in both engines.
pub const MAX_TABLE_ELEMENTS: u64 = 10_000;
/// Fuel of `wasm-smith`'s termination instrumentation: function entries and loop iterations a
/// module may run in total (bulk operations spend their length). Generous for real work, small
/// enough that one input runs in milliseconds.
pub const TERMINATION_FUEL: u32 = 10_000;

/// Bytes of one Wasm page.
const PAGE_BYTES: u64 = 65536;

/// What kind of module a target needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    /// Anything in WebAssembly 2.0, SIMD included, with imports: for the compiler alone.
    Compile,
    /// Runs in faasm-rs and wasmi: no imports, everything exported, NaNs canonicalised (their
    /// payloads are nondeterministic in the spec), every loop and call metered so it terminates.
    Differential,
    /// Like `Differential` but NaNs are left alone (both memory strategies run the same
    /// arithmetic) and memory offsets lean towards the bounds, where the strategies differ.
    MemoryBounds,
    /// Like `Differential` but without termination instrumentation: calls may run forever.
    Unmetered,
}

/// Generates a module for `profile` from `u`.
pub fn module(u: &mut Unstructured<'_>, profile: Profile) -> Result<Vec<u8>> {
    let config = config(u, profile)?;
    let mut module = Module::new(config, u)?;
    if matches!(profile, Profile::Differential | Profile::MemoryBounds) {
        // Fails only for functions made of arbitrary bytes, which our configuration never asks for.
        module
            .ensure_termination(TERMINATION_FUEL)
            .map_err(|_| arbitrary::Error::IncorrectFormat)?;
    }
    Ok(module.to_bytes())
}

/// A swarm configuration for `profile`.
pub fn config(u: &mut Unstructured<'_>, profile: Profile) -> Result<Config> {
    let mut config = Config::arbitrary(u)?;
    restrict_to_wasm2(&mut config, profile == Profile::Compile);
    config.max_memory32_bytes = config.max_memory32_bytes.min(MAX_MEMORY_PAGES * PAGE_BYTES);
    config.max_table_elements = config.max_table_elements.min(MAX_TABLE_ELEMENTS);
    if profile != Profile::Compile {
        make_runnable(&mut config, profile);
    }
    if profile == Profile::MemoryBounds {
        config.memory_offset_choices = offsets_near_bounds(u)?;
    }
    Ok(config)
}

/// Turns off every proposal beyond WebAssembly 2.0 (our validator accepts 2.0 and extended
/// constant expressions), and SIMD unless `simd` (the differential targets do not generate it
/// yet: their reference engine's SIMD is not set up).
fn restrict_to_wasm2(config: &mut Config, simd: bool) {
    config.simd_enabled &= simd;
    config.relaxed_simd_enabled = false;
    config.threads_enabled = false;
    config.shared_everything_threads_enabled = false;
    config.acquire_release_atomics_enabled = false;
    config.tail_call_enabled = false;
    config.exceptions_enabled = false;
    config.max_tags = 0;
    config.gc_enabled = false;
    config.custom_descriptors_enabled = false;
    config.multibyte_array_access_enabled = false;
    config.memory64_enabled = false;
    config.max_memories = config.max_memories.min(1);
    config.extended_const_enabled = false;
    config.wide_arithmetic_enabled = false;
    config.custom_page_sizes_enabled = false;
    config.compact_imports_enabled = false;
    if !config.reference_types_enabled {
        config.max_tables = config.max_tables.min(1);
    }
}

/// Settings for modules that both engines instantiate and run side by side.
fn make_runnable(config: &mut Config, profile: Profile) {
    config.max_imports = 0;
    config.export_everything = true;
    config.canonicalize_nans = profile != Profile::MemoryBounds;
    // Compile time grows with module size in both engines; keep one input in milliseconds.
    config.max_funcs = config.max_funcs.min(50);
    config.max_instructions = config.max_instructions.min(500);
}

/// Memory-offset weights that reach past the declared sizes more often than the default
/// `(90, 9, 1)`: out-of-bounds and near-bounds accesses are where the strategies differ.
fn offsets_near_bounds(u: &mut Unstructured<'_>) -> Result<MemoryOffsetChoices> {
    let in_bounds = u.int_in_range(0..=10)?;
    let maybe_in_bounds = u.int_in_range(0..=10)?;
    let out_of_bounds = u.int_in_range(1..=10)?;
    Ok(MemoryOffsetChoices(
        in_bounds,
        maybe_in_bounds,
        out_of_bounds,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_profile_generates_valid_modules() {
        let seed: Vec<u8> = (0..4096u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for profile in [
            Profile::Compile,
            Profile::Differential,
            Profile::MemoryBounds,
            Profile::Unmetered,
        ] {
            let wasm = module(&mut Unstructured::new(&seed), profile).expect("a module");
            assert!(wasm.starts_with(b"\0asm"), "{profile:?}");
        }
    }
}
