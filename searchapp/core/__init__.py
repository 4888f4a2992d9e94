"""Engine-neutral search: the service (validate, cache, relax, rank, page), facets, grouping, bitmaps."""
