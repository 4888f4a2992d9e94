"""Reading a query: syntax checks and limits."""
