//! WASI preview1 and the Faasm host interface (being written).
#![forbid(unsafe_code)]
