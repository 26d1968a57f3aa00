//! Which WebAssembly proposals beyond 2.0 a compiler accepts. All of them by default; turned off,
//! a module that uses one fails validation, and the error names the proposal.

use wasmparser::WasmFeatures;

/// The proposals beyond WebAssembly 2.0 (SIMD included) that faasm-rs supports, each on or off.
/// All are standard in WebAssembly 3.0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Proposals {
    /// `global.get`, `i32`/`i64` `add`, `sub` and `mul` in constant expressions.
    pub extended_const: bool,
    /// `return_call` and `return_call_indirect`.
    pub tail_call: bool,
    /// More than one memory per module, and memory indices on memory instructions.
    pub multi_memory: bool,
}

impl Proposals {
    /// Every supported proposal: the default.
    pub const ALL: Proposals = Proposals {
        extended_const: true,
        tail_call: true,
        multi_memory: true,
    };

    /// None: exactly WebAssembly 2.0, as its spec tests expect (they assert, for instance,
    /// that a second memory is invalid).
    pub const NONE: Proposals = Proposals {
        extended_const: false,
        tail_call: false,
        multi_memory: false,
    };

    /// The validator's feature set: 2.0 plus the proposals that are on.
    pub(crate) fn wasm_features(self) -> WasmFeatures {
        let mut features = WasmFeatures::WASM2;
        features.set(WasmFeatures::EXTENDED_CONST, self.extended_const);
        features.set(WasmFeatures::TAIL_CALL, self.tail_call);
        features.set(WasmFeatures::MULTI_MEMORY, self.multi_memory);
        features
    }
}

impl Default for Proposals {
    fn default() -> Self {
        Proposals::ALL
    }
}

impl std::fmt::Display for Proposals {
    /// The proposals that are on, by their names in the WebAssembly proposals repository.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names = [
            (self.extended_const, "extended-const"),
            (self.tail_call, "tail-call"),
            (self.multi_memory, "multi-memory"),
        ];
        let on: Vec<&str> = names
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, name)| *name)
            .collect();
        if on.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&on.join(","))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmparser::Validator;

    /// A module with two memories, a tail call and an extended constant.
    fn module() -> Vec<u8> {
        wat::parse_str(
            r#"(module (memory 1) (memory 1)
                (global i32 (i32.add (i32.const 1) (i32.const 2)))
                (func $f return_call $f))"#,
        )
        .expect("wat")
    }

    #[test]
    fn each_proposal_turned_off_is_named_by_the_validator() {
        assert!(
            Validator::new_with_features(Proposals::ALL.wasm_features())
                .validate_all(&module())
                .is_ok()
        );
        let error = Validator::new_with_features(Proposals::NONE.wasm_features())
            .validate_all(&module())
            .map(|_| ())
            .expect_err("2.0 refuses two memories")
            .to_string();
        assert!(error.contains("multiple memories"), "{error}");
        assert_eq!(
            Proposals::ALL.to_string(),
            "extended-const,tail-call,multi-memory"
        );
        assert_eq!(Proposals::NONE.to_string(), "none");
    }
}
