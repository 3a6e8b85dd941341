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
    /// `train_time_hist`, `by_activation`, `by_regularization`, `accuracy_by_setting`.
    pub name: &'static str,
    pub title: String,
    /// A sentence or two saying what is shown, for the HTML page.
    pub caption: String,
    /// A complete `<svg>` element carrying `id="fig-NAME"` and `data-figure="NAME"`.
    pub svg: String,
}

/// A model row for the figures' tests: architecture (5, 8, 5, 32, 100), its settings from a JSON
/// object.
#[cfg(test)]
pub(crate) fn test_model(index: usize, acc: Option<f64>, status: crate::db::RecordedStatus, settings: serde_json::Value) -> Model {
    let row = ModelRow {
        index,
        name: format!("Model-{index:03}"),
        wc1: 5,
        ncv1: 8,
        wc2: 5,
        ncv2: 32,
        nfc1: 100,
        activation: "relu".into(),
        regularization: "none".into(),
        free_params: 163_742,
        status,
        reason: None,
        best_accuracy20: acc,
        best_iteration: acc.map(|_| 100),
        iterations_done: Some(100),
        iterations_total: Some(100),
        train_seconds: Some(1.0),
        host: None,
        settings: settings.as_object().cloned().unwrap_or_default(),
        diverged: false,
        rung: None,
    };
    Model { row, curve: Vec::new() }
}
