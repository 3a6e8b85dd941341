//! Value parsers of the worker's flags (`cyplam-worker` and `cyplam-worker predict`): a value a
//! flag cannot take is said with what the flag accepts, not as clap's "unexpected argument".

/// A value a flag of the worker cannot take, with what the flag accepts (clap adds the flag).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not {accepts}")]
pub struct FlagValueError {
    pub value: String,
    pub accepts: &'static str,
}

/// A whole number from `min` that fits a `T`, or what the flag accepts.
fn whole<T: TryFrom<u64>>(s: &str, min: u64, accepts: &'static str) -> Result<T, FlagValueError> {
    s.trim().parse::<u64>().ok().filter(|v| *v >= min).and_then(|v| T::try_from(v).ok()).ok_or_else(|| FlagValueError { value: s.to_string(), accepts })
}

/// `--index`: an array task index.
pub fn index_arg(s: &str) -> Result<usize, FlagValueError> {
    whole(s, 0, "an array task index: give a whole number, 0 or more (Slurm's $SLURM_ARRAY_TASK_ID)")
}

/// `--model`: a model's number or name (a name never starts with `-`).
pub fn model_arg(s: &str) -> Result<String, FlagValueError> {
    let accepts = "a model: give its number, 0 or more (108), or its name (Model-108)";
    if s.trim().is_empty() || s.starts_with('-') || s.starts_with('+') {
        return Err(FlagValueError { value: s.to_string(), accepts });
    }
    Ok(s.to_string())
}

/// `--threads` (and `CYPLAM_WORKER_THREADS`, `predict --threads`): a thread count.
pub fn threads_arg(s: &str) -> Result<u32, FlagValueError> {
    whole(s, 1, "a thread count: give a whole number, 1 or more")
}

/// `--round`: a round of the sweep's TPE search.
pub fn round_arg(s: &str) -> Result<u32, FlagValueError> {
    whole(s, 1, "a round: give a whole number, 1 or more (the random start, round 0, is trained with --index)")
}

/// `--rung`: a rung of the sweep's `[halving]`.
pub fn rung_arg(s: &str) -> Result<u32, FlagValueError> {
    whole(s, 0, "a rung: give a whole number, 0 or more (the first rung is 0)")
}
