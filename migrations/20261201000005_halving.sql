-- Successive halving (docs/halving.md): a submission is one rung's job array. `rung` is NULL
-- outside halving; for rung 0 `models_json` lists its models, for a later rung it is empty (the
-- slots are filled by the decision of the rung before, halving/rung-K.json). A model's status
-- may now also be `waiting` (at the end of its rung) or `pruned`, and `rung` says where.
ALTER TABLE submissions ADD COLUMN rung INTEGER;
ALTER TABLE models ADD COLUMN rung INTEGER;
