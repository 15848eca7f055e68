//! The deterministic input `imsight model verify` feeds a model.
//!
//! `tests/data/tiny-model/make.py` builds the same values in NumPy, so the embeddings the
//! Rust side computes can be compared with Python ONNX Runtime's.

use super::contract::FEATURE_COUNT;

/// `x[b, t, f] = float32(((7b + 13t + 31f) mod 97) / 9.7)`: non-negative, count-like values
/// that differ across windows, minutes and features; row-major `[windows, window_minutes,
/// FEATURE_COUNT]`.
pub fn probe_input(windows: usize, window_minutes: usize) -> Vec<f32> {
    let mut values = Vec::with_capacity(windows * window_minutes * FEATURE_COUNT);
    for b in 0..windows {
        for t in 0..window_minutes {
            for f in 0..FEATURE_COUNT {
                let step = (b * 7 + t * 13 + f * 31) % 97;
                values.push((step as f64 / 9.7) as f32);
            }
        }
    }
    values
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_row_major_windows_minutes_features() {
        let x = probe_input(2, 3);
        assert_eq!(x.len(), 2 * 3 * FEATURE_COUNT);
        // b = 1, t = 2, f = 5: (7 + 26 + 155) mod 97 = 91.
        let at = (3 + 2) * FEATURE_COUNT + 5;
        assert_eq!(x[at], (91.0_f64 / 9.7) as f32);
        assert_eq!(x[0], 0.0);
    }
}
