//! The figures of a report drawn as SVG with plotters: chart primitives (chart.rs), the sweep's
//! figures (sweep.rs), accuracy against each varied setting (settings.rs), the Pareto front of
//! accuracy against size (pareto.rs) and the scalability study's figures (scaling.rs). Only the
//! SVG backend is used: text is laid out by whatever shows the SVG, so no font files are needed.

mod chart;
mod figure;
mod pareto;
mod scaling;
mod settings;
mod sweep;

pub use figure::{Figure, Model, PlotError, MARKED};

pub use pareto::pareto_front;
pub use scaling::scaling;
pub use sweep::{front, regularization_label};

use settings::accuracy_by_setting;
use sweep::{accuracy_vs_params, by_group, learning_curves, train_time_hist, Grouping, Metric};

use figure::Result;

/// Every figure the sweep has data for, in the order of SPEC.md section 7. `models` is in ranking
/// order (best first); `varying` is the grid's `varying_settings()`.
pub fn all(models: &[Model], varying: &[&str]) -> Result<Vec<Figure>> {
    let mut out = Vec::new();
    out.extend(learning_curves(models, Metric::Loss)?);
    out.extend(learning_curves(models, Metric::Accuracy)?);
    out.extend(accuracy_vs_params(models)?);
    out.extend(train_time_hist(models)?);
    if varying.contains(&"activation") {
        out.extend(by_group(models, Grouping::Activation)?);
    }
    if varying.iter().any(|v| ["l1", "l2", "reg_layers"].contains(v)) {
        out.extend(by_group(models, Grouping::Regularization)?);
    }
    out.extend(accuracy_by_setting(models, varying)?);
    Ok(out)
}
