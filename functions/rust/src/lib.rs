//! Helpers shared by the example functions (`src/bin/*.rs`).

/// The call's input as a count: `default` when the input is empty, else the decimal number it
/// holds if that lies in `min..=max`; `None` for anything else.
pub fn count_input(default: i32, min: i32, max: i32) -> Option<i32> {
    let text = faasm_sdk::input_string();
    if text.is_empty() {
        return Some(default);
    }
    text.parse::<i32>().ok().filter(|n| (min..=max).contains(n))
}

/// Sets the output to `message` and returns the failure exit code (the call's result 1).
pub fn fail(message: &str) -> std::process::ExitCode {
    faasm_sdk::set_output(message.as_bytes());
    std::process::ExitCode::FAILURE
}
