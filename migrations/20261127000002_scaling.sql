-- The scalability study (`cyplam scale`): single-training times per core count, and measured
-- packings (trainings per node x cores each, run concurrently) with the recommendation.

CREATE TABLE scaling_runs (
    id              INTEGER PRIMARY KEY,
    sweep_id        INTEGER NOT NULL REFERENCES sweeps(id) ON DELETE CASCADE,
    -- The machine (local) or partition (Slurm) measured.
    node_key        TEXT    NOT NULL,
    model_idx       INTEGER NOT NULL,
    cores           INTEGER NOT NULL,
    repeat          INTEGER NOT NULL,
    iterations      INTEGER NOT NULL,
    seconds         REAL    NOT NULL,
    measured_unix   INTEGER NOT NULL
);

CREATE TABLE packings (
    id              INTEGER PRIMARY KEY,
    sweep_id        INTEGER NOT NULL REFERENCES sweeps(id) ON DELETE CASCADE,
    node_key        TEXT    NOT NULL,
    node_cores      INTEGER NOT NULL,
    trainings       INTEGER NOT NULL,
    cores_each      INTEGER NOT NULL,
    model_idx       INTEGER NOT NULL,
    iterations      INTEGER NOT NULL,
    -- Wall time until all `trainings` concurrent trainings ended.
    wall_seconds    REAL    NOT NULL,
    trainings_per_hour REAL NOT NULL,
    recommended     INTEGER NOT NULL DEFAULT 0,
    measured_unix   INTEGER NOT NULL
);
