-- The LRS inserts a few hundred Statements at a time (one insert per group of requests, lrs/writer.py), so the
-- Statement store makes many small parts, and the engine's background merges rewrite each row several times. With
-- the default merge_selector_base (5), merging took about a fifth of serve's CPU at 7,000 Statements/s; a base of
-- 20 waits for more parts of a size before it merges them, which halves what the merges rewrite (bench/README.md,
-- issue 11). Only this table: the others are written in large batches by the loader.
ALTER TABLE {database}.xapi_statements MODIFY SETTING merge_selector_base = 20
