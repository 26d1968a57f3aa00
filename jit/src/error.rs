//! The compiler's error type.

use thiserror::Error;

/// Why a module could not be compiled. Every variant says where: a byte offset in the module, or a
/// function index.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum CompileError {
    /// The bytes are not a well-formed, valid WebAssembly module.
    #[error("invalid module at byte offset {offset:#x}: {message}")]
    Invalid {
        /// Byte offset in the module where the problem was found.
        offset: u64,
        /// What is wrong, as the validator said it.
        message: String,
    },
    /// The module is valid but uses something this compiler does not support yet.
    #[error("unsupported at byte offset {offset:#x}: {what}")]
    Unsupported {
        /// Byte offset in the module.
        offset: u64,
        /// What is not supported.
        what: String,
    },
    /// The module exceeds a limit of this implementation (number of functions, types, ...).
    #[error("implementation limit exceeded: {0}")]
    Limit(String),
    /// Cranelift rejected the code we generated for a function: a bug in our translator.
    #[error("code generation failed for function {func_index}: {message}")]
    Codegen {
        /// Index of the function in the module's function index space.
        func_index: u32,
        /// Cranelift's explanation.
        message: String,
    },
}

/// Why serialised compiled code (an AOT artifact) was rejected. Nothing of a rejected artifact
/// is used.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum ArtifactError {
    /// The bytes do not start with the artifact magic number.
    #[error("not a faasm-rs compiled module (no artifact magic number)")]
    NotAnArtifact,
    /// Too short to hold even the header and checksum.
    #[error("truncated compiled module ({len} bytes)")]
    Truncated {
        /// Length of what was given.
        len: u64,
    },
    /// Written in another version of the artifact format.
    #[error("compiled module format version {found}, this build reads version {expected}")]
    Version {
        /// The file's version.
        found: u32,
        /// The version this build writes and reads.
        expected: u32,
    },
    /// The authentication tag does not match: the artifact was altered, or written with
    /// another host's key (see `faasm_runtime::ArtifactKey`).
    #[error(
        "compiled module is not authenticated by this host's key (altered, or written with \
         another key)"
    )]
    Authentication,
    /// The checksum does not match the contents: the file is corrupt or truncated.
    #[error("compiled module is corrupt (checksum mismatch)")]
    Checksum,
    /// Compiled by an engine with other settings, another compiler build or for another CPU.
    #[error("compiled module is for another engine: {0}")]
    Fingerprint(String),
    /// The contents are inconsistent although the checksum matches.
    #[error("malformed compiled module: {0}")]
    Malformed(String),
    /// The runtime could not load the (valid) artifact, for example for lack of memory.
    #[error("cannot load the compiled module: {0}")]
    Load(CompileError),
}

impl CompileError {
    pub(crate) fn from_wasmparser(err: &wasmparser::BinaryReaderError) -> Self {
        CompileError::Invalid {
            offset: err.offset(),
            message: err.message().to_string(),
        }
    }

    pub(crate) fn unsupported(offset: u64, what: impl Into<String>) -> Self {
        CompileError::Unsupported {
            offset,
            what: what.into(),
        }
    }
}

impl From<wasmparser::BinaryReaderError> for CompileError {
    fn from(err: wasmparser::BinaryReaderError) -> Self {
        CompileError::from_wasmparser(&err)
    }
}
