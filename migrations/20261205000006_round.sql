-- A TPE search (`strategy = "tpe"`, docs/grid.md): a submission may be one round's job array.
-- `round` is NULL otherwise; for a round, `models_json` is empty (its slots are filled by the
-- round's proposal, search/round-R.json, made by its first worker).
ALTER TABLE submissions ADD COLUMN round INTEGER;
