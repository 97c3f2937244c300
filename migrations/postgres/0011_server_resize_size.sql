-- The size a resize under way is going to, set with its hold and cleared with its mark: the
-- customer's ceilings count a server being resized at the larger of its two sizes, so two
-- resizes of one customer's servers at once cannot pass a ceiling together.
ALTER TABLE servers ADD COLUMN resizing_vcpus BIGINT;
ALTER TABLE servers ADD COLUMN resizing_memory_mib BIGINT;
ALTER TABLE servers ADD COLUMN resizing_disk_gib BIGINT;
