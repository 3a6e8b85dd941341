//! Accuracy20%, the study's validation metric (SPEC.md section 4), as a plain reference
//! implementation; the worker computes the same thing with tensors and is tested against this.

/// Err_i = max(|y1/h1 - 1|, |y2/h2 - 1|), the relative error taken against the prediction.
/// A prediction of 0 (or one that is not finite) gives an infinite error.
pub fn frame_error(label: [f64; 2], prediction: [f64; 2]) -> f64 {
    let rel = |y: f64, h: f64| {
        let r = (y / h - 1.0).abs();
        if r.is_nan() {
            f64::INFINITY
        } else {
            r
        }
    };
    rel(label[0], prediction[0]).max(rel(label[1], prediction[1]))
}

/// The fraction of frames whose error is below 0.20; 0 for no frames.
pub fn accuracy20(labels: &[[f64; 2]], predictions: &[[f64; 2]]) -> f64 {
    assert_eq!(labels.len(), predictions.len(), "as many predictions as labels");
    if labels.is_empty() {
        return 0.0;
    }
    let hits = labels.iter().zip(predictions).filter(|(y, h)| frame_error(**y, **h) < 0.20).count();
    hits as f64 / labels.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn hand_made_cases() {
        // Exact predictions.
        assert_eq!(frame_error([1000.0, 10.0], [1000.0, 10.0]), 0.0);
        // Relative to the prediction: y/h - 1 = 1000/900 - 1 = 0.111.
        assert!((frame_error([1000.0, 10.0], [900.0, 10.0]) - 0.1111111).abs() < 1e-6);
        // 1000/800 - 1 = 0.25 >= 0.2: wrong, though |h - y| / y = 0.2 would be borderline.
        assert!(frame_error([1000.0, 10.0], [800.0, 10.0]) > 0.2);
        // 1000/1200 - 1 = -0.1667: right.
        assert!(frame_error([1000.0, 10.0], [1200.0, 10.0]) < 0.2);
        // The worse of the two outputs counts.
        assert!((frame_error([1000.0, 10.0], [1000.0, 5.0]) - 1.0).abs() < 1e-12);
        // A zero prediction is wrong, a NaN too.
        assert_eq!(frame_error([1000.0, 10.0], [0.0, 10.0]), f64::INFINITY);
        assert_eq!(frame_error([1000.0, 10.0], [f64::NAN, 10.0]), f64::INFINITY);
        let labels = [[1000.0, 10.0], [1000.0, 10.0], [1000.0, 10.0], [600.0, 4.0]];
        let preds = [[1000.0, 10.0], [0.0, 10.0], [800.0, 10.0], [610.0, 4.1]];
        assert_eq!(accuracy20(&labels, &preds), 0.5);
        assert_eq!(accuracy20(&[], &[]), 0.0);
    }

    proptest! {
        #[test]
        fn accuracy_is_a_fraction(pairs in proptest::collection::vec(((1.0f64..2000.0, 1.0f64..30.0), (-10.0f64..3000.0, -1.0f64..40.0)), 1..50)) {
            let labels: Vec<[f64; 2]> = pairs.iter().map(|((a, b), _)| [*a, *b]).collect();
            let preds: Vec<[f64; 2]> = pairs.iter().map(|(_, (a, b))| [*a, *b]).collect();
            let acc = accuracy20(&labels, &preds);
            prop_assert!((0.0..=1.0).contains(&acc));
            // Perfect predictions are all right; negating a prediction makes it wrong.
            prop_assert_eq!(accuracy20(&labels, &labels), 1.0);
            let neg: Vec<[f64; 2]> = labels.iter().map(|[a, b]| [-a, *b]).collect();
            prop_assert_eq!(accuracy20(&labels, &neg), 0.0);
        }
    }
}
