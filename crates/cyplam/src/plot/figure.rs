//! What a figure is: the drawn SVG with its title and caption, the model data the figures are
//! drawn from, and the error drawing can give.

use crate::db::query::ModelRow;
use cyplam_core::metrics_csv::MetricsRow;
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

pub(crate) type Result<T> = std::result::Result<T, PlotError>;

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
