//! The serialised form of a [`CompiledModule`] (the "AOT artifact", `.cwasm`): versioned, tied to
//! the engine that produced it, and checked end to end before anything in it is believed.
//!
//! Layout (integers little-endian):
//!
//! | field | encoding |
//! |---|---|
//! | magic | the 8 bytes [`ARTIFACT_MAGIC`] |
//! | format version | `u32`, [`ARTIFACT_VERSION`] |
//! | engine fingerprint | `u32` length + UTF-8 ([`Compiler::fingerprint`]) |
//! | SHA-256 of the original wasm | 32 bytes |
//! | module sections | `u64` length + bytes ([`CompiledModule::wasm_sections`]) |
//! | machine code | `u64` length + bytes |
//! | functions, `array_to_wasm`, `wasm_to_host` | each `u32` count + (`u32` offset, `u32` length)* |
//! | trap table | `u32` count + (`u32` offset, `u8` trap code)* |
//! | memory writers | `u32` count + one `u8` (0 or 1) per defined function |
//! | checksum | SHA-256 of every byte before it |
//!
//! The module's declarations are not serialised field by field: the artifact keeps the module's
//! own sections (without function bodies) and the loader re-parses them with the same parser the
//! compiler used, so the two can never disagree.
//!
//! Loading checks, in order: length, magic, version, checksum, fingerprint, then the structure
//! (every length inside the file, no trailing bytes), the sections re-parse, and the internal
//! consistency of the tables ([`CompiledModule::check_consistency`]). Any failure is an
//! [`ArtifactError`]; nothing of a rejected file is used.

use crate::compile::{CompiledModule, Compiler, FunctionLoc};
use crate::error::ArtifactError;
use crate::module::ModuleInfo;
use crate::trap::TrapCode;
use crate::vmctx::VMOffsets;
use sha2::{Digest, Sha256};

/// The first bytes of every artifact.
pub const ARTIFACT_MAGIC: [u8; 8] = *b"FAASMAOT";
/// Version of the layout above; bumped on any change to it.
pub const ARTIFACT_VERSION: u32 = 2;

const CHECKSUM_LEN: usize = 32;
const HEADER_LEN: usize = ARTIFACT_MAGIC.len() + 4;

/// Whether `bytes` look like an artifact (start with [`ARTIFACT_MAGIC`]); says nothing about
/// whether it is a valid one.
pub fn is_artifact(bytes: &[u8]) -> bool {
    bytes.starts_with(&ARTIFACT_MAGIC)
}

