"""Reading news files: walk a folder, parse front matter and HTML, merge articles by URL."""
