//! Command-line text ↔ Wasm values, for `--invoke`.

use faasm_runtime::{FuncType, Val, ValType};
use faasm_scheduler::Error;

/// Parses `args` by the parameter types of `ty` (the function `name`).
pub(crate) fn parse_params(ty: &FuncType, name: &str, args: &[String]) -> Result<Vec<Val>, Error> {
    if args.len() != ty.params.len() {
        let types: Vec<String> = ty.params.iter().map(ValType::to_string).collect();
        return Err(Error::Arguments(format!(
            "`{name}` takes {} argument(s) ({}), got {}",
            ty.params.len(),
            types.join(" "),
            args.len()
        )));
    }
    ty.params
        .iter()
        .zip(args)
        .enumerate()
        .map(|(i, (&ty, arg))| {
            parse_value(ty, arg)
                .map_err(|why| Error::Arguments(format!("argument {} of `{name}`: {why}", i + 1)))
        })
        .collect()
}

/// One argument. Integers may also be given unsigned (`4294967295` is the i32 `-1`), as Wasm
/// integers have no sign of their own.
fn parse_value(ty: ValType, text: &str) -> Result<Val, String> {
    let value = match ty {
        ValType::I32 => (text.parse::<i32>().ok())
            .or_else(|| text.parse::<u32>().ok().map(|n| n as i32))
            .map(Val::I32),
        ValType::I64 => (text.parse::<i64>().ok())
            .or_else(|| text.parse::<u64>().ok().map(|n| n as i64))
            .map(Val::I64),
        ValType::F32 => text.parse::<f32>().ok().map(|f| Val::F32(f.to_bits())),
        ValType::F64 => text.parse::<f64>().ok().map(|f| Val::F64(f.to_bits())),
        other => {
            return Err(format!(
                "a {other} parameter cannot be given on the command line"
            ));
        }
    };
    value.ok_or_else(|| format!("`{text}` is not a valid {ty}"))
}

/// One result: integers in decimal, floats as Rust prints them.
pub(crate) fn format_value(value: &Val) -> String {
    match value {
        Val::I32(n) => n.to_string(),
        Val::I64(n) => n.to_string(),
        Val::F32(bits) => f32::from_bits(*bits).to_string(),
        Val::F64(bits) => f64::from_bits(*bits).to_string(),
        Val::V128(bits) => format!("{bits:#034x}"),
        Val::FuncRef(None) | Val::ExternRef(None) => "null".to_string(),
        Val::FuncRef(Some(_)) => "funcref".to_string(),
        Val::ExternRef(Some(handle)) => format!("externref {handle}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_by_type_and_explains_failures() {
        let ty = FuncType::new([ValType::I32, ValType::F64], []);
        let args = ["4294967295".to_string(), "-2.5".to_string()];
        let params = parse_params(&ty, "f", &args).expect("valid");
        assert_eq!(params, [Val::I32(-1), Val::F64((-2.5f64).to_bits())]);
        let bad = ["x".to_string(), "1".to_string()];
        let error = parse_params(&ty, "f", &bad).unwrap_err().to_string();
        assert_eq!(error, "argument 1 of `f`: `x` is not a valid i32");
        let error = parse_params(&ty, "f", &[]).unwrap_err().to_string();
        assert_eq!(error, "`f` takes 2 argument(s) (i32 f64), got 0");
    }

    #[test]
    fn formats_results() {
        assert_eq!(format_value(&Val::I64(-3)), "-3");
        assert_eq!(format_value(&Val::F32(1.5f32.to_bits())), "1.5");
        assert_eq!(format_value(&Val::FuncRef(None)), "null");
    }
}
