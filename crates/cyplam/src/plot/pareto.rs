//! The Pareto front of maximum validation Accuracy20% against free parameters: the models no other
//! model beats on both (at least as accurate with at most as many free parameters, and better on
//! one of the two). Drawn on `accuracy_vs_params` and listed on the HTML page.

/// The indices of the points on the front, by free parameters ascending (then by index). A point
/// is `(free parameters, maximum validation Accuracy20%)`; one whose accuracy is NaN or infinite
/// is on no front and beats nothing. Points equal on both are on the front together or off it
/// together.
pub fn pareto_front(points: &[(i64, f64)]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..points.len()).filter(|&i| points[i].1.is_finite()).collect();
    // Fewest parameters first; among equals, the most accurate first.
    order.sort_by(|&a, &b| points[a].0.cmp(&points[b].0).then(points[b].1.total_cmp(&points[a].1)).then(a.cmp(&b)));
    let mut front = Vec::new();
    // The best accuracy of the points with fewer parameters than the group in hand.
    let mut best_smaller = f64::NEG_INFINITY;
    let mut k = 0;
    while k < order.len() {
        let params = points[order[k]].0;
        let top = points[order[k]].1;
        let end = k + order[k..].iter().take_while(|&&i| points[i].0 == params).count();
        // A smaller model as accurate as this group's best beats it; within the group, the best
        // beat the rest.
        if top > best_smaller {
            front.extend(order[k..end].iter().copied().filter(|&i| points[i].1 == top));
            best_smaller = top;
        }
        k = end;
    }
    front
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The front by its definition, pair by pair.
    fn brute(points: &[(i64, f64)]) -> Vec<usize> {
        let beats = |j: usize, i: usize| {
            let ((pj, aj), (pi, ai)) = (points[j], points[i]);
            aj.is_finite() && pj <= pi && aj >= ai && (pj < pi || aj > ai)
        };
        let mut f: Vec<usize> = (0..points.len()).filter(|&i| points[i].1.is_finite() && !(0..points.len()).any(|j| beats(j, i))).collect();
        f.sort_by_key(|&i| (points[i].0, i));
        f
    }

    #[test]
    fn the_front_climbs_with_size() {
        // 0 and 2 are beaten (by 1, and by 1 and 3); 4 is bigger and better than all.
        let p = [(1000, 0.50), (500, 0.60), (2000, 0.55), (1500, 0.70), (4000, 0.80)];
        assert_eq!(pareto_front(&p), vec![1, 3, 4]);
        assert_eq!(pareto_front(&p), brute(&p));
    }

    #[test]
    fn ties_are_on_the_front_together() {
        // 0 and 2 are equal on both: neither beats the other.
        let p = [(1000, 0.7), (2000, 0.8), (1000, 0.7), (3000, 0.8)];
        assert_eq!(pareto_front(&p), vec![0, 2, 1]);
        assert_eq!(pareto_front(&p), brute(&p));
    }

    #[test]
    fn equal_params_keep_only_the_best() {
        let p = [(1000, 0.6), (1000, 0.75), (1000, 0.7), (800, 0.5)];
        assert_eq!(pareto_front(&p), vec![3, 1]);
        // As accurate but bigger is beaten.
        let p = [(800, 0.75), (1000, 0.75)];
        assert_eq!(pareto_front(&p), vec![0]);
    }

    #[test]
    fn a_single_model_is_the_front() {
        assert_eq!(pareto_front(&[(163_742, 0.42)]), vec![0]);
        assert_eq!(pareto_front(&[]), Vec::<usize>::new());
    }

    #[test]
    fn nan_scores_are_left_out() {
        // The NaN one is smallest but neither on the front nor beating anything.
        let p = [(100, f64::NAN), (1000, 0.5), (2000, f64::NAN), (3000, 0.6), (50, f64::INFINITY)];
        assert_eq!(pareto_front(&p), vec![1, 3]);
        assert_eq!(pareto_front(&[(100, f64::NAN)]), Vec::<usize>::new());
    }

    #[test]
    fn agrees_with_the_definition() {
        // A deterministic scramble of sizes and accuracies with many ties of each.
        let mut x: u64 = 7;
        let mut next = || {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            x >> 33
        };
        for n in [2, 5, 17, 60] {
            let p: Vec<(i64, f64)> =
                (0..n).map(|_| ((next() % 8) as i64 * 1000, if next() % 11 == 0 { f64::NAN } else { (next() % 6) as f64 / 10.0 })).collect();
            assert_eq!(pareto_front(&p), brute(&p), "{p:?}");
        }
    }
}
