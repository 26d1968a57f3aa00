//! Not a function to run: it calls every state import that `faasm_sdk::ffi` declares (the state
//! table of `docs/abi.md`), so that a test can check each import's name and signature in the
//! built module against the ABI, as `abi_check` does for the other imports (kept apart because
//! `tests/sdk.rs` checks that `abi_check` imports exactly the ABI's non-state imports). Built
//! with `cargo build --release --target wasm32-wasip1 --example abi_check_state`.
use faasm_sdk::ffi;

fn main() {
    let mut buffer = [0u8; 8];
    let key = c"key";
    let k = key.as_ptr();
    // SAFETY: every pointer is to a live local of the right size; the module is only inspected,
    // never run.
    let n = unsafe {
        let mut n = ffi::__faasm_read_state(k, buffer.as_mut_ptr(), 8);
        n += ffi::__faasm_read_state_ptr(k, 8) as i32;
        ffi::__faasm_write_state(k, buffer.as_ptr(), 8);
        ffi::__faasm_write_state_offset(k, 8, 0, buffer.as_ptr(), 4);
        ffi::__faasm_read_state_offset(k, 8, 4, buffer.as_mut_ptr(), 4);
        n += ffi::__faasm_read_state_offset_ptr(k, 8, 4, 4) as i32;
        n += ffi::__faasm_write_state_from_file(k, c"/file".as_ptr()) as i32;
        ffi::__faasm_flag_state_dirty(k, 8);
        ffi::__faasm_flag_state_offset_dirty(k, 8, 0, 4);
        ffi::__faasm_push_state(k);
        ffi::__faasm_push_state_partial(k);
        ffi::__faasm_push_state_partial_mask(k, c"mask".as_ptr());
        ffi::__faasm_pull_state(k, 8);
        ffi::__faasm_append_state(k, buffer.as_ptr(), 8);
        ffi::__faasm_read_appended_state(k, buffer.as_mut_ptr(), 8, 1);
        ffi::__faasm_clear_appended_state(k);
        ffi::__faasm_lock_state_read(k);
        ffi::__faasm_unlock_state_read(k);
        ffi::__faasm_lock_state_write(k);
        ffi::__faasm_unlock_state_write(k);
        ffi::__faasm_lock_state_global_read(k);
        ffi::__faasm_unlock_state_global_read(k);
        ffi::__faasm_lock_state_global_write(k);
        ffi::__faasm_unlock_state_global_write(k);
        n
    };
    // The safe layer too (so the example exercises its code paths when built).
    faasm_sdk::state::with_state_mut("key", 8, |bytes| bytes[0] = 1);
    std::process::exit(n + i32::from(buffer[0]));
}