impl Compiler {
    /// Serialises `module` with this compiler's fingerprint. `code` is its machine code, passed
    /// separately because a runtime may have moved `module.code` into executable memory.
    pub fn serialize(&self, module: &CompiledModule, code: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            HEADER_LEN + module.wasm_sections.len() + code.len() + 8 * module.traps.len() + 1024,
        );
        out.extend_from_slice(&ARTIFACT_MAGIC);
        out.extend_from_slice(&ARTIFACT_VERSION.to_le_bytes());
        put_bytes32(&mut out, self.fingerprint().as_bytes());
        out.extend_from_slice(&module.wasm_sha256);
        put_bytes64(&mut out, &module.wasm_sections);
        put_bytes64(&mut out, code);
        for locations in [
            &module.functions,
            &module.array_to_wasm,
            &module.wasm_to_host,
        ] {
            put_locations(&mut out, locations);
        }
        out.extend_from_slice(&(module.traps.len() as u32).to_le_bytes());
        for (offset, code) in &module.traps {
            out.extend_from_slice(&offset.to_le_bytes());
            out.push(code.as_u8());
        }
        out.extend_from_slice(&(module.writes_memory.len() as u32).to_le_bytes());
        out.extend(module.writes_memory.iter().map(|writes| u8::from(*writes)));
        let checksum = Sha256::digest(&out);
        out.extend_from_slice(&checksum);
        out
    }

    /// Loads an artifact that [`Compiler::serialize`] wrote, checking everything the module
    /// docs list. The result is exactly the compiled module that was serialised.
    pub fn deserialize(&self, bytes: &[u8]) -> Result<CompiledModule, ArtifactError> {
        let body = check_envelope(bytes)?;
        let mut reader = Reader::new(&body[HEADER_LEN..]);
        let fingerprint = std::str::from_utf8(reader.bytes32("fingerprint")?)
            .map_err(|_| ArtifactError::Malformed("fingerprint is not UTF-8".to_string()))?;
        if fingerprint != self.fingerprint() {
            return Err(ArtifactError::Fingerprint(describe_difference(
                self.fingerprint(),
                fingerprint,
            )));
        }
        let wasm_sha256: [u8; 32] = reader.array("wasm hash")?;
        let wasm_sections = reader.bytes64("module sections")?.to_vec();
        let code = reader.bytes64("code")?.to_vec();
        let functions = reader.locations("function table")?;
        let array_to_wasm = reader.locations("array-to-wasm trampolines")?;
        let wasm_to_host = reader.locations("wasm-to-host trampolines")?;
        let traps = reader.traps()?;
        let writes_memory = reader.flags("memory writers")?;
        reader.finish()?;
        let (info, _) = ModuleInfo::parse(&wasm_sections)
            .map_err(|e| ArtifactError::Malformed(format!("module sections do not parse: {e}")))?;
        let module = CompiledModule {
            offsets: VMOffsets::new(&info),
            info,
            code,
            functions,
            array_to_wasm,
            wasm_to_host,
            traps,
            writes_memory,
            memory_strategy: self.config().memory_strategy,
            wasm_sha256,
            wasm_sections,
        };
        module
            .check_consistency()
            .map_err(ArtifactError::Malformed)?;
        Ok(module)
    }
}

/// Checks length, magic, version and checksum; returns the bytes the checksum covers.
fn check_envelope(bytes: &[u8]) -> Result<&[u8], ArtifactError> {
    if !is_artifact(bytes) {
        return Err(ArtifactError::NotAnArtifact);
    }
    if bytes.len() < HEADER_LEN + CHECKSUM_LEN {
        return Err(ArtifactError::Truncated {
            len: bytes.len() as u64,
        });
    }
    let version = u32::from_le_bytes(
        bytes[ARTIFACT_MAGIC.len()..HEADER_LEN]
            .try_into()
            .expect("4 bytes"),
    );
    if version != ARTIFACT_VERSION {
        return Err(ArtifactError::Version {
            found: version,
            expected: ARTIFACT_VERSION,
        });
    }
    let (body, checksum) = bytes.split_at(bytes.len() - CHECKSUM_LEN);
    if Sha256::digest(body).as_slice() != checksum {
        return Err(ArtifactError::Checksum);
    }
    Ok(body)
}

/// The first `; `-separated item in which two fingerprints differ, for the error message.
fn describe_difference(ours: &str, theirs: &str) -> String {
    let mut theirs_items = theirs.split("; ");
    for ours_item in ours.split("; ") {
        let theirs_item = theirs_items.next().unwrap_or("nothing");
        if ours_item != theirs_item {
            return format!("the artifact has `{theirs_item}` where this engine has `{ours_item}`");
        }
    }
    format!("the artifact's fingerprint `{theirs}` is longer than this engine's")
}

fn put_bytes32(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(bytes);
}

fn put_bytes64(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
    out.extend_from_slice(bytes);
}

fn put_locations(out: &mut Vec<u8>, locations: &[FunctionLoc]) {
    out.extend_from_slice(&(locations.len() as u32).to_le_bytes());
    for loc in locations {
        out.extend_from_slice(&loc.offset.to_le_bytes());
        out.extend_from_slice(&loc.len.to_le_bytes());
    }
}

