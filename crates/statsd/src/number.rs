//! Numbers written as JavaScript writes them (`Number.prototype.toString`), so flushed
//! values read exactly as Etsy's statsd writes them.

use std::fmt::Write;

/// Appends `value` as JavaScript prints it: the shortest digits that round-trip,
/// `1e+21` style exponents from 1e21 up and below 1e-6, `0` for negative zero,
/// `Infinity`/`-Infinity`/`NaN` for the rest.
pub fn write_js(out: &mut String, value: f64) {
    if value == 0.0 {
        out.push('0');
    } else if value.is_nan() {
        out.push_str("NaN");
    } else if value.is_infinite() {
        out.push_str(if value > 0.0 { "Infinity" } else { "-Infinity" });
    } else if value.abs() >= 1e21 || value.abs() < 1e-6 {
        let text = format!("{value:e}");
        match text.split_once('e') {
            Some((mantissa, exp)) if !exp.starts_with('-') => {
                let _ = write!(out, "{mantissa}e+{exp}");
            }
            _ => out.push_str(&text),
        }
    } else {
        let _ = write!(out, "{value}");
    }
}

/// [`write_js`] into a new string.
pub fn js(value: f64) -> String {
    let mut out = String::new();
    write_js(&mut out, value);
    out
}

#[cfg(test)]
mod tests {
    use super::js;

    #[test]
    fn matches_javascript() {
        assert_eq!(js(5.0), "5");
        assert_eq!(js(-0.0), "0");
        assert_eq!(js(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(js(1e21), "1e+21");
        assert_eq!(js(1.5e-7), "1.5e-7");
        assert_eq!(js(123456789012.5), "123456789012.5");
        assert_eq!(js(f64::INFINITY), "Infinity");
        assert_eq!(js(-2.5), "-2.5");
    }
}
