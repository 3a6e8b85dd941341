-- cyplam's results database. Workers never open it: `cyplam collect` ingests their files.

CREATE TABLE sweeps (
    id              INTEGER PRIMARY KEY,
    name            TEXT    NOT NULL UNIQUE,
    dir             TEXT    NOT NULL,
    grid_sha256     TEXT    NOT NULL,
    created_unix    INTEGER NOT NULL,
    n_models        INTEGER NOT NULL,
    trainings_per_node INTEGER NOT NULL,
    cpus_per_training  INTEGER NOT NULL,
    -- The axes as written (JSON array of {name, len, sets}).
    axes_json       TEXT    NOT NULL
);

CREATE TABLE models (
    sweep_id        INTEGER NOT NULL REFERENCES sweeps(id) ON DELETE CASCADE,
    idx             INTEGER NOT NULL,
    name            TEXT    NOT NULL,
    wc1             INTEGER NOT NULL,
    ncv1            INTEGER NOT NULL,
    wc2             INTEGER NOT NULL,
    ncv2            INTEGER NOT NULL,
    nfc1            INTEGER NOT NULL,
    activation      TEXT    NOT NULL,
    regularization  TEXT    NOT NULL,
    free_params     INTEGER NOT NULL,
    -- Every setting, resolved (JSON object).
    settings_json   TEXT    NOT NULL,
    -- new | completed | failed | preempted (from result.json; live Slurm states are not stored).
    status          TEXT    NOT NULL DEFAULT 'new',
    reason          TEXT,
    best_accuracy20 REAL,
    best_iteration  INTEGER,
    iterations_done INTEGER,
    iterations_total INTEGER,
    train_seconds   REAL,
    host            TEXT,
    threads         INTEGER,
    device          TEXT,
    libtorch        TEXT,
    started_unix    INTEGER,
    finished_unix   INTEGER,
    resumes         INTEGER,
    PRIMARY KEY (sweep_id, idx)
);

CREATE TABLE snapshots (
    sweep_id        INTEGER NOT NULL,
    model_idx       INTEGER NOT NULL,
    iteration       INTEGER NOT NULL,
    train_loss      REAL    NOT NULL,
    train_accuracy20 REAL   NOT NULL,
    validation_loss REAL    NOT NULL,
    validation_accuracy20 REAL NOT NULL,
    elapsed_seconds REAL    NOT NULL,
    PRIMARY KEY (sweep_id, model_idx, iteration),
    FOREIGN KEY (sweep_id, model_idx) REFERENCES models(sweep_id, idx) ON DELETE CASCADE
);

CREATE TABLE submissions (
    id              INTEGER PRIMARY KEY,
    sweep_id        INTEGER NOT NULL REFERENCES sweeps(id) ON DELETE CASCADE,
    -- slurm | local
    backend         TEXT    NOT NULL,
    -- Slurm's job id of the array (empty for local runs).
    job_id          TEXT    NOT NULL,
    -- The --array specification, e.g. "0-95%10" or "3,7".
    array_spec      TEXT    NOT NULL,
    -- Added to SLURM_ARRAY_TASK_ID to get the worker's --index (arrays split under MaxArraySize).
    array_offset    INTEGER NOT NULL DEFAULT 0,
    -- JSON array of the model indices this submission covers.
    models_json     TEXT    NOT NULL,
    script_path     TEXT,
    submitted_unix  INTEGER NOT NULL
);

CREATE INDEX snapshots_by_model ON snapshots(sweep_id, model_idx);