/// Reads the fields of an artifact body; every read is bounds-checked and names what it read
/// in its error.
struct Reader<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes, position: 0 }
    }

    fn take(&mut self, len: u64, what: &str) -> Result<&'a [u8], ArtifactError> {
        let remaining = self.bytes.len() - self.position;
        let len = usize::try_from(len)
            .ok()
            .filter(|len| *len <= remaining)
            .ok_or_else(|| {
                ArtifactError::Malformed(format!(
                    "{what}: {len} bytes at offset {} but only {remaining} remain",
                    HEADER_LEN + self.position
                ))
            })?;
        let slice = &self.bytes[self.position..self.position + len];
        self.position += len;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], ArtifactError> {
        Ok(self.take(N as u64, what)?.try_into().expect("N bytes"))
    }

    fn u8(&mut self, what: &str) -> Result<u8, ArtifactError> {
        Ok(self.array::<1>(what)?[0])
    }

    fn u32(&mut self, what: &str) -> Result<u32, ArtifactError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    fn u64(&mut self, what: &str) -> Result<u64, ArtifactError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    fn bytes32(&mut self, what: &str) -> Result<&'a [u8], ArtifactError> {
        let len = self.u32(what)?;
        self.take(u64::from(len), what)
    }

    fn bytes64(&mut self, what: &str) -> Result<&'a [u8], ArtifactError> {
        let len = self.u64(what)?;
        self.take(len, what)
    }

    /// A count of items of `item_len` bytes each, checked against the bytes left before any
    /// allocation.
    fn count(&mut self, item_len: u64, what: &str) -> Result<usize, ArtifactError> {
        let count = self.u32(what)?;
        let remaining = (self.bytes.len() - self.position) as u64;
        if u64::from(count) * item_len > remaining {
            return Err(ArtifactError::Malformed(format!(
                "{what}: {count} entries do not fit in the {remaining} bytes left"
            )));
        }
        Ok(count as usize)
    }

    fn locations(&mut self, what: &str) -> Result<Vec<FunctionLoc>, ArtifactError> {
        let count = self.count(8, what)?;
        (0..count)
            .map(|_| {
                Ok(FunctionLoc {
                    offset: self.u32(what)?,
                    len: self.u32(what)?,
                })
            })
            .collect()
    }

    fn traps(&mut self) -> Result<Vec<(u32, TrapCode)>, ArtifactError> {
        let what = "trap table";
        let count = self.count(5, what)?;
        (0..count)
            .map(|_| {
                let offset = self.u32(what)?;
                let byte = self.u8(what)?;
                let code = TrapCode::from_u8(byte).ok_or_else(|| {
                    ArtifactError::Malformed(format!("unknown trap code {byte} at {offset:#x}"))
                })?;
                Ok((offset, code))
            })
            .collect()
    }

    /// A `u32` count and that many bytes, each 0 or 1.
    fn flags(&mut self, what: &str) -> Result<Vec<bool>, ArtifactError> {
        let count = self.count(1, what)?;
        (0..count)
            .map(|i| match self.u8(what)? {
                0 => Ok(false),
                1 => Ok(true),
                byte => Err(ArtifactError::Malformed(format!(
                    "{what}: flag {i} is {byte}, not 0 or 1"
                ))),
            })
            .collect()
    }

    fn finish(self) -> Result<(), ArtifactError> {
        let trailing = self.bytes.len() - self.position;
        if trailing == 0 {
            Ok(())
        } else {
            Err(ArtifactError::Malformed(format!(
                "{trailing} unexpected bytes before the checksum"
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::CompilerConfig;
    use crate::compile::MemoryStrategy;

    const WAT: &str = r#"(module $m
        (memory 1)
        (data (i32.const 8) "hello")
        (func $callee (param i32) (result i32) (i32.div_s (local.get 0) (i32.const 0)))
        (func $caller (export "f") (param i32) (result i32) (call $callee (local.get 0)))
        (func $store (i32.store8 (i32.const 0) (i32.const 1))))"#;

    fn compiler_for(memory_strategy: MemoryStrategy) -> Compiler {
        Compiler::new(CompilerConfig {
            memory_strategy,
            ..CompilerConfig::default()
        })
        .expect("compiler")
    }

    fn compiled() -> (Compiler, CompiledModule) {
        let compiler = compiler_for(MemoryStrategy::default());
        let wasm = wat::parse_str(WAT).expect("wat");
        let module = compiler.compile(&wasm).expect("compile");
        (compiler, module)
    }

    #[test]
    fn round_trips_everything() {
        let (compiler, module) = compiled();
        let bytes = compiler.serialize(&module, &module.code);
        assert!(is_artifact(&bytes));
        let loaded = compiler.deserialize(&bytes).expect("loads");
        assert_eq!(loaded.code, module.code);
        assert_eq!(loaded.functions, module.functions);
        assert_eq!(loaded.array_to_wasm, module.array_to_wasm);
        assert_eq!(loaded.wasm_to_host, module.wasm_to_host);
        assert_eq!(loaded.traps, module.traps);
        assert_eq!(loaded.writes_memory, [false, false, true]);
        assert_eq!(loaded.wasm_sha256, module.wasm_sha256);
        assert_eq!(loaded.offsets, module.offsets);
        assert_eq!(format!("{:?}", loaded.info), format!("{:?}", module.info));
        assert_eq!(loaded.info.func_name(0), Some("callee"));
        assert_eq!(loaded.info.name.as_deref(), Some("m"));
    }

    #[test]
    fn every_truncation_is_rejected() {
        let (compiler, module) = compiled();
        let bytes = compiler.serialize(&module, &module.code);
        for len in 0..bytes.len() {
            assert!(
                compiler.deserialize(&bytes[..len]).is_err(),
                "truncated to {len} bytes"
            );
        }
    }

    #[test]
    fn every_flipped_byte_is_rejected() {
        let (compiler, module) = compiled();
        let bytes = compiler.serialize(&module, &module.code);
        for i in 0..bytes.len() {
            let mut tampered = bytes.clone();
            tampered[i] ^= 0x20;
            assert!(compiler.deserialize(&tampered).is_err(), "byte {i} flipped");
        }
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let (compiler, module) = compiled();
        let bytes = compiler.serialize(&module, &module.code);
        assert_eq!(
            compiler.deserialize(b"\0asm\x01\0\0\0").unwrap_err(),
            ArtifactError::NotAnArtifact
        );
        assert!(matches!(
            compiler.deserialize(&bytes[..20]),
            Err(ArtifactError::Truncated { len: 20 })
        ));
        let mut newer = bytes.clone();
        newer[8] = ARTIFACT_VERSION as u8 + 1;
        assert!(matches!(
            compiler.deserialize(&newer),
            Err(ArtifactError::Version { found, .. }) if found == ARTIFACT_VERSION + 1
        ));
        let mut flipped = bytes.clone();
        let middle = bytes.len() / 2;
        flipped[middle] ^= 1;
        assert_eq!(
            compiler.deserialize(&flipped).unwrap_err(),
            ArtifactError::Checksum
        );
        let bounded = compiler_for(MemoryStrategy::Bounded);
        let error = bounded.deserialize(&bytes).unwrap_err();
        assert!(
            matches!(&error, ArtifactError::Fingerprint(m) if m.contains("memory=Bounded")),
            "{error}"
        );
    }

    /// A well-formed envelope (right checksum) around inconsistent contents: what only a
    /// deliberate forgery or a serialiser bug could produce, still rejected.
    #[test]
    fn inconsistent_contents_with_a_valid_checksum_are_rejected() {
        let (compiler, module) = compiled();
        let corruptions: [fn(&mut CompiledModule); 5] = [
            |m| m.functions[0].len = u32::MAX,
            |m| {
                m.writes_memory.pop();
            },
            |m| m.traps.reverse(),
            |m| {
                m.functions.pop();
            },
            |m| m.wasm_sections.truncate(10),
        ];
        for (i, corrupt) in corruptions.iter().enumerate() {
            let mut bad = module.clone();
            corrupt(&mut bad);
            let bytes = compiler.serialize(&bad, &bad.code);
            assert!(
                matches!(
                    compiler.deserialize(&bytes),
                    Err(ArtifactError::Malformed(_))
                ),
                "corruption {i}"
            );
        }
    }
}
