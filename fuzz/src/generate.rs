//! Module generators: `wasm-smith` with a swarm configuration (a random subset of features and
//! limits per input, as Wasmtime's fuzzers do) restricted to what faasm-rs supports:
//! WebAssembly 2.0 (SIMD included, relaxed SIMD not) and extended constant expressions, for
//! every profile.

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
    /// Anything the restriction allows, with imports: for the compiler alone.
    Compile,
    /// Runs in faasm-rs and wasmi: no imports, everything exported, NaNs canonicalised after
    /// every scalar and vector float operation (their payloads are nondeterministic in the spec),
    /// every loop and call metered so it terminates.
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
    restrict_to_wasm2(&mut config);
    share_memory_limit(&mut config);
    config.max_table_elements = config.max_table_elements.min(MAX_TABLE_ELEMENTS);
    if profile != Profile::Compile {
        make_runnable(&mut config, profile);
    }
    if profile == Profile::MemoryBounds {
        config.memory_offset_choices = offsets_near_bounds(u)?;
    }
    Ok(config)
}

// The proposals beyond WebAssembly 2.0, one switch each, for every target at once. The fuzzing
// compiler accepts all that faasm-rs supports (`ours::compiler_config` keeps the default
// `CompilerConfig::proposals`, `Proposals::ALL` in jit/src/proposals.rs), and wasmi 1.1 runs all
// three by default: turning a switch on is the whole change in the fuzz crate.

/// Extended constant expressions (`i32.add`, `i64.mul`, `global.get` and the like in global
/// initialisers and segment offsets).
const EXTENDED_CONST: bool = true;
/// Tail calls (`return_call`, `return_call_indirect`); `ensure_termination` meters them like
/// calls.
const TAIL_CALLS: bool = true;
/// Multiple memories, up to [`MAX_MEMORIES_WITH_MULTI_MEMORY`] per module; [`share_memory_limit`]
/// keeps the engines' different memory limits out of the comparison, which checks every
/// exported memory.
const MULTI_MEMORY: bool = true;
/// Memories of one module when [`MULTI_MEMORY`] is on: they share [`MAX_MEMORY_PAGES`] and each
/// is compared byte for byte after every call, so a few keep an input in milliseconds.
const MAX_MEMORIES_WITH_MULTI_MEMORY: usize = 4;

/// Restricts the swarm's proposals to what faasm-rs supports, for every profile: WebAssembly 2.0
/// with SIMD (where the swarm picked it), [`EXTENDED_CONST`], [`TAIL_CALLS`] and
/// [`MULTI_MEMORY`] (one switch each). Everything else is off: relaxed SIMD, threads, exceptions,
/// GC, memory64 and the rest (our validator refuses them).
fn restrict_to_wasm2(config: &mut Config) {
    // Kept as the swarm chose: SIMD, reference types, bulk memory, multi-value, the
    // sign-extension and saturating conversion operators (all WebAssembly 2.0).
    config.extended_const_enabled &= EXTENDED_CONST;
    config.tail_call_enabled &= TAIL_CALLS;
    config.max_memories = config.max_memories.min(if MULTI_MEMORY {
        MAX_MEMORIES_WITH_MULTI_MEMORY
    } else {
        1
    });
    config.relaxed_simd_enabled = false;
    config.threads_enabled = false;
    config.shared_everything_threads_enabled = false;
    config.acquire_release_atomics_enabled = false;
    config.exceptions_enabled = false;
    config.max_tags = 0;
    config.gc_enabled = false;
    config.custom_descriptors_enabled = false;
    config.multibyte_array_access_enabled = false;
    config.memory64_enabled = false;
    config.wide_arithmetic_enabled = false;
    config.custom_page_sizes_enabled = false;
    config.compact_imports_enabled = false;
    if !config.reference_types_enabled {
        config.max_tables = config.max_tables.min(1);
    }
}

/// Keeps every memory of a module within [`MAX_MEMORY_PAGES`] in all. Our runtime's limit covers
/// an instance's memories together, wasmi's (`StoreLimits::memory_size`) each memory alone: with
/// more than one memory allowed, each gets an equal share as its largest size and must declare a
/// maximum, so neither limit is ever reached and growth stops at the declared maxima in both
/// engines (the spec's answer). One memory keeps the whole limit, with or without a maximum.
fn share_memory_limit(config: &mut Config) {
    let memories = config.max_memories.max(1) as u64;
    config.max_memory32_bytes = config
        .max_memory32_bytes
        .min(MAX_MEMORY_PAGES / memories * PAGE_BYTES);
    if memories > 1 {
        config.memory_max_size_required = true;
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

    #[test]
    fn several_memories_share_the_memory_limit_and_declare_maxima() {
        let mut config = Config {
            max_memories: 4,
            max_memory32_bytes: 1 << 32,
            ..Config::default()
        };
        share_memory_limit(&mut config);
        assert_eq!(config.max_memory32_bytes, MAX_MEMORY_PAGES / 4 * PAGE_BYTES);
        assert!(config.memory_max_size_required);
        let mut single = Config {
            max_memories: 1,
            max_memory32_bytes: 1 << 32,
            ..Config::default()
        };
        share_memory_limit(&mut single);
        assert_eq!(single.max_memory32_bytes, MAX_MEMORY_PAGES * PAGE_BYTES);
        assert!(!single.memory_max_size_required);
    }

    /// Over many inputs, every profile's swarm turns SIMD and extended constant expressions on
    /// for some and off for others, and never turns on what faasm-rs does not run.
    #[test]
    fn every_profile_generates_simd_and_extended_const_and_nothing_unsupported() {
        for profile in [
            Profile::Compile,
            Profile::Differential,
            Profile::MemoryBounds,
            Profile::Unmetered,
        ] {
            let (mut simd, mut extended_const) = ([false; 2], [false; 2]);
            for seed in 0..200u32 {
                let data: Vec<u8> = (0..1024u32)
                    .map(|i| {
                        ((i ^ seed.wrapping_mul(0x9e37)).wrapping_mul(2_654_435_761) >> 13) as u8
                    })
                    .collect();
                let config = config(&mut Unstructured::new(&data), profile).expect("a config");
                simd[usize::from(config.simd_enabled)] = true;
                extended_const[usize::from(config.extended_const_enabled)] = true;
                assert!(!config.relaxed_simd_enabled, "{profile:?}: relaxed SIMD");
                assert!(
                    TAIL_CALLS || !config.tail_call_enabled,
                    "{profile:?}: tail calls"
                );
                assert!(
                    MULTI_MEMORY || config.max_memories <= 1,
                    "{profile:?}: memories"
                );
                assert!(
                    !config.memory64_enabled && !config.threads_enabled,
                    "{profile:?}"
                );
                assert!(
                    !config.exceptions_enabled && !config.gc_enabled,
                    "{profile:?}"
                );
            }
            assert_eq!(simd, [true; 2], "{profile:?}: SIMD always or never on");
            assert_eq!(
                extended_const,
                [true, EXTENDED_CONST],
                "{profile:?}: extended constant expressions"
            );
        }
    }
}
