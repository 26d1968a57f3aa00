//! Not a function to run: it calls every import that `faasm_sdk::ffi` declares, so that
//! `tests/sdk.rs` can check each import's name and signature in the built module against
//! the ABI, `docs/abi.md` (a declaration nothing calls leaves no import behind). Built with
//! `cargo build --release --target wasm32-wasip1 --example abi_check`.
use faasm_sdk::ffi;

/// A table entry for `__faasm_chain_ptr`.
extern "C" fn entry(x: i32) -> i32 {
    x
}

fn main() {
    let byte = [0u8; 1];
    let mut buffer = [0u8; 1];
    let name = c"echo";
    let mut out: *mut u8 = std::ptr::null_mut();
    let mut out_len: i32 = 0;
    // SAFETY: every pointer is to a live local of the right size; the module is only inspected,
    // never run.
    let n = unsafe {
        let mut n = ffi::__faasm_read_input(buffer.as_mut_ptr(), 1);
        ffi::__faasm_write_output(byte.as_ptr(), 0);
        let a = ffi::__faasm_chain_name(name.as_ptr(), byte.as_ptr(), 1);
        let b = ffi::__faasm_chain_ptr(faasm_sdk::func_index(entry) as i32, byte.as_ptr(), 1);
        n += ffi::__faasm_await_call(a);
        n += ffi::__faasm_await_call_output(b, &mut out, &mut out_len);
        ffi::free(out.cast());
        n += ffi::__faasm_chain_function(name.as_ptr(), byte.as_ptr(), 1) as i32;
        n += ffi::__faasm_chain_this(1, byte.as_ptr(), 1) as i32;
        n += ffi::__faasm_get_idx();
        n += ffi::__sbrk(0) as i32;
        let mapped = ffi::mmap(std::ptr::null_mut(), 65536, 3, 0x22, -1, 0);
        n += ffi::munmap(mapped, 65536);
        n += ffi::__faasm_conf_flag(c"flag".as_ptr()) as i32;
        n
    };
    std::process::exit(n);
}
