-- The database is the record, also of what went wrong:
-- * a snapshot's metrics may be NULL: SQLite stores a NaN as NULL, and a diverged model's
--   validation pass really gives NaN (read back as NaN, shown as "diverged", never the best);
-- * a model whose files cannot be ingested is `damaged`, with the file and line in `reason`,
--   keeping the rows it had;
-- * the frozen sweep (sweep.json) is kept, so a report works when the sweep directory is gone.
CREATE TABLE snapshots_v2 (
    sweep_id        INTEGER NOT NULL,
    model_idx       INTEGER NOT NULL,
    iteration       INTEGER NOT NULL,
    train_loss      REAL,
    train_accuracy20 REAL,
    validation_loss REAL,
    validation_accuracy20 REAL,
    elapsed_seconds REAL    NOT NULL,
    PRIMARY KEY (sweep_id, model_idx, iteration),
    FOREIGN KEY (sweep_id, model_idx) REFERENCES models(sweep_id, idx) ON DELETE CASCADE
);
INSERT INTO snapshots_v2 SELECT sweep_id, model_idx, iteration, train_loss, train_accuracy20, validation_loss,
    validation_accuracy20, elapsed_seconds FROM snapshots;
DROP TABLE snapshots;
ALTER TABLE snapshots_v2 RENAME TO snapshots;
CREATE INDEX snapshots_by_model ON snapshots(sweep_id, model_idx);

ALTER TABLE sweeps ADD COLUMN sweep_json TEXT;
