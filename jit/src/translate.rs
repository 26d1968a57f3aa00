//! Our translator from Wasm operators to Cranelift IR.
