//! Successive halving (docs/halving.md), in one place:
//! - `settings`: `[halving]` as the grid gives it (eta, rungs, the promotion rule, the defaults)
//!   and the rung arithmetic;
//! - `rule`: which models of a rung go on, from their curves up to the rung's end;
//! - `decision`: a rung's decision file, its checks against the sweep and the metrics it claims,
//!   reading the decisions back, and where each model's rungs end (`RungPlan`);
//! - `take`: taking a decision from the models' files (`Rungs`), the `pruned` result.json, and
//!   `withdraw` (`cyplam prune`);
//! - `replay`: the rule replayed on recorded curves, and any policy's stops judged against the
//!   full grid (`cyplam report --what-if`, bench/halving/replay).
//!
//! The rung arithmetic and the rule read nothing but their arguments; `decision` and `take` meet
//! the disk. The same files give the same decision on every node, so no process drives a sweep.

pub mod decision;
pub mod replay;
pub mod rule;
pub mod settings;
pub mod take;
