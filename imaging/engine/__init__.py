"""The imaging engine: typed requests in, images out. Imports nothing from Django or our apps,
so it can be benchmarked, tested and run on a GPU box alone."""
