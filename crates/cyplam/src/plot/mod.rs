//! The figures of a report drawn as SVG with plotters: chart primitives (chart.rs), the sweep's
//! figures (sweep.rs) and the scalability study's (scaling.rs). Only the SVG backend is used:
//! text is laid out by whatever shows the SVG, so no font files are needed.

mod chart;
mod scaling;
mod sweep;

pub use scaling::scaling;
pub use sweep::regularization_label;

use sweep::{accuracy_vs_params, by_group, learning_curves, train_time_hist, Grouping, Metric};

use crate::db::ModelRow;
use cyplam_core::files::MetricsRow;
use plotters::prelude::DrawingAreaErrorKind;

/// How many of the best models the figures single out (SPEC.md section 5: "top 10 marked").
pub const MARKED: usize = 10;

/// A figure could not be drawn.
#[derive(Debug, thiserror::Error)]
#[error("drawing a figure: {0}")]
pub struct PlotError(String);

impl<E: std::error::Error + Send + Sync> From<DrawingAreaErrorKind<E>> for PlotError {
    fn from(e: DrawingAreaErrorKind<E>) -> Self {
        PlotError(e.to_string())
    }
}

type Result<T> = std::result::Result<T, PlotError>;

/// One model of the sweep with its learning curve.
#[derive(Debug, Clone)]
pub struct Model {
    pub row: ModelRow,
    pub curve: Vec<MetricsRow>,
}

/// One drawn figure.
#[derive(Debug, Clone)]
pub struct Figure {
    /// File stem and `data-figure` attribute: `loss`, `accuracy`, `accuracy_vs_params`,
    /// `train_time_hist`, `by_activation`, `by_regularization`.
    pub name: &'static str,
    pub title: String,
    /// A sentence or two saying what is shown, for the HTML page.
    pub caption: String,
    /// A complete `<svg>` element carrying `id="fig-NAME"` and `data-figure="NAME"`.
    pub svg: String,
}

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
    Ok(out)
}
