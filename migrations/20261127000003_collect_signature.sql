-- What the model's files looked like when `collect` last ingested them (sizes and modification
-- times of metrics.csv and result.json): unchanged models are skipped.
ALTER TABLE models ADD COLUMN files_sig TEXT;
