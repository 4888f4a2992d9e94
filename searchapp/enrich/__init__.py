"""What is derived from an item before indexing: places and bodies (gazetteer), stories, synonyms."""
